/*
 * probe.c - load a .so in a short-lived child, never here (see probe.h):
 * the parent's side. Fork the child (probe_child.c does its work), read
 * its report over a pipe within the time limit, kill its process group,
 * reap it, and decode the report (never trusted) into an rn_probe.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ptools/kernel_lib.h>

#include "spec/probe.h"
#include "spec/probe_cache.h"
#include "spec/probe_impl.h"
#include <ptools/sys.h>
#include <ptools/value.h>

#define REPORT_MAX (8u << 20)    /* more is a broken report */
#define POLL_MS_WITHOUT_PIDFD 10 /* how often to look when no pidfd */

/* The parent's view of the child. */
typedef struct child {
    pid_t pid;
    int rfd;    /* read end of the report pipe; -1 once at EOF */
    int pidfd;  /* readable once the child ends; -1 if none */
    bool ended; /* it has ended (not yet reaped) */
    int wstatus;
    pt_buf got; /* every byte read: the mark, then the report */
} child;

/* The load time limit in ms: $PTRUN_LOAD_TIMEOUT_MS or the default. */
static int limit_ms(void)
{
    const char *t = getenv(RN_PROBE_LIMIT_ENV);
    if (!t || !*t)
        return RN_PROBE_LIMIT_MS;
    char *end;
    errno = 0;
    long v = strtol(t, &end, 10);
    if (errno || *end || end == t || v < 1 || v > RN_PROBE_LIMIT_MAX_MS)
        return -EINVAL;
    return (int)v;
}

/* Fork the child (signals blocked around fork, STYLE 5). 0 or -errno. */
static int fork_child(child *c, const rn_probe_req *r, int null_fd, int p[2])
{
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    fflush(NULL); /* nothing buffered may be written twice */
    pid_t parent = getpid(), pid = pt_sys_fork();
    if (pid == 0) /* child_setup() closes p[0] and every other fd */
        rn_probe_child_main(r, null_fd, p[1], parent, &old);
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid < 0)
        return (int)pid;
    setpgid(pid, 0); /* the child does it too: whichever runs first */
    c->pid = pid;
    c->pidfd = pt_sys_pidfd_open(pid);
    return 0;
}

/* Start the child with its pipe; on failure *what names the call. */
static int spawn(child *c, const rn_probe_req *r, const char **what)
{
    int p[2], rc;
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0) {
        *what = "/dev/null";
        return -errno;
    }
    if ((rc = pt_sys_pipe(p)) < 0) {
        *what = "pipe";
        pt_sys_close(null_fd);
        return rc;
    }
    c->rfd = p[0];
    rc = fork_child(c, r, null_fd, p);
    pt_sys_close(null_fd);
    pt_sys_close(p[1]);
    if (rc < 0)
        *what = "fork";
    else if ((rc = pt_sys_set_nonblock(p[0], 1)) < 0)
        *what = "fcntl";
    return rc;
}

/* Read what the pipe holds now. 0, -EMSGSIZE past REPORT_MAX, -errno. */
static int drain(child *c)
{
    while (c->rfd >= 0) {
        if (c->got.len >= REPORT_MAX)
            return -EMSGSIZE;
        int rc = pt_buf_reserve(&c->got, 4096);
        if (rc < 0)
            return rc;
        ssize_t n = pt_sys_read_some(c->rfd, c->got.data + c->got.len, 4096);
        if (n == -EAGAIN)
            return 0;
        if (n < 0)
            return (int)n;
        if (n == 0) {
            pt_sys_close(c->rfd);
            c->rfd = -1;
        }
        c->got.len += (size_t)n;
    }
    return 0;
}

/* Whether the child has ended, seen without reaping it (so that its pid,
 * and so its process group's id, cannot be reused before the group is
 * killed). */
static bool has_ended(child *c)
{
    siginfo_t si = {0};
    if (c->ended)
        return true;
    if (waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0)
        c->ended = si.si_pid == c->pid;
    else /* not ours to wait for any more (ECHILD): finish() will say */
        c->ended = errno != EINTR;
    return c->ended;
}

