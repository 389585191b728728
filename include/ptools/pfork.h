/*
 * ptools/pfork.h - fork n children, collect one result from each.
 *
 * pt_pfork(n, fn, arg, results): child i runs fn(i, arg, out) and its bytes
 * in `out` come back over a pipe of its own. The parent reads every pipe at
 * once with poll (no child blocks on a full pipe while another is read),
 * reaps every child, and fills results[i] for each index, in index order: ok,
 * fn's error code, killed by a signal, or exited without a result. A child
 * that crashes yields an error for its index, never a hang of the caller.
 * Segments created (pt_shm_create) before the call are visible and writable
 * in every child: they inherit the mapping.
 *
 * pt_pfork refuses (-EDEADLK) to run in a process that has other threads:
 * fork copies only the calling thread, so a lock another thread held at that
 * moment (in malloc, stdio, ...) stays locked forever in the child, and fn
 * would deadlock on its first allocation. Call it before starting threads.
 */
#ifndef PTOOLS_PFORK_H
#define PTOOLS_PFORK_H

#include <ptools/buf.h>
#include <ptools/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Runs in child `index` (0..n-1); fills `out`; returns 0 or an error code. */
typedef int (*pt_pfork_fn)(int index, void *arg, pt_buf *out);

typedef enum pt_pfork_status {
    PT_PFORK_OK = 0,    /* fn returned 0; `out` holds its bytes */
    PT_PFORK_FAILED,    /* fn returned `code` != 0; `out` holds its bytes */
    PT_PFORK_SIGNALED,  /* killed by signal `code` before finishing */
    PT_PFORK_NO_RESULT, /* exited (status `code`) without sending a result */
} pt_pfork_status;

typedef struct pt_pfork_result {
    pt_pfork_status status;
    int code;   /* fn's return value, the signal, or the exit status */
    pt_buf out; /* the child's bytes; release with pt_pfork_results_free() */
} pt_pfork_result;

/*
 * Fork `n` children running `fn` and wait for all of them. Returns 0 when
 * every child was run and reaped (see each results[i].status), or -errno when
 * pfork itself failed (then no child is left running and results hold
 * nothing). `results` has room for n entries.
 */
PT_EXTERN int pt_pfork(int n, pt_pfork_fn fn, void *arg,
                       pt_pfork_result *results);

/* How many of the n results are not PT_PFORK_OK. */
PT_EXTERN int pt_pfork_failures(int n, const pt_pfork_result *results);

/* Free the n results' buffers. */
PT_EXTERN void pt_pfork_results_free(int n, pt_pfork_result *results);

/* "ok", "failed (code 3)", "killed by signal 11 (Segmentation fault)", ... */
PT_EXTERN const char *pt_pfork_describe(const pt_pfork_result *r, char *buf,
                                        size_t size);

#ifdef __cplusplus
}
#endif
#endif
