/* probe.c - load a .so in a short-lived child, never here (see probe.h). */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ptools/kernel_lib.h>
#include <ptools/plugin.h>

#include "spec/probe.h"
#include <ptools/sys.h>
#include <ptools/value.h>

#define LOADED_MARK 'L'          /* first byte: dlopen has returned */
#define REPORT_MAX (8u << 20)    /* more is a broken report */
#define POLL_MS_WITHOUT_PIDFD 10 /* how often to look when no pidfd */
/* The child's exit status when it could not write to ptrun (a constructor
 * calling exit(125) would be taken for that: the lesser evil). */
#define EXIT_UNSENT 125

/* What the child is to do. */
typedef struct probe_req {
    const char *path;
    bool plugin;
    const char *const *names; /* kernels only: the names to look up */
    int n;
    const void *options;      /* plugins: open with these, or NULL */
    size_t options_len;
} probe_req;

/* The parent's view of the child. */
typedef struct child {
    pid_t pid;
    int rfd;    /* read end of the report pipe; -1 once at EOF */
    int pidfd;  /* readable once the child ends; -1 if none */
    bool ended; /* it has ended (not yet reaped) */
    int wstatus;
    pt_buf got; /* every byte read: the mark, then the report */
} child;

/* ---- the child ---- */

/* Append {"error": msg} to b. */
static int report_error(pt_buf *b, const char *msg)
{
    pt_vmark m;
    int rc = pt_venc_map_begin(b, &m);
    if (rc == 0)
        rc = pt_venc_key(b, &m, "error");
    if (rc == 0)
        rc = pt_venc_str(b, msg);
    return rc == 0 ? pt_venc_map_end(b, &m) : rc;
}

/* One kernel's {name, abi, doc}. */
static int report_kernel(pt_buf *b, const pt_kernel *k)
{
    pt_vmark m;
    int rc = pt_venc_map_begin(b, &m);
    if (rc == 0 && (rc = pt_venc_key(b, &m, "name")) == 0)
        rc = pt_venc_str(b, k->name);
    if (rc == 0 && (rc = pt_venc_key(b, &m, "abi")) == 0)
        rc = pt_venc_int(b, k->abi);
    if (rc == 0 && (rc = pt_venc_key(b, &m, "doc")) == 0)
        rc = pt_venc_str(b, k->doc ? k->doc : "");
    return rc == 0 ? pt_venc_map_end(b, &m) : rc;
}

/* "kernels": every kernel; "missing": per name asked, null or why. */
static int report_lib(pt_buf *b, const pt_kernel_lib *lib, const probe_req *r)
{
    pt_vmark m, l;
    int rc = pt_venc_map_begin(b, &m);
    if (rc == 0 && (rc = pt_venc_key(b, &m, "kernels")) == 0)
        rc = pt_venc_list_begin(b, &l);
    for (int i = 0; rc == 0 && i < pt_kernel_lib_count(lib); i++)
        rc = report_kernel(b, pt_kernel_lib_at(lib, i));
    if (rc == 0)
        rc = pt_venc_list_end(b, &l);
    if (rc == 0 && (rc = pt_venc_key(b, &m, "missing")) == 0)
        rc = pt_venc_list_begin(b, &l);
    for (int i = 0; rc == 0 && i < r->n; i++)
        rc = pt_kernel_lib_find(lib, r->names[i])
                 ? pt_venc_null(b)
                 : pt_venc_str(b, pt_errmsg());
    if (rc == 0)
        rc = pt_venc_list_end(b, &l);
    return rc == 0 ? pt_venc_map_end(b, &m) : rc;
}

/* The report on kernel library r->path, already dlopened once. */
static int report_kernels(pt_buf *b, const probe_req *r)
{
    pt_kernel_lib *lib = pt_kernel_lib_open(r->path); /* the same handle */
    if (!lib)
        return report_error(b, pt_errmsg());
    int rc = report_lib(b, lib, r);
    pt_kernel_lib_close(lib);
    return rc;
}