/* Sleep until the pipe or the pidfd has news, `ms` at most. */
static int wait_news(const child *c, int64_t ms)
{
    struct pollfd fds[2];
    nfds_t n = 0;
    if (c->rfd >= 0)
        fds[n++] = (struct pollfd){.fd = c->rfd, .events = POLLIN};
    if (c->pidfd >= 0)
        fds[n++] = (struct pollfd){.fd = c->pidfd, .events = POLLIN};
    else if (ms > POLL_MS_WITHOUT_PIDFD)
        ms = POLL_MS_WITHOUT_PIDFD;
    if (poll(fds, n, (int)ms) < 0 && errno != EINTR)
        return -errno;
    return 0;
}

/* Read the report until the child ends: 0, -ETIMEDOUT after `limit`
 * ms, -EMSGSIZE for too much, or -errno. */
static int watch(child *c, int limit)
{
    int64_t deadline = pt_sys_mono_ns() + (int64_t)limit * 1000000;
    for (;;) {
        int rc = drain(c);
        if (rc < 0 || has_ended(c))
            return rc;
        int64_t left = (deadline - pt_sys_mono_ns() + 999999) / 1000000;
        if (left <= 0)
            return -ETIMEDOUT;
        if ((rc = wait_news(c, left)) < 0)
            return rc;
    }
}

/*
 * Kill the child's process group (what a constructor forked) while the
 * child, dead or alive, still holds its id; kill the child itself if it
 * is still running; reap it; read what its pipe still holds.
 */
static int finish(child *c)
{
    kill(-c->pid, SIGKILL);
    if (!c->ended)
        kill(c->pid, SIGKILL);
    pid_t r = pt_sys_waitpid(c->pid, &c->wstatus, 0);
    int rc = r < 0 ? (int)r : drain(c);
    pt_sys_close(c->rfd);
    pt_sys_close(c->pidfd);
    c->rfd = c->pidfd = -1;
    return rc;
}

/* A string member of map `v`, copied: 0, or -EBADMSG / -ENOMEM. */
static int get_str(const pt_val *v, const char *key, char **out)
{
    pt_val s;
    if (pt_vmap_get(v, key, &s) < 0 || s.type != PT_V_STR)
        return -EBADMSG;
    return (*out = strdup(s.u.str.ptr)) ? 0 : -ENOMEM;
}

/* One {name, type, def, doc} of a kernel's "params" into p. */
static int parse_param(const pt_val *v, rn_param *p)
{
    pt_val type, def;
    if (v->type != PT_V_MAP || pt_vmap_get(v, "type", &type) < 0 ||
        type.type != PT_V_INT || type.u.i < INT32_MIN || type.u.i > INT32_MAX ||
        pt_vmap_get(v, "def", &def) < 0 ||
        (def.type != PT_V_NULL && def.type != PT_V_STR))
        return -EBADMSG;
    p->type = (int)type.u.i;
    int rc = get_str(v, "name", &p->name);
    if (rc == 0)
        rc = get_str(v, "doc", &p->doc);
    if (rc == 0 && def.type == PT_V_STR)
        rc = get_str(v, "def", &p->def);
    return rc;
}

/* A kernel's "params" list, when it declares them, into k; what is
 * wrong with them (names, types, defaults) into k->bad. */
static int parse_params(const pt_val *v, rn_probe_kernel *k)
{
    pt_val l, item;
    pt_viter it;
    char why[512];
    if (pt_vmap_get(v, "params", &l) < 0)
        return 0;
    if (l.type != PT_V_LIST || l.u.c.count > RN_PARAMS_MAX + 1)
        return -EBADMSG;
    rn_param *all = calloc(l.u.c.count + 1, sizeof *all);
    if (!all)
        return -ENOMEM;
    k->params.declared = true;
    k->params.v = all;
    int rc = pt_viter_init(&it, &l);
    while (rc == 0 && (rc = pt_vlist_next(&it, &item)) == 1)
        rc = parse_param(&item, &all[k->params.n++]);
    if (rc == 0 && rn_kparams_check(k->name, &k->params, why, sizeof why) < 0)
        rc = (k->bad = strdup(why)) ? 0 : -ENOMEM;
    return rc;
}

