/*
 * evlog - a plugin that logs every event it gets to RUN_DIR/NAME.log, one
 * line each (every member it can compare, the args and result bytes in
 * hex), after a line "call N" for each call that brought N events. Built
 * twice: evlog.so is a plugin of ABI 3, with the ABI 3 descriptor's very
 * layout (one on_event call per event), and evbatch.so (EVLOG_BATCHES) one
 * of ABI 4 that has only on_events. Each call is one write(2), so the file
 * shows what reached the plugin so far. Tests compare the two logs
 * (tests/test_plugins.c, tests/e2e/test_ptrun.py). Links nothing.
 */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ptools/plugin.h>

#ifdef EVLOG_BATCHES
#define EVLOG_NAME "evbatch"
#else
#define EVLOG_NAME "evlog"
#endif

typedef struct text {
    char *p;
    size_t len, cap;
} text;

static int put(text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int put(text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = t->cap - t->len;
        int n = vsnprintf(t->p ? t->p + t->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0)
            return -1;
        if ((size_t)n < room) {
            t->len += (size_t)n;
            return 0;
        }
        size_t cap = 2 * t->cap + (size_t)n + 256;
        char *p = realloc(t->p, cap);
        if (!p)
            return -1;
        t->p = p, t->cap = cap;
    }
}

static int put_hex(text *t, const void *p, size_t n)
{
    int rc = put(t, p ? " " : " -");
    for (size_t i = 0; p && i < n && rc == 0; i++)
        rc = put(t, "%02x", ((const unsigned char *)p)[i]);
    return rc;
}

static const char *s(const char *str)
{
    return str ? str : "-";
}

/* One event's line. */
static int put_event(text *t, const pt_event *e)
{
    int rc = put(t,
                 "%d task=%lld step=%d/%s kernel=%s set=%s worker=%d "
                 "status=%d attempts=%d prio=%lld seed=%llu time=%lld "
                 "q=%lld s=%lld e=%lld wait=%lld run=%lld sig=%d exit=%d "
                 "error=%s earlier=%s control=%s",
                 (int)e->type, (long long)e->task, e->step, s(e->step_name),
                 s(e->kernel), s(e->workerset), e->worker, (int)e->status,
                 e->attempts, (long long)e->priority,
                 (unsigned long long)e->seed, (long long)e->time_ns,
                 (long long)e->queued_ns, (long long)e->start_ns,
                 (long long)e->end_ns, (long long)e->waiting,
                 (long long)e->running, e->signal, e->exit_code, s(e->error),
                 s(e->attempts_json), s(e->control));
    if (rc == 0)
        rc = put_hex(t, e->args, e->args_len);
    if (rc == 0)
        rc = put_hex(t, e->result, e->result_len);
    return rc == 0 ? put(t, "\n") : rc;
}

static int log_events(pt_plugin_ctx *ctx, const pt_event *evs, size_t n)
{
    text t = {0};
    int rc = put(&t, "call %zu\n", n);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = put_event(&t, &evs[i]);
    if (rc == 0)
        rc = ctx->sys->write((int)(intptr_t)ctx->data, t.p, t.len);
    free(t.p);
    if (rc < 0)
        snprintf(ctx->error, sizeof ctx->error, "cannot log");
    return rc < 0 ? -1 : 0;
}

static int evlog_open(pt_plugin_ctx *ctx, const char *options)
{
    char path[4096];
    (void)options;
    if (ctx->checking)
        return 0;
    snprintf(path, sizeof path, "%s/%s.log", ctx->run_dir, EVLOG_NAME);
    int fd = ctx->sys->open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        snprintf(ctx->error, sizeof ctx->error, "cannot open %s.log",
                 EVLOG_NAME);
        return -1;
    }
    ctx->data = (void *)(intptr_t)fd;
    return 0;
}

static int evlog_close(pt_plugin_ctx *ctx)
{
    if (ctx->data)
        close((int)(intptr_t)ctx->data);
    return 0;
}

#ifdef EVLOG_BATCHES
static const pt_plugin evbatch = {
    .abi = 4,
    .name = EVLOG_NAME,
    .doc = "logs the batches of events it gets (tests)",
    .open = evlog_open,
    .close = evlog_close,
    .on_events = log_events,
};

PT_PLUGIN(&evbatch);
#else
static int evlog_event(pt_plugin_ctx *ctx, const pt_event *ev)
{
    return log_events(ctx, ev, 1);
}

/*
 * The descriptor as plugins of ABI 3 were built: no on_events member.
 * What follows it in memory is no function, so a runner that read
 * on_events from an older descriptor would crash here.
 */
typedef struct abi3_plugin {
    uint32_t abi;
    const char *name;
    const char *doc;
    int (*open)(pt_plugin_ctx *ctx, const char *options);
    int (*on_event)(pt_plugin_ctx *ctx, const pt_event *ev);
    int (*close)(pt_plugin_ctx *ctx);
    int (*flush)(pt_plugin_ctx *ctx);
} abi3_plugin;

static const struct {
    abi3_plugin desc;
    const void *after;
} evlog = {{3, EVLOG_NAME, "logs every event it gets (tests)", evlog_open,
            evlog_event, evlog_close, NULL},
           (const void *)1};

PT_EXTERN const pt_plugin *const pt_plugin_desc = (const pt_plugin *)&evlog
                                                      .desc;
#endif
