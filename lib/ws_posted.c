/*
 * ws_posted.c - requests posted to all workers (worker.h). In an FF set
 * of a few workers that batches, a request any worker may run is not
 * given to one worker: its TASK frame goes to every worker, with one
 * claim word for all in the set's ring. Each worker reads the same frames
 * in the same order and claims the first it finds unclaimed just before
 * it starts it; the others skip it. So requests start in queue order on
 * whichever worker frees first: none waits behind a busy worker while
 * another is free, and a request raised above others (set_priority) is
 * the next one any worker starts. Until a worker claims it, the set takes
 * it back as any request sent ahead (ws_claim.c). Requests pinned to a
 * worker, and those with args over POST_ARGS_MAX, still go to one worker.
 *
 * The set keeps the requests posted, oldest first. Before it reads a
 * worker's answers (and before each round), it moves the claimed ones to
 * their claimer's in-flight FIFO (pt__ws_see_claims): each worker claims
 * in posting order, and a worker passes a request only once it is
 * claimed or taken back, so the claimed ones are a prefix of the posted
 * (those taken back leave the list at once) - unless a worker missed
 * some (its backlog was full, BACKLOG_MAX): then an answer to a request
 * not seen yet, or a death, makes the set look at all of them.
 */
#include <stdatomic.h>
#include <string.h>

#include "internal.h"
#include "worker.h"
#include "ws.h"
#include "ws_impl.h"

/* A worker that has not read this much of its input (a long task) is not
 * posted more: it would hold the frames in our memory. */
#define BACKLOG_MAX ((size_t)8 << 20)
/* Past this much unwritten input, what others claimed meanwhile is dropped
 * from it (pt__ws_drop_claimed). */
#define DROP_AT ((size_t)64 << 10)
/* Written input is moved out once there is this much (pt__ws_out_compact). */
#define COMPACT_AT ((size_t)64 << 10)

bool pt__ws_posts_to_all(const pt_workerset *ws)
{
    return ws->mode == PT_WS_FF && ws->n >= 2 && ws->n <= PT__POST_ALL_MAX &&
           ws->batch > 1 && !ws->printed && !ws->hold && !ws->remote_only;
}

static void posted_unlink(pt_workerset *ws, pt_request *req)
{
    if (req->prev)
        req->prev->next = req->next;
    else
        ws->posted_head = req->next;
    if (req->next)
        req->next->prev = req->prev;
    else
        ws->posted_tail = req->prev;
    req->next = req->prev = NULL;
    ws->nposted--;
}

void pt__ws_unclaim(pt_workerset *ws, pt_request *req)
{
    if (req->all) {
        ws->all_held[req->claim % PT__ALL_RING] = false;
        ws->all_used--;
        req->all = false;
    }
    req->word = NULL;
}

/* The next claim number posted to all: one whose word no request in
 * flight holds (all_used < PT__ALL_RING, so one is found). */
static uint64_t next_claim(pt_workerset *ws)
{
    while (ws->all_held[++ws->all_claim % PT__ALL_RING])
        ;
    ws->all_held[ws->all_claim % PT__ALL_RING] = true;
    ws->all_used++;
    return ws->all_claim;
}

/* Args larger than this go to one worker, not to all. */
#define POST_ARGS_MAX ((size_t)16 << 10)

bool pt__ws_postable(const pt_request *req)
{
    const uint8_t *p;
    size_t len;
    return pt_args_encoded(req->args, &p, &len) == 0 && len <= POST_ARGS_MAX;
}

/* Whether worker s is posted requests now. */
static bool gets_posts(const slot *s)
{
    return (s->state == PT__SLOT_IDLE || s->state == PT__SLOT_BUSY) &&
           s->out.len - s->out_off < BACKLOG_MAX;
}

/* Append to worker s's input a copy of the `size`-byte frame at `frame`,
 * encoded for another worker: 0 or -ENOMEM. */
