/*
 * rpc_bench.c - remotecall round trips beside the raw pipe they ride on.
 *
 * Measures, in one run on the same machine:
 *   reference  a 64-byte ping-pong between two processes over two pipes
 *   figure     pt_remotecall_fetch of the `noop` kernel on a 1-worker set
 *              (kernel from a .so), and of a plain function
 *   figure     pipelined: N futures on a 2-worker RR set, then fetched
 * and prints each figure with its reference and the ratio.
 *   usage: rpc_bench NOOP_SO [ROUND_TRIPS]
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ptools/workerset.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int full(ssize_t r, size_t n)
{
    return r == (ssize_t)n;
}

/* Round trips per second of a 64-byte message between two processes. */
static double pipe_pingpong(int n)
{
    int a[2], b[2];
    char msg[64] = {0};
    if (pipe(a) || pipe(b))
        return 0;
    pid_t pid = fork();
    if (pid == 0) {
        close(a[1]); /* so that the parent's close is our EOF */
        close(b[0]);
        while (full(read(a[0], msg, sizeof msg), sizeof msg) &&
               full(write(b[1], msg, sizeof msg), sizeof msg))
            ;
        _exit(0);
    }
    double t0 = now();
    for (int i = 0; i < n; i++)
        if (!full(write(a[1], msg, sizeof msg), sizeof msg) ||
            !full(read(b[0], msg, sizeof msg), sizeof msg))
            return 0;
    double dt = now() - t0;
    close(a[1]);
    waitpid(pid, NULL, 0);
    close(a[0]);
    close(b[0]);
    close(b[1]);
    return n / dt;
}

static int nothing(pt_ctx *c)
{
    (void)c;
    return 0;
}

/* Sequential fetches: one request in flight at a time. */
static double fetch_rate(pt_workerset *ws, const char *kernel, int n)
{
    double t0 = now();
    for (int i = 0; i < n; i++) {
        pt_reply *r = kernel ? pt_remotecall_fetch(ws, kernel, NULL)
                             : pt_future_fetch(
                                   pt_remotecall_fn(ws, nothing, NULL));
        if (!r || pt_reply_status(r) != PT_TASK_OK)
            return 0;
        pt_reply_destroy(r);
    }
    return n / (now() - t0);
}

/* n requests submitted at once, then fetched: what pipelining gives. */
static double pipelined_rate(pt_workerset *ws, int n)
{
    pt_future **f = malloc((size_t)n * sizeof *f);
    if (!f)
        return 0;
    double t0 = now();
    for (int i = 0; i < n; i++)
        f[i] = pt_remotecall(ws, "noop", NULL);
    for (int i = 0; i < n; i++)
        pt_reply_destroy(pt_future_fetch(f[i]));
    double dt = now() - t0;
    free(f);
    return n / dt;
}

static void line(const char *what, double fig, double ref)
{
    printf("%-44s %10.0f /s   reference (raw pipe ping-pong) %10.0f /s   "
           "ratio %.2f\n",
           what, fig, ref, ref > 0 ? fig / ref : 0);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: rpc_bench NOOP_SO [ROUND_TRIPS]\n");
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 20000;
    pt_kernel_ref noop = {"noop", argv[1], NULL};
    pt_workerset_opts o = {.kernels = &noop, .nkernels = 1};
    pt_workerset *one = pt_workerset_create(1, PT_WS_RR, &o);
    pt_workerset *two = pt_workerset_create(2, PT_WS_RR, &o);
    if (!one || !two) {
        fprintf(stderr, "rpc_bench: %s\n", pt_errmsg());
        return 1;
    }
    fetch_rate(one, "noop", 100); /* warm up: dlopen, init */
    pipelined_rate(two, 100);
    double ref = pipe_pingpong(n);
    line("remotecall_fetch noop (.so), 1 worker", fetch_rate(one, "noop", n),
         ref);
    line("remotecall_fetch plain function, 1 worker", fetch_rate(one, NULL, n),
         ref);
    line("pipelined remotecall noop, 2 workers RR", pipelined_rate(two, 5 * n),
         ref);
    pt_workerset_destroy(one);
    pt_workerset_destroy(two);
    return 0;
}
