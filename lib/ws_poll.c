/*
 * ws_poll.c - one round of a worker set's I/O: requests written, every
 * worker's pipes polled (with the caller's fds), replies and deaths
 * handled, and the workers past the set's timeout stopped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "wire.h"
#include "ws.h"
#include "ws_impl.h"

#define TERM_GRACE_NS INT64_C(1000000000) /* SIGTERM, then SIGKILL */

/*
 * Write what we can of a worker's output without blocking. SIGPIPE is
 * blocked by the caller, so a dead reader is just -EPIPE here.
 */
int pt__ws_flush(slot *s)
{
    while (s->out_off < s->out.len) {
        ssize_t w = pt_sys_write_some(s->to_fd, s->out.data + s->out_off,
                                      s->out.len - s->out_off);
        if (w == -EAGAIN) {
            s->out_full = PT__OUT_FULL_ANSWERS;
            pt__ws_out_compact(s);
            return 0;
        }
        if (w < 0)
            return (int)w;
        s->out_off += (size_t)w;
    }
    pt_buf_reset(&s->out);
    s->out_off = s->out_kept = 0;
    return 0;
}

/* ---- the event loop ---- */

static int poll_set(pt_workerset *ws)
{
    int k = 0;
    for (int i = 0; i < ws->n; i++) {
        slot *s = &ws->slots[i];
        if (!pt__ws_slot_alive(s))
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
        int64_t task = pt__ws_beacon_task(s, NULL);
        pt__ws_read_output(ws, s,
                           task >= 0 || !s->head ? task : (int64_t)s->head->id);
        return;
    }
    int rc = p->fd == s->from_fd ? pt__ws_drain(ws, s)
                                 : 1; /* pidfd: it exited */
    char why[300];
    if (rc == 1 || rc == -EPIPE) {
        pt__ws_on_death(ws, s, NULL);
    } else if (rc < 0) {
        snprintf(why, sizeof why, "worker broke the protocol: %s", pt_errmsg());
        pt__ws_on_death(ws, s, why);
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
        pending = pt__ws_slot_alive(&ws->slots[i]) &&
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
        if (pt__ws_slot_alive(s))
            pt__ws_drop_claimed(ws, s); /* a long task: others ran those */
        if (pt__ws_slot_alive(s) && pt__ws_flush(s) == -EPIPE) {
            pt__ws_slot_event(s, PT__SLOT_EV_LOST); /* handled below */
            any = 1;
        }
    }
    struct timespec zero = {0, 0};
    while (guard && sigtimedwait(&pipe_set, NULL, &zero) == SIGPIPE)
        ; /* discard the SIGPIPEs our writes raised */
    if (guard)
        sigprocmask(SIG_SETMASK, &old, NULL);
    for (int i = 0; any && i < ws->n; i++)
        if (ws->slots[i].state == PT__SLOT_DYING)
            pt__ws_on_death(ws, &ws->slots[i], NULL);
}

/* Hand out waiting requests and write them; tell the on_sent hook of
 * those the workers have started. */
static void send_all(pt_workerset *ws)
{
    pt__ws_see_claims(ws, false);
    pt__ws_dispatch(ws);
    flush_all(ws);
    for (int i = 0; i < ws->n; i++)
        if (ws->slots[i].unannounced)
            pt__ws_announce(ws, &ws->slots[i]);
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
        if (!pt__ws_slot_alive(s) || !s->head)
            continue;
        if (s->state == PT__SLOT_BUSY &&
            (task = pt__ws_beacon_task(s, &since)) >= 0 &&
            now - since >= ws->timeout_ns) {
            kill(s->pid, SIGTERM); /* a kernel may clean up, briefly */
            s->term_at = now;
            s->term_task = (uint64_t)task;
            pt__ws_slot_event(s, PT__SLOT_EV_TIMED_OUT);
        } else if (s->state == PT__SLOT_TERM &&
                   now - s->term_at >= TERM_GRACE_NS) {
            pt__ws_on_death(ws, s, NULL); /* SIGKILL: it kept running */
        }
    }
}

/*
 * When worker s must next be looked at for its timeout (ns), or -1. A
 * request not started yet cannot time out before now + the timeout.
 */
static int64_t slot_deadline(const pt_workerset *ws, const slot *s, int64_t now)
{
    int64_t since = now;
    if (!pt__ws_slot_alive(s) || !s->head)
        return -1;
    if (s->state == PT__SLOT_TERM)
        return s->term_at + TERM_GRACE_NS;
    pt__ws_beacon_task(s, &since);
    return since + ws->timeout_ns;
}

/*
 * Milliseconds until the first running request times out, or -1. A
 * request posted to all may have been claimed since the set last looked:
 * nothing wakes the parent for a claim, so while any is posted the set
 * looks again within an eighth of its timeout (a request that never
 * answers is killed that much late at most).
 */
static int next_deadline_ms(const pt_workerset *ws, int64_t now)
{
    int64_t best = ws->timeout_ns && ws->posted_head ? ws->timeout_ns / 8 : -1;
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
                             const struct pollfd *extra, int nextra, int *count,
                             int *timeout_ms)
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
        if (ws->steal_soon)
            *timeout_ms = min_timeout(*timeout_ms, 1);
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
    struct pollfd *all = gather(sets, nsets, extra, nextra, &k, &timeout_ms);
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
            if (!all[off + j].revents || s->pid != ws->ppid[j])
                continue;
            if (fd == s->out_fd[0] || fd == s->out_fd[1])
                s->out_ready = 1;
            else if (fd == s->to_fd) /* writable, or its reader gone */
                s->out_full = 0;
        }
        for (int j = 0; r > 0 && j < ws->npolled; j++)
            on_ready(ws, ws->pslot[j], &all[off + j], ws->ppid[j]);
        off += ws->npolled;
        pt__ws_see_claims(ws, false); /* the running, for their timeout */
        expire(ws, now);
        send_all(ws);
    }
    return 0;
}

int pt__ws_pump(pt_workerset *ws, int timeout_ms)
{
    int alive = 0;
    for (int i = 0; i < ws->n; i++)
        alive |= pt__ws_slot_alive(&ws->slots[i]);
    if (!alive)
        return ws->pending ? pt__err(-ECHILD, "no worker is alive") : 0;
    return pt_workerset_poll(&ws, 1, NULL, 0, timeout_ms);
}
