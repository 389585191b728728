/*
 * heap_bench.c - ns per push, update, pop, remove of the task heap at 10^6.
 *
 * Built by CMake (build/bench/heap_bench); by hand, from the repository root:
 *   cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Iinclude -Ilib \
 *      bench/heap_bench.c lib/heap.c lib/common.c -o /tmp/heap_bench
 *   /tmp/heap_bench [n]
 * Each node sits in a 192-byte "task", as in the runner, so that the cache
 * misses of chasing node pointers are counted.
 */
#define _GNU_SOURCE /* bench.h: pipe2 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench.h"
#include "heap.h"

typedef struct task {
    char before[96];
    pt__heap_node node;
    char after[72];
} task;

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng(void)
{
    return bench_rng(&rng_state);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void report(const char *what, double t0, double t1, size_t n)
{
    printf("%-8s %8.1f ns\n", what, (t1 - t0) / (double)n);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    task *t = malloc(n * sizeof(*t));
    if (!t || n == 0)
        return 1;
    pt__heap h;
    pt__heap_init(&h);
    printf("%zu tasks of %zu bytes (node %zu), slot %zu bytes\n", n,
           sizeof(task), sizeof(pt__heap_node), sizeof(*h.items));
    double t0 = now_ns();
    for (size_t i = 0; i < n; i++)
        if (pt__heap_push(&h, &t[i].node, (int64_t)(rng() % 1000)) != 0)
            return 1;
    double t1 = now_ns();
    report("push", t0, t1, n);
    for (size_t i = 0; i < n; i++)
        pt__heap_update(&h, &t[rng() % n].node, (int64_t)(rng() % 1000));
    double t2 = now_ns();
    report("update", t1, t2, n);
    for (size_t i = 0; i < n / 2; i++)
        pt__heap_remove(&h, &t[rng() % n].node);
    double t3 = now_ns();
    report("remove", t2, t3, n / 2);
    size_t left = pt__heap_len(&h);
    while (pt__heap_pop(&h))
        ;
    double t4 = now_ns();
    report("pop", t3, t4, left);
    pt__heap_free(&h);
    free(t);
    return 0;
}
