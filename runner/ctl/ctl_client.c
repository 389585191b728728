/*
 * ctl_client.c - `ptrun ctl DIR ...` (see ctl.h): turn the words into one
 * JSON request, send it to the run's DIR/ctl.sock, print the reply line.
 */
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <ptools/json.h>
#include <ptools/sys.h>

#include "ctl/ctl.h"
#include "events/rundir.h"   /* RN_RUNDIR_LOCK */
#include "spec/spec_check.h" /* rn_hint */

#define WAIT_MS 10000                /* for the connection and the reply */
#define MAX_REPLY (64 * 1024 * 1024) /* a status can be long, not endless */
#define EXIT_USAGE 2
#define EXIT_RUNTIME 3

static const char ctl_usage[] =
    "usage: ptrun ctl DIR status [--json]\n"
    "       ptrun ctl DIR pause | resume [--json]\n"
    "       ptrun ctl DIR priority TASK|kernel=K|tag=T PRIO [--json]\n"
    "       ptrun ctl DIR cancel TASK|kernel=K|tag=T [--json]\n";

static const char *const commands[] = {"status", "pause", "resume", "priority",
                                       "cancel"};

static int usage(FILE *errf, const char *why)
{
    fprintf(errf, "ptrun ctl: %s\n%s", why, ctl_usage);
    return EXIT_USAGE;
}

/* A whole decimal integer that fits int64_t. */
static bool parse_int(const char *s, int64_t *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    *v = x;
    return errno == 0 && end != s && *end == '\0' &&
           (s[0] == '-' || (s[0] >= '0' && s[0] <= '9'));
}

/* The member for TASK, kernel=K or tag=T; false when it is neither. */
static bool add_selector(pt_buf *b, const char *sel, bool *oom)
{
    int64_t id;
    int rc;
    if (strncmp(sel, "kernel=", 7) == 0 && sel[7]) {
        rc = pt_buf_printf(b, ",\"kernel\":");
        rc = rc ? rc : pt_json_cstr(b, sel + 7);
    } else if (strncmp(sel, "tag=", 4) == 0 && sel[4]) {
        rc = pt_buf_printf(b, ",\"tag\":");
        rc = rc ? rc : pt_json_cstr(b, sel + 4);
    } else if (parse_int(sel, &id) && id >= 0) {
        rc = pt_buf_printf(b, ",\"task\":%" PRId64, id);
    } else {
        return false;
    }
    *oom |= rc < 0;
    return true;
}

/* The request line for argv, or EXIT_USAGE after saying why. */
static int build_request(int argc, char **argv, pt_buf *b, FILE *errf)
{
    bool oom = false;
    if (argc < 1)
        return usage(errf, "missing a command");
    const char *cmd = argv[0];
    bool plain = strcmp(cmd, "status") == 0 || strcmp(cmd, "pause") == 0 ||
                 strcmp(cmd, "resume") == 0;
    bool prio = strcmp(cmd, "priority") == 0;
    if (!plain && !prio && strcmp(cmd, "cancel") != 0) {
        char hint[128], why[256];
        rn_hint(cmd, commands, 5, "commands", hint, sizeof hint);
        snprintf(why, sizeof why, "unknown command '%s' (%s)", cmd, hint);
        return usage(errf, why);
    }
    if (argc != (plain ? 1 : prio ? 3 : 2))
        return usage(errf, "wrong number of arguments");
    oom |= pt_buf_printf(b, "{\"cmd\":\"%s\"", cmd) < 0;
    if (!plain && !add_selector(b, argv[1], &oom))
        return usage(errf, "a selector is TASK (an id >= 0), kernel=K or "
                           "tag=T");
    int64_t p;
    if (prio && !parse_int(argv[2], &p))
        return usage(errf, "PRIO must be an integer");
    if (prio)
        oom |= pt_buf_printf(b, ",\"priority\":%" PRId64, p) < 0;
    oom |= pt_buf_printf(b, "}\n") < 0;
    return oom ? EXIT_RUNTIME : 0;
}

