/*
 * ws_dispatch.c - a worker set's requests (dispatch.h, ws.h): submitted
 * into heaps by priority, cancelled or re-prioritised while they wait,
 * handed to workers up to their window, and ended with a reply.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "task.h"
#include "wire.h"
#include "worker.h"
#include "ws.h"
#include "ws_impl.h"

/* ---- requests ---- */

/* End a request with `reply` and tell its owner. */
void pt__ws_finish(pt_workerset *ws, pt_request *req, pt_reply *reply)
{
    req->state = PT_REQ_DONE;
    req->reply = reply;
    pt_args_destroy(req->args);
    req->args = NULL;
    ws->pending--;
    ws->finished++;
    if (req->done)
        req->done(req->owner, req);
}

/* A reply that could not even be allocated still ends the request. */
pt_reply *pt__ws_reply_or_bare(pt_reply *r, uint64_t id, pt_task_status st,
                               int worker)
{
    return r ? r : pt_reply_create(id, st, worker, NULL, NULL, 0);
}

void pt__ws_fail_req(pt_workerset *ws, pt_request *req, pt_task_status st,
                     const char *why)
{
    pt_reply *r = pt_reply_create(req->id, st, req->worker, why, NULL, 0);
    pt__ws_finish(ws, req, pt__ws_reply_or_bare(r, req->id, st, req->worker));
}

void pt__ws_fail_waiting(pt_workerset *ws, const char *why)
{
    pt__heap_node *n;
    for (int i = 0; i < ws->n; i++)
        while ((n = pt__heap_pop(&ws->slots[i].own)) != NULL)
            pt__ws_fail_req(ws, (pt_request *)n, PT_TASK_CRASHED, why);
    while ((n = pt__heap_pop(&ws->shared)) != NULL)
        pt__ws_fail_req(ws, (pt_request *)n, PT_TASK_CRASHED, why);
}

/* Put a request (back) where it waits: its worker's heap or the shared. */
int pt__ws_enqueue(pt_workerset *ws, pt_request *req, int target)
{
    req->heap = target >= 0 ? &ws->slots[target].own : &ws->shared;
    req->state = PT_REQ_WAITING;
    return pt__heap_push_seq(req->heap, &req->node, req->node.prio,
                             req->node.seq);
}

/* Which worker's heap a new request goes to (-1: the shared heap). */
static int target_of(pt_workerset *ws, const pt_call *call)
{
    if (call->worker >= 0)
        return call->worker;
    if (ws->mode == PT_WS_FF)
        return -1;
    int t = ws->rr_next;
    ws->rr_next = (ws->rr_next + 1) % ws->n;
    return t;
}

/* Check a call and resolve its callee into kind + value. */
static int resolve_callee(pt_workerset *ws, const pt_call *c, uint32_t *kind,
                          uint64_t *callee)
{
    if (c->worker >= ws->n)
        return pt__err(-EINVAL, "remotecall: worker %d of a set of %d",
                       c->worker, ws->n);
    if (c->fn) {
        *kind = PT__CALLEE_FN;
        *callee = (uint64_t)(uintptr_t)c->fn;
    } else if (c->kobj) {
        *kind = PT__CALLEE_KOBJ;
        *callee = (uint64_t)(uintptr_t)c->kobj;
    } else {
        int i = 0;
        while (c->kernel && i < ws->nkernels &&
               strcmp(ws->kernels[i].name, c->kernel) != 0)
            i++;
        if (!c->kernel || i == ws->nkernels)
            return pt__err(-ENOENT,
                           "remotecall: no kernel named '%s' in "
                           "this worker set",
                           c->kernel ? c->kernel : "");
        *kind = PT__CALLEE_INDEX;
        *callee = (uint64_t)i;
    }
    return 0;
}

