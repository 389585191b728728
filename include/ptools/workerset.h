/*
 * ptools/workerset.h - a set of forked worker processes that run tasks.
 *
 * pt_workerset_create(n, mode, opts) forks n workers. Each serves requests
 * in a loop: it loads a kernel's .so on first use, runs its init once, its
 * call per task and its fini at shutdown, and dies with its parent. A task
 * is a kernel by name (from opts.kernels), a kernel linked into the program,
 * or - since workers are forked from the caller - a plain function.
 *
 * Modes (Julia PTools' WorkerSet): PT_WS_RR gives requests to workers in
 * turn and pipelines them (up to `window` per worker, 64 by default);
 * PT_WS_FF gives each request to the first free worker (`window` 1 by
 * default) and keeps the rest waiting in the set's queue, highest priority
 * first, FIFO among equals.
 *
 * A worker starts with only stdin, stdout, stderr, its two protocol pipes
 * and its result buffer open (nothing of the caller's), in a process group
 * of its own: when it dies or the set is destroyed, the group is killed,
 * so what a kernel forks does not outlive it. Results over 1 MiB travel
 * through that buffer (shared memory) rather than the pipe.
 *
 * Single-threaded and callback-free: work progresses inside the calls that
 * wait (pt_future_wait/fetch/ready, pt_queue_next_result, ...). A worker that
 * dies fails only the request it was running, as PT_TASK_CRASHED with its
 * signal; it is replaced and requests queued behind it are sent again, so no
 * request is ever dropped or left hanging. A set whose workers die
 * PT_WS_BROKEN_AFTER times in a row before any request ever succeeded (a
 * kernel whose init crashes, say) is broken: what waits in it fails with
 * that reason instead of killing workers forever. Like pt_pfork, creating a
 * set (and replacing a worker) refuses to fork a process with other
 * threads.
 */
#ifndef PTOOLS_WORKERSET_H
#define PTOOLS_WORKERSET_H

#include <stdbool.h>
#include <stdint.h>

#include <ptools/args.h>
#include <ptools/reply.h>
#include <ptools/common.h>
#include <ptools/kernel.h>
#include <ptools/shm.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pt_ws_mode { PT_WS_RR = 0, PT_WS_FF = 1 } pt_ws_mode;

#define PT_WS_BROKEN_AFTER 5
/* The most workers one set may have (a request keeps a worker index in
 * 16 bits, so that a waiting request stays small). */
#define PT_WS_MAX_WORKERS 32767
#define PT_WS_GRACE_MS 5000

/* A kernel the set's tasks name: `name` -> kernel `symbol` of `path`. */
typedef struct pt_kernel_ref {
    const char *name;   /* what pt_remotecall() uses */
    const char *path;   /* the .so, loaded by each worker on first use */
    const char *symbol; /* the kernel's name inside the .so; NULL: `name` */
} pt_kernel_ref;

/*
 * Called with each whole line a worker prints on its stdout (stream 1) or
 * stderr (stream 2), without the newline, while `task` runs (PT_TASK_NONE:
 * between tasks).
 */
typedef void (*pt_output_fn)(void *arg, int worker, int64_t task, int stream,
                             const char *line, size_t len);

typedef struct pt_workerset_opts {
    int window;                   /* requests in flight per worker; 0: mode's */
    const pt_kernel_ref *kernels; /* copied */
    int nkernels;
    pt_shm *const *shm; /* segments pt_shm_get() finds by name */
    int nshm;
    uint64_t seed;          /* the job seed behind pt_task_seed() */
    int64_t timeout_ms;     /* a request running longer kills its
                               worker: PT_TASK_TIMEOUT; 0: none */
    pt_output_fn output_fn; /* capture workers' stdout and stderr;
                               NULL: they share the caller's */
    void *output_arg;
    int64_t memory_bytes; /* each worker's address-space limit
                             (RLIMIT_AS): an allocation storm kills
                             the worker, not the machine; 0: none.
                             Its result buffer counts: returning N
                             bytes may take up to 4N */
    int batch;            /* requests sent to a worker at once: 0
                             auto (enough for ~2 ms of the measured
                             run time, up to 4096; 1 until the first
                             reply), 1 one by one, N: N */
    int64_t grace_ms;     /* at destroy, how long the workers' fini
                             may take before SIGKILL: 0 the default
                             (PT_WS_GRACE_MS), < 0 none */
    /* Checkpoints (kernel save/restore): after a task, when checkpoint_ms
     * has passed since its last snapshot, a worker calls the save of each
     * kernel it has initialised that has one, and writes the snapshot to
     * `<checkpoint_prefix>.<worker index>.snap` atomically (tmp + fsync +
     * rename; the folder must exist); once more when the set ends. Before
     * its first task, a worker that finds that file (its predecessor's:
     * a replacement, or a new set on the same prefix) loads each kernel
     * named there (from `kernels`), runs its init, then its restore; if
     * that fails (a restore returns non-zero, a kernel cannot be loaded,
     * the file is corrupt), every task given to the worker fails with why.
     * Snapshots hold up to 256 MiB. Only kernels from `kernels` are saved
     * (not linked-in ones). 0 or no prefix: off. */
    const char *checkpoint_prefix; /* copied */
    int64_t checkpoint_ms;
    /* Kernels (indices into `kernels`) each worker loads (dlopen: its
     * constructors run, its init waits for its first request) as soon as
     * it starts, while the caller goes on, rather than when the first
     * request naming one comes: a set's first requests then start that
     * much sooner. A library that fails to load fails the requests that
     * name it, as it would at first use. Copied. */
    const int *preload;
    int npreload;
    /* Workers forked at create: 1..n, 0 (or more than n): all n. The
     * others are forked together, as soon as more requests wait than
     * workers are idle or a request is pinned to one of them: a set that
     * only ever has one request at a time pays one fork, not n (ptrun's
     * start-up). Their index and pt_worker_count() are as with all n
     * forked; until forked, pt_workerset_pid() is 0 for them. */
    int start;
} pt_workerset_opts;

