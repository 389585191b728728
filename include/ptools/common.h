/*
 * ptools/common.h - what every ptools module shares.
 *
 * Every function returns 0 (or a count) on success and a negative errno value
 * on failure, unless it returns a handle (then NULL with errno set).
 * pt_strerror() turns the code into generic text; pt_errmsg() gives the
 * detailed message (names, sizes, positions) of the last call that failed in
 * this thread, like dlerror().
 */
#ifndef PTOOLS_COMMON_H
#define PTOOLS_COMMON_H

#include <ptools/export.h> /* PT_EXTERN, PT_PRINTF */
#include <ptools/types.h>  /* task ids, PT_TASK_NONE */

#ifdef __cplusplus
extern "C" {
#endif

#define PT_VERSION_MAJOR 0
#define PT_VERSION_MINOR 1
#define PT_VERSION_PATCH 0
#define PT_VERSION_STRING "0.1.0"

/* The library's version, e.g. "0.1.0" (may differ from the header's). */
PT_EXTERN const char *pt_version(void);

/* Generic text for a code returned by any pt_ function (negative errno). */
PT_EXTERN const char *pt_strerror(int err);

/*
 * The detailed message of the last failed ptools call in this thread, or ""
 * when none failed yet. Valid until the next failing call in this thread.
 */
PT_EXTERN const char *pt_errmsg(void);

/* How a task ended (SPEC §5). */
typedef enum pt_task_status {
    PT_TASK_OK = 0,
    PT_TASK_FAILED,  /* the kernel returned non-zero or called pt_fail */
    PT_TASK_CRASHED, /* its worker died (see pt_reply_signal) */
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

#ifdef __cplusplus
}
#endif
#endif
