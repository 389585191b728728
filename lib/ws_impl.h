/*
 * ws_impl.h - the state of a worker set, shared by the files that make it
 * (workerset.c: creation and accessors; ws_slot.c: a worker's life;
 * ws_dispatch.c: requests; ws_recv.c: replies; ws_poll.c: the I/O round;
 * ws_shutdown.c; ws_output.c: captured output; ws_remote.c: requests run
 * elsewhere). Private to libptools.
 */
#ifndef PT_WS_IMPL_H
#define PT_WS_IMPL_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <ptools/buf.h>
#include <ptools/workerset.h>

#include "heap.h"
#include "task.h"
#include "wire.h"
#include "worker.h"
#include "ws.h"

/*
 * A worker slot is a small state machine: its state changes only in
 * pt__ws_slot_event(), on the events below, and only along these moves
 * (any other is a bug, asserted):
 *
 *   state     event         next      where, and what it means
 *   DEAD      FORKED        IDLE      pt__ws_spawn(): a worker runs
 *   IDLE      SENT          BUSY      pt__ws_fill_slot(): requests for it
 *   BUSY      SENT          BUSY
 *   BUSY      ANSWERED      BUSY      on_frame(): a reply, more in flight
 *                                     (or pt__ws_take_back(): one not
 *                                     started taken back)
 *   BUSY      ALL_ANSWERED  IDLE      on_frame(): the last reply (or the
 *                                     last in flight taken back)
 *   BUSY      TIMED_OUT     TERM      expire(): SIGTERM, SIGKILL after
 *                                     a grace; it still takes requests
 *   TERM      SENT, ANSWERED, ALL_ANSWERED: TERM
 *   IDLE, BUSY, TERM, DYING
 *             LOST          DYING     end of stream, EPIPE, exit seen by
 *                                     its pidfd, a protocol error, or the
 *                                     grace of TERM over: nothing more
 *                                     is sent; pt__ws_on_death() reads
 *                                     its last answers, kills, reaps
 *   DYING     SENT (a request posted to all it claimed, seen late),
 *             ANSWERED, ALL_ANSWERED: DYING
 *   DYING     REAPED        DEAD      pt__ws_slot_close(); then FORKED
 *                                     again unless it cannot be replaced
 *   IDLE, BUSY, TERM
 *             SHUTDOWN      STOPPING  ws_shutdown.c: its input closed, it
 *                                     runs its fini and exits
 *   DEAD      SHUTDOWN      DEAD
 *   STOPPING  REAPED        DEAD      ws_shutdown.c: waited for or killed
 *
 * There is no starting state: a forked worker is sent requests at once
 * (they wait in its pipe until it reads them). How many requests are in
 * flight is `ninflight`; IDLE and BUSY say whether there are any.
 */
typedef enum pt__slot_state {
    PT__SLOT_DEAD,     /* no process: not forked yet, reaped, or lost */
    PT__SLOT_IDLE,     /* alive, no request in flight */
    PT__SLOT_BUSY,     /* alive, requests in flight */
    PT__SLOT_TERM,     /* sent SIGTERM for a timeout */
    PT__SLOT_DYING,    /* dead or being killed: last answers, then reaped */
    PT__SLOT_STOPPING, /* told to stop at shutdown */
    PT__SLOT_NSTATES
} pt__slot_state;

typedef enum pt__slot_event {
    PT__SLOT_EV_FORKED,
    PT__SLOT_EV_SENT,
    PT__SLOT_EV_ANSWERED,
    PT__SLOT_EV_ALL_ANSWERED,
    PT__SLOT_EV_TIMED_OUT,
    PT__SLOT_EV_LOST,
    PT__SLOT_EV_REAPED,
    PT__SLOT_EV_SHUTDOWN,
    PT__SLOT_NEVENTS
} pt__slot_event;

/* A worker whose request pipe was found full is tried again after this
 * many answers taken while it had output waiting (its own answers; with
 * posting to all, any worker's), or once poll says it takes more. Each
 * round's flush tries it too. */
#define PT__OUT_FULL_ANSWERS 32

