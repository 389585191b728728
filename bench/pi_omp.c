/*
 * pi_omp.c - the `pi` kernel's loop (kernels/pi_loop.h) under OpenMP.
 *
 * The reference of bench/jobs/pi-2e8.yaml: the same SAMPLES split in the
 * same TASKS chunks, chunk t drawn from pt_task_seed_of(SEED, t) - the seed
 * ptrun gives task t - so the total of hits equals the job's, which
 * run_bench.py checks. Chunks are shared by THREADS threads, dynamically.
 *   usage: pi_omp SAMPLES TASKS SEED THREADS
 *   prints: pi_omp_hits, pi_omp_seconds (the parallel loop alone), pi_omp_pi
 */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <ptools/workerset.h>

#include "pi_loop.h"

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: pi_omp SAMPLES TASKS SEED THREADS\n");
        return 2;
    }
    int64_t samples = strtoll(argv[1], NULL, 10);
    int tasks = atoi(argv[2]), threads = atoi(argv[4]);
    uint64_t seed = strtoull(argv[3], NULL, 10), hits = 0;
    if (samples < 1 || tasks < 1 || threads < 1 || samples % tasks) {
        fprintf(stderr, "pi_omp: SAMPLES must be a multiple of TASKS >= 1\n");
        return 2;
    }
    int64_t each = samples / tasks;
    double t0 = omp_get_wtime();
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) \
    reduction(+ : hits)
    for (int t = 0; t < tasks; t++)
        hits += pi_loop_hits(pt_task_seed_of(seed, t), each);
    double dt = omp_get_wtime() - t0;
    printf("pi_omp_hits %llu\n", (unsigned long long)hits);
    printf("pi_omp_seconds %.6g\n", dt);
    printf("pi_omp_pi %.9f\n", 4.0 * (double)hits / (double)samples);
    return 0;
}
