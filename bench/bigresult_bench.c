/*
 * bigresult_bench.c - large results beside the raw pipe they would ride on.
 *
 * Measures, in one run on the same machine:
 *   reference  messages of S bytes written by one process and read by
 *              another through a pipe of PIPE_KB KiB (the size ptools gives
 *              a worker's answer pipe), into a buffer reused each time
 *   figure     results of S bytes (pt_result_bytes of a buffer the worker
 *              inherited) fetched one at a time from a 1-worker set
 *              (pt_future_fetch of pt_remotecall_fn, as pt_remotecall_fetch
 *              does), and 8 in flight at once
 * for S = 64 MiB (through the worker's shared buffer) and for medium
 * results that still take the pipe, and prints MB/s and the ratio.
 *   usage: bigresult_bench [ROUNDS_OF_64MIB] [PIPE_KB]
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ptools/workerset.h>

#define MIB ((size_t)1 << 20)
#define IN_FLIGHT 8

static unsigned char *src; /* the results' bytes, inherited by the worker */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* MB/s of `rounds` messages of `size` bytes through a pipe of `pipe_sz`. */
static double raw_pipe(size_t size, int rounds, int pipe_sz)
{
    int p[2], go[2];
    unsigned char *dst = malloc(size), byte = 0;
    if (!dst || pipe(p) || pipe(go))
        return 0;
    if (fcntl(p[1], F_SETPIPE_SZ, pipe_sz) < 0)
        perror("bigresult_bench: F_SETPIPE_SZ");
    memset(dst, 0, size);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        if (read(go[0], &byte, 1) != 1)
            _exit(1);
        for (int i = 0; i < rounds; i++)
            if (write_all(p[1], src, size) < 0)
                _exit(1);
        _exit(0);
    }
    close(p[1]);
    double t0 = now();
    int ok = write(go[1], &byte, 1) == 1;
    for (int i = 0; ok && i < rounds; i++)
        ok = read_all(p[0], dst, size) == 0;
    double dt = now() - t0;
    waitpid(pid, NULL, 0);
    close(p[0]);
    close(go[0]);
    close(go[1]);
    free(dst);
    return ok ? (double)size * rounds / dt / 1e6 : 0;
}

/* The worker's side: `bytes` bytes of src as result `data`. */
static int give(pt_ctx *c)
{
    return pt_result_bytes(c, "data", src, (size_t)pt_arg_int(c, "bytes", 0));
}

static int good(pt_reply *r, size_t size)
{
    size_t n = 0;
    const unsigned char *p = r ? pt_reply_bytes(r, "data", &n) : NULL;
    return p && n == size && p[0] == src[0] && p[n - 1] == src[n - 1];
}

/* MB/s of `rounds` results of `size` bytes, `depth` requests in flight. */
static double results(pt_workerset *ws, size_t size, int rounds, int depth)
{
    pt_args *a = pt_args_create();
    pt_future *f[IN_FLIGHT];
    int ok = a && pt_args_int(a, "bytes", (int64_t)size) == 0;
    double t0 = now();
    for (int i = 0; ok && i < rounds + depth - 1; i++) {
        if (i < rounds)
            f[i % depth] = pt_remotecall_fn(ws, give, a);
        if (i >= depth - 1) {
            pt_reply *r = pt_future_fetch(f[(i - depth + 1) % depth]);
            ok = good(r, size);
            pt_reply_destroy(r);
        }
    }
    double dt = now() - t0;
    pt_args_destroy(a);
    return ok ? (double)size * rounds / dt / 1e6 : 0;
}

static void line(const char *what, size_t size, double fig, double ref)
{
    printf("%-30s %8.0f KiB %8.0f MB/s   raw pipe %8.0f MB/s   ratio %.2f\n",
           what, size / 1024.0, fig, ref, ref > 0 ? fig / ref : 0);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 20;
    int pipe_kb = argc > 2 ? atoi(argv[2]) : 1024;
    size_t sizes[] = {64 * MIB, MIB - 64, 256 * 1024};
    src = malloc(64 * MIB);
    if (!src || rounds < 1 || pipe_kb < 4) {
        fprintf(stderr, "usage: bigresult_bench [ROUNDS_OF_64MIB] "
                        "[PIPE_KB]\n");
        return 2;
    }
    for (size_t i = 0; i < 64 * MIB; i++)
        src[i] = (unsigned char)(i * 7 + 3);
    pt_workerset *ws = pt_workerset_create(1, PT_WS_RR, NULL);
    if (!ws) {
        fprintf(stderr, "bigresult_bench: %s\n", pt_errmsg());
        return 1;
    }
    printf("reference: raw pipe of %d KiB between two processes\n", pipe_kb);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t s = sizes[k];
        int n = (int)((size_t)rounds * (64 * MIB / s));
        if (n > 20000)
            n = 20000;
        results(ws, s, 2, 1); /* warm up: buffers grown and mapped */
        double ref = raw_pipe(s, n, pipe_kb * 1024);
        line("remotecall fetch, 1 at a time", s, results(ws, s, n, 1), ref);
        line("remotecall, 8 in flight", s, results(ws, s, n, IN_FLIGHT), ref);
    }
    pt_workerset_destroy(ws);
    free(src);
    return 0;
}