/* The parent's side of one worker. */
typedef struct slot {
    int index;
    pt__slot_state state;
    pid_t pid;   /* its process, or 0 when DEAD */
    int to_fd;   /* requests; nonblocking */
    int from_fd; /* replies; nonblocking */
    int pidfd;   /* readable at its death, or -1 */
    pt__wire_reader rd;
    pt_buf out;              /* encoded frames not yet written */
    size_t out_off;          /* bytes of `out` already written */
    size_t out_kept;         /* unwritten after the last drop (ws_posted.c) */
    int out_full;            /* its pipe was full: answers to take before
                                flush_fast() tries it again (ws_recv.c) */
    pt__heap own;            /* requests pinned here (and all of them in RR) */
    pt_request *head, *tail; /* in flight, oldest first: head is running */
    pt_request *unannounced; /* the first of them not yet told to on_sent */
    int ninflight;           /* requests in flight (head to tail) */
    int room;                /* requests it may still be dealt (dispatch) */
    uint32_t frames;         /* TASK frames given to it (a request's place
                                in its input: pt_request.pos), wrapping */
    int out_fd[2];           /* its stdout and stderr, when captured; else -1 */
    int out_ready;           /* the last poll found one of them readable */
    pt_buf line[2];          /* their partial lines */
    pt__beacon *beacon;      /* what it runs now, posted by the worker */
    _Atomic uint64_t *ring;  /* its claim words, shared (worker.h) */
    _Atomic int64_t *starts; /* when it started each claim, shared too */
    _Atomic int64_t *all_starts; /* ... each claim posted to all it won */
    uint64_t claim;              /* the last claim number given out */
    bool disordered;             /* in flight not in queue order (ws_claim.c) */
    bool unborn;     /* not forked yet (opts.start): DEAD until it has work */
    int64_t term_at; /* when it got SIGTERM for a timeout (TERM), or 0 */
    uint64_t term_task; /* the request that timed out */
    int big_pipe;       /* its answer pipe counts in big_pipes */
    int shm_fd;         /* its large-result buffer (a memfd), or -1 */
    const uint8_t *shm; /* our read-only mapping of it, or NULL */
    size_t shm_size;    /* bytes mapped */
} slot;

struct pt_workerset {
    pt_ws_mode mode;
    int n, window, rr_next, restarts;
    uint64_t seed, next_id, seq;
    size_t pending;
    pt__heap shared;
    pt_kernel_ref *kernels;
    int nkernels;
    int *preload; /* kernel indices each worker loads as it starts */
    int npreload;
    int unborn; /* slots not forked yet (opts.start) */
    pt_shm **shm;
    int nshm;
    slot *slots;
    struct pollfd *pfds;
    slot **pslot;
    pid_t *ppid;        /* the worker's pid when its fd was polled */
    int npolled;        /* entries of pfds filled for this round */
    bool hold;          /* do not dispatch (a step is queued) */
    bool remote_only;   /* only pt_workerset_take() hands requests out */
    int64_t timeout_ns; /* per request, 0: none */
    pt_sent_fn on_sent;
    void *on_sent_arg;
    pt_output_fn output_fn;
    void *output_arg;
    int64_t memory_bytes;
    int64_t grace_ns;        /* at destroy, for the workers' fini */
    char *checkpoint_prefix; /* workers' snapshots (snapshot.h), or NULL */
    int64_t checkpoint_ms;
    int64_t succeeded; /* replies received, ever */
    int deaths_in_a_row;
    int broken;              /* too many deaths before any success */
    char broken_why[400];    /* why, for what is queued to it later */
    char lost_why[300];      /* a worker could not be restarted: why, for what
                                is queued to it (or to a set left with none) */
    uint64_t finished;       /* requests ended, ever (a round that ended some
                                must not then wait in poll) */
    int batch_opt;           /* 0: auto, else the batch size asked for */
    int batch;               /* requests sent to a worker at once, now */
    int printed;             /* its workers print: batching stays off (auto) */
    int64_t avg_ns;          /* moving average of task run times, 0: none yet */
    pt__beacon *beacons;     /* one per worker, MAP_SHARED with them */
    _Atomic uint64_t *rings; /* PT__RING claim words per worker, shared */
    _Atomic int64_t *starts; /* PT__RING start times per worker, shared */
    _Atomic int64_t *all_starts; /* the same for claims posted to all */
    _Atomic uint64_t *all_ring;  /* the claim words of those (ws_posted.c) */
    _Atomic uint32_t *pause;     /* workers claim none of them while set */
    int npause;                  /* pt__ws_pause() calls not yet undone */
    uint64_t all_claim;          /* the last of them given out */
    bool all_held[PT__ALL_RING]; /* their words held by a request in flight */
    int all_used;                /* how many are held */
    pt_request *posted_head, *posted_tail; /* posted to all, not yet seen
                                              claimed, oldest first */
    int nposted;
    bool post_all;   /* posting to all now (pt__ws_posts_to_all) */
    bool steal_soon; /* a free worker may take requests another has not
                        started, once that one starts its first: look
                        again within 1 ms (ws_claim.c) */
    pt_worker_fn on_worker;
    void *on_worker_arg;
    pt_request *free_reqs; /* recycled (pt_request_recycle), through next */
    int nfree_reqs;
    pt__reply_pool replies; /* their replies, recycled too */
};

