/*
 * workerset.c - forked workers and request dispatch (workerset.h, ws.h).
 * Also: ws_output.c (captured output), ws_remote.c (requests sent
 * elsewhere), ws_future.c (futures); their shared state is ws_impl.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "os.h"
#include "task.h"
#include "wire.h"
#include "worker.h"
#include "ws.h"
#include "ws_impl.h"

#define RR_WINDOW 64
/* Batching: a worker gets up to BATCH_WORK_NS of measured work at once. */
#define BATCH_WORK_NS INT64_C(2000000)
#define BATCH_MAX 4096
#define TERM_GRACE_NS INT64_C(1000000000) /* SIGTERM, then SIGKILL */
/*
 * Answer pipes of 1 MiB take a medium answer (up to PT__SHM_THRESHOLD) in
 * one write: 20-35% faster for answers of 256 KiB to 1 MiB. But Linux
 * counts pipe buffers per user, and past pipe-user-pages-soft (64 MiB by
 * default) an unprivileged user's new pipes get 8 KiB: so at most
 * BIG_PIPES_MAX answer pipes of the process are enlarged at once.
 */
#define ANSWER_PIPE_SIZE (1 << 20)
#define BIG_PIPES_MAX 32
static int big_pipes; /* answer pipes enlarged, alive */

/* ---- worker processes ---- */

/* The new worker's life: its fds are `in`, `out` and `shm` (or -1);
 * never returns. */
static _Noreturn void worker_child(pt_workerset *ws, slot *s, int in, int out,
                                   int shm, pid_t parent, const sigset_t *old)
{
    pt_sys_child_reset_signals(old);
    pt_sys_parent_death_signal(SIGKILL);
    if (getppid() != parent)
        _exit(127);
    setpgid(0, 0); /* its own group: what a kernel forks dies with it */
    pt__os_set_subreaper(); /* and what it detaches comes back to it */
    /* Only stdin, stdout, stderr, its own two pipes and result buffer stay
     * open: nothing of the parent's (other workers' pipes, a runner's
     * signal pipe or result files) can be reached, or held open, by a
     * kernel. */
    int keep[] = {in, out, shm};
    pt_sys_close_all_but(keep, 3);
    if (ws->memory_bytes > 0) { /* an allocation storm kills only us */
        /* The guard pages around segments are address space, not memory:
         * they come on top of the limit. */
        rlim_t as = (rlim_t)ws->memory_bytes + pt__shm_guard_bytes();
        struct rlimit rl = {as, as};
        setrlimit(RLIMIT_AS, &rl);
    }
    pt__worker_boot boot = {
        .index = s->index, .count = ws->n, .in_fd = in, .out_fd = out,
        .shm_fd = shm,
        .kernels = ws->kernels, .nkernels = ws->nkernels,
        .shm = ws->shm, .nshm = ws->nshm, .beacon = s->beacon};
    pt__worker_main(&boot);
}

/* Close both ends of the first n pipes. */
static void close_pipes(int (*p)[2], int n)
{
    for (int i = 0; i < n; i++) {
        pt_sys_close(p[i][0]);
        pt_sys_close(p[i][1]);
    }
}

/* In the new worker: its stdout and stderr become the capture pipes. */
static void child_redirect(int (*p)[2], int npipes)
{
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC); /* never our stdin */
    if (null >= 0 && null != 0) {
        dup2(null, 0);
        close(null);
    }
    for (int i = 2; i < npipes; i++) { /* p[2]: stdout, p[3]: stderr */
        dup2(p[i][1], i - 1);
        close(p[i][0]);
        close(p[i][1]);
    }
    close(p[0][1]);
    close(p[1][0]);
}

/*
 * The new worker's result buffer (see worker.h): a memfd, or -1 where
 * there are none (large results then take the pipe). -errno on failure.
 */
static int make_shm(const slot *s)
{
    int fd = pt__os_memfd("ptools-results");
    if (fd == -ENOSYS || fd == -EINVAL)
        return -1;
    if (fd < 0)
        return pt__err(fd, "worker %d: memfd: %s", s->index,
                       pt_strerror(fd));
    return fd;
}

/*
 * Fork worker s: pipes for requests and replies, and for its stdout and
 * stderr when the set captures output; its result buffer. 0 or -errno.
 */
