/*
 * ctx.h - the kernel's pt_ctx (private): one call's arguments, results,
 * error, identity, and the worker's state and segments. The accessors of
 * <ptools/kernel.h> reach these through pt__kernel_api. An arg accessor
 * given a value of another type fails the task (SPEC §2) with a message
 * naming the arg, the type wanted and the value given; ints and reals
 * convert where nothing is lost (see kernel.h).
 */
#ifndef PT_CTX_H
#define PT_CTX_H

#include <ptools/kernel.h>
#include <ptools/shm.h>

#include "task.h"

/* One pt_state_set() entry; the worker keeps them in a list. */
typedef struct pt__state {
    struct pt__state *next;
    void *ptr;
    void (*free_fn)(void *);
    char key[];
} pt__state;

/* An arg converted for an accessor (ints from whole reals, reals from
 * ints), freed when the call ends. */
typedef struct pt__scratch {
    struct pt__scratch *next;
    _Alignas(8) unsigned char data[];
} pt__scratch;

/* What a worker knows of itself and lends to every ctx. */
typedef struct pt__worker_env {
    int index, count;
    pt__state *state;
    pt_shm *const *shm;
    int nshm;
} pt__worker_env;

struct pt_ctx {
    struct pt__ctx_head head;
    pt__worker_env *env;
    pt__map args;
    pt_buf *results;
    pt_vmark mark;
    int result_rc;   /* first failure to record a result */
    char *error;     /* set by pt_fail, or by an accessor */
    bool arg_failed; /* an accessor failed the task: its message stays */
    pt__scratch *scratch;
    int64_t task_id;
    uint64_t seed;
    int step;
};

/*
 * Start a call: args are `args`/`len` (an encoded map, or NULL), results go
 * to `results` (reset here). For init/fini, pass NULL args.
 */
int pt__ctx_begin(pt_ctx *c, pt__worker_env *env, const void *args, size_t len,
                  pt_buf *results);
/* End the results map; 0 or the first error recording a result. */
int pt__ctx_end(pt_ctx *c);
/* Free what the ctx owns (its error text), not the results buffer. */
void pt__ctx_clear(pt_ctx *c);
/* Run every state entry's free_fn and free the list. */
void pt__state_free_all(pt__worker_env *env);

/* ---- shared by the accessors of ctx.c and ctx_text.c ---- */
/* The arg `k` when present and not null (null reads as absent). */
bool pt__ctx_arg_get(pt_ctx *c, const char *k, pt_val *v);
/* Fail the task: "arg `k` must be WANT, got DESCRIPTION-OF-v WHERE". */
void pt__ctx_wrong_type(pt_ctx *c, const char *k, const char *want,
                        const pt_val *v, const char *where);
/* n items of `size` bytes kept until the call ends; NULL (the task
 * failed) when out of memory. */
void *pt__ctx_scratch(pt_ctx *c, const char *k, size_t n, size_t size);
/* pt_arg_strs, pt_arg_strmap, pt_arg_text (ctx_text.c). */
const char *const *pt__ctx_arg_strs(pt_ctx *c, const char *k, size_t *len);
const char *const *pt__ctx_arg_strmap(pt_ctx *c, const char *k, size_t *len);
const char *pt__ctx_arg_text(pt_ctx *c, const char *k);

#endif
