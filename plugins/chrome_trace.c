/*
 * chrome-trace - writes the run as a timeline in the Chrome Trace Event
 * Format (the JSON object form), for ui.perfetto.dev and chrome://tracing.
 *
 *   options: file (string, default "trace.json", relative to the run
 *                  folder unless absolute)
 *
 * Lanes: the runner is process 1 ("ptrun"), thread 1; each worker set is a
 * process, pid 2, 3, ... in the order the sets first appear in events,
 * named after the set; worker N of a set is its thread N + 1, "worker N".
 * (pid 0 is the kernel's idle task to Perfetto, which treats it apart.)
 *
 * Events, ts and dur in microseconds since RUN_START, with 3 decimals:
 * - one complete slice ("X") per task attempt, on its worker's lane: name
 *   the kernel, cat the attempt's status, args the task id, attempt,
 *   status, error, the task's args and result (how the worker died for a
 *   crashed or timed-out attempt);
 * - a slice per step and one for the whole run on the runner's lane;
 * - instants ("i"): worker started or exited on the worker's lane; a task
 *   cancelled before it started, a priority change and a `ptrun ctl`
 *   request on the runner's lane;
 * - a counter ("C") "tasks" {waiting, running}: at most one per ms of
 *   event time, and one at each step's start and end and at the run's end.
 *
 * start_ns/end_ns are the worker's own times, except for an attempt whose
 * worker died, which starts when the task was sent (the runner sends a
 * worker its next tasks before it has answered the last). So a slice
 * starts at start_ns or when the lane's previous slice ended, whichever is
 * later, and keeps start_ns in args.sent_ts when they differ: slices on a
 * lane never overlap, as the format requires.
 *
 * The file is streamed to FILE.tmp (one write(2) per 64 KiB; nothing is
 * kept per event) and renamed to FILE when the plugin closes, so FILE is
 * always whole; a killed run may leave FILE.tmp. A run that never started
 * writes nothing; a write that fails ends the trace and removes FILE.tmp.
 * `ptrun run --resume` writes the trace of the resumed part only.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ptools/plugin.h>

#include "json_mini.h"
#include "plugin_util.h"

#define FLUSH_BYTES (64 * 1024)
#define COUNTER_NS INT64_C(1000000)
#define RUNNER_PID 1
#define RUNNER_TID 1

/* Does this runner's pt_event have `field` (the struct only grows)? */
#define HAS(ev, field)                                                         \
    ((ev)->size >= offsetof(pt_event, field) + sizeof(ev)->field)

/* A worker's lane. */
typedef struct lane {
    bool named;      /* its thread_name went out */
    int64_t free_ns; /* the end of its last slice */
} lane;

/* A worker set: a process in the trace. */
typedef struct wset {
    char *name;
    int pid;
    lane *lanes; /* by worker index */
    int nlanes;
} wset;

typedef struct trace {
    char *path, *tmp;
    int fd;
    int err;            /* -errno of the first failure: the trace is lost */
    jm_buf out;         /* events not written yet */
    size_t nevents;     /* written or gathered: the next needs a comma */
    bool started;       /* RUN_START came: the file is worth keeping */
    bool ended;         /* RUN_END came */
    int64_t t0;         /* RUN_START's time: ts 0 */
    int64_t step_ns;    /* the current step's start */
    int64_t counter_ns; /* the last counter's time, -1 before the first */
    int64_t counts[PT_TASK_NSTATUS]; /* RUN_END's, for otherData */
    bool interrupted;
    wset *sets;
    int nsets;
} trace;

/* ---- writing ---- */

/* Write what has gathered; a failure is kept and ends the trace. */
static int flush_out(pt_plugin_ctx *ctx, trace *t)
{
    if (t->err)
        return t->err;
    if (t->out.oom) {
        snprintf(ctx->error, sizeof ctx->error, "%s: out of memory", t->tmp);
        return t->err = -ENOMEM;
    }
    if (host_write_all(ctx, t->fd, t->out.data, t->out.len) < 0)
        return t->err = sys_error(ctx, "write", t->tmp);
    jm_buf_cut(&t->out, 0);
    return 0;
}

/* Write when 64 KiB have gathered (or memory ran out). */
static int maybe_flush(pt_plugin_ctx *ctx, trace *t)
{
    if (t->out.len >= FLUSH_BYTES || t->out.oom)
        return flush_out(ctx, t);
    return 0;
}