static int spawn(pt_workerset *ws, slot *s)
{
    int p[4][2], npipes = ws->output_fn ? 4 : 2, made = 0, rc = 0;
    int shm = make_shm(s);
    if (shm < -1)
        return shm;
    while (made < npipes && (rc = pt_sys_pipe(p[made])) == 0)
        made++;
    if (rc < 0) {
        close_pipes(p, made);
        pt_sys_close(shm);
        return pt__err(rc, "worker %d: pipe: %s", s->index, pt_strerror(rc));
    }
    atomic_store(&s->beacon->busy, 0);
    atomic_store(&s->beacon->released, 0);
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    fflush(NULL);
    pid_t parent = getpid(), pid = pt_sys_fork();
    if (pid == 0) {
        child_redirect(p, npipes);
        worker_child(ws, s, p[0][0], p[1][1], shm, parent, &old);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        close_pipes(p, npipes);
        pt_sys_close(shm);
        return pt__err((int)pid, "worker %d: fork: %s", s->index,
                       pt_strerror((int)pid));
    }
    *s = (slot){.index = s->index, .pid = pid, .to_fd = p[0][1],
                .from_fd = p[1][0], .pidfd = pt_sys_pidfd_open(pid),
                .own = s->own, .out_fd = {-1, -1}, .beacon = s->beacon,
                .shm_fd = shm};
    if (big_pipes < BIG_PIPES_MAX && /* best effort: EPERM leaves it */
        pt__os_set_pipe_size(s->from_fd, ANSWER_PIPE_SIZE) == 0) {
        s->big_pipe = 1;
        big_pipes++;
    }
    for (int i = 0; i < npipes; i++) /* the worker's ends */
        pt_sys_close(i == 0 ? p[i][0] : p[i][1]);
    for (int i = 2; i < npipes; i++) {
        s->out_fd[i - 2] = p[i][0];
        pt_sys_set_nonblock(p[i][0], 1);
    }
    pt__wire_reader_init(&s->rd, 0);
    pt_sys_set_nonblock(s->to_fd, 1);
    pt_sys_set_nonblock(s->from_fd, 1);
    if (ws->on_worker)
        ws->on_worker(ws->on_worker_arg, s->index, (int)pid, true, 0, 0);
    return 0;
}

void pt__ws_slot_close(slot *s)
{
    pt_sys_close(s->to_fd);
    pt_sys_close(s->from_fd);
    pt_sys_close(s->pidfd);
    s->to_fd = s->from_fd = s->pidfd = -1;
    pt__wire_reader_free(&s->rd);
    pt_buf_free(&s->out);
    for (int k = 0; k < 2; k++) {
        pt_sys_close(s->out_fd[k]);
        s->out_fd[k] = -1;
        pt_buf_free(&s->line[k]);
    }
    if (s->shm)
        munmap((void *)s->shm, s->shm_size);
    pt_sys_close(s->shm_fd);
    s->shm = NULL;
    s->shm_size = 0;
    s->shm_fd = -1;
    big_pipes -= s->big_pipe;
    s->big_pipe = 0;
    s->out_off = 0;
    s->pid = 0;
}

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

static void fail_req(pt_workerset *ws, pt_request *req, pt_task_status st,
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
            fail_req(ws, (pt_request *)n, PT_TASK_CRASHED, why);
    while ((n = pt__heap_pop(&ws->shared)) != NULL)
        fail_req(ws, (pt_request *)n, PT_TASK_CRASHED, why);
}

/* Put a request (back) where it waits: its worker's heap or the shared. */
static int enqueue(pt_workerset *ws, pt_request *req, int target)
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
            return pt__err(-ENOENT, "remotecall: no kernel named '%s' in "
                           "this worker set", c->kernel ? c->kernel : "");
        *kind = PT__CALLEE_INDEX;
        *callee = (uint64_t)i;
    }
    return 0;
}

