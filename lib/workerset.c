/*
 * workerset.c - forked workers and request dispatch (workerset.h, ws.h):
 * a set's creation, accessors and hooks. The rest is in ws_slot.c (a
 * worker's life), ws_dispatch.c (requests), ws_recv.c (replies),
 * ws_poll.c (the I/O round), ws_shutdown.c, ws_output.c (captured
 * output), ws_remote.c (requests sent elsewhere), ws_future.c (futures);
 * their shared state is ws_impl.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"
#include "ws.h"
#include "ws_impl.h"

#define RR_WINDOW 64

void pt_workerset_kill_all(pt_workerset *ws)
{
    for (int i = 0; i < ws->n; i++)
        if (pt__ws_slot_alive(&ws->slots[i]))
            kill(ws->slots[i].pid, SIGKILL);
}

int pt_workerset_set_timeout(pt_workerset *ws, int64_t ms)
{
    if (ms < 0 || ms > INT64_MAX / 1000000)
        return -EINVAL;
    ws->timeout_ns = ms * 1000000;
    return 0;
}

void pt_workerset_hold(pt_workerset *ws, bool hold)
{
    bool was = ws->hold;
    ws->hold = hold;
    if (hold && !was) /* what was sent ahead starts no more either */
        pt__ws_take_back_all(ws);
}

void pt_workerset_on_worker(pt_workerset *ws, pt_worker_fn fn, void *arg)
{
    ws->on_worker = fn;
    ws->on_worker_arg = arg;
}

void pt_workerset_on_sent(pt_workerset *ws, pt_sent_fn fn, void *arg)
{
    ws->on_sent = fn;
    ws->on_sent_arg = arg;
}

/* ---- creation and shutdown ---- */

/* The kernels to load as each worker starts: valid indices, copied. */
static int copy_preload(pt_workerset *ws, const pt_workerset_opts *o)
{
    if (!o->preload || o->npreload <= 0)
        return 0;
    ws->preload = calloc((size_t)o->npreload, sizeof *ws->preload);
    if (!ws->preload)
        return -ENOMEM;
    for (int i = 0; i < o->npreload; i++)
        if (o->preload[i] >= 0 && o->preload[i] < o->nkernels)
            ws->preload[ws->npreload++] = o->preload[i];
    return 0;
}

static int copy_opts(pt_workerset *ws, const pt_workerset_opts *o)
{
    ws->seed = o->seed;
    ws->output_fn = o->output_fn;
    ws->output_arg = o->output_arg;
    ws->memory_bytes = o->memory_bytes;
    ws->grace_ns = o->grace_ms < 0
                       ? 0
                       : (o->grace_ms ? o->grace_ms : PT_WS_GRACE_MS) * 1000000;
    ws->timeout_ns = o->timeout_ms * 1000000;
    ws->checkpoint_ms = o->checkpoint_ms;
    if (o->checkpoint_ms > 0 && o->checkpoint_prefix &&
        !(ws->checkpoint_prefix = strdup(o->checkpoint_prefix)))
        return -ENOMEM;
    ws->nkernels = o->nkernels;
    ws->nshm = o->nshm;
    ws->kernels = calloc((size_t)o->nkernels + 1, sizeof *ws->kernels);
    ws->shm = calloc((size_t)o->nshm + 1, sizeof *ws->shm);
    if (!ws->kernels || !ws->shm)
        return -ENOMEM;
    for (int i = 0; i < o->nkernels; i++) {
        const pt_kernel_ref *r = &o->kernels[i];
        pt_kernel_ref *c = &ws->kernels[i];
        c->name = strdup(r->name ? r->name : "");
        c->path = strdup(r->path ? r->path : "");
        c->symbol = r->symbol ? strdup(r->symbol) : NULL;
        if (!c->name || !c->path || (r->symbol && !c->symbol))
            return -ENOMEM;
    }
    for (int i = 0; i < o->nshm; i++)
        ws->shm[i] = o->shm[i];
    return copy_preload(ws, o);
}

/* Memory shared with the workers: their beacons, their claim rings, their
 * claims' start times, the start times of claims posted to all, and the
 * set's ring of those (pages touched only as they are used). */
static size_t shared_size(int n)
{
    return (size_t)n * (sizeof(pt__beacon) + 2 * PT__RING * sizeof(uint64_t) +
                        PT__ALL_RING * sizeof(int64_t)) +
           PT__ALL_RING * sizeof(uint64_t) + 64; /* and the pause word */
}

void pt__ws_free(pt_workerset *ws)
{
    for (int i = 0; ws->kernels && i < ws->nkernels; i++) {
        free((char *)ws->kernels[i].name);
        free((char *)ws->kernels[i].path);
        free((char *)ws->kernels[i].symbol);
    }
    for (int i = 0; ws->slots && i < ws->n; i++)
        pt__heap_free(&ws->slots[i].own);
    pt__heap_free(&ws->shared);
    while (ws->free_reqs) {
        pt_request *r = ws->free_reqs;
        ws->free_reqs = r->next;
        free(r);
    }
    pt__reply_pool_free(&ws->replies);
    free(ws->kernels);
    free(ws->preload);
    free(ws->checkpoint_prefix);
    free(ws->shm);
    free(ws->slots);
    free(ws->pfds);
    free(ws->pslot);
    free(ws->ppid);
    if (ws->beacons)
        munmap(ws->beacons, shared_size(ws->n));
    free(ws);
}

