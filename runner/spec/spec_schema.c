/*
 * spec_schema.c - the keys a job spec may have (SPEC §4), one table per
 * mapping, and the helpers that use them: "did you mean", rn_value
 * copies of YAML nodes, their encoding with the value codec, and the
 * most bytes that encoding takes (a task's args must fit in a request).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ptools/value.h>

#include "spec/spec_internal.h"

static const rn_schema scalar = {RN_S_SCALAR, NULL, NULL};
static const rn_schema any = {RN_S_ANY, NULL, NULL};
static const rn_schema any_map = {RN_S_DICT, NULL, &any};
static const rn_schema sweep = {RN_S_DICT, NULL, &any}; /* list or map */
static const rn_schema scalar_list = {RN_S_LIST, NULL, &scalar};

static const rn_skey init_keys[] = {
    {"fill", false, &scalar},
    {"npy", false, &scalar},
    {0},
};
const rn_schema rn_init_schema = {RN_S_MAP, init_keys, NULL};

static const rn_skey segment_keys[] = {
    {"name", true, &scalar},       {"type", true, &scalar},
    {"dims", true, &any},          {"init", false, &rn_init_schema},
    {"save", false, &scalar},      {"named", false, &scalar},
    {"hugepages", false, &scalar}, {0},
};
const rn_schema rn_segment_schema = {RN_S_MAP, segment_keys, NULL};
static const rn_schema segments = {RN_S_LIST, NULL, &rn_segment_schema};

static const rn_skey shm_keys[] = {
    {"prefix", false, &scalar},
    {"segments", false, &segments},
    {0},
};
const rn_schema rn_shm_schema = {RN_S_MAP, shm_keys, NULL};

static const rn_skey kernel_keys[] = {
    {"path", true, &scalar},
    {"name", false, &scalar},
    {0},
};
const rn_schema rn_kernel_schema = {RN_S_MAP, kernel_keys, NULL};
static const rn_schema kernels = {RN_S_DICT, NULL, &rn_kernel_schema};

static const rn_skey workerset_keys[] = {
    {"name", true, &scalar},
    {"workers", false, &scalar},
    {"mode", false, &scalar},
    {"timeout", false, &scalar},
    {"retries", false, &scalar},
    {"retry_failed", false, &scalar},
    {"window", false, &scalar},
    {"memory", false, &scalar},
    {"batch", false, &scalar},
    {"grace", false, &scalar},
    {0},
};
const rn_schema rn_workerset_schema = {RN_S_MAP, workerset_keys, NULL};
static const rn_schema workersets = {RN_S_LIST, NULL, &rn_workerset_schema};

static const rn_skey task_keys[] = {
    {"kernel", true, &scalar},
    {"workerset", false, &scalar},
    {"priority", false, &scalar},
    {"args", false, &any_map},
    {"repeat", false, &scalar},
    {"sweep", false, &sweep},
    {"each_worker", false, &scalar},
    {"on", false, &scalar},
    {"tags", false, &scalar_list},
    {"zip", false, &sweep},
    {0},
};
const rn_schema rn_task_schema = {RN_S_MAP, task_keys, NULL};
static const rn_schema tasks = {RN_S_LIST, NULL, &rn_task_schema};

static const rn_skey halt_keys[] = {
    {"failed", true, &scalar},
    {"how", false, &scalar},
    {0},
};
const rn_schema rn_halt_schema = {RN_S_MAP, halt_keys, NULL};

static const rn_skey step_keys[] = {
    {"name", true, &scalar},
    {"tasks", true, &tasks},
    {"halt", false, &rn_halt_schema},
    {0},
};
const rn_schema rn_step_schema = {RN_S_MAP, step_keys, NULL};
static const rn_schema steps = {RN_S_LIST, NULL, &rn_step_schema};

static const rn_skey plugin_keys[] = {
    {"name", false, &scalar},
    {"path", false, &scalar},
    {"options", false, &any_map},
    {0},
};
const rn_schema rn_plugin_schema = {RN_S_MAP, plugin_keys, NULL};
static const rn_schema plugins = {RN_S_LIST, NULL, &rn_plugin_schema};

