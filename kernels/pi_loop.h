/*
 * pi_loop.h - the sampling loop of the `pi` kernel, shared with the OpenMP
 * build of the same loop in bench/pi_omp.c, so that the benchmark compares
 * the runner with OpenMP and not two different loops.
 *
 * Header-only (static inline) because a kernel .so links nothing. The
 * generator is xoshiro256** seeded by splitmix64 from one 64-bit seed; x and
 * y come from the top 53 bits of a draw each.
 */
#ifndef PTOOLS_KERNELS_PI_LOOP_H
#define PTOOLS_KERNELS_PI_LOOP_H

#include <stdint.h>

/* splitmix64: turns one 64-bit seed into well-mixed generator state. */
static inline uint64_t pi_splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static inline uint64_t pi_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256** (Blackman and Vigna): fast, with a period of 2^256 - 1. */
static inline uint64_t pi_xoshiro256ss(uint64_t s[4])
{
    uint64_t r = pi_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = pi_rotl(s[3], 45);
    return r;
}

/* A uniform double in [0, 1) from the top 53 bits of a draw. */
static inline double pi_uniform(uint64_t s[4])
{
    return (double)(pi_xoshiro256ss(s) >> 11) * 0x1p-53;
}

/* How many of `samples` points drawn from `seed` fall in the quarter circle. */
static inline uint64_t pi_loop_hits(uint64_t seed, int64_t samples)
{
    uint64_t s[4], hits = 0;
    for (int i = 0; i < 4; i++)
        s[i] = pi_splitmix64(&seed);
    for (int64_t i = 0; i < samples; i++) {
        double x = pi_uniform(s), y = pi_uniform(s);
        hits += x * x + y * y <= 1.0;
    }
    return hits;
}

#endif
