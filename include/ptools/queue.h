/*
 * ptools/queue.h - a queue of tasks with priorities that can change.
 *
 * Julia PTools' QueuedTasks over a worker set: submit tasks with a priority,
 * then take their results as they finish. Waiting tasks go out highest
 * priority first, FIFO among equals (a sequence number breaks ties); a
 * waiting task's priority can change (O(log n): an indexed heap) and it can
 * be cancelled. A task waits until a worker starts it - even when it was
 * already sent ahead to a worker in a batch (SPEC §1). A task running or
 * finished (reported or not) can do neither (-EBUSY); -ENOENT is only for
 * an id this queue never gave out.
 * With a PT_WS_FF set, priorities order everything that waits; with
 * PT_WS_RR, tasks are dealt to workers in turn and ordered per worker.
 */
#ifndef PTOOLS_QUEUE_H
#define PTOOLS_QUEUE_H

#include <stdint.h>

#include <ptools/args.h>
#include <ptools/reply.h>
#include <ptools/workerset.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_queue pt_queue;

/* A queue feeding `ws` (which must outlive it). NULL + errno. */
PT_EXTERN pt_queue *pt_queue_create(pt_workerset *ws);
/* Wait for every task (see pt_queue_drain), then free the queue. */
PT_EXTERN void pt_queue_destroy(pt_queue *q);

/* Submit a task by kernel name: its id (0, 1, 2, ...) or -errno. */
PT_EXTERN int64_t pt_queue_submit(pt_queue *q, const char *kernel,
                                  pt_args *args, int64_t priority);
/* Submit any call (kernel object, function, pinned worker, step...). */
PT_EXTERN int64_t pt_queue_submit_call(pt_queue *q, const pt_call *call);
/* 0, -EBUSY (running or finished), -ENOENT (never submitted). */
PT_EXTERN int pt_queue_set_priority(pt_queue *q, int64_t id, int64_t priority);
/* Cancel a waiting task: it is reported as PT_TASK_CANCELLED. As above. */
PT_EXTERN int pt_queue_cancel(pt_queue *q, int64_t id);
/*
 * Take the next finished task, in the order they finish: 1 with *id and
 * *reply set (yours to destroy), 0 when no task is left unreported, or
 * -errno. Blocks until one finishes.
 */
PT_EXTERN int pt_queue_next_result(pt_queue *q, int64_t *id, pt_reply **reply);
/* Tasks submitted and not yet taken by pt_queue_next_result. */
PT_EXTERN int64_t pt_queue_outstanding(const pt_queue *q);
/*
 * Wait until every task has finished, discarding unreported replies: the
 * number that were not PT_TASK_OK, or -errno.
 */
PT_EXTERN int64_t pt_queue_drain(pt_queue *q);

#ifdef __cplusplus
}
#endif
#endif