/* Microseconds with 3 decimals, from nanoseconds: exact. */
static void put_us(jm_buf *b, int64_t ns)
{
    uint64_t a = ns < 0 ? -(uint64_t)ns : (uint64_t)ns;
    jm_buf_fmt(b, "%s%" PRIu64 ".%03u", ns < 0 ? "-" : "", a / 1000,
               (unsigned)(a % 1000));
}

/* `,"key":` then `time` as microseconds since RUN_START. */
static void put_time(trace *t, const char *key, int64_t time)
{
    jm_buf_fmt(&t->out, ",\"%s\":", key);
    put_us(&t->out, time - t->t0);
}

/* `,"key":"text"`, or null. */
static void put_str(jm_buf *b, const char *key, const char *s)
{
    jm_buf_fmt(b, ",\"%s\":", key);
    if (s)
        jm_buf_quote(b, s);
    else
        jm_buf_str(b, "null");
}

/* `,"key":` then an encoded map of the event as JSON ({} if none). */
static void put_value(jm_buf *b, const char *key, const void *p, size_t n)
{
    jm_buf_fmt(b, ",\"%s\":", key);
    jm_buf_value(b, p, n, "{}");
}

/* Open an event: `{"ph":PH,"pid":P,"tid":T`, after a comma if need be. */
static void begin(trace *t, const char *ph, int pid, int tid)
{
    jm_buf_str(&t->out, t->nevents++ ? ",\n" : "\n");
    jm_buf_fmt(&t->out, "{\"ph\":\"%s\",\"pid\":%d,\"tid\":%d", ph, pid, tid);
}

/* A metadata event: process_name, thread_name, *_sort_index. */
static void metadata(trace *t, int pid, int tid, const char *what,
                     const char *name, int sort)
{
    begin(t, "M", pid, tid);
    jm_buf_fmt(&t->out, ",\"name\":\"%s_name\",\"args\":{\"name\":", what);
    jm_buf_quote(&t->out, name);
    jm_buf_str(&t->out, "}}");
    begin(t, "M", pid, tid);
    jm_buf_fmt(&t->out,
               ",\"name\":\"%s_sort_index\",\"args\":{\"sort_index\":%d}}",
               what, sort);
}

/* Open an instant event on a lane at `time`, named `name`. */
static void instant(trace *t, int pid, int tid, int64_t time, const char *name)
{
    begin(t, "i", pid, tid);
    jm_buf_str(&t->out, ",\"s\":\"t\"");
    put_time(t, "ts", time);
    put_str(&t->out, "name", name);
}

/* `,"counts":{"ok":N,...}` */
static void put_counts(jm_buf *b, const int64_t counts[PT_TASK_NSTATUS])
{
    jm_buf_str(b, ",\"counts\":{");
    for (int s = 0; s < PT_TASK_NSTATUS; s++)
        jm_buf_fmt(b, "%s\"%s\":%" PRId64, s ? "," : "",
                   pt_task_status_name((pt_task_status)s), counts[s]);
    jm_buf_str(b, "}");
}

/* ---- lanes ---- */

/* The set named `name`, added (and named in the trace) when new. */
static wset *find_set(trace *t, const char *name)
{
    for (int i = 0; i < t->nsets; i++)
        if (strcmp(t->sets[i].name, name) == 0)
            return &t->sets[i];
    wset *p = realloc(t->sets, (size_t)(t->nsets + 1) * sizeof *p);
    if (!p)
        return NULL;
    t->sets = p;
    wset *s = &p[t->nsets];
    *s = (wset){.name = strdup(name), .pid = RUNNER_PID + 1 + t->nsets};
    if (!s->name)
        return NULL;
    t->nsets++;
    metadata(t, s->pid, 1, "process", name, s->pid);
    return s;
}

/* Worker `w`'s lane in set s, added (and named) when new. */
static lane *find_lane(trace *t, wset *s, int w)
{
    if (w >= s->nlanes) {
        lane *p = realloc(s->lanes, (size_t)(w + 1) * sizeof *p);
        if (!p)
            return NULL;
        memset(p + s->nlanes, 0, (size_t)(w + 1 - s->nlanes) * sizeof *p);
        s->lanes = p;
        s->nlanes = w + 1;
    }
    lane *l = &s->lanes[w];
    if (!l->named) {
        char name[32];
        snprintf(name, sizeof name, "worker %d", w);
        metadata(t, s->pid, w + 1, "thread", name, w + 1);
        l->named = true;
    }
    return l;
}