pt_request *pt_request_submit(pt_workerset *ws, const pt_call *call,
                              int64_t id, pt_request_fn done, void *owner)
{
    uint32_t kind = 0;
    uint64_t callee = 0;
    const uint8_t *bytes;
    size_t len;
    int rc = resolve_callee(ws, call, &kind, &callee);
    if (rc == 0 && (rc = pt_args_encoded(call->args, &bytes, &len)) == 0 &&
        len > PT_ARGS_MAX)
        rc = pt__err(-E2BIG, "remotecall: args of %zu bytes exceed the %zu "
                     "a request carries (a %zu MiB frame): pass bulk data "
                     "in a shared segment (pt_shm)", len, PT_ARGS_MAX,
                     PT__WIRE_MAX_PAYLOAD >> 20);
    pt_request *req = rc == 0 ? malloc(sizeof *req) : NULL;
    if (!req) {
        errno = rc ? -rc : ENOMEM;
        return NULL;
    }
    *req = (pt_request){.id = id, .callee = callee, .kind = kind,
                     .step = call->step, .worker = call->worker,
                     .args = pt__args_ref(call->args), .owner = owner,
                     .done = done};
    pt__heap_node_init(&req->node);
    req->node.prio = call->priority;
    req->node.seq = ws->seq++;
    if (enqueue(ws, req, target_of(ws, call)) < 0) {
        pt_args_destroy(req->args);
        free(req);
        errno = ENOMEM;
        return NULL;
    }
    ws->pending++;
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

int pt_request_set_priority(pt_workerset *ws, pt_request *req, int64_t prio)
{
    (void)ws;
    if (req->state != PT_REQ_WAITING)
        return pt__err(-EBUSY, "task %llu is %s: only a waiting task can "
                       "change priority", (unsigned long long)req->id,
                       req->state == PT_REQ_SENT ? "running" : "done");
    return pt__heap_update(req->heap, &req->node, prio);
}

int pt_request_cancel(pt_workerset *ws, pt_request *req)
{
    if (req->state != PT_REQ_WAITING)
        return pt__err(-EBUSY, "task %llu is %s: only a waiting task can be "
                       "cancelled", (unsigned long long)req->id,
                       req->state == PT_REQ_SENT ? "running" : "done");
    pt__heap_remove(req->heap, &req->node);
    fail_req(ws, req, PT_TASK_CANCELLED, "cancelled");
    return 0;
}

/* ---- sending ---- */

/* Append req's TASK frame to the worker's output buffer. */
static int encode_task(pt_workerset *ws, slot *s, pt_request *req)
{
    const uint8_t *args;
    size_t alen;
    pt_args_encoded(req->args, &args, &alen); /* sealed at submit */
    pt__task_head h = {.kind = req->kind, .ptr = req->callee,
                       .seed = pt_task_seed_of(ws->seed, req->id),
                       .step = req->step, .args_len = (uint32_t)alen};
    if (req->kind == PT__CALLEE_INDEX)
        h.kernel_index = (uint32_t)req->callee;
    size_t plen = sizeof h + alen, pad = (8 - plen % 8) % 8;
    uint8_t hdr[PT__WIRE_HDR_SIZE];
    static const uint8_t zeros[8];
    pt__wire_hdr_encode(hdr, PT__WIRE_TASK, req->id, (uint32_t)plen);
    int rc = pt_buf_reserve(&s->out, sizeof hdr + plen + pad);
    if (rc < 0)
        return rc;
    pt_buf_append(&s->out, hdr, sizeof hdr);
    pt_buf_append(&s->out, &h, sizeof h);
    pt_buf_append(&s->out, args, alen);
    pt_buf_append(&s->out, zeros, pad);
    return 0;
}

/* The waiting request that worker s should run next, or NULL. */
static pt_request *pick(pt_workerset *ws, slot *s)
{
    pt__heap_node *a = pt__heap_peek(&s->own), *b = pt__heap_peek(&ws->shared);
    pt__heap *from = !b || (a && pt__heap_before(a, b)) ? &s->own
                                                         : &ws->shared;
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
    return ws->window > ws->batch ? ws->window : ws->batch;
}

static void learn(pt_workerset *ws, int64_t ran_ns)
{
    if (ran_ns < 1)
        ran_ns = 1;
    ws->avg_ns = ws->avg_ns ? ws->avg_ns - ws->avg_ns / 8 + ran_ns / 8
                            : ran_ns;
    /* A set whose kernels print goes one request at a time: the lines a
     * worker prints can only be told apart by the answer that follows. */
    if (ws->batch_opt || ws->printed)
        return;
    int64_t b = BATCH_WORK_NS / (ws->avg_ns ? ws->avg_ns : 1);
    ws->batch = b < 1 ? 1 : b > BATCH_MAX ? BATCH_MAX : (int)b;
}

/* Give every live worker requests up to its window. */
/*
 * Give worker s requests up to its window (encoded into s->out, not yet
 * written). With batches, a worker is topped up once it is half empty, so
 * that requests go (and answers come) many per write. Its new requests
 * are told to the on_sent hook by announce(), once written.
 */
static void fill_slot(pt_workerset *ws, slot *s)
{
    int win = window_of(ws);
    int low = ws->batch > 1 ? win / 2 : win - 1;
    if (ws->hold || ws->remote_only || s->pid <= 0 || s->ninflight > low)
        return;
    while (s->ninflight < win) {
        pt_request *req = pick(ws, s);
        if (!req)
            break;
        if (encode_task(ws, s, req) < 0) {
            fail_req(ws, req, PT_TASK_FAILED, "out of memory");
            continue;
        }
        req->state = PT_REQ_SENT;
        req->worker = s->index;
        req->next = NULL;
        if (s->tail)
            s->tail->next = req;
        else
            s->head = req;
        s->tail = req;
        s->ninflight++;
        if (!s->unannounced)
            s->unannounced = req;
    }
}

/* Tell the on_sent hook about worker s's new requests. */
static void announce(pt_workerset *ws, slot *s, int64_t now)
{
    for (pt_request *r = s->unannounced; r; r = r->next)
        if (ws->on_sent)
            ws->on_sent(ws->on_sent_arg, r, now);
    s->unannounced = NULL;
}

static void fail_own(pt_workerset *ws, slot *s, const char *why);

/*
 * Give every live worker requests up to its window. What waits for a
 * worker that could not be restarted (or for a set left with none) fails:
 * nothing would ever run it.
 */
static void dispatch(pt_workerset *ws)
{
    if (ws->broken && pt__heap_len(&ws->shared) + own_waiting(ws) > 0)
        pt__ws_fail_waiting(ws, ws->broken_why);
    for (int i = 0; i < ws->n; i++) {
        if (ws->lost_why[0] && ws->slots[i].pid <= 0)
            fail_own(ws, &ws->slots[i], ws->lost_why);
        fill_slot(ws, &ws->slots[i]);
    }
}

/*
 * Write what we can of a worker's output without blocking. SIGPIPE is
 * blocked by the caller, so a dead reader is just -EPIPE here.
 */
static int flush(slot *s)
{
    while (s->out_off < s->out.len) {
        ssize_t w = pt_sys_write_some(s->to_fd, s->out.data + s->out_off,
                                   s->out.len - s->out_off);
        if (w < 0)
            return w == -EAGAIN ? 0 : (int)w;
        s->out_off += (size_t)w;
    }
    pt_buf_reset(&s->out);
    s->out_off = 0;
    return 0;
}

/* ---- receiving ---- */

/* Decode an ERROR payload into a reply. */
static pt_reply *error_reply(const pt_request *req, const uint8_t *p,
                             uint32_t len, pt__res_head *times)
{
    pt__err_head h;
    if (len < sizeof h)
        return NULL;
    memcpy(&h, p, sizeof h);
    if ((uint64_t)sizeof h + h.msg_len + 1 > h.results_off ||
        h.results_off > len || h.results_off % 8 ||
        p[sizeof h + h.msg_len] != '\0')
        return NULL;
    *times = (pt__res_head){h.start_ns, h.end_ns};
    return pt_reply_create(req->id, PT_TASK_FAILED, req->worker,
                         (const char *)p + sizeof h, p + h.results_off,
                         len - h.results_off);
}

static pt_reply *result_reply(const pt_request *req, const uint8_t *p,
                              uint32_t len, pt__res_head *times)
{
    if (len < sizeof *times ||
        pt_value_check(p + sizeof *times, len - sizeof *times,
                        PT_V_MAX_DEPTH) < 0)
        return NULL;
    memcpy(times, p, sizeof *times);
    return pt_reply_create(req->id, PT_TASK_OK, req->worker, NULL,
                         p + sizeof *times, len - sizeof *times);
}

/*
 * Map worker s's result buffer so that its first `n` bytes can be read: 0,
 * -EPROTO when the buffer is smaller (the worker lied), or -errno. The
 * memfd cannot shrink (sealed), so what was mapped stays readable.
 */
static int shm_map(slot *s, uint64_t n)
{
    if (n <= s->shm_size)
        return 0;
    struct stat st;
    if (fstat(s->shm_fd, &st) < 0)
        return -errno;
    if ((uint64_t)st.st_size < n)
        return -EPROTO;
    uint64_t size = (uint64_t)st.st_size; /* may be far larger: cap it */
    if (size > PT__SHM_RESULT_MAX)
        size = PT__SHM_RESULT_MAX;
    if (s->shm)
        munmap((void *)s->shm, s->shm_size);
    s->shm = NULL;
    s->shm_size = 0;
    void *m = pt_sys_mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, s->shm_fd,
                       0);
    if (m == MAP_FAILED)
        return -errno;
    s->shm = m;
    s->shm_size = (size_t)size;
    return 0;
}

