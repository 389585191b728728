/*
 * plugin_util.h - small helpers the shipped plugins share (header-only;
 * the plugins link libptools: the value codec, the status words and the
 * JSON writer are lib's, and jansson reads their options).
 */
#ifndef PT_PLUGIN_UTIL_H
#define PT_PLUGIN_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <ptools/plugin.h>
#include <ptools/sys.h>
#include <ptools/value.h>

#include "json_mini.h"

/*
 * Append an encoded value (an event's args or result) to b as JSON, written
 * by the codec straight into b's memory, which it borrows (both buffers
 * are malloc'd and grow with realloc): no copy in between. "{}" when there
 * is no value; `bad` when it does not decode. -1 and b->oom when memory
 * runs out.
 */
static inline int jm_buf_value(jm_buf *b, const void *p, size_t n,
                               const char *bad)
{
    if (b->oom)
        return -1;
    if (!p || !n)
        return jm_buf_lit(b, "{}");
    pt_buf pb = {(uint8_t *)b->data, b->len, b->cap};
    int rc = pt_value_to_json(p, n, &pb);
    b->data = (char *)pb.data, b->len = pb.len, b->cap = pb.cap;
    if (rc == -ENOMEM)
        b->oom = true;
    else if (rc < 0)
        return jm_buf_str(b, bad);
    return rc < 0 ? -1 : 0;
}

/* Is this open() only a check of the options (plugin ABI 3)? */
static inline bool only_checking(const pt_plugin_ctx *ctx)
{
    return ctx->size >=
               offsetof(pt_plugin_ctx, checking) + sizeof ctx->checking &&
           ctx->checking;
}

/* Say which call failed on which file, from errno; returns -errno. */
static inline int sys_error(pt_plugin_ctx *ctx, const char *what,
                            const char *path)
{
    int e = errno;
    snprintf(ctx->error, sizeof ctx->error, "cannot %s %s: %s", what, path,
             strerror(e));
    return -e;
}

/* The runner's system calls (plugin.h), or NULL from an older runner. */
static inline const pt_plugin_sys *host_sys(const pt_plugin_ctx *ctx)
{
    size_t need = offsetof(pt_plugin_ctx, sys) + sizeof ctx->sys;
    return ctx->size >= need ? ctx->sys : NULL;
}

/* A negative errno as -1 and errno, the way sys_error() reads it. */
static inline int host_rc(int rc)
{
    if (rc >= 0)
        return rc;
    errno = -rc;
    return -1;
}

/* open(2), close-on-exec, through the runner: the fd, or -1 (errno). */
static inline int host_open(const pt_plugin_ctx *ctx, const char *path,
                            int flags, mode_t mode)
{
    const pt_plugin_sys *s = host_sys(ctx); /* an older runner: lib's */
    return host_rc(s ? s->open(path, flags, mode)
                     : pt_sys_open(path, flags, mode));
}

/* Write all n bytes through the runner: 0, or -1 (errno). */
static inline int host_write_all(const pt_plugin_ctx *ctx, int fd,
                                 const char *p, size_t n)
{
    const pt_plugin_sys *s = host_sys(ctx);
    return host_rc(s ? s->write(fd, p, n) : pt_sys_write_full(fd, p, n));
}

/* fsync(2) through the runner: 0, or -1 (errno). */
static inline int host_fsync(const pt_plugin_ctx *ctx, int fd)
{
    const pt_plugin_sys *s = host_sys(ctx);
    return s ? host_rc(s->fsync(fd)) : fsync(fd);
}

/*
 * `file` followed by `suffix`, in the run folder unless `file` is absolute;
 * NULL when out of memory.
 */
static inline char *run_path(const pt_plugin_ctx *ctx, const char *file,
                             const char *suffix)
{
    jm_buf b = {0};
    if (file[0] != '/') {
        jm_buf_str(&b, ctx->run_dir);
        jm_buf_str(&b, "/");
    }
    jm_buf_str(&b, file);
    jm_buf_str(&b, suffix);
    if (b.oom)
        jm_buf_free(&b);
    return b.data;
}

/* Say what is wrong with option `key`: -EINVAL. */
static inline int option_error(pt_plugin_ctx *ctx, const char *key,
                               const char *why)
{
    snprintf(ctx->error, sizeof ctx->error, "option \"%s\": %s", key, why);
    return -EINVAL;
}

/*
 * A plugin's options, a JSON object (NULL reads as {}): yours to
 * json_decref(), or NULL with a message in ctx->error.
 */
static inline json_t *load_options(pt_plugin_ctx *ctx, const char *json)
{
    json_error_t je;
    json_t *o = json_loads(json ? json : "{}", JSON_REJECT_DUPLICATES, &je);
    if (json_is_object(o))
        return o;
    if (o)
        snprintf(ctx->error, sizeof ctx->error,
                 "bad JSON at offset 0: expected an object");
    else
        snprintf(ctx->error, sizeof ctx->error, "bad JSON at offset %d: %s",
                 je.position, je.text);
    json_decref(o);
    return NULL;
}

/* Option `key`'s value as a file name: its text, or NULL after saying so. */
static inline const char *file_option(pt_plugin_ctx *ctx, const char *key,
                                      const json_t *v)
{
    if (json_is_string(v) && json_string_length(v) &&
        strlen(json_string_value(v)) == json_string_length(v))
        return json_string_value(v);
    option_error(ctx, key, "expected a file name");
    return NULL;
}

/*
 * Read options {"file": F} (F relative to the run folder; `dflt` when
 * absent): *path is the file, *tmp the file it is written as first. 0 or
 * -errno with a message in ctx->error.
 */
static inline int read_file_options(pt_plugin_ctx *ctx, const char *json,
                                    const char *dflt, char **path, char **tmp)
{
    json_t *o = load_options(ctx, json), *v;
    const char *key, *file = dflt;
    int rc = o ? 0 : -EINVAL;
    if (o)
        json_object_foreach(o, key, v)
        {
            if (strcmp(key, "file") != 0)
                rc = option_error(ctx, key, "no such option (known: file)");
            else if (!(file = file_option(ctx, key, v)))
                rc = -EINVAL;
            if (rc)
                break;
        }
    if (rc == 0) {
        *path = run_path(ctx, file, "");
        *tmp = run_path(ctx, file, ".tmp");
        if (!*path || !*tmp) {
            snprintf(ctx->error, sizeof ctx->error, "out of memory");
            rc = -ENOMEM;
        }
    }
    json_decref(o);
    return rc;
}

#endif
