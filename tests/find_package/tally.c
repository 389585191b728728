/*
 * A user's result plugin, built by ptools_add_plugin: it counts finished
 * tasks by status and writes "<status> <n>" lines to tally.txt in the run
 * folder at close. It calls libptools (pt_task_status_name).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <ptools/plugin.h>

typedef struct tally {
    int64_t counts[PT_TASK_NSTATUS];
} tally;

static int tally_open(pt_plugin_ctx *ctx, const char *options)
{
    (void)options;
    ctx->data = calloc(1, sizeof(tally));
    return ctx->data ? 0 : -1;
}

static int tally_event(pt_plugin_ctx *ctx, const pt_event *ev)
{
    tally *t = ctx->data;
    if (ev->type == PT_EV_TASK_FINISHED && ev->status >= 0 &&
        ev->status < PT_TASK_NSTATUS)
        t->counts[ev->status]++;
    return 0;
}

static int tally_write(pt_plugin_ctx *ctx, const tally *t)
{
    char path[4096], text[1024];
    size_t n = 0;
    for (int s = 0; s < PT_TASK_NSTATUS; s++)
        if (t->counts[s] && n < sizeof text)
            n += (size_t)snprintf(text + n, sizeof text - n, "%s %lld\n",
                                  pt_task_status_name((pt_task_status)s),
                                  (long long)t->counts[s]);
    if (n >= sizeof text)
        return -1;
    snprintf(path, sizeof path, "%s/tally.txt", ctx->run_dir);
    int fd = ctx->sys->open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return fd;
    int rc = ctx->sys->write(fd, text, n);
    close(fd);
    return rc;
}

static int tally_close(pt_plugin_ctx *ctx)
{
    tally *t = ctx->data;
    int rc = ctx->checking ? 0 : tally_write(ctx, t);
    free(t);
    return rc;
}

static const pt_plugin tally_plugin = {.abi = PT_PLUGIN_ABI,
                                       .name = "tally",
                                       .doc = "tasks by status in tally.txt",
                                       .open = tally_open,
                                       .on_event = tally_event,
                                       .close = tally_close};
PT_PLUGIN(&tally_plugin);
