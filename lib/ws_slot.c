/*
 * ws_slot.c - a worker slot's life: its worker forked, closed, and after a
 * death reaped and replaced (or the set declared broken). The state a slot
 * is in moves only through pt__ws_slot_event() (ws_impl.h).
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "os.h"
#include "wire.h"
#include "worker.h"
#include "ws.h"
#include "ws_impl.h"

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

/* The moves of the table in ws_impl.h: the next state + 1, 0: illegal. */
#define TO(st) (PT__SLOT_##st + 1)
static const unsigned char moves[PT__SLOT_NSTATES][PT__SLOT_NEVENTS] = {
    [PT__SLOT_DEAD] =
        {[PT__SLOT_EV_FORKED] = TO(IDLE), [PT__SLOT_EV_SHUTDOWN] = TO(DEAD)},
    [PT__SLOT_IDLE] = {[PT__SLOT_EV_SENT] = TO(BUSY),
                       [PT__SLOT_EV_LOST] = TO(DYING),
                       [PT__SLOT_EV_SHUTDOWN] = TO(STOPPING)},
    [PT__SLOT_BUSY] = {[PT__SLOT_EV_SENT] = TO(BUSY),
                       [PT__SLOT_EV_ANSWERED] = TO(BUSY),
                       [PT__SLOT_EV_ALL_ANSWERED] = TO(IDLE),
                       [PT__SLOT_EV_TIMED_OUT] = TO(TERM),
                       [PT__SLOT_EV_LOST] = TO(DYING),
                       [PT__SLOT_EV_SHUTDOWN] = TO(STOPPING)},
    [PT__SLOT_TERM] = {[PT__SLOT_EV_SENT] = TO(TERM),
                       [PT__SLOT_EV_ANSWERED] = TO(TERM),
                       [PT__SLOT_EV_ALL_ANSWERED] = TO(TERM),
                       [PT__SLOT_EV_LOST] = TO(DYING),
                       [PT__SLOT_EV_SHUTDOWN] = TO(STOPPING)},
    [PT__SLOT_DYING] = {[PT__SLOT_EV_SENT] = TO(DYING), /* claimed, seen late */
                        [PT__SLOT_EV_ANSWERED] = TO(DYING),
                        [PT__SLOT_EV_ALL_ANSWERED] = TO(DYING),
                        [PT__SLOT_EV_LOST] = TO(DYING),
                        [PT__SLOT_EV_REAPED] = TO(DEAD)},
    [PT__SLOT_STOPPING] = {[PT__SLOT_EV_REAPED] = TO(DEAD)},
};
#undef TO

void pt__ws_slot_event(slot *s, pt__slot_event ev)
{
    int to = moves[s->state][ev];
    assert(to != 0 && "a worker slot moved against its state table");
    if (to)
        s->state = (pt__slot_state)(to - 1);
}

/* The new worker's life: its fds are `in`, `out` and `shm` (or -1);
 * never returns. */
static _Noreturn void worker_child(pt_workerset *ws, slot *s, int in, int out,
                                   int shm, pid_t parent, const sigset_t *old)
{
    pt_sys_child_reset_signals(old);
    pt_sys_parent_death_signal(SIGKILL);
    if (getppid() != parent)
        pt_sys_exit(127);
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
    pt__worker_boot boot = {.index = s->index,
                            .count = ws->n,
                            .in_fd = in,
                            .out_fd = out,
                            .shm_fd = shm,
                            .kernels = ws->kernels,
                            .nkernels = ws->nkernels,
                            .preload = ws->preload,
                            .npreload = ws->npreload,
                            .shm = ws->shm,
                            .nshm = ws->nshm,
                            .beacon = s->beacon,
                            .ring = s->ring,
                            .starts = s->starts,
                            .all_ring = ws->all_ring,
                            .pause = ws->pause,
                            .all_starts = s->all_starts,
                            .checkpoint_prefix = ws->checkpoint_prefix,
                            .checkpoint_ms = ws->checkpoint_ms};
    pt__worker_main(&boot);
}

/* Make the parent's end `fd` of a pipe just made nonblocking: its status
 * flags are known (none), so one F_SETFL, not F_GETFL and F_SETFL. */
static void fresh_nonblock(int fd)
{
    fcntl(fd, F_SETFL, O_NONBLOCK);
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
        return pt__err(fd, "worker %d: memfd: %s", s->index, pt_strerror(fd));
    return fd;
}

/*
 * Fork worker s: pipes for requests and replies, and for its stdout and
 * stderr when the set captures output; its result buffer. 0 or -errno.
 */
int pt__ws_spawn(pt_workerset *ws, slot *s)
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
    *s = (slot){.index = s->index,
                .state = s->state,
                .pid = pid,
                .to_fd = p[0][1],
                .from_fd = p[1][0],
                .pidfd = pt_sys_pidfd_open(pid),
                .own = s->own,
                .out_fd = {-1, -1},
                .beacon = s->beacon,
                .ring = s->ring,
                .starts = s->starts,
                .all_starts = s->all_starts,
                .claim = s->claim, /* a new worker's claims go on from here */
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
        fresh_nonblock(p[i][0]);
    }
    pt__wire_reader_init(&s->rd, 0);
    fresh_nonblock(s->to_fd);
    fresh_nonblock(s->from_fd);
    pt__ws_slot_event(s, PT__SLOT_EV_FORKED);
    if (ws->on_worker)
        ws->on_worker(ws->on_worker_arg, s->index, (int)pid, true, 0, 0);
    return 0;
}

