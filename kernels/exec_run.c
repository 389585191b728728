/*
 * exec_run.c - run one program for the exec kernel: fork, execvp in the
 * child (its own process group, killed with its parent), then feed stdin
 * and read stdout and stderr together with poll until all three are done,
 * and reap it. Every fd is O_CLOEXEC; every call is retried on EINTR.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec.h"

int exec_buf_add(exec_buf *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q)
            return -ENOMEM;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

void exec_buf_free(exec_buf *b)
{
    free(b->p);
    *b = (exec_buf){0};
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* The child's three pipes (read end, write end) and the exec-error pipe. */
typedef struct pipes {
    int in[2], out[2], err[2], fail[2];
} pipes;

static void close_all(pipes *p)
{
    int *fds = &p->in[0];
    for (int i = 0; i < 8; i++)
        close_fd(&fds[i]);
}

static int open_pipes(const exec_job *job, pipes *p)
{
    *p = (pipes){{-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}};
    if ((job->stdin_ && pipe2(p->in, O_CLOEXEC) < 0) ||
        (!job->stdin_ &&
         (p->in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) ||
        (job->capture && pipe2(p->out, O_CLOEXEC) < 0) ||
        pipe2(p->err, O_CLOEXEC) < 0 || pipe2(p->fail, O_CLOEXEC) < 0) {
        int e = errno;
        close_all(p);
        return -e;
    }
    return 0;
}

/* Tell the parent why the child could not start, and leave. */
static void child_fail(int fd, int stage)
{
    int msg[2] = {stage, errno};
    ssize_t n = write(fd, msg, sizeof msg);
    (void)n;
    _exit(127);
}

/* In the child: only async-signal-safe calls (STYLE 5). */
static void child(const exec_job *job, const pipes *p, pid_t parent)
{
    setpgid(0, 0); /* its own group: kill(-pid) ends what it started */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
        _exit(127); /* never outlive the worker, even if it died already */
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    for (int s = 1; s < NSIG; s++)
        sigaction(s, &dfl, NULL); /* SIG_IGN would survive the exec */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (dup2(p->in[0], 0) < 0 || (p->out[1] >= 0 && dup2(p->out[1], 1) < 0) ||
        dup2(p->err[1], 2) < 0)
        child_fail(p->fail[1], 0);
    if (job->cwd && chdir(job->cwd) < 0)
        child_fail(p->fail[1], 1);
    execvpe(job->argv[0], job->argv, job->envp);
    child_fail(p->fail[1], 2);
}

/* After the fork: did the exec happen? 0, or -1 with pt_fail called. */
static int check_started(pt_ctx *ctx, const exec_job *job, int fd)
{
    static const char *const what[] = {"redirect the output of", "chdir to",
                                       "run"};
    int msg[2];
    ssize_t n;
    do
        n = read(fd, msg, sizeof msg);
    while (n < 0 && errno == EINTR);
    if (n == 0)
        return 0; /* closed by the exec (O_CLOEXEC) */
    if (n != (ssize_t)sizeof msg || msg[0] < 0 || msg[0] > 2)
        return pt_fail(ctx, "exec: lost track of the child starting");
    const char *name = msg[0] == 1 ? job->cwd : job->argv[0];
    return pt_fail(ctx, "cannot %s `%s`: %s", what[msg[0]], name,
                   strerror(msg[1]));
}

/*
 * Stderr goes on to the worker's: to output.log, and the runner adds the
 * task's last stderr lines to the error of a task that fails.
 */
static void forward(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(2, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* a lost log line must not fail the task */
        p += w;
        n -= (size_t)w;
    }
}

/* One readable pipe: 0, or -errno. */
static int drain(int *fd, bool is_out, exec_outcome *o, pid_t pid)
{
    char buf[65536];
    ssize_t n = read(*fd, buf, sizeof buf);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : -errno;
    if (n == 0) {
        close_fd(fd);
        return 0;
    }
    if (!is_out) {
        forward(buf, (size_t)n);
        return 0;
    }
    if (o->too_much)
        return 0; /* read on to EOF: the group is being killed */
    if (o->out.len + (size_t)n > EXEC_STDOUT_MAX) {
        o->too_much = true;
        kill(-pid, SIGKILL);
        return 0;
    }
    return exec_buf_add(&o->out, buf, (size_t)n);
}

/* Write what the child has room for of stdin; close it when all is in. */
static int feed(int *fd, const char *data, size_t len, size_t *done)
{
    ssize_t n = write(*fd, data + *done, len - *done);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n < 0 && errno != EPIPE)
        return -errno;
    *done = n < 0 ? len : *done + (size_t)n; /* EPIPE: it will not read */
    if (*done == len)
        close_fd(fd);
    return 0;
}