static int remove_one(const char *path, const struct stat *st, int flag,
                      struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

/* What the plugin's own calls reach (plugin.h ctx->sys), as in host.c. */
static const pt_plugin_sys probe_sys = {.size = sizeof probe_sys,
                                        .open = pt_sys_open,
                                        .write = pt_sys_write_full,
                                        .fsync = pt_sys_fsync};

/*
 * Open plugin `d` with r's options in a scratch folder, and close it: its
 * refusal goes to `msg` (empty when it took them). 0 or -errno.
 */
static int try_open(const probe_req *r, const pt_plugin *d, char *msg,
                    size_t size)
{
    pt_buf js = {0};
    const char *tmp = getenv("TMPDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/ptrun-probe-XXXXXX", tmp && *tmp ? tmp
                                                                   : "/tmp");
    msg[0] = '\0';
    int rc = pt_value_to_json(r->options, r->options_len, &js);
    if (rc < 0 || !mkdtemp(dir)) {
        rc = rc < 0 ? rc : -errno;
        pt_buf_free(&js);
        return rc;
    }
    pt_plugin_ctx ctx = {.size = sizeof ctx, .run_dir = dir,
                         .run_name = "probe", .sys = &probe_sys,
                         .options = r->options,
                         .options_len = r->options_len, .checking = 1};
    if (d->open(&ctx, (const char *)js.data) != 0)
        snprintf(msg, size, "plugin %s: %s", d->name ? d->name : "?",
                 ctx.error[0] ? ctx.error : "it refused its options");
    else if (d->close)
        d->close(&ctx);
    pt_buf_free(&js);
    nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* {"options": msg} when the plugin in h refuses r's options, else {}. */
static int report_open(pt_buf *b, const probe_req *r, void *h)
{
    char msg[1024] = "";
    pt_vmark m;
    const pt_plugin *const *d = dlsym(h, "pt_plugin_desc");
    int rc = 0;
    if (r->options && d && *d && (*d)->abi >= 1 &&
        (*d)->abi <= PT_PLUGIN_ABI && (*d)->on_event && (*d)->open)
        rc = try_open(r, *d, msg, sizeof msg);
    if (rc < 0)
        snprintf(msg, sizeof msg, "%s: cannot try its options: %s", r->path,
                 pt_strerror(rc));
    if (msg[0] && rc < 0)
        return report_error(b, msg);
    rc = pt_venc_map_begin(b, &m);
    if (rc == 0 && msg[0] && (rc = pt_venc_key(b, &m, "options")) == 0)
        rc = pt_venc_str(b, msg);
    return rc == 0 ? pt_venc_map_end(b, &m) : rc;
}

/* The report on plugin r->path: it loaded (handle h), started no thread,
 * and takes its options (the descriptor is checked where it is used:
 * host.c; a bad one is not opened here). */
static int report_plugin(pt_buf *b, const probe_req *r, void *h)
{
    char msg[1024];
    if (!h) {
        const char *why = dlerror();
        snprintf(msg, sizeof msg, "%s: cannot load plugin: %s", r->path,
                 why ? why : "unknown error");
        return report_error(b, msg);
    }
    int threads = pt_sys_thread_count();
    if (threads > 1) {
        snprintf(msg, sizeof msg, "%s: loading this plugin started %d "
                 "thread%s; ptrun runs plugins in its own process, which "
                 "must stay single-threaded to fork workers", r->path,
                 threads - 1, threads > 2 ? "s" : "");
        return report_error(b, msg);
    }
    return report_open(b, r, h);
}

/*
 * In the child: killed with ptrun, in a process group of its own, stdin
 * from /dev/null, stdout to stderr, no fd of ptrun's open but `wfd`.
 */
static int child_setup(int null_fd, int wfd, pid_t parent)
{
    pt_sys_parent_death_signal(SIGKILL);
    if (getppid() != parent) /* ptrun died before prctl took effect */
        pt_sys_exit(127);
    setpgid(0, 0); /* the parent does it too: whichever runs first */
    if (dup2(null_fd, STDIN_FILENO) < 0 ||
        dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
        return -errno;
    int keep[] = {wfd};
    return pt_sys_close_all_but(keep, 1);
}

/* The child cannot write to ptrun (`rc`): say so on stderr, and leave. */
static _Noreturn void child_unsent(const probe_req *r, int rc)
{
    fprintf(stderr, "ptrun: probe of %s: cannot send its report: %s\n",
            r->path, pt_strerror(rc));
    fflush(NULL);
    pt_sys_exit(EXIT_UNSENT);
}

/* The child's whole life: load, mark, report, _exit. */
static _Noreturn void child_main(const probe_req *r, int null_fd, int wfd,
                                 pid_t parent, const sigset_t *old)
{
    pt_sys_child_reset_signals(old);
    int rc = child_setup(null_fd, wfd, parent);
    void *h = NULL;
    if (rc == 0) /* its constructors run here */
        h = dlopen(r->path, RTLD_NOW | RTLD_LOCAL);
    char mark = LOADED_MARK;
    int sent = pt_sys_write_full(wfd, &mark, 1);
    if (sent < 0)
        child_unsent(r, sent);
    pt_buf b = {0};
    char msg[1024];
    if (rc < 0) {
        snprintf(msg, sizeof msg, "%s: cannot set up the process that "
                 "loads it: %s", r->path, strerror(-rc));
        rc = report_error(&b, msg);
    } else
        rc = r->plugin ? report_plugin(&b, r, h) : report_kernels(&b, r);
    if (rc == 0 && (sent = pt_sys_write_full(wfd, b.data, b.len)) < 0)
        child_unsent(r, sent);
    fflush(NULL); /* what a constructor printed, to stderr */
    pt_sys_exit(rc == 0 ? 0 : 127);
}

/* ---- the parent ---- */

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
static int fork_child(child *c, const probe_req *r, int null_fd, int p[2])
{
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    fflush(NULL); /* nothing buffered may be written twice */
    pid_t parent = getpid(), pid = pt_sys_fork();
    if (pid == 0) /* child_setup() closes p[0] and every other fd */
        child_main(r, null_fd, p[1], parent, &old);
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid < 0)
        return (int)pid;
    setpgid(pid, 0); /* the child does it too: whichever runs first */
    c->pid = pid;
    c->pidfd = pt_sys_pidfd_open(pid);
    return 0;
}

/* Start the child with its pipe; on failure *what names the call. */
static int spawn(child *c, const probe_req *r, const char **what)
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

/* One {name, abi, doc} of the report into k. */
static int parse_kernel(const pt_val *v, rn_probe_kernel *k)
{
    pt_val abi;
    if (v->type != PT_V_MAP || pt_vmap_get(v, "abi", &abi) < 0 ||
        abi.type != PT_V_INT || abi.u.i < 0 || abi.u.i > UINT32_MAX)
        return -EBADMSG;
    k->abi = (unsigned)abi.u.i;
    int rc = get_str(v, "name", &k->name);
    return rc == 0 ? get_str(v, "doc", &k->doc) : rc;
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
        rc = item.type == PT_V_NULL ? 0
             : item.type != PT_V_STR ? -EBADMSG
             : (*m = strdup(item.u.str.ptr)) ? 0
                                            : -ENOMEM;
    }
    return rc;
}

/* The child's report (after the mark) into p; never trusted. */
static int parse_report(const uint8_t *data, size_t len, const probe_req *r,
                        rn_probe *p)
{
    pt_val top, e;
    size_t next;
    void *copy = malloc(len ? len : 1); /* 8-aligned, as the decoder wants */
    if (!copy)
        return -ENOMEM;
    memcpy(copy, data, len);
    int rc = pt_value_check(copy, len, 3);
    if (rc == 0 && (pt_vdec(copy, len, 0, &top, &next) < 0 ||
                    top.type != PT_V_MAP))
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
static int conclude(const child *c, int rc, int limit, const probe_req *r,
                    rn_probe *p)
{
    p->loaded = c->got.len > 0 && c->got.data[0] == LOADED_MARK;
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
               WEXITSTATUS(c->wstatus) == EXIT_UNSENT) {
        p->how = RN_PROBE_FAILED; /* its message is on stderr */
        p->what = "its report could not be sent";
        p->code = -EIO;
    } else if (WIFSIGNALED(c->wstatus)) {
        p->how = RN_PROBE_SIGNALED;
        p->code = WTERMSIG(c->wstatus);
    } else if (WEXITSTATUS(c->wstatus) != 0 || !p->loaded) {
        p->how = RN_PROBE_EXITED;
        p->code = WEXITSTATUS(c->wstatus);
    } else if ((rc = parse_report(c->got.data + 1, c->got.len - 1, r, p)) <
               0) {
        p->how = rc == -ENOMEM ? RN_PROBE_FAILED : RN_PROBE_BROKEN;
        p->what = "reading its report";
        p->code = rc;
    }
    return p->how == RN_PROBE_REPORTED ? 0
           : p->how == RN_PROBE_FAILED ? p->code
                                       : -EINVAL;
}

/* Probe as r says into p: 0 when the child reported, else -errno. */
static int probe(const probe_req *r, rn_probe *p)
{
    child c = {.rfd = -1, .pidfd = -1};
    *p = (rn_probe){.how = RN_PROBE_FAILED};
    int limit = limit_ms();
    if (limit < 0) {
        p->what = "$" RN_PROBE_LIMIT_ENV " (whole ms, 1 to 86400000)";
        return p->code = limit;
    }
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
    pt_buf_free(&c.got);
    return rc;
}

int rn_probe_kernels(const char *path, const char *const *names, int n,
                     rn_probe *p)
{
    probe_req r = {.path = path, .names = names, .n = n};
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
    probe_req r = {.path = path, .plugin = true};
    int rc = probe(&r, p);
    if (rc < 0)
        return p->how == RN_PROBE_FAILED ? rc : -EINVAL;
    return p->error ? -EINVAL : 0;
}

int rn_probe_plugin_open(const char *path, const void *options, size_t len,
                         rn_probe *p)
{
    probe_req r = {.path = path, .plugin = true, .options = options,
                   .options_len = len};
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
    case RN_PROBE_REPORTED:
        return NULL;
    case RN_PROBE_SIGNALED:
        signal_words(p->code, w, sizeof w);
        if (p->loaded)
            snprintf(buf, size, "it loaded, then crashed (%s) while its "
                     "descriptors were read", w);
        else
            snprintf(buf, size, "loading it crashed (%s) in a constructor",
                     w);
        break;
    case RN_PROBE_EXITED:
        if (p->loaded)
            snprintf(buf, size, "it loaded, then its probe exited with "
                     "status %d without a report", p->code);
        else
            snprintf(buf, size, "exited with status %d while loading (does "
                     "a constructor call exit?)", p->code);
        break;
    case RN_PROBE_TIMEOUT:
        limit_words(p->code, w, sizeof w);
        if (p->loaded)
            snprintf(buf, size, "it loaded, but its check did not finish "
                     "within %s", w);
        else
            snprintf(buf, size, "did not finish loading within %s (the "
                     "limit is $%s, in ms)", w, RN_PROBE_LIMIT_ENV);
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
    }
    for (int i = 0; i < p->nmissing; i++)
        free(p->missing[i]);
    free(p->kernels);
    free(p->missing);
    free(p->error);
    free(p->options_error);
    *p = (rn_probe){0};
}
