/*
 * faults.so - kernels that misbehave on purpose, one way each, so that tests
 * can check that a bad kernel costs its worker (or its task), never the run.
 *
 *   segv         writes through a null pointer: SIGSEGV
 *   abort        abort(): SIGABRT
 *   exit3        exit(3) in the middle of a task
 *   hang         never returns (sleeps in pause()): for timeouts
 *   fail         pt_fail(ctx, "asked to fail: <code>"), arg `code` (def. 7)
 *   fail_rc      returns 5 without a message
 *   init_crash   its init segfaults, so its call never runs
 *   big_result   result `data`: `bytes` bytes (default 1 MiB), byte i being
 *                i % 251; `bytes` must be >= 1
 *   spam_stdout  prints `lines` lines (default 1000) on stdout and stderr:
 *                "spam stdout <i>" and "spam stderr <i>", i = 0..lines-1;
 *                result `lines`
 *   fork_and_die forks a child that sleeps 30 s holding every fd, then
 *                _exit(1)s
 *   garbage_fds  writes garbage to fds 0..63 (the protocol pipe too)
 *   close_fds    closes every fd (0..1023), then returns
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <ptools/kernel.h>

/* A real fault: the compiler cannot see that p is null, nor drop the store. */
static void crash(void)
{
    int *volatile p = NULL;
    *p = 42;
    raise(SIGSEGV); /* not reached */
}

static int segv_call(pt_ctx *ctx)
{
    (void)ctx;
    crash();
    return 0;
}

static int abort_call(pt_ctx *ctx)
{
    (void)ctx;
    abort();
}

static int exit3_call(pt_ctx *ctx)
{
    (void)ctx;
    exit(3);
}

static int hang_call(pt_ctx *ctx)
{
    (void)ctx;
    for (;;)
        pause();
    return 0; /* not reached */
}

static int fail_call(pt_ctx *ctx)
{
    return pt_fail(ctx, "asked to fail: %lld",
                   (long long)pt_arg_int(ctx, "code", 7));
}

static int fail_rc_call(pt_ctx *ctx)
{
    (void)ctx;
    return 5;
}

static int init_crash_init(pt_ctx *ctx)
{
    (void)ctx;
    crash();
    return 0;
}

static int ok_call(pt_ctx *ctx)
{
    (void)ctx;
    return 0;
}

static int big_result_call(pt_ctx *ctx)
{
    int64_t n = pt_arg_int(ctx, "bytes", 1 << 20);
    if (n < 1)
        return pt_fail(ctx, "arg `bytes` must be >= 1");
    unsigned char *p = malloc((size_t)n);
    if (!p)
        return pt_fail(ctx, "out of memory for %lld bytes", (long long)n);
    for (int64_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i % 251);
    int rc = pt_result_bytes(ctx, "data", p, (size_t)n);
    free(p);
    return rc;
}

static int spam_stdout_call(pt_ctx *ctx)
{
    int64_t lines = pt_arg_int(ctx, "lines", 1000);
    for (int64_t i = 0; i < lines; i++) {
        printf("spam stdout %lld\n", (long long)i);
        fprintf(stderr, "spam stderr %lld\n", (long long)i);
    }
    fflush(stdout);
    fflush(stderr);
    return pt_result_int(ctx, "lines", lines < 0 ? 0 : lines);
}

/* Leaves a child holding every inherited fd, then dies. */
static int fork_and_die_call(pt_ctx *ctx)
{
    (void)ctx;
    if (fork() == 0) {
        sleep(30);
        _exit(0);
    }
    _exit(1);
}

/* Writes garbage to every fd it may have, the protocol pipe included. */
static int garbage_fds_call(pt_ctx *ctx)
{
    static const char junk[] = "\x01garbage, not a frame\xff\n";
    for (int fd = 0; fd < 64; fd++)
        if (write(fd, junk, sizeof junk) < 0) {
            /* not open for writing: next */
        }
    return pt_result_int(ctx, "done", 1);
}

/* Closes stdin, stdout, stderr and every other fd, then returns. */
static int close_fds_call(pt_ctx *ctx)
{
    for (int fd = 0; fd < 1024; fd++)
        close(fd);
    return pt_result_int(ctx, "done", 1);
}

#define FAULT(id, init_fn, call_fn, what)                                      \
    static const pt_kernel id##_kernel = {.abi = PT_KERNEL_ABI,                \
                                          .name = #id,                         \
                                          .doc = what,                         \
                                          .init = init_fn,                     \
                                          .call = call_fn}

FAULT(segv, NULL, segv_call, "writes through a null pointer (SIGSEGV)");
FAULT(abort, NULL, abort_call, "calls abort() (SIGABRT)");
FAULT(exit3, NULL, exit3_call, "calls exit(3)");
FAULT(hang, NULL, hang_call, "never returns");
FAULT(fail, NULL, fail_call, "fails with \"asked to fail: <code>\"");
FAULT(fail_rc, NULL, fail_rc_call, "returns 5 without a message");
FAULT(init_crash, init_crash_init, ok_call, "its init segfaults");
FAULT(big_result, NULL, big_result_call, "returns `bytes` bytes (1 MiB)");
FAULT(spam_stdout, NULL, spam_stdout_call, "prints `lines` lines twice");
FAULT(fork_and_die, NULL, fork_and_die_call, "forks a sleeper, then dies");
FAULT(garbage_fds, NULL, garbage_fds_call, "writes garbage to every fd");
FAULT(close_fds, NULL, close_fds_call, "closes every fd, then returns");

PT_KERNELS(&segv_kernel, &abort_kernel, &exit3_kernel, &hang_kernel,
           &fail_kernel, &fail_rc_kernel, &init_crash_kernel,
           &big_result_kernel, &spam_stdout_kernel, &fork_and_die_kernel,
           &garbage_fds_kernel, &close_fds_kernel);