/*
 * The lane of the event's worker: its pid and tid, NULL (and the runner's
 * lane) when the event names no worker. -ENOMEM when out of memory.
 */
static int worker_lane(trace *t, const pt_event *ev, int *pid, int *tid,
                       lane **l)
{
    *pid = RUNNER_PID, *tid = RUNNER_TID, *l = NULL;
    if (!ev->workerset || ev->worker < 0)
        return 0;
    wset *s = find_set(t, ev->workerset);
    if (!s || !(*l = find_lane(t, s, ev->worker)))
        return -ENOMEM;
    *pid = s->pid, *tid = ev->worker + 1;
    return 0;
}

/* ---- events ---- */

/* How an attempt's worker died, for a crashed or timed-out attempt. */
static void put_death(jm_buf *b, const pt_event *ev)
{
    if (ev->status != PT_TASK_CRASHED && ev->status != PT_TASK_TIMEOUT)
        return;
    jm_buf_fmt(b, ",\"signal\":%d", ev->signal);
    if (ev->exit_code >= 0)
        jm_buf_fmt(b, ",\"exit_code\":%d", ev->exit_code);
    if (HAS(ev, max_rss_kb))
        jm_buf_fmt(b, ",\"max_rss_kb\":%" PRId64, ev->max_rss_kb);
}

/* The args of an attempt's slice. */
static void put_attempt_args(trace *t, const pt_event *ev, int64_t start)
{
    jm_buf *b = &t->out;
    jm_buf_fmt(b, ",\"args\":{\"task\":%" PRId64 ",\"attempt\":%d", ev->task,
               ev->attempts);
    put_str(b, "status", pt_task_status_name(ev->status));
    put_str(b, "step", ev->step_name);
    put_str(b, "workerset", ev->workerset);
    jm_buf_fmt(b, ",\"worker\":%d,\"priority\":%" PRId64, ev->worker,
               ev->priority);
    put_time(t, "queued_ts", ev->queued_ns);
    if (start != ev->start_ns)
        put_time(t, "sent_ts", ev->start_ns);
    put_str(b, "error", ev->error);
    put_death(b, ev);
    put_value(b, "args", ev->args, ev->args_len);
    put_value(b, "result", ev->result, ev->result_len);
    jm_buf_str(b, "}}");
}

/* A cancelled task that never started: an instant on the runner's lane. */
static void unstarted(trace *t, const pt_event *ev)
{
    instant(t, RUNNER_PID, RUNNER_TID, ev->time_ns,
            pt_task_status_name(ev->status));
    jm_buf_fmt(&t->out, ",\"args\":{\"task\":%" PRId64, ev->task);
    put_str(&t->out, "kernel", ev->kernel);
    put_str(&t->out, "error", ev->error);
    jm_buf_str(&t->out, "}}");
}

/* One attempt (TASK_RETRIED, TASK_FINISHED): a slice on its lane. */
static int attempt(trace *t, const pt_event *ev)
{
    int pid, tid;
    lane *l;
    if (ev->start_ns == 0) {
        unstarted(t, ev);
        return 0;
    }
    if (worker_lane(t, ev, &pid, &tid, &l) < 0)
        return -ENOMEM;
    int64_t start = ev->start_ns, end = ev->end_ns;
    if (l && start < l->free_ns)
        start = l->free_ns; /* it waited in the worker's window */
    if (end < start)
        end = start;
    if (l)
        l->free_ns = end;
    begin(t, "X", pid, tid);
    put_time(t, "ts", start);
    jm_buf_str(&t->out, ",\"dur\":");
    put_us(&t->out, end - start);
    put_str(&t->out, "name", ev->kernel ? ev->kernel : "task");
    put_str(&t->out, "cat", pt_task_status_name(ev->status));
    put_attempt_args(t, ev, start);
    return 0;
}

/* A worker started or exited: an instant on its lane. */
static int worker(trace *t, const pt_event *ev)
{
    int pid, tid;
    lane *l;
    if (worker_lane(t, ev, &pid, &tid, &l) < 0)
        return -ENOMEM;
    bool exited = ev->type == PT_EV_WORKER_EXITED;
    instant(t, pid, tid, ev->time_ns,
            exited ? "worker exited" : "worker started");
    jm_buf_fmt(&t->out, ",\"args\":{\"pid\":%d", ev->pid);
    if (exited) {
        jm_buf_fmt(&t->out, ",\"signal\":%d,\"exit_code\":%d", ev->signal,
                   ev->exit_code);
        if (HAS(ev, max_rss_kb))
            jm_buf_fmt(&t->out, ",\"max_rss_kb\":%" PRId64, ev->max_rss_kb);
    }
    jm_buf_str(&t->out, "}}");
    return 0;
}

