/* ctx.c - the library's side of the kernel ABI (ctx.h, kernel.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "internal.h"

static int arg_has(pt_ctx *c, const char *k)
{
    pt_val v;
    return pt__map_get(&c->args, k, &v);
}

/* The public kinds are the codec's tags (0: absent). */
_Static_assert((int)PT_ARG_NULL == (int)PT_V_NULL &&
                   (int)PT_ARG_INT == (int)PT_V_INT &&
                   (int)PT_ARG_STR == (int)PT_V_STR &&
                   (int)PT_ARG_MAP + 1 == (int)PT_V_TYPE_END,
               "pt_arg_kind follows pt_vtype");

/* What arg `k` holds, without failing the task (PT_ARG_NONE: absent). */
static int arg_type(pt_ctx *c, const char *k)
{
    pt_val v;
    return pt__map_get(&c->args, k, &v) ? (int)v.type : PT_ARG_NONE;
}

/* The task fails with this message (replacing an earlier one). */
static int set_error(pt_ctx *c, const char *fmt, va_list ap)
{
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    free(c->error);
    c->error = msg ? msg : strdup("pt_fail (message lost: out of memory)");
    return -1;
}

/* A collection (or null) as a message shows it: "a list of 3 ints". */
static void describe_many(const pt_val *v, char *buf, size_t size)
{
    if (v->type == PT_V_BYTES)
        snprintf(buf, size, "%zu bytes", v->u.bytes.len);
    else if (v->type == PT_V_INTS)
        snprintf(buf, size, "a list of %zu ints", v->u.ints.n);
    else if (v->type == PT_V_REALS)
        snprintf(buf, size, "a list of %zu reals", v->u.reals.n);
    else if (v->type == PT_V_LIST || v->type == PT_V_MAP)
        snprintf(buf, size, "a %s of %zu %s",
                 v->type == PT_V_LIST ? "list" : "map", v->u.c.count,
                 v->type == PT_V_LIST ? "values" : "keys");
    else
        snprintf(buf, size, "null");
}

/* What was given, for messages: "the real 1e+23", "the string \"x\"". */
static void describe(const pt_val *v, char *buf, size_t size)
{
    char num[48];
    if (v->type == PT_V_BOOL) {
        snprintf(buf, size, "the bool %s", v->u.b ? "true" : "false");
    } else if (v->type == PT_V_INT) {
        snprintf(buf, size, "the int %" PRId64, v->u.i);
    } else if (v->type == PT_V_REAL) {
        pt_real_text(num, sizeof num, v->u.r);
        snprintf(buf, size, "the real %s", num);
    } else if (v->type == PT_V_STR) {
        snprintf(buf, size, "the string \"%.40s%s\"", v->u.str.ptr,
                 v->u.str.len > 40 ? "..." : "");
    } else {
        describe_many(v, buf, size);
    }
}

static void arg_fail(pt_ctx *c, const char *fmt, ...) PT_PRINTF(2, 3);

/*
 * An accessor fails the task with this message. The first one stays the
 * task's error, whatever the kernel says after it (its own message is
 * most often a consequence: "count must be >= 0").
 */
static void arg_fail(pt_ctx *c, const char *fmt, ...)
{
    va_list ap;
    if (c->arg_failed)
        return;
    va_start(ap, fmt);
    set_error(c, fmt, ap);
    va_end(ap);
    c->arg_failed = true;
}

/*
 * An arg of the wrong type fails the task, never reads as the default
 * (SPEC §2): "arg `n` must be an int, got the real 1e+23".
 */
void pt__ctx_wrong_type(pt_ctx *c, const char *k, const char *want,
                        const pt_val *v, const char *where)
{
    char got[128];
    describe(v, got, sizeof got);
    arg_fail(c, "arg `%s` must be %s, got %s%s", k, want, got, where);
}

/* The arg `k` when present and not null (null reads as absent). */
bool pt__ctx_arg_get(pt_ctx *c, const char *k, pt_val *v)
{
    return pt__map_get(&c->args, k, v) && v->type != PT_V_NULL;
}

