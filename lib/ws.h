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
#include <stdatomic.h>

#include <ptools/dispatch.h>
#include <ptools/workerset.h>

#include "heap.h"

/* Sets of up to this many workers post requests to all (ws_posted.c). */
#define PT__POST_ALL_MAX 4

struct pt_request {
    pt__heap_node node; /* first: a node pointer is a request pointer */
    pt__heap *heap;     /* the heap it waits in */
    struct pt_request *next, *prev; /* in its worker's in-flight FIFO */
    _Atomic uint64_t *word;         /* in flight: its claim word (worker.h) */
    /* Small members packed together: a waiting request's bytes count
     * (bench figure 6: at most 200 B a waiting task in a pt_queue). */
    bool all;      /* posted to all workers (ws_posted.c) */
    bool told;     /* the on_sent hook knows it started */
    uint8_t state; /* a pt_request_state */
    uint8_t kind;  /* PT__CALLEE_* */
    uint32_t pos;  /* its frame's place in its worker's
                      input (slot.frames, wrapping) */
    uint32_t pos_all[PT__POST_ALL_MAX]; /* posted to all: in each's */
    uint64_t claim;                     /* in flight: its claim number */
    uint64_t id;     /* pt_request_id, as the wire carries it */
    uint64_t callee; /* pointer, or kernel index */
    int32_t step;
    int16_t worker; /* pinned (>= 0) or -1; then: who ran it */
    int16_t pin;    /* pinned to (>= 0) or -1, as submitted */
    pt_args *args;  /* a reference, or NULL */
    pt_reply *reply;
    void *owner;        /* the done hook's arg (a pt_future, a pt_queue,
                           ...), or NULL: abandoned */
    pt_request_fn done; /* tells the owner */
    void *data;         /* the owner's, for its hooks (pt_request_data) */
};

/*
 * One round of I/O on one set: wait up to `timeout_ms` (-1: until something
 * happens) for workers, handle what they sent or their deaths, dispatch
 * waiting requests. 0 or -errno.
 */
int pt__ws_pump(pt_workerset *ws, int timeout_ms);
/* Hand waiting requests to free workers now, without waiting. */
void pt__ws_kick(pt_workerset *ws);

/* args.c: reference counting for requests holding args. */
pt_args *pt__args_ref(pt_args *a);
/* Start loading a's encoded bytes into the cache (a may be NULL). */
void pt__args_prefetch(const pt_args *a);

#endif
