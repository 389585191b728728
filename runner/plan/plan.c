/* plan.c - expand a job spec into tasks, lazily (see plan.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <ptools/workerset.h>

#include "plan/plan.h"
#include <ptools/value.h>

#define MAX_AXES 64

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
        rn_value tmp;
        rc = pt_venc_key(b, &m, ax->key);
        if (rc == 0)
            rc = rn_value_encode(b, rn_axis_value(ax, x->pick[a], &tmp));
    }
    if (rc == 0 && x->rep >= 0 && (rc = pt_venc_key(b, &m, "rep")) == 0)
        rc = pt_venc_int(b, x->rep);
    return rc < 0 ? rc : pt_venc_map_end(b, &m);
}

/* Workers of set `set` on rank r: the spec's, or what rank r reported. */
static int workers_of(const rn_spec *spec, const int *workers, int r, int set)
{
    return workers ? workers[r * spec->nworkersets + set]
                   : spec->workersets[set].workers;
}

/* Tasks per (sweep point, rep) of entry t: one, or one per worker. */
static int64_t per_point(const rn_plan *plan, const rn_task *t)
{
    int64_t w = 0;
    if (!t->each_worker)
        return 1;
    for (int r = 0; r < plan->nranks; r++)
        w += workers_of(plan->spec, plan->workers, r, t->workerset);
    return w;
}

/* How many tasks one entry expands to. */
static int64_t entry_count(const rn_plan *plan, const rn_task *t)
{
    int64_t n = t->repeat > 0 ? t->repeat : 1;
    for (int a = t->nzip ? t->nzip - 1 : 0; a < t->nsweep; a++)
        n *= (int64_t)t->sweep[a].n; /* the zip's axes count once */
    return n * per_point(plan, t);
}

static int copy_ranks(rn_plan *plan, const rn_spec *spec, const rn_ranks *r)
{
    plan->nranks = r ? r->n : 1;
    if (!r)
        return 0;
    size_t n = (size_t)r->n * (size_t)spec->nworkersets;
    plan->workers = malloc(n * sizeof *plan->workers + 1);
    if (!plan->workers)
        return -ENOMEM;
    memcpy(plan->workers, r->workers, n * sizeof *plan->workers);
    return 0;
}

/* Entry en's args when it has no sweep: the same for every task but for
 * `rep` (0 here, an int: its value is the encoding's last 8 bytes). */
static int encode_once(rn_pentry *en)
{
    if (en->def->nsweep)
        return 0;
    extra x = {en->def, NULL, en->def->has_repeat ? 0 : -1};
    pt_buf b = {0};
    int rc = task_args(&b, &x);
    if (rc < 0) {
        pt_buf_free(&b);
        return rc;
    }
    en->args = b.data;
    en->args_len = b.len;
    return 0;
}

/* The entries of every step, with their ranges of ids. */
static int add_entries(rn_plan *plan, const rn_spec *spec)
{
    int n = 0;
    for (int s = 0; s < spec->nsteps; s++)
        n += spec->steps[s].ntasks;
    plan->entries = calloc((size_t)n + 1, sizeof *plan->entries);
    plan->step_entry = calloc((size_t)spec->nsteps + 1, sizeof(int));
    plan->step_start = calloc((size_t)spec->nsteps + 1, sizeof(int64_t));
    if (!plan->entries || !plan->step_entry || !plan->step_start)
        return -ENOMEM;
    for (int s = 0; s < spec->nsteps; s++) {
        plan->step_entry[s] = plan->nentries;
        plan->step_start[s] = plan->ntasks;
        for (int t = 0; t < spec->steps[s].ntasks; t++) {
            const rn_task *def = &spec->steps[s].tasks[t];
            if (def->nsweep > MAX_AXES)
                return -E2BIG;
            rn_pentry *en = &plan->entries[plan->nentries++];
            *en = (rn_pentry){def,
                              s,
                              plan->ntasks,
                              entry_count(plan, def),
                              per_point(plan, def),
                              NULL,
                              0};
            plan->ntasks += en->n;
            int rc = encode_once(en);
            if (rc < 0)
                return rc;
        }
    }
    plan->step_entry[spec->nsteps] = plan->nentries;
    plan->step_start[spec->nsteps] = plan->ntasks;
    return 0;
}