static int copy_frame(slot *s, const uint8_t *frame, size_t size)
{
    int rc = pt_buf_reserve(&s->out, size);
    if (rc < 0)
        return rc;
    memcpy(s->out.data + s->out.len, frame, size);
    s->out.len += size;
    s->frames++;
    return 0;
}

/* Post the best waiting request to every live worker: false if none. */
static bool post_one(pt_workerset *ws)
{
    unsigned to = 0; /* the workers posted to, a bit each */
    for (int i = 0; i < ws->n; i++)
        to |= (unsigned)gets_posts(&ws->slots[i]) << i;
    pt__heap_node *top = to ? pt__heap_peek(&ws->shared) : NULL;
    if (!top || !pt__ws_postable((const pt_request *)top))
        return false; /* a large one goes to one worker, in its turn */
    pt_request *req = (pt_request *)pt__heap_pop(&ws->shared);
    uint64_t c = next_claim(ws);
    req->all = true;
    req->claim = c;
    req->word = &ws->all_ring[c % PT__ALL_RING];
    atomic_store_explicit(req->word, pt__claim_word_by(c, 0, PT__CLAIM_SENT),
                          memory_order_release);
    /* Encoded once: every worker's frame is the same bytes (one claim word
     * for all), so the others get a copy of the first, a third of the
     * instructions of an encoding. */
    int rc = 0;
    const slot *first = NULL;
    size_t at = 0;
    for (int i = 0; i < ws->n && rc == 0; i++) {
        slot *s = &ws->slots[i];
        if (!(to >> i & 1))
            continue;
        req->pos_all[i] = s->frames;
        if (first) {
            rc = copy_frame(s, first->out.data + at, first->out.len - at);
            continue;
        }
        at = s->out.len;
        rc = pt__ws_encode_task(ws, s, req, c | PT__CLAIM_ALL);
        first = s;
    }
    if (rc < 0) { /* frames already queued are skipped: revoked */
        atomic_store(req->word, pt__claim_word_by(c, 0, PT__CLAIM_REVOKED));
        pt__ws_unclaim(ws, req);
        pt__ws_fail_req(ws, req, PT_TASK_FAILED, "out of memory");
        return true;
    }
    req->state = PT_REQ_SENT;
    req->worker = -1;
    req->told = false;
    req->next = NULL;
    req->prev = ws->posted_tail;
    if (ws->posted_tail)
        ws->posted_tail->next = req;
    else
        ws->posted_head = req;
    ws->posted_tail = req;
    ws->nposted++;
    return true;
}

/*
 * Start loading what posting the requests due soon will read: they were
 * queued long ago (the runner feeds thousands ahead), so each would cost
 * a few cache misses in turn - the request's lines, its args, their bytes,
 * each found through the one before. The shared heap's lane (heap.h) says
 * which come next; a prefetch never faults, and a guess that is wrong
 * (a request raised meanwhile) costs nothing more than a load.
 */
#define AHEAD 8
static void prefetch_ahead(const pt_workerset *ws)
{
    const pt_request *r = (const pt_request *)pt__heap_lane_at(&ws->shared,
                                                               3 * AHEAD);
    if (r) {
        __builtin_prefetch(r);
        __builtin_prefetch((const char *)r + 64);
        __builtin_prefetch((const char *)r + 128);
    }
    if ((r = (const pt_request *)pt__heap_lane_at(&ws->shared, 2 * AHEAD)))
        __builtin_prefetch(r->args);
    if ((r = (const pt_request *)pt__heap_lane_at(&ws->shared, AHEAD)))
        pt__args_prefetch(r->args);
}

/*
 * Keep enough posted for every worker: the batch of each live one (a few
 * ms of work), topped up once half of it is claimed.
 */
