/*
 * spec_sweep.c - a task's `sweep:` and `zip:` axes (SPEC §4).
 *
 * An axis is a list of values or a generator, a mapping of one key:
 * {range: [start, stop, step]} (stop excluded, as Python's range and
 * numpy.arange; ints when all three are ints, else reals), {linspace:
 * [a, b, n]} (n reals, a and b included, as numpy.linspace), {logspace:
 * [a, b, n]} (10^x for x in linspace(a, b, n)), {glob: PATTERN} and
 * {lines: FILE} (spec_sweep_files.c). Numeric generators stay compact: a
 * value is made from its index when a task is worked out. An axis has 1
 * to RN_MAX_TASKS values; every problem is reported at its node.
 *
 * `zip:` axes are paired by index (same lengths), and the zip is one axis
 * of the cartesian product, the slowest: t->sweep holds the zip's axes
 * first, then the sweep's. An arg may get its value from one place only
 * (args, sweep, zip, or repeat's `rep`).
 */
#include <dlfcn.h>
#ifdef __GLIBC__
#include <gnu/lib-names.h> /* LIBM_SO */
#endif
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec/rn_math.h"
#include "spec/spec_sweep.h"

#define GEN_FORMS                                                              \
    "{range: [start, stop, step]}, {linspace: [a, b, n]}, {logspace: [a, "     \
    "b, n]}, {glob: PATTERN} or {lines: FILE}"

/*
 * 10^x by libm's pow, loaded the first time a logspace asks (ptrun does not
 * link libm: rn_math.h). The handle stays for the process's life.
 */
double rn_pow10(double x)
{
    static double (*pow_fn)(double, double);
    if (!pow_fn) {
#ifdef LIBM_SO
        void *h = dlopen(LIBM_SO, RTLD_NOW | RTLD_LOCAL);
        void *f = h ? dlsym(h, "pow") : NULL;
        if (!f)
            return NAN;
        memcpy(&pow_fn, &f, sizeof pow_fn); /* object to function pointer */
#else
        pow_fn = pow; /* not glibc: linked as usual */
#endif
    }
    return pow_fn(10.0, x);
}

/* x of linspace's value k: a, a + step, ..., exactly b at the end. */
static double lin(const rn_sweep_axis *ax, size_t k)
{
    if (ax->n > 1 && k == ax->n - 1)
        return ax->r1;
    return ax->r0 + (double)k * ax->rstep;
}

const rn_value *rn_axis_value(const rn_sweep_axis *ax, size_t k, rn_value *tmp)
{
    if (ax->gen == RN_GEN_LIST)
        return &ax->values.items[k];
    *tmp = (rn_value){.type = RN_REAL, .pos = ax->pos};
    if (ax->gen == RN_GEN_RANGE && ax->ints) {
        tmp->type = RN_INT; /* within [start, stop): no overflow */
        tmp->i = (int64_t)((uint64_t)ax->i0 +
                           (uint64_t)k * (uint64_t)ax->istep);
    } else if (ax->gen == RN_GEN_RANGE) {
        tmp->r = ax->r0 + (double)k * ax->rstep;
    } else {
        double x = lin(ax, k);
        tmp->r = ax->gen == RN_GEN_LOGSPACE ? rn_pow10(x) : x;
    }
    return tmp;
}

/* Item i of a generator's list, a finite number, into v. */
static bool number(rn_build *b, const rn_ynode *n, rn_value *v)
{
    *v = (rn_value){.type = RN_NULL};
    if (n->kind == RN_Y_SCALAR)
        rn_yscalar(n, v);
    if (v->type == RN_INT || (v->type == RN_REAL && isfinite(v->r)))
        return true;
    rn_wrong_type(b, n, "a finite number");
    return false;
}

