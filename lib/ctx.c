/* ctx.c - the library's side of the kernel ABI (ctx.h, kernel.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "internal.h"

static int arg_has(pt_ctx *c, const char *k)
{
    pt__val v;
    return pt__map_get(&c->args, k, &v);
}

static int64_t arg_int(pt_ctx *c, const char *k, int64_t def)
{
    return pt__map_int(&c->args, k, def);
}

static double arg_real(pt_ctx *c, const char *k, double def)
{
    return pt__map_real(&c->args, k, def);
}

static bool arg_bool(pt_ctx *c, const char *k, bool def)
{
    return pt__map_bool(&c->args, k, def);
}

static const char *arg_str(pt_ctx *c, const char *k, const char *def)
{
    return pt__map_str(&c->args, k, def);
}

static const int64_t *arg_ints(pt_ctx *c, const char *k, size_t *len)
{
    return pt__map_ints(&c->args, k, len);
}

static const double *arg_reals(pt_ctx *c, const char *k, size_t *len)
{
    return pt__map_reals(&c->args, k, len);
}

/* Start a result entry; remember the first failure for pt__ctx_end. */
static int put_key(pt_ctx *c, const char *k)
{
    int rc = c->results ? pt__venc_key(c->results, &c->mark, k) : -EINVAL;
    if (rc < 0 && c->result_rc == 0)
        c->result_rc = rc == -EEXIST
                           ? pt__err(rc, "result '%s' is set twice", k)
                           : pt__err(rc, "result '%s' cannot be recorded "
                                     "here", k);
    return rc;
}

/* Record the outcome of writing a value after its key. */
static int put_done(pt_ctx *c, int rc, const char *k)
{
    if (rc < 0 && c->result_rc == 0)
        c->result_rc = pt__err(rc, "result '%s': %s", k, pt_strerror(rc));
    return rc;
}

#define RESULT_FN(name, type, enc)                                           \
    static int name(pt_ctx *c, const char *k, type v)                        \
    {                                                                         \
        int rc = put_key(c, k);                                               \
        return rc < 0 ? rc : put_done(c, enc(c->results, v), k);              \
    }
RESULT_FN(result_int, int64_t, pt__venc_int)
RESULT_FN(result_real, double, pt__venc_real)
RESULT_FN(result_bool, bool, pt__venc_bool)
RESULT_FN(result_str, const char *, pt__venc_str)

static int result_ints(pt_ctx *c, const char *k, const int64_t *p, size_t n)
{
    int rc = put_key(c, k);
    return rc < 0 ? rc : put_done(c, pt__venc_ints(c->results, p, n), k);
}

static int result_reals(pt_ctx *c, const char *k, const double *p, size_t n)
{
    int rc = put_key(c, k);
    return rc < 0 ? rc : put_done(c, pt__venc_reals(c->results, p, n), k);
}

static int result_bytes(pt_ctx *c, const char *k, const void *p, size_t n)
{
    int rc = put_key(c, k);
    return rc < 0 ? rc : put_done(c, pt__venc_bytes(c->results, p, n), k);
}

/* Copy every argument into the results (the echo kernel). */
static int result_args(pt_ctx *c)
{
    pt__viter it;
    pt__vstr key;
    pt__val v;
    int rc = c->args.ok ? pt__viter_init(&it, &c->args.map) : 0;
    while (rc == 0 && c->args.ok && (rc = pt__vmap_next(&it, &key, &v)) > 0) {
        rc = put_key(c, key.ptr);
        if (rc == 0)
            rc = put_done(c, pt__venc_val(c->results, &v), key.ptr);
    }
    return rc < 0 ? rc : 0;
}

static int failv(pt_ctx *c, const char *fmt, va_list ap)
{
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    free(c->error);
    c->error = msg ? msg : strdup("pt_fail (message lost: out of memory)");
    return -1;
}

static uint64_t task_id(pt_ctx *c) { return c->task_id; }
static uint64_t task_seed(pt_ctx *c) { return c->seed; }
static int worker_index(pt_ctx *c) { return c->env->index; }
static int worker_count(pt_ctx *c) { return c->env->count; }
static int step_index(pt_ctx *c) { return c->step; }

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
};

int pt__ctx_begin(pt_ctx *c, pt__worker_env *env, const void *args,
                  size_t len, pt_buf *results)
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
        rc = pt__venc_map_begin(results, &c->mark);
    }
    return rc;
}

int pt__ctx_end(pt_ctx *c)
{
    int rc = c->results ? pt__venc_map_end(c->results, &c->mark) : 0;
    return c->result_rc ? c->result_rc : rc;
}

void pt__ctx_clear(pt_ctx *c)
{
    free(c->error);
    c->error = NULL;
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
