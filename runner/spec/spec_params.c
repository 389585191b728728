/*
 * spec_params.c - kernels' declared params (spec_params.h, kparams.h): the
 * checks of what a probe reported (unique names, known types, defaults
 * that parse to their type), and of each task's args against them, at the
 * FILE:LINE:COL of the offending arg.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ptools/kernel_lib.h>
#include <ptools/value.h>

#include "spec/spec_params.h"

/* The longest param name; longer ones are a kernel's mistake. */
#define NAME_MAX_LEN 128
/* The most items a default list may have, as text "[1, 2, ...]". */
#define DEF_MAX_LEN 4096

void rn_kparams_free(rn_kparams *p)
{
    for (int i = 0; p->v && i < p->n; i++) {
        free(p->v[i].name);
        free(p->v[i].def);
        free(p->v[i].doc);
    }
    free(p->v);
    *p = (rn_kparams){0};
}

const rn_param *rn_param_find(const rn_kparams *k, const char *name)
{
    for (int i = 0; i < k->n; i++)
        if (strcmp(k->v[i].name, name) == 0)
            return &k->v[i];
    return NULL;
}

/* A real that is a whole number within int64 (what pt_arg_int takes). */
static bool whole(double r)
{
    return r >= -0x1p63 && r < 0x1p63 && (double)(int64_t)r == r;
}

static bool is_int(const rn_value *v)
{
    return v->type == RN_INT || (v->type == RN_REAL && whole(v->r));
}

static bool is_number(const rn_value *v)
{
    return v->type == RN_INT || v->type == RN_REAL;
}

/* The first item of list v that `ok` refuses, or -1 (also for no list). */
static long bad_item(const rn_value *v, bool (*ok)(const rn_value *))
{
    for (size_t i = 0; v->type == RN_LIST && i < v->n; i++)
        if (!ok(&v->items[i]))
            return (long)i;
    return -1;
}

bool rn_param_value_ok(int type, const rn_value *v)
{
    if (v->type == RN_NULL)
        return true;
    switch (type) {
    case PT_PARAM_INT: return is_int(v);
    case PT_PARAM_REAL: return is_number(v);
    case PT_PARAM_BOOL: return v->type == RN_BOOL;
    case PT_PARAM_STR: return v->type == RN_STR;
    case PT_PARAM_INTS: return v->type == RN_LIST && bad_item(v, is_int) < 0;
    case PT_PARAM_REALS:
        return v->type == RN_LIST && bad_item(v, is_number) < 0;
    default: return true;
    }
}

/* "an int", "a list of ints", ... what a value of `type` is. */
static const char *type_words(int type)
{
    static const char *const words[PT_PARAM_NTYPES] = {
        [PT_PARAM_ANY] = "anything",
        [PT_PARAM_INT] = "an int",
        [PT_PARAM_REAL] = "a number",
        [PT_PARAM_BOOL] = "true or false",
        [PT_PARAM_STR] = "a string",
        [PT_PARAM_INTS] = "a list of ints",
        [PT_PARAM_REALS] = "a list of numbers"};
    return (unsigned)type < PT_PARAM_NTYPES ? words[type] : "?";
}

/* "an integer 5", "a number 50.7", "a string '100'", as rn_ydescribe. */
static void describe(const rn_value *v, char *buf, size_t size)
{
    char num[48];
    switch (v->type) {
    case RN_NULL: snprintf(buf, size, "null"); break;
    case RN_BOOL:
        snprintf(buf, size, "a boolean %s", v->b ? "true" : "false");
        break;
    case RN_INT: snprintf(buf, size, "an integer %lld", (long long)v->i); break;
    case RN_REAL:
        pt_real_text(num, sizeof num, v->r);
        snprintf(buf, size, "a number %s", num);
        break;
    case RN_STR:
        snprintf(buf, size, "a string '%.*s%s'", strlen(v->s) > 40 ? 37 : 40,
                 v->s, strlen(v->s) > 40 ? "..." : "");
        break;
    case RN_LIST: snprintf(buf, size, "a list"); break;
    default: snprintf(buf, size, "a mapping");
    }
}

