/*
 * ctor_thread.so - a library whose constructor starts a thread that keeps
 * running (blocked reading a pipe nobody writes), as OpenBLAS and OpenMP
 * runtimes start theirs, and says so on stdout. It is a normal kernel
 * library: it loads in the workers, and its tasks run.
 *
 *   threaded_square  result `square`: arg `x` (int, default 0) squared
 */
#define _GNU_SOURCE /* pipe2 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include <ptools/kernel.h>

static int wake[2] = {-1, -1};

/* The helper thread: blocked for good on a pipe that never speaks. */
static void *helper(void *arg)
{
    char c;
    (void)arg;
    while (read(wake[0], &c, 1) != 0)
        ;
    return NULL;
}

__attribute__((constructor)) static void start_helper(void)
{
    pthread_t t;
    if (pipe2(wake, O_CLOEXEC) < 0 ||
        pthread_create(&t, NULL, helper, NULL) != 0) {
        perror("ctor_thread: helper thread");
        return;
    }
    pthread_detach(t);
    printf("ctor_thread: a helper thread runs\n");
}

static int square_call(pt_ctx *ctx)
{
    int64_t x = pt_arg_int(ctx, "x", 0);
    return pt_result_int(ctx, "square", x * x);
}

static const pt_kernel threaded_square = {
    .abi = PT_KERNEL_ABI,
    .name = "threaded_square",
    .doc = "x squared, from a library that runs a thread of its own",
    .call = square_call};
PT_KERNELS(&threaded_square);
