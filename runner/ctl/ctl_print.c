/*
 * ctl_print.c - a run's reply to `ptrun ctl` as people read it (ctl.h):
 * status as tables (counts by status, worker sets, running tasks), the
 * other commands as one sentence. `--json` prints the reply as it came.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include <jansson.h>
#include <ptools/common.h>

#include "ctl/ctl.h"

#define RUNNING_SHOWN 20 /* running tasks listed; the rest are counted */

static int64_t get_int(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static const char *get_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "?";
}

/* "0.4s", "12.0s", "3m07s", "2h05m". */
static void elapsed(int64_t ns, char *buf, size_t size)
{
    double s = ns > 0 ? (double)ns / 1e9 : 0;
    int64_t whole = (int64_t)s;
    if (s < 60)
        snprintf(buf, size, "%.1fs", s);
    else if (s < 3600)
        snprintf(buf, size, "%" PRId64 "m%02" PRId64 "s", whole / 60,
                 whole % 60);
    else
        snprintf(buf, size, "%" PRId64 "h%02" PRId64 "m", whole / 3600,
                 whole / 60 % 60);
}

/* One row of counts by status: LABEL TOTAL DONE ok failed ... */
static void counts_row(const char *label, int64_t total, const json_t *c,
                       FILE *out)
{
    int64_t done = 0;
    for (int i = 0; i < PT_TASK_NSTATUS; i++)
        done += get_int(c, pt_task_status_name((pt_task_status)i));
    fprintf(out, "%-12s %7" PRId64 " %7" PRId64, label, total, done);
    for (int i = 0; i < PT_TASK_NSTATUS; i++)
        fprintf(out, " %9" PRId64,
                get_int(c, pt_task_status_name((pt_task_status)i)));
    fputc('\n', out);
}

static void counts_table(const json_t *st, FILE *out)
{
    const json_t *step = json_object_get(st, "step");
    fprintf(out, "%-12s %7s %7s", "", "tasks", "done");
    for (int i = 0; i < PT_TASK_NSTATUS; i++)
        fprintf(out, " %9s", pt_task_status_name((pt_task_status)i));
    fputc('\n', out);
    counts_row("job", get_int(st, "tasks"), json_object_get(st, "counts"), out);
    if (json_is_object(step)) {
        char label[32];
        snprintf(label, sizeof label, "step %" PRId64 "/%" PRId64,
                 get_int(step, "index") + 1, get_int(st, "steps"));
        counts_row(label, get_int(step, "tasks"),
                   json_object_get(step, "counts"), out);
    }
}

static void sets_table(const json_t *st, FILE *out)
{
    const json_t *sets = json_object_get(st, "workersets"), *w;
    size_t i;
    fprintf(out, "\n%-16s %7s %8s %8s\n", "worker set", "workers", "queued",
            "running");
    json_array_foreach(sets, i, w)
    {
        fprintf(out, "%-16s %7" PRId64 " %8" PRId64 " %8" PRId64 "\n",
                get_str(w, "name"), get_int(w, "workers"),
                get_int(w, "waiting"), get_int(w, "running"));
    }
}

static void running_table(const json_t *st, FILE *out)
{
    const json_t *run = json_object_get(st, "running_tasks"), *t;
    int64_t now = get_int(st, "now_ns");
    size_t i, n = json_array_size(run);
    if (n == 0) {
        fprintf(out, "\nno task running\n");
        return;
    }
    fprintf(out, "\n%8s  %-16s %-16s %9s %8s\n", "task", "kernel", "worker",
            "elapsed", "attempt");
    json_array_foreach(run, i, t)
    {
        char worker[64], el[32];
        if (i == RUNNING_SHOWN) {
            fprintf(out, "%8s  and %zu more\n", "", n - i);
            break;
        }
        snprintf(worker, sizeof worker, "%s/%" PRId64, get_str(t, "workerset"),
                 get_int(t, "worker"));
        elapsed(now - get_int(t, "sent_ns"), el, sizeof el);
        fprintf(out, "%8" PRId64 "  %-16s %-16s %9s %8" PRId64 "\n",
                get_int(t, "task"), get_str(t, "kernel"), worker, el,
                get_int(t, "attempt"));
    }
}

static void print_status(const json_t *st, FILE *out)
{
    const json_t *step = json_object_get(st, "step");
    bool paused = json_is_true(json_object_get(st, "paused"));
    fprintf(out, "run %s in %s: %s", get_str(st, "run"), get_str(st, "dir"),
            paused ? "paused" : "running");
    if (json_is_object(step))
        fprintf(out, ", step %" PRId64 "/%" PRId64 " %s",
                get_int(step, "index") + 1, get_int(st, "steps"),
                get_str(step, "name"));
    fprintf(out, "; %" PRId64 " queued, %" PRId64 " running\n\n",
            get_int(st, "waiting"), get_int(st, "running"));
    counts_table(st, out);
    sets_table(st, out);
    running_table(st, out);
}

/* "cancelled 3 tasks (1 already running, 0 already ended)". */
static void print_selected(const json_t *r, const char *key, const char *what,
                           FILE *out)
{
    int64_t n = get_int(r, key);
    fprintf(out,
            "%s %" PRId64 " task%s (%" PRId64 " already running, %" PRId64
            " already ended)\n",
            what, n, n == 1 ? "" : "s", get_int(r, "running"),
            get_int(r, "ended"));
}

int rn_ctl_print(const char *cmd, const char *reply, size_t len, FILE *out,
                 FILE *errf)
{
    json_t *r = json_loadb(reply, len, 0, NULL);
    bool ok = json_is_true(json_object_get(r, "ok"));
    if (!r)
        fprintf(errf, "ptrun ctl: not a reply: %.200s\n", reply);
    else if (!ok)
        fprintf(errf, "ptrun ctl %s: %s\n", cmd, get_str(r, "error"));
    else if (strcmp(cmd, "status") == 0)
        print_status(r, out);
    else if (strcmp(cmd, "priority") == 0)
        print_selected(r, "changed", "changed the priority of", out);
    else if (strcmp(cmd, "cancel") == 0)
        print_selected(r, "cancelled", "cancelled", out);
    else
        fprintf(out, "dispatching %s\n",
                json_is_true(json_object_get(r, "paused")) ? "paused"
                                                           : "resumed");
    json_decref(r);
    return r && ok ? 0 : 1;
}
