/*
 * kparams.h - a kernel's declared params (kernel ABI 2, ptools/kernel.h) as
 * ptrun holds them: copied from a probe's report (probe.c checks them: names
 * unique, types known, defaults of their type) into the spec's kernels, where
 * spec_params.c checks each task's args against them.
 */
#ifndef RN_KPARAMS_H
#define RN_KPARAMS_H

#include <stdbool.h>
#include <stddef.h>

/* The most params one kernel may declare. */
#define RN_PARAMS_MAX 256

typedef struct rn_param {
    char *name;
    int type;  /* a pt_param_type */
    char *def; /* YAML text; NULL: required; "~": optional, no value */
    char *doc; /* "" when none */
} rn_param;

typedef struct rn_kparams {
    bool declared; /* the kernel has `params` (ABI 2): its args are checked */
    bool rest;     /* it has the "*" entry: it takes other args too */
    rn_param *v;   /* the declared params, "*" left out */
    int n;
} rn_kparams;

/*
 * Check params as a probe reported them (never trusted) for kernel
 * `kernel`, and take the "*" entry out (p->rest): 0, or -EINVAL with
 * "kernel 'x': param 'n': its default 'abc' is not an int" in msg.
 */
int rn_kparams_check(const char *kernel, rn_kparams *p, char *msg, size_t size);
void rn_kparams_free(rn_kparams *p);

#endif
