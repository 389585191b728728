/*
 * ptools/reply.h - one finished task, as its caller gets it back.
 *
 * pt_reply holds a task's status, its error text, and the results its
 * kernel set (pt_result_* in the kernel), read back by name or as the
 * encoded map they came in (ptools/value.h). Replies are made by the
 * library; a program that runs tasks elsewhere (ptrun over MPI) makes its
 * own with pt_reply_create() and hands them on with pt_request_complete().
 */
#ifndef PTOOLS_REPLY_H
#define PTOOLS_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ptools/buf.h>
#include <ptools/common.h>

#ifdef __cplusplus
extern "C" {
#endif

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
PT_EXTERN int64_t pt_reply_task(const pt_reply *r);
PT_EXTERN int pt_reply_worker(const pt_reply *r);
/* How many results the task set. */
PT_EXTERN size_t pt_reply_count(const pt_reply *r);
/* Results by name; a missing name or another type gives `def` / NULL. */
PT_EXTERN bool pt_reply_has(const pt_reply *r, const char *key);
PT_EXTERN int64_t pt_reply_int(const pt_reply *r, const char *key, int64_t def);
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

/*
 * A reply owning a copy of `results` (an encoded map; NULL/0: none), for
 * task `task` run by `worker` (-1: none); `error` NULL when ok. NULL + errno.
 */
PT_EXTERN pt_reply *pt_reply_create(int64_t task, pt_task_status status,
                                    int worker, const char *error,
                                    const void *results, size_t len);
/*
 * Did the reply's results (its own copy) pass pt_value_check() as a map?
 * A reply made from untrusted bytes is checked here, after the copy.
 */
PT_EXTERN bool pt_reply_results_ok(const pt_reply *r);
/* Record how the worker died: signal, exit code, its peak RSS in KiB. */
PT_EXTERN void pt_reply_set_death(pt_reply *r, int signal, int exit_code,
                                  int64_t max_rss_kb);
/* The reply's encoded results map, as it came (to pass it on). */
PT_EXTERN void pt_reply_results(const pt_reply *r, const uint8_t **p,
                                size_t *len);
/* Record when the task ran in its worker (CLOCK_MONOTONIC ns). */
PT_EXTERN void pt_reply_set_times(pt_reply *r, int64_t start_ns,
                                  int64_t end_ns);

#ifdef __cplusplus
}
#endif
#endif
