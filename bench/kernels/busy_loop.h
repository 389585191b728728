/*
 * busy_loop.h - the compute-bound loop of the METG and mixed-duration
 * figures: `iters` steps of a dependent multiply-add chain (an LCG), so
 * the time is the CPU's and nothing the compiler can fold or vectorise.
 * bench/kernels/busy.c runs it as a task; bench/busy_ref.c runs it in
 * forked children (the reference) and calibrates iterations per us.
 */
#ifndef PTOOLS_BENCH_BUSY_LOOP_H
#define PTOOLS_BENCH_BUSY_LOOP_H

#include <stdint.h>

/* Spin `iters` dependent steps from `x`; the last value. */
static inline uint64_t busy_loop(uint64_t x, int64_t iters)
{
    for (int64_t i = 0; i < iters; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        __asm__ volatile("" : "+r"(x)); /* one step per iteration, kept */
    }
    return x;
}

#endif
