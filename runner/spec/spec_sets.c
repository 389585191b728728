/*
 * spec_sets.c - the spec's `workersets:`: workers, mode, batch, timeout,
 * grace, memory, checkpoint, each checked where it is written.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spec/probe.h"
#include "spec/rn_math.h"
#include "spec/spec_check.h"

/* `workers`: an integer 1..RN_MAX_WORKERS, or auto (online CPUs). */
static void get_workers(rn_build *b, const rn_ynode *n, rn_workerset *ws)
{
    rn_value v = {.type = RN_NULL};
    int64_t i;
    if (n && n->kind == RN_Y_SCALAR)
        rn_yscalar(n, &v);
    if (!n || (v.type == RN_STR && strcmp(v.s, "auto") == 0)) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        ws->workers_auto = true;
        ws->workers = cpus < 1                ? 1
                      : cpus > RN_MAX_WORKERS ? RN_MAX_WORKERS
                                              : (int)cpus;
    } else if (v.type != RN_INT) {
        rn_wrong_type(b, n, "an integer or auto");
    } else if (rn_get_int(b, n, "workers", 1, RN_MAX_WORKERS, &i)) {
        ws->workers = (int)i;
    }
}

/* `batch`: auto (0, the default) or 1..4096 requests sent at once. */
static void get_batch(rn_build *b, const rn_ynode *n, rn_workerset *ws)
{
    rn_value v = {.type = RN_NULL};
    int64_t i;
    if (n->kind == RN_Y_SCALAR)
        rn_yscalar(n, &v);
    if (v.type == RN_STR && strcmp(v.s, "auto") == 0)
        ws->batch = 0;
    else if (v.type != RN_INT)
        rn_wrong_type(b, n, "an integer or auto");
    else if (rn_get_int(b, n, "batch", 1, 4096, &i))
        ws->batch = (int)i;
}

/* A duration: 500ms, 30s, 2m, 1h, or a number of seconds; in ms, > 0. */
static bool parse_duration(const char *t, bool number, double *ms)
{
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"ms", 1}, {"s", 1e3}, {"m", 60e3}, {"h", 3600e3}};
    char *end;
    errno = 0;
    double v = strtod(t, &end);
    if (end == t || errno || !isfinite(v) || isspace((unsigned char)*t))
        return false;
    if (number && !*end) {
        *ms = v * 1e3;
        return true;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(end, units[i].unit) == 0) {
            *ms = v * units[i].ms;
            return true;
        }
    return false;
}

/* A duration key (`what`: its name) of at least `min_ms`, in ms. */
static void get_duration(rn_build *b, const rn_ynode *n, const char *what,
                         double min_ms, int64_t *out)
{
    rn_value v = {.type = RN_NULL};
    double ms;
    if (n->kind == RN_Y_SCALAR)
        rn_yscalar(n, &v);
    if (n->kind != RN_Y_SCALAR || v.type == RN_NULL || v.type == RN_BOOL) {
        rn_wrong_type(b, n, "a duration (500ms, 30s, 2m, 1h)");
        return;
    }
    if (!parse_duration(n->text, v.type != RN_STR, &ms)) {
        rn_diag_at(b->d, n,
                   "bad duration '%s' (use 500ms, 30s, 2m, 1h or "
                   "a number of seconds)",
                   n->text);
        return;
    }
    if (ms < min_ms || ms > 1e12) {
        rn_diag_at(b->d, n, "%s must be between %s and 1e9s, got '%s'", what,
                   min_ms > 0 ? "1ms" : "0s", n->text);
        return;
    }
    *out = rn_llround(ms);
}

/*
 * `timeout`: a duration, or `Nx-median` (N > 0, e.g. 5x-median or
 * 2.5x-median): N times the median run time of the set's tasks that
 * ended ok so far (the engine's median.c says when it applies).
 */
static void get_timeout(rn_build *b, const rn_ynode *n, rn_workerset *ws)
{
    const char *t = n->kind == RN_Y_SCALAR ? n->text : "";
    if (!strstr(t, "median")) {
        get_duration(b, n, "timeout", 1, &ws->timeout_ms);
        return;
    }
    char *end;
    errno = 0;
    double x = strtod(t, &end);
    if (end == t || errno || isspace((unsigned char)*t) ||
        strcmp(end, "x-median") != 0) {
        rn_diag_at(b->d, n,
                   "bad timeout '%s' (use Nx-median, e.g. 5x-median: N "
                   "times the median run time of the set's ok tasks)",
                   t);
        return;
    }
    if (!(x > 0) || x > 1e6) {
        rn_diag_at(b->d, n,
                   "timeout Nx-median needs N above 0 and at most 1e6, "
                   "got '%s'",
                   t);
        return;
    }
    ws->timeout_median = x;
}

