/* worker.c - the loop a worker process runs (see worker.h). */
#define _GNU_SOURCE /* __fpending */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio_ext.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ptools/kernel_lib.h>
#include <ptools/workerset.h>

#include "ctx.h"
#include "internal.h"
#include "snapshot.h"
#include "wire.h"
#include "worker.h"

/* Answer batching (see worker.h). */
#define LARGE_ANSWER ((size_t)64 << 10) /* written alone, never copied */
#define OUTQ_MAX ((size_t)256 << 10)    /* queued answers written at */
#define OUTQ_WAIT_NS INT64_C(1000000)   /* the oldest may wait 1 ms */
#define LONG_TASK_NS INT64_C(100000)    /* a 100 us task answers at once */

/* A kernel this worker has met: loaded, initialised or broken. */
typedef struct loaded {
    struct loaded *next;
    const pt_kernel *k;
    pt_kernel_lib *lib; /* owned when loaded by index */
    int index;          /* kernel index, or -1 for a linked-in kernel */
    int inited;         /* init ran and returned 0 (or there is none) */
    char *error;        /* why it cannot run here, once known */
} loaded;

typedef struct worker {
    const pt__worker_boot *boot;
    pt__worker_env env;
    loaded *kernels;
    pt_buf results, reply;
    pt_buf outq;              /* answers not yet written */
    int64_t outq_since;       /* when the oldest of them was ready */
    int64_t start_ns, end_ns; /* the current task's run */
    uint8_t *shm;             /* the result buffer, mapped; or NULL */
    size_t shm_size;   /* bytes mapped (the memfd holds at least these) */
    uint64_t shm_sent; /* RESULT_SHM frames sent */
    pt__snap snap;     /* checkpoints (snapshot.c) */
} worker;

static loaded *remember(worker *w, const pt_kernel *k, pt_kernel_lib *lib,
                        int index, const char *error)
{
    loaded *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    *l = (loaded){w->kernels, k, lib, index, 0, error ? strdup(error) : NULL};
    w->kernels = l;
    return l;
}

/* Load kernel `index` of the set's table (dlopen on first use). */
static loaded *load_indexed(worker *w, uint32_t index)
{
    for (loaded *l = w->kernels; l; l = l->next)
        if (l->index == (int)index)
            return l;
    if (index >= (uint32_t)w->boot->nkernels)
        return remember(w, NULL, NULL, (int)index, "no such kernel index");
    const pt_kernel_ref *ref = &w->boot->kernels[index];
    pt_kernel_lib *lib = pt_kernel_lib_open(ref->path);
    const pt_kernel *k = NULL;
    if (lib)
        k = pt_kernel_lib_find(lib, ref->symbol ? ref->symbol : ref->name);
    if (!k) {
        loaded *l = remember(w, NULL, NULL, (int)index, pt_errmsg());
        pt_kernel_lib_close(lib);
        return l;
    }
    return remember(w, k, lib, (int)index, NULL);
}

static loaded *load_linked(worker *w, const pt_kernel *k)
{
    for (loaded *l = w->kernels; l; l = l->next)
        if (l->k == k && l->index < 0)
            return l;
    if (k->abi < 1 || k->abi > PT_KERNEL_ABI || !k->call)
        return remember(w, NULL, NULL, -1,
                        "kernel has a wrong ABI or no "
                        "call function");
    return remember(w, k, NULL, -1, NULL);
}

/* Run init once; after a failure the kernel stays broken in this worker. */
static void ensure_init(worker *w, loaded *l)
{
    if (l->inited || l->error || !l->k->init) {
        l->inited = l->inited || (!l->error && !l->k->init);
        return;
    }
    pt_ctx c;
    pt__ctx_begin(&c, &w->env, NULL, 0, NULL);
    int rc = l->k->init(&c);
    if (rc != 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "kernel '%s': init failed%s%s (code %d)",
                 l->k->name, c.error ? ": " : "", c.error ? c.error : "", rc);
        l->error = strdup(msg);
    } else {
        l->inited = 1;
    }
    pt__ctx_clear(&c);
}

/* Write the answers waiting in w->outq. */
static int flush_answers(worker *w)
{
    int rc = pt__wire_write_buf(w->boot->out_fd, &w->outq);
    pt_buf_reset(&w->outq);
    return rc;
}

