/*
 * ws.h - a worker set's requests, for the modules built on it (private).
 *
 * A request waits in a heap (the set's shared one, or its worker's own when
 * it is pinned or the mode is round-robin), is sent to a worker, and ends
 * with a reply. Whoever submitted it (a future, a queue) is told through
 * the set's done hook and takes the reply.
 */
#ifndef PT_WS_H
#define PT_WS_H

#include <poll.h>

#include <ptools/workerset.h>

#include "heap.h"

typedef enum pt__req_state {
    PT__REQ_WAITING = 0, /* in a heap */
    PT__REQ_SENT,        /* written (or being written) to a worker */
    PT__REQ_DONE,        /* `reply` is set */
} pt__req_state;

typedef struct pt__req pt__req;
/* Called when a request is done; the owner takes over the request. */
typedef void (*pt__req_done_fn)(pt__req *req);

struct pt__req {
    pt__heap_node node;   /* first: a node pointer is a request pointer */
    pt__heap *heap;       /* the heap it waits in */
    struct pt__req *next; /* in its worker's in-flight FIFO */
    uint64_t id;
    uint64_t callee;      /* pointer, or kernel index */
    uint32_t kind;        /* PT__CALLEE_* */
    int32_t step;
    int worker;           /* pinned (>= 0) or -1; then: who ran it */
    pt__req_state state;
    pt_args *args;        /* a reference, or NULL */
    pt_reply *reply;
    void *owner;          /* a pt_future or a pt_queue, or NULL: abandoned */
    pt__req_done_fn done; /* tells the owner */
};

/* Build and enqueue a request (id given); NULL + errno on failure. */
pt__req *pt__ws_submit(pt_workerset *ws, const pt_call *call, uint64_t id,
                       void *owner, pt__req_done_fn done);
/*
 * One round of I/O: wait up to `timeout_ms` (-1: until something happens)
 * for workers, handle what they sent or their deaths, dispatch waiting
 * requests. 0 or -errno.
 */
int pt__ws_pump(pt_workerset *ws, int timeout_ms);
/*
 * One round over several sets at once (the runner's loop), plus `extra`
 * fds of the caller's (a signal pipe, sockets; their revents are set on
 * return): returns when something happened, a request timed out, or
 * `timeout_ms` passed. 0 or -errno.
 */
int pt__ws_pump_many(pt_workerset **sets, int nsets, struct pollfd *extra,
                     int nextra, int timeout_ms);
/* Tell `fn` when a worker starts (`started` 1) or has exited (0: `status`
 * as from wait, its peak RSS in KiB). */
typedef void (*pt__ws_worker_fn)(void *arg, int worker, int pid, int started,
                                 int status, int64_t max_rss_kb);
void pt__ws_on_worker(pt_workerset *ws, pt__ws_worker_fn fn, void *arg);
/* While held, nothing is dispatched: queue a whole step, then release. */
void pt__ws_hold(pt_workerset *ws, int hold);
/* Called when a request is handed to a worker (CLOCK_MONOTONIC ns). */
void pt__ws_on_sent(pt_workerset *ws, void (*fn)(pt__req *req, int64_t now));
/* SIGKILL every worker (a second Ctrl-C); their deaths follow as usual. */
void pt__ws_kill_all(pt_workerset *ws);
/* Hand waiting requests to free workers now, without waiting. */
void pt__ws_kick(pt_workerset *ws);
/* Change a waiting request's priority: 0, -EBUSY (sent or done). */
int pt__ws_reprioritise(pt_workerset *ws, pt__req *req, int64_t prio);
/* Cancel a waiting request: it ends now as cancelled (done hook runs). */
int pt__ws_cancel(pt_workerset *ws, pt__req *req);
/*
 * For a runner that also sends requests elsewhere (other MPI ranks): take
 * the set's best waiting request that is not pinned to a worker (NULL:
 * none, or the set is held); it counts as sent until pt__ws_complete()
 * ends it with a reply the caller built (the done hook runs as usual).
 */
pt__req *pt__ws_take(pt_workerset *ws);
void pt__ws_complete(pt_workerset *ws, pt__req *req, pt_reply *reply);
/* Take this waiting request out of the queue, as take() would. 0, -EBUSY. */
int pt__ws_withdraw(pt_workerset *ws, pt__req *req);
/* Give the set's own workers nothing: every request goes by take(). Pinned
 * requests then wait for ever: the caller must not submit any. */
void pt__ws_remote_only(pt_workerset *ws, int on);
/* Free a done request (and its reply, unless taken: set reply NULL). */
void pt__req_free(pt__req *req);

/* args.c: reference counting for requests holding args. */
pt_args *pt__args_ref(pt_args *a);

#endif
