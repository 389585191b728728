/*
 * opts_plugin - a plugin (ABI 3) that records the options it is opened
 * with: the JSON text in RUN_DIR/options.json, and in options.typed the
 * typed view's length and first byte (0x0a: an encoded map). An option
 * "bad" makes open() refuse, as a plugin refuses an option it cannot use.
 * A check open (ctx->checking) writes nothing. Links nothing.
 */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <ptools/plugin.h>

static int put(const pt_plugin_ctx *ctx, const char *file, const char *text)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", ctx->run_dir, file);
    int fd = ctx->sys->open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return fd;
    int rc = ctx->sys->write(fd, text, strlen(text));
    close(fd);
    return rc;
}

static int opts_open(pt_plugin_ctx *ctx, const char *options)
{
    char typed[64];
    if (strstr(options, "\"bad\":")) {
        snprintf(ctx->error, sizeof ctx->error, "option \"bad\": refused");
        return -1;
    }
    if (ctx->checking)
        return 0;
    snprintf(typed, sizeof typed, "%zu %02x\n", ctx->options_len,
             ctx->options ? *(const unsigned char *)ctx->options : 0u);
    if (put(ctx, "options.json", options) < 0 ||
        put(ctx, "options.typed", typed) < 0) {
        snprintf(ctx->error, sizeof ctx->error, "cannot write");
        return -1;
    }
    return 0;
}

static int opts_event(pt_plugin_ctx *ctx, const pt_event *ev)
{
    (void)ctx, (void)ev;
    return 0;
}

static const pt_plugin opts_plugin = {
    .abi = PT_PLUGIN_ABI,
    .name = "opts",
    .doc = "records its options (tests)",
    .open = opts_open,
    .on_event = opts_event,
};

PT_PLUGIN(&opts_plugin);