/* ws_slot.c: a worker's life. */
/* Move slot s on event `ev` (see the table above). */
void pt__ws_slot_event(slot *s, pt__slot_event ev);
/* Whether s has a process (alive, or dead and not yet reaped). */
static inline bool pt__ws_slot_alive(const slot *s)
{
    return s->state != PT__SLOT_DEAD;
}
/* Whether s may be sent requests. */
static inline bool pt__ws_slot_takes(const slot *s)
{
    return s->state == PT__SLOT_IDLE || s->state == PT__SLOT_BUSY ||
           s->state == PT__SLOT_TERM;
}
/* Fork worker s: its pipes, its result buffer. 0 or -errno. */
int pt__ws_spawn(pt_workerset *ws, slot *s);
/* Fork the unborn workers (opts.start) once the set has work for them. */
void pt__ws_births(pt_workerset *ws);
/* Worker s died or broke the protocol (`why`, or NULL): reap, replace. */
void pt__ws_on_death(pt_workerset *ws, slot *s, const char *why);
/* Fail what waits for worker s alone: it is gone for good. */
void pt__ws_fail_own(pt_workerset *ws, slot *s, const char *why);
/* The task worker s runs (its beacon says), or -1 when it runs none. */
int64_t pt__ws_beacon_task(const slot *s, int64_t *since);
/* Close a dead worker's fds and buffers (its heap stays); pid 0, DEAD. */
void pt__ws_slot_close(slot *s);
/* Worker s has been waited for: tell the on_worker hook how it ended. */
void pt__ws_reaped(pt_workerset *ws, const slot *s, int status,
                   const struct rusage *ru);
/* End every request still waiting: no worker is left to run it. */
void pt__ws_fail_waiting(pt_workerset *ws, const char *why);
/* Free a set whose workers are all gone (workerset.c), and its recycled
 * requests. */
void pt__ws_free(pt_workerset *ws);
/* ws_dispatch.c: requests. */
/* Put a request (back) where it waits: worker target's heap, or -1: the
 * shared one. 0 or -ENOMEM. */
int pt__ws_enqueue(pt_workerset *ws, pt_request *req, int target);
/* End a request with a reply of status `st` saying `why`. */
void pt__ws_fail_req(pt_workerset *ws, pt_request *req, pt_task_status st,
                     const char *why);
/* Take back request req, sent to a worker but not started (see worker.h):
 * out of its worker's FIFO, state still SENT. false: it started. */
bool pt__ws_take_back(pt_workerset *ws, pt_request *req);
/* ws_claim.c: claims (worker.h). */
/* Give req, about to be sent to worker s, its claim number and word. */
void pt__ws_post_claim(slot *s, pt_request *req);
/* Take req out of worker s's in-flight FIFO (links only: no counts). */
void pt__ws_fifo_remove(slot *s, pt_request *req);
/* Whether req has started at its worker (or is done, or was taken). */
bool pt__ws_started(const pt_request *req);
/* Put a request taken back where it waited (its heap): 0, or -ENOMEM
 * and it ended as failed. */
