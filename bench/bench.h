/*
 * bench.h - what the C helpers of bench/ share (define _GNU_SOURCE first):
 * a clock, a median, a child joined by pipes, a generator, I/O that
 * survives EINTR and short transfers, and the output format.
 *
 * Each helper prints its measurements on stdout as `key value` lines, read
 * by bench/run_bench.py; errors go to stderr with a non-zero exit status.
 */
#ifndef PTOOLS_BENCH_H
#define PTOOLS_BENCH_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* CLOCK_MONOTONIC in seconds. */
static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[0..n) (sorts v in place); 0 when n is 0. */
static inline double bench_median(double *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Write all n bytes: 0 or -errno (-EPIPE when the reader is gone). */
static inline int bench_write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Read exactly n bytes: 0, -EPIPE at end of file, or -errno. */
static inline int bench_read_all(int fd, void *p, size_t n)
{
    char *c = p;
    while (n > 0) {
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return -EPIPE;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

/* One measurement, as run_bench.py reads it. */
static inline void bench_kv(const char *key, double value)
{
    printf("%s %.6g\n", key, value);
}

/*
 * Fork a child joined by two pipes. In the parent: its pid, with *to (we
 * write, it reads) and *from (it writes, we read). In the child: 0, with
 * *in and *out. -errno when the pipes or the fork fail (nothing is left).
 */
static inline pid_t bench_fork_pipes(int *to, int *from, int *in, int *out)
{
    int down[2], up[2];
    if (pipe2(down, O_CLOEXEC) < 0)
        return -errno;
    if (pipe2(up, O_CLOEXEC) < 0) {
        int rc = -errno;
        close(down[0]);
        close(down[1]);
        return rc;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(down[1]);
        close(up[0]);
        *in = down[0];
        *out = up[1];
        return 0;
    }
    int rc = pid < 0 ? -errno : 0;
    close(down[0]);
    close(up[1]);
    if (rc < 0) {
        close(down[1]);
        close(up[0]);
        return rc;
    }
    *to = down[1];
    *from = up[0];
    return pid;
}

/* A fast reproducible generator (xorshift64*), for benchmark inputs. */
static inline uint64_t bench_rng(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 0x2545F4914F6CDD1Dull;
}

#endif
