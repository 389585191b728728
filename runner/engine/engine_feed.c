/*
 * engine_feed.c - the tasks the engine holds, and feeding a step to the
 * worker sets a little at a time (see engine_internal.h).
 *
 * A step is not queued whole: each set gets enough to keep its workers
 * busy (FEED_PER_WORKER a worker), and more as they finish. (Pinned
 * tasks, of `on:` and `each_worker`, are queued whole when their step
 * begins: their worker's own queue orders them.) What is not
 * queued yet waits in the set's feed, a heap of the step's entries (all
 * tasks of an entry share a priority: the entry stands for its next task)
 * and of single tasks whose priority `ptrun ctl` changed. Best first:
 * higher priority, then lower id; so the set's queue always holds the best
 * of the step, and the order is the one a whole-step queue would give.
 * A task is materialised (its args encoded, a tstate made) when it is
 * fed, and forgotten when it ends.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ptools/reply.h>
#include <ptools/sys.h>

#include "engine/engine_internal.h"
#include "engine/prefault.h"

/* Enough queued to keep the workers claiming, topped up at half: no more.
 * Workers claim tasks far faster than the runner makes them, so a deeper
 * queue only spreads each task's objects (heap, request, args, tstate:
 * ~0.5 KB) past the cache: 256 a worker (a set posts ahead what is
 * queued) cost the runner 10 % less a task than 2048 did, with the same
 * workers' throughput. Another rank's worker is fed more (MPI): its rank
 * takes tasks in batches of its rate times the round trip, and with 256
 * a worker a task run there cost 1.15 us, not 0.93 (bench figure 8). */
#define FEED_PER_WORKER 256
#define FEED_PER_REMOTE 2048
#define FEED_MIN 512
#define FEED_MAX (1 << 17) /* wide sets: ~30 MB of queued tasks at most */

/* ---- the feed: a heap, best first ---- */

/* An item's key: priority (cancelled ones first: they end at once), id. */
static void key_of(const engine *e, const feed_item *it, int64_t *prio,
                   int64_t *id)
{
    if (it->id < 0) {
        const erun *r = &e->eruns[it->entry];
        *prio = r->cancelled || e->cancel_rest ? INT64_MAX : r->prio;
        *id = r->next;
        return;
    }
    const tstate *s = rn_eng_live(e, it->id);
    *id = it->id;
    *prio = !s || s->cancel_asked || e->cancel_rest ? INT64_MAX
                                                    : rn_eng_priority(e, s);
}

static bool better(const engine *e, const feed_item *a, const feed_item *b)
{
    int64_t pa, ia, pb, ib;
    key_of(e, a, &pa, &ia);
    key_of(e, b, &pb, &ib);
    return pa > pb || (pa == pb && ia < ib);
}

static void sift_down(const engine *e, feeder *f, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, best = i;
        if (l < f->n && better(e, &f->heap[l], &f->heap[best]))
            best = l;
        if (l + 1 < f->n && better(e, &f->heap[l + 1], &f->heap[best]))
            best = l + 1;
        if (best == i)
            return;
        feed_item t = f->heap[i];
        f->heap[i] = f->heap[best];
        f->heap[best] = t;
        i = best;
    }
}

