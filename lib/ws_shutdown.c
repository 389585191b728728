/*
 * ws_shutdown.c - the end of worker sets: every request finished, then
 * every worker of every set told to stop at once (end of input: its
 * kernels' fini, then exit), one shared wait bounded by each set's grace,
 * SIGKILL for the rest, and what they and their kernels started reaped.
 */
#define _DEFAULT_SOURCE /* wait4 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "internal.h"
#include "ws_impl.h"

/* Idle while a worker without a pidfd may have exited (ms). */
#define NO_PIDFD_NAP_MS 10

/* Worker s has exited (or was killed): reap it, end its group, close. */
static void finish_slot(pt_workerset *ws, slot *s, int block)
{
    int status = 0;
    struct rusage ru = {0};
    pid_t got;
    if (!pt__ws_slot_alive(s)) /* none, or gone already */
        return;
    while ((got = wait4(s->pid, &status, block ? 0 : WNOHANG, &ru)) < 0 &&
           errno == EINTR)
        ;
    if (got == 0)
        return;    /* still running */
    if (got > 0) { /* (not ECHILD: then its pid may be another's now) */
        pt__ws_reaped(ws, s, status, &ru);
        kill(-s->pid, SIGKILL); /* what its kernels forked and left */
    }
    pt__ws_close_output(ws, s, -1); /* what fini printed */
    pt__ws_slot_close(s);
}

/*
 * One look at worker s: reaped if it exited, killed if its set's grace
 * is over; else its fds to wait on go to `p` (the count added).
 */
static int look(pt_workerset *ws, slot *s, int64_t now, int64_t until,
                struct pollfd *p, int *nap)
{
    finish_slot(ws, s, 0);
    if (!pt__ws_slot_alive(s))
        return 0;
    if (now >= until) {
        kill(s->pid, SIGKILL);
        finish_slot(ws, s, 1);
        return 0;
    }
    int k = 0;
    if (s->pidfd >= 0)
        p[k++] = (struct pollfd){.fd = s->pidfd, .events = POLLIN};
    else
        *nap = NO_PIDFD_NAP_MS;
    for (int o = 0; o < 2; o++) /* a fini that prints must not block */
        if (s->out_fd[o] >= 0)
            p[k++] = (struct pollfd){.fd = s->out_fd[o], .events = POLLIN};
    return k;
}

/* Wait for every worker of the sets together, until each set's grace. */
static int reap_all(pt_workerset *const *sets, int n, int64_t start)
{
    int total = 0;
    for (int i = 0; i < n; i++)
        total += sets[i] ? sets[i]->n : 0;
    struct pollfd *p = calloc((size_t)total * 3 + 1, sizeof *p);
    if (!p)
        return pt__err(-ENOMEM, "workerset: out of memory at shutdown");
    for (;;) {
        int k = 0, nap = -1;
        int64_t now = pt_sys_mono_ns(), next = -1;
        for (int i = 0; i < n; i++) {
            pt_workerset *ws = sets[i];
            for (int w = 0; ws && w < ws->n; w++) {
                int got = look(ws, &ws->slots[w], now, start + ws->grace_ns,
                               p + k, &nap);
                k += got;
                if (pt__ws_slot_alive(&ws->slots[w]) &&
                    (next < 0 || start + ws->grace_ns < next))
                    next = start + ws->grace_ns;
            }
        }
        if (next < 0)
            break;
        int ms = (int)((next - now + 999999) / 1000000);
        poll(p, (nfds_t)k, nap >= 0 && nap < ms ? nap : ms);
        for (int i = 0; i < n; i++) /* read what the fini printed */
            for (int w = 0; sets[i] && w < sets[i]->n; w++)
                if (pt__ws_slot_alive(&sets[i]->slots[w]))
                    pt__ws_read_output(sets[i], &sets[i]->slots[w], -1);
    }
    free(p);
    return 0;
}

/* Finish every request of set ws (its workers run them): 0 or -errno. */
static int drain_set(pt_workerset *ws)
{
    int rc = 0;
    while (ws->pending && rc == 0)
        rc = pt__ws_pump(ws, -1);
    if (ws->pending)
        pt__ws_fail_waiting(ws, "the worker set was destroyed without "
                                "workers");
    return rc;
}

int pt_workerset_stop_all(pt_workerset *const *sets, int n)
{
    int rc = 0;
    for (int i = 0; i < n; i++) {
        int r = sets[i] ? drain_set(sets[i]) : 0;
        rc = rc < 0 ? rc : r;
    }
    for (int i = 0; i < n; i++) /* EOF on input: fini, then exit */
        for (int w = 0; sets[i] && w < sets[i]->n; w++) {
            slot *s = &sets[i]->slots[w];
            if (s->state == PT__SLOT_STOPPING) /* told already */
                continue;
            pt_sys_close(s->to_fd);
            s->to_fd = -1;
            pt__ws_slot_event(s, PT__SLOT_EV_SHUTDOWN);
        }
    return rc;
}

int pt_workerset_destroy_all(pt_workerset *const *sets, int n)
{
    int rc = pt_workerset_stop_all(sets, n);
    int r = reap_all(sets, n, pt_sys_mono_ns());
    for (int i = 0; i < n; i++) {
        for (int w = 0; sets[i] && w < sets[i]->n; w++)
            if (pt__ws_slot_alive(&sets[i]->slots[w])) /* no memory */
                finish_slot(sets[i], &sets[i]->slots[w], 1);
        if (sets[i])
            pt__ws_free(sets[i]);
    }
    return rc < 0 ? rc : r;
}

int pt_workerset_destroy(pt_workerset *ws)
{
    return ws ? pt_workerset_destroy_all(&ws, 1) : 0;
}