/* v, or item i of it, described from its YAML node n when it has one
 * (the text as written: 1e23, not 1e+23). */
static void describe_at(const rn_value *v, const rn_ynode *n, long i, char *buf,
                        size_t size)
{
    if (i >= 0 && n && n->kind == RN_Y_SEQ && (size_t)i < n->n)
        rn_ydescribe(n->e[i].val, buf, size);
    else if (i >= 0)
        describe(&v->items[i], buf, size);
    else if (n)
        rn_ydescribe(n, buf, size);
    else
        describe(v, buf, size);
}

/* What is wrong with v (YAML node n, or NULL) for `type`: "a string
 * '100'", "a list with a number 2.5 (item 1)". */
static void describe_bad(int type, const rn_value *v, const rn_ynode *n,
                         char *buf, size_t size)
{
    long i = -1;
    char item[128];
    if (type == PT_PARAM_INTS)
        i = bad_item(v, is_int);
    else if (type == PT_PARAM_REALS)
        i = bad_item(v, is_number);
    if (i < 0) {
        describe_at(v, n, -1, buf, size);
        return;
    }
    describe_at(v, n, i, item, sizeof item);
    snprintf(buf, size, "a list with %s (item %ld)", item, i);
}

/* rn_param_check_value, with v's own YAML node `n` when it has one. */
static void check_value(rn_build *b, const rn_kernel *k, const char *name,
                        const rn_value *v, const rn_ynode *at,
                        const rn_ynode *n)
{
    const rn_param *p = rn_param_find(&k->params, name);
    char got[256];
    if (!k->params.declared || !p)
        return;
    if (v->type == RN_NULL && !p->def)
        rn_diag_at(b->d, at,
                   "arg '%s' of kernel '%s' is required: null gives it "
                   "no value",
                   name, k->name);
    else if (!rn_param_value_ok(p->type, v)) {
        describe_bad(p->type, v, n, got, sizeof got);
        rn_diag_at(b->d, at, "arg '%s' of kernel '%s' must be %s, got %s", name,
                   k->name, type_words(p->type), got);
    }
}

void rn_param_check_value(rn_build *b, const rn_kernel *k, const char *name,
                          const rn_value *v, const rn_ynode *at)
{
    check_value(b, k, name, v, at, NULL);
}

void rn_param_check_name(rn_build *b, const rn_kernel *k, const char *name,
                         rn_pos kpos, const rn_ynode *val)
{
    const rn_kparams *kp = &k->params;
    char hint[512];
    if (!kp->declared || kp->rest || rn_param_find(kp, name))
        return;
    const char *set = val ? val->set : NULL;
    int set_index = val ? val->set_index : 0;
    if (kp->n == 0) {
        rn_diag_add(b->d, kpos, set, set_index,
                    "unknown arg '%s': kernel '%s' takes no args", name,
                    k->name);
        return;
    }
    const char **names = calloc((size_t)kp->n, sizeof *names);
    if (!names) {
        rn_diag_add(b->d, kpos, set, set_index, "out of memory");
        return;
    }
    for (int i = 0; i < kp->n; i++)
        names[i] = kp->v[i].name;
    rn_hint(name, names, (size_t)kp->n, "it takes", hint, sizeof hint);
    rn_diag_add(b->d, kpos, set, set_index,
                "unknown arg '%s' for kernel '%s' (%s)", name, k->name, hint);
    free(names);
}

/* Arg `name` at YAML node n: a copy of it checked as a value. */
static void check_node(rn_build *b, const rn_kernel *k, const char *name,
                       const rn_ynode *n)
{
    rn_value v;
    if (rn_value_from(n, &v) < 0)
        rn_oom_at(b, n);
    else
        check_value(b, k, name, &v, n, n);
    rn_value_clear(&v);
}

/* `args:`: each key a param, each value of its type. */
static void check_args(rn_build *b, const rn_kernel *k, const rn_ynode *args)
{
    for (size_t i = 0; args && args->kind == RN_Y_MAP && i < args->n; i++) {
        const rn_yentry *e = &args->e[i];
        rn_param_check_name(b, k, e->key, e->kpos, e->val);
        check_node(b, k, e->key, e->val);
    }
}

