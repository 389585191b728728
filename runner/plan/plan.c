/* plan.c - expand a job spec into tasks (see plan.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <ptools/workerset.h>

#include "plan/plan.h"
#include <ptools/value.h>

/* The values one task gets beyond its entry's args. */
typedef struct extra {
    const rn_task *def;
    const size_t *pick; /* per sweep axis, the value's index */
    int64_t rep;        /* -1: none */
} extra;

static int overridden(const extra *x, const char *key)
{
    for (int a = 0; a < x->def->nsweep; a++)
        if (strcmp(x->def->sweep[a].key, key) == 0)
            return 1;
    return x->rep >= 0 && strcmp(key, "rep") == 0;
}

/* The args map of one task: entry args, sweep values, then `rep`. */
static int task_args(pt_buf *b, const extra *x)
{
    const rn_value *args = &x->def->args;
    pt_vmark m;
    int rc = pt_venc_map_begin(b, &m);
    for (size_t i = 0; rc == 0 && i < args->n; i++) {
        if (overridden(x, args->keys[i]))
            continue;
        rc = pt_venc_key(b, &m, args->keys[i]);
        if (rc == 0)
            rc = rn_value_encode(b, &args->items[i]);
    }
    for (int a = 0; rc == 0 && a < x->def->nsweep; a++) {
        const rn_sweep_axis *ax = &x->def->sweep[a];
        rc = pt_venc_key(b, &m, ax->key);
        if (rc == 0)
            rc = rn_value_encode(b, &ax->values.items[x->pick[a]]);
    }
    if (rc == 0 && x->rep >= 0 && (rc = pt_venc_key(b, &m, "rep")) == 0)
        rc = pt_venc_int(b, x->rep);
    return rc < 0 ? rc : pt_venc_map_end(b, &m);
}

/* Workers of set `set` on rank r: the spec's, or what rank r reported. */
static int workers_of(const rn_spec *spec, const rn_ranks *ranks, int r,
                      int set)
{
    return ranks ? ranks->workers[r * spec->nworkersets + set]
                 : spec->workersets[set].workers;
}

/* How many tasks one entry expands to. */
static int64_t entry_count(const rn_spec *spec, const rn_ranks *ranks,
                           const rn_task *t)
{
    int64_t n = t->repeat > 0 ? t->repeat : 1, w = 0;
    for (int a = 0; a < t->nsweep; a++)
        n *= (int64_t)t->sweep[a].values.n;
    for (int r = 0; t->each_worker && r < (ranks ? ranks->n : 1); r++)
        w += workers_of(spec, ranks, r, t->workerset);
    return t->each_worker ? n * w : n;
}

/* Fill the next plan slot for entry `def` of step `step`. */
static int add_task(rn_plan *plan, const rn_spec *spec, int step, extra *x,
                    int rank, int on)
{
    rn_ptask *t = &plan->tasks[plan->ntasks];
    pt_buf b = {0};
    int rc = pt_buf_reserve(&b, 64);
    if (rc == 0)
        rc = task_args(&b, x);
    *t = (rn_ptask){.id = plan->ntasks,
                    .step = step,
                    .kernel = x->def->kernel,
                    .workerset = x->def->workerset,
                    .on = on,
                    .priority = x->def->priority,
                    .def = x->def,
                    .rank = rank};
    t->seed = pt_task_seed_of(spec->seed, t->id);
    t->args = rc == 0 ? pt_args_from_buf(&b) : NULL;
    if (!t->args) {
        pt_buf_free(&b);
        return rc < 0 ? rc : -ENOMEM;
    }
    plan->ntasks++;
    return 0;
}

/* The tasks of one (sweep point, rep): one, or one per worker of every
 * rank (rank 0's workers first). */
static int add_workers(rn_plan *plan, const rn_spec *spec,
                       const rn_ranks *ranks, int step, extra *x)
{
    const rn_task *def = x->def;
    if (!def->each_worker)
        return add_task(plan, spec, step, x, 0, def->on);
    for (int r = 0; r < (ranks ? ranks->n : 1); r++)
        for (int w = 0; w < workers_of(spec, ranks, r, def->workerset); w++) {
            int rc = add_task(plan, spec, step, x, r, w);
            if (rc < 0)
                return rc;
        }
    return 0;
}

