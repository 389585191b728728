/*
 * ptools/args.h - what a caller sends to a task and what comes back.
 *
 * pt_args builds a task's arguments: a map from names to ints, reals, bools,
 * strings and int/real arrays, each name once. Build it, then pass it to any
 * number of calls (pt_remotecall, pt_queue_submit, ...): the first call seals
 * it, after which it can no longer change (-EBUSY).
 *
 * pt_reply is one finished task: its status, its error text, and the results
 * its kernel set (pt_result_* in the kernel), read back by name.
 */
#ifndef PTOOLS_ARGS_H
#define PTOOLS_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ptools/buf.h>
#include <ptools/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_args pt_args;

/* NULL + errno (ENOMEM). */
PT_EXTERN pt_args *pt_args_create(void);
PT_EXTERN void pt_args_destroy(pt_args *a);
/* Each returns 0, -EEXIST (name set already), -EBUSY (sealed) or -errno. */
PT_EXTERN int pt_args_int(pt_args *a, const char *key, int64_t v);
PT_EXTERN int pt_args_real(pt_args *a, const char *key, double v);
PT_EXTERN int pt_args_bool(pt_args *a, const char *key, bool v);
PT_EXTERN int pt_args_str(pt_args *a, const char *key, const char *v);
PT_EXTERN int pt_args_ints(pt_args *a, const char *key, const int64_t *p,
                           size_t n);
PT_EXTERN int pt_args_reals(pt_args *a, const char *key, const double *p,
                            size_t n);

/* How a task ended (SPEC §5). */
typedef enum pt_task_status {
    PT_TASK_OK = 0,
    PT_TASK_FAILED,    /* the kernel returned non-zero or called pt_fail */
    PT_TASK_CRASHED,   /* its worker died (see pt_reply_signal) */
    PT_TASK_TIMEOUT,
    PT_TASK_CANCELLED,
} pt_task_status;

/* How many statuses there are: arrays indexed by pt_task_status. */
enum { PT_TASK_NSTATUS = PT_TASK_CANCELLED + 1 };

/*
 * The one table of status words (results files, ctl, summaries): "ok",
 * "failed", "crashed", "timeout", "cancelled"; "unknown" out of range.
 */
PT_EXTERN const char *pt_task_status_name(pt_task_status s);
/* The status a word names (exactly, as above), or -EINVAL. */
PT_EXTERN int pt_task_status_parse(const char *name);

typedef struct pt_reply pt_reply;

PT_EXTERN pt_task_status pt_reply_status(const pt_reply *r);
/* The error text, or NULL when the task succeeded. */
PT_EXTERN const char *pt_reply_error(const pt_reply *r);
/* The signal that killed the worker (crashed), else 0. */
PT_EXTERN int pt_reply_signal(const pt_reply *r);
/* The exit status of a worker that exited (crashed), else -1. */
PT_EXTERN int pt_reply_exit_code(const pt_reply *r);
/* The peak RSS in KiB of a worker that died running it (wait4), else 0. */
PT_EXTERN int64_t pt_reply_max_rss_kb(const pt_reply *r);
/* When the task started and ended in its worker: CLOCK_MONOTONIC ns, 0
 * when it never ran to the end there (e.g. its worker died). */
PT_EXTERN int64_t pt_reply_start_ns(const pt_reply *r);
PT_EXTERN int64_t pt_reply_end_ns(const pt_reply *r);
/* The task's id and the index of the worker that ran it (-1: none). */
PT_EXTERN uint64_t pt_reply_task(const pt_reply *r);
PT_EXTERN int pt_reply_worker(const pt_reply *r);
/* How many results the task set. */
PT_EXTERN size_t pt_reply_count(const pt_reply *r);
/* Results by name; a missing name or another type gives `def` / NULL. */
PT_EXTERN bool pt_reply_has(const pt_reply *r, const char *key);
PT_EXTERN int64_t pt_reply_int(const pt_reply *r, const char *key,
                               int64_t def);
/* An int result is converted to real. */
PT_EXTERN double pt_reply_real(const pt_reply *r, const char *key, double def);
PT_EXTERN bool pt_reply_bool(const pt_reply *r, const char *key, bool def);
PT_EXTERN const char *pt_reply_str(const pt_reply *r, const char *key,
                                   const char *def);
PT_EXTERN const int64_t *pt_reply_ints(const pt_reply *r, const char *key,
                                       size_t *len);
PT_EXTERN const double *pt_reply_reals(const pt_reply *r, const char *key,
                                       size_t *len);
PT_EXTERN const void *pt_reply_bytes(const pt_reply *r, const char *key,
                                     size_t *len);
/* Append the results as a JSON object to `out`. */
PT_EXTERN int pt_reply_json(const pt_reply *r, pt_buf *out);
PT_EXTERN void pt_reply_destroy(pt_reply *r);

#ifdef __cplusplus
}
#endif
#endif
