/*
 * shm_sum2.c - two processes summing halves of 1 GiB of shared memory.
 *
 * The reference of the `sum` step of bench/jobs/shm-sum-1g.yaml: one
 * MAP_SHARED|MAP_ANONYMOUS mapping of float64 ones (touched, i.e. filled,
 * before timing), then two forked children that each add up their half in
 * element order into a double - the halves of `part: worker` (range.h) and
 * the loop of kernels/sum.c. Timed from the first fork to both exits.
 *   usage: shm_sum2 [ELEMENTS]      (default 134217728: 1 GiB of float64)
 *   prints: shm_sum2_seconds, shm_sum2_gb_per_s, shm_sum2_sum
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "bench.h"

/* Element i*size/n, as range_share_start() in kernels/range.h. */
static uint64_t share_start(uint64_t size, uint64_t i, uint64_t n)
{
    return i * (size / n) + i * (size % n) / n;
}

/* Child i of 2: sum its half, send it up the pipe, exit. */
static _Noreturn void child_sum(const double *a, uint64_t size, int i, int fd)
{
    uint64_t b = share_start(size, (uint64_t)i, 2),
             e = share_start(size, (uint64_t)i + 1, 2);
    const double *p = a + b;
    double x = 0;
    for (uint64_t k = 0; k < e - b; k++)
        x += p[k];
    _exit(bench_write_all(fd, &x, sizeof x) == 0 ? 0 : 1);
}

/* Fork both children, collect their sums: 0 or -errno. */
static int sum2(const double *a, uint64_t size, double *total)
{
    int p[2];
    pid_t pid[2] = {-1, -1};
    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        pid[i] = fork();
        if (pid[i] == 0)
            child_sum(a, size, i, p[1]);
        if (pid[i] < 0)
            rc = -errno;
    }
    close(p[1]);
    *total = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        double x;
        rc = bench_read_all(p[0], &x, sizeof x);
        *total += x;
    }
    close(p[0]);
    for (int i = 0; i < 2; i++) {
        int st;
        while (pid[i] > 0 && waitpid(pid[i], &st, 0) < 0 && errno == EINTR)
            ;
        if (pid[i] > 0 && rc == 0 && !(WIFEXITED(st) && !WEXITSTATUS(st)))
            rc = -ECHILD;
    }
    return rc;
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 134217728u;
    size_t bytes = n * sizeof(double);
    double *a = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (n == 0 || a == MAP_FAILED) {
        fprintf(stderr, "shm_sum2: mmap %zu bytes: %s\n", bytes,
                strerror(n ? errno : EINVAL));
        return 1;
    }
    for (uint64_t i = 0; i < n; i++)
        a[i] = 1.0;
    double total = 0, t0 = bench_now();
    int rc = sum2(a, n, &total);
    double dt = bench_now() - t0;
    munmap(a, bytes);
    if (rc < 0 || total != (double)n) {
        fprintf(stderr, "shm_sum2: %s (sum %.17g of %llu)\n",
                rc < 0 ? strerror(-rc) : "wrong sum", total,
                (unsigned long long)n);
        return 1;
    }
    bench_kv("shm_sum2_seconds", dt);
    bench_kv("shm_sum2_gb_per_s", (double)bytes / dt / 1e9);
    bench_kv("shm_sum2_sum", total);
    return 0;
}
