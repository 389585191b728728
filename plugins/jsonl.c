/*
 * jsonl - writes results.jsonl: one JSON object per finished task (SPEC §5).
 *
 *   options: file  (string, default "results.jsonl", relative to the run
 *                   folder unless absolute)
 *            fsync (bool, default false: fsync(2) after every write)
 *
 * A line holds, in this order: task, step, kernel, args, seed, status,
 * error, result, worker, attempts, queued_ns, start_ns, end_ns, workerset,
 * priority, and for a crashed or timed-out task signal, exit_code and
 * max_rss_kb; a retried task also has earlier_attempts (status, error,
 * signal, exit code, peak RSS and times of each failed attempt). The file is
 * opened for appending: `ptrun run --resume` adds to it. Args and result are
 * the event's encoded values (plugin ABI 3), written as JSON by the codec
 * (pt_value_to_json) straight into the line.
 *
 * An interrupted run must leave whole lines, so lines gather in memory and
 * reach the file only as whole lines, by write(2): when 64 KiB have gathered,
 * when the runner asks (flush: before it waits idle, and at most 50 ms after
 * a task ended), when a step or the run ends, and at close. Two
 * things can still cut a line: a full disk, after which the file is cut back
 * to its last whole line, and a SIGKILL that lands inside write(2) (Linux
 * stops a write to a file between pages on a fatal signal). Opening the file
 * again, as --resume does, removes such an unterminated last line.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ptools/plugin.h>

#include "json_mini.h"
#include "json_shape.h"
#include "plugin_util.h"

#define FLUSH_BYTES (64 * 1024)

/* A name every line repeats (step, kernel, worker set): quoted once. */
typedef struct name_cache {
    char *raw;       /* the name last seen */
    const char *ptr; /* where it was (built into ptrun: see name_of()) */
    jm_buf quoted;   /* it as a JSON string */
} name_cache;

/* The text of a timestamp's leading digits (all but its last eight): the
 * same for the times of every line in a tenth of a second. A line's
 * queued_ns is often from long before its start_ns and end_ns (a step's
 * tasks are all queued at once), so they keep one cache each: a shared
 * one would be rewritten twice a line. */
typedef struct stamp_cache {
    uint64_t hi; /* the timestamp / 10^8 (0: none yet) */
    char text[PT_JSON_INT_MAX];
    size_t len;
} stamp_cache;

typedef struct jsonl {
    char *path;
    bool fsync;
    int fd;
    off_t good;   /* the file's size at its last whole line */
    jm_buf lines; /* whole lines not written yet */
    name_cache step, kernel, set;
    js_shape args, result;   /* the last args and result written */
    stamp_cache queued, ran; /* queued_ns; start_ns and end_ns */
    int64_t queued_ns;       /* the last queued_ns written (0: none), */
    char queued_text[24];    /* its text (a step's tasks share one), */
    size_t queued_len;       /* and its length */
} jsonl;

/* Read the options into j: its path and fsync. */
static int read_options(pt_plugin_ctx *ctx, jsonl *j, const char *json)
{
    json_t *o = load_options(ctx, json), *v;
    const char *key, *file = "results.jsonl";
    int rc = o ? 0 : -EINVAL;
    if (o)
        json_object_foreach(o, key, v)
        {
            if (strcmp(key, "fsync") == 0 && json_is_boolean(v))
                j->fsync = json_is_true(v);
            else if (strcmp(key, "fsync") == 0)
                rc = option_error(ctx, key, "expected true or false");
            else if (strcmp(key, "file") != 0)
                rc = option_error(ctx, key,
                                  "no such option (known: file, fsync)");
            else if (!(file = file_option(ctx, key, v)))
                rc = -EINVAL;
            if (rc)
                break;
        }
    if (rc == 0 && !(j->path = run_path(ctx, file, "")))
        rc = option_error(ctx, "file", "out of memory");
    json_decref(o);
    return rc;
}