/*
 * A RESULT_SHM payload: the results wait in worker s's buffer. They are
 * copied out, then the copy (never the shared bytes, which the worker
 * could still change) is checked; then the worker may reuse the buffer.
 * NULL for a bad frame; a reply of a failed task if memory ran out, or
 * if the buffer could not be mapped here (our failure, not the worker's).
 */
static pt_reply *shm_result_reply(slot *s, const pt_request *req,
                                  const uint8_t *p, uint32_t len,
                                  pt__res_head *times)
{
    pt__res_shm h;
    if (len != sizeof h || s->shm_fd < 0)
        return NULL;
    memcpy(&h, p, sizeof h);
    int mapped = h.len < PT__EMPTY_MAP_LEN || h.len > PT__SHM_RESULT_MAX
                     ? -EPROTO
                     : shm_map(s, h.len);
    if (mapped == -EPROTO) /* the worker lied */
        return NULL;
    *times = (pt__res_head){h.start_ns, h.end_ns};
    pt_reply *r = mapped < 0 ? NULL
                             : pt_reply_create(req->id, PT_TASK_OK, req->worker,
                                             NULL, s->shm, (size_t)h.len);
    atomic_fetch_add_explicit(&s->beacon->released, 1, memory_order_release);
    if (!r) {
        char why[160];
        snprintf(why, sizeof why, "%s for a result of %llu bytes%s%s",
                 mapped < 0 ? "cannot map the worker's buffer" : "out of "
                 "memory", (unsigned long long)h.len, mapped < 0 ? ": " : "",
                 mapped < 0 ? pt_strerror(mapped) : "");
        r = pt_reply_create(req->id, PT_TASK_FAILED, req->worker, why, NULL, 0);
        return pt__ws_reply_or_bare(r, req->id, PT_TASK_FAILED, req->worker);
    }
    if (!pt_reply_results_ok(r)) {
        pt_reply_destroy(r);
        return NULL;
    }
    return r;
}