/* Expand one entry: sweep product (first axis slowest), rep, each worker. */
static int expand(rn_plan *plan, const rn_spec *spec, const rn_ranks *ranks,
                  int step, const rn_task *def)
{
    size_t pick[64] = {0};
    if (def->nsweep > 64)
        return -E2BIG;
    extra x = {def, pick, -1};
    int rc = 0;
    for (;;) {
        for (int64_t r = 0; rc == 0 && r < (def->repeat > 0 ? def->repeat : 1);
             r++) {
            x.rep = def->has_repeat ? r : -1;
            rc = add_workers(plan, spec, ranks, step, &x);
        }
        int a = def->nsweep - 1; /* odometer: last axis fastest */
        while (rc == 0 && a >= 0 && ++pick[a] == def->sweep[a].values.n)
            pick[a--] = 0;
        if (rc < 0 || a < 0)
            break;
    }
    return rc;
}

int rn_plan_build(const rn_spec *spec, const rn_ranks *ranks, rn_plan *plan,
                  char *err, size_t errlen)
{
    int64_t total = 0;
    memset(plan, 0, sizeof *plan);
    for (int s = 0; s < spec->nsteps; s++)
        for (int t = 0; t < spec->steps[s].ntasks; t++)
            total += entry_count(spec, ranks, &spec->steps[s].tasks[t]);
    plan->tasks = calloc((size_t)total + 1, sizeof *plan->tasks);
    plan->step_start = calloc((size_t)spec->nsteps + 1, sizeof(int64_t));
    plan->nsteps = spec->nsteps;
    int rc = plan->tasks && plan->step_start ? 0 : -ENOMEM;
    for (int s = 0; rc == 0 && s < spec->nsteps; s++) {
        plan->step_start[s] = plan->ntasks;
        for (int t = 0; rc == 0 && t < spec->steps[s].ntasks; t++)
            rc = expand(plan, spec, ranks, s, &spec->steps[s].tasks[t]);
    }
    if (rc == 0)
        plan->step_start[spec->nsteps] = plan->ntasks;
    else
        snprintf(err, errlen, "%s: planning %" PRId64 " tasks: %s", spec->file,
                 total, pt_strerror(rc));
    return rc;
}

void rn_plan_free(rn_plan *plan)
{
    for (int64_t i = 0; plan->tasks && i < plan->ntasks; i++)
        pt_args_destroy(plan->tasks[i].args);
    free(plan->tasks);
    free(plan->step_start);
    memset(plan, 0, sizeof *plan);
}

/* A task's args as JSON: converted here, at the edge, into `js`. */
static void print_args(const rn_ptask *t, pt_buf *js, FILE *out)
{
    const uint8_t *p;
    size_t n;
    pt_buf_reset(js);
    if (pt_args_encoded(t->args, &p, &n) == 0 &&
        pt_value_to_json(p, n, js) == 0)
        fwrite(js->data, 1, js->len, out);
    else
        fputs("(out of memory)", out);
}

void rn_plan_print(const rn_spec *spec, const rn_plan *plan, FILE *out)
{
    pt_buf js = {0};
    fprintf(out, "job %s: %d steps, %" PRId64 " tasks, seed %" PRIu64 "\n",
            spec->name, spec->nsteps, plan->ntasks, spec->seed);
    for (int s = 0; s < plan->nsteps; s++) {
        fprintf(out, "step %d %s: %" PRId64 " tasks\n", s, spec->steps[s].name,
                plan->step_start[s + 1] - plan->step_start[s]);
        for (int64_t i = plan->step_start[s]; i < plan->step_start[s + 1];
             i++) {
            const rn_ptask *t = &plan->tasks[i];
            fprintf(out, "  task %" PRId64 " %s on %s", t->id,
                    spec->kernels[t->kernel].name,
                    spec->workersets[t->workerset].name);
            if (t->on >= 0 && t->rank > 0)
                fprintf(out, "[rank %d: %d]", t->rank, t->on);
            else if (t->on >= 0)
                fprintf(out, "[%d]", t->on);
            fprintf(out, " priority %" PRId64 " seed %" PRIu64 " args ",
                    t->priority, t->seed);
            print_args(t, &js, out);
            for (int k = 0; t->def && k < t->def->ntags; k++)
                fprintf(out, "%s%s", k ? "," : " tags ", t->def->tags[k]);
            fputc('\n', out);
        }
    }
    pt_buf_free(&js);
}
