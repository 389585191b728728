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
 * At end of input: run fini of every kernel it initialised, free
 * the state, _exit(0).
 *
 * Large results (an encoded map over PT__SHM_THRESHOLD) skip the pipe: the
 * worker copies the map into its result buffer, a memfd the parent made
 * for it (`shm_fd`, sealed against shrinking), and sends a RESULT_SHM
 * frame (struct pt__res_shm) in its answer's turn. The buffer is reused
 * only when the parent is done with it: the parent copies the map out
 * while handling the frame, then bumps `released` in the beacon; the
 * worker counts the frames it sent and, before it writes into the buffer
 * again, flushes its queued answers and waits until released == sent. So
 * there is at most one large result in flight per worker; small answers
 * keep flowing (and batching) around it. The parent checks only its own
 * copy of the bytes, never the shared ones.
 */
#ifndef PT_WORKER_H
#define PT_WORKER_H

#include <stdatomic.h>
#include <stdint.h>

#include <ptools/workerset.h>

#include "wire.h"

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
    uint64_t claim; /* its number in the worker's claim ring, 0: none */
} pt__task_head;

/*
 * The largest args map a task can have: what a TASK frame carries (the
 * worker reads frames of up to PT__WIRE_MAX_PAYLOAD), less its head.
 * Submitting more is -E2BIG; `ptrun check` refuses such a task up front.
 */
_Static_assert(PT_REQUEST_MAX == PT__WIRE_MAX_PAYLOAD &&
                   PT_ARGS_MAX == PT__WIRE_MAX_PAYLOAD - sizeof(pt__task_head),
               "PT_REQUEST_MAX and PT_ARGS_MAX in ptools/args.h");

/* When the task ran in the worker: CLOCK_MONOTONIC ns (system-wide). */
typedef struct pt__res_head {
    int64_t start_ns, end_ns;
} pt__res_head;

/* Results over this many bytes go through the shared buffer. */
#define PT__SHM_THRESHOLD ((size_t)1 << 20)
/* The largest map the encoding allows (a 9-byte header, < 4 GiB of body). */
#define PT__SHM_RESULT_MAX ((uint64_t)UINT32_MAX + 8)

/* A RESULT_SHM payload: the results map is the buffer's first `len` bytes. */
typedef struct pt__res_shm {
    int64_t start_ns, end_ns;
    uint64_t len;
} pt__res_shm;

typedef struct pt__err_head {
    uint32_t msg_len;     /* bytes of message, a NUL follows */
    uint32_t results_off; /* 8-aligned offset of the results map */
    int64_t start_ns, end_ns;
} pt__err_head;

/* A worker's beacon, one cache line in a MAP_SHARED page of the parent's. */
typedef struct pt__beacon {
    _Atomic uint32_t busy; /* 1 while `task` runs (init included) */
    uint32_t pad0;
    _Atomic uint64_t task;     /* the task running, or the last one */
    _Atomic int64_t since_ns;  /* when it started (CLOCK_MONOTONIC) */
    _Atomic uint64_t released; /* RESULT_SHM frames the parent is done with */
    uint8_t pad[32];
} pt__beacon;

_Static_assert(sizeof(pt__beacon) == 64, "a beacon is one cache line");

/*
 * Claims: a request is at a worker only once the worker starts it. The
 * parent numbers the requests it sends a worker (claim 1, 2, ...) and
 * keeps a word for each in a ring shared with the worker (a MAP_SHARED
 * page set of PT__RING words, indexed by claim % PT__RING): PT__CLAIM_SENT
 * when the request is sent; just before it starts the request the worker
 * moves the word SENT -> RUN with a compare-and-swap, and until then the
 * parent can take the request back with SENT -> REVOKED (to re-prioritise
 * it, cancel it, or give it to an idle worker). A worker that finds its
 * request's word anything but SENT skips the frame without an answer, so
 * answers come in the order of the requests claimed. A word carries its
 * claim number, so a frame left in the pipe never matches a later claim
 * that reuses its word; the parent never reuses a word whose request is
 * still in flight (ws_dispatch.c). Beside each word the worker writes,
 * before it claims, when it starts the request (CLOCK_MONOTONIC ns): the
 * parent, seeing the claim, tells the request started at that time.
 */
#define PT__RING 4096
enum { PT__CLAIM_SENT = 1, PT__CLAIM_RUN = 2, PT__CLAIM_REVOKED = 3 };
static inline uint64_t pt__claim_word(uint64_t claim, unsigned st)
{
    return claim << 2 | st;
}

/*
 * Posted to all (ws_posted.c): in an FF set of a few workers, a request
 * any worker may run is sent to every worker, with one claim word for all
 * in the set's ring; the first worker to reach it claims it, the others
 * skip it. Such a claim has PT__CLAIM_ALL set in the TASK head; its RUN
 * word names the worker that won (pt__claim_word_by), and the winner's
 * start time is in its own `all_starts`, at the claim's index. While the
 * parent takes back many at once (a request raised above them), it sets
 * the shared `pause` word and workers wait before they claim any request
 * (posted to all or sent to them alone): else they would claim, one per
 * task, just ahead of its walk.
 */
#define PT__CLAIM_ALL (UINT64_C(1) << 63)
/* The set's ring of those: larger, for a worker holds many it claimed
 * until it answers them (answers go in batches). */
#define PT__ALL_RING 16384
#define PT__CLAIM_WHO_BITS 18 /* up to 262144 workers */
static inline uint64_t pt__claim_word_by(uint64_t claim, unsigned who,
                                         unsigned st)
{
    return claim << (PT__CLAIM_WHO_BITS + 2) | (uint64_t)who << 2 | st;
}
static inline unsigned pt__claim_who(uint64_t word)
{
    return (unsigned)(word >> 2) & ((1u << PT__CLAIM_WHO_BITS) - 1);
}

/* What a worker is born with (it lives in the forked copy of the parent). */
typedef struct pt__worker_boot {
    int index, count;
    int in_fd, out_fd;
    int shm_fd; /* its result buffer (a memfd), or -1: results use the pipe */
    const pt_kernel_ref *kernels;
    int nkernels;
    const int *preload; /* kernels to load before reading any request */
    int npreload;
    pt_shm *const *shm;
    int nshm;
    pt__beacon *beacon; /* this worker's, in memory shared with the parent */
    _Atomic uint64_t *ring;        /* its claim words (PT__RING), shared too */
    _Atomic int64_t *starts;       /* beside them: when each claim started */
    _Atomic uint64_t *all_ring;    /* the set's claim words (posted to all) */
    _Atomic int64_t *all_starts;   /* when it started each of those it won */
    _Atomic uint32_t *pause;       /* while set, claim none of those */
    const char *checkpoint_prefix; /* snapshots: PREFIX.<index>.snap */
    int64_t checkpoint_ms;         /* at most one per this; 0: off */
} pt__worker_boot;

_Noreturn void pt__worker_main(const pt__worker_boot *boot);

#endif