/* One {name, abi, doc, params} of the report into k. */
static int parse_kernel(const pt_val *v, rn_probe_kernel *k)
{
    pt_val abi;
    if (v->type != PT_V_MAP || pt_vmap_get(v, "abi", &abi) < 0 ||
        abi.type != PT_V_INT || abi.u.i < 0 || abi.u.i > UINT32_MAX)
        return -EBADMSG;
    k->abi = (unsigned)abi.u.i;
    int rc = get_str(v, "name", &k->name);
    if (rc == 0)
        rc = get_str(v, "doc", &k->doc);
    return rc == 0 ? parse_params(v, k) : rc;
}

/* The report's "kernels" list into p. */
static int parse_kernels(const pt_val *top, rn_probe *p)
{
    pt_val l, item;
    pt_viter it;
    if (pt_vmap_get(top, "kernels", &l) < 0 || l.type != PT_V_LIST ||
        l.u.c.count > PT_KERNEL_LIB_MAX)
        return -EBADMSG;
    p->kernels = calloc(l.u.c.count + 1, sizeof *p->kernels);
    if (!p->kernels)
        return -ENOMEM;
    int rc = pt_viter_init(&it, &l);
    while (rc == 0 && (rc = pt_vlist_next(&it, &item)) == 1)
        rc = parse_kernel(&item, &p->kernels[p->nkernels++]);
    return rc;
}

/* The report's "missing" list (one entry per name asked) into p. */
static int parse_missing(const pt_val *top, rn_probe *p, int n)
{
    pt_val l, item;
    pt_viter it;
    if (pt_vmap_get(top, "missing", &l) < 0 || l.type != PT_V_LIST ||
        l.u.c.count != (size_t)n)
        return -EBADMSG;
    if (n && !(p->missing = calloc((size_t)n, sizeof *p->missing)))
        return -ENOMEM;
    int rc = pt_viter_init(&it, &l);
    while (rc == 0 && (rc = pt_vlist_next(&it, &item)) == 1) {
        char **m = &p->missing[p->nmissing++];
        rc = item.type == PT_V_NULL          ? 0
             : item.type != PT_V_STR         ? -EBADMSG
             : (*m = strdup(item.u.str.ptr)) ? 0
                                             : -ENOMEM;
    }
    return rc;
}

/* The child's report (after the mark) into p; never trusted. */
static int parse_report(const uint8_t *data, size_t len, const rn_probe_req *r,
                        rn_probe *p)
{
    pt_val top, e;
    size_t next;
    void *copy = malloc(len ? len : 1); /* 8-aligned, as the decoder wants */
    if (!copy)
        return -ENOMEM;
    memcpy(copy, data, len);
    int rc = pt_value_check(copy, len, 5);
    if (rc == 0 &&
        (pt_vdec(copy, len, 0, &top, &next) < 0 || top.type != PT_V_MAP))
        rc = -EBADMSG;
    if (rc == 0 && pt_vmap_get(&top, "error", &e) == 0)
        rc = get_str(&top, "error", &p->error);
    else if (rc == 0 && r->plugin && pt_vmap_get(&top, "options", &e) == 0)
        rc = get_str(&top, "options", &p->options_error);
    else if (rc == 0 && !r->plugin && (rc = parse_kernels(&top, p)) == 0)
        rc = parse_missing(&top, p, r->n);
    free(copy);
    return rc;
}