/*
 * Queue (or, when large, write at once) one answer frame: `head`, then
 * `body`. An answer must not wait behind a large one, nor a large one be
 * copied into the queue.
 */
static int answer(worker *w, int type, uint64_t id, const void *head,
                  size_t hlen, const void *body, size_t blen)
{
    if (hlen + blen <= LARGE_ANSWER) {
        if (w->outq.len == 0)
            w->outq_since = w->end_ns;
        return pt__wire_append(&w->outq, type, id, head, hlen, body, blen);
    }
    int rc = flush_answers(w);
    return rc < 0 ? rc
                  : pt__wire_write2(w->boot->out_fd, type, id, head, hlen, body,
                                    blen);
}

/* ERROR frame: head, message + NUL, padding, the results map. */
static int send_error(worker *w, uint64_t id, const char *msg)
{
    size_t n = strlen(msg);
    pt__err_head h = {(uint32_t)n, 0, w->start_ns, w->end_ns};
    h.results_off = (uint32_t)((sizeof h + n + 1 + 7) / 8 * 8);
    static const uint8_t zeros[8];
    pt_buf *b = &w->reply;
    pt_buf_reset(b);
    int rc = pt_buf_append(b, &h, sizeof h);
    if (rc == 0)
        rc = pt_buf_append(b, msg, n + 1);
    if (rc == 0)
        rc = pt_buf_append(b, zeros, h.results_off - b->len);
    if (rc < 0)
        return rc;
    if (w->results.len)
        return answer(w, PT__WIRE_ERROR, id, b->data, b->len, w->results.data,
                      w->results.len);
    return answer(w, PT__WIRE_ERROR, id, b->data, b->len, pt__empty_map,
                  PT__EMPTY_MAP_LEN);
}

/* Wait until the parent has copied out every result we placed (see
 * worker.h): a few checks, then naps of 10 us growing to 200 us. */
static void wait_released(worker *w)
{
    _Atomic uint64_t *released = &w->boot->beacon->released;
    long nap_ns = 10000;
    for (int spins = 0;
         atomic_load_explicit(released, memory_order_acquire) != w->shm_sent;
         spins++) {
        if (spins < 64)
            continue;
        struct timespec ts = {0, nap_ns};
        nanosleep(&ts, NULL); /* EINTR: just look again */
        nap_ns = nap_ns < 100000 ? nap_ns * 2 : 200000;
    }
}

/*
 * Make the result buffer hold at least `n` bytes: grow the memfd (by at
 * least doubling; it never shrinks) and map it anew. 0 or -errno.
 */
static int shm_reserve(worker *w, size_t n)
{
    if (n <= w->shm_size)
        return 0;
    struct stat st;
    if (fstat(w->boot->shm_fd, &st) < 0)
        return -errno;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t size = w->shm_size > n / 2 ? 2 * w->shm_size : n;
    size = (size + page - 1) / page * page;
    if (w->shm) /* first, so that the old and new never count together */
        munmap(w->shm, w->shm_size);
    w->shm = NULL;
    w->shm_size = 0;
    if ((uint64_t)st.st_size > size) /* it is sealed against shrinking */
        size = (size_t)st.st_size;
    int rc = pt_sys_ftruncate(w->boot->shm_fd, (off_t)size);
    if (rc < 0)
        return rc;
    void *p = pt_sys_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
                          w->boot->shm_fd, 0);
    if (p == MAP_FAILED)
        return -errno;
    w->shm = p;
    w->shm_size = size;
    return 0;
}

/*
 * A large result goes through the shared buffer (see worker.h). If the
 * buffer cannot grow (the memory limit, say), the task fails with why.
 */
static int send_result_shm(worker *w, uint64_t id)
{
    size_t len = w->results.len;
    int rc = flush_answers(w);
    if (rc < 0)
        return rc;
    wait_released(w);
    if ((rc = shm_reserve(w, len)) < 0) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "no room for a result of %zu bytes in "
                 "shared memory: %s",
                 len, pt_strerror(rc));
        pt_buf_reset(&w->results);
        return send_error(w, id, msg);
    }
    memcpy(w->shm, w->results.data, len);
    pt__res_shm h = {w->start_ns, w->end_ns, len};
    rc = pt__wire_write(w->boot->out_fd, PT__WIRE_RESULT_SHM, id, &h, sizeof h);
    if (rc == 0)
        w->shm_sent++;
    return rc;
}

