/* pfork.c - fork n children and collect their results (see ptools/pfork.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ptools/pfork.h>

#include "internal.h"
#include "os.h"

#define PFORK_MAGIC 0x46505450u /* "PTPF" */
#define READ_CHUNK (256 * 1024)
#define POLL_MS_WITHOUT_PIDFD 20

/* What a child sends before its bytes. */
struct reply_header {
    uint32_t magic;
    int32_t rc;
    uint64_t len;
};

/* The parent's view of one child: a small state machine driven by poll. */
struct child {
    pid_t pid;
    int rfd;   /* read end of its pipe; -1 once drained */
    int pidfd; /* readable when it exits; -1 if none or reaped */
    int reaped;
    int wstatus; /* valid when reaped (and reap_ok) */
    int reap_ok; /* 0 when someone else reaped it (ECHILD) */
    struct reply_header hdr;
    size_t hdr_got; /* header bytes received */
    uint64_t got;   /* payload bytes received */
};

/* The child's whole life: run fn, send header + bytes, leave with _exit. */
static void child_main(int index, pt_pfork_fn fn, void *arg, int wfd,
                       pid_t parent, const sigset_t *old_mask)
{
    pt_sys_child_reset_signals(old_mask);
    pt_sys_parent_death_signal(SIGKILL);
    if (getppid() != parent) /* the parent died before prctl took effect */
        pt_sys_exit(127);
    pt_buf out = {0};
    int rc = fn(index, arg, &out);
    fflush(NULL); /* what fn printed must not be lost by _exit */
    struct reply_header h = {PFORK_MAGIC, rc, out.len};
    int w = pt_sys_write_full(wfd, &h, sizeof h);
    if (w == 0)
        w = pt_sys_write_full(wfd, out.data, out.len);
    pt_buf_free(&out);
    pt_sys_exit(w == 0 ? 0 : 127);
}

/* Read what is available from c's pipe; close it at EOF. 0 or -errno. */
static int child_read(struct child *c, pt_buf *out)
{
    for (;;) {
        ssize_t r;
        if (c->hdr_got < sizeof c->hdr) {
            r = pt_sys_read_some(c->rfd, (char *)&c->hdr + c->hdr_got,
                                 sizeof c->hdr - c->hdr_got);
            if (r > 0)
                c->hdr_got += (size_t)r;
        } else {
            uint64_t left = c->hdr.len > c->got ? c->hdr.len - c->got : 0;
            size_t want = left > READ_CHUNK ? READ_CHUNK : (size_t)left;
            char sink[512];
            if (want == 0) { /* bytes beyond the announced length */
                r = pt_sys_read_some(c->rfd, sink, sizeof sink);
            } else {
                if (pt_buf_reserve(out, want) < 0)
                    return -ENOMEM;
                r = pt_sys_read_some(c->rfd, out->data + out->len, want);
                if (r > 0) {
                    out->len += (size_t)r;
                    c->got += (uint64_t)r;
                }
            }
        }
        if (r == -EAGAIN)
            return 0;
        if (r < 0)
            return (int)r;
        if (r == 0) {
            pt_sys_close(c->rfd);
            c->rfd = -1;
            return 0;
        }
    }
}

/* Reap c if it has exited (without blocking). */
static void child_try_reap(struct child *c)
{
    if (c->reaped)
        return;
    pid_t r = pt_sys_waitpid(c->pid, &c->wstatus, WNOHANG);
    if (r == 0)
        return;
    c->reaped = 1;
    c->reap_ok = r == c->pid;
    pt_sys_close(c->pidfd);
    c->pidfd = -1;
}

/* Turn what was received and the wait status into the public result. */
static void child_result(const struct child *c, pt_pfork_result *res)
{
    int complete = c->hdr_got == sizeof c->hdr && c->hdr.magic == PFORK_MAGIC &&
                   c->got == c->hdr.len;
    if (c->reap_ok && WIFSIGNALED(c->wstatus)) {
        res->status = PT_PFORK_SIGNALED;
        res->code = WTERMSIG(c->wstatus);
    } else if (complete) {
        res->status = c->hdr.rc == 0 ? PT_PFORK_OK : PT_PFORK_FAILED;
        res->code = c->hdr.rc;
    } else {
        res->status = PT_PFORK_NO_RESULT;
        res->code = c->reap_ok ? WEXITSTATUS(c->wstatus) : -1;
    }
    if (res->status == PT_PFORK_SIGNALED || res->status == PT_PFORK_NO_RESULT)
        pt_buf_free(&res->out);
}

/* Fill `fds` with what to poll; returns how many. */
static int poll_set(struct child *cs, int n, struct pollfd *fds, int *owner)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (cs[i].rfd >= 0) {
            fds[k] = (struct pollfd){.fd = cs[i].rfd, .events = POLLIN};
            owner[k++] = i;
        }
        if (cs[i].pidfd >= 0) {
            fds[k] = (struct pollfd){.fd = cs[i].pidfd, .events = POLLIN};
            owner[k++] = i;
        }
    }
    return k;
}

/*
 * Read every pipe and reap every child. A child is done when it is reaped
 * and its pipe is drained: after it exits, what it wrote is all in the pipe,
 * so a grandchild that keeps the write end open cannot stall us.
 */