int pt__ws_requeue(pt_workerset *ws, pt_request *req);
/* Take back requests sent ahead, not started, that req should precede. */
void pt__ws_make_way(pt_workerset *ws, const pt_request *req);
/* Workers claim nothing until the matching pt__ws_unpause() (nested
 * calls count): while the set takes back many at once. */
void pt__ws_pause(pt_workerset *ws);
void pt__ws_unpause(pt_workerset *ws);
/* Take back every request sent ahead and not started (a held set). */
void pt__ws_take_back_all(pt_workerset *ws);
/* FF: free worker s takes back requests others have not started. */
int pt__ws_steal(pt_workerset *ws, slot *s);
/* Give worker s requests up to its window (encoded, not yet written). */
void pt__ws_fill_slot(pt_workerset *ws, slot *s);
/* Tell the on_sent hook about the requests worker s has started (claimed)
 * since it was last looked at, each with the time it started. */
void pt__ws_announce(pt_workerset *ws, slot *s);
/* Tell the on_sent hook that req started at `at`, unless told already. */
void pt__ws_tell(pt_workerset *ws, pt_request *req, int64_t at);
/* Give every live worker requests up to its window. */
void pt__ws_dispatch(pt_workerset *ws);
/* Append req's TASK frame, with claim number `claim`, to worker s's
 * output: 0 or -ENOMEM. */
int pt__ws_encode_task(pt_workerset *ws, slot *s, const pt_request *req,
                       uint64_t claim);
/* ws_posted.c: requests posted to all workers (worker.h). */
/* Whether req is small enough to be posted to all workers. */
bool pt__ws_postable(const pt_request *req);
/* Whether the set now posts what any worker may run to all of them. */
bool pt__ws_posts_to_all(const pt_workerset *ws);
/* Post waiting requests to all workers, enough for their batches. */
void pt__ws_post_all(pt_workerset *ws);
/* Move the posted requests workers have claimed to their FIFOs: those up
 * to the first not claimed, or with `all` every one. */
void pt__ws_see_claims(pt_workerset *ws, bool all);
/* Take back a posted request no worker has claimed: false if one did. */
bool pt__ws_take_back_posted(pt_workerset *ws, pt_request *req);
/* Take back the posted requests not started that req should precede. */
void pt__ws_make_way_posted(pt_workerset *ws, const pt_request *req);
/* Take back every posted request not started (a worker died: its
 * successor has not seen them), to be posted again. */
void pt__ws_repost(pt_workerset *ws);
/* Move worker s's input not yet written to the front of its buffer. */
void pt__ws_out_compact(slot *s);
/* Drop from worker s's unwritten input what another worker claimed. */
void pt__ws_drop_claimed(pt_workerset *ws, slot *s);
/* A request leaves flight: its claim word (and ring place) is free. */
void pt__ws_unclaim(pt_workerset *ws, pt_request *req);
/* ws_recv.c: read and handle what worker s sent: 0, 1 at end of stream,
 * -errno. */
int pt__ws_drain(pt_workerset *ws, slot *s);
/* ws_poll.c: write what we can of worker s's requests: 0 or -errno. */
int pt__ws_flush(slot *s);
/* End a request with `reply` and tell its owner. */
void pt__ws_finish(pt_workerset *ws, pt_request *req, pt_reply *reply);
/* A reply that could not even be allocated still ends the request. */
pt_reply *pt__ws_reply_or_bare(pt_reply *r, uint64_t id, pt_task_status st,
                               int worker);
/* Read what worker s printed so far; lines go to `task` (-1: none). */
void pt__ws_read_output(pt_workerset *ws, slot *s, int64_t task);
/* At a worker's death or exit: read the rest, flush half lines, close. */
void pt__ws_close_output(pt_workerset *ws, slot *s, int64_t task);

#endif