/* A priority change or a `ptrun ctl` request: on the runner's lane. */
static void runner_instant(trace *t, const pt_event *ev)
{
    if (ev->type == PT_EV_TASK_PRIORITY) {
        instant(t, RUNNER_PID, RUNNER_TID, ev->time_ns, "priority");
        jm_buf_fmt(&t->out,
                   ",\"args\":{\"task\":%" PRId64 ",\"priority\":%" PRId64 "}}",
                   ev->task, ev->priority);
        return;
    }
    instant(t, RUNNER_PID, RUNNER_TID, ev->time_ns, "ctl");
    jm_buf_str(&t->out, ",\"args\":{\"request\":");
    jm_buf_str(&t->out, HAS(ev, control) && ev->control && ev->control[0]
                            ? ev->control
                            : "null");
    jm_buf_str(&t->out, "}}");
}

/* A slice on the runner's lane: a step, or the whole run. */
static void runner_slice(trace *t, const pt_event *ev, int64_t start,
                         const char *name, const char *cat)
{
    begin(t, "X", RUNNER_PID, RUNNER_TID);
    put_time(t, "ts", start);
    jm_buf_str(&t->out, ",\"dur\":");
    put_us(&t->out, ev->time_ns > start ? ev->time_ns - start : 0);
    put_str(&t->out, "name", name);
    put_str(&t->out, "cat", cat);
    if (ev->type == PT_EV_STEP_END)
        jm_buf_fmt(&t->out, ",\"args\":{\"step\":%d", ev->step);
    else
        jm_buf_fmt(&t->out, ",\"args\":{\"interrupted\":%s",
                   ev->interrupted ? "true" : "false");
    put_counts(&t->out, ev->counts);
    jm_buf_str(&t->out, "}}");
}

/* The run starts: time 0, and the runner's lane. */
static void run_start(trace *t, const pt_event *ev)
{
    t->started = true;
    t->t0 = ev->time_ns;
    metadata(t, RUNNER_PID, RUNNER_TID, "process", "ptrun", 0);
    metadata(t, RUNNER_PID, RUNNER_TID, "thread", "ptrun", 0);
}

/*
 * The "tasks" counter, with a runner that counts: at most one per ms of
 * event time, unless `force`d (a step's start or end, the run's end).
 */
static void counter(trace *t, const pt_event *ev, bool force)
{
    if (!t->started || !HAS(ev, running))
        return;
    if (!force && t->counter_ns >= 0 &&
        ev->time_ns < t->counter_ns + COUNTER_NS)
        return;
    t->counter_ns = ev->time_ns;
    begin(t, "C", RUNNER_PID, RUNNER_TID);
    put_time(t, "ts", ev->time_ns);
    jm_buf_fmt(&t->out,
               ",\"name\":\"tasks\",\"args\":{\"waiting\":%" PRId64
               ",\"running\":%" PRId64 "}}",
               ev->waiting, ev->running);
}

/* Add an event's part of the trace; -ENOMEM when memory ran out. */
static int add_event(trace *t, const pt_event *ev)
{
    bool force = false;
    switch (ev->type) {
    case PT_EV_RUN_START: run_start(t, ev); break;
    case PT_EV_STEP_START:
        t->step_ns = ev->time_ns;
        force = true;
        break;
    case PT_EV_STEP_END:
        runner_slice(t, ev, t->step_ns, ev->step_name ? ev->step_name : "step",
                     "step");
        force = true;
        break;
    case PT_EV_RUN_END:
        if (!t->started)
            return 0;
        runner_slice(t, ev, t->t0, ev->run_name ? ev->run_name : "run", "run");
        memcpy(t->counts, ev->counts, sizeof t->counts);
        t->interrupted = ev->interrupted;
        t->ended = force = true;
        break;
    case PT_EV_TASK_RETRIED:
    case PT_EV_TASK_FINISHED:
        if (attempt(t, ev) < 0)
            return -ENOMEM;
        break;
    case PT_EV_WORKER_STARTED:
    case PT_EV_WORKER_EXITED:
        if (worker(t, ev) < 0)
            return -ENOMEM;
        break;
    case PT_EV_TASK_PRIORITY:
    case PT_EV_CONTROL: runner_instant(t, ev); break;
    default: break; /* queued, started, and what later runners add */
    }
    counter(t, ev, force);
    return t->out.oom ? -ENOMEM : 0;
}