/* The axis of t made from entry `key` of `zip:` (zip) or `sweep:`. */
static const rn_sweep_axis *find_axis(const rn_task *t, const char *key,
                                      bool zip)
{
    for (int i = 0; i < t->nsweep; i++)
        if (t->sweep[i].key && t->sweep[i].zip == zip &&
            strcmp(t->sweep[i].key, key) == 0)
            return &t->sweep[i];
    return NULL;
}

/* The values a generator made (axis ax, node at), checked until the
 * first wrong one: one message per axis. */
static void check_generated(rn_build *b, const rn_kernel *k,
                            const rn_sweep_axis *ax, const rn_ynode *at)
{
    const rn_param *p = rn_param_find(&k->params, ax->key);
    int before = rn_diag_count(b->d);
    if (!p || p->type == PT_PARAM_ANY)
        return;
    if (ax->gen == RN_GEN_RANGE && ax->ints &&
        (p->type == PT_PARAM_INT || p->type == PT_PARAM_REAL))
        return; /* only ints: no need to make them all */
    for (size_t i = 0; i < ax->n && rn_diag_count(b->d) == before; i++) {
        rn_value tmp;
        rn_param_check_value(b, k, ax->key, rn_axis_value(ax, i, &tmp), at);
    }
}

/* `sweep:` or `zip:` of task t: each key a param, each value of its type:
 * the items of a list, or what a generator ({range: ...}) made. */
static void check_axes(rn_build *b, const rn_kernel *k, const rn_ynode *axes,
                       const rn_task *t, bool zip)
{
    for (size_t i = 0; axes && axes->kind == RN_Y_MAP && i < axes->n; i++) {
        const rn_yentry *e = &axes->e[i];
        const rn_sweep_axis *ax;
        rn_param_check_name(b, k, e->key, e->kpos, e->val);
        for (size_t j = 0; e->val->kind == RN_Y_SEQ && j < e->val->n; j++)
            check_node(b, k, e->key, e->val->e[j].val);
        if (e->val->kind == RN_Y_MAP && (ax = find_axis(t, e->key, zip)))
            check_generated(b, k, ax, e->val);
    }
}

/* Is `name` a key of mapping node n? */
static bool gives(const rn_ynode *n, const char *name)
{
    return n && n->kind == RN_Y_MAP && rn_ymap_get(n, name);
}

/* Every required param is given by args, a sweep or zip axis, or repeat. */
static void check_required(rn_build *b, const rn_kernel *k, const rn_ynode *n,
                           const rn_task *t)
{
    const rn_ynode *args = rn_ymap_get(n, "args"),
                   *sweep = rn_ymap_get(n, "sweep"),
                   *zip = rn_ymap_get(n, "zip");
    for (int i = 0; i < k->params.n; i++) {
        const rn_param *p = &k->params.v[i];
        if (p->def || gives(args, p->name) || gives(sweep, p->name) ||
            gives(zip, p->name) || (t->has_repeat && !strcmp(p->name, "rep")))
            continue;
        rn_diag_at(b->d, n, "missing arg '%s' (%s) that kernel '%s' requires",
                   p->name, pt_param_type_name((pt_param_type)p->type),
                   k->name);
    }
}

void rn_params_check_task(rn_build *b, const rn_ynode *n, const rn_task *t)
{
    if (t->kernel < 0 || t->kernel >= b->spec->nkernels)
        return;
    const rn_kernel *k = &b->spec->kernels[t->kernel];
    if (!k->params.declared || n->kind != RN_Y_MAP)
        return;
    check_args(b, k, rn_ymap_get(n, "args"));
    check_axes(b, k, rn_ymap_get(n, "sweep"), t, false);
    check_axes(b, k, rn_ymap_get(n, "zip"), t, true);
    const rn_param *rep = rn_param_find(&k->params, "rep");
    rn_value some_int = {.type = RN_INT};
    if (t->has_repeat && rep && !rn_param_value_ok(rep->type, &some_int))
        rn_diag_at(b->d, rn_ymap_get(n, "repeat"),
                   "repeat gives each task the int arg 'rep', which kernel "
                   "'%s' declares %s",
                   k->name, type_words(rep->type));
    check_required(b, k, n, t);
}

