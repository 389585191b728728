/*
 * queue_bench.c - the public pt_queue API at 10^6 waiting tasks.
 *
 * A 2-worker PT_WS_FF set whose workers are first held busy by a gate task
 * each (a plain function waiting on a flag in shared memory), so that the
 * N tasks submitted next all wait in the queue:
 *   submit        ns per pt_queue_submit_call, random priorities, no args
 *   bytes/task    what the N waiting tasks cost the heap: mallinfo2()
 *                 in-use bytes (arena + mmap'd blocks) after minus before,
 *                 over N; also the RSS growth over N
 *   set_priority  M calls on random waiting tasks, each timed alone: median
 *                 and mean ns
 *   pop           the gate opens and pt_queue_next_result takes every task:
 *                 ns per task of popping, running (a no-op function) and
 *                 reporting, with `window` requests in flight per worker
 *   usage: queue_bench [N [M [WINDOW]]]    (10^6, 10^5, 64)
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <string.h>
#include <sys/mman.h>

#include <ptools/dispatch.h>
#include <ptools/queue.h>

#include "bench.h"

static volatile int *gate; /* shared with the workers: gate[1] counts the
                              gate tasks started */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng(void)
{
    return bench_rng(&rng_state);
}

/* Hold this worker until the gate opens. */
static int wait_gate(pt_ctx *ctx)
{
    (void)ctx;
    struct timespec ms = {0, 1000000};
    __atomic_add_fetch(&gate[1], 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(gate, __ATOMIC_ACQUIRE))
        nanosleep(&ms, NULL);
    return 0;
}

static int nothing(pt_ctx *ctx)
{
    (void)ctx;
    return 0;
}

/* Heap bytes in use (arena and mmap'd blocks). */
static double heap_in_use(void)
{
    struct mallinfo2 m = mallinfo2();
    return (double)m.uordblks + (double)m.hblkhd;
}

/* Resident set size in bytes, from /proc/self/statm. */
static double rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, res = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &res) != 2)
        res = 0;
    fclose(f);
    return (double)res * (double)sysconf(_SC_PAGESIZE);
}

/* Submit fn at priority prio, pinned to `worker` (-1: any). */
static int64_t submit_fn(pt_queue *q, pt_call_fn fn, int64_t prio, int worker)
{
    pt_call c = PT_CALL_INIT;
    c.fn = fn;
    c.priority = prio;
    c.worker = worker;
    return pt_queue_submit_call(q, &c);
}

/* Submit n no-op tasks with random priorities: 0 or -errno. */
static int submit_all(pt_queue *q, int64_t n)
{
    double h0 = heap_in_use(), r0 = rss_bytes(), t0 = bench_now();
    for (int64_t i = 0; i < n; i++) {
        int64_t id = submit_fn(q, nothing, (int64_t)(rng() % 1000000), -1);
        if (id < 0)
            return (int)id;
    }
    double t1 = bench_now();
    bench_kv("queue_submit_ns", (t1 - t0) * 1e9 / (double)n);
    bench_kv("queue_bytes_per_task", (heap_in_use() - h0) / (double)n);
    bench_kv("queue_rss_bytes_per_task", (rss_bytes() - r0) / (double)n);
    return 0;
}

/* m priority changes of random tasks among ids [lo, hi): 0 or -errno. */
static int reprioritise(pt_queue *q, int64_t lo, int64_t hi, int64_t m)
{
    double *t = malloc((size_t)m * sizeof *t), sum = 0;
    if (!t)
        return -ENOMEM;
    int rc = 0;
    for (int64_t i = 0; i < m && rc == 0; i++) {
        int64_t id = lo + (int64_t)(rng() % (uint64_t)(hi - lo));
        int64_t prio = (int64_t)(rng() % 1000000);
        double t0 = bench_now();
        rc = pt_queue_set_priority(q, id, prio);
        t[i] = bench_now() - t0;
        sum += t[i];
    }
    if (rc == 0) {
        bench_kv("queue_set_priority_median_ns",
                 bench_median(t, (size_t)m) * 1e9);
        bench_kv("queue_set_priority_mean_ns", sum * 1e9 / (double)m);
    }
    free(t);
    return rc;
}

/* Open the gate and take every result: 0 or -errno. */
static int drain(pt_queue *q, int64_t expect)
{
    int64_t id, got = 0, bad = 0;
    pt_reply *r;
    int rc;
    double t0 = bench_now();
    __atomic_store_n(gate, 1, __ATOMIC_RELEASE);
    while ((rc = pt_queue_next_result(q, &id, &r)) == 1) {
        bad += pt_reply_status(r) != PT_TASK_OK;
        got++;
        pt_reply_destroy(r);
    }
    double dt = bench_now() - t0;
    if (rc < 0)
        return rc;
    if (got != expect || bad) {
        fprintf(stderr, "queue_bench: %lld results, %lld not ok\n",
                (long long)got, (long long)bad);
        return -EIO;
    }
    bench_kv("queue_pop_ns", dt * 1e9 / (double)got);
    return 0;
}

int main(int argc, char **argv)
{
    int64_t n = argc > 1 ? strtoll(argv[1], NULL, 10) : 1000000;
    int64_t m = argc > 2 ? strtoll(argv[2], NULL, 10) : 100000;
    int window = argc > 3 ? atoi(argv[3]) : 64, nw = 2;
    int64_t busy = (int64_t)nw * window; /* sent at once, never waiting */
    if (n <= busy || m < 1 || window < 1) {
        fprintf(stderr, "usage: queue_bench [N [M [WINDOW]]], N > 2*WINDOW\n");
        return 2;
    }
    gate = mmap(NULL, 2 * sizeof *gate, PROT_READ | PROT_WRITE,
                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (gate == MAP_FAILED) {
        perror("queue_bench: mmap");
        return 1;
    }
    pt_workerset_opts o = {.window = window};
    pt_workerset *ws = pt_workerset_create(nw, PT_WS_FF, &o);
    pt_queue *q = ws ? pt_queue_create(ws) : NULL;
    int rc = q ? 0 : -errno;
    /* The gates first, above every task: a task sent ahead is at a worker
     * only once it starts, so a gate not started yet would be overtaken. */
    for (int i = 0; i < nw && rc == 0; i++)
        rc = submit_fn(q, wait_gate, INT64_MAX, i) < 0 ? -EIO : 0;
    while (rc == 0 && __atomic_load_n(&gate[1], __ATOMIC_ACQUIRE) < nw)
        rc = pt_workerset_poll(&ws, 1, NULL, 0, 10);
    if (rc == 0)
        rc = submit_all(q, n);
    if (rc == 0) /* the first `busy` tasks went straight to the workers */
        rc = reprioritise(q, busy, n + nw, m);
    if (rc == 0)
        rc = drain(q, n + nw);
    if (rc < 0)
        fprintf(stderr, "queue_bench: %s (%s)\n", strerror(-rc), pt_errmsg());
    pt_queue_destroy(q);
    if (ws)
        pt_workerset_destroy(ws);
    return rc < 0;
}
