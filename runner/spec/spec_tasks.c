/*
 * spec_tasks.c - check `steps:` and their tasks (SPEC §4): kernels and
 * worker sets named by tasks must exist (with a "did you mean"), `on` must
 * name a worker of the set, and the whole plan, every task expanded by
 * repeat x sweep x (each_worker ? workers : 1), must stay within
 * RN_MAX_TASKS.
 *
 * A task whose args could not travel in one request to a worker (64 MiB
 * with its head) is refused at its line:col.
 *
 * Choices: `repeat`/`sweep`/`zip` combine with `each_worker` (every
 * expanded task runs on every worker); a sweep or zip key may not also be
 * in `args` (nor in both), and with `repeat` none may set `rep` (the arg
 * repeat gives each task), so that no value silently wins over another.
 * The axes themselves are read in spec_sweep.c.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec/spec_params.h"
#include "spec/spec_sweep.h"

static const char *kernel_name(const rn_spec *s, int i)
{
    return s->kernels[i].name;
}

static const char *set_name(const rn_spec *s, int i)
{
    return s->workersets[i].name;
}

static const char *step_name(const rn_spec *s, int i)
{
    return s->steps[i].name;
}

/* The index of the item that n names, or -1 (reported unless `quiet`). */
static int find_named(rn_build *b, const rn_ynode *n, const char *noun,
                      int count, const char *(*name_of)(const rn_spec *, int),
                      bool quiet)
{
    const char *t;
    char hint[512];
    if (!rn_get_text(b, n, &t))
        return -1;
    for (int i = 0; i < count; i++)
        if (name_of(b->spec, i) && strcmp(name_of(b->spec, i), t) == 0)
            return i;
    if (quiet)
        return -1;
    if (count <= 0) {
        rn_diag_at(b->d, n, "no %s named '%s' (the spec defines none)", noun,
                   t);
        return -1;
    }
    const char **names = calloc((size_t)count, sizeof *names);
    if (!names) {
        rn_oom_at(b, n);
        return -1;
    }
    for (int i = 0; i < count; i++)
        names[i] = name_of(b->spec, i);
    rn_hint(t, names, (size_t)count, "known", hint, sizeof hint);
    rn_diag_at(b->d, n, "no %s named '%s' (%s)", noun, t, hint);
    free(names);
    return -1;
}

/* `on`: a worker of the task's set, and not with each_worker. */
static void get_on(rn_build *b, const rn_ynode *n, rn_task *t)
{
    int64_t on;
    const rn_workerset *ws = t->workerset >= 0
                                 ? &b->spec->workersets[t->workerset]
                                 : NULL;
    if (!rn_get_int(b, n, "on", 0, INT_MAX, &on))
        return;
    if (t->each_worker)
        rn_diag_at(b->d, n,
                   "on and each_worker: true exclude each other "
                   "(each_worker runs the task on every worker)");
    else if (ws && ws->workers > 0 && on >= ws->workers)
        rn_diag_at(b->d, n,
                   "on %" PRId64 " is out of range: workerset '%s' "
                   "has %d worker%s (on 0..%d)",
                   on, ws->name ? ws->name : "", ws->workers,
                   ws->workers == 1 ? "" : "s", ws->workers - 1);
    else
        t->on = (int)on;
}

static int64_t sat_mul(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r) || r > RN_MAX_TASKS)
        return RN_MAX_TASKS + 1;
    return r;
}

/* Add the task's expanded count to the plan's; report crossing the limit. */
static void count_tasks(rn_build *b, const rn_ynode *n, const rn_task *t)
{
    int64_t per = t->repeat;
    for (int i = t->nzip ? t->nzip - 1 : 0; i < t->nsweep; i++)
        per = sat_mul(per, (int64_t)t->sweep[i].n); /* the zip once */
    if (t->each_worker && t->workerset >= 0)
        per = sat_mul(per, b->spec->workersets[t->workerset].workers);
    b->ntasks = b->ntasks + per > RN_MAX_TASKS ? RN_MAX_TASKS + 1
                                               : b->ntasks + per;
    if (b->ntasks <= RN_MAX_TASKS || b->tasks_over)
        return;
    b->tasks_over = true;
    if (per > RN_MAX_TASKS)
        rn_diag_at(b->d, n,
                   "this task expands to more than %" PRId64
                   " tasks (RN_MAX_TASKS)",
                   RN_MAX_TASKS);
    else
        rn_diag_at(b->d, n,
                   "the plan expands to more than %" PRId64
                   " tasks (RN_MAX_TASKS) with the %" PRId64 " of this task",
                   RN_MAX_TASKS, per);
}