pt_request *pt_request_submit(pt_workerset *ws, const pt_call *call, int64_t id,
                              pt_request_fn done, void *owner)
{
    uint32_t kind = 0;
    uint64_t callee = 0;
    const uint8_t *bytes;
    size_t len;
    int rc = resolve_callee(ws, call, &kind, &callee);
    if (rc == 0 && (rc = pt_args_encoded(call->args, &bytes, &len)) == 0 &&
        len > PT_ARGS_MAX)
        rc = pt__err(-E2BIG,
                     "remotecall: args of %zu bytes exceed the %zu "
                     "a request carries (a %zu MiB frame): pass bulk data "
                     "in a shared segment (pt_shm)",
                     len, PT_ARGS_MAX, PT__WIRE_MAX_PAYLOAD >> 20);
    pt_request *req = rc == 0 ? ws->free_reqs : NULL;
    if (req) {
        ws->free_reqs = req->next;
        ws->nfree_reqs--;
    } else if (rc == 0) {
        req = malloc(sizeof *req);
    }
    if (!req) {
        errno = rc ? -rc : ENOMEM;
        return NULL;
    }
    *req = (pt_request){.id = id,
                        .callee = callee,
                        .kind = kind,
                        .step = call->step,
                        .worker = call->worker,
                        .pin = call->worker,
                        .args = pt__args_ref(call->args),
                        .owner = owner,
                        .done = done};
    pt__heap_node_init(&req->node);
    req->node.prio = call->priority;
    req->node.seq = ws->seq++;
    if (pt__ws_enqueue(ws, req, target_of(ws, call)) < 0) {
        pt_args_destroy(req->args);
        free(req);
        errno = ENOMEM;
        return NULL;
    }
    ws->pending++;
    pt__ws_make_way(ws, req); /* it may beat requests sent ahead */
    return req;
}

void pt_request_destroy(pt_request *req)
{
    if (!req)
        return;
    pt_reply_destroy(req->reply);
    pt_args_destroy(req->args);
    free(req);
}

/* Recycled requests kept per set, at most (~10 MB). */
#define FREE_REQS_MAX 65536

void pt_request_recycle(pt_workerset *ws, pt_request *req)
{
    if (!req || ws->nfree_reqs >= FREE_REQS_MAX) {
        pt_request_destroy(req);
        return;
    }
    pt__reply_recycle(&ws->replies, req->reply);
    pt_args_destroy(req->args);
    req->reply = NULL;
    req->args = NULL;
    req->next = ws->free_reqs;
    ws->free_reqs = req;
    ws->nfree_reqs++;
}

static int busy(const pt_request *req, const char *what)
{
    return pt__err(-EBUSY, "task %llu is %s: only a task not started %s",
                   (unsigned long long)req->id,
                   req->state == PT_REQ_DONE ? "done" : "running", what);
}

/*
 * A request sent ahead to a worker but not started there is taken back
 * first (ws_claim.c): until its worker starts it, it waits.
 */
int pt_request_set_priority(pt_workerset *ws, pt_request *req, int64_t prio)
{
    int rc;
    bool raised = prio > req->node.prio; /* lowered: it overtakes none */
    /* Raised, it may precede requests sent ahead: workers claim none from
     * now until they are taken back (pt__ws_make_way), so that none starts
     * meanwhile - the time to take back req itself included. */
    if (raised)
        pt__ws_pause(ws);
    if (req->state == PT_REQ_WAITING) {
        rc = pt__heap_update(req->heap, &req->node, prio);
    } else if (pt__ws_take_back(ws, req)) {
        req->node.prio = prio;
        rc = pt__ws_requeue(ws, req);
    } else {
        rc = busy(req, "can change priority");
    }
    if (rc == 0 && raised)
        pt__ws_make_way(ws, req);
    if (raised)
        pt__ws_unpause(ws);
    return rc;
}

int pt_request_cancel(pt_workerset *ws, pt_request *req)
{
    if (req->state == PT_REQ_WAITING)
        pt__heap_remove(req->heap, &req->node);
    else if (!pt__ws_take_back(ws, req))
        return busy(req, "can be cancelled");
    pt__ws_fail_req(ws, req, PT_TASK_CANCELLED, "cancelled");
    return 0;
}

/* ---- sending ---- */