/* Say why connecting to DIR failed, in the user's terms; `holder`: the
 * pid of the run that holds DIR but never opened its socket, or 0. */
static void say_no_run(FILE *errf, const char *dir, int rc, long holder)
{
    if (holder > 0)
        fprintf(errf,
                "ptrun ctl: the run in %s (pid %ld) did not open its %s "
                "within %d s\n",
                dir, holder, RN_CTL_SOCK, WAIT_MS / 1000);
    else if (rc == -ENOENT)
        fprintf(errf,
                "ptrun ctl: no run is listening in %s (there is no "
                "%s/%s)\n",
                dir, dir, RN_CTL_SOCK);
    else if (rc == -ECONNREFUSED)
        fprintf(errf,
                "ptrun ctl: no run is listening in %s (its %s was "
                "left by a run that ended)\n",
                dir, RN_CTL_SOCK);
    else if (rc == -EAGAIN || rc == -EWOULDBLOCK)
        fprintf(errf,
                "ptrun ctl: the run in %s does not accept "
                "connections (timed out)\n",
                dir);
    else
        fprintf(errf, "ptrun ctl: %s/%s: %s\n", dir, RN_CTL_SOCK,
                strerror(-rc));
}

/* Connect once to the ctl.sock of the folder open as `dirfd`: the fd or
 * -errno. */
static int connect_once(const char *dir, int dirfd)
{
    struct sockaddr_un sa;
    socklen_t len;
    struct timeval tv = {WAIT_MS / 1000, 0}; /* bounds connect and send */
    int rc = rn_ctl_addr(dir, dirfd, &sa, &len);
    int fd = rc < 0 ? -1 : pt_sys_socket(AF_UNIX, SOCK_STREAM, 0);
    if (rc == 0 && fd < 0)
        rc = fd;
    if (rc == 0 && setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0)
        rc = -errno;
    if (rc == 0 && connect(fd, (struct sockaddr *)&sa, len) < 0)
        rc = -errno;
    if (rc < 0) {
        pt_sys_close(fd);
        return rc;
    }
    return fd;
}

/* Is process `pid` alive? Not when gone, nor a zombie (a run that ended
 * but was not waited for yet). */
static bool alive(long pid)
{
    char path[64], text[512];
    if (kill((pid_t)pid, 0) < 0 && errno != EPERM)
        return false;
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) /* no /proc: alive, as far as we can tell */
        return true;
    ssize_t n = pt_sys_read_some(fd, text, sizeof text - 1);
    pt_sys_close(fd);
    text[n > 0 ? n : 0] = '\0';
    const char *end = strrchr(text, ')'); /* "pid (comm) S ..." */
    return !end || (end[1] == ' ' && end[2] != 'Z' && end[2] != 'X');
}

/*
 * The pid that DIR's lock file names while that process lives, else 0. A
 * run writes it there when it claims DIR, and opens its ctl.sock only once
 * its first tasks have run for 1 ms: a client that comes sooner waits. The
 * file is only read, never locked: even a shared lock taken here could make
 * a run that is starting find its folder busy.
 */
static long live_holder(const char *dir)
{
    char path[PATH_MAX + 16], text[32];
    if (snprintf(path, sizeof path, "%s/%s", dir, RN_RUNDIR_LOCK) >=
        (int)sizeof path)
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return 0;
    ssize_t n = pt_sys_read_some(fd, text, sizeof text - 1);
    pt_sys_close(fd);
    text[n > 0 ? n : 0] = '\0';
    char *end;
    long pid = strtol(text, &end, 10);
    return n > 0 && pid > 0 && *end == '\n' && alive(pid) ? pid : 0;
}

static int64_t mono_ms(void)
{
    return pt_sys_mono_ns() / 1000000;
}

/*
 * Connect to DIR/ctl.sock: the fd, or -errno after saying why. While the
 * run that holds DIR lives but its socket is not there yet (or is an ended
 * run's, which a resumed run replaces), try again every 2 ms, up to
 * WAIT_MS.
 */
