/*
 * spec_params.h - a task's args against its kernel's declared params
 * (kernel ABI 2, SPEC §2): every arg a declared one (unless the kernel
 * takes others too, "*"), of its type, and every required one given.
 * Kernels that declare no params are not checked.
 *
 * Types: int takes integers (and whole numbers written as reals, 1e6, as
 * pt_arg_int does), never 50.7 nor "100"; real takes any number; bool,
 * str; ints a list of integers; reals a list of numbers; any anything.
 * Null (`n: ~`) reads as absent, as it does for the kernel: fine for an
 * optional param, not for a required one.
 */
#ifndef RN_SPEC_PARAMS_H
#define RN_SPEC_PARAMS_H

#include <stdbool.h>

#include "spec/kparams.h"
#include "spec/spec_check.h"

/* The declared param `name` of kernel k, or NULL. */
const rn_param *rn_param_find(const rn_kparams *k, const char *name);

/* Does v hold a value of param type `type` (null aside)? */
bool rn_param_value_ok(int type, const rn_value *v);

/*
 * One value `v` of arg `name` of a task of kernel k: when k declares
 * `name`, v must be of its type; a problem goes at node `at` (the value,
 * or the generator that made it, e.g. a sweep's {range: ...}). Unknown
 * names are not reported here (rn_param_check_name).
 */
void rn_param_check_value(rn_build *b, const rn_kernel *k, const char *name,
                          const rn_value *v, const rn_ynode *at);

/*
 * `name` must be an arg kernel k takes: reported at `kpos` (the key),
 * about the --set argument of node `val` if it wrote it.
 */
void rn_param_check_name(rn_build *b, const rn_kernel *k, const char *name,
                         rn_pos kpos, const rn_ynode *val);

/*
 * The hook of spec_tasks.c: task node n (built into t) against the params
 * of its kernel: `args`, each axis of `sweep` and `zip` (the items of a
 * list, or the values a generator made: the first wrong one), repeat's
 * `rep` (an int; taken by every kernel), and the required params.
 */
void rn_params_check_task(rn_build *b, const rn_ynode *n, const rn_task *t);

#endif