static const rn_skey top_keys[] = {
    {"ptrun", true, &scalar},     {"name", true, &scalar},
    {"seed", false, &scalar},     {"shm", false, &rn_shm_schema},
    {"kernels", false, &kernels}, {"workersets", true, &workersets},
    {"steps", true, &steps},      {"halt", false, &rn_halt_schema},
    {"plugins", false, &plugins}, {0},
};
const rn_schema rn_spec_schema = {RN_S_MAP, top_keys, NULL};

const rn_skey *rn_schema_key(const rn_schema *s, const char *name)
{
    if (!s || s->kind != RN_S_MAP)
        return NULL;
    for (const rn_skey *k = s->keys; k->name; k++)
        if (strcmp(k->name, name) == 0)
            return k;
    return NULL;
}

const rn_schema *rn_schema_child(const rn_schema *s, const char *name)
{
    if (!s)
        return NULL;
    switch (s->kind) {
    case RN_S_ANY: return s;
    case RN_S_MAP: {
        const rn_skey *k = rn_schema_key(s, name);
        return k ? k->schema : NULL;
    }
    case RN_S_DICT:
    case RN_S_LIST: return s->sub;
    default: return NULL;
    }
}

#define DL_MAX 64

static size_t min3(size_t a, size_t b, size_t c)
{
    size_t m = a < b ? a : b;
    return m < c ? m : c;
}

/* Optimal string alignment distance (Damerau-Levenshtein, adjacent swaps). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la >= DL_MAX || lb >= DL_MAX)
        return DL_MAX;
    size_t d[DL_MAX][DL_MAX];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            d[i][j] = min3(d[i - 1][j] + 1, d[i][j - 1] + 1,
                           d[i - 1][j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
                a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < d[i][j])
                d[i][j] = d[i - 2][j - 2] + 1;
        }
    return d[la][lb];
}

const char *rn_closest(const char *word, const char *const *cands, size_t n)
{
    const char *best = NULL, *prefix = NULL;
    size_t best_d = 3, wl = strlen(word);
    for (size_t i = 0; i < n; i++) {
        if (!cands[i] || strcmp(cands[i], word) == 0)
            continue;
        size_t cl = strlen(cands[i]), d = edit_distance(word, cands[i]);
        if (d < best_d && 2 * d <= (wl > cl ? wl : cl)) {
            best = cands[i];
            best_d = d;
        }
        if (!prefix && wl >= 2 && strncmp(cands[i], word, wl) == 0)
            prefix = cands[i];
    }
    return best ? best : prefix;
}

/* A scalar's value; a string's text is copied. */
static int scalar_value(const rn_ynode *n, rn_value *v)
{
    rn_yscalar(n, v);
    if (v->type != RN_STR) {
        v->s = NULL;
        return 0;
    }
    v->s = strdup(v->s);
    return v->s ? 0 : -ENOMEM;
}

