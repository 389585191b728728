/*
 * ptools/kernel.h - the kernel ABI: what a compute function in a .so sees.
 *
 * A kernel is a pt_kernel descriptor; a shared object exports the NULL-ended
 * array `pt_kernels` with PT_KERNELS(&a, &b). Workers dlopen the .so on first
 * use, check each descriptor's `abi`, run `init` once per worker before its
 * first call, `call` once per task and `fini` at shutdown.
 *
 * Everything a call can reach goes through its pt_ctx: arguments, results,
 * identity, per-worker state (kept across calls: the server-task model) and
 * shared memory. The accessors below are inline and reach the library
 * through a versioned table of functions inside the ctx (SQLite's way), so a
 * kernel .so links against nothing:  cc -shared -fPIC -o k.so k.c
 */
#ifndef PTOOLS_KERNEL_H
#define PTOOLS_KERNEL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ptools/export.h>
#include <ptools/types.h> /* pt_shm_view, pt_dtype */

#ifdef __cplusplus
extern "C" {
#endif

/* Kernels built for ABI 1 (no params/save/restore members) still load:
 * the library reads a member of ABI 2 only when `abi` >= 2. */
#define PT_KERNEL_ABI 2

typedef struct pt_ctx pt_ctx; /* opaque: one call's view of the world */
typedef struct pt_buf pt_buf; /* ptools/buf.h; kernels fill it: pt_save_bytes */

/* What a declared argument holds. `PT_PARAM_ANY` takes every value. */
typedef enum pt_param_type {
    PT_PARAM_ANY = 0,
    PT_PARAM_INT,   /* an integer (never 50.7) */
    PT_PARAM_REAL,  /* a number: integers too */
    PT_PARAM_BOOL,  /* true / false */
    PT_PARAM_STR,   /* a string */
    PT_PARAM_INTS,  /* a list of integers */
    PT_PARAM_REALS, /* a list of numbers */
    PT_PARAM_NTYPES
} pt_param_type;

/*
 * One declared argument. `def` is the default as YAML text ("1000000",
 * "0.5", "true", "[1, 2]"); NULL makes the param required; "~" makes it
 * optional with no value (the kernel asks pt_arg_has). An entry named "*"
 * (PT_PARAM_REST) says the kernel takes other args besides the declared
 * ones (echo, exec); without it an unknown arg is a spec error. The list
 * ends with an entry whose name is NULL.
 */
typedef struct pt_param {
    const char *name;
    pt_param_type type;
    const char *def;
    const char *doc; /* one line, shown by `ptrun kernels` */
} pt_param;
#define PT_PARAM_REST "*"

typedef struct pt_kernel {
    uint32_t abi;           /* PT_KERNEL_ABI: checked at load */
    const char *name;       /* the name job specs use */
    const char *doc;        /* one line, shown by `ptrun kernels` */
    int (*init)(pt_ctx *);  /* optional, once per worker before its 1st call */
    int (*call)(pt_ctx *);  /* required, once per task: 0 ok, else an error */
    void (*fini)(pt_ctx *); /* optional, once per worker at shutdown */
    /* ---- ABI 2 ---- */
    /* optional: the args it takes, ended by {NULL}; NULL: unchecked */
    const pt_param *params;
    /* optional: snapshot this worker's state into `out` (pt_save_bytes);
     * 0 or a negative errno (the snapshot is then skipped) */
    int (*save)(pt_ctx *, pt_buf *out);
    /* optional: before its first task, a worker starts from the latest
     * snapshot of its predecessor; non-zero fails the worker's start */
    int (*restore)(pt_ctx *, const void *data, size_t len);
} pt_kernel;

/* Export the kernels of this .so: PT_KERNELS(&pi_kernel, &fill_kernel); */
#define PT_KERNELS(...)                                                        \
    PT_EXTERN const pt_kernel *const pt_kernels[] = {__VA_ARGS__, NULL}

/*
 * The library's side of the ABI. Append-only: new members go at the end and
 * `size` grows, so an old kernel keeps working with a newer library.
 */
typedef struct pt_kernel_api {
    uint32_t size; /* sizeof(pt_kernel_api) of the library */
    int (*arg_has)(pt_ctx *, const char *key); /* 1 or 0: pt_arg_has */
    int64_t (*arg_int)(pt_ctx *, const char *key, int64_t def);
    double (*arg_real)(pt_ctx *, const char *key, double def);
    bool (*arg_bool)(pt_ctx *, const char *key, bool def);
    const char *(*arg_str)(pt_ctx *, const char *key, const char *def);
    const int64_t *(*arg_ints)(pt_ctx *, const char *key, size_t *len);
    const double *(*arg_reals)(pt_ctx *, const char *key, size_t *len);
    int (*result_int)(pt_ctx *, const char *key, int64_t v);
    int (*result_real)(pt_ctx *, const char *key, double v);
    int (*result_bool)(pt_ctx *, const char *key, bool v);
    int (*result_str)(pt_ctx *, const char *key, const char *v);
    int (*result_ints)(pt_ctx *, const char *key, const int64_t *p, size_t n);
    int (*result_reals)(pt_ctx *, const char *key, const double *p, size_t n);
    int (*result_bytes)(pt_ctx *, const char *key, const void *p, size_t n);
    int (*failv)(pt_ctx *, const char *fmt, va_list ap);
    int64_t (*task_id)(pt_ctx *); /* uint64_t before 0.1.1: same ABI */
    uint64_t (*task_seed)(pt_ctx *);
    int (*worker_index)(pt_ctx *);
    int (*worker_count)(pt_ctx *);
    int (*step_index)(pt_ctx *);
    void *(*state_get)(pt_ctx *, const char *key);
    int (*state_set)(pt_ctx *, const char *key, void *ptr,
                     void (*free_fn)(void *));
    const pt_shm_view *(*shm_get)(pt_ctx *, const char *name);
    int (*result_args)(pt_ctx *);
    int (*arg_type)(pt_ctx *, const char *key);
    int (*save_bytes)(pt_ctx *, pt_buf *out, const void *p, size_t n);
    const char *const *(*arg_strs)(pt_ctx *, const char *key, size_t *len);
    const char *const *(*arg_strmap)(pt_ctx *, const char *key, size_t *len);
    const char *(*arg_text)(pt_ctx *, const char *key);
} pt_kernel_api;

/* Does the library's table reach member m? (a kernel built against a
 * newer header than the library it runs with) */
#define PT__API_HAS(ctx, m)                                                    \
    (PT__API(ctx)->size >= offsetof(pt_kernel_api, m) + sizeof(PT__API(ctx)->m))

/* Every pt_ctx starts with this; the rest of it is private. */
struct pt__ctx_head {
    const pt_kernel_api *api;
};
#define PT__API(ctx) (((const struct pt__ctx_head *)(const void *)(ctx))->api)

/*
 * ---- arguments ----
 * A missing key, or one set to null (`n: ~`), gives `def`. A value of
 * another type is never read as the default: the accessor fails the task
 * (as pt_fail does) with "arg `n` must be an int, got the real 1e+23",
 * and returns `def` (NULL for arrays). That first message stays the
 * task's error. Conversions that lose nothing are made: pt_arg_int takes
 * a real that is a whole number within int64 (1e6, 2.0), pt_arg_real an
 * int; pt_arg_ints whole reals, pt_arg_reals ints; an empty list is an
 * empty array (non-NULL, len 0). To accept several types, ask first with
 * pt_arg_type(), which never fails the task.
 */
static inline bool pt_arg_has(pt_ctx *c, const char *k)
{
    return PT__API(c)->arg_has(c, k) != 0;
}

/* What an argument holds; PT_ARG_NONE when absent. */
typedef enum pt_arg_kind {
    PT_ARG_NONE = 0,
    PT_ARG_NULL,
    PT_ARG_BOOL,
    PT_ARG_INT,
    PT_ARG_REAL,
    PT_ARG_STR,
    PT_ARG_BYTES,
    PT_ARG_INTS,  /* a list of ints */
    PT_ARG_REALS, /* a list of numbers, not all ints */
    PT_ARG_LIST,  /* any other list (an empty one too) */
    PT_ARG_MAP
} pt_arg_kind;

static inline pt_arg_kind pt_arg_type(pt_ctx *c, const char *k)
{
    return (pt_arg_kind)PT__API(c)->arg_type(c, k);
}
static inline int64_t pt_arg_int(pt_ctx *c, const char *k, int64_t def)
{
    return PT__API(c)->arg_int(c, k, def);
}
static inline double pt_arg_real(pt_ctx *c, const char *k, double def)
{
    return PT__API(c)->arg_real(c, k, def);
}
static inline bool pt_arg_bool(pt_ctx *c, const char *k, bool def)
{
    return PT__API(c)->arg_bool(c, k, def);
}
/* Valid during this call. */
static inline const char *pt_arg_str(pt_ctx *c, const char *k, const char *def)
{
    return PT__API(c)->arg_str(c, k, def);
}
/* Arrays: NULL when absent (len 0); valid during this call. */
static inline const int64_t *pt_arg_ints(pt_ctx *c, const char *k, size_t *len)
{
    return PT__API(c)->arg_ints(c, k, len);
}
static inline const double *pt_arg_reals(pt_ctx *c, const char *k, size_t *len)
{
    return PT__API(c)->arg_reals(c, k, len);
}

/*
 * A list of strings (`cmd: [wc, -c, x]`) as an array of len pointers and
 * a NULL after them (an argv); NULL when absent. Any other value, or an
 * item that is not a string, fails the task. Valid during this call.
 */
static inline const char *const *pt_arg_strs(pt_ctx *c, const char *k,
                                             size_t *len)
{
    if (!PT__API_HAS(c, arg_strs)) {
        if (len)
            *len = 0;
        return NULL;
    }
    return PT__API(c)->arg_strs(c, k, len);
}
/*
 * A map of strings (`env: {LANG: C}`) as 2*len pointers, key then value
 * for each of its len entries in the spec's order, and a NULL after them;
 * NULL when absent. A value that is not a string fails the task.
 */
static inline const char *const *pt_arg_strmap(pt_ctx *c, const char *k,
                                               size_t *len)
{
    if (!PT__API_HAS(c, arg_strmap)) {
        if (len)
            *len = 0;
        return NULL;
    }
    return PT__API(c)->arg_strmap(c, k, len);
}
/*
 * A scalar as text: an int in decimal, a real in the shortest form that
 * reads back exactly ("0.1", "2", "1e+23"), a bool as true/false, a string
 * as is; NULL when absent or null. A list or map fails the task.
 */
static inline const char *pt_arg_text(pt_ctx *c, const char *k)
{
    return PT__API_HAS(c, arg_text) ? PT__API(c)->arg_text(c, k) : NULL;
}

/* ---- results: each key once; 0 or a negative errno ---- */
static inline int pt_result_int(pt_ctx *c, const char *k, int64_t v)
{
    return PT__API(c)->result_int(c, k, v);
}
static inline int pt_result_real(pt_ctx *c, const char *k, double v)
{
    return PT__API(c)->result_real(c, k, v);
}
static inline int pt_result_bool(pt_ctx *c, const char *k, bool v)
{
    return PT__API(c)->result_bool(c, k, v);
}
static inline int pt_result_str(pt_ctx *c, const char *k, const char *v)
{
    return PT__API(c)->result_str(c, k, v);
}
static inline int pt_result_ints(pt_ctx *c, const char *k, const int64_t *p,
                                 size_t n)
{
    return PT__API(c)->result_ints(c, k, p, n);
}
static inline int pt_result_reals(pt_ctx *c, const char *k, const double *p,
                                  size_t n)
{
    return PT__API(c)->result_reals(c, k, p, n);
}
static inline int pt_result_bytes(pt_ctx *c, const char *k, const void *p,
                                  size_t n)
{
    return PT__API(c)->result_bytes(c, k, p, n);
}

/* Set the results to a copy of every argument (what `echo` does). */
static inline int pt_result_args(pt_ctx *c)
{
    return PT__API(c)->result_args(c);
}

/*
 * Set the task's error message; the task fails even if call returns 0.
 * Returns -1, so that `return pt_fail(ctx, "bad n %d", n);` reads well.
 */
static inline int pt_fail(pt_ctx *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static inline int pt_fail(pt_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = PT__API(c)->failv(c, fmt, ap);
    va_end(ap);
    return rc;
}

/* ---- identity ---- */
/* The task's id (>= 0; ptools/types.h says why ids are int64_t). */
static inline int64_t pt_task_id(pt_ctx *c)
{
    return PT__API(c)->task_id(c);
}
/* A fixed 64-bit mix of (job seed, task id): the task's only randomness. */
static inline uint64_t pt_task_seed(pt_ctx *c)
{
    return PT__API(c)->task_seed(c);
}
static inline int pt_worker_index(pt_ctx *c)
{
    return PT__API(c)->worker_index(c);
}
static inline int pt_worker_count(pt_ctx *c)
{
    return PT__API(c)->worker_count(c);
}
static inline int pt_step_index(pt_ctx *c)
{
    return PT__API(c)->step_index(c);
}

/* ---- per-worker state, kept across calls (Julia's task_local_storage) ---- */
static inline void *pt_state_get(pt_ctx *c, const char *k)
{
    return PT__API(c)->state_get(c, k);
}
/* Replaces (and frees with its free_fn) an earlier value; NULL removes. */
static inline int pt_state_set(pt_ctx *c, const char *k, void *p,
                               void (*free_fn)(void *))
{
    return PT__API(c)->state_set(c, k, p, free_fn);
}

/* ---- snapshots (kernel `save`): append n bytes; 0 or -ENOMEM ---- */
static inline int pt_save_bytes(pt_ctx *c, pt_buf *out, const void *p, size_t n)
{
    return PT__API(c)->save_bytes(c, out, p, n);
}

/* ---- shared memory: the segment `name` as mapped in this worker, or NULL */
static inline const pt_shm_view *pt_shm_get(pt_ctx *c, const char *name)
{
    return PT__API(c)->shm_get(c, name);
}

#ifdef __cplusplus
}
#endif
#endif