static int send_result(worker *w, uint64_t id)
{
    if (w->results.len > PT__SHM_THRESHOLD && w->boot->shm_fd >= 0 &&
        w->boot->beacon)
        return send_result_shm(w, id);
    pt__res_head h = {w->start_ns, w->end_ns};
    return answer(w, PT__WIRE_RESULT, id, &h, sizeof h, w->results.data,
                  w->results.len);
}

/* Find what a task calls: a kernel (initialised) or a plain function. */
static const char *resolve(worker *w, const pt__task_head *h,
                           const pt_kernel **k, pt_call_fn *fn)
{
    *k = NULL;
    *fn = NULL;
    if (h->kind == PT__CALLEE_FN) {
        *fn = (pt_call_fn)(uintptr_t)h->ptr;
        return NULL;
    }
    loaded *l = NULL;
    if (h->kind == PT__CALLEE_INDEX)
        l = load_indexed(w, h->kernel_index);
    else if (h->kind == PT__CALLEE_KOBJ)
        l = load_linked(w, (const pt_kernel *)(uintptr_t)h->ptr);
    else
        return "unknown callee kind";
    if (!l)
        return "out of memory";
    ensure_init(w, l);
    *k = l->k;
    return l->error;
}

/* Post in the beacon that task `id` starts (or, busy 0, that none runs). */
static void post(worker *w, uint64_t id, int busy)
{
    pt__beacon *b = w->boot->beacon;
    if (!b)
        return;
    if (busy) {
        atomic_store_explicit(&b->task, id, memory_order_relaxed);
        atomic_store_explicit(&b->since_ns, w->start_ns, memory_order_relaxed);
    }
    atomic_store_explicit(&b->busy, (uint32_t)busy, memory_order_release);
}

/* Did the task leave output in stdio's buffers? (No syscall.) */
static int printed(void)
{
    return __fpending(stdout) > 0 || __fpending(stderr) > 0;
}

/* For a restore (snapshot.c): the set's kernel `name` of library `path`,
 * loaded and initialised. */
static const pt_kernel *load_named(void *arg, const char *path,
                                   const char *name, const char **why)
{
    worker *w = arg;
    *why = "it is not one of the worker set's kernels";
    for (int i = 0; i < w->boot->nkernels; i++) {
        const pt_kernel_ref *r = &w->boot->kernels[i];
        if (strcmp(r->path, path) != 0 ||
            strcmp(r->symbol ? r->symbol : r->name, name) != 0)
            continue;
        loaded *l = load_indexed(w, (uint32_t)i);
        if (l)
            ensure_init(w, l);
        *why = l ? l->error : "out of memory";
        return l && !l->error ? l->k : NULL;
    }
    return NULL;
}

/* A snapshot of every kernel here with a save, when one is due: NULL, or
 * why it failed. */
static const char *checkpoint(worker *w, bool force)
{
    if (!pt__snap_due(&w->snap, force))
        return NULL;
    int n = 0;
    for (loaded *l = w->kernels; l; l = l->next)
        n++;
    pt__snap_kernel *ks = calloc((size_t)n + 1, sizeof *ks);
    if (!ks)
        return "checkpoint: out of memory";
    n = 0;
    for (loaded *l = w->kernels; l; l = l->next) {
        int seen = 0; /* two names for one kernel: one section */
        for (int i = 0; i < n; i++)
            seen |= ks[i].k == l->k;
        if (l->inited && l->k && l->index >= 0 && pt_kernel_save(l->k) && !seen)
            ks[n++] = (pt__snap_kernel){l->k, w->boot->kernels[l->index].path};
    }
    const char *why = pt__snap_take(&w->snap, &w->env, ks, n);
    free(ks);
    return why;
}

/*
 * Run one task and answer it. A failed write means the parent is gone.
 * `more`: another task is already read, so the answer may wait for it.
 */
