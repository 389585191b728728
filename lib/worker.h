/*
 * worker.h - the worker process's side of a worker set (private).
 *
 * A worker reads TASK frames from `in_fd`, runs each and answers on `out_fd`
 * with a RESULT frame (payload: struct pt__res_head, then the results map)
 * or an ERROR frame (payload: struct pt__err_head, the message, then the
 * results map at results_off). It answers strictly in the order it
 * receives. Answers are batched: they are written when the worker would
 * otherwise wait for input, when a task took long or printed something,
 * or when they have waited 1 ms, so small tasks cost one write per batch.
 * Before each task it posts the task's id and start time in its beacon, a
 * page shared with the parent, which then knows without a message which
 * task was running when the worker died or ran past its timeout.
 * SHUTDOWN or end of input: run fini of every kernel it initialised, free
 * the state, _exit(0).
 */
#ifndef PT_WORKER_H
#define PT_WORKER_H

#include <stdatomic.h>
#include <stdint.h>

#include <ptools/workerset.h>

/* How a TASK names its callee. */
enum { PT__CALLEE_INDEX = 1, PT__CALLEE_KOBJ = 2, PT__CALLEE_FN = 3 };

/* The fixed start of a TASK payload; the args map follows at offset 40. */
typedef struct pt__task_head {
    uint32_t kind;         /* PT__CALLEE_* */
    uint32_t kernel_index; /* for PT__CALLEE_INDEX */
    uint64_t ptr;          /* the pt_kernel * or pt_call_fn, same image */
    uint64_t seed;
    int32_t step;
    uint32_t args_len;
    uint64_t reserved;
} pt__task_head;

/* When the task ran in the worker: CLOCK_MONOTONIC ns (system-wide). */
typedef struct pt__res_head {
    int64_t start_ns, end_ns;
} pt__res_head;

typedef struct pt__err_head {
    uint32_t msg_len;     /* bytes of message, a NUL follows */
    uint32_t results_off; /* 8-aligned offset of the results map */
    int64_t start_ns, end_ns;
} pt__err_head;

/* A worker's beacon, one cache line in a MAP_SHARED page of the parent's. */
typedef struct pt__beacon {
    _Atomic uint32_t busy;    /* 1 while `task` runs (init included) */
    uint32_t pad0;
    _Atomic uint64_t task;    /* the task running, or the last one */
    _Atomic int64_t since_ns; /* when it started (CLOCK_MONOTONIC) */
    uint8_t pad[40];
} pt__beacon;

/* What a worker is born with (it lives in the forked copy of the parent). */
typedef struct pt__worker_boot {
    int index, count;
    int in_fd, out_fd;
    const pt_kernel_ref *kernels;
    int nkernels;
    pt_shm *const *shm;
    int nshm;
    pt__beacon *beacon; /* this worker's, in memory shared with the parent */
} pt__worker_boot;

_Noreturn void pt__worker_main(const pt__worker_boot *boot);

#endif