int pt__ws_encode_task(pt_workerset *ws, slot *s, const pt_request *req,
                       uint64_t claim)
{
    const uint8_t *args;
    size_t alen;
    pt_args_encoded(req->args, &args, &alen); /* sealed at submit */
    size_t plen = sizeof(pt__task_head) + alen,
           size = PT__WIRE_HDR_SIZE + (plen + 7) / 8 * 8;
    int rc = pt_buf_reserve(&s->out, size);
    if (rc < 0)
        return rc;
    /* Built in place, in one pass: the padding zeroed first, the head
     * member by member (a head built aside and copied is wide loads of
     * narrow stores: a stall), then the args. Frames keep the buffer
     * 8-aligned. */
    uint8_t *d = s->out.data + s->out.len;
    memset(d + size - 8, 0, 8);
    pt__wire_hdr_encode(d, PT__WIRE_TASK, req->id, (uint32_t)plen);
    pt__task_head *h = (pt__task_head *)(void *)(d + PT__WIRE_HDR_SIZE);
    h->kind = req->kind;
    h->kernel_index = req->kind == PT__CALLEE_INDEX ? (uint32_t)req->callee : 0;
    h->ptr = req->callee;
    h->seed = pt_task_seed_of(ws->seed, req->id);
    h->step = req->step;
    h->args_len = (uint32_t)alen;
    h->claim = claim;
    memcpy(h + 1, args, alen);
    s->out.len += size;
    s->frames++;
    return 0;
}

/* The waiting request that worker s should run next, or NULL; only its
 * own (pinned) ones while the set posts the others to all. */
static pt_request *pick(pt_workerset *ws, slot *s)
{
    pt__heap_node *a = pt__heap_peek(&s->own), *b = pt__heap_peek(&ws->shared);
    if (ws->post_all && b && pt__ws_postable((const pt_request *)b))
        b = NULL; /* it goes to all workers (ws_posted.c) */
    pt__heap *from = !b || (a && pt__heap_before(a, b)) ? &s->own : &ws->shared;
    pt__heap_node *n = pt__heap_pop(from);
    return (pt_request *)n;
}

static size_t own_waiting(const pt_workerset *ws)
{
    size_t n = 0;
    for (int i = 0; i < ws->n; i++)
        n += pt__heap_len(&ws->slots[i].own);
    return n;
}

/*
 * How many requests a worker may hold. Batching sends small requests by
 * the hundreds: enough of them to keep a worker busy BATCH_WORK_NS, going
 * by the set's measured run times (one at a time until the first is back).
 */
static int window_of(const pt_workerset *ws)
{
    int w = ws->window > ws->batch ? ws->window : ws->batch;
    return w < PT__RING ? w : PT__RING - 1; /* claim words in use */
}

/*
 * How many requests worker s may be given now: up to its window, once it
 * is half empty with batches (so that requests go, and answers come, many
 * per write); 0 while it may not take any.
 */
static int room_of(const pt_workerset *ws, const slot *s)
{
    int win = window_of(ws);
    int low = ws->batch > 1 ? win / 2 : win - 1;
    if (ws->hold || ws->remote_only || !pt__ws_slot_takes(s) ||
        s->ninflight > low)
        return 0;
    return win - s->ninflight;
}

/*
 * Give worker s its next request (encoded into s->out, not yet written):
 * false when none waits for it. Its new requests are told to the on_sent
 * hook by pt__ws_announce(), once written.
 */
static bool send_one(pt_workerset *ws, slot *s)
{
    pt_request *req = pick(ws, s);
    if (!req)
        return false;
    pt__ws_post_claim(s, req);
    req->pos = s->frames;
    if (pt__ws_encode_task(ws, s, req, req->claim) < 0) {
        atomic_store(req->word, 0);
        pt__ws_unclaim(ws, req);
        pt__ws_fail_req(ws, req, PT_TASK_FAILED, "out of memory");
        return true;
    }
    req->told = false;
    req->state = PT_REQ_SENT;
    req->worker = s->index;
    req->next = NULL;
    req->prev = s->tail;
    /* out of order after requests taken over from another worker */
    s->disordered = s->tail && (s->disordered ||
                                pt__heap_before(&req->node, &s->tail->node));
    if (s->tail)
        s->tail->next = req;
    else
        s->head = req;
    s->tail = req;
    s->ninflight++;
    pt__ws_slot_event(s, PT__SLOT_EV_SENT);
    if (!s->unannounced)
        s->unannounced = req;
    return true;
}

