/*
 * rn_math.h - the few roundings the runner needs, without libm.
 *
 * ptrun does not link libm: mapping and relocating it cost every run about
 * 0.2 ms of start-up (bench figure 5) for four small functions. These give
 * the same results as floor/ceil/llround for every double; 10^x, wanted
 * only by `logspace`, loads libm when first asked (rn_pow10, spec_sweep.c).
 */
#ifndef RN_MATH_H
#define RN_MATH_H

#include <stdbool.h>
#include <stdint.h>

/* Every double of magnitude 2^52 or more is an integer. */
#define RN_INTEGRAL_FROM 0x1p52

/* Whether x (finite) is an integer: x == floor(x). */
static inline bool rn_is_integral(double x)
{
    return !(x > -RN_INTEGRAL_FROM && x < RN_INTEGRAL_FROM) ||
           x == (double)(int64_t)x;
}

/* ceil(x), for any x (NaN and infinities come back as they are; a zero
 * result is +0). */
static inline double rn_ceil(double x)
{
    if (!(x > -RN_INTEGRAL_FROM && x < RN_INTEGRAL_FROM))
        return x;
    double t = (double)(int64_t)x; /* toward zero */
    return t < x ? t + 1.0 : t;
}

/* llround(x) for |x| < 2^62: the nearest integer, halves away from 0.
 * x - t is exact (t is x without its fraction). */
static inline int64_t rn_llround(double x)
{
    int64_t t = (int64_t)x;
    double f = x - (double)t;
    return f >= 0.5 ? t + 1 : f <= -0.5 ? t - 1 : t;
}

/* 10^x, as libm's pow(10.0, x); NaN if libm cannot be loaded. */
double rn_pow10(double x);

#endif
