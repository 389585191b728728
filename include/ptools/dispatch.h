/*
 * ptools/dispatch.h - requests on a worker set, one by one: the layer that
 * futures (pt_remotecall), pt_queue and ptrun are all built on.
 *
 * A request waits in the set's queue (highest priority first, FIFO among
 * equals; a pinned one in its worker's own), is started by a worker, and
 * ends with a reply. It is at a worker only from the moment that worker
 * starts it (SPEC §1): for speed, requests are sent ahead to a worker in
 * batches, but one sent ahead and not started still waits - it can change
 * priority, be cancelled or be withdrawn (the set takes it back from the
 * worker), and in PT_WS_FF a worker that is free takes it over from a busy
 * one. Whoever submitted it is told through its done hook, with the
 * hook's `arg`, and then owns the request (pt_request_destroy).
 *
 * Work progresses only inside pt_workerset_poll() (or the calls that wait,
 * pt_future_wait and friends): hooks run from there, on the caller's
 * thread, never re-entered.
 */
#ifndef PTOOLS_DISPATCH_H
#define PTOOLS_DISPATCH_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include <ptools/reply.h>
#include <ptools/workerset.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_request pt_request;

typedef enum pt_request_state {
    PT_REQ_WAITING = 0, /* not started (queued, or sent ahead in a batch):
                           it can still change or be cancelled */
    PT_REQ_SENT,        /* started by a worker (or taken by
                           pt_workerset_take) */
    PT_REQ_DONE,        /* its reply is there */
} pt_request_state;

/* A request is done; the hook's owner now owns it. */
typedef void (*pt_request_fn)(void *arg, pt_request *req);

/*
 * Queue `call` as request `id` (>= 0; call->task_id is ignored):
 * `done(arg, req)` runs when it ends. NULL + errno (E2BIG: args over
 * PT_ARGS_MAX).
 */
PT_EXTERN pt_request *pt_request_submit(pt_workerset *ws, const pt_call *call,
                                        int64_t id, pt_request_fn done,
                                        void *arg);
PT_EXTERN int64_t pt_request_id(const pt_request *req);
PT_EXTERN pt_request_state pt_request_state_of(const pt_request *req);
/* The worker it is pinned to, was sent to or ran on, -1: none (yet). */
PT_EXTERN int pt_request_worker(const pt_request *req);
/* Its reply once done (NULL before); still the request's. */
PT_EXTERN pt_reply *pt_request_reply(const pt_request *req);
/* Take the reply over: the request no longer frees it. */
PT_EXTERN pt_reply *pt_request_take_reply(pt_request *req);
/* The owner's own pointer for this request, read back in its hooks (no
 * lookup by id): NULL until set. */
PT_EXTERN void pt_request_set_data(pt_request *req, void *data);
PT_EXTERN void *pt_request_data(const pt_request *req);
/* Free a done request (and its reply, unless taken). */
PT_EXTERN void pt_request_destroy(pt_request *req);
/* The same for a done request of set `ws`, its memory kept for the set's
 * next pt_request_submit (freed with the set): for a caller that submits
 * requests by the thousand. */
PT_EXTERN void pt_request_recycle(pt_workerset *ws, pt_request *req);

/* Change the priority of a request not started: 0, -EBUSY (started or
 * done). */
PT_EXTERN int pt_request_set_priority(pt_workerset *ws, pt_request *req,
                                      int64_t prio);
/* Cancel a request not started: it ends now as cancelled (its hook runs).
 * 0, -EBUSY (started or done). */
PT_EXTERN int pt_request_cancel(pt_workerset *ws, pt_request *req);

/*
 * For a program that also runs requests elsewhere (ptrun on other MPI
 * ranks): take the set's best waiting request that is not pinned (NULL:
 * none, or the set is held); it counts as sent until pt_request_complete()
 * ends it with a reply the caller built (the done hook runs as usual).
 * pt_request_withdraw() takes this one request not started the same way
 * (0, -EBUSY).
 */
PT_EXTERN pt_request *pt_workerset_take(pt_workerset *ws);
PT_EXTERN int pt_request_withdraw(pt_workerset *ws, pt_request *req);
PT_EXTERN void pt_request_complete(pt_workerset *ws, pt_request *req,
                                   pt_reply *reply);
/* A request taken (or withdrawn) and not run after all waits again in
 * its place: its priority, then its turn among equals, as before it was
 * taken. 0, -EINVAL (not taken), or -ENOMEM (it then ends as failed). */
PT_EXTERN int pt_request_untake(pt_workerset *ws, pt_request *req);
/* Give the set's own workers nothing: every request goes by take().
 * Pinned requests then wait for ever: submit none. */
PT_EXTERN void pt_workerset_remote_only(pt_workerset *ws, bool on);

/* While held, nothing is dispatched and nothing more starts: requests sent
 * ahead to workers and not started are taken back (SPEC §1), to wait in the
 * queue. Queue a whole step, then release; or pause a set. */
PT_EXTERN void pt_workerset_hold(pt_workerset *ws, bool hold);
/* SIGKILL every worker (a second Ctrl-C); their deaths follow as usual. */
PT_EXTERN void pt_workerset_kill_all(pt_workerset *ws);

/* A worker started (`started`), or exited: `status` as from wait, its
 * peak RSS in KiB. */
typedef void (*pt_worker_fn)(void *arg, int worker, int pid, bool started,
                             int status, int64_t max_rss_kb);
PT_EXTERN void pt_workerset_on_worker(pt_workerset *ws, pt_worker_fn fn,
                                      void *arg);
/* A request started at a worker, at `now_ns` (CLOCK_MONOTONIC): the time
 * the worker took as it claimed it, the one its reply reports as its
 * start. Told when the set sees the claim (in pt_workerset_poll(), at the
 * latest with its answer), never for a request sent ahead and taken back
 * before it started. A request run again after its worker died (one it
 * had finished but not answered) is told again. */
typedef void (*pt_sent_fn)(void *arg, pt_request *req, int64_t now_ns);
PT_EXTERN void pt_workerset_on_sent(pt_workerset *ws, pt_sent_fn fn, void *arg);

/*
 * One round of I/O over several sets at once, plus `extra` fds of the
 * caller's (a signal pipe, sockets; their revents are set on return):
 * handle what workers sent or their deaths, dispatch waiting requests, and
 * return when something happened, a request timed out, or `timeout_ms`
 * passed (-1: no limit). 0 or -errno.
 */
PT_EXTERN int pt_workerset_poll(pt_workerset **sets, int nsets,
                                struct pollfd *extra, int nextra,
                                int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
