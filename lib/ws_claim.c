/*
 * ws_claim.c - a request is at a worker only once that worker starts it
 * (SPEC §1). Requests go to a worker ahead of time, many at once, but each
 * has a claim word in memory shared with the worker (worker.h): the worker
 * claims it just before it starts it, and until then the set can take it
 * back - to change its priority, cancel it, or give it to a worker that
 * is free (FF: first free, even under batching).
 */
#include <stdatomic.h>

#include <ptools/sys.h>

#include "worker.h"
#include "ws.h"
#include "ws_impl.h"

/*
 * The next claim number for worker s, and so its word in the ring: one
 * whose word no request still in flight uses. In-flight requests have
 * claims at or above the oldest's (its own are in the FIFO in claim order;
 * those posted to all have words in the set's ring), so a word
 * revoked, or left by an older claim, is free. At most PT__RING - 1 are in
 * flight (the window is capped), so one is found within PT__RING tries.
 */
static uint64_t next_claim(slot *s)
{
    const pt_request *oldest = s->head; /* of those with a word here */
    while (oldest && oldest->all)       /* posted to all: the set's ring */
        oldest = oldest->next;
    for (;;) {
        uint64_t c = ++s->claim;
        uint64_t w = atomic_load_explicit(&s->ring[c % PT__RING],
                                          memory_order_relaxed);
        if (!oldest || (w & 3) == PT__CLAIM_REVOKED || (w >> 2) < oldest->claim)
            return c;
    }
}

void pt__ws_post_claim(slot *s, pt_request *req)
{
    req->claim = next_claim(s);
    req->all = false;
    req->word = &s->ring[req->claim % PT__RING];
    atomic_store_explicit(req->word, pt__claim_word(req->claim, PT__CLAIM_SENT),
                          memory_order_release);
}

bool pt__ws_started(const pt_request *req)
{
    if (req->state != PT_REQ_SENT)
        return req->state == PT_REQ_DONE;
    uint64_t sent = req->all ? pt__claim_word_by(req->claim, 0, PT__CLAIM_SENT)
                             : pt__claim_word(req->claim, PT__CLAIM_SENT);
    return !req->word ||
           atomic_load_explicit(req->word, memory_order_acquire) != sent;
}

void pt__ws_fifo_remove(slot *s, pt_request *req)
{
    if (s->unannounced == req)
        s->unannounced = req->next;
    if (req->prev)
        req->prev->next = req->next;
    else
        s->head = req->next;
    if (req->next)
        req->next->prev = req->prev;
    else
        s->tail = req->prev;
    req->next = req->prev = NULL;
}

/* Take req out of worker s's in-flight FIFO, and count it out. */
static void unlink_req(slot *s, pt_request *req)
{
    pt__ws_fifo_remove(s, req);
    s->ninflight--;
    pt__ws_slot_event(s, s->ninflight ? PT__SLOT_EV_ANSWERED
                                      : PT__SLOT_EV_ALL_ANSWERED);
}

bool pt__ws_take_back(pt_workerset *ws, pt_request *req)
{
    if (req->state != PT_REQ_SENT || !req->word)
        return false;
    if (req->all)
        return req->worker < 0 && pt__ws_take_back_posted(ws, req);
    uint64_t want = pt__claim_word(req->claim, PT__CLAIM_SENT);
    if (!atomic_compare_exchange_strong_explicit(
            req->word, &want, pt__claim_word(req->claim, PT__CLAIM_REVOKED),
            memory_order_acq_rel, memory_order_acquire))
        return false; /* its worker started it */
    unlink_req(&ws->slots[req->worker], req);
    pt__ws_unclaim(ws, req);
    req->worker = req->pin;
    return true;
}

int pt__ws_requeue(pt_workerset *ws, pt_request *req)
{
    req->state = PT_REQ_WAITING;
    int rc = pt__heap_push_seq(req->heap, &req->node, req->node.prio,
                               req->node.seq);
    if (rc < 0)
        pt__ws_fail_req(ws, req, PT_TASK_FAILED,
                        "out of memory taking it back");
    return rc;
}

/*
 * Request req waits, with a priority that may beat requests already sent
 * ahead to a worker that may run it: take back those not started that
 * come after it (they go out again after it). A worker's requests are
 * normally sent in queue order, a suffix of its FIFO: the walk from the
 * newest stops at the first that comes before req. After requests taken
 * over from another worker (s->disordered) it looks at all not started.
 */
/* The oldest of worker s's requests in flight not started, or NULL. */
static pt_request *first_unstarted(const slot *s)
{
    pt_request *r = s->head;
    while (r && pt__ws_started(r))
        r = r->next;
    return r;
}

void pt__ws_pause(pt_workerset *ws)
{
    if (ws->pause && ws->npause++ == 0)
        atomic_store_explicit(ws->pause, 1, memory_order_seq_cst);
}