/* How the child ended (`rc`: what watch() and finish() said) into p. */
static int conclude(const child *c, int rc, int limit, const rn_probe_req *r,
                    rn_probe *p)
{
    p->loaded = c->got.len > 0 && c->got.data[0] == RN_PROBE_LOADED_MARK;
    p->how = RN_PROBE_REPORTED;
    p->code = rc;
    if (rc == -ETIMEDOUT) {
        p->how = RN_PROBE_TIMEOUT;
        p->code = limit;
    } else if (rc == -EMSGSIZE) {
        p->how = RN_PROBE_BROKEN;
    } else if (rc < 0) {
        p->how = RN_PROBE_FAILED;
        p->what = "reading its report";
    } else if (WIFEXITED(c->wstatus) &&
               WEXITSTATUS(c->wstatus) == RN_PROBE_EXIT_UNSENT) {
        p->how = RN_PROBE_FAILED; /* its message is on stderr */
        p->what = "its report could not be sent";
        p->code = -EIO;
    } else if (WIFSIGNALED(c->wstatus)) {
        p->how = RN_PROBE_SIGNALED;
        p->code = WTERMSIG(c->wstatus);
    } else if (WEXITSTATUS(c->wstatus) != 0 || !p->loaded) {
        p->how = RN_PROBE_EXITED;
        p->code = WEXITSTATUS(c->wstatus);
    } else if ((rc = parse_report(c->got.data + 1, c->got.len - 1, r, p)) < 0) {
        p->how = rc == -ENOMEM ? RN_PROBE_FAILED : RN_PROBE_BROKEN;
        p->what = "reading its report";
        p->code = rc;
    }
    return p->how == RN_PROBE_REPORTED ? 0
           : p->how == RN_PROBE_FAILED ? p->code
                                       : -EINVAL;
}

/* Whether p is the report of a library that passed (and so may be kept:
 * refusals are always reported afresh). */
static bool passed(const rn_probe *p)
{
    if (p->how != RN_PROBE_REPORTED || p->error || p->options_error)
        return false;
    for (int i = 0; i < p->nmissing; i++)
        if (p->missing[i])
            return false;
    return true;
}

/* The report kept under `key` into p, as if a child had just sent it:
 * true when there is one and it says the library passed. */
static bool from_cache(const char *key, const rn_probe_req *r, int limit,
                       rn_probe *p)
{
    child c = {.rfd = -1, .pidfd = -1, .ended = true};
    bool hit = rn_probe_cache_get(key, &c.got) == 0 &&
               conclude(&c, 0, limit, r, p) == 0 && passed(p);
    pt_buf_free(&c.got);
    if (!hit) {
        rn_probe_free(p);
        *p = (rn_probe){.how = RN_PROBE_FAILED};
    }
    return hit;
}

/* Probe as r says into p: 0 when the child reported, else -errno. A
 * report kept from an earlier probe of the same library (probe_cache.h)
 * stands for the child's. */
static int probe(const rn_probe_req *r, rn_probe *p)
{
    child c = {.rfd = -1, .pidfd = -1};
    char key[65];
    *p = (rn_probe){.how = RN_PROBE_FAILED};
    int limit = limit_ms();
    if (limit < 0) {
        p->what = "$" RN_PROBE_LIMIT_ENV " (whole ms, 1 to 86400000)";
        return p->code = limit;
    }
    bool cache = rn_probe_cache_key(r, key) == 0;
    if (cache && from_cache(key, r, limit, p))
        return 0;
    int rc = spawn(&c, r, &p->what);
    if (rc < 0) {
        if (c.pid > 0)
            finish(&c);
        pt_sys_close(c.rfd);
        return p->code = rc;
    }
    rc = watch(&c, limit);
    int fin = finish(&c);
    rc = conclude(&c, rc < 0 ? rc : fin, limit, r, p);
    if (cache && rc == 0 && passed(p))
        rn_probe_cache_put(key, c.got.data, c.got.len);
    pt_buf_free(&c.got);
    return rc;
}