int rn_value_from(const rn_ynode *n, rn_value *v)
{
    *v = (rn_value){.pos = n->pos};
    if (n->kind == RN_Y_SCALAR)
        return scalar_value(n, v);
    v->type = n->kind == RN_Y_MAP ? RN_MAP : RN_LIST;
    if (!n->n)
        return 0;
    if (!(v->items = calloc(n->n, sizeof *v->items)))
        return -ENOMEM;
    if (v->type == RN_MAP && !(v->keys = calloc(n->n, sizeof *v->keys)))
        return -ENOMEM;
    for (size_t i = 0; i < n->n; i++) {
        v->n = i + 1;
        if (v->keys && !(v->keys[i] = strdup(n->e[i].key)))
            return -ENOMEM;
        int rc = rn_value_from(n->e[i].val, &v->items[i]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

void rn_value_clear(rn_value *v)
{
    if (!v)
        return;
    for (size_t i = 0; v->items && i < v->n; i++) {
        rn_value_clear(&v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->s);
    *v = (rn_value){.type = RN_NULL};
}

bool rn_value_numeric_list(const rn_value *v)
{
    for (size_t i = 0; i < v->n; i++)
        if (v->items[i].type != RN_INT && v->items[i].type != RN_REAL)
            return false;
    return v->n > 0;
}

/* A list of numbers travels as an int or real array, anything else as a list.
 */
static int encode_list(pt_buf *b, const rn_value *v)
{
    int ints = 1;
    for (size_t i = 0; i < v->n; i++)
        ints &= v->items[i].type == RN_INT;
    if (rn_value_numeric_list(v)) {
        int64_t *iv = malloc(v->n * sizeof *iv);
        double *rv = malloc(v->n * sizeof *rv);
        int rc = iv && rv ? 0 : -ENOMEM;
        for (size_t i = 0; rc == 0 && i < v->n; i++) {
            iv[i] = v->items[i].i;
            rv[i] = v->items[i].type == RN_INT ? (double)v->items[i].i
                                               : v->items[i].r;
        }
        if (rc == 0)
            rc = ints ? pt_venc_ints(b, iv, v->n) : pt_venc_reals(b, rv, v->n);
        free(iv);
        free(rv);
        return rc;
    }
    pt_vmark m;
    int rc = pt_venc_list_begin(b, &m);
    for (size_t i = 0; rc == 0 && i < v->n; i++)
        rc = rn_value_encode(b, &v->items[i]);
    return rc < 0 ? rc : pt_venc_list_end(b, &m);
}

static int encode_map(pt_buf *b, const rn_value *v)
{
    pt_vmark m;
    int rc = pt_venc_map_begin(b, &m);
    for (size_t i = 0; rc == 0 && i < v->n; i++) {
        rc = pt_venc_key(b, &m, v->keys[i]);
        if (rc == 0)
            rc = rn_value_encode(b, &v->items[i]);
    }
    return rc < 0 ? rc : pt_venc_map_end(b, &m);
}

int rn_value_encode(pt_buf *b, const rn_value *v)
{
    switch (v->type) {
    case RN_NULL: return pt_venc_null(b);
    case RN_BOOL: return pt_venc_bool(b, v->b);
    case RN_INT: return pt_venc_int(b, v->i);
    case RN_REAL: return pt_venc_real(b, v->r);
    case RN_STR: return pt_venc_str(b, v->s);
    case RN_LIST: return encode_list(b, v);
    case RN_MAP: return encode_map(b, v);
    }
    return -EINVAL;
}

/* Bytes of a string or a map key encoded: u32 length, text, NUL (a spec
 * half built after running out of memory may hold NULL). */
static size_t text_size(const char *s)
{
    return 4 + (s ? strlen(s) : 0) + 1;
}

size_t rn_value_size(const rn_value *v)
{
    size_t n = 9; /* a list's or a map's header: tag, count, size */
    switch (v->type) {
    case RN_NULL: return 1;
    case RN_BOOL: return 2;
    case RN_INT:
    case RN_REAL: return 9;
    case RN_STR: return 1 + text_size(v->s);
    case RN_LIST:
        if (rn_value_numeric_list(v))
            return 1 + 4 + 7 + 8 * v->n; /* tag, count, pad, items */
        break;
    case RN_MAP: break;
    }
    for (size_t i = 0; v->items && i < v->n; i++)
        n += (v->keys ? text_size(v->keys[i]) : 0) +
             rn_value_size(&v->items[i]);
    return n;
}

size_t rn_task_args_size(const rn_task *t)
{
    size_t n = rn_value_size(&t->args); /* args: a map */
    for (int a = 0; a < t->nsweep; a++) {
        const rn_sweep_axis *ax = &t->sweep[a];
        size_t most = ax->gen == RN_GEN_LIST ? 0 : 9; /* an int or real */
        for (size_t i = 0; ax->values.items && i < ax->values.n; i++) {
            size_t one = rn_value_size(&ax->values.items[i]);
            most = one > most ? one : most;
        }
        n += text_size(ax->key) + most;
    }
    return n + (t->has_repeat ? text_size("rep") + 9 : 0); /* an int */
}
