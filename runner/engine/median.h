/*
 * median.h - a running median of durations: two heaps (the lower half a
 * max-heap, the upper half a min-heap), O(log n) a sample, O(1) a look.
 * It keeps RN_MEDIAN_MAX samples at most (8 MiB): past that the median
 * of the first ones stands. For `timeout: Nx-median` (median.c).
 */
#ifndef RN_MEDIAN_H
#define RN_MEDIAN_H

#include <stddef.h>
#include <stdint.h>

#define RN_MEDIAN_MAX ((size_t)1 << 20)

typedef struct rn_median {
    int64_t *lo, *hi; /* max-heap of the lower half, min-heap of the upper */
    size_t nlo, nhi, caplo, caphi;
} rn_median;

/* Add a sample: 0, or -ENOMEM (it is dropped). */
int rn_median_add(rn_median *m, int64_t v);
/* Samples added (up to RN_MEDIAN_MAX). */
size_t rn_median_count(const rn_median *m);
/* The median (the lower one of an even count); 0 with no sample. */
int64_t rn_median_get(const rn_median *m);
void rn_median_free(rn_median *m);

#endif