void pt__ws_post_all(pt_workerset *ws)
{
    pt__ws_see_claims(ws, false); /* count only those not claimed */
    int live = 0;
    for (int i = 0; i < ws->n; i++)
        live += ws->slots[i].state == PT__SLOT_IDLE ||
                ws->slots[i].state == PT__SLOT_BUSY;
    int want = ws->batch * live, cap = PT__ALL_RING / 2;
    if (want > PT__RING / 2)
        want = PT__RING / 2;
    /* Claimed but not answered yet (workers answer in batches) hold their
     * words too: past `cap` in all, wait until half a top-up fits, rather
     * than post one for each answer (a write, and a wake-up, a task). */
    if (!live || ws->nposted > want / 2 || ws->all_used > cap - want / 2)
        return;
    while (ws->nposted < want && ws->all_used < cap) {
        prefetch_ahead(ws);
        if (!post_one(ws))
            break;
    }
}

/*
 * Put r in worker s's in-flight FIFO at its frame's place in the worker's
 * input, which is the order the worker claims and answers in (its own
 * requests, sent to it alone, went in as they were sent).
 */
static void fifo_insert(slot *s, pt_request *r)
{
    pt_request *after = s->tail;
    while (after && (int32_t)(after->pos - r->pos) > 0) /* wraps */
        after = after->prev;
    r->prev = after;
    r->next = after ? after->next : s->head;
    if (r->next)
        r->next->prev = r;
    else
        s->tail = r;
    if (after)
        after->next = r;
    else
        s->head = r;
}

void pt__ws_see_claims(pt_workerset *ws, bool all)
{
    for (pt_request *r = ws->posted_head, *next; r; r = next) {
        next = r->next;
        if (next) /* posted long ago: load it while this one is seen to */
            __builtin_prefetch(next);
        uint64_t w = atomic_load_explicit(r->word, memory_order_acquire);
        if ((w & 3) != PT__CLAIM_RUN && !all)
            return; /* not yet: nor, as a rule, any posted after it */
        if ((w & 3) != PT__CLAIM_RUN)
            continue;
        slot *s = &ws->slots[pt__claim_who(w) % (unsigned)ws->n];
        posted_unlink(ws, r);
        r->worker = s->index;
        r->pos = r->pos_all[s->index];
        fifo_insert(s, r);
        s->ninflight++;
        pt__ws_slot_event(s, PT__SLOT_EV_SENT);
        if (!s->unannounced)
            s->unannounced = r;
    }
}

bool pt__ws_take_back_posted(pt_workerset *ws, pt_request *req)
{
    uint64_t want = pt__claim_word_by(req->claim, 0, PT__CLAIM_SENT);
    if (!atomic_compare_exchange_strong_explicit(
            req->word, &want,
            pt__claim_word_by(req->claim, 0, PT__CLAIM_REVOKED),
            memory_order_acq_rel, memory_order_acquire))
        return false; /* a worker started it */
    posted_unlink(ws, req);
    pt__ws_unclaim(ws, req);
    req->worker = req->pin;
    return true;
}

/*
 * Take back the posted requests not started that req should precede
 * (found by comparing keys from the newest back: no shared word touched),
 * with the workers paused (worker.h): else each would claim one, per task
 * it runs, just ahead of the walk. A claim already under way when the
 * pause is set still wins: at most one per worker, the race any change
 * has with a worker about to start. Those taken back then wait again.
 */
void pt__ws_make_way_posted(pt_workerset *ws, const pt_request *req)
{
    if (!ws->posted_tail ||
        !pt__heap_before(&req->node, &ws->posted_tail->node))
        return; /* it precedes none of them */
    /* Paused before any walk: workers claim fast (an empty task takes
     * well under a microsecond) and the walks below take longer. */
    pt__ws_pause(ws);
    pt__ws_see_claims(ws, false); /* those claimed need no look */
    pt_request *first = NULL;
    for (pt_request *r = ws->posted_tail;
         r && pt__heap_before(&req->node, &r->node); r = r->prev)
        first = r;
    pt_request *back = NULL; /* taken back, newest first */
    for (pt_request *r = first, *next; r; r = next) {
        next = r->next;
        if (pt__ws_take_back_posted(ws, r)) {
            r->next = back;
            back = r;
        }
    }
    pt__ws_unpause(ws);
    for (pt_request *r = back, *next; r; r = next) {
        next = r->next;
        r->next = NULL;
        pt__ws_requeue(ws, r);
    }
}