/* One reply frame from worker s: it answers its oldest request. */
static int on_frame(pt_workerset *ws, slot *s, const pt__wire_hdr *hdr,
                    const uint8_t *p)
{
    pt_request *req = s->head;
    if (!req || req->id != hdr->task_id)
        return pt__err(-EPROTO, "worker %d answered task %llu out of turn",
                       s->index, (unsigned long long)hdr->task_id);
    pt_reply *r;
    pt__res_head t;
    if (hdr->type == PT__WIRE_RESULT)
        r = result_reply(req, p, hdr->len, &t);
    else if (hdr->type == PT__WIRE_ERROR)
        r = error_reply(req, p, hdr->len, &t);
    else if (hdr->type == PT__WIRE_RESULT_SHM)
        r = shm_result_reply(s, req, p, hdr->len, &t);
    else
        return pt__err(-EPROTO, "worker %d sent frame type %d", s->index,
                       hdr->type);
    if (!r || t.end_ns < t.start_ns) {
        pt_reply_destroy(r);
        return pt__err(-EPROTO, "worker %d sent a malformed reply", s->index);
    }
    pt_reply_set_times(r, t.start_ns, t.end_ns);
    /* What it printed for this task comes first. Sets that have printed
     * nothing yet look only when poll saw output: no syscalls per task. */
    if (ws->output_fn && (s->out_ready || ws->printed))
        pt__ws_read_output(ws, s, (int64_t)req->id);
    learn(ws, t.end_ns - t.start_ns);
    ws->succeeded++;
    ws->deaths_in_a_row = 0;
    s->head = req->next;
    if (!s->head)
        s->tail = NULL;
    s->ninflight--;
    /* The worker may be idle now: send its next requests before the
     * owner's bookkeeping of this one (unbatched, that is the worker's
     * wait). Only where a write cannot raise a deadly SIGPIPE; a worker
     * gone is seen by the next poll. */
    if (pt__wire_sigpipe_harmless() && !ws->broken && !s->dying) {
        fill_slot(ws, s);
        if (s->out.len > s->out_off)
            flush(s);
        announce(ws, s, pt_sys_mono_ns());
    }
    pt__ws_finish(ws, req, r);
    return 0;
}

/*
 * Read and handle what worker s sent: 0, 1 at end of stream, -errno. A
 * short read ends the round without one more read for EAGAIN: what comes
 * later, poll will tell.
 */
static int drain(pt_workerset *ws, slot *s)
{
    for (int emptied = 0;; emptied = s->rd.short_read) {
        const uint8_t *p;
        pt__wire_hdr hdr;
        int rc;
        while ((rc = pt__wire_reader_next(&s->rd, &hdr, &p)) == 1)
            if ((rc = on_frame(ws, s, &hdr, p)) < 0)
                return rc;
        if (rc < 0 || emptied)
            return rc < 0 ? rc : 0;
        ssize_t n = pt__wire_reader_fill(&s->rd, s->from_fd);
        if (n == -EAGAIN)
            return 0;
        if (n == 0)
            return 1;
        if (n < 0)
            return (int)n;
    }
}

/* ---- deaths ---- */

static void describe_death(int status, int *sig, int *code, char *buf,
                           size_t size)
{
    *sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (*sig)
        snprintf(buf, size, "worker killed by signal %d (%s)", *sig,
                 strsignal(*sig));
    else
        snprintf(buf, size, "worker exited with status %d", *code);
}

/* Requeue the requests a dead worker had not started yet, in order. */
static void requeue_unstarted(pt_workerset *ws, slot *s, pt_request *first)
{
    for (pt_request *req = first, *next; req; req = next) {
        next = req->next;
        int pinned = req->heap == &s->own;
        if (enqueue(ws, req, pinned ? s->index : -1) < 0)
            fail_req(ws, req, PT_TASK_CRASHED, "out of memory requeueing");
    }
}

/* Fail what waits for worker s alone: it is gone for good. */
static void fail_own(pt_workerset *ws, slot *s, const char *why)
{
    pt__heap_node *n;
    while ((n = pt__heap_pop(&s->own)) != NULL)
        fail_req(ws, (pt_request *)n, PT_TASK_CRASHED, why);
    int alive = 0;
    for (int i = 0; i < ws->n; i++)
        alive |= ws->slots[i].pid > 0;
    while (!alive && (n = pt__heap_pop(&ws->shared)) != NULL)
        fail_req(ws, (pt_request *)n, PT_TASK_CRASHED, why);
}

/*
 * Too many workers died before any request succeeded: stop replacing them
 * and fail what waits, rather than kill workers forever.
 */
static void declare_broken(pt_workerset *ws, const char *last)
{
    snprintf(ws->broken_why, sizeof ws->broken_why, "worker set broken: %d "
             "workers died before any task succeeded (last: %s)",
             ws->deaths_in_a_row, last);
    ws->broken = 1;
    for (int i = 0; i < ws->n; i++)
        if (ws->slots[i].pid > 0)
            kill(ws->slots[i].pid, SIGKILL);
    pt__ws_fail_waiting(ws, ws->broken_why);
}

void pt__ws_reaped(pt_workerset *ws, const slot *s, int status,
                   const struct rusage *ru)
{
    if (ws->on_worker)
        ws->on_worker(ws->on_worker_arg, s->index, (int)s->pid, false, status,
                      ru->ru_maxrss);
}

