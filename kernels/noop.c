/*
 * noop - the smallest kernel: takes no arguments, sets no results.
 *
 *   args:    none (any given are ignored)
 *   results: none
 *
 * Use it to measure what one task costs the runner (dispatch, the round trip
 * to a worker, results), and as the skeleton of a new kernel:
 *
 *   cc -std=c11 -shared -fPIC -I<prefix>/include -o noop.so noop.c
 *
 * A .so holds one or more pt_kernel descriptors and exports them, NULL-ended,
 * as `pt_kernels` with PT_KERNELS(). It links against nothing: everything a
 * kernel calls goes through the pt_ctx it is handed.
 */
#include <ptools/kernel.h>

/* Runs once per task: return 0 for success, anything else fails the task. */
static int noop_call(pt_ctx *ctx)
{
    (void)ctx;
    return 0;
}

/*
 * The args it takes (optional): each with a type, a default as YAML text
 * (NULL: required) and one line of doc; `ptrun check` refuses a task whose
 * args do not match. "*" says it takes any others too: noop ignores all.
 */
static const pt_param noop_params[] = {
    {PT_PARAM_REST, PT_PARAM_ANY, NULL, "any args, ignored"},
    {NULL, PT_PARAM_ANY, NULL, NULL}};

static const pt_kernel noop_kernel = {
    .abi = PT_KERNEL_ABI,
    .name = "noop",
    .doc = "does nothing: measures the cost of a task",
    .call = noop_call,
    .params = noop_params,
};

PT_KERNELS(&noop_kernel);