/* A real that is a whole number within int64 converts exactly. */
static bool real_as_int(double r, int64_t *i)
{
    if (!(r >= -0x1p63 && r < 0x1p63) || (double)(int64_t)r != r)
        return false;
    *i = (int64_t)r;
    return true;
}

/* An int, or a whole real within int64 (1e6, 2.0): exact either way. */
static int64_t arg_int(pt_ctx *c, const char *k, int64_t def)
{
    pt_val v;
    int64_t i;
    if (!pt__ctx_arg_get(c, k, &v))
        return def;
    if (v.type == PT_V_INT)
        return v.u.i;
    if (v.type == PT_V_REAL && real_as_int(v.u.r, &i))
        return i;
    pt__ctx_wrong_type(c, k, "an int", &v, "");
    return def;
}

/* A real, or an int converted (as C converts it). */
static double arg_real(pt_ctx *c, const char *k, double def)
{
    pt_val v;
    if (!pt__ctx_arg_get(c, k, &v))
        return def;
    if (v.type == PT_V_REAL || v.type == PT_V_INT)
        return v.type == PT_V_REAL ? v.u.r : (double)v.u.i;
    pt__ctx_wrong_type(c, k, "a real", &v, "");
    return def;
}

/* The two accessors that take one type only. */
static bool arg_bool(pt_ctx *c, const char *k, bool def)
{
    pt_val v;
    if (!pt__ctx_arg_get(c, k, &v))
        return def;
    if (v.type == PT_V_BOOL)
        return v.u.b;
    pt__ctx_wrong_type(c, k, "true or false", &v, "");
    return def;
}

static const char *arg_str(pt_ctx *c, const char *k, const char *def)
{
    pt_val v;
    if (!pt__ctx_arg_get(c, k, &v))
        return def;
    if (v.type == PT_V_STR)
        return v.u.str.ptr;
    pt__ctx_wrong_type(c, k, "a string", &v, "");
    return def;
}

/*
 * Room for arg `k` converted to n items of `size` bytes, kept until the
 * call ends (pt__ctx_clear); NULL, the task failed, when out of memory.
 */
void *pt__ctx_scratch(pt_ctx *c, const char *k, size_t n, size_t size)
{
    pt__scratch *s = NULL;
    if (n <= (SIZE_MAX - sizeof *s) / size)
        s = malloc(sizeof *s + n * size);
    if (!s) {
        arg_fail(c, "arg `%s`: out of memory converting its %zu items", k, n);
        return NULL;
    }
    s->next = c->scratch;
    c->scratch = s;
    return s->data;
}

/* A list of reals as ints when every one is a whole number within int64. */
static const int64_t *reals_as_ints(pt_ctx *c, const char *k, const pt_val *v,
                                    size_t *len)
{
    for (size_t i = 0; i < v->u.reals.n; i++) {
        int64_t x;
        if (!real_as_int(v->u.reals.ptr[i], &x)) {
            pt_val item = {.type = PT_V_REAL, .u.r = v->u.reals.ptr[i]};
            char where[48];
            snprintf(where, sizeof where, " at [%zu]", i);
            pt__ctx_wrong_type(c, k, "a list of ints", &item, where);
            return NULL;
        }
    }
    int64_t *out = pt__ctx_scratch(c, k, v->u.reals.n, sizeof *out);
    for (size_t i = 0; out && i < v->u.reals.n; i++)
        real_as_int(v->u.reals.ptr[i], &out[i]);
    *len = out ? v->u.reals.n : 0;
    return out;
}

/* An empty list reads as an empty array, not as an absent one. */
static const union {
    int64_t i;
    double r;
} empty[1];

/* Is v a list with no items (the codec's form of `[]`)? */
static bool empty_list(const pt_val *v, size_t *len)
{
    *len = 0;
    return v->type == PT_V_LIST && v->u.c.count == 0;
}

/* Ints, or reals that are all whole within int64 (converted). */
static const int64_t *arg_ints(pt_ctx *c, const char *k, size_t *len)
{
    pt_val v;
    size_t n_;
    len = len ? len : &n_;
    *len = 0;
    if (!pt__ctx_arg_get(c, k, &v))
        return NULL;
    if (v.type == PT_V_INTS) {
        *len = v.u.ints.n;
        return v.u.ints.ptr;
    }
    if (empty_list(&v, len))
        return &empty[0].i;
    if (v.type != PT_V_REALS) {
        pt__ctx_wrong_type(c, k, "a list of ints", &v, "");
        return NULL;
    }
    return reals_as_ints(c, k, &v, len);
}

