/*
 * typed.so - kernels that declare params (kernel ABI 2), for the checks of
 * ptrun check (tests/e2e/test_params.py):
 *
 *   typed        one param of each type; returns its args (as echo)
 *   bad_default  declares `n` an int with the default "many": refused
 *   bare         declares that it takes no args at all
 *   labelled     declares `rep` a string (so `repeat` cannot give it)
 */
#include <ptools/kernel.h>

static int typed_call(pt_ctx *ctx)
{
    return pt_result_args(ctx);
}

static const pt_param typed_params[] = {
    {"i", PT_PARAM_INT, NULL, "an int, required"},
    {"r", PT_PARAM_REAL, "0.5", "a number"},
    {"b", PT_PARAM_BOOL, "false", "a flag"},
    {"s", PT_PARAM_STR, "~", "a string"},
    {"is", PT_PARAM_INTS, "[1, 2]", "ints"},
    {"rs", PT_PARAM_REALS, "[]", "numbers"},
    {"a", PT_PARAM_ANY, "~", "anything"},
    {NULL, PT_PARAM_ANY, NULL, NULL}};

static const pt_kernel typed_kernel = {
    .abi = PT_KERNEL_ABI,
    .name = "typed",
    .doc = "one param of each type; returns its args",
    .call = typed_call,
    .params = typed_params,
};

static const pt_param bad_params[] = {{"n", PT_PARAM_INT, "many", "a count"},
                                      {NULL, PT_PARAM_ANY, NULL, NULL}};

static const pt_kernel bad_default_kernel = {
    .abi = PT_KERNEL_ABI,
    .name = "bad_default",
    .doc = "declares an int whose default is no int",
    .call = typed_call,
    .params = bad_params,
};

static const pt_param no_params[] = {{NULL, PT_PARAM_ANY, NULL, NULL}};

static const pt_kernel bare_kernel = {
    .abi = PT_KERNEL_ABI,
    .name = "bare",
    .doc = "takes no args",
    .call = typed_call,
    .params = no_params,
};

static const pt_param labelled_params[] = {
    {"rep", PT_PARAM_STR, "~", "a label"}, {NULL, PT_PARAM_ANY, NULL, NULL}};

static const pt_kernel labelled_kernel = {
    .abi = PT_KERNEL_ABI,
    .name = "labelled",
    .doc = "declares rep a string",
    .call = typed_call,
    .params = labelled_params,
};

PT_KERNELS(&typed_kernel, &bad_default_kernel, &bare_kernel, &labelled_kernel);