void pt__ws_unpause(pt_workerset *ws)
{
    if (ws->pause && --ws->npause == 0)
        atomic_store_explicit(ws->pause, 0, memory_order_release);
}

void pt__ws_take_back_all(pt_workerset *ws)
{
    pt__ws_pause(ws); /* as in pt__ws_make_way_posted */
    if (ws->posted_head)
        pt__ws_repost(ws);
    for (int i = 0; i < ws->n; i++) {
        pt_request *r = first_unstarted(&ws->slots[i]);
        for (pt_request *next; r; r = next) {
            next = r->next;
            if (pt__ws_take_back(ws, r))
                pt__ws_requeue(ws, r);
        }
    }
    pt__ws_unpause(ws);
}

void pt__ws_make_way(pt_workerset *ws, const pt_request *req)
{
    if (ws->posted_tail) /* a pinned one too: its worker reads them first */
        pt__ws_make_way_posted(ws, req);
    bool paused = false; /* as in pt__ws_make_way_posted */
    for (int i = 0; i < ws->n; i++) {
        slot *t = &ws->slots[i];
        if (req->heap != &ws->shared && req->heap != &t->own)
            continue;
        for (pt_request *r = t->tail, *prev; r; r = prev) {
            prev = r->prev;
            if (!pt__heap_before(&req->node, &r->node)) {
                if (t->disordered && !pt__ws_started(r))
                    continue;
                break;
            }
            if (!paused) {
                pt__ws_pause(ws);
                paused = true;
            }
            if (!pt__ws_take_back(ws, r))
                break; /* started: so were all before it */
            pt__ws_requeue(ws, r);
        }
    }
    if (paused)
        pt__ws_unpause(ws);
}

/*
 * Whether worker s is stuck: the task it runs has run past STUCK_NS (and
 * past 4 times the set's average), so what it holds not started should go
 * to others even while the queue has work for them.
 */
#define STUCK_NS INT64_C(1000000)
static bool stuck(const pt_workerset *ws, const slot *s, int64_t now)
{
    int64_t since,
        after = 4 * ws->avg_ns > STUCK_NS ? 4 * ws->avg_ns : STUCK_NS;
    return pt__ws_beacon_task(s, &since) >= 0 && now - since > after;
}

/*
 * How many of worker s's requests in flight another may take: unpinned,
 * not started, due before `top` (the best waiting in the queue, or NULL),
 * and s busy with one. While s has started none, it is as free as the
 * thief (they would only take them back and forth): *soon says there are
 * some to look at again shortly.
 */
static int stealable(const pt_workerset *ws, const slot *s,
                     const pt__heap_node *top, bool *soon)
{
    int n = 0;
    pt_request *first = first_unstarted(s);
    for (const pt_request *r = first; r; r = r->next)
        n += r->heap == &ws->shared && (!top || pt__heap_before(&r->node, top));
    if (n && first == s->head) {
        *soon = !top;
        return 0;
    }
    return n;
}

/*
 * FF, worker s takes over what other workers hold but have not started
 * (sent ahead), so that no request waits behind a busy worker while
 * another is free:
 * - s is free and nothing waits in the set's queue: it takes the older
 *   half - those due to start next - of the most such of a busy worker;
 * - s is being topped up from the queue: it takes all of those of a stuck
 *   worker (one long task) that come before the queue's best.
 * They wait in the queue again, for s to take in order. Requests pinned to
 * a worker stay with it. When the busy worker has not started its first
 * one yet, the set looks again within 1 ms (ws->steal_soon, ws_poll.c): a
 * worker claims without a message. The number taken back.
 */
int pt__ws_steal(pt_workerset *ws, slot *s)
{
    const pt__heap_node *top = pt__heap_peek(&ws->shared);
    if (!top && s->ninflight > 0)
        return 0;
    int64_t now = top ? pt_sys_mono_ns() : 0;
    slot *victim = NULL;
    int most = 0;
    for (int i = 0; i < ws->n; i++) {
        slot *t = &ws->slots[i];
        if (t == s || !t->head || (top && !stuck(ws, t, now)))
            continue;
        int n = stealable(ws, t, top, &ws->steal_soon);
        if (n > most) {
            most = n;
            victim = t;
        }
    }
    int want = top ? most : (most + 1) / 2, took = 0;
    pt_request *r = victim ? first_unstarted(victim) : NULL;
    for (pt_request *next; r && took < want; r = next) {
        next = r->next;
        /* pinned ones stay; one its worker has just started too */
        if (r->heap == &ws->shared &&
            (!top || pt__heap_before(&r->node, top)) &&
            pt__ws_take_back(ws, r) && pt__ws_requeue(ws, r) == 0)
            took++;
    }
    return took;
}
