/*
 * busy_ref.c - the reference of the METG and mixed-duration figures: the
 * loop of bench/kernels/busy_loop.h run directly in forked children, with
 * no runner between them (the ideal's realisation).
 *
 *   busy_ref calibrate
 *       steps of the loop per microsecond: the best of several timed runs
 *       of ~20 ms each. Prints busy_iters_per_us.
 *   busy_ref run WORKERS N ITERS [LONG_ITERS NLONG]
 *       N tasks of ITERS steps, and NLONG of LONG_ITERS placed evenly among
 *       them (one after each N / (NLONG + 1) short ones: the layout of
 *       bench/jobs/mixed.yaml), taken first-free by WORKERS forked children
 *       from a shared counter. Prints busy_ref_seconds (first fork to last
 *       exit), busy_ref_work_seconds (the children's time in the loop, all
 *       added up) and busy_ref_tasks.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "bench.h"
#include "kernels/busy_loop.h"

enum { MAX_WORKERS = 256 };

typedef struct shared {
    int64_t next;             /* the next task to take */
    double work[MAX_WORKERS]; /* seconds in the loop, per child */
} shared;

typedef struct plan {
    int64_t n, iters, long_iters, nlong, block;
} plan;

/* The steps of task i of the plan. */
static int64_t task_iters(const plan *p, int64_t i)
{
    int64_t k = (i + 1) / (p->block + 1);
    bool is_long = p->nlong > 0 && (i + 1) % (p->block + 1) == 0 && k >= 1 &&
                   k <= p->nlong;
    return is_long ? p->long_iters : p->iters;
}

static double calibrate(void)
{
    int64_t iters = 1 << 20;
    double best = 0;
    for (int rep = 0; rep < 7; rep++) {
        double t0 = bench_now();
        uint64_t x = busy_loop((uint64_t)rep, iters);
        double dt = bench_now() - t0;
        __asm__ volatile("" : : "r"(x));
        if (dt < 0.01) { /* too short to time well: grow, start over */
            iters *= 2;
            rep = -1;
            continue;
        }
        double rate = (double)iters / (dt * 1e6);
        best = rate > best ? rate : best;
    }
    return best;
}

/* A child: take tasks until none is left, then leave. */
static _Noreturn void child(shared *s, const plan *p, int w)
{
    int64_t total = p->n + p->nlong, i;
    double t0 = bench_now();
    uint64_t x = (uint64_t)w;
    while ((i = __atomic_fetch_add(&s->next, 1, __ATOMIC_RELAXED)) < total)
        x = busy_loop(x + (uint64_t)i, task_iters(p, i));
    __asm__ volatile("" : : "r"(x));
    s->work[w] = bench_now() - t0;
    _exit(0);
}

static int run(int workers, const plan *p)
{
    shared *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED)
        return -errno;
    memset(s, 0, sizeof *s);
    pid_t pid[MAX_WORKERS];
    int started = 0, rc = 0;
    double t0 = bench_now();
    for (; started < workers; started++) {
        pid[started] = fork();
        if (pid[started] == 0)
            child(s, p, started);
        if (pid[started] < 0) {
            rc = -errno;
            __atomic_store_n(&s->next, INT64_MAX / 2, __ATOMIC_RELAXED);
            break;
        }
    }
    for (int w = 0; w < started; w++) {
        int st;
        while (waitpid(pid[w], &st, 0) < 0)
            if (errno != EINTR)
                return -errno;
        if (rc == 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
            rc = -ECHILD;
    }
    double dt = bench_now() - t0, work = 0;
    for (int w = 0; w < started; w++)
        work += s->work[w];
    munmap(s, sizeof *s);
    if (rc == 0) {
        bench_kv("busy_ref_seconds", dt);
        bench_kv("busy_ref_work_seconds", work);
        bench_kv("busy_ref_tasks", (double)(p->n + p->nlong));
    }
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "calibrate") == 0) {
        bench_kv("busy_iters_per_us", calibrate());
        return 0;
    }
    if ((argc != 5 && argc != 7) || strcmp(argv[1], "run") != 0) {
        fprintf(stderr, "usage: busy_ref calibrate | busy_ref run WORKERS N "
                        "ITERS [LONG_ITERS NLONG]\n");
        return 2;
    }
    int workers = atoi(argv[2]);
    plan p = {.n = strtoll(argv[3], NULL, 10),
              .iters = strtoll(argv[4], NULL, 10)};
    if (argc == 7) {
        p.long_iters = strtoll(argv[5], NULL, 10);
        p.nlong = strtoll(argv[6], NULL, 10);
    }
    p.block = p.n / (p.nlong + 1);
    if (workers < 1 || workers > MAX_WORKERS || p.n < 0 || p.iters < 0 ||
        p.nlong < 0 || p.long_iters < 0) {
        fprintf(stderr, "busy_ref: bad arguments\n");
        return 2;
    }
    int rc = run(workers, &p);
    if (rc < 0)
        fprintf(stderr, "busy_ref: %s\n", strerror(-rc));
    return rc < 0;
}