/* ---- the plugin ---- */

static void free_trace(trace *t)
{
    if (t->fd >= 0)
        close(t->fd);
    for (int i = 0; i < t->nsets; i++) {
        free(t->sets[i].name);
        free(t->sets[i].lanes);
    }
    free(t->sets);
    jm_buf_free(&t->out);
    free(t->path);
    free(t->tmp);
    free(t);
}

static int trace_open(pt_plugin_ctx *ctx, const char *options)
{
    trace *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(ctx->error, sizeof ctx->error, "out of memory");
        return -ENOMEM;
    }
    t->fd = -1;
    t->counter_ns = -1;
    int rc = read_file_options(ctx, options, "trace.json", &t->path, &t->tmp);
    if (rc < 0 || only_checking(ctx))
        goto fail; /* a check: nothing to create */
    t->fd = host_open(ctx, t->tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (t->fd < 0) {
        rc = sys_error(ctx, "create", t->tmp);
        goto fail;
    }
    jm_buf_str(&t->out, "{\"traceEvents\":[");
    ctx->data = t;
    return 0;
fail:
    free_trace(t);
    return rc;
}

static int trace_event(pt_plugin_ctx *ctx, const pt_event *ev)
{
    trace *t = ctx->data;
    if (t->err)
        return t->err;
    if (add_event(t, ev) < 0) {
        snprintf(ctx->error, sizeof ctx->error, "%s: out of memory", t->tmp);
        return t->err = -ENOMEM;
    }
    return maybe_flush(ctx, t);
}

/* The end of the file: the run's name and times, then the closing braces. */
static void add_trailer(pt_plugin_ctx *ctx, trace *t)
{
    jm_buf *b = &t->out;
    char when[64] = "";
    time_t secs = (time_t)(t->t0 / 1000000000);
    struct tm tm;
    if (gmtime_r(&secs, &tm))
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    jm_buf_str(b, "\n],\"displayTimeUnit\":\"ms\",\"otherData\":{");
    jm_buf_str(b, "\"generator\":\"ptools chrome-trace\"");
    put_str(b, "run", ctx->run_name);
    put_str(b, "run_dir", ctx->run_dir);
    jm_buf_fmt(b, ",\"start_time\":\"%s.%09" PRId64 "Z\"", when,
               t->t0 % 1000000000);
    jm_buf_fmt(b, ",\"start_ns\":\"%" PRId64 "\",\"finished\":%s", t->t0,
               t->ended ? "true" : "false");
    if (t->ended) {
        jm_buf_fmt(b, ",\"interrupted\":%s", t->interrupted ? "true" : "false");
        put_counts(b, t->counts);
    }
    jm_buf_str(b, "}}\n");
}

/* Finish the file: trailer, write, fsync, close, rename over FILE. */
static int finish(pt_plugin_ctx *ctx, trace *t)
{
    add_trailer(ctx, t);
    int rc = flush_out(ctx, t);
    if (rc == 0 && host_fsync(ctx, t->fd) < 0)
        rc = sys_error(ctx, "write", t->tmp);
    int fd = t->fd;
    t->fd = -1;
    if (close(fd) < 0 && errno != EINTR && rc == 0)
        rc = sys_error(ctx, "write", t->tmp);
    if (rc == 0 && rename(t->tmp, t->path) < 0)
        rc = sys_error(ctx, "rename to", t->path);
    return rc;
}

/*
 * Write the trace out, unless the run never started (nothing to show) or
 * a write failed before (the message stays): then FILE.tmp goes.
 */
static int trace_close(pt_plugin_ctx *ctx)
{
    trace *t = ctx->data;
    if (!t)
        return 0;
    int rc = t->err;
    if (rc == 0 && t->started)
        rc = finish(ctx, t);
    if (rc != 0 || !t->started)
        unlink(t->tmp);
    free_trace(t);
    ctx->data = NULL;
    return rc;
}

static const pt_plugin chrome_trace_plugin = {
    .abi = PT_PLUGIN_ABI,
    .name = "chrome-trace",
    .doc = "writes trace.json, a timeline for ui.perfetto.dev and "
           "chrome://tracing, one lane per worker",
    .open = trace_open,
    .on_event = trace_event,
    .close = trace_close,
};

PT_PLUGIN(&chrome_trace_plugin);