void pt__ws_fill_slot(pt_workerset *ws, slot *s)
{
    if ((ws->post_all = pt__ws_posts_to_all(ws)))
        pt__ws_post_all(ws);
    if (room_of(ws, s) == 0)
        return;
    if (ws->mode == PT_WS_FF && !ws->post_all)
        pt__ws_steal(ws, s); /* what others hold, not started */
    for (int n = room_of(ws, s); n > 0 && send_one(ws, s); n--)
        ;
}

/* When worker s started req, in its FIFO (claimed it: worker.h), or 0:
 * not yet. One posted to all is in a FIFO once claimed. */
static int64_t claimed_at(const slot *s, const pt_request *req)
{
    size_t i = req->claim % PT__RING;
    if (!req->word)
        return 0;
    if (req->all)
        return atomic_load_explicit(&s->all_starts[req->claim % PT__ALL_RING],
                                    memory_order_relaxed);
    if (atomic_load_explicit(req->word, memory_order_acquire) !=
        pt__claim_word(req->claim, PT__CLAIM_RUN))
        return 0;
    return atomic_load_explicit(&s->starts[i], memory_order_relaxed);
}

/*
 * A request is at a worker only once it starts there (SPEC §1), so the
 * on_sent hook hears of it then: the worker claims its requests in the
 * order they were sent, so the walk stops at the first not claimed.
 */
/* Whether r is worker s's next request to tell of (told already, or
 * started: at its start time). */
static bool to_tell(const slot *s, const pt_request *r, int64_t *at)
{
    *at = 0;
    return r && (r->told || (*at = claimed_at(s, r)) != 0);
}

/* pt__ws_announce() from r on. Out of line: the calls that find none to
 * tell (half of them, a call a task) then save no registers. */
PT_NOINLINE static void announce_from(pt_workerset *ws, slot *s, pt_request *r,
                                      int64_t at)
{
    do {
        pt__ws_tell(ws, r, at);
        r = r->next;
    } while (to_tell(s, r, &at));
    s->unannounced = r;
}

void pt__ws_announce(pt_workerset *ws, slot *s)
{
    int64_t at;
    if (to_tell(s, s->unannounced, &at))
        announce_from(ws, s, s->unannounced, at);
}

void pt__ws_tell(pt_workerset *ws, pt_request *req, int64_t at)
{
    if (req->told)
        return;
    req->told = true;
    if (ws->on_sent)
        ws->on_sent(ws->on_sent_arg, req, at);
}

/*
 * Give every live worker requests up to its window, dealt out one at a
 * time in turn (the emptiest first), not a window at a time: workers
 * that start together then start the best requests in about queue order,
 * rather than one running a batch of the best while another runs the
 * next ones (a raised task overtaken). What waits for a worker that could
 * not be restarted (or for a set left with none) fails: nothing would
 * ever run it.
 */
void pt__ws_dispatch(pt_workerset *ws)
{
    if (ws->broken && pt__heap_len(&ws->shared) + own_waiting(ws) > 0)
        pt__ws_fail_waiting(ws, ws->broken_why);
    if (ws->unborn && !ws->hold && !ws->broken)
        pt__ws_births(ws);
    ws->steal_soon = false;
    if ((ws->post_all = pt__ws_posts_to_all(ws)))
        pt__ws_post_all(ws);
    int first = 0, left = 0;
    for (int i = 0; i < ws->n; i++) {
        slot *s = &ws->slots[i];
        if (ws->lost_why[0] && s->state == PT__SLOT_DEAD)
            pt__ws_fail_own(ws, s, ws->lost_why);
        if (room_of(ws, s) > 0 && ws->mode == PT_WS_FF && !ws->post_all)
            pt__ws_steal(ws, s); /* what others hold, not started */
        if ((s->room = room_of(ws, s)) > 0)
            left++;
        if (s->ninflight < ws->slots[first].ninflight)
            first = i;
    }
    for (int k = first; left > 0; k = (k + 1) % ws->n) {
        slot *s = &ws->slots[k];
        if (s->room > 0 && (!send_one(ws, s) || --s->room == 0)) {
            s->room = 0;
            left--;
        }
    }
}