/* Item text `tok` of a default list, trimmed in place into v. */
static bool list_item(char *tok, rn_value *v)
{
    while (isspace((unsigned char)*tok))
        tok++;
    char *e = tok + strlen(tok);
    while (e > tok && isspace((unsigned char)e[-1]))
        *--e = '\0';
    rn_yplain(tok, v);
    return *tok != '\0';
}

/* Does default text `def` ("[1, 2.5]", "[]") read as a list of `type`? */
static bool default_list_ok(int type, const char *def)
{
    size_t len = strlen(def), n = 1;
    if (len < 2 || len > DEF_MAX_LEN || def[0] != '[' || def[len - 1] != ']')
        return false;
    for (size_t i = 0; i < len; i++)
        n += def[i] == ',';
    char *buf = strndup(def + 1, len - 2), *save = NULL;
    rn_value v = {.type = RN_LIST, .items = calloc(n, sizeof *v.items)};
    bool ok = buf && v.items;
    bool empty = ok && strspn(buf, " \t") == strlen(buf);
    for (char *tok = empty ? NULL : strtok_r(buf, ",", &save); ok && tok;
         tok = strtok_r(NULL, ",", &save))
        ok = list_item(tok, &v.items[v.n++]);
    ok = ok && (empty || v.n == n) && rn_param_value_ok(type, &v);
    free(buf);
    free(v.items);
    return ok;
}

/* Does default text `def` read as a value of `type`? */
static bool default_ok(int type, const char *def)
{
    rn_value v;
    if (type == PT_PARAM_ANY)
        return true;
    if (type == PT_PARAM_INTS || type == PT_PARAM_REALS)
        return default_list_ok(type, def);
    rn_yplain(def, &v);
    return rn_param_value_ok(type, &v);
}

/* A usable param name: printable, no blank, not too long. */
static bool good_name(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        if (!isgraph((unsigned char)s[i]))
            return false;
    return n > 0 && n <= NAME_MAX_LEN;
}

/* What is wrong with param i of p (the "*" entry taken out), into msg. */
static int check_one(const rn_kparams *p, int i, char *msg, size_t size)
{
    const rn_param *q = &p->v[i];
    const char *type = pt_param_type_name((pt_param_type)q->type);
    if (!good_name(q->name))
        snprintf(msg, size, "param %d has no usable name", i);
    else if (!type)
        snprintf(msg, size, "param '%s' has the unknown type %d", q->name,
                 q->type);
    else if (rn_param_find(p, q->name) != q)
        snprintf(msg, size, "param '%s' is declared twice", q->name);
    else if (q->def && !default_ok(q->type, q->def))
        snprintf(msg, size, "param '%s': its default '%.64s' is not %s",
                 q->name, q->def, type_words(q->type));
    else
        return 0;
    return -EINVAL;
}

/* Take the "*" entries out of p: p->rest. 0, or -EINVAL for two. */
static int take_rest(rn_kparams *p)
{
    int j = 0, seen = 0;
    for (int i = 0; i < p->n; i++) {
        if (strcmp(p->v[i].name, PT_PARAM_REST) != 0) {
            p->v[j++] = p->v[i];
            continue;
        }
        seen++;
        free(p->v[i].name);
        free(p->v[i].def);
        free(p->v[i].doc);
    }
    p->n = j;
    p->rest = seen > 0;
    return seen > 1 ? -EINVAL : 0;
}

int rn_kparams_check(const char *kernel, rn_kparams *p, char *msg, size_t size)
{
    char why[384];
    int rc = 0;
    if (p->n > RN_PARAMS_MAX) {
        snprintf(why, sizeof why, "declares more than %d params",
                 RN_PARAMS_MAX);
        rc = -EINVAL;
    } else if ((rc = take_rest(p)) < 0)
        snprintf(why, sizeof why, "declares \"%s\" twice", PT_PARAM_REST);
    for (int i = 0; rc == 0 && i < p->n; i++)
        rc = check_one(p, i, why, sizeof why);
    if (rc < 0)
        snprintf(msg, size, "kernel '%s': %s", kernel, why);
    return rc;
}