int rn_plan_build(const rn_spec *spec, const rn_ranks *ranks, rn_plan *plan,
                  char *err, size_t errlen)
{
    memset(plan, 0, sizeof *plan);
    plan->spec = spec;
    plan->nsteps = spec->nsteps;
    int rc = copy_ranks(plan, spec, ranks);
    if (rc == 0)
        rc = add_entries(plan, spec);
    if (rc < 0)
        snprintf(err, errlen, "%s: planning %" PRId64 " tasks: %s", spec->file,
                 plan->ntasks, pt_strerror(rc));
    return rc;
}

void rn_plan_free(rn_plan *plan)
{
    for (int i = 0; i < plan->nentries; i++)
        free(plan->entries[i].args);
    free(plan->entries);
    free(plan->step_entry);
    free(plan->step_start);
    free(plan->workers);
    memset(plan, 0, sizeof *plan);
}

int rn_plan_entry_of(const rn_plan *plan, int64_t id)
{
    int lo = 0, hi = plan->nentries - 1; /* the last entry starting <= id */
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        if (plan->entries[mid].first <= id)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* Where task `id` sits in its entry: its sweep point, rep, and worker
 * index among every rank's (each_worker). */
static void locate(const rn_pentry *en, int64_t id, size_t *pick, int64_t *rep,
                   int64_t *w)
{
    const rn_task *def = en->def;
    int64_t local = id - en->first, reps = def->repeat > 0 ? def->repeat : 1;
    *w = local % en->per_point;
    local /= en->per_point;
    *rep = def->has_repeat ? local % reps : -1;
    local /= reps;
    for (int a = def->nsweep - 1; a >= def->nzip; a--) { /* last fastest */
        pick[a] = (size_t)(local % (int64_t)def->sweep[a].n);
        local /= (int64_t)def->sweep[a].n;
    }
    for (int a = 0; a < def->nzip; a++) /* the zip's index: slowest */
        pick[a] = (size_t)local;
}

void rn_plan_task(const rn_plan *plan, int64_t id, rn_ptask *t)
{
    rn_plan_task_in(plan, rn_plan_entry_of(plan, id), id, t);
}

void rn_plan_task_in(const rn_plan *plan, int entry, int64_t id, rn_ptask *t)
{
    const rn_pentry *en = &plan->entries[entry];
    const rn_task *def = en->def;
    *t = (rn_ptask){.id = id,
                    .step = en->step,
                    .kernel = def->kernel,
                    .workerset = def->workerset,
                    .on = def->on,
                    .priority = def->priority,
                    .seed = pt_task_seed_of(plan->spec->seed, id),
                    .def = def,
                    .entry = entry};
    if (!def->each_worker)
        return;
    int64_t w = (id - en->first) % en->per_point; /* rank 0's first */
    for (int r = 0; r < plan->nranks; r++) {
        int n = workers_of(plan->spec, plan->workers, r, def->workerset);
        if (w < n) {
            t->rank = r;
            t->on = (int)w;
            return;
        }
        w -= n;
    }
}

/* Args `reuse` (or new ones) taking over the map encoded in `b`, which
 * gets their memory back: 0 or -errno (`reuse` destroyed). The plan made
 * the bytes: no check. */
static int args_of(rn_ptask *t, pt_args *reuse, pt_buf *b)
{
    if (reuse && pt_args_set_buf(reuse, b) < 0) { /* still held */
        pt_args_destroy(reuse);
        reuse = NULL;
    }
    t->args = reuse ? reuse : pt_args_from_buf(b);
    return t->args ? 0 : -ENOMEM;
}

/* Task t's args from its entry's, `rep` patched in, in b. */
static int args_patched(const rn_pentry *en, rn_ptask *t, pt_buf *b)
{
    size_t pick[1];
    int64_t rep, w;
    int rc = pt_buf_append(b, en->args, en->args_len);
    if (rc < 0 || !en->def->has_repeat)
        return rc;
    locate(en, t->id, pick, &rep, &w);
    uint8_t *p = b->data + en->args_len - 8;
    for (int i = 0; i < 8; i++) /* little-endian, as the encoder */
        p[i] = (uint8_t)((uint64_t)rep >> (8 * i));
    return 0;
}

int rn_plan_args_reuse(const rn_plan *plan, rn_ptask *t, pt_args *reuse,
                       pt_buf *scratch)
{
    const rn_pentry *en = &plan->entries[t->entry];
    pt_buf own = {0}, *b = scratch ? scratch : &own;
    pt_buf_reset(b);
    int rc;
    if (en->args) {
        rc = args_patched(en, t, b);
    } else {
        size_t pick[MAX_AXES] = {0};
        int64_t w;
        extra x = {en->def, pick, -1};
        locate(en, t->id, pick, &x.rep, &w);
        rc = pt_buf_reserve(b, 64);
        if (rc == 0)
            rc = task_args(b, &x);
    }
    if (rc == 0)
        rc = args_of(t, reuse, b);
    else
        pt_args_destroy(reuse);
    pt_buf_free(&own);
    return rc;
}

int rn_plan_args(const rn_plan *plan, rn_ptask *t)
{
    return rn_plan_args_reuse(plan, t, NULL, NULL);
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

/* One line of `ptrun check`: task `id`, its args made for the line. */
static void print_task(const rn_spec *spec, const rn_plan *plan, int64_t id,
                       pt_buf *js, FILE *out)
{
    rn_ptask t;
    rn_plan_task(plan, id, &t);
    fprintf(out, "  task %" PRId64 " %s on %s", t.id,
            spec->kernels[t.kernel].name, spec->workersets[t.workerset].name);
    if (t.on >= 0 && t.rank > 0)
        fprintf(out, "[rank %d: %d]", t.rank, t.on);
    else if (t.on >= 0)
        fprintf(out, "[%d]", t.on);
    fprintf(out, " priority %" PRId64 " seed %" PRIu64 " args ", t.priority,
            t.seed);
    if (rn_plan_args(plan, &t) == 0)
        print_args(&t, js, out);
    else
        fputs("(out of memory)", out);
    pt_args_destroy(t.args);
    for (int k = 0; t.def && k < t.def->ntags; k++)
        fprintf(out, "%s%s", k ? "," : " tags ", t.def->tags[k]);
    fputc('\n', out);
}

/* ", halt: after 1 failed task, soon" when h is set, then the newline. */
static void print_halt(const rn_halt *h, FILE *out)
{
    if (h->failed > 0)
        fprintf(out, ", halt: after %" PRId64 " failed task%s, %s", h->failed,
                h->failed == 1 ? "" : "s", h->now ? "now" : "soon");
    fputc('\n', out);
}

void rn_plan_print(const rn_spec *spec, const rn_plan *plan, FILE *out)
{
    pt_buf js = {0};
    fprintf(out, "job %s: %d step%s, %" PRId64 " tasks, seed %" PRIu64,
            spec->name, spec->nsteps, spec->nsteps == 1 ? "" : "s",
            plan->ntasks, spec->seed);
    print_halt(&spec->halt, out);
    for (int s = 0; s < plan->nsteps; s++) { /* numbered from 1, as progress */
        fprintf(out, "step %d/%d %s: %" PRId64 " tasks", s + 1, plan->nsteps,
                spec->steps[s].name,
                plan->step_start[s + 1] - plan->step_start[s]);
        print_halt(&spec->steps[s].halt, out);
        for (int64_t i = plan->step_start[s]; i < plan->step_start[s + 1]; i++)
            print_task(spec, plan, i, &js, out);
    }
    pt_buf_free(&js);
}