/* Reals, or ints converted. */
static const double *arg_reals(pt_ctx *c, const char *k, size_t *len)
{
    pt_val v;
    size_t n_;
    len = len ? len : &n_;
    *len = 0;
    if (!pt__ctx_arg_get(c, k, &v))
        return NULL;
    if (v.type == PT_V_REALS) {
        *len = v.u.reals.n;
        return v.u.reals.ptr;
    }
    if (empty_list(&v, len))
        return &empty[0].r;
    if (v.type != PT_V_INTS) {
        pt__ctx_wrong_type(c, k, "a list of reals", &v, "");
        return NULL;
    }
    double *r = pt__ctx_scratch(c, k, v.u.ints.n, sizeof *r);
    for (size_t i = 0; r && i < v.u.ints.n; i++)
        r[i] = (double)v.u.ints.ptr[i];
    *len = r ? v.u.ints.n : 0;
    return r;
}

/* Start a result entry; remember the first failure for pt__ctx_end. */
static int put_key(pt_ctx *c, const char *k)
{
    int rc = c->results ? pt_venc_key(c->results, &c->mark, k) : -EINVAL;
    if (rc < 0 && c->result_rc == 0)
        c->result_rc = rc == -EEXIST
                           ? pt__err(rc, "result '%s' is set twice", k)
                           : pt__err(rc,
                                     "result '%s' cannot be recorded "
                                     "here",
                                     k);
    return rc;
}

/* Record the outcome of writing a value after its key. */
static int put_done(pt_ctx *c, int rc, const char *k)
{
    if (rc < 0 && c->result_rc == 0)
        c->result_rc = pt__err(rc, "result '%s': %s", k, pt_strerror(rc));
    return rc;
}

#define RESULT_FN(name, type, enc)                                             \
    static int name(pt_ctx *c, const char *k, type v)                          \
    {                                                                          \
        int rc = put_key(c, k);                                                \
        return rc < 0 ? rc : put_done(c, enc(c->results, v), k);               \
    }
RESULT_FN(result_int, int64_t, pt_venc_int)
RESULT_FN(result_real, double, pt_venc_real)
RESULT_FN(result_bool, bool, pt_venc_bool)
RESULT_FN(result_str, const char *, pt_venc_str)

static int result_ints(pt_ctx *c, const char *k, const int64_t *p, size_t n)
{
    int rc = put_key(c, k);
    return rc < 0 ? rc : put_done(c, pt_venc_ints(c->results, p, n), k);
}

static int result_reals(pt_ctx *c, const char *k, const double *p, size_t n)
{
    int rc = put_key(c, k);
    return rc < 0 ? rc : put_done(c, pt_venc_reals(c->results, p, n), k);
}

static int result_bytes(pt_ctx *c, const char *k, const void *p, size_t n)
{
    int rc = put_key(c, k);
    return rc < 0 ? rc : put_done(c, pt_venc_bytes(c->results, p, n), k);
}

/* Copy every argument into the results (the echo kernel). */
static int result_args(pt_ctx *c)
{
    pt_viter it;
    pt_vstr key;
    pt_val v;
    int rc = c->args.ok ? pt_viter_init(&it, &c->args.map) : 0;
    while (rc == 0 && c->args.ok && (rc = pt_vmap_next(&it, &key, &v)) > 0) {
        rc = put_key(c, key.ptr);
        if (rc == 0)
            rc = put_done(c, pt_venc_val(c->results, &v), key.ptr);
    }
    return rc < 0 ? rc : 0;
}

/* pt_fail(): the last message wins, unless an accessor failed first. */
static int failv(pt_ctx *c, const char *fmt, va_list ap)
{
    return c->arg_failed ? -1 : set_error(c, fmt, ap);
}