static int run_task(worker *w, uint64_t id, const uint8_t *p, size_t len,
                    int more)
{
    pt__task_head h;
    if (len < sizeof h)
        return -EBADMSG;
    memcpy(&h, p, sizeof h);
    if (h.args_len > len - sizeof h)
        return -EBADMSG;
    post(w, id, 1); /* w->start_ns: claim() took it */
    const pt_kernel *k = NULL;
    pt_call_fn fn = NULL;
    const char *why = pt__snap_restore(&w->snap, &w->env, load_named, w);
    if (!why)
        why = resolve(w, &h, &k, &fn);
    pt_buf_reset(&w->results);
    int sent, out = 0;
    pt_ctx c;
    if (why) {
        w->end_ns = pt_sys_mono_ns();
        sent = send_error(w, id, why);
    } else if (pt__ctx_begin(&c, &w->env, h.args_len ? p + sizeof h : NULL,
                             h.args_len, &w->results) < 0) {
        w->end_ns = pt_sys_mono_ns();
        sent = send_error(w, id, "the task's arguments are malformed");
    } else {
        c.task_id = id;
        c.seed = h.seed;
        c.step = h.step;
        int rc = k ? k->call(&c) : fn(&c);
        w->end_ns = pt_sys_mono_ns();
        out = printed(); /* stdio's buffers hold what it printed */
        if (out) {       /* it reaches the parent before the reply */
            fflush(stdout);
            fflush(stderr);
        }
        int end = pt__ctx_end(&c);
        char msg[256];
        const char *err = c.error;
        if (!err && rc != 0) {
            snprintf(msg, sizeof msg, "kernel returned %d", rc);
            err = msg;
        } else if (!err && end < 0) { /* a copy: checkpoint() may err */
            snprintf(msg, sizeof msg, "%s", pt_errmsg());
            err = msg;
        }
        const char *ck = checkpoint(w, false);
        if (!err) /* a failed snapshot is said with this task's answer */
            err = ck;
        sent = err ? send_error(w, id, err) : send_result(w, id);
        pt__ctx_clear(&c);
    }
    post(w, id, 0);
    /* Answer now unless it is cheap to wait: a long task's answer (or one
     * after output, whose lines must stay next to it) goes at once. An
     * answer held is lost should the worker die, and its task runs again:
     * only short tasks are held, and not past OUTQ_WAIT_NS. */
    if (sent == 0 && w->outq.len &&
        (!more || out || w->end_ns - w->start_ns >= LONG_TASK_NS ||
         w->outq.len >= OUTQ_MAX || w->end_ns - w->outq_since >= OUTQ_WAIT_NS))
        sent = flush_answers(w);
    return sent;
}

static void run_finis(worker *w)
{
    for (loaded *l = w->kernels; l; l = l->next) {
        if (l->inited && l->k && l->k->fini) {
            pt_ctx c;
            pt__ctx_begin(&c, &w->env, NULL, 0, NULL);
            l->k->fini(&c);
            pt__ctx_clear(&c);
        }
    }
}

static void free_all(worker *w)
{
    while (w->kernels) {
        loaded *l = w->kernels;
        w->kernels = l->next;
        pt_kernel_lib_close(l->lib);
        free(l->error);
        free(l);
    }
    pt__state_free_all(&w->env);
    pt_buf_free(&w->results);
    pt_buf_free(&w->reply);
    pt_buf_free(&w->outq);
    if (w->shm)
        munmap(w->shm, w->shm_size);
}

/* While the parent takes many requests back (a request raised above
 * them: worker.h), claim none: wait, briefly. */
static void wait_unpaused(const worker *w)
{
    while (w->boot->pause &&
           atomic_load_explicit(w->boot->pause, memory_order_acquire))
        sched_yield();
}

/* Wait while paused; then, if `word` still says `want` (the request is
 * there to claim), take the start time: a claim made after a pause started
 * then, not before it. A request another worker claimed, or the parent
 * took back, costs no clock read (with requests posted to all, most a
 * worker reads are another's). */
static bool ready_to_claim(worker *w, _Atomic uint64_t *word, uint64_t want)
{
    wait_unpaused(w);
    if (atomic_load_explicit(word, memory_order_relaxed) != want)
        return false;
    w->start_ns = pt_sys_mono_ns();
    return true;
}

/* Claim a request posted to all workers (worker.h): 1 when this one won
 * it, 0 when another worker did or the parent took it back. */
static int claim_all(worker *w, uint64_t c)
{
    size_t i = c % PT__ALL_RING;
    _Atomic uint64_t *word = &w->boot->all_ring[i];
    uint64_t want = pt__claim_word_by(c, 0, PT__CLAIM_SENT);
    if (!ready_to_claim(w, word, want))
        return 0; /* another's, or taken back */
    atomic_store_explicit(&w->boot->all_starts[i], w->start_ns,
                          memory_order_relaxed);
    return atomic_compare_exchange_strong_explicit(
        word, &want,
        pt__claim_word_by(c, (unsigned)w->boot->index, PT__CLAIM_RUN),
        memory_order_acq_rel, memory_order_acquire);
}