/* The task worker s runs (its beacon says), or -1 when it runs none. */
static int64_t beacon_task(const slot *s, int64_t *since)
{
    if (!atomic_load_explicit(&s->beacon->busy, memory_order_acquire))
        return -1;
    if (since)
        *since = atomic_load_explicit(&s->beacon->since_ns,
                                      memory_order_relaxed);
    return (int64_t)atomic_load_explicit(&s->beacon->task,
                                         memory_order_relaxed);
}

/* Take the request `id` out of worker s's in-flight list, or the oldest. */
static pt_request *take_culprit(slot *s, int64_t id)
{
    pt_request **pp = &s->head;
    while (id >= 0 && *pp && (*pp)->id != (uint64_t)id)
        pp = &(*pp)->next;
    if (!*pp)
        pp = &s->head;
    pt_request *req = *pp;
    if (req)
        *pp = req->next;
    return req;
}

/*
 * Worker s died or broke the protocol (`why`, or NULL). The request its
 * beacon names (else its oldest) was running: it fails as crashed, or as
 * timed out when that is why we killed it. The others wait again (those
 * it had finished but not yet answered run again); a new worker takes the
 * dead one's place.
 */
static void on_death(pt_workerset *ws, slot *s, const char *why)
{
    int status = 0, sig, code;
    struct rusage ru = {0};
    char msg[256];
    s->dying = 1; /* its last answers: nothing more is sent to it */
    drain(ws, s); /* replies sent before it died still count */
    kill(-s->pid, SIGKILL); /* the worker and what its kernels forked */
    kill(s->pid, SIGKILL);
    while (wait4(s->pid, &status, 0, &ru) < 0 && errno == EINTR)
        ;
    pt__ws_reaped(ws, s, status, &ru);
    pt_request *running = take_culprit(s, beacon_task(s, NULL));
    /* its last words belong to the running task */
    pt__ws_close_output(ws, s, running ? (int64_t)running->id : -1);
    describe_death(status, &sig, &code, msg, sizeof msg);
    pt_task_status st = PT_TASK_CRASHED;
    if (s->term_at && running && running->id == s->term_task) {
        st = PT_TASK_TIMEOUT;
        snprintf(msg, sizeof msg, "timed out after %lld ms",
                 (long long)(ws->timeout_ns / 1000000));
        why = msg;
    }
    pt_request *rest = s->head;
    s->head = s->tail = s->unannounced = NULL;
    s->ninflight = 0;
    pt__ws_slot_close(s);
    if (running) {
        pt_reply *r = pt_reply_create(running->id, st, s->index,
                                    why ? why : msg, NULL, 0);
        if (r)
            pt_reply_set_death(r, sig, code, (int64_t)ru.ru_maxrss);
        pt__ws_finish(ws, running, pt__ws_reply_or_bare(r, running->id, st, s->index));
    }
    requeue_unstarted(ws, s, rest);
    ws->restarts++;
    /* A task slower than the timeout says nothing of the workers' health:
     * only deaths count towards a broken set. */
    ws->deaths_in_a_row += st != PT_TASK_TIMEOUT;
    if (!ws->broken && !ws->succeeded &&
        ws->deaths_in_a_row >= PT_WS_BROKEN_AFTER)
        declare_broken(ws, why ? why : msg);
    if (!ws->broken && spawn(ws, s) < 0) {
        snprintf(ws->lost_why, sizeof ws->lost_why, "worker %d could not be "
                 "restarted: %s", s->index, pt_errmsg());
        fail_own(ws, s, ws->lost_why);
    }
}

/* ---- the event loop ---- */

static int poll_set(pt_workerset *ws)
{
    int k = 0;
    for (int i = 0; i < ws->n; i++) {
        slot *s = &ws->slots[i];
        if (s->pid <= 0)
            continue;
        short out = s->out.len > s->out_off ? POLLOUT : 0;
        ws->pfds[k] = (struct pollfd){.fd = s->from_fd, .events = POLLIN};
        ws->ppid[k] = s->pid;
        ws->pslot[k++] = s;
        if (out) {
            ws->pfds[k] = (struct pollfd){.fd = s->to_fd, .events = out};
            ws->ppid[k] = s->pid;
            ws->pslot[k++] = s;
        }
        if (s->pidfd >= 0) {
            ws->pfds[k] = (struct pollfd){.fd = s->pidfd, .events = POLLIN};
            ws->ppid[k] = s->pid;
            ws->pslot[k++] = s;
        }
        for (int o = 0; o < 2; o++) {
            if (s->out_fd[o] < 0)
                continue;
            ws->pfds[k] = (struct pollfd){.fd = s->out_fd[o], .events = POLLIN};
            ws->ppid[k] = s->pid;
            ws->pslot[k++] = s;
        }
    }
    return k;
}

/*
 * Handle one polled fd of worker s, unless the worker it was polled for
 * has died in this round (its fd number may belong to its successor now).
 * A writable request pipe needs nothing here: flush_all() follows.
 */