typedef struct pt_workerset pt_workerset;
typedef struct pt_future pt_future;
typedef int (*pt_call_fn)(pt_ctx *);

/* NULL + errno. `opts` may be NULL. */
PT_EXTERN pt_workerset *pt_workerset_create(int n, pt_ws_mode mode,
                                            const pt_workerset_opts *opts);
/*
 * Wait for every request, shut the workers down (each runs its kernels'
 * fini), reap them, and free the set. Futures not yet fetched stay valid
 * (finished, or cancelled if they never ran) until destroyed.
 */
PT_EXTERN int pt_workerset_destroy(pt_workerset *ws);
/*
 * Destroy n sets (NULLs skipped) at once: every worker gets its end of
 * input together and all of them share one wait (each set's grace), so
 * a fini that hangs costs one grace, not one per worker. The first error.
 */
PT_EXTERN int pt_workerset_destroy_all(pt_workerset *const *sets, int n);
/*
 * The first half of pt_workerset_destroy_all(): wait for every request,
 * then give every worker of the n sets its end of input (its kernels'
 * fini, then it exits) and return without waiting for them, so that the
 * caller can work while they end. Only pt_workerset_destroy_all() (which
 * reaps them and frees the sets) may follow. The first error.
 */
PT_EXTERN int pt_workerset_stop_all(pt_workerset *const *sets, int n);
PT_EXTERN int pt_workerset_size(const pt_workerset *ws);
/* The pid of worker i (it changes when a worker is replaced). */
PT_EXTERN int pt_workerset_pid(const pt_workerset *ws, int i);
/* How many workers died and were replaced so far. */
PT_EXTERN int pt_workerset_restarts(const pt_workerset *ws);
/*
 * Change the set's per-request timeout (opts.timeout_ms; 0: none) from
 * now on: it applies to the requests running too, measured from their
 * start. 0, or -EINVAL when ms < 0.
 */
PT_EXTERN int pt_workerset_set_timeout(pt_workerset *ws, int64_t ms);

/*
 * Descendants. Each worker is a child subreaper and, when it exits, kills
 * every process its kernels started. A worker killed (timeout, crash)
 * cannot: its descendants, setsid ones and daemons too, go to the nearest
 * subreaper above it. pt_subreaper_enable() makes the caller that one;
 * pt_workerset_reap_strays() then kills (SIGKILL) and reaps every child
 * of the caller that is not a worker of one of `sets`, until none is left
 * - for a process whose only other children are such strays, as ptrun.
 * Call it after a worker died and at the end. The number ended, or -errno.
 */
PT_EXTERN int pt_subreaper_enable(void);
PT_EXTERN int pt_workerset_reap_strays(pt_workerset *const *sets, int nsets);

/* A request in full; pt_remotecall() and friends fill one for you. */
typedef struct pt_call {
    const char *kernel;    /* a name from opts.kernels, or NULL */
    const pt_kernel *kobj; /* or a kernel linked in before the fork */
    pt_call_fn fn;         /* or a plain function */
    pt_args *args;         /* NULL: none; sealed by the call */
    int64_t priority;      /* higher first (FF and pinned requests) */
    int worker;            /* -1: any (by the mode); else pinned there */
    int64_t task_id;       /* > 0: this id; 0: the set numbers
                              requests 1, 2, ... (ptools/types.h) */
    int step;              /* what pt_step_index() says */
} pt_call;

/* The default request: any worker, priority 0, numbered by the set. */
#define PT_CALL_INIT                                                           \
    {                                                                          \
        .worker = -1                                                           \
    }

/*
 * Submit a request; its result comes back through the future. NULL +
 * errno: E2BIG when its encoded args exceed what one request carries
 * (64 MiB less a 40-byte head; pass bulk data in a pt_shm segment).
 */
PT_EXTERN pt_future *pt_remotecall(pt_workerset *ws, const char *kernel,
                                   pt_args *args);
PT_EXTERN pt_future *pt_remotecall_fn(pt_workerset *ws, pt_call_fn fn,
                                      pt_args *args);
PT_EXTERN pt_future *pt_remotecall_ex(pt_workerset *ws, const pt_call *call);
/* Submit and block for the reply (NULL + errno only if it cannot run). */
PT_EXTERN pt_reply *pt_remotecall_fetch(pt_workerset *ws, const char *kernel,
                                        pt_args *args);
/* Submit and block until done: the task's pt_task_status, or -errno. */
PT_EXTERN int pt_remotecall_wait(pt_workerset *ws, const char *kernel,
                                 pt_args *args);

/*
 * The seed a task gets (pt_task_seed): a fixed 64-bit mix (splitmix64) of
 * the job seed and the task id, the same on every machine and run.
 */
PT_EXTERN uint64_t pt_task_seed_of(uint64_t job_seed, int64_t task_id);

/* Has it finished? Makes progress without blocking. */
PT_EXTERN bool pt_future_ready(pt_future *f);
/* Block until it has finished: its pt_task_status, or -errno. */
PT_EXTERN int pt_future_wait(pt_future *f);
/* Block until finished; take the reply and free the future. */
PT_EXTERN pt_reply *pt_future_fetch(pt_future *f);
/* Free the future; a request still waiting is cancelled. */
PT_EXTERN void pt_future_destroy(pt_future *f);

#ifdef __cplusplus
}
#endif
#endif