static int collect(struct child *cs, int n, pt_pfork_result *results,
                   struct pollfd *fds, int *owner)
{
    for (;;) {
        int use_timeout = 0, k = poll_set(cs, n, fds, owner);
        for (int i = 0; i < n; i++)
            use_timeout |= !cs[i].reaped && cs[i].pidfd < 0;
        if (k == 0 && !use_timeout)
            return 0;
        int r = poll(fds, (nfds_t)k, use_timeout ? POLL_MS_WITHOUT_PIDFD : -1);
        if (r < 0 && errno != EINTR)
            return pt__err(-errno, "pfork: poll: %s", strerror(errno));
        for (int j = 0; r > 0 && j < k; j++) {
            struct child *c = &cs[owner[j]];
            if (!fds[j].revents)
                continue;
            if (fds[j].fd == c->rfd) {
                int rc = child_read(c, &results[owner[j]].out);
                if (rc < 0)
                    return pt__err(rc, "pfork: reading child %d: %s", owner[j],
                                   pt_strerror(rc));
            } else {
                child_try_reap(c);
            }
        }
        for (int i = 0; i < n; i++) {
            child_try_reap(&cs[i]);
            if (cs[i].reaped && cs[i].rfd >= 0) {
                int rc = child_read(&cs[i], &results[i].out);
                if (rc < 0)
                    return rc;
                pt_sys_close(cs[i].rfd); /* drained: EAGAIN or EOF */
                cs[i].rfd = -1;
            }
        }
    }
}

/* Kill and reap whatever children were started; close their fds. */
static void abandon(struct child *cs, int n)
{
    for (int i = 0; i < n; i++) {
        if (cs[i].pid > 0 && !cs[i].reaped) {
            kill(cs[i].pid, SIGKILL);
            pt_sys_waitpid(cs[i].pid, &cs[i].wstatus, 0);
        }
        pt_sys_close(cs[i].rfd);
        pt_sys_close(cs[i].pidfd);
    }
}

/* Create child i's pipe and fork it; the parent keeps the read end. */
static int spawn(struct child *cs, int i, pt_pfork_fn fn, void *arg,
                 const sigset_t *old_mask)
{
    int p[2];
    int rc = pt_sys_pipe(p);
    if (rc < 0)
        return pt__err(rc, "pfork: pipe for child %d: %s", i, pt_strerror(rc));
    pt__os_set_pipe_size(p[1], 1 << 20); /* best effort: fewer wake-ups */
    pid_t parent = getpid();
    pid_t pid = pt_sys_fork();
    if (pid == 0) {
        for (int j = 0; j < i; j++) { /* the other children's fds */
            close(cs[j].rfd);
            if (cs[j].pidfd >= 0)
                close(cs[j].pidfd);
        }
        close(p[0]);
        child_main(i, fn, arg, p[1], parent, old_mask);
    }
    pt_sys_close(p[1]);
    if (pid < 0) {
        pt_sys_close(p[0]);
        return pt__err((int)pid, "pfork: fork of child %d: %s", i,
                       pt_strerror((int)pid));
    }
    cs[i].pid = pid;
    cs[i].rfd = p[0];
    cs[i].pidfd = pt_sys_pidfd_open(pid);
    return pt_sys_set_nonblock(p[0], 1);
}

/* Fork every child with all signals blocked, so none runs a parent handler. */
static int spawn_all(struct child *cs, int n, pt_pfork_fn fn, void *arg)
{
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    fflush(NULL); /* buffered output must not be written n + 1 times */
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++)
        rc = spawn(cs, i, fn, arg, &old);
    sigprocmask(SIG_SETMASK, &old, NULL);
    return rc;
}

static int check_args(int n, pt_pfork_fn fn, pt_pfork_result *results)
{
    if (n < 1 || !fn || !results)
        return pt__err(-EINVAL, "pfork: need n >= 1 (got %d), fn and results",
                       n);
    int threads = pt_sys_thread_count();
    if (threads > 1)
        return pt__err(-EDEADLK,
                       "pfork: the process has %d threads; forking "
                       "it could deadlock the children (see pfork.h)",
                       threads);
    return 0;
}

int pt_pfork(int n, pt_pfork_fn fn, void *arg, pt_pfork_result *results)
{
    int rc = check_args(n, fn, results);
    if (rc < 0)
        return rc;
    struct child *cs = calloc((size_t)n, sizeof *cs);
    struct pollfd *fds = calloc(2 * (size_t)n, sizeof *fds);
    int *owner = calloc(2 * (size_t)n, sizeof *owner);
    if (!cs || !fds || !owner) {
        rc = pt__err(-ENOMEM, "pfork: out of memory for %d children", n);
        goto out_free;
    }
    for (int i = 0; i < n; i++) {
        cs[i].rfd = cs[i].pidfd = -1;
        results[i] = (pt_pfork_result){0};
    }
    rc = spawn_all(cs, n, fn, arg);
    if (rc == 0)
        rc = collect(cs, n, results, fds, owner);
    if (rc < 0) {
        abandon(cs, n);
        pt_pfork_results_free(n, results);
        goto out_free;
    }
    for (int i = 0; i < n; i++)
        child_result(&cs[i], &results[i]);
out_free:
    free(owner);
    free(fds);
    free(cs);
    return rc;
}

int pt_pfork_failures(int n, const pt_pfork_result *results)
{
    int bad = 0;
    for (int i = 0; i < n; i++)
        bad += results[i].status != PT_PFORK_OK;
    return bad;
}

void pt_pfork_results_free(int n, pt_pfork_result *results)
{
    for (int i = 0; results && i < n; i++)
        pt_buf_free(&results[i].out);
}

const char *pt_pfork_describe(const pt_pfork_result *r, char *buf, size_t size)
{
    switch (r->status) {
    case PT_PFORK_OK: snprintf(buf, size, "ok"); break;
    case PT_PFORK_FAILED:
        snprintf(buf, size, "failed (code %d)", r->code);
        break;
    case PT_PFORK_SIGNALED:
        snprintf(buf, size, "killed by signal %d (%s)", r->code,
                 strsignal(r->code));
        break;
    default:
        snprintf(buf, size, "exited with status %d without a result", r->code);
    }
    return buf;
}