static void on_ready(pt_workerset *ws, slot *s, const struct pollfd *p,
                     pid_t polled_pid)
{
    if (s->pid != polled_pid || !p->revents || p->fd == s->to_fd)
        return;
    if (p->fd == s->out_fd[0] || p->fd == s->out_fd[1]) {
        int64_t task = beacon_task(s, NULL);
        pt__ws_read_output(ws, s, task >= 0 || !s->head ? task
                                                 : (int64_t)s->head->id);
        return;
    }
    int rc = p->fd == s->from_fd ? drain(ws, s) : 1; /* pidfd: it exited */
    char why[300];
    if (rc == 1 || rc == -EPIPE) {
        on_death(ws, s, NULL);
    } else if (rc < 0) {
        snprintf(why, sizeof why, "worker broke the protocol: %s",
                 pt_errmsg());
        on_death(ws, s, why);
    }
}

/*
 * Flush every worker's output with SIGPIPE held back, so that a worker
 * that died is -EPIPE here rather than the death of the caller. Deaths are
 * handled once the mask is restored: a replacement worker must not inherit
 * a blocked SIGPIPE.
 */
static void flush_all(pt_workerset *ws)
{
    int pending = 0;
    for (int i = 0; i < ws->n && !pending; i++)
        pending = ws->slots[i].pid > 0 &&
                  ws->slots[i].out.len > ws->slots[i].out_off;
    if (!pending) /* the common case in the loop: no syscall at all */
        return;
    int guard = !pt__wire_sigpipe_harmless(); /* ptrun's is: no masking */
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    if (guard)
        sigprocmask(SIG_BLOCK, &pipe_set, &old);
    int any = 0;
    for (int i = 0; i < ws->n; i++) {
        slot *s = &ws->slots[i];
        s->pipe_gone = s->pid > 0 && flush(s) == -EPIPE;
        any |= s->pipe_gone;
    }
    struct timespec zero = {0, 0};
    while (guard && sigtimedwait(&pipe_set, NULL, &zero) == SIGPIPE)
        ; /* discard the SIGPIPEs our writes raised */
    if (guard)
        sigprocmask(SIG_SETMASK, &old, NULL);
    for (int i = 0; any && i < ws->n; i++)
        if (ws->slots[i].pipe_gone)
            on_death(ws, &ws->slots[i], NULL);
}

/* Hand out waiting requests, write them, then tell the on_sent hook. */
static void send_all(pt_workerset *ws)
{
    dispatch(ws);
    flush_all(ws);
    int64_t now = 0;
    for (int i = 0; i < ws->n; i++)
        if (ws->slots[i].unannounced)
            announce(ws, &ws->slots[i], now ? now : (now = pt_sys_mono_ns()));
}

void pt__ws_kick(pt_workerset *ws)
{
    send_all(ws);
}

/* Kill the workers whose running request is past the set's timeout. */
static void expire(pt_workerset *ws, int64_t now)
{
    for (int i = 0; ws->timeout_ns && i < ws->n; i++) {
        slot *s = &ws->slots[i];
        int64_t since, task;
        if (s->pid <= 0 || !s->head)
            continue;
        if (!s->term_at && (task = beacon_task(s, &since)) >= 0 &&
            now - since >= ws->timeout_ns) {
            kill(s->pid, SIGTERM); /* a kernel may clean up, briefly */
            s->term_at = now;
            s->term_task = (uint64_t)task;
        } else if (s->term_at && now - s->term_at >= TERM_GRACE_NS) {
            on_death(ws, s, NULL); /* SIGKILL: it kept running */
        }
    }
}

/*
 * When worker s must next be looked at for its timeout (ns), or -1. A
 * request not started yet cannot time out before now + the timeout.
 */
static int64_t slot_deadline(const pt_workerset *ws, const slot *s,
                             int64_t now)
{
    int64_t since = now;
    if (s->pid <= 0 || !s->head)
        return -1;
    if (s->term_at)
        return s->term_at + TERM_GRACE_NS;
    beacon_task(s, &since);
    return since + ws->timeout_ns;
}

/* Milliseconds until the first running request times out, or -1. */
static int next_deadline_ms(const pt_workerset *ws, int64_t now)
{
    int64_t best = -1;
    for (int i = 0; ws->timeout_ns && i < ws->n; i++) {
        int64_t at = slot_deadline(ws, &ws->slots[i], now);
        if (at < 0)
            continue;
        int64_t left = at - now < 0 ? 0 : at - now;
        if (best < 0 || left < best)
            best = left;
    }
    return best < 0 ? -1 : (int)((best + 999999) / 1000000);
}

static int min_timeout(int a, int b)
{
    if (a < 0)
        return b;
    return b < 0 || a < b ? a : b;
}

