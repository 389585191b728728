/*
 * summary.h - what ptrun tells when a run ends (SPEC §5): counts by status,
 * wall time, tasks/s, worker utilisation, peak worker RSS, and per kernel
 * the counts by status, p50/p95/p99 latency (end - start of the final
 * attempt) and queue wait (start - queued). Printed on stderr, and written
 * into manifest.json as "summary".
 */
#ifndef RN_SUMMARY_H
#define RN_SUMMARY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <ptools/buf.h>

#include "spec/spec.h"

/* Durations: each kept (exact quantiles) up to RN_SAMPLES_EXACT of them,
 * then counted in a histogram of ~60 KB (quantiles within 1/128). */
#define RN_SAMPLES_EXACT ((size_t)1 << 16)

typedef struct rn_samples {
    int64_t *ns;
    size_t n, cap;
    uint64_t *hist; /* beyond RN_SAMPLES_EXACT: counts by bucket, or NULL */
    uint64_t total; /* samples counted in hist */
} rn_samples;

typedef struct rn_ksum {
    int64_t counts[PT_TASK_NSTATUS]; /* by pt_task_status */
    rn_samples lat, wait;
} rn_ksum;

/* The tasks not ok (cancelled aside) that the summary names, by id. */
#define RN_SUMMARY_FAILURES 5

typedef struct rn_failure {
    int64_t task;
    int kernel, status;
    char *error; /* its first line, or NULL */
} rn_failure;

typedef struct rn_summary {
    rn_ksum *per_kernel;
    int nkernels;
    int64_t busy_ns;     /* workers' time in attempts, all summed */
    int64_t peak_rss_kb; /* the largest worker peak RSS seen */
    int workers;         /* of every set */
    bool settled;        /* the quantiles are in place (no more samples) */
    const char *halted;  /* why `halt:` stopped the run ("halted after 1
                            failed task (halt: failed 1, soon)"), or NULL */
    rn_failure failures[RN_SUMMARY_FAILURES]; /* the lowest ids, in order */
    int nfailures;
    int64_t failed; /* tasks failed, crashed or timed out, all told */
} rn_summary;

int rn_summary_init(rn_summary *s, const rn_spec *spec);
/*
 * Record one task's final attempt: its status and, when it ran (start_ns
 * nonzero), its latency and queue wait. Samples are dropped if memory runs
 * out; the counts are kept.
 */
void rn_summary_task(rn_summary *s, int kernel, int status, int64_t queued_ns,
                     int64_t start_ns, int64_t end_ns);
/*
 * Record a task that ended failed, crashed or timed out, with its error
 * (may be NULL): the summary names the RN_SUMMARY_FAILURES of lowest id
 * ("  task 6 square [failed]: x must be < 5"), then "and N more". Other
 * statuses are ignored.
 */
void rn_summary_failure(rn_summary *s, int64_t task, int kernel, int status,
                        const char *error);
/* Add the worker time of any attempt (retried ones too). */
void rn_summary_busy(rn_summary *s, int64_t ns);
void rn_summary_rss(rn_summary *s, int64_t max_rss_kb);
/* The summary as a JSON object. Once it or rn_summary_print() has run,
 * no more samples may be added. */
void rn_summary_json(rn_summary *s, const rn_spec *spec, int64_t skipped,
                     double wall_s, pt_buf *out);
void rn_summary_print(rn_summary *s, const rn_spec *spec,
                      const int64_t counts[PT_TASK_NSTATUS], int64_t skipped,
                      double wall_s, const char *dir, FILE *out);
void rn_summary_free(rn_summary *s);

#endif
