/*
 * live.c - the tasks the engine holds (tstates), by id (see
 * engine_internal.h).
 *
 * A live task is found by its id in two loads: a page of LIVE_PAGE slots
 * per LIVE_PAGE ids, made when one of its tasks is first tracked and freed
 * when its last is forgotten (one is kept for the next). The tasks fed to the
 * sets are a window of a few thousand ids, so a few pages are live at a time,
 * whatever the plan's size (its directory costs a pointer per LIVE_PAGE tasks).
 * No hashing, no probing, and a walk over the live tasks goes in id order.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_internal.h"
#include "engine/prefault.h"

#define SPARE_ARGS_MAX 65536 /* args kept for reuse (a set's feed or so) */

/*
 * tstates are made in slabs, each twice the last (16 to SLAB_MAX), each
 * mapped in one call (prefault.h): a run holds thousands at once (the
 * tasks fed, and those the workers have done and the runner has not read
 * yet), and their pages faulted one by one were a quarter of a 10^6-task
 * run's page faults. A forgotten one waits in engine.spare for the next
 * task; the slabs go when the run ends.
 */
#define SLAB_FIRST 16
#define SLAB_MAX 1024
typedef struct tslab {
    struct tslab *next;
    tstate s[];
} tslab;

/* A new slab's tstates onto e->spare: false on ENOMEM. */
static bool new_slab(engine *e)
{
    size_t n = e->slab_len ? 2 * e->slab_len : SLAB_FIRST;
    n = n < SLAB_MAX ? n : SLAB_MAX;
    tslab *sl = malloc(sizeof *sl + n * sizeof sl->s[0]);
    if (!sl)
        return false;
    rn_prefault(sl, sizeof *sl + n * sizeof sl->s[0]);
    sl->next = e->slabs;
    e->slabs = sl;
    e->slab_len = n;
    for (size_t i = n; i-- > 0;) {
        sl->s[i].next_spare = e->spare;
        e->spare = &sl->s[i];
    }
    return true;
}

tstate *rn_eng_live(const engine *e, int64_t id)
{
    const tmap *m = &e->live;
    uint64_t p = (uint64_t)id >> LIVE_PAGE_BITS;
    if (id < 0 || p >= m->npages || !m->pages[p])
        return NULL;
    return m->pages[p]->s[id & (LIVE_PAGE - 1)];
}

tstate *rn_eng_live_next(const engine *e, int64_t *at)
{
    const tmap *m = &e->live;
    uint64_t id = (uint64_t)(*at + 1);
    for (uint64_t p = id >> LIVE_PAGE_BITS; m->n && p < m->npages; p++) {
        const tpage *pg = m->pages[p];
        for (uint64_t i = id & (LIVE_PAGE - 1); pg && i < LIVE_PAGE; i++)
            if (pg->s[i]) {
                *at = (int64_t)(p << LIVE_PAGE_BITS | i);
                return pg->s[i];
            }
        id = 0; /* the next page from its start */
    }
    return NULL;
}

int rn_eng_live_init(engine *e)
{
    tmap *m = &e->live;
    size_t n = ((size_t)e->plan.ntasks >> LIVE_PAGE_BITS) + 1;
    if (!(m->pages = calloc(n, sizeof *m->pages)))
        return -ENOMEM;
    m->npages = n;
    return 0;
}

/* A page of slots, every one NULL: mapped, not calloc'ed, so that only
 * the parts that tasks reach are ever touched (a short run's one task: a
 * page fault, not the 8 of calloc's zeroing). NULL on ENOMEM. */
static tpage *page_new(void)
{
    return rn_map(sizeof(tpage));
}

static void page_free(tpage *pg)
{
    if (pg)
        rn_unmap(pg, sizeof(tpage));
}

/* Task `id`'s slot, its page made if need be: NULL on ENOMEM. */
static tstate **slot_for(tmap *m, int64_t id)
{
    uint64_t p = (uint64_t)id >> LIVE_PAGE_BITS;
    if (id < 0 || p >= m->npages)
        return NULL;                /* not a task of the plan */
    if (!m->pages[p] && m->spare) { /* empty: every slot NULL */
        m->pages[p] = m->spare;
        m->spare = NULL;
    }
    if (!m->pages[p] && !(m->pages[p] = page_new()))
        return NULL;
    return &m->pages[p]->s[id & (LIVE_PAGE - 1)];
}

tstate *rn_eng_track(engine *e, int64_t id)
{
    tstate **slot = slot_for(&e->live, id);
    tstate *s = e->spare;
    if (!slot)
        return NULL;
    if (!s && !new_slab(e))
        return NULL;
    s = e->spare;
    e->spare = s->next_spare;
    memset(s, 0, sizeof *s);
    s->entry = rn_plan_entry_of(&e->plan, id);
    rn_plan_task_in(&e->plan, s->entry, id, &s->t);
    s->worker = -1;
    *slot = s;
    e->live.pages[id >> LIVE_PAGE_BITS]->n++;
    e->live.n++;
    return s;
}

/* Keep a task's args for the next one (rn_eng_spare_args), or free them. */
void rn_eng_keep_args(engine *e, pt_args *a)
{
    if (!a)
        return;
    if (e->nspare_args == e->spare_args_cap &&
        e->spare_args_cap < SPARE_ARGS_MAX) {
        size_t cap = e->spare_args_cap ? 2 * e->spare_args_cap : 64;
        pt_args **p = realloc(e->spare_args, cap * sizeof *p);
        if (p) {
            e->spare_args = p;
            e->spare_args_cap = cap;
        }
    }
    if (e->nspare_args < e->spare_args_cap)
        e->spare_args[e->nspare_args++] = a;
    else
        pt_args_destroy(a);
}

pt_args *rn_eng_spare_args(engine *e)
{
    if (!e->nspare_args)
        return NULL;
#if defined(__GNUC__)
    if (e->nspare_args > 1) /* the next task's: its head is cold */
        __builtin_prefetch(e->spare_args[e->nspare_args - 2], 1);
#endif
    return e->spare_args[--e->nspare_args];
}

void rn_eng_untrack(engine *e, tstate *s)
{
    int64_t id = s->t.id;
    tpage **pg = &e->live.pages[id >> LIVE_PAGE_BITS];
    (*pg)->s[id & (LIVE_PAGE - 1)] = NULL;
    e->live.n--;
    if (--(*pg)->n == 0) { /* the window has moved on: kept for the next */
        page_free(e->live.spare);
        e->live.spare = *pg;
        *pg = NULL;
    }
    rn_eng_keep_args(e, s->t.args);
    free(s->history);
    s->next_spare = e->spare; /* the next task's: no malloc per task */
    e->spare = s;
}

void rn_eng_live_free(engine *e)
{
    tmap *m = &e->live;
    for (size_t p = 0; p < m->npages; p++) {
        for (size_t i = 0; m->pages[p] && i < LIVE_PAGE; i++) {
            tstate *s = m->pages[p]->s[i];
            if (s) {
                pt_args_destroy(s->t.args);
                free(s->history);
            }
        }
        page_free(m->pages[p]);
    }
    free(m->pages);
    page_free(m->spare);
    memset(m, 0, sizeof *m);
    e->spare = NULL;
    while (e->slabs) {
        tslab *sl = e->slabs;
        e->slabs = sl->next;
        free(sl);
    }
    e->slab_len = 0;
    while (e->nspare_args)
        pt_args_destroy(e->spare_args[--e->nspare_args]);
    free(e->spare_args);
    e->spare_args = NULL;
    pt_buf_free(&e->args_scratch);
    e->spare_args_cap = 0;
}