static int push(const engine *e, feeder *f, feed_item it)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 16;
        feed_item *h = realloc(f->heap, cap * sizeof *h);
        if (!h)
            return -ENOMEM;
        f->heap = h;
        f->cap = cap;
    }
    size_t i = f->n++;
    f->heap[i] = it;
    while (i > 0 && better(e, &f->heap[i], &f->heap[(i - 1) / 2])) {
        feed_item t = f->heap[i];
        f->heap[i] = f->heap[(i - 1) / 2];
        f->heap[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
    return 0;
}

static void pop(const engine *e, feeder *f)
{
    f->heap[0] = f->heap[--f->n];
    sift_down(e, f, 0);
}

static void heapify(const engine *e, feeder *f)
{
    for (size_t i = f->n / 2; i-- > 0;)
        sift_down(e, f, i);
    f->dirty = false;
}

/* ---- materialising ---- */

/* Map the next TFLAGS_CHUNK bytes of tflags from `id` on in one call, before
 * the cursor reads them: a read of a fresh page maps the zero page, and
 * the write that follows faults again (two faults a page, a page per 4096
 * tasks). Small plans' flags are in the heap, already mapped. */
#define TFLAGS_CHUNK ((int64_t)64 << 10)
static void tflags_ahead(engine *e, int64_t id)
{
    int64_t to = id + TFLAGS_CHUNK, n = e->plan.ntasks + 1;
    to = to < n ? to : n;
    if (n >= TFLAGS_CHUNK)
        rn_prefault(e->tflags + id, (size_t)(to - id));
    e->tflags_ready = to;
}

/* Move entry r's cursor past the tasks that are not its to feed: ok
 * before, or already materialised or changed on their own. */
static void skip_taken(engine *e, erun *r, int64_t end)
{
    for (; r->next < end; r->next++) {
        if (r->next >= e->tflags_ready)
            tflags_ahead(e, r->next);
        if (!(e->tflags[r->next] & (TF_SKIP | TF_FED | TF_ALONE)))
            break;
    }
}

/* Make task `id` a live tstate with its args: NULL on ENOMEM. */
static tstate *materialise(engine *e, int64_t id)
{
    tstate *s = rn_eng_live(e, id);
    if (!s && !(s = rn_eng_track(e, id)))
        return NULL;
    if (!s->t.args && rn_plan_args_reuse(&e->plan, &s->t, rn_eng_spare_args(e),
                                         &e->args_scratch) < 0)
        return NULL; /* kept: freed with the rest at the end */
    if (!(e->tflags[id] & TF_FED)) {
        e->tflags[id] |= TF_FED;
        e->feed[s->t.workerset].unfed--;
    }
    if (e->eruns[s->entry].cancelled)
        s->cancel_asked = true;
    s->live = true;
    return s;
}

static int submit_id(engine *e, int64_t id)
{
    tstate *s = materialise(e, id);
    if (!s)
        return -ENOMEM;
    if (s->retry_due) {       /* waited again from the end of its backoff */
        s->retry_due = false; /* (counted waiting since then) */
        return rn_eng_submit(e, s, pt_sys_real_ns());
    }
    return rn_eng_submit(e, s, e->step_queued_ns);
}

int rn_eng_materialise_now(engine *e, int64_t id)
{
    return submit_id(e, id);
}

/* Is this single task still one to feed (not ended, not queued)? */
static bool alone_pending(const engine *e, int64_t id)
{
    const tstate *s = rn_eng_live(e, id);
    return s && !s->req && (!s->live || s->quiet || s->retry_due);
}

/* Whether item 0 (entry `entry`) is still the best of set f's heap. */
static bool still_top(const engine *e, const feeder *f, int entry)
{
    const feed_item *top = &f->heap[0];
    return f->n && !f->dirty && top->id < 0 && top->entry == entry &&
           (f->n < 2 || !better(e, &f->heap[1], top)) &&
           (f->n < 3 || !better(e, &f->heap[2], top));
}

/* Whether set f takes more now: room in its queue, or a cancelled top
 * (cancelled tasks end at once). */
static bool wants_more(const engine *e, const feeder *f);

/* Feed set f's best item, and the next tasks of its entry as long as it
 * stays the best (one sift for a run of tasks): 0 or -errno. */
static int feed_one(engine *e, feeder *f)
{
    feed_item *top = &f->heap[0];
    if (top->id >= 0) {
        int64_t id = top->id;
        pop(e, f);
        return alone_pending(e, id) ? submit_id(e, id) : 0;
    }
    int i = top->entry, rc = 0;
    erun *r = &e->eruns[i];
    const rn_pentry *en = &e->plan.entries[i];
    int64_t end = en->first + en->n;
    skip_taken(e, r, end); /* `ptrun ctl` may have taken its next */
    do {
        int64_t id = r->next < end ? r->next++ : -1;
        skip_taken(e, r, end);
        rc = id >= 0 ? submit_id(e, id) : 0;
    } while (rc == 0 && r->next < end && still_top(e, f, i) &&
             wants_more(e, f));
    if (!f->n || f->dirty || f->heap[0].id >= 0 || f->heap[0].entry != i)
        return rc; /* the heap changed under us: made again before use */
    if (r->next >= end)
        pop(e, f);
    else
        sift_down(e, f, 0); /* its key can only be worse now */
    return rc;
}

static bool top_cancelled(const engine *e, const feeder *f)
{
    int64_t prio, id;
    key_of(e, &f->heap[0], &prio, &id);
    return prio == INT64_MAX;
}

static bool wants_more(const engine *e, const feeder *f)
{
    return f->queued < f->target || top_cancelled(e, f);
}

static int feed_set(engine *e, int set)
{
    feeder *f = &e->feed[set];
    int rc = 0;
    if (f->dirty)
        heapify(e, f);
    while (rc == 0 && f->n && wants_more(e, f)) {
        rc = feed_one(e, f);
        if (f->dirty)
            heapify(e, f);
    }
    return rc;
}

int rn_eng_feed(engine *e, int set)
{
    int rc = 0;
    if (e->feeding || !e->feed)
        return 0;
    e->feeding = true;
    for (int i = 0; i < e->spec->nworkersets; i++)
        if ((set < 0 || i == set) && rc == 0)
            rc = feed_set(e, i);
    e->feeding = false;
    if (rc < 0 && !e->feed_rc)
        e->feed_rc = rc;
    return rc;
}

/* ---- steps and `ptrun ctl` ---- */

/* Workers of set `set` on every rank. */
/* How many tasks set `set` keeps queued: FEED_PER_WORKER for each of
 * its workers here, FEED_PER_REMOTE for each one of another rank (MPI:
 * ranks take tasks in batches sized by their rate and the round trip). */
static int64_t feed_target(const engine *e, int set)
{
    int64_t n = 0;
    for (int r = 0; r < e->plan.nranks; r++)
        n += (e->plan.workers ? e->plan.workers[r * e->spec->nworkersets + set]
                              : e->spec->workersets[set].workers) *
             (r == 0 ? FEED_PER_WORKER : FEED_PER_REMOTE);
    return n;
}

int rn_eng_feed_init(engine *e)
{
    int nsets = e->spec->nworkersets;
    e->tflags = calloc((size_t)e->plan.ntasks + 1, 1);
    e->eruns = calloc((size_t)e->plan.nentries + 1, sizeof *e->eruns);
    e->feed = calloc((size_t)nsets + 1, sizeof *e->feed);
    if (!e->tflags || !e->eruns || !e->feed || rn_eng_live_init(e) < 0)
        return -ENOMEM;
    for (int i = 0; i < e->plan.nentries; i++) {
        e->eruns[i].next = e->plan.entries[i].first;
        e->eruns[i].prio = e->plan.entries[i].def->priority;
    }
    for (int i = 0; i < nsets; i++) {
        int64_t t = feed_target(e, i);
        e->feed[i].target = t < FEED_MIN   ? FEED_MIN
                            : t > FEED_MAX ? FEED_MAX
                                           : t;
    }
    return 0;
}

void rn_eng_feed_free(engine *e)
{
    rn_eng_live_free(e);
    for (int i = 0; e->feed && i < e->spec->nworkersets; i++)
        free(e->feed[i].heap);
    free(e->feed);
    free(e->eruns);
    free(e->tflags);
}

/* How many tasks of entry i will run (not ok before). */
static int64_t to_run(const engine *e, int i)
{
    const rn_pentry *en = &e->plan.entries[i];
    int64_t n = en->n;
    for (int64_t id = en->first; e->skipped && id < en->first + en->n; id++)
        n -= (e->tflags[id] & TF_SKIP) != 0;
    return n;
}

/* Queue every task of entry i left to feed now: pinned ones (on:,
 * each_worker) wait in their worker's own queue, where the set orders
 * them, so none is held back (entries of pinned tasks are small). */
static int feed_whole(engine *e, int i)
{
    erun *r = &e->eruns[i];
    int64_t end = e->plan.entries[i].first + e->plan.entries[i].n;
    int rc = 0;
    for (skip_taken(e, r, end); rc == 0 && r->next < end; skip_taken(e, r, end))
        rc = submit_id(e, r->next++);
    return rc;
}

/* The tasks of step `step` that `ptrun ctl` changed before it began:
 * pinned ones queued now, the others in their set's feed. */
static int feed_changed_alone(engine *e, int step)
{
    int64_t *ids = malloc((e->live.n + 1) * sizeof *ids);
    size_t n = 0;
    int rc = ids ? 0 : -ENOMEM;
    int64_t at = -1;
    for (const tstate *s; ids && (s = rn_eng_live_next(e, &at));)
        if (!s->live && s->t.step == step)
            ids[n++] = s->t.id;
    for (size_t i = 0; rc == 0 && i < n; i++) { /* the map changes here */
        const tstate *s = rn_eng_live(e, ids[i]);
        if (s && s->t.on >= 0)
            rc = submit_id(e, ids[i]);
        else if (s)
            rc = push(e, &e->feed[s->t.workerset],
                      (feed_item){.id = ids[i], .entry = s->entry});
    }
    free(ids);
    return rc;
}

int rn_eng_feed_step(engine *e, int step, int64_t *total)
{
    int rc = 0;
    *total = 0;
    e->feeding = true; /* no refill (by a cancelled one) from a half heap */
    for (int i = e->plan.step_entry[step]; i < e->plan.step_entry[step + 1];
         i++) {
        const rn_pentry *en = &e->plan.entries[i];
        int64_t n = to_run(e, i);
        *total += n;
        e->feed[en->def->workerset].unfed += n;
        e->eruns[i].next = en->first;
    }
    for (int i = e->plan.step_entry[step];
         rc == 0 && i < e->plan.step_entry[step + 1]; i++) {
        const rn_pentry *en = &e->plan.entries[i];
        erun *r = &e->eruns[i];
        skip_taken(e, r, en->first + en->n);
        if (en->def->on >= 0 || en->def->each_worker)
            rc = feed_whole(e, i);
        else if (r->next < en->first + en->n)
            rc = push(e, &e->feed[en->def->workerset],
                      (feed_item){.id = -1, .entry = i});
    }
    if (rc == 0)
        rc = feed_changed_alone(e, step);
    e->feeding = false;
    return rc;
}

int rn_eng_feed_alone(engine *e, int64_t id)
{
    const tstate *s = rn_eng_live(e, id);
    if (!s || s->t.step != e->step)
        return 0; /* a later step's: fed when its step begins */
    feeder *f = &e->feed[s->t.workerset];
    f->dirty = true;
    return push(e, f, (feed_item){.id = id, .entry = s->entry});
}

void rn_eng_refed(engine *e, tstate *s)
{
    s->quiet = true;
    s->attempts--;
    if (rn_eng_feed_alone(e, s->t.id) < 0) /* no memory: queue it again */
        rn_eng_submit(e, s, s->queued_ns);
}

/* Take back the tasks set f queued that are now worse than its feed's
 * best: they go back to the feed (rn_eng_refed, through on_done). */
static void take_back_worse(engine *e, int set)
{
    feeder *f = &e->feed[set];
    if (!f->n)
        return;
    int64_t at = -1;
    for (tstate *s; (s = rn_eng_live_next(e, &at));) {
        if (s->t.workerset != set || s->t.on >= 0 || !s->req || s->sent ||
            pt_request_state_of(s->req) != PT_REQ_WAITING)
            continue;
        feed_item mine = {.id = s->t.id, .entry = s->entry};
        if (!better(e, &f->heap[0], &mine) ||
            pt_request_withdraw(e->sets[set], s->req) < 0)
            continue;
        s->refeed = true;
        pt_request_complete(e->sets[set], s->req,
                            pt_reply_create((uint64_t)s->t.id,
                                            PT_TASK_CANCELLED, -1, "taken back",
                                            NULL, 0));
    }
}

void rn_eng_rebalance(engine *e)
{
    for (int i = 0; e->feed && i < e->spec->nworkersets; i++) {
        feeder *f = &e->feed[i];
        if (f->dirty)
            heapify(e, f);
        /* a single task now best can join the queue at once */
        while (f->n && f->heap[0].id >= 0 && !top_cancelled(e, f) &&
               !e->feeding) {
            int64_t id = f->heap[0].id;
            pop(e, f);
            if (alone_pending(e, id) && submit_id(e, id) < 0)
                break;
        }
        if (f->check_q)
            take_back_worse(e, i);
        f->check_q = false;
    }
    rn_eng_feed(e, -1);
}