/* The offset just after the last '\n' in the first `size` bytes of fd. */
static off_t last_line_end(int fd, off_t size)
{
    char block[4096];
    while (size > 0) {
        size_t n = size < (off_t)sizeof block ? (size_t)size : sizeof block;
        ssize_t got = pread(fd, block, n, size - (off_t)n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return -1;
        if ((size_t)got != n) {
            errno = EIO; /* it shrank under us */
            return -1;
        }
        for (size_t i = n; i > 0; i--)
            if (block[i - 1] == '\n')
                return size - (off_t)n + (off_t)i;
        size -= (off_t)n;
    }
    return 0;
}

/*
 * Cut an unterminated last line off the file: what a write cut short by a
 * SIGKILL leaves. Sets j->good to the size of the whole lines.
 */
static int drop_torn_tail(const pt_plugin_ctx *ctx, jsonl *j)
{
    struct stat st;
    if (fstat(j->fd, &st) < 0)
        return -1;
    j->good = st.st_size;
    if (!S_ISREG(st.st_mode) || st.st_size == 0)
        return 0;
    int fd = host_open(ctx, j->path, O_RDONLY, 0);
    if (fd < 0)
        return -1;
    off_t end = last_line_end(fd, st.st_size);
    int e = errno;
    close(fd);
    errno = e;
    if (end < 0 || (end < st.st_size && ftruncate(j->fd, end) < 0))
        return -1;
    j->good = end;
    return 0;
}

/*
 * Write the gathered lines. After a failure they stay gathered, so a later
 * flush (the next step's end, close) tries them again.
 */
static int flush_lines(pt_plugin_ctx *ctx, jsonl *j)
{
    if (j->lines.len == 0)
        return 0;
    if (host_write_all(ctx, j->fd, j->lines.data, j->lines.len) < 0) {
        int rc = sys_error(ctx, "write", j->path);
        /* Back to whole lines; a device cannot be cut, and need not be. */
        (void)!ftruncate(j->fd, j->good);
        return rc;
    }
    j->good += (off_t)j->lines.len;
    jm_buf_cut(&j->lines, 0);
    if (j->fsync && host_fsync(ctx, j->fd) < 0)
        return sys_error(ctx, "fsync", j->path);
    return 0;
}

/* Are a and b the same string? Inline: names are short, and a call to
 * strcmp() cost more than comparing them. */
static bool same_name(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

/* The JSON text of a name (a string, or null) in *t, *n: from c when it
 * is the last one. False when there is no memory to keep it. */
static bool name_text(name_cache *c, const char *s, const char **t, size_t *n)
{
    if (!s) {
        *t = "null", *n = 4;
        return true;
    }
    if (!c->raw || !same_name(c->raw, s)) {
        free(c->raw);
        c->ptr = NULL;
        c->raw = strdup(s);
        jm_buf_cut(&c->quoted, 0);
        jm_buf_quote(&c->quoted, s);
        if (!c->raw || c->quoted.oom) {
            free(c->raw);
            c->raw = NULL;
            return false;
        }
    }
    c->ptr = s;
    *t = c->quoted.data, *n = c->quoted.len;
    return true;
}

/* name_text(), inline when built into ptrun: its names are its spec's,
 * unchanged and never freed while it runs, so the same pointer is the same
 * name (three compares a line were 4 % of the runner's instructions). */
static inline bool name_of(name_cache *c, const char *s, const char **t,
                           size_t *n)
{
#ifdef PT_PLUGIN_BUILTIN
    if (s && s == c->ptr) {
        *t = c->quoted.data, *n = c->quoted.len;
        return true;
    }
#endif
    return name_text(c, s, t, n);
}

/*
 * A JSON array from the runner (earlier_attempts), verbatim. Line breaks
 * can only be whitespace there; they become spaces, to keep one task per
 * line.
 */
static void add_object(jm_buf *b, const char *json)
{
    if (!json || !json[0]) {
        jm_buf_str(b, "{}");
        return;
    }
    size_t start = b->len;
    jm_buf_str(b, json);
    for (size_t i = start; i < b->len && !b->oom; i++)
        if (b->data[i] == '\n' || b->data[i] == '\r')
            b->data[i] = ' ';
}

/*
 * How its last worker died, for a crashed or timed-out task: signal, exit
 * code, peak RSS in KiB (null when unknown). Only with a runner whose
 * events carry them (pt_event grew `max_rss_kb`).
 */
static void add_death(jm_buf *b, const pt_event *ev)
{
    if (ev->size < offsetof(pt_event, max_rss_kb) + sizeof ev->max_rss_kb ||
        (ev->status != PT_TASK_CRASHED && ev->status != PT_TASK_TIMEOUT))
        return;
    jm_buf_lit(b, ",\"signal\":");
    jm_buf_int(b, ev->signal);
    jm_buf_lit(b, ",\"exit_code\":");
    if (ev->exit_code >= 0)
        jm_buf_int(b, ev->exit_code);
    else
        jm_buf_lit(b, "null");
    jm_buf_lit(b, ",\"max_rss_kb\":");
    jm_buf_int(b, ev->max_rss_kb);
}

/* Literal text at p: the pointer after it. */
#define PUT(p, lit)                                                            \
    ((char *)memcpy((p), "" lit, sizeof(lit) - 1) + sizeof(lit) - 1)

static char *put_text(char *p, const char *t, size_t n)
{
    jm_copy(p, t, n);
    return p + n;
}

static char *put_int(char *p, int64_t v)
{
    if (v >= 0 && v < 10) { /* worker, attempts, priority: mostly */
        *p = (char)('0' + v);
        return p + 1;
    }
    return p + jm_int_text(p, v);
}

/* A time in ns: the leading digits from the cache when they are the last
 * ones'. */
static char *put_stamp(char *p, stamp_cache *c, int64_t v)
{
    const uint64_t e8 = 100000000;
    if (v < (int64_t)e8)
        return put_int(p, v);
    uint64_t hi = (uint64_t)v / e8;
    if (hi != c->hi) {
        c->hi = hi;
        c->len = pt_json_uint_text(c->text, hi);
    }
    p = put_text(p, c->text, c->len);
    jm_put8(p, (uint32_t)((uint64_t)v % e8)); /* pt_json_digits(), inline */
    return p + 8;
}

/* queued_ns at p: the tasks of a step are queued at once (SPEC §5), so
 * most lines repeat the last one's text whole. */
static char *put_queued(jsonl *j, char *p, int64_t v)
{
    if (v != j->queued_ns || !v) {
        j->queued_ns = v;
        j->queued_len = (size_t)(put_stamp(j->queued_text, &j->queued, v) -
                                 j->queued_text);
    }
    memcpy(p, j->queued_text, sizeof j->queued_text); /* room for it all */
    return p + j->queued_len;
}

/* The line's head at p: task, step and kernel, up to the args. */
static char *put_head(char *p, const pt_event *ev, const char *step,
                      size_t nstep, const char *kernel, size_t nkernel)
{
    p = PUT(p, "{\"task\":");
    p = put_int(p, ev->task);
    p = PUT(p, ",\"step\":");
    p = put_text(p, step, nstep);
    p = PUT(p, ",\"kernel\":");
    p = put_text(p, kernel, nkernel);
    return PUT(p, ",\"args\":");
}

/* Seed and status at p, up to the error. */
static char *put_status(char *p, const pt_event *ev, const char *st, size_t nst)
{
    p = PUT(p, ",\"seed\":");
    p += pt_json_uint_text(p, ev->seed);
    p = PUT(p, ",\"status\":\"");
    p = put_text(p, st, nst);
    return PUT(p, "\",\"error\":");
}

/* Worker, attempts, times, worker set and priority at p. */
#define TIMES_MAX (128 + 6 * PT_JSON_INT_MAX + 24)
static char *put_times(jsonl *j, char *p, const pt_event *ev, const char *set,
                       size_t nset)
{
    p = PUT(p, ",\"worker\":");
    p = ev->worker < 0 ? PUT(p, "null") : put_int(p, ev->worker);
    p = PUT(p, ",\"attempts\":");
    p = put_int(p, ev->attempts);
    p = PUT(p, ",\"queued_ns\":");
    p = put_queued(j, p, ev->queued_ns);
    p = PUT(p, ",\"start_ns\":");
    p = put_stamp(p, &j->ran, ev->start_ns);
    p = PUT(p, ",\"end_ns\":");
    p = put_stamp(p, &j->ran, ev->end_ns);
    p = PUT(p, ",\"workerset\":");
    p = put_text(p, set, nset);
    p = PUT(p, ",\"priority\":");
    return put_int(p, ev->priority);
}

/*
 * The line of most tasks in one pass and one reservation: no error, no
 * earlier attempts, a worker that did not die, one rank, and args and
 * result of the last ones' shapes (json_shape.h). False, nothing
 * written, for any other: add_line() writes it piece by piece.
 */
static bool fast_line(jsonl *j, const pt_event *ev)
{
    jm_buf *b = &j->lines;
    const char *step, *kernel, *set, *st;
    size_t nstep, nkernel, nset, nst;
    if (ev->size < sizeof *ev || ev->error || ev->attempts_json ||
        ev->nranks > 1 || ev->status == PT_TASK_CRASHED ||
        ev->status == PT_TASK_TIMEOUT ||
        !js_shape_ready(&j->args, ev->args, ev->args_len) ||
        !js_shape_ready(&j->result, ev->result, ev->result_len) ||
        !name_of(&j->step, ev->step_name, &step, &nstep) ||
        !name_of(&j->kernel, ev->kernel, &kernel, &nkernel) ||
        !name_of(&j->set, ev->workerset, &set, &nset))
        return false;
    st = pt_task_status_name(ev->status);
    nst = strlen(st);
    char *p = jm_buf_room(b, 128 + 2 * PT_JSON_INT_MAX + TIMES_MAX + nstep +
                                 nkernel + nset + nst + js_shape_max(&j->args) +
                                 js_shape_max(&j->result));
    if (!p)
        return false;
    p = put_head(p, ev, step, nstep, kernel, nkernel);
    p = js_shape_put(&j->args, p, ev->args);
    p = put_status(p, ev, st, nst);
    p = PUT(p, "null,\"result\":");
    p = js_shape_put(&j->result, p, ev->result);
    p = put_times(j, p, ev, set, nset);
    p = PUT(p, "}\n");
    jm_buf_end(b, p);
    return true;
}

/* The line's head: task, step and kernel, up to the args. */
static void add_head(jsonl *j, const pt_event *ev)
{
    jm_buf *b = &j->lines;
    const char *step, *kernel;
    size_t nstep, nkernel;
    if (!name_of(&j->step, ev->step_name, &step, &nstep) ||
        !name_of(&j->kernel, ev->kernel, &kernel, &nkernel)) {
        b->oom = true;
        return;
    }
    char *p = jm_buf_room(b, 64 + 2 * PT_JSON_INT_MAX + nstep + nkernel);
    if (p)
        jm_buf_end(b, put_head(p, ev, step, nstep, kernel, nkernel));
}

/* Seed, status and error, up to the result. */
static void add_status(jsonl *j, const pt_event *ev)
{
    jm_buf *b = &j->lines;
    const char *st = pt_task_status_name(ev->status);
    size_t nst = strlen(st);
    char *p = jm_buf_room(b, 64 + PT_JSON_INT_MAX + nst);
    if (!p)
        return;
    p = put_status(p, ev, st, nst);
    if (!ev->error)
        p = PUT(p, "null");
    jm_buf_end(b, p);
    if (ev->error)
        jm_buf_quote(b, ev->error);
    jm_buf_lit(b, ",\"result\":");
}

/* Worker, attempts, times, worker set and priority. */
static void add_times(jsonl *j, const pt_event *ev)
{
    jm_buf *b = &j->lines;
    const char *set;
    size_t nset;
    if (!name_of(&j->set, ev->workerset, &set, &nset)) {
        b->oom = true;
        return;
    }
    char *p = jm_buf_room(b, TIMES_MAX + nset);
    if (p)
        jm_buf_end(b, put_times(j, p, ev, set, nset));
}

/*
 * Append the line of a finished task: no printf, and the numbers written
 * in place (this is the hot path); args and result reuse the text of the
 * last ones of their shape (json_shape.h).
 */
static void add_line(jsonl *j, const pt_event *ev)
{
    jm_buf *b = &j->lines;
    if (fast_line(j, ev))
        return;
    add_head(j, ev);
    js_shape_write(&j->args, b, ev->args, ev->args_len, "{}");
    add_status(j, ev);
    js_shape_write(&j->result, b, ev->result, ev->result_len, "{}");
    add_times(j, ev);
    add_death(b, ev);
    if (ev->size >= offsetof(pt_event, nranks) + sizeof ev->nranks &&
        ev->nranks > 1) {
        jm_buf_lit(b, ",\"rank\":");
        jm_buf_int(b, ev->rank);
    }
    if (ev->size >=
            offsetof(pt_event, attempts_json) + sizeof ev->attempts_json &&
        ev->attempts_json) {
        jm_buf_lit(b, ",\"earlier_attempts\":");
        add_object(b, ev->attempts_json);
    }
    jm_buf_lit(b, "}\n");
}

/* Gather a finished task's line; write when enough has gathered. */
static int add_task(pt_plugin_ctx *ctx, jsonl *j, const pt_event *ev)
{
    size_t before = j->lines.len;
    add_line(j, ev);
    if (j->lines.oom) {
        jm_buf_cut(&j->lines, before); /* never keep half a line */
        snprintf(ctx->error, sizeof ctx->error,
                 "task %" PRId64 ": out of memory", ev->task);
        return -ENOMEM;
    }
    if (j->lines.len >= FLUSH_BYTES)
        return flush_lines(ctx, j);
    return 0;
}

static void free_jsonl(jsonl *j)
{
    if (j->fd >= 0)
        close(j->fd);
    jm_buf_free(&j->lines);
    name_cache *names[] = {&j->step, &j->kernel, &j->set};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        free(names[i]->raw);
        jm_buf_free(&names[i]->quoted);
    }
    js_shape_free(&j->args);
    js_shape_free(&j->result);
    free(j->path);
    free(j);
}

static int jsonl_open(pt_plugin_ctx *ctx, const char *options)
{
    jsonl *j = calloc(1, sizeof *j);
    if (!j) {
        snprintf(ctx->error, sizeof ctx->error, "out of memory");
        return -ENOMEM;
    }
    j->fd = -1;
    int rc = read_options(ctx, j, options);
    if (rc < 0 || only_checking(ctx))
        goto fail; /* a check: the options are good, nothing to open */
    j->fd = host_open(ctx, j->path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (j->fd < 0) {
        rc = sys_error(ctx, "open", j->path);
        goto fail;
    }
    if (drop_torn_tail(ctx, j) < 0) {
        rc = sys_error(ctx, "read back", j->path);
        goto fail;
    }
    ctx->data = j;
    return 0;
fail:
    free_jsonl(j);
    return rc;
}

static int jsonl_event(pt_plugin_ctx *ctx, const pt_event *ev)
{
    jsonl *j = ctx->data;
    switch (ev->type) {
    case PT_EV_TASK_FINISHED: return add_task(ctx, j, ev);
    case PT_EV_STEP_END:
    case PT_EV_RUN_END: return flush_lines(ctx, j);
    default: return 0;
    }
}

/* A batch of events (plugin ABI 4): the same lines, one call. */
static int jsonl_events(pt_plugin_ctx *ctx, const pt_event *evs, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = jsonl_event(ctx, &evs[i]);
    return rc;
}

static int jsonl_flush(pt_plugin_ctx *ctx)
{
    return flush_lines(ctx, ctx->data);
}

/* Write what is left and close; everything is released even on failure. */
static int jsonl_close(pt_plugin_ctx *ctx)
{
    jsonl *j = ctx->data;
    if (!j)
        return 0;
    int rc = flush_lines(ctx, j);
    int fd = j->fd;
    j->fd = -1;
    if (close(fd) < 0 && errno != EINTR && rc == 0)
        rc = sys_error(ctx, "close", j->path);
    free_jsonl(j);
    ctx->data = NULL;
    return rc;
}

static const pt_plugin jsonl_plugin = {
    .abi = PT_PLUGIN_ABI,
    .name = "jsonl",
    .doc = "writes results.jsonl, one JSON object per finished task",
    .open = jsonl_open,
    .on_event = jsonl_event,
    .close = jsonl_close,
    .flush = jsonl_flush,
    .on_events = jsonl_events,
    .events = PT_EV_MASK(PT_EV_TASK_FINISHED) | PT_EV_MASK(PT_EV_STEP_END) |
              PT_EV_MASK(PT_EV_RUN_END),
};

#ifdef PT_PLUGIN_BUILTIN /* compiled into ptrun as its default writer */
extern const pt_plugin *const PT_PLUGIN_BUILTIN;
const pt_plugin *const PT_PLUGIN_BUILTIN = &jsonl_plugin;
#else
PT_PLUGIN(&jsonl_plugin);
#endif