static int connect_run(const char *dir, FILE *errf)
{
    int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        int rc = -errno;
        fprintf(errf, "ptrun ctl: %s: %s\n", dir, strerror(-rc));
        return rc;
    }
    int64_t end = mono_ms() + WAIT_MS;
    long holder = 0;
    int rc;
    while ((rc = connect_once(dir, dirfd)) == -ENOENT || rc == -ECONNREFUSED) {
        holder = live_holder(dir);
        if (!holder || mono_ms() >= end)
            break;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    pt_sys_close(dirfd);
    if (rc < 0)
        say_no_run(errf, dir, rc, holder);
    return rc;
}

/*
 * Read until the first newline (cut off, the text NUL-terminated), within
 * WAIT_MS: 0 or -errno.
 */
static int read_line(int fd, pt_buf *b)
{
    int64_t end = mono_ms() + WAIT_MS;
    char chunk[16384];
    while (!b->data || !memchr(b->data, '\n', b->len)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = end - mono_ms();
        int r = left > 0 ? poll(&p, 1, (int)left) : 0;
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return -ETIMEDOUT;
        ssize_t n = pt_sys_read_some(fd, chunk, sizeof chunk);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return -EPIPE;
        if (b->len + (size_t)n > MAX_REPLY)
            return -EMSGSIZE;
        if (pt_buf_append(b, chunk, (size_t)n) < 0)
            return -ENOMEM;
    }
    uint8_t *nl = memchr(b->data, '\n', b->len);
    *nl = '\0';
    b->len = (size_t)(nl - b->data);
    return 0;
}

/* The reply's "ok" (1 or 0), or -1 with a reason in why. */
static int reply_ok(const pt_buf *reply, char *why, size_t whylen)
{
    json_error_t je;
    json_t *root = json_loadb((const char *)reply->data, reply->len, 0, &je);
    json_t *ok = json_object_get(root, "ok");
    int rc = json_is_boolean(ok) ? json_is_true(ok) : -1;
    if (!root)
        snprintf(why, whylen, "bad JSON at offset %d: %.80s", je.position,
                 je.text);
    else if (rc < 0)
        snprintf(why, whylen, "no \"ok\" member");
    json_decref(root);
    return rc;
}

/* Ask and print the answer: the exit status. */
static int exchange(const char *dir, int fd, const pt_buf *req, bool json,
                    const char *cmd, FILE *out, FILE *errf)
{
    pt_buf reply = {0};
    char why[128];
    int ok = -1, rc = pt_sys_write_full(fd, req->data, req->len);
    if (rc == 0)
        rc = read_line(fd, &reply);
    if (rc < 0)
        fprintf(errf, "ptrun ctl: %s: %s\n", dir,
                rc == -EPIPE ? "the run closed the connection without a reply"
                : rc == -ETIMEDOUT || rc == -EAGAIN ? "no reply within 10 s"
                                                    : strerror(-rc));
    if (rc == 0 && (ok = reply_ok(&reply, why, sizeof why)) < 0)
        rc = -EPROTO;
    if (rc == -EPROTO)
        fprintf(errf, "ptrun ctl: %s: not a reply (%s): %.200s\n", dir, why,
                (const char *)reply.data);
    if (rc == 0 && json)
        fprintf(out, "%s\n", (const char *)reply.data);
    else if (rc == 0)
        rn_ctl_print(cmd, (const char *)reply.data, reply.len, out, errf);
    fflush(out);
    pt_buf_free(&reply);
    return rc < 0 ? EXIT_RUNTIME : ok ? 0 : 1;
}

int rn_ctl_client(const char *dir, int argc, char **argv, bool json, FILE *out,
                  FILE *errf)
{
    pt_buf req = {0};
    int status = build_request(argc, argv, &req, errf);
    signal(SIGPIPE, SIG_IGN); /* a run that hangs up is -EPIPE, not death */
    if (status == 0) {
        int fd = connect_run(dir, errf);
        status = fd < 0 ? EXIT_RUNTIME
                        : exchange(dir, fd, &req, json, argv[0], out, errf);
        pt_sys_close(fd);
    }
    pt_buf_free(&req);
    return status;
}
