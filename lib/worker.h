/*
 * worker.h - the worker process's side of a worker set (private).
 *
 * A worker reads TASK frames from `in_fd`, runs each and answers on `out_fd`
 * with a RESULT frame (payload: the results map) or an ERROR frame (payload:
 * struct pt__err_head, the message, then the results map at results_off).
 * It answers strictly in the order it receives, which lets the parent tell
 * the task that was running when a worker died from those still queued.
 * SHUTDOWN or end of input: run fini of every kernel it initialised, free
 * the state, _exit(0).
 */
#ifndef PT_WORKER_H
#define PT_WORKER_H

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

typedef struct pt__err_head {
    uint32_t msg_len;     /* bytes of message, a NUL follows */
    uint32_t results_off; /* 8-aligned offset of the results map */
} pt__err_head;

/* What a worker is born with (it lives in the forked copy of the parent). */
typedef struct pt__worker_boot {
    int index, count;
    int in_fd, out_fd;
    const pt_kernel_ref *kernels;
    int nkernels;
    pt_shm *const *shm;
    int nshm;
} pt__worker_boot;

_Noreturn void pt__worker_main(const pt__worker_boot *boot);

#endif