/* [x, y, z] of a generator `gen`, numbers read into v. */
static bool three(rn_build *b, const rn_ynode *n, const char *gen,
                  const char *form, rn_value v[3])
{
    if (n->kind != RN_Y_SEQ || n->n != 3) {
        char got[96];
        rn_ydescribe(n, got, sizeof got);
        if (n->kind == RN_Y_SEQ)
            snprintf(got, sizeof got, "%zu", n->n);
        rn_diag_at(b->d, n, "%s takes three numbers %s, got %s", gen, form,
                   got);
        return false;
    }
    bool ok = true;
    for (int i = 0; i < 3; i++)
        ok &= number(b, n->e[i].val, &v[i]);
    return ok;
}

static double real_of(const rn_value *v)
{
    return v->type == RN_INT ? (double)v->i : v->r;
}

/* Refuse an axis of more than RN_MAX_TASKS values. */
static bool not_too_many(rn_build *b, const rn_ynode *n, double count)
{
    if (count <= (double)RN_MAX_TASKS)
        return true;
    rn_diag_at(b->d, n,
               "this axis has %.0f values, more than %" PRId64
               " (RN_MAX_TASKS)",
               count, RN_MAX_TASKS);
    return false;
}

/* An int range: how many values, or 0 (stop not beyond start). */
static uint64_t int_count(int64_t start, int64_t stop, int64_t step)
{
    if (step > 0 && stop > start)
        return ((uint64_t)stop - (uint64_t)start - 1) / (uint64_t)step + 1;
    if (step < 0 && stop < start)
        return ((uint64_t)start - (uint64_t)stop - 1) / (0 - (uint64_t)step) +
               1;
    return 0;
}

static void gen_range(rn_build *b, const rn_ynode *n, rn_sweep_axis *ax)
{
    rn_value v[3];
    if (!three(b, n, "range", "[start, stop, step]", v))
        return;
    double start = real_of(&v[0]), stop = real_of(&v[1]);
    double step = real_of(&v[2]), count;
    if (step == 0) {
        rn_diag_at(b->d, n->e[2].val, "range: the step must not be 0");
        return;
    }
    ax->ints = v[0].type == RN_INT && v[1].type == RN_INT &&
               v[2].type == RN_INT;
    if (ax->ints)
        count = (double)int_count(v[0].i, v[1].i, v[2].i);
    else {
        double q = (stop - start) / step; /* fmax(0, ceil(q)) */
        count = q > 0 ? rn_ceil(q) : 0;
    }
    if (!(count >= 1)) {
        rn_diag_at(b->d, n,
                   "range gives no value: with a %s step, stop must be "
                   "%s start",
                   step > 0 ? "positive" : "negative",
                   step > 0 ? "above" : "below");
        return;
    }
    if (!not_too_many(b, n, count))
        return;
    *ax = (rn_sweep_axis){.key = ax->key,
                          .gen = RN_GEN_RANGE,
                          .ints = ax->ints,
                          .i0 = v[0].i,
                          .istep = v[2].i,
                          .r0 = start,
                          .rstep = step,
                          .n = (size_t)count,
                          .zip = ax->zip,
                          .pos = n->pos};
    if (!ax->ints && !isfinite(start + (count - 1) * step))
        rn_diag_at(b->d, n, "range: its values pass the largest real");
}

/* linspace or logspace: [a, b, n]. */
static void gen_space(rn_build *b, const rn_ynode *n, rn_sweep_axis *ax,
                      rn_axis_gen gen)
{
    rn_value v[3];
    const char *name = gen == RN_GEN_LOGSPACE ? "logspace" : "linspace";
    int64_t count;
    if (!three(b, n, name, "[a, b, n]", v) ||
        !rn_get_int(b, n->e[2].val,
                    gen == RN_GEN_LOGSPACE ? "logspace n" : "linspace n", 1,
                    RN_MAX_TASKS, &count))
        return;
    double lo = real_of(&v[0]), hi = real_of(&v[1]);
    *ax = (rn_sweep_axis){.key = ax->key,
                          .gen = gen,
                          .r0 = lo,
                          .r1 = hi,
                          .rstep = count > 1 ? (hi - lo) / (double)(count - 1)
                                             : 0,
                          .n = (size_t)count,
                          .zip = ax->zip,
                          .pos = n->pos};
    bool ok = isfinite(ax->rstep);
    if (gen == RN_GEN_LOGSPACE)
        ok = ok && isfinite(rn_pow10(lo > hi ? lo : hi));
    if (!ok)
        rn_diag_at(b->d, n, "%s: its values pass the largest real", name);
}