static int check_create(int n, pt_ws_mode mode, const pt_workerset_opts *o)
{
    if (n < 1 || n > PT_WS_MAX_WORKERS ||
        (mode != PT_WS_RR && mode != PT_WS_FF) ||
        (o && (o->window < 0 || o->nkernels < 0 || o->nshm < 0 ||
               o->timeout_ms < 0 || o->memory_bytes < 0 || o->batch < 0 ||
               o->checkpoint_ms < 0 || o->start < 0)))
        return pt__err(-EINVAL,
                       "workerset: need 1 <= n <= %d (got %d), mode RR "
                       "or FF, window >= 0",
                       PT_WS_MAX_WORKERS, n);
    int threads = pt_sys_thread_count();
    if (threads > 1)
        return pt__err(-EDEADLK,
                       "workerset: the process has %d threads; "
                       "forking it could deadlock the workers",
                       threads);
    return 0;
}

static int alloc_set(pt_workerset *ws, int n)
{
    ws->slots = calloc((size_t)n, sizeof *ws->slots);
    ws->pfds = calloc(5 * (size_t)n, sizeof *ws->pfds);
    ws->pslot = calloc(5 * (size_t)n, sizeof *ws->pslot);
    ws->ppid = calloc(5 * (size_t)n, sizeof *ws->ppid);
    if (!ws->slots || !ws->pfds || !ws->pslot || !ws->ppid)
        return pt__err(-ENOMEM, "workerset: out of memory");
    size_t len = shared_size(n);
    void *b = pt_sys_mmap(NULL, len, PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (b == MAP_FAILED)
        return pt__err(-errno,
                       "workerset: mmap of the workers' %zu-byte "
                       "beacons: %s",
                       len, strerror(errno));
    ws->beacons = b;
    ws->rings = (_Atomic uint64_t *)(ws->beacons + n);
    ws->starts = (_Atomic int64_t *)(ws->rings + (size_t)n * PT__RING);
    ws->all_starts = ws->starts + (size_t)n * PT__RING;
    ws->all_ring = (_Atomic uint64_t *)(ws->all_starts +
                                        (size_t)n * PT__ALL_RING);
    ws->pause = (_Atomic uint32_t *)(ws->all_ring + PT__ALL_RING);
    for (int i = 0; i < n; i++) {
        ws->slots[i] = (slot){
            .index = i,
            .state = PT__SLOT_DEAD,
            .to_fd = -1,
            .from_fd = -1,
            .pidfd = -1,
            .out_fd = {-1, -1},
            .beacon = &ws->beacons[i],
            .ring = &ws->rings[(size_t)i * PT__RING],
            .starts = &ws->starts[(size_t)i * PT__RING],
            .all_starts = &ws->all_starts[(size_t)i * PT__ALL_RING],
            .shm_fd = -1};
        pt__heap_init(&ws->slots[i].own);
    }
    return 0;
}

pt_workerset *pt_workerset_create(int n, pt_ws_mode mode,
                                  const pt_workerset_opts *opts)
{
    pt_workerset_opts none = {0};
    const pt_workerset_opts *o = opts ? opts : &none;
    int rc = check_create(n, mode, o);
    /* calloc'ed, not mapped, though a mapping would leave its 16 KiB of
     * all_held untouched: a leak checker (LSan) does not look for
     * pointers in mappings, and would call what the set holds leaked in
     * every worker that exits through exit() */
    pt_workerset *ws = rc == 0 ? calloc(1, sizeof *ws) : NULL;
    if (!ws) {
        errno = rc ? -rc : ENOMEM;
        return NULL;
    }
    ws->n = n;
    ws->mode = mode;
    ws->window = o->window ? o->window : mode == PT_WS_FF ? 1 : RR_WINDOW;
    ws->batch_opt = o->batch;
    ws->batch = o->batch ? o->batch : 1;
    ws->next_id = 1;
    pt__heap_init(&ws->shared);
    if ((rc = copy_opts(ws, o)) < 0)
        pt__err(rc, "workerset: %s", pt_strerror(rc));
    else
        rc = alloc_set(ws, n); /* it says what failed */
    if (rc < 0)
        goto fail;
    int start = o->start > 0 && o->start < n ? o->start : n;
    for (int i = 0; i < n && rc == 0; i++)
        if (i < start)
            rc = pt__ws_spawn(ws, &ws->slots[i]);
        else {
            ws->slots[i].unborn = true; /* forked once it has work */
            ws->unborn++;
        }
    if (rc == 0)
        return ws;
    pt_workerset_destroy(ws);
    errno = -rc;
    return NULL;
fail:
    pt__ws_free(ws);
    errno = -rc;
    return NULL;
}

int pt_workerset_size(const pt_workerset *ws)
{
    return ws->n;
}

int pt_workerset_pid(const pt_workerset *ws, int i)
{
    return i >= 0 && i < ws->n ? (int)ws->slots[i].pid : -1;
}

int pt_workerset_restarts(const pt_workerset *ws)
{
    return ws->restarts;
}
