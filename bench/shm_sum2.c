/*
 * shm_sum2.c - two processes summing halves of 1 GiB of shared memory.
 *
 * The references of the `sum` step of bench/jobs/shm-sum-1g.yaml: one
 * shared mapping of float64 ones (touched, i.e. filled, before timing),
 * then two forked children that each add up their half in element order
 * into a double - the halves of `part: worker` (range.h) and the loop of
 * kernels/sum.c - twice. The first pass is timed from the first fork until
 * both children have sent its sum: each child's first touch of a page is a
 * page fault, as a ptrun worker's is. The second pass, over pages already
 * mapped in each child, is timed by the children themselves (the slower
 * one counts): the memory-speed limit.
 *   usage: shm_sum2 [ELEMENTS] [small|thp]
 *     small (default): MAP_SHARED|MAP_ANONYMOUS, as before
 *     thp: a memfd mapped with MADV_HUGEPAGE (huge pages when the system's
 *          shmem_enabled lets advice work)
 *   prints: shm_sum2_seconds, shm_sum2_gb_per_s (first pass),
 *           shm_sum2_second_gb_per_s, shm_sum2_huge (1: huge pages backed
 *           the data, per /proc/meminfo ShmemHugePages), shm_sum2_sum
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

/* Element i*size/n, as range_share_start() in kernels/range.h. */
static uint64_t share_start(uint64_t size, uint64_t i, uint64_t n)
{
    return i * (size / n) + i * (size % n) / n;
}

static double sum_range(const double *p, uint64_t n)
{
    double x = 0;
    for (uint64_t k = 0; k < n; k++)
        x += p[k];
    return x;
}

/* Child i of 2: sum its half, send it up the pipe; sum it again, send up
 * how long that took; exit. */
static _Noreturn void child_sum(const double *a, uint64_t size, int i, int fd)
{
    uint64_t b = share_start(size, (uint64_t)i, 2),
             e = share_start(size, (uint64_t)i + 1, 2);
    double x = sum_range(a + b, e - b);
    if (bench_write_all(fd, &x, sizeof x) < 0)
        _exit(1);
    double t0 = bench_now();
    volatile double y = sum_range(a + b, e - b);
    double msg[2] = {y, bench_now() - t0};
    _exit(bench_write_all(fd, msg, sizeof msg) == 0 ? 0 : 1);
}

/* Read both first sums (the first pass ends), then both second passes. */
static int collect(int fd, double *total, double *first_end, double *second)
{
    int rc = 0;
    *total = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        double x;
        rc = bench_read_all(fd, &x, sizeof x);
        *total += x;
    }
    *first_end = bench_now();
    *second = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        double msg[2];
        rc = bench_read_all(fd, msg, sizeof msg);
        if (rc == 0 && msg[1] > *second)
            *second = msg[1];
    }
    return rc;
}

/* Fork both children, collect their sums and times: 0 or -errno. */
static int sum2(const double *a, uint64_t size, double *total, double *first,
                double *second)
{
    int p[2];
    pid_t pid[2] = {-1, -1};
    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    int rc = 0;
    double t0 = bench_now(), end = t0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        pid[i] = fork();
        if (pid[i] == 0)
            child_sum(a, size, i, p[1]);
        if (pid[i] < 0)
            rc = -errno;
    }
    close(p[1]);
    if (rc == 0)
        rc = collect(p[0], total, &end, second);
    *first = end - t0;
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

/* ShmemHugePages of /proc/meminfo, in kB (0 when unknown). */
static long shmem_huge_kb(void)
{
    FILE *f = fopen("/proc/meminfo", "re");
    char line[256];
    long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "ShmemHugePages: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

/* The shared mapping: anonymous (small), or a memfd advised huge (thp). */
static double *map_data(size_t bytes, int thp)
{
    if (!thp)
        return mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int fd = memfd_create("shm_sum2", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)bytes) < 0)
        return MAP_FAILED;
    double *a = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (a != MAP_FAILED)
        madvise(a, bytes, MADV_HUGEPAGE); /* a hint: the system decides */
    return a;
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 134217728u;
    int thp = argc > 2 && strcmp(argv[2], "thp") == 0;
    size_t bytes = n * sizeof(double);
    long huge0 = shmem_huge_kb();
    double *a = n ? map_data(bytes, thp) : MAP_FAILED;
    if (a == MAP_FAILED) {
        fprintf(stderr, "shm_sum2: mmap %zu bytes: %s\n", bytes,
                strerror(n ? errno : EINVAL));
        return 1;
    }
    for (uint64_t i = 0; i < n; i++)
        a[i] = 1.0;
    int huge = shmem_huge_kb() - huge0 >= (long)(bytes / 2048);
    double total = 0, first = 0, second = 0;
    int rc = sum2(a, n, &total, &first, &second);
    munmap(a, bytes);
    if (rc < 0 || total != (double)n) {
        fprintf(stderr, "shm_sum2: %s (sum %.17g of %llu)\n",
                rc < 0 ? strerror(-rc) : "wrong sum", total,
                (unsigned long long)n);
        return 1;
    }
    bench_kv("shm_sum2_seconds", first);
    bench_kv("shm_sum2_gb_per_s", (double)bytes / first / 1e9);
    bench_kv("shm_sum2_second_gb_per_s", (double)bytes / second / 1e9);
    bench_kv("shm_sum2_huge", huge);
    bench_kv("shm_sum2_sum", total);
    return 0;
}