/* "2GiB", "512MiB", "1.5G", "100000000" (bytes) -> bytes; false if bad. */
static bool parse_size(const char *text, int64_t *bytes)
{
    static const struct {
        const char *unit;
        double mult;
    } units[] = {{"", 1},
                 {"B", 1},
                 {"KiB", 1024.0},
                 {"MiB", 1048576.0},
                 {"GiB", 1073741824.0},
                 {"TiB", 1099511627776.0},
                 {"K", 1024.0},
                 {"M", 1048576.0},
                 {"G", 1073741824.0},
                 {"KB", 1e3},
                 {"MB", 1e6},
                 {"GB", 1e9},
                 {"TB", 1e12}};
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || !(v > 0))
        return false;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(end, units[i].unit) == 0 && v * units[i].mult < 9e18) {
            *bytes = (int64_t)(v * units[i].mult);
            return true;
        }
    return false;
}

/* `memory`: the address-space limit of each worker (RLIMIT_AS). */
static void get_memory(rn_build *b, const rn_ynode *n, int64_t *out)
{
    if (n->kind != RN_Y_SCALAR || !parse_size(n->text, out) ||
        *out < (16 << 20)) {
        rn_diag_at(b->d, n,
                   "memory must be a size of at least 16MiB "
                   "(e.g. 512MiB, 2GiB), got '%s'",
                   n->kind == RN_Y_SCALAR ? n->text : "a collection");
        *out = 0;
    }
}

static void get_mode(rn_build *b, const rn_ynode *n, pt_ws_mode *mode)
{
    const char *t;
    if (!rn_get_text(b, n, &t))
        return;
    if (strcmp(t, "rr") == 0 || strcmp(t, "ff") == 0)
        *mode = t[0] == 'r' ? PT_WS_RR : PT_WS_FF;
    else
        rn_diag_at(b->d, n, "mode must be rr or ff, got '%s'", t);
}

static void build_workerset(rn_build *b, const rn_ynode *n, rn_workerset *ws)
{
    const rn_ynode *v;
    int64_t i;
    ws->pos = n->pos;
    ws->mode = PT_WS_FF;
    if (!rn_check_map(b, n, &rn_workerset_schema))
        return;
    if ((v = rn_ymap_get(n, "name")))
        rn_get_str(b, v, &ws->name);
    get_workers(b, rn_ymap_get(n, "workers"), ws);
    if ((v = rn_ymap_get(n, "mode")))
        get_mode(b, v, &ws->mode);
    if ((v = rn_ymap_get(n, "timeout")))
        get_timeout(b, v, ws);
    ws->grace_ms = -1;
    if ((v = rn_ymap_get(n, "grace")))
        get_duration(b, v, "grace", 0, &ws->grace_ms);
    if ((v = rn_ymap_get(n, "checkpoint")))
        get_duration(b, v, "checkpoint", 0, &ws->checkpoint_ms);
    if ((v = rn_ymap_get(n, "retries")) &&
        rn_get_int(b, v, "retries", 0, INT_MAX, &i))
        ws->retries = (int)i;
    if ((v = rn_ymap_get(n, "retry_failed")))
        rn_get_bool(b, v, &ws->retry_failed);
    if ((v = rn_ymap_get(n, "window")) &&
        rn_get_int(b, v, "window", 1, 65536, &i))
        ws->window = (int)i;
    if ((v = rn_ymap_get(n, "memory")))
        get_memory(b, v, &ws->memory_bytes);
    if ((v = rn_ymap_get(n, "batch")))
        get_batch(b, v, ws);
}

void rn_check_unique(rn_build *b, const rn_ynode *list, const char *noun,
                     const char *(*name_of)(const rn_spec *, int))
{
    for (size_t i = 1; i < list->n; i++) {
        const char *ni = name_of(b->spec, (int)i);
        for (size_t j = 0; ni && j < i; j++) {
            const char *nj = name_of(b->spec, (int)j);
            if (!nj || strcmp(ni, nj) != 0)
                continue;
            const rn_ynode *at = rn_ymap_get(list->e[i].val, "name");
            rn_diag_at(b->d, at, "duplicate %s name '%s' (first at %d:%d)",
                       noun, ni, list->e[j].val->pos.line,
                       list->e[j].val->pos.col);
            break;
        }
    }
}

static const char *set_name(const rn_spec *s, int i)
{
    return s->workersets[i].name;
}

void rn_build_workersets(rn_build *b, const rn_ynode *n)
{
    rn_spec *s = b->spec;
    b->sets_bad = true;
    if (!n || !rn_check_list(b, n, "workersets", true))
        return;
    if (!(s->workersets = calloc(n->n, sizeof *s->workersets))) {
        rn_oom_at(b, n);
        return;
    }
    s->nworkersets = (int)n->n;
    for (size_t i = 0; i < n->n; i++)
        build_workerset(b, n->e[i].val, &s->workersets[i]);
    rn_check_unique(b, n, "workerset", set_name);
    b->sets_bad = false;
}