static const char *const gen_names[] = {"range", "linspace", "logspace", "glob",
                                        "lines"};

/*
 * A generator: a mapping of one key, and for glob and lines an optional
 * `dir` (the folder they are relative to instead of the spec's; the run's
 * job.yaml gets it, so that a run resumed from its folder reads the same
 * files).
 */
static void build_gen(rn_build *b, const rn_ynode *n, rn_sweep_axis *ax)
{
    char hint[256];
    size_t g = 0, ng = sizeof gen_names / sizeof *gen_names;
    const rn_ynode *dir = rn_ymap_get(n, "dir");
    if (n->n != (dir ? 2u : 1u)) {
        rn_diag_add(b->d, n->n ? n->e[n->n - 1].kpos : n->pos, NULL, 0,
                    "a generator has one key, this has %zu: " GEN_FORMS, n->n);
        return;
    }
    const rn_yentry *e = &n->e[dir && !strcmp(n->e[0].key, "dir")];
    while (g < ng && strcmp(gen_names[g], e->key) != 0)
        g++;
    if (dir && g < 3) {
        rn_diag_at(b->d, dir, "dir goes with glob or lines only");
        return;
    }
    switch (g) {
    case 0: gen_range(b, e->val, ax); return;
    case 1: gen_space(b, e->val, ax, RN_GEN_LINSPACE); return;
    case 2: gen_space(b, e->val, ax, RN_GEN_LOGSPACE); return;
    case 3: rn_axis_glob(b, e->val, dir, ax); return;
    case 4: rn_axis_lines(b, e->val, dir, ax); return;
    }
    rn_hint(e->key, gen_names, ng, "generators", hint, sizeof hint);
    rn_diag_add(b->d, e->kpos, NULL, 0, "unknown generator '%s' (%s)", e->key,
                hint);
}

/* One axis: `key: [values]` or `key: {generator: ...}`. */
static void build_axis(rn_build *b, const rn_yentry *e, rn_sweep_axis *ax,
                       const char *what)
{
    const rn_ynode *v = e->val;
    ax->pos = v->pos;
    if (!(ax->key = strdup(e->key))) {
        rn_oom_at(b, v);
    } else if (v->kind == RN_Y_MAP) {
        build_gen(b, v, ax);
    } else if (v->kind != RN_Y_SEQ) {
        rn_wrong_type(b, v, "a list of values or a generator (" GEN_FORMS ")");
    } else if (!v->n) {
        rn_diag_at(b->d, v, "%s '%s' needs at least one value", what, ax->key);
    } else if (rn_value_from(v, &ax->values) < 0) {
        rn_oom_at(b, v);
    } else {
        ax->n = ax->values.n;
    }
}

/* The axes of mapping n (`sweep` or `zip`) into ax[0 .. n->n - 1]. */
static void build_axes(rn_build *b, const rn_ynode *n, rn_sweep_axis *ax,
                       const char *what)
{
    for (size_t i = 0; i < n->n; i++) {
        ax[i].zip = !strcmp(what, "zip");
        build_axis(b, &n->e[i], &ax[i], what);
    }
}

/* Every zip axis as long as the first. */
static void check_zip_lengths(rn_build *b, const rn_ynode *zip,
                              const rn_task *t)
{
    const rn_sweep_axis *first = &t->sweep[0];
    for (int i = 1; i < t->nzip; i++) {
        const rn_sweep_axis *ax = &t->sweep[i];
        if (!first->n || !ax->n || ax->n == first->n)
            continue;
        rn_diag_at(b->d, zip->e[i].val,
                   "zip: '%s' has %zu value%s but '%s' has %zu (zip pairs "
                   "values by index: every axis needs the same length)",
                   ax->key, ax->n, ax->n == 1 ? "" : "s", first->key, first->n);
    }
}