static int64_t task_id(pt_ctx *c)
{
    return c->task_id;
}
static uint64_t task_seed(pt_ctx *c)
{
    return c->seed;
}
static int worker_index(pt_ctx *c)
{
    return c->env->index;
}
static int worker_count(pt_ctx *c)
{
    return c->env->count;
}
static int step_index(pt_ctx *c)
{
    return c->step;
}

static pt__state **state_find(pt_ctx *c, const char *k)
{
    pt__state **p = &c->env->state;
    while (*p && strcmp((*p)->key, k) != 0)
        p = &(*p)->next;
    return p;
}

static void *state_get(pt_ctx *c, const char *k)
{
    pt__state *s = *state_find(c, k);
    return s ? s->ptr : NULL;
}

static int state_set(pt_ctx *c, const char *k, void *ptr,
                     void (*free_fn)(void *))
{
    pt__state **p = state_find(c, k), *s = *p;
    if (s) { /* replace: free the old value, keep the entry */
        if (s->free_fn && s->ptr != ptr)
            s->free_fn(s->ptr);
        if (!ptr) {
            *p = s->next;
            free(s);
            return 0;
        }
    } else {
        if (!ptr)
            return 0;
        size_t n = strlen(k) + 1;
        if (!(s = malloc(sizeof *s + n)))
            return -ENOMEM;
        memcpy(s->key, k, n);
        s->next = NULL;
        *p = s;
    }
    s->ptr = ptr;
    s->free_fn = free_fn;
    return 0;
}

static const pt_shm_view *shm_get(pt_ctx *c, const char *name)
{
    for (int i = 0; i < c->env->nshm; i++) {
        const pt_shm_view *v = pt_shm_view_of(c->env->shm[i]);
        if (strcmp(v->name, name) == 0)
            return v;
    }
    return NULL;
}

static int save_bytes(pt_ctx *c, pt_buf *out, const void *p, size_t n)
{
    (void)c;
    return out ? pt_buf_append(out, p, n) : -EINVAL;
}

static const pt_kernel_api api = {
    .size = sizeof(pt_kernel_api),
    .arg_has = arg_has,
    .arg_int = arg_int,
    .arg_real = arg_real,
    .arg_bool = arg_bool,
    .arg_str = arg_str,
    .arg_ints = arg_ints,
    .arg_reals = arg_reals,
    .result_int = result_int,
    .result_real = result_real,
    .result_bool = result_bool,
    .result_str = result_str,
    .result_ints = result_ints,
    .result_reals = result_reals,
    .result_bytes = result_bytes,
    .failv = failv,
    .task_id = task_id,
    .task_seed = task_seed,
    .worker_index = worker_index,
    .worker_count = worker_count,
    .step_index = step_index,
    .state_get = state_get,
    .state_set = state_set,
    .shm_get = shm_get,
    .result_args = result_args,
    .arg_type = arg_type,
    .save_bytes = save_bytes,
    .arg_strs = pt__ctx_arg_strs,
    .arg_strmap = pt__ctx_arg_strmap,
    .arg_text = pt__ctx_arg_text,
};

int pt__ctx_begin(pt_ctx *c, pt__worker_env *env, const void *args, size_t len,
                  pt_buf *results)
{
    memset(c, 0, sizeof *c);
    c->head.api = &api;
    c->env = env;
    c->results = results;
    if (!args) {
        args = pt__empty_map;
        len = PT__EMPTY_MAP_LEN;
    }
    int rc = pt__map_open(&c->args, args, len);
    if (rc == 0 && results) {
        pt_buf_reset(results);
        rc = pt_venc_map_begin(results, &c->mark);
    }
    return rc;
}

int pt__ctx_end(pt_ctx *c)
{
    int rc = c->results ? pt_venc_map_end(c->results, &c->mark) : 0;
    return c->result_rc ? c->result_rc : rc;
}

void pt__ctx_clear(pt_ctx *c)
{
    free(c->error);
    c->error = NULL;
    while (c->scratch) {
        pt__scratch *s = c->scratch;
        c->scratch = s->next;
        free(s);
    }
}

void pt__state_free_all(pt__worker_env *env)
{
    while (env->state) {
        pt__state *s = env->state;
        env->state = s->next;
        if (s->free_fn)
            s->free_fn(s->ptr);
        free(s);
    }
}
