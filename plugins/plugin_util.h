/*
 * plugin_util.h - small helpers the shipped plugins share (header-only:
 * every plugin .so stands alone and links nothing).
 */
#ifndef PT_PLUGIN_UTIL_H
#define PT_PLUGIN_UTIL_H

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <ptools/plugin.h>

#include "json_mini.h"

/* Say which call failed on which file, from errno; returns -errno. */
static inline int sys_error(pt_plugin_ctx *ctx, const char *what,
                            const char *path)
{
    int e = errno;
    snprintf(ctx->error, sizeof ctx->error, "cannot %s %s: %s", what, path,
             strerror(e));
    return -e;
}

/* The status as results files spell it (pt_task_status_name's words). */
static inline const char *status_name(pt_task_status s)
{
    static const char *const names[] = {"ok", "failed", "crashed", "timeout",
                                        "cancelled"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "unknown";
}

/* Write all n bytes, through short writes and EINTR: 0 or -1 (errno). */
static inline int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
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

#endif