/* The pollfds of every set, gathered in one array (grown as needed). */
static struct pollfd *gather(pt_workerset **sets, int nsets,
                             const struct pollfd *extra, int nextra,
                             int *count, int *timeout_ms)
{
    static struct pollfd *all;
    static size_t cap;
    size_t need = (size_t)nextra + 1;
    int64_t now = pt_sys_mono_ns();
    for (int i = 0; i < nsets; i++) {
        pt_workerset *ws = sets[i];
        uint64_t finished = ws->finished;
        send_all(ws);
        if (ws->finished != finished) /* the caller has news: no waiting */
            *timeout_ms = 0;
        ws->npolled = poll_set(ws);
        need += (size_t)ws->npolled;
        *timeout_ms = min_timeout(*timeout_ms, next_deadline_ms(ws, now));
    }
    if (need > cap) {
        struct pollfd *p = realloc(all, need * sizeof *p);
        if (!p)
            return NULL;
        all = p;
        cap = need;
    }
    int k = 0;
    for (int i = 0; i < nsets; i++)
        for (int j = 0; j < sets[i]->npolled; j++)
            all[k++] = sets[i]->pfds[j];
    for (int i = 0; i < nextra; i++)
        all[k++] = extra[i];
    *count = k;
    return all;
}

int pt_workerset_poll(pt_workerset **sets, int nsets, struct pollfd *extra,
                     int nextra, int timeout_ms)
{
    int k;
    struct pollfd *all = gather(sets, nsets, extra, nextra, &k,
                                &timeout_ms);
    if (!all)
        return pt__err(-ENOMEM, "poll: out of memory");
    int r = poll(all, (nfds_t)k, timeout_ms);
    if (r < 0 && errno != EINTR)
        return pt__err(-errno, "poll: %s", strerror(errno));
    for (int i = 0; i < nextra; i++)
        extra[i].revents = r > 0 ? all[k - nextra + i].revents : 0;
    int64_t now = pt_sys_mono_ns();
    for (int i = 0, off = 0; i < nsets; i++) {
        pt_workerset *ws = sets[i];
        for (int j = 0; r > 0 && j < ws->npolled; j++) {
            slot *s = ws->pslot[j];
            int fd = all[off + j].fd;
            if (all[off + j].revents && s->pid == ws->ppid[j] &&
                (fd == s->out_fd[0] || fd == s->out_fd[1]))
                s->out_ready = 1;
        }
        for (int j = 0; r > 0 && j < ws->npolled; j++)
            on_ready(ws, ws->pslot[j], &all[off + j], ws->ppid[j]);
        off += ws->npolled;
        expire(ws, now);
        send_all(ws);
    }
    return 0;
}

int pt__ws_pump(pt_workerset *ws, int timeout_ms)
{
    int alive = 0;
    for (int i = 0; i < ws->n; i++)
        alive |= ws->slots[i].pid > 0;
    if (!alive)
        return ws->pending ? pt__err(-ECHILD, "no worker is alive") : 0;
    return pt_workerset_poll(&ws, 1, NULL, 0, timeout_ms);
}

void pt_workerset_kill_all(pt_workerset *ws)
{
    for (int i = 0; i < ws->n; i++)
        if (ws->slots[i].pid > 0)
            kill(ws->slots[i].pid, SIGKILL);
}

void pt_workerset_hold(pt_workerset *ws, bool hold)
{
    ws->hold = hold;
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

static int copy_opts(pt_workerset *ws, const pt_workerset_opts *o)
{
    ws->seed = o->seed;
    ws->output_fn = o->output_fn;
    ws->output_arg = o->output_arg;
    ws->memory_bytes = o->memory_bytes;
    ws->grace_ns = o->grace_ms < 0 ? 0
                   : (o->grace_ms ? o->grace_ms : PT_WS_GRACE_MS) * 1000000;
    ws->timeout_ns = o->timeout_ms * 1000000;
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
    return 0;
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
    free(ws->kernels);
    free(ws->shm);
    free(ws->slots);
    free(ws->pfds);
    free(ws->pslot);
    free(ws->ppid);
    if (ws->beacons)
        munmap(ws->beacons, (size_t)ws->n * sizeof *ws->beacons);
    free(ws);
}

static int check_create(int n, pt_ws_mode mode, const pt_workerset_opts *o)
{
    if (n < 1 || (mode != PT_WS_RR && mode != PT_WS_FF) ||
        (o && (o->window < 0 || o->nkernels < 0 || o->nshm < 0 ||
               o->timeout_ms < 0 || o->memory_bytes < 0 || o->batch < 0)))
        return pt__err(-EINVAL, "workerset: need n >= 1 (got %d), mode RR "
                       "or FF, window >= 0", n);
    int threads = pt_sys_thread_count();
    if (threads > 1)
        return pt__err(-EDEADLK, "workerset: the process has %d threads; "
                       "forking it could deadlock the workers", threads);
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
    size_t len = (size_t)n * sizeof *ws->beacons;
    void *b = pt_sys_mmap(NULL, len, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (b == MAP_FAILED)
        return pt__err(-errno, "workerset: mmap of the workers' %zu-byte "
                       "beacons: %s", len, strerror(errno));
    ws->beacons = b;
    for (int i = 0; i < n; i++) {
        ws->slots[i] = (slot){.index = i, .to_fd = -1, .from_fd = -1,
                              .pidfd = -1, .out_fd = {-1, -1},
                              .beacon = &ws->beacons[i], .shm_fd = -1};
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
    for (int i = 0; i < n && rc == 0; i++)
        rc = spawn(ws, &ws->slots[i]);
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

