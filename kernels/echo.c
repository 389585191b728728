/*
 * echo - returns its arguments as its results.
 *
 *   args:    anything
 *   results: the args, as given (same keys, types and values)
 *
 * Use it to check what a job spec's args, `repeat` and `sweep` expand to:
 * results.jsonl then shows each task's args twice.
 */
#include <string.h>

#include <ptools/kernel.h>

static int echo_call(pt_ctx *ctx)
{
    int rc = pt_result_args(ctx);
    if (rc < 0)
        return pt_fail(ctx, "cannot copy the args: %s", strerror(-rc));
    return 0;
}

/* It takes any args: only the "*" entry. */
static const pt_param echo_params[] = {
    {PT_PARAM_REST, PT_PARAM_ANY, NULL, "every arg comes back as a result"},
    {NULL, PT_PARAM_ANY, NULL, NULL}};

static const pt_kernel echo_kernel = {
    .abi = PT_KERNEL_ABI,
    .name = "echo",
    .doc = "returns its args as its results",
    .call = echo_call,
    .params = echo_params,
};

PT_KERNELS(&echo_kernel);