/* Does the set have work for its unborn workers: more requests waiting
 * than idle workers, or one pinned to an unborn worker? */
static bool births_due(const pt_workerset *ws)
{
    size_t idle = 0;
    for (int i = 0; i < ws->n; i++) {
        const slot *s = &ws->slots[i];
        if (s->unborn && pt__heap_len(&s->own) > 0)
            return true;
        idle += s->state == PT__SLOT_IDLE && pt__heap_len(&s->own) == 0;
    }
    return pt__heap_len(&ws->shared) > idle;
}

void pt__ws_births(pt_workerset *ws)
{
    if (!births_due(ws))
        return;
    for (int i = 0; i < ws->n; i++) {
        slot *s = &ws->slots[i];
        if (!s->unborn)
            continue;
        ws->unborn--;
        s->unborn = false;
        if (pt__ws_spawn(ws, s) < 0) { /* as a replacement that failed */
            snprintf(ws->lost_why, sizeof ws->lost_why,
                     "worker %d could not be started: %s", s->index,
                     pt_errmsg());
            pt__ws_fail_own(ws, s, ws->lost_why);
        }
    }
    if (ws->posted_head) /* the newborn have not seen them */
        pt__ws_repost(ws);
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
    s->out_off = s->out_kept = 0;
    s->out_full = 0;
    s->pid = 0;
    pt__ws_slot_event(s, PT__SLOT_EV_REAPED);
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
        pt__ws_unclaim(ws, req);
        req->worker = req->pin;
        if (pt__ws_enqueue(ws, req, pinned ? s->index : -1) < 0)
            pt__ws_fail_req(ws, req, PT_TASK_CRASHED,
                            "out of memory requeueing");
    }
}

/* Fail what waits for worker s alone: it is gone for good. */
void pt__ws_fail_own(pt_workerset *ws, slot *s, const char *why)
{
    pt__heap_node *n;
    while ((n = pt__heap_pop(&s->own)) != NULL)
        pt__ws_fail_req(ws, (pt_request *)n, PT_TASK_CRASHED, why);
    int alive = 0;
    for (int i = 0; i < ws->n; i++)
        alive |= pt__ws_slot_alive(&ws->slots[i]);
    while (!alive && (n = pt__heap_pop(&ws->shared)) != NULL)
        pt__ws_fail_req(ws, (pt_request *)n, PT_TASK_CRASHED, why);
}

/*
 * Too many workers died before any request succeeded: stop replacing them
 * and fail what waits, rather than kill workers forever.
 */
static void declare_broken(pt_workerset *ws, const char *last)
{
    snprintf(ws->broken_why, sizeof ws->broken_why,
             "worker set broken: %d "
             "workers died before any task succeeded (last: %s)",
             ws->deaths_in_a_row, last);
    ws->broken = 1;
    for (int i = 0; i < ws->n; i++)
        if (pt__ws_slot_alive(&ws->slots[i]))
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
int64_t pt__ws_beacon_task(const slot *s, int64_t *since)
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
static pt_request *take_culprit(pt_workerset *ws, slot *s, int64_t id)
{
    pt_request *req = s->head;
    while (id >= 0 && req && req->id != (uint64_t)id)
        req = req->next;
    if (!req)
        req = s->head;
    if (!req)
        return NULL;
    pt__ws_fifo_remove(s, req);
    pt__ws_unclaim(ws, req);
    return req;
}

/*
 * Worker s died or broke the protocol (`why`, or NULL). The request its
 * beacon names (else its oldest) was running: it fails as crashed, or as
 * timed out when that is why we killed it. The others wait again (those
 * it had finished but not yet answered run again); a new worker takes the
 * dead one's place.
 */
void pt__ws_on_death(pt_workerset *ws, slot *s, const char *why)
{
    int status = 0, sig, code;
    struct rusage ru = {0};
    char msg[256];
    pt__ws_see_claims(ws, true); /* what it claimed of those posted */
    /* its last answers: nothing more is sent to it */
    pt__ws_slot_event(s, PT__SLOT_EV_LOST);
    pt__ws_drain(ws, s);    /* replies sent before it died still count */
    kill(-s->pid, SIGKILL); /* the worker and what its kernels forked */
    kill(s->pid, SIGKILL);
    while (wait4(s->pid, &status, 0, &ru) < 0 && errno == EINTR)
        ;
    pt__ws_reaped(ws, s, status, &ru);
    pt__ws_announce(ws, s); /* what it had started, the running one too */
    pt_request *running = take_culprit(ws, s, pt__ws_beacon_task(s, NULL));
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
        pt__ws_finish(ws, running,
                      pt__ws_reply_or_bare(r, running->id, st, s->index));
    }
    requeue_unstarted(ws, s, rest);
    if (ws->posted_head) /* its successor has not seen them */
        pt__ws_repost(ws);
    ws->restarts++;
    /* A task slower than the timeout says nothing of the workers' health:
     * only deaths count towards a broken set. */
    ws->deaths_in_a_row += st != PT_TASK_TIMEOUT;
    if (!ws->broken && !ws->succeeded &&
        ws->deaths_in_a_row >= PT_WS_BROKEN_AFTER)
        declare_broken(ws, why ? why : msg);
    if (!ws->broken && pt__ws_spawn(ws, s) < 0) {
        snprintf(ws->lost_why, sizeof ws->lost_why,
                 "worker %d could not be "
                 "restarted: %s",
                 s->index, pt_errmsg());
        pt__ws_fail_own(ws, s, ws->lost_why);
    }
}