/* Feed stdin and read stdout and stderr until all three are done. */
static int pump(const exec_job *job, pipes *p, exec_outcome *o, pid_t pid)
{
    size_t in_len = job->stdin_ ? strlen(job->stdin_) : 0, in_done = 0;
    int rc = 0;
    if (p->in[1] >= 0 && in_len == 0)
        close_fd(&p->in[1]);
    if (p->in[1] >= 0 && fcntl(p->in[1], F_SETFL, O_NONBLOCK) < 0)
        return -errno;
    while (rc == 0 && (p->in[1] >= 0 || p->out[0] >= 0 || p->err[0] >= 0)) {
        struct pollfd fds[3] = {{p->in[1], POLLOUT, 0},
                                {p->out[0], POLLIN, 0},
                                {p->err[0], POLLIN, 0}};
        if (poll(fds, 3, -1) < 0) {
            rc = errno == EINTR ? 0 : -errno;
            continue;
        }
        if (fds[0].revents)
            rc = feed(&p->in[1], job->stdin_, in_len, &in_done);
        if (rc == 0 && fds[1].revents)
            rc = drain(&p->out[0], true, o, pid);
        if (rc == 0 && fds[2].revents)
            rc = drain(&p->err[0], false, o, pid);
    }
    return rc;
}

/*
 * Wait for the child to end; then, while its pid is still held by the
 * zombie (so the group id cannot be reused), end whatever it left running
 * in its group; then reap it.
 */
static int reap(pid_t pid, int *status)
{
    siginfo_t si;
    pid_t r;
    int w;
    do
        w = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT);
    while (w < 0 && errno == EINTR);
    kill(-pid, SIGKILL);
    do
        r = waitpid(pid, status, 0);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : 0;
}

int exec_run(pt_ctx *ctx, const exec_job *job, exec_outcome *o)
{
    pipes p;
    *o = (exec_outcome){0};
    int rc = open_pipes(job, &p);
    if (rc < 0)
        return pt_fail(ctx, "exec: pipe: %s", strerror(-rc)), rc;
    pid_t parent = getpid(), pid = fork();
    if (pid < 0) {
        rc = -errno;
        close_all(&p);
        return pt_fail(ctx, "exec: fork: %s", strerror(-rc)), rc;
    }
    if (pid == 0)
        child(job, &p, parent);
    close_fd(&p.in[0]);
    close_fd(&p.out[1]);
    close_fd(&p.err[1]);
    close_fd(&p.fail[1]);
    rc = check_started(ctx, job, p.fail[0]) < 0 ? -ECHILD : 0;
    int prc = rc == 0 ? pump(job, &p, o, pid) : 0;
    if (prc < 0)
        kill(-pid, SIGKILL);
    close_all(&p);
    int wrc = reap(pid, &o->status);
    if (rc == 0 && (prc < 0 || wrc < 0)) {
        rc = prc < 0 ? prc : wrc;
        pt_fail(ctx, "exec: %s: %s", prc < 0 ? "reading its output" : "waitpid",
                strerror(-rc));
    }
    return rc;
}