/* `zip` or `sweep`: a mapping of arg names to axes (zip: at least one). */
static const rn_ynode *axes_node(rn_build *b, const rn_ynode *task,
                                 const char *key)
{
    const rn_ynode *n = rn_ymap_get(task, key);
    if (!n)
        return NULL;
    if (n->kind != RN_Y_MAP) {
        rn_wrong_type(b, n, "a mapping of arg names to lists or generators");
        return NULL;
    }
    if (!n->n && !strcmp(key, "zip"))
        rn_diag_at(b->d, n, "zip needs at least one axis");
    return n;
}

void rn_build_axes(rn_build *b, const rn_ynode *task, rn_task *t)
{
    const rn_ynode *zip = axes_node(b, task, "zip");
    const rn_ynode *sweep = axes_node(b, task, "sweep");
    size_t nz = zip ? zip->n : 0, ns = sweep ? sweep->n : 0;
    if (nz + ns == 0)
        return;
    if (!(t->sweep = calloc(nz + ns, sizeof *t->sweep))) {
        rn_oom_at(b, task);
        return;
    }
    t->nzip = (int)nz;
    t->nsweep = (int)(nz + ns);
    if (zip) {
        build_axes(b, zip, t->sweep, "zip");
        check_zip_lengths(b, zip, t);
    }
    if (sweep)
        build_axes(b, sweep, t->sweep + nz, "sweep");
}

static bool has_key(const rn_value *map, const char *key)
{
    for (size_t i = 0; map->keys && i < map->n; i++)
        if (map->keys[i] && strcmp(map->keys[i], key) == 0)
            return true;
    return false;
}

static bool sweeps(const rn_task *t, const char *key)
{
    for (int i = 0; i < t->nsweep; i++)
        if (t->sweep[i].key && strcmp(t->sweep[i].key, key) == 0)
            return true;
    return false;
}

/* The zip's key `key`, if the zip names it. */
static bool zips(const rn_task *t, const char *key)
{
    for (int i = 0; i < t->nzip; i++)
        if (t->sweep[i].key && strcmp(t->sweep[i].key, key) == 0)
            return true;
    return false;
}

/* Keys of `what` (zip, then sweep at t->sweep + off) also set elsewhere. */
static void clash_in(rn_build *b, const rn_ynode *n, const rn_task *t, int off,
                     const char *what)
{
    for (size_t i = 0; n && i < n->n; i++) {
        const char *key = t->sweep[off + (int)i].key;
        if (!key)
            continue;
        if (has_key(&t->args, key))
            rn_diag_add(b->d, n->e[i].kpos, NULL, 0,
                        "'%s' is both in args and in %s", key, what);
        else if (off && zips(t, key))
            rn_diag_add(b->d, n->e[i].kpos, NULL, 0,
                        "'%s' is both in zip and in sweep", key);
    }
}

void rn_check_arg_clash(rn_build *b, const rn_ynode *n, const rn_task *t)
{
    const rn_ynode *zip = rn_ymap_get(n, "zip");
    const rn_ynode *sweep = rn_ymap_get(n, "sweep");
    if (t->nsweep) {
        clash_in(b, zip && zip->kind == RN_Y_MAP ? zip : NULL, t, 0, "zip");
        clash_in(b, sweep && sweep->kind == RN_Y_MAP ? sweep : NULL, t, t->nzip,
                 "sweep");
    }
    if (t->has_repeat && (has_key(&t->args, "rep") || sweeps(t, "rep")))
        rn_diag_at(b->d, rn_ymap_get(n, "repeat"),
                   "repeat gives each task the arg 'rep', which args or "
                   "sweep already sets");
}