void pt__ws_repost(pt_workerset *ws)
{
    pt__ws_see_claims(ws, true);
    for (pt_request *r = ws->posted_tail, *prev; r; r = prev) {
        prev = r->prev;
        if (pt__ws_take_back_posted(ws, r))
            pt__ws_requeue(ws, r);
    }
}

/* The size of the whole frame at p (header, payload, padding). */
static size_t frame_size(const uint8_t *p)
{
    pt__wire_hdr h;
    if (pt__wire_hdr_decode(p, 0, &h) < 0)
        return 0; /* never: we encoded it */
    return PT__WIRE_HDR_SIZE + (h.len + 7) / 8 * 8;
}

/* Whether the frame at p, not yet written to worker s, is a request no
 * worker may claim any more: posted to all and claimed by another, or
 * taken back. */
static bool spent(const pt_workerset *ws, const slot *s, const uint8_t *p)
{
    pt__task_head h;
    memcpy(&h, p + PT__WIRE_HDR_SIZE, sizeof h);
    if (h.claim == 0)
        return false;
    uint64_t c = h.claim & ~PT__CLAIM_ALL;
    if (!(h.claim & PT__CLAIM_ALL))
        return atomic_load_explicit(&s->ring[c % PT__RING],
                                    memory_order_relaxed) !=
               pt__claim_word(c, PT__CLAIM_SENT);
    return atomic_load_explicit(&ws->all_ring[c % PT__ALL_RING],
                                memory_order_relaxed) !=
           pt__claim_word_by(c, 0, PT__CLAIM_SENT);
}

/*
 * Give back the room of worker s's input already written, once it is at
 * least half the buffer and COMPACT_AT: a worker that never lets its pipe
 * empty would otherwise grow the buffer to its backlog, page by new page.
 * The frame partly written moves whole (frames stay aligned at 0).
 */
void pt__ws_out_compact(slot *s)
{
    if (s->out_off < COMPACT_AT || s->out_off < s->out.len / 2)
        return;
    uint8_t *d = s->out.data;
    size_t b = 0, n;
    while ((n = frame_size(d + b)) > 0 && b + n <= s->out_off)
        b += n; /* to the start of the frame not wholly written */
    if (b == 0)
        return;
    memmove(d, d + b, s->out.len - b);
    s->out.len -= b;
    s->out_off -= b;
}

/*
 * Drop from worker s's unwritten input the frames that are spent: a worker
 * busy with a long task would otherwise read through all that the others
 * ran meanwhile, or that were taken back (priorities changed), before it
 * finds one to run; and they would pile up in our memory. The frame partly
 * written stays whole. Done when the input has doubled since the last
 * time, so each frame is looked at a few times at most.
 */
void pt__ws_drop_claimed(pt_workerset *ws, slot *s)
{
    size_t pending = s->out.len - s->out_off;
    if (pending < DROP_AT || pending < 2 * s->out_kept)
        return;
    uint8_t *d = s->out.data;
    size_t off = 0, len = s->out.len, n;
    while (off < s->out_off && (n = frame_size(d + off)) > 0)
        off += n; /* to the first frame not begun */
    size_t to = off;
    for (; off < len; off += n) {
        n = frame_size(d + off);
        if (n == 0 || n > len - off)
            n = len - off; /* never (we encoded them): keep the rest */
        else if (spent(ws, s, d + off))
            continue;
        if (to != off)
            memmove(d + to, d + off, n);
        to += n;
    }
    s->out.len = to;
    s->out_kept = s->out.len - s->out_off;
}
