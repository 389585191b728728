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

#define FEED_PER_WORKER 8192 /* a few of the largest batches (4096) */
#define FEED_MIN 1024
#define FEED_MAX (1 << 17) /* wide sets: ~30 MB of queued tasks at most */

/* ---- live tasks by id ---- */

/* Fibonacci hashing: the top bits of id * 2^64 / phi. */
static size_t slot_of(const tmap *m, int64_t id)
{
    return (size_t)(((uint64_t)id * UINT64_C(0x9e3779b97f4a7c15)) >> m->shift);
}

tstate *rn_eng_live(const engine *e, int64_t id)
{
    const tmap *m = &e->live;
    if (!m->n)
        return NULL;
    for (size_t i = slot_of(m, id);; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == id)
            return m->vals[i];
        if (m->keys[i] < 0)
            return NULL;
    }
}

static void put(tmap *m, int64_t id, tstate *s)
{
    size_t i = slot_of(m, id);
    while (m->keys[i] >= 0)
        i = (i + 1) & (m->cap - 1);
    m->keys[i] = id;
    m->vals[i] = s;
    m->n++;
}

/* Twice the room when it is half full: 0 or -ENOMEM. */
static int grow(tmap *m)
{
    if (2 * (m->n + 1) <= m->cap)
        return 0;
    tmap b = {.cap = m->cap ? 2 * m->cap : 1024,
              .shift = m->cap ? m->shift - 1 : 64 - 10};
    b.keys = malloc(b.cap * sizeof *b.keys);
    b.vals = malloc(b.cap * sizeof *b.vals);
    if (!b.keys || !b.vals) {
        free(b.keys);
        free(b.vals);
        return -ENOMEM;
    }
    memset(b.keys, 0xff, b.cap * sizeof *b.keys); /* all -1 */
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i] >= 0)
            put(&b, m->keys[i], m->vals[i]);
    free(m->keys);
    free(m->vals);
    *m = b;
    return 0;
}

/* Remove `id`, shifting back the run of keys after it (no tombstones). */
static void del(tmap *m, int64_t id)
{
    size_t i = slot_of(m, id), mask = m->cap - 1;
    while (m->keys[i] != id)
        i = (i + 1) & mask;
    for (size_t j = (i + 1) & mask; m->keys[j] >= 0; j = (j + 1) & mask) {
        size_t home = slot_of(m, m->keys[j]);
        if (((j - home) & mask) >= ((j - i) & mask)) { /* may move to i */
            m->keys[i] = m->keys[j];
            m->vals[i] = m->vals[j];
            i = j;
        }
    }
    m->keys[i] = -1;
    m->n--;
}

tstate *rn_eng_track(engine *e, int64_t id)
{
    tstate *s = e->spare;
    if (s)
        e->spare = s->next_spare;
    else if (!(s = malloc(sizeof *s)))
        return NULL;
    memset(s, 0, sizeof *s);
    if (grow(&e->live) < 0) {
        free(s);
        return NULL;
    }
    rn_plan_task(&e->plan, id, &s->t);
    s->entry = rn_plan_entry_of(&e->plan, id);
    s->worker = -1;
    put(&e->live, id, s);
    return s;
}

void rn_eng_untrack(engine *e, tstate *s)
{
    del(&e->live, s->t.id);
    pt_args_destroy(s->t.args);
    free(s->history);
    s->next_spare = e->spare; /* the next task's: no malloc per task */
    e->spare = s;
}

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

/* Move entry r's cursor past the tasks that are not its to feed: ok
 * before, or already materialised or changed on their own. */
static void skip_taken(const engine *e, erun *r, int64_t end)
{
    while (r->next < end &&
           (e->tflags[r->next] & (TF_SKIP | TF_FED | TF_ALONE)))
        r->next++;
}

/* Make task `id` a live tstate with its args: NULL on ENOMEM. */
static tstate *materialise(engine *e, int64_t id)
{
    tstate *s = rn_eng_live(e, id);
    if (!s && !(s = rn_eng_track(e, id)))
        return NULL;
    if (!s->t.args && rn_plan_args(&e->plan, &s->t) < 0)
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

/* Feed set f's best item: 0 or -errno. */
static int feed_one(engine *e, feeder *f)
{
    feed_item *top = &f->heap[0];
    if (top->id >= 0) {
        int64_t id = top->id;
        pop(e, f);
        return alone_pending(e, id) ? submit_id(e, id) : 0;
    }
    erun *r = &e->eruns[top->entry];
    const rn_pentry *en = &e->plan.entries[top->entry];
    int64_t end = en->first + en->n;
    skip_taken(e, r, end); /* `ptrun ctl` may have taken its next */
    int64_t id = r->next < end ? r->next++ : -1;
    skip_taken(e, r, end);
    if (r->next >= end)
        pop(e, f);
    else
        sift_down(e, f, 0); /* its key can only be worse now */
    return id >= 0 ? submit_id(e, id) : 0;
}

static bool top_cancelled(const engine *e, const feeder *f)
{
    int64_t prio, id;
    key_of(e, &f->heap[0], &prio, &id);
    return prio == INT64_MAX;
}

static int feed_set(engine *e, int set)
{
    feeder *f = &e->feed[set];
    int rc = 0;
    if (f->dirty)
        heapify(e, f);
    while (rc == 0 && f->n && (f->queued < f->target || top_cancelled(e, f)))
        rc = feed_one(e, f);
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
static int64_t set_workers(const engine *e, int set)
{
    int64_t n = 0;
    for (int r = 0; r < e->plan.nranks; r++)
        n += e->plan.workers ? e->plan.workers[r * e->spec->nworkersets + set]
                             : e->spec->workersets[set].workers;
    return n;
}

int rn_eng_feed_init(engine *e)
{
    int nsets = e->spec->nworkersets;
    e->tflags = calloc((size_t)e->plan.ntasks + 1, 1);
    e->eruns = calloc((size_t)e->plan.nentries + 1, sizeof *e->eruns);
    e->feed = calloc((size_t)nsets + 1, sizeof *e->feed);
    if (!e->tflags || !e->eruns || !e->feed || grow(&e->live) < 0)
        return -ENOMEM;
    for (int i = 0; i < e->plan.nentries; i++) {
        e->eruns[i].next = e->plan.entries[i].first;
        e->eruns[i].prio = e->plan.entries[i].def->priority;
    }
    for (int i = 0; i < nsets; i++) {
        int64_t t = FEED_PER_WORKER * set_workers(e, i);
        e->feed[i].target = t < FEED_MIN   ? FEED_MIN
                            : t > FEED_MAX ? FEED_MAX
                                           : t;
    }
    return 0;
}

void rn_eng_feed_free(engine *e)
{
    for (size_t i = 0; i < e->live.cap; i++)
        if (e->live.keys[i] >= 0) {
            tstate *s = e->live.vals[i];
            pt_args_destroy(s->t.args);
            free(s->history);
            free(s);
        }
    free(e->live.keys);
    free(e->live.vals);
    while (e->spare) {
        tstate *s = e->spare;
        e->spare = s->next_spare;
        free(s);
    }
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
    for (size_t i = 0; ids && i < e->live.cap; i++) {
        const tstate *s = e->live.keys[i] >= 0 ? e->live.vals[i] : NULL;
        if (s && !s->live && s->t.step == step)
            ids[n++] = s->t.id;
    }
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
    for (size_t i = 0; i < e->live.cap; i++) {
        tstate *s = e->live.keys[i] >= 0 ? e->live.vals[i] : NULL;
        if (!s || s->t.workerset != set || s->t.on >= 0 || !s->req || s->sent ||
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
