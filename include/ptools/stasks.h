/*
 * ptools/stasks.h - server tasks: long-lived workers that keep state.
 *
 * Julia PTools' ServerTasks: pt_stasks_start() creates the shared segments
 * described by `shm` (zero-filled, anonymous after create, so they cannot
 * leak) and forks `n` server tasks that inherit them. pt_stasks_pmap() runs a
 * kernel once on each server task, with args[i] for task i, and returns
 * results[i] from it. State a kernel keeps with pt_state_set() stays in its
 * worker from one pmap to the next (Julia's task_local_storage), and
 * pt_shm_get(ctx, name) finds the segments. pt_stasks_stop() runs the
 * kernels' fini, stops the workers and unmaps the segments.
 *
 * Requests on the server tasks' worker set (pt_stasks_workerset, with
 * pt_queue or pt_remotecall) follow SPEC §1: one sent ahead to a server
 * task but not started there can still change priority or be cancelled.
 * pt_stasks_start_ex() takes the set's options (batch, window, timeout...).
 */
#ifndef PTOOLS_STASKS_H
#define PTOOLS_STASKS_H

#include <ptools/args.h>
#include <ptools/kernel.h>
#include <ptools/shm.h>
#include <ptools/workerset.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_stasks pt_stasks;

/* Create `nshm` segments and fork `n` server tasks. NULL + errno. */
PT_EXTERN pt_stasks *pt_stasks_start(const pt_shm_opts *shm, int nshm, int n);
/* The same with the worker set's options (NULL: the defaults). Their
 * `shm` and `nshm` must be unset (-EINVAL): the segments are `shm`'s. */
PT_EXTERN pt_stasks *pt_stasks_start_ex(const pt_shm_opts *shm, int nshm, int n,
                                        const pt_workerset_opts *opts);
PT_EXTERN int pt_stasks_count(const pt_stasks *h);

/*
 * Run `kernel` (linked into the program, or from a pt_kernel_lib opened
 * before pt_stasks_start) once on every server task: task i gets args[i]
 * (`args` may be NULL: no arguments) and its reply lands in results[i]
 * (destroy each with pt_reply_destroy). `nargs` must equal the count, else
 * -EINVAL and nothing runs. Returns how many tasks were not ok, or -errno.
 */
PT_EXTERN int pt_stasks_pmap(pt_stasks *h, const pt_kernel *kernel,
                             pt_args *const *args, int nargs,
                             pt_reply **results);

/* The parent's view of segment `name`, or NULL. */
PT_EXTERN const pt_shm_view *pt_stasks_shm(const pt_stasks *h,
                                           const char *name);
/* The worker set behind the server tasks (for pt_remotecall & co). */
PT_EXTERN pt_workerset *pt_stasks_workerset(pt_stasks *h);

/* Stop the server tasks (fini), unmap and unlink what start created. */
PT_EXTERN int pt_stasks_stop(pt_stasks *h);

#ifdef __cplusplus
}
#endif
#endif