/*
 * A task's args travel to its worker in one request, of at most
 * RN_MAX_ARGS_BYTES: refuse here a task that could need more (all its
 * args together, with the largest value of each sweep axis), rather than
 * let its worker refuse the frame and die without a word.
 */
static void check_args_size(rn_build *b, const rn_ynode *n, const rn_task *t)
{
    size_t size = rn_task_args_size(t);
    if (size <= RN_MAX_ARGS_BYTES)
        return;
    rn_diag_at(b->d, n,
               "the args of this task take %zu bytes encoded, "
               "more than the %zu a request to a worker carries (a %zu MiB "
               "frame): put bulk data in a shared segment (shm: segments: "
               "with init: {npy: FILE}) and pass its name",
               size, (size_t)RN_MAX_ARGS_BYTES, PT_REQUEST_MAX >> 20);
}

/* `tags: [a, b]`: names `ptrun ctl` selects tasks by. */
static void get_tags(rn_build *b, const rn_ynode *n, rn_task *t)
{
    if (!rn_check_list(b, n, "tags", false))
        return;
    if (!(t->tags = calloc(n->n + 1, sizeof *t->tags))) {
        rn_oom_at(b, n);
        return;
    }
    for (size_t i = 0; i < n->n; i++)
        if (rn_get_str(b, n->e[i].val, &t->tags[t->ntags]))
            t->ntags++;
}

static void build_task(rn_build *b, const rn_ynode *n, rn_task *t)
{
    const rn_ynode *v;
    rn_spec *s = b->spec;
    t->pos = n->pos;
    t->kernel = -1;
    t->workerset = s->nworkersets ? 0 : -1;
    t->repeat = 1;
    t->on = -1;
    t->args = (rn_value){.type = RN_MAP, .pos = n->pos};
    if (!rn_check_map(b, n, &rn_task_schema))
        return;
    if ((v = rn_ymap_get(n, "kernel")))
        t->kernel = find_named(b, v, "kernel", s->nkernels, kernel_name,
                               b->kernels_bad);
    if ((v = rn_ymap_get(n, "workerset")))
        t->workerset = find_named(b, v, "workerset", s->nworkersets, set_name,
                                  b->sets_bad);
    if ((v = rn_ymap_get(n, "priority")))
        rn_get_int(b, v, "priority", INT64_MIN, INT64_MAX, &t->priority);
    rn_get_map_value(b, n, "args", &t->args);
    if ((v = rn_ymap_get(n, "repeat")))
        t->has_repeat = rn_get_int(b, v, "repeat", 1, RN_MAX_TASKS, &t->repeat);
    rn_build_axes(b, n, t);
    if ((v = rn_ymap_get(n, "each_worker")))
        rn_get_bool(b, v, &t->each_worker);
    if ((v = rn_ymap_get(n, "on")))
        get_on(b, v, t);
    if ((v = rn_ymap_get(n, "tags")))
        get_tags(b, v, t);
    rn_check_arg_clash(b, n, t);
    rn_params_check_task(b, n, t);
    check_args_size(b, n, t);
    count_tasks(b, n, t);
}

static void build_step(rn_build *b, const rn_ynode *n, rn_step *st)
{
    const rn_ynode *v;
    st->pos = n->pos;
    if (!rn_check_map(b, n, &rn_step_schema))
        return;
    if ((v = rn_ymap_get(n, "name")))
        rn_get_str(b, v, &st->name);
    rn_build_halt(b, rn_ymap_get(n, "halt"), &st->halt);
    v = rn_ymap_get(n, "tasks");
    if (!v || !rn_check_list(b, v, "tasks", true))
        return;
    if (!(st->tasks = calloc(v->n, sizeof *st->tasks))) {
        rn_oom_at(b, v);
        return;
    }
    st->ntasks = (int)v->n;
    for (size_t i = 0; i < v->n; i++)
        build_task(b, v->e[i].val, &st->tasks[i]);
}

void rn_build_steps(rn_build *b, const rn_ynode *n)
{
    rn_spec *s = b->spec;
    if (!n || !rn_check_list(b, n, "steps", true))
        return;
    if (!(s->steps = calloc(n->n, sizeof *s->steps))) {
        rn_oom_at(b, n);
        return;
    }
    s->nsteps = (int)n->n;
    for (size_t i = 0; i < n->n; i++)
        build_step(b, n->e[i].val, &s->steps[i]);
    rn_check_unique(b, n, "step", step_name);
}