int rn_probe_kernels(const char *path, const char *const *names, int n,
                     rn_probe *p)
{
    rn_probe_req r = {.path = path, .names = names, .n = n};
    int rc = probe(&r, p);
    if (rc < 0)
        return p->how == RN_PROBE_FAILED ? rc : -EINVAL;
    if (p->error)
        return -EINVAL;
    for (int i = 0; i < p->nmissing; i++)
        if (p->missing[i])
            return -ENOENT;
    return 0;
}

int rn_probe_plugin(const char *path, rn_probe *p)
{
    rn_probe_req r = {.path = path, .plugin = true};
    int rc = probe(&r, p);
    if (rc < 0)
        return p->how == RN_PROBE_FAILED ? rc : -EINVAL;
    return p->error ? -EINVAL : 0;
}

int rn_probe_plugin_open(const char *path, const void *options, size_t len,
                         rn_probe *p)
{
    rn_probe_req r = {
        .path = path, .plugin = true, .options = options, .options_len = len};
    int rc = probe(&r, p);
    if (rc < 0)
        return p->how == RN_PROBE_FAILED ? rc : -EINVAL;
    return p->error ? -EINVAL : p->options_error ? -EDOM : 0;
}

/* "signal 11, SIGSEGV" */
static void signal_words(int sig, char *buf, size_t size)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
    const char *abbrev = sigabbrev_np(sig);
    if (abbrev) {
        snprintf(buf, size, "signal %d, SIG%s", sig, abbrev);
        return;
    }
#endif
    snprintf(buf, size, "signal %d, %s", sig, strsignal(sig));
}

/* "30 s", or "250 ms" when not whole seconds. */
static void limit_words(int ms, char *buf, size_t size)
{
    if (ms % 1000 == 0)
        snprintf(buf, size, "%d s", ms / 1000);
    else
        snprintf(buf, size, "%d ms", ms);
}

const char *rn_probe_why(const rn_probe *p, char *buf, size_t size)
{
    char w[64];
    switch (p->how) {
    case RN_PROBE_REPORTED: return NULL;
    case RN_PROBE_SIGNALED:
        signal_words(p->code, w, sizeof w);
        if (p->loaded)
            snprintf(buf, size,
                     "it loaded, then crashed (%s) while its "
                     "descriptors were read",
                     w);
        else
            snprintf(buf, size, "loading it crashed (%s) in a constructor", w);
        break;
    case RN_PROBE_EXITED:
        if (p->loaded)
            snprintf(buf, size,
                     "it loaded, then its probe exited with "
                     "status %d without a report",
                     p->code);
        else
            snprintf(buf, size,
                     "exited with status %d while loading (does "
                     "a constructor call exit?)",
                     p->code);
        break;
    case RN_PROBE_TIMEOUT:
        limit_words(p->code, w, sizeof w);
        if (p->loaded)
            snprintf(buf, size,
                     "it loaded, but its check did not finish "
                     "within %s",
                     w);
        else
            snprintf(buf, size,
                     "did not finish loading within %s (the "
                     "limit is $%s, in ms)",
                     w, RN_PROBE_LIMIT_ENV);
        break;
    case RN_PROBE_BROKEN:
        snprintf(buf, size, "its probe sent a malformed report (%s)",
                 pt_strerror(p->code));
        break;
    default:
        snprintf(buf, size, "could not be probed: %s: %s",
                 p->what ? p->what : "?", pt_strerror(p->code));
    }
    return buf;
}

void rn_probe_free(rn_probe *p)
{
    for (int i = 0; i < p->nkernels; i++) {
        free(p->kernels[i].name);
        free(p->kernels[i].doc);
        free(p->kernels[i].bad);
        rn_kparams_free(&p->kernels[i].params);
    }
    for (int i = 0; i < p->nmissing; i++)
        free(p->missing[i]);
    free(p->kernels);
    free(p->missing);
    free(p->error);
    free(p->options_error);
    *p = (rn_probe){0};
}
