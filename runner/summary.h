/*
 * summary.h - what ptrun prints when a run ends (SPEC §5): counts by
 * status, wall time, tasks/s, and each kernel's latency p50/p99.
 */
#ifndef RN_SUMMARY_H
#define RN_SUMMARY_H

#include <stdint.h>
#include <stdio.h>

#include "spec.h"

typedef struct rn_lat {
    int64_t *ns;
    size_t n, cap;
} rn_lat;

typedef struct rn_summary {
    rn_lat *per_kernel;
    int nkernels;
} rn_summary;

int rn_summary_init(rn_summary *s, int nkernels);
/* Record one finished task's duration (dropped if memory runs out). */
void rn_summary_add(rn_summary *s, int kernel, int64_t ns);
void rn_summary_print(rn_summary *s, const rn_spec *spec,
                      const int64_t counts[5], int64_t skipped, double wall_s,
                      const char *dir, FILE *out);
void rn_summary_free(rn_summary *s);

#endif