/*
 * Claim the request in TASK payload p before running it (see worker.h):
 * 1 to run it, 0 when the parent took it back (skip it, no answer). A
 * payload too short for its head runs, and fails as malformed. Its start
 * time (w->start_ns) is taken just before the claim (after any pause) and
 * posted beside its claim word, so that the parent, seeing the claim,
 * knows when it started.
 */
static int claim(worker *w, const uint8_t *p, size_t len)
{
    pt__task_head h;
    if (len >= sizeof h)
        memcpy(&h, p, sizeof h);
    if (len < sizeof h || !w->boot->ring || h.claim == 0) {
        w->start_ns = pt_sys_mono_ns(); /* nothing to claim: it runs */
        return 1;
    }
    if (h.claim & PT__CLAIM_ALL)
        return claim_all(w, h.claim & ~PT__CLAIM_ALL);
    size_t i = h.claim % PT__RING;
    uint64_t want = pt__claim_word(h.claim, PT__CLAIM_SENT);
    if (!ready_to_claim(w, &w->boot->ring[i], want))
        return 0; /* taken back: its time word is not ours to write */
    if (w->boot->starts)
        atomic_store_explicit(&w->boot->starts[i], w->start_ns,
                              memory_order_relaxed);
    return atomic_compare_exchange_strong_explicit(
        &w->boot->ring[i], &want, pt__claim_word(h.claim, PT__CLAIM_RUN),
        memory_order_acq_rel, memory_order_acquire);
}

static void on_sigpipe(int sig)
{
    (void)sig; /* the write that raised it fails with EPIPE */
}

void pt__worker_main(const pt__worker_boot *boot)
{
    /* A reader gone is the parent gone: EPIPE, then exit. A handler, not
     * SIG_IGN, so that programs a kernel execs get the default back. */
    struct sigaction sa = {.sa_handler = on_sigpipe};
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGPIPE, &sa, NULL) == 0)
        pt_sys_sigpipe_harmless(true);
    worker w = {.boot = boot};
    w.env = (pt__worker_env){.index = boot->index,
                             .count = boot->count,
                             .shm = boot->shm,
                             .nshm = boot->nshm};
    if (pt__snap_init(&w.snap, boot->checkpoint_prefix, boot->index,
                      boot->checkpoint_ms) < 0)
        pt_sys_exit(2);
    for (int i = 0; i < boot->npreload; i++) /* while the parent goes on */
        load_indexed(&w, (uint32_t)boot->preload[i]); /* errors: at use */
    pt__wire_reader rd;
    pt__wire_reader_init(&rd, 0);
    int status = 0;
    for (;;) {
        const uint8_t *p;
        pt__wire_hdr hdr;
        int rc;
        while ((rc = pt__wire_reader_next(&rd, &hdr, &p)) == 1) {
            int more = pt__wire_reader_pending(&rd) > 0;
            if (hdr.type != PT__WIRE_TASK)
                rc = -EPROTO;
            else if (claim(&w, p, hdr.len) &&
                     run_task(&w, hdr.task_id, p, hdr.len, more) < 0)
                rc = -EPROTO;
            if (rc < 0)
                break;
        }
        /* a broken pipe or protocol: leave at once */
        if (rc < 0 || flush_answers(&w) < 0) {
            status = 2;
            break;
        }
        ssize_t n = pt__wire_reader_fill(&rd, boot->in_fd);
        if (n == 0) { /* the parent closed our input: a clean end */
            status = pt__wire_reader_eof(&rd) < 0 ? 2 : 0;
            break;
        }
        if (n < 0) {
            status = 2;
            break;
        }
    }
    if (status == 0) {
        checkpoint(&w, true); /* the last tasks' state, when a set ends */
        run_finis(&w);
    }
    fflush(NULL);
    pt_workerset_reap_strays(NULL, 0); /* all it forked, detached or not */
    pt__wire_reader_free(&rd);
    free_all(&w);
    pt__snap_free(&w.snap);
    pt_sys_exit(status);
}
