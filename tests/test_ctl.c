/*
 * test_ctl.c - live control (runner/ctl/ctl.h): requests read into the right
 * rn_ctl_req, bad ones answered with errors, and hostile clients (a 10 MB
 * line, a slow loris, too many clients, one that never reads) dropped while
 * the others are still answered; the socket's mode, a long folder path, a
 * stale or live socket, unlinking; and `ptrun ctl` against a server in a
 * forked child.
 *
 * The server runs in this process, driven by pump() (the run loop's poll),
 * and test clients are nonblocking sockets.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ptools/json.h>

#include "ctl/ctl.h"
#include "harness.h"
#include "events/rundir.h"

/* ---- a fake engine: it records the last request ---- */

static struct {
    int calls;
    rn_ctl_cmd cmd;
    int64_t task, priority;
    char kernel[64], tag[64], json[256];
    bool has_kernel, has_tag;
} last;

#define BIG_REPLY (100 * 1024)

static int fake_apply(void *arg, const rn_ctl_req *r, pt_buf *reply, char *err,
                      size_t errlen)
{
    (void)arg;
    last.calls++;
    last.cmd = r->cmd;
    last.task = r->task;
    last.priority = r->priority;
    last.has_kernel = r->kernel != NULL;
    last.has_tag = r->tag != NULL;
    snprintf(last.kernel, sizeof last.kernel, "%s", r->kernel ? r->kernel : "");
    snprintf(last.tag, sizeof last.tag, "%s", r->tag ? r->tag : "");
    snprintf(last.json, sizeof last.json, "%s", r->json);
    if (r->kernel && strcmp(r->kernel, "nope") == 0) {
        snprintf(err, errlen, "no kernel \"nope\"");
        pt_buf_printf(reply, "\"partial\":1"); /* must not be sent */
        return -ENOENT;
    }
    if (r->tag && strcmp(r->tag, "big") == 0) {
        pt_buf_printf(reply, "\"pad\":\"");
        for (int i = 0; i < BIG_REPLY; i++)
            pt_buf_append(reply, "x", 1);
        return pt_buf_printf(reply, "\"");
    }
    switch (r->cmd) {
    case RN_CTL_STATUS:
        return pt_buf_printf(reply, "\"running\":1,\n\"queued\":2");
    case RN_CTL_PAUSE:
    case RN_CTL_RESUME: return 0;
    default:
        pt_buf_printf(reply, "\"changed\":3,\"saw\":");
        char saw[256];
        snprintf(saw, sizeof saw, "%d %" PRId64 " %s %s %" PRId64, r->cmd,
                 r->task, r->kernel ? r->kernel : "-", r->tag ? r->tag : "-",
                 r->priority);
        pt_json_cstr(reply, saw);
        return 0;
    }
}

/* ---- the loop and the clients ---- */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Run the server's side of a poll loop for `ms`. */
static void pump(rn_ctl *c, int ms)
{
    int64_t end = now_ns() + (int64_t)ms * 1000000;
    do {
        struct pollfd p[RN_CTL_POLLFDS];
        int n = rn_ctl_pollfds(c, p, RN_CTL_POLLFDS);
        int64_t left = (end - now_ns()) / 1000000;
        int t = rn_ctl_timeout_ms(c, now_ns());
        if (t < 0 || t > left)
            t = left > 0 ? (int)left : 0;
        int r = poll(p, (nfds_t)n, t);
        CU_ASSERT_FATAL(r >= 0 || errno == EINTR);
        rn_ctl_handle(c, p, n, now_ns());
    } while (now_ns() < end);
}

static rn_ctl *open_ok(const char *dir)
{
    rn_ctl *c = NULL;
    char err[512] = "";
    int rc = rn_ctl_open(&c, dir, fake_apply, NULL, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "  rn_ctl_open: %s\n", err);
    CU_ASSERT_FATAL(rc == 0 && c != NULL);
    return c;
}

/* A nonblocking client of DIR's socket (-1 when connect fails). */
static int dial(const char *dir)
{
    struct sockaddr_un sa;
    socklen_t len;
    int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    CU_ASSERT_FATAL(dirfd >= 0);
    CU_ASSERT_FATAL(rn_ctl_addr(dir, dirfd, &sa, &len) == 0);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    CU_ASSERT_FATAL(fd >= 0);
    if (connect(fd, (struct sockaddr *)&sa, len) < 0) {
        close(fd);
        fd = -1;
    }
    close(dirfd);
    return fd;
}

static void put(int fd, const char *text)
{
    size_t n = strlen(text);
    CU_ASSERT_FATAL(send(fd, text, n, MSG_NOSIGNAL) == (ssize_t)n);
}

/*
 * Pump until `fd` gives a whole line (into buf, without its newline), for
 * at most 2 s: 1, 0 on EOF or a reset, -1 on a timeout.
 */
static int get_line(rn_ctl *c, int fd, char *buf, size_t size)
{
    size_t len = 0;
    for (int64_t end = now_ns() + 2000000000; now_ns() < end;) {
        ssize_t r = recv(fd, buf + len, 1, MSG_DONTWAIT); /* byte by byte */
        if (r == 1 && buf[len] == '\n') {
            buf[len] = '\0';
            return 1;
        }
        if (r == 1 && len + 2 < size)
            len++;
        else if (r == 0 || (r < 0 && errno != EAGAIN))
            return buf[len] = '\0', 0;
        else if (r < 0)
            pump(c, 2);
    }
    buf[len] = '\0';
    return -1;
}

/* Send a request and return its reply (static buffer). */
static const char *ask(rn_ctl *c, int fd, const char *req)
{
    static char buf[4096];
    put(fd, req);
    if (get_line(c, fd, buf, sizeof buf) != 1)
        snprintf(buf, sizeof buf, "(no reply)");
    return buf;
}

/* Is fd's connection closed (EOF or reset after what is buffered)? */
static bool closed_by_server(rn_ctl *c, int fd)
{
    char buf[65536];
    for (int64_t end = now_ns() + 2000000000; now_ns() < end;) {
        ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
            return true;
        if (r < 0)
            pump(c, 2);
    }
    return false;
}

static const char *sock_path(const char *dir)
{
    static char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, RN_CTL_SOCK);
    return path;
}

/* ---- requests ---- */

static void test_requests(void)
{
    const char *dir = pt_test_tmpdir();
    rn_ctl *c = open_ok(dir);
    int fd = dial(dir);
    CU_ASSERT_FATAL(fd >= 0);

    ASSERT_STR(ask(c, fd, "{\"cmd\":\"status\"}\n"),
               "{\"ok\":true,\"running\":1, \"queued\":2}");
    CU_ASSERT(last.cmd == RN_CTL_STATUS && last.task == -1);
    CU_ASSERT(!last.has_kernel && !last.has_tag);
    ASSERT_STR(last.json, "{\"cmd\":\"status\"}");

    ASSERT_STR(ask(c, fd,
                   "{\"cmd\":\"priority\",\"task\":12,\"priority\":50}"
                   "\n"),
               "{\"ok\":true,\"changed\":3,\"saw\":\"1 12 - - 50\"}");
    CU_ASSERT(last.cmd == RN_CTL_PRIORITY && last.task == 12);
    CU_ASSERT(last.priority == 50 && !last.has_kernel && !last.has_tag);

    ask(c, fd,
        " { \"priority\" : 5 , \"kernel\" : \"pi\", \"cmd\":"
        "\"priority\" }\r\n");
    CU_ASSERT(last.cmd == RN_CTL_PRIORITY && last.task == -1);
    CU_ASSERT(last.priority == 5 && strcmp(last.kernel, "pi") == 0);
    ASSERT_STR(last.json, " { \"priority\" : 5 , \"kernel\" : \"pi\", "
                          "\"cmd\":\"priority\" }");

    ask(c, fd,
        "{\"cmd\":\"priority\",\"tag\":\"ur\\u0067ent\","
        "\"priority\":-9223372036854775808}\n");
    CU_ASSERT(last.cmd == RN_CTL_PRIORITY && strcmp(last.tag, "urgent") == 0);
    CU_ASSERT(last.priority == INT64_MIN && !last.has_kernel);

    ask(c, fd, "{\"cmd\":\"cancel\",\"task\":0}\n");
    CU_ASSERT(last.cmd == RN_CTL_CANCEL && last.task == 0);
    ask(c, fd, "{\"cmd\":\"cancel\",\"kernel\":\"fill\"}\n");
    CU_ASSERT(last.cmd == RN_CTL_CANCEL && strcmp(last.kernel, "fill") == 0);
    ask(c, fd, "{\"cmd\":\"cancel\",\"tag\":\"t\"}\n");
    CU_ASSERT(last.cmd == RN_CTL_CANCEL && strcmp(last.tag, "t") == 0);
    ASSERT_STR(ask(c, fd, "{\"cmd\":\"pause\"}\n"), "{\"ok\":true}");
    CU_ASSERT(last.cmd == RN_CTL_PAUSE);
    ASSERT_STR(ask(c, fd, "{\"cmd\":\"resume\"}\n"), "{\"ok\":true}");
    CU_ASSERT(last.cmd == RN_CTL_RESUME);

    /* Several requests in one write: answered in order. */
    int before = last.calls;
    put(fd, "{\"cmd\":\"pause\"}\n{\"cmd\":\"cancel\",\"task\":7}\n"
            "{\"cmd\":\"resume\"}\n");
    char line[256];
    CU_ASSERT(get_line(c, fd, line, sizeof line) == 1);
    ASSERT_STR(line, "{\"ok\":true}");
    CU_ASSERT(get_line(c, fd, line, sizeof line) == 1);
    ASSERT_STR(line, "{\"ok\":true,\"changed\":3,\"saw\":\"2 7 - - 0\"}");
    CU_ASSERT(get_line(c, fd, line, sizeof line) == 1);
    ASSERT_STR(line, "{\"ok\":true}");
    CU_ASSERT(last.calls == before + 3 && last.cmd == RN_CTL_RESUME);

    /* A last request without its newline, then the end of input. */
    put(fd, "{\"cmd\":\"status\"}");
    shutdown(fd, SHUT_WR);
    CU_ASSERT(get_line(c, fd, line, sizeof line) == 1);
    ASSERT_PREFIX(line, "{\"ok\":true,");
    CU_ASSERT(closed_by_server(c, fd));
    close(fd);
    rn_ctl_close(c);
}

static void test_bad_requests(void)
{
    static const char *const bad[] = {
        "not json",
        "[]",
        "",
        "{}",
        "{\"cmd\":\"status\"} x",
        "{\"cmd\":\"status\",}",
        "{\"cmd\":\"status\",\"x\":1}",
        "{\"cmd\":\"nope\"}",
        "{\"cmd\":5}",
        "{\"cmd\":\"\"}",
        "{\"cmd\":\"status\",\"cmd\":\"pause\"}",
        "{\"cmd\":\"status\",\"task\":1}",
        "{\"cmd\":\"pause\",\"priority\":1}",
        "{\"cmd\":\"priority\",\"task\":1}",
        "{\"cmd\":\"priority\",\"priority\":1}",
        "{\"cmd\":\"priority\",\"task\":1,\"kernel\":\"pi\",\"priority\":1}",
        "{\"cmd\":\"priority\",\"task\":\"1\",\"priority\":1}",
        "{\"cmd\":\"priority\",\"task\":1.5,\"priority\":1}",
        "{\"cmd\":\"priority\",\"task\":-1,\"priority\":1}",
        "{\"cmd\":\"priority\",\"task\":1,\"priority\":1e3}",
        "{\"cmd\":\"priority\",\"task\":1,\"priority\":\"5\"}",
        "{\"cmd\":\"priority\",\"task\":1,\"priority\":true}",
        "{\"cmd\":\"priority\",\"task\":1,\"priority\":9223372036854775808}",
        "{\"cmd\":\"cancel\"}",
        "{\"cmd\":\"cancel\",\"task\":1,\"priority\":2}",
        "{\"cmd\":\"cancel\",\"kernel\":\"\"}",
        "{\"cmd\":\"cancel\",\"kernel\":null}",
        "{\"cmd\":\"cancel\",\"kernel\":{\"a\":1}}",
        "{\"cmd\":\"cancel\",\"kernel\":{}}",
        "{\"cmd\":\"cancel\",\"tag\":[\"t\"]}",
        "{\"cmd\":\"cancel\",\"task\":1,\"tag\":\"t\"}",
        "{\"cmd\":\"status\"\xff}",
        NULL,
    };
    const char *dir = pt_test_tmpdir();
    rn_ctl *c = open_ok(dir);
    int fd = dial(dir);
    char req[512];
    CU_ASSERT_FATAL(fd >= 0);
    for (int i = 0; bad[i]; i++) {
        snprintf(req, sizeof req, "%s\n", bad[i]);
        const char *got = ask(c, fd, req);
        if (strncmp(got, "{\"ok\":false,\"error\":\"", 21) != 0)
            fprintf(stderr, "  request %s\n  reply %s\n", bad[i], got);
        ASSERT_PREFIX(got, "{\"ok\":false,\"error\":\"");
    }
    CU_ASSERT(last.calls == 0);
    ASSERT_STR(ask(c, fd, "{\"cmd\":\"cancel\",\"kernel\":\"nope\"}\n"),
               "{\"ok\":false,\"error\":\"no kernel \\\"nope\\\"\"}");
    ASSERT_STR(ask(c, fd, "{\"cmd\":\"status\",\"bogus\":\"a\\\"b\"}\n"),
               "{\"ok\":false,\"error\":\"unknown key \\\"bogus\\\"\"}");
    char nested[300] = "";
    for (int i = 0; i < 100; i++)
        strcat(nested, "[");
    snprintf(req, sizeof req, "{\"cmd\":\"status\",\"a\":%s}\n", nested);
    ASSERT_PREFIX(ask(c, fd, req), "{\"ok\":false,");
    static const char nul[] = "{\"cmd\":\"status\"\0}\n";
    CU_ASSERT(send(fd, nul, sizeof nul - 1, MSG_NOSIGNAL) == sizeof nul - 1);
    ASSERT_STR(ask(c, fd, ""), "{\"ok\":false,\"error\":\"a NUL byte in the "
                               "request\"}");
    /* The connection still works after all that. */
    ASSERT_PREFIX(ask(c, fd, "{\"cmd\":\"status\"}\n"), "{\"ok\":true,");
    close(fd);
    rn_ctl_close(c);
}

/* ---- hostile clients ---- */

static void test_huge_line(void)
{
    const char *dir = pt_test_tmpdir();
    rn_ctl *c = open_ok(dir);
    int big = dial(dir), other = dial(dir);
    CU_ASSERT_FATAL(big >= 0 && other >= 0);
    static char chunk[65536];
    memset(chunk, ' ', sizeof chunk);
    memcpy(chunk, "{\"cmd\":\"status\",\"a\":\"", 21);
    size_t sent = 0;
    int asked = 0, answered = 0;
    while (sent < 10u << 20) {
        ssize_t w = send(big, chunk, sizeof chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno != EAGAIN)
            break; /* EPIPE, ECONNRESET: the server hung up */
        if (w > 0)
            sent += (size_t)w;
        pump(c, 1);
        if (asked++ < 20)
            answered += strncmp(ask(c, other, "{\"cmd\":\"status\"}\n"),
                                "{\"ok\":true", 10) == 0;
    }
    CU_ASSERT(sent < 1u << 20); /* hung up long before 10 MB */
    CU_ASSERT(answered == (asked < 20 ? asked : 20));
    char line[512];
    CU_ASSERT(get_line(c, big, line, sizeof line) == 1);
    ASSERT_STR(line, "{\"ok\":false,\"error\":\"request longer than 65536 "
                     "bytes\"}");
    CU_ASSERT(closed_by_server(c, big));
    ASSERT_PREFIX(ask(c, other, "{\"cmd\":\"status\"}\n"), "{\"ok\":true");
    close(big);
    close(other);
    rn_ctl_close(c);
}

static void test_slow_loris(void)
{
    const char *dir = pt_test_tmpdir();
    rn_ctl *c = open_ok(dir);
    rn_ctl_set_deadlines(c, 200, 600);
    CU_ASSERT(rn_ctl_timeout_ms(c, now_ns()) == -1);
    int loris = dial(dir), idle = dial(dir), good = dial(dir);
    CU_ASSERT_FATAL(loris >= 0 && idle >= 0 && good >= 0);
    pump(c, 5);
    int t = rn_ctl_timeout_ms(c, now_ns());
    CU_ASSERT(t > 500 && t <= 600);
    int64_t start = now_ns();
    put(loris, "{");
    pump(c, 5);
    t = rn_ctl_timeout_ms(c, now_ns());
    CU_ASSERT(t > 100 && t <= 200);
    /* A byte every 50 ms does not keep an incomplete line alive. */
    for (int i = 0; i < 3; i++) {
        put(loris, " ");
        pump(c, 50);
    }
    CU_ASSERT(closed_by_server(c, loris));
    int64_t took = (now_ns() - start) / 1000000;
    CU_ASSERT(took >= 190 && took < 400);
    char b;
    CU_ASSERT(recv(idle, &b, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN);
    /* Requests keep a client alive past the idle deadline. */
    for (int i = 0; i < 8; i++) {
        ASSERT_PREFIX(ask(c, good, "{\"cmd\":\"pause\"}\n"), "{\"ok\":true}");
        pump(c, 100);
    }
    CU_ASSERT(closed_by_server(c, idle));
    took = (now_ns() - start) / 1000000;
    CU_ASSERT(took >= 590 && took < 1200);
    ASSERT_PREFIX(ask(c, good, "{\"cmd\":\"pause\"}\n"), "{\"ok\":true}");
    close(loris);
    close(idle);
    close(good);
    rn_ctl_close(c);
}

static void test_too_many_clients(void)
{
    const char *dir = pt_test_tmpdir();
    rn_ctl *c = open_ok(dir);
    int fd[20], ok = 0, refused = 0;
    char line[512];
    for (int i = 0; i < 20; i++) {
        fd[i] = dial(dir);
        CU_ASSERT_FATAL(fd[i] >= 0);
        pump(c, 1);
    }
    for (int i = 0; i < 20; i++) {
        if (i < 16) /* the first 16 were accepted: they can talk */
            put(fd[i], "{\"cmd\":\"resume\"}\n");
        CU_ASSERT(get_line(c, fd[i], line, sizeof line) == 1);
        if (strcmp(line, "{\"ok\":true}") == 0) {
            ok++;
        } else {
            ASSERT_STR(line, "{\"ok\":false,\"error\":\"too many control "
                             "clients (at most 16)\"}");
            CU_ASSERT(closed_by_server(c, fd[i]));
            refused++;
        }
    }
    CU_ASSERT(ok == 16 && refused == 4);
    struct pollfd p[RN_CTL_POLLFDS + 4];
    CU_ASSERT(rn_ctl_pollfds(c, p, RN_CTL_POLLFDS + 4) == 17);
    CU_ASSERT(rn_ctl_pollfds(c, p, 3) == 3);
    /* A place freed is a place for the next one. */
    close(fd[0]);
    pump(c, 10);
    int again = dial(dir);
    CU_ASSERT_FATAL(again >= 0);
    ASSERT_STR(ask(c, again, "{\"cmd\":\"resume\"}\n"), "{\"ok\":true}");
    close(again);
    for (int i = 1; i < 20; i++)
        close(fd[i]);
    rn_ctl_close(c);
}

static void test_never_reads(void)
{
    const char *dir = pt_test_tmpdir();
    rn_ctl *c = open_ok(dir);
    int deaf = dial(dir), other = dial(dir);
    CU_ASSERT_FATAL(deaf >= 0 && other >= 0);
    for (int i = 0; i < 30; i++) /* 3 MB of replies in all */
        put(deaf, "{\"cmd\":\"cancel\",\"tag\":\"big\"}\n");
    pump(c, 20);
    /* A reader of such replies is served in full. */
    put(other, "{\"cmd\":\"cancel\",\"tag\":\"big\"}\n");
    size_t got = 0, want = BIG_REPLY + 21; /* {"ok":true,"pad":"x..."}\n */
    char buf[65536], end_byte = 0;
    for (int64_t end = now_ns() + 2000000000; now_ns() < end && got < want;) {
        ssize_t r = recv(other, buf, sizeof buf, MSG_DONTWAIT);
        if (r > 0)
            got += (size_t)r, end_byte = buf[r - 1];
        else
            pump(c, 2);
    }
    CU_ASSERT(got == want && end_byte == '\n');
    /* The deaf one was dropped: what it can read ends early. */
    size_t deaf_got = 0;
    for (int64_t end = now_ns() + 2000000000; now_ns() < end;) {
        ssize_t r = recv(deaf, buf, sizeof buf, MSG_DONTWAIT);
        if (r > 0)
            deaf_got += (size_t)r;
        else if (r == 0 || errno != EAGAIN)
            break;
        else
            pump(c, 2);
    }
    CU_ASSERT(deaf_got < 30 * (size_t)BIG_REPLY);
    CU_ASSERT(closed_by_server(c, deaf));
    ASSERT_PREFIX(ask(c, other, "{\"cmd\":\"status\"}\n"), "{\"ok\":true");
    close(deaf);
    close(other);
    rn_ctl_close(c);
}

/* ---- the socket file ---- */

static void test_mode_and_unlink(void)
{
    const char *dir = pt_test_tmpdir();
    mode_t old = umask(022);
    rn_ctl *c = open_ok(dir);
    CU_ASSERT(umask(022) == 022); /* restored */
    umask(old);
    struct stat st;
    CU_ASSERT_FATAL(stat(sock_path(dir), &st) == 0);
    CU_ASSERT(S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0600);
    /* Every fd is close-on-exec. */
    struct pollfd p[RN_CTL_POLLFDS];
    int fd = dial(dir);
    pump(c, 5);
    int n = rn_ctl_pollfds(c, p, RN_CTL_POLLFDS);
    CU_ASSERT(n == 2);
    for (int i = 0; i < n; i++)
        CU_ASSERT(fcntl(p[i].fd, F_GETFD) & FD_CLOEXEC);
    rn_ctl_close(c);
    CU_ASSERT(stat(sock_path(dir), &st) < 0 && errno == ENOENT);
    CU_ASSERT(closed_by_server(c = open_ok(dir), fd));
    close(fd);
    rn_ctl_close(c);
    rn_ctl_close(NULL);
}

/* A folder whose path is longer than sun_path can hold. */
static const char *long_dir(void)
{
    static char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", pt_test_tmpdir());
    while (strlen(dir) < 150) {
        strcat(dir, "/a-rather-long-folder-name");
        CU_ASSERT_FATAL(mkdir(dir, 0700) == 0);
    }
    return dir;
}

static void test_long_path(void)
{
    const char *dir = long_dir();
    rn_ctl *c = open_ok(dir);
    struct stat st;
    CU_ASSERT(stat(sock_path(dir), &st) == 0 && S_ISSOCK(st.st_mode));
    CU_ASSERT((st.st_mode & 0777) == 0600);
    int fd = dial(dir);
    CU_ASSERT_FATAL(fd >= 0);
    ASSERT_PREFIX(ask(c, fd, "{\"cmd\":\"status\"}\n"), "{\"ok\":true");
    close(fd);
    rn_ctl_close(c);
    CU_ASSERT(stat(sock_path(dir), &st) < 0 && errno == ENOENT);
}

/* Leave DIR/ctl.sock as a killed run would: bound, nobody listening. */
static void make_stale(const char *dir)
{
    struct sockaddr_un sa;
    socklen_t len;
    int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CU_ASSERT_FATAL(dirfd >= 0 && fd >= 0);
    CU_ASSERT_FATAL(rn_ctl_addr(dir, dirfd, &sa, &len) == 0);
    CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sa, len) == 0);
    close(fd);
    close(dirfd);
}

static void test_stale_and_live(void)
{
    const char *dir = pt_test_tmpdir();
    make_stale(dir);
    CU_ASSERT(dial(dir) < 0 && errno == ECONNREFUSED);
    rn_ctl *c = open_ok(dir);
    int fd = dial(dir);
    CU_ASSERT_FATAL(fd >= 0);
    ASSERT_PREFIX(ask(c, fd, "{\"cmd\":\"status\"}\n"), "{\"ok\":true");
    /* A second server on the same folder is refused, and harms nothing. */
    rn_ctl *c2 = NULL;
    char err[512] = "";
    CU_ASSERT(rn_ctl_open(&c2, dir, fake_apply, NULL, err, sizeof err) ==
              -EADDRINUSE);
    CU_ASSERT(c2 == NULL && strstr(err, "another ptrun") != NULL);
    CU_ASSERT(strstr(err, dir) != NULL);
    ASSERT_PREFIX(ask(c, fd, "{\"cmd\":\"status\"}\n"), "{\"ok\":true");
    int fd2 = dial(dir);
    CU_ASSERT(fd2 >= 0);
    ASSERT_PREFIX(ask(c, fd2, "{\"cmd\":\"status\"}\n"), "{\"ok\":true");
    close(fd);
    close(fd2);
    rn_ctl_close(c);
    /* A file that is not a socket is not removed. */
    FILE *f = fopen(sock_path(dir), "w");
    CU_ASSERT_FATAL(f != NULL);
    fclose(f);
    CU_ASSERT(rn_ctl_open(&c2, dir, fake_apply, NULL, err, sizeof err) ==
              -EEXIST);
    CU_ASSERT(strstr(err, "not a socket") != NULL);
    CU_ASSERT(access(sock_path(dir), F_OK) == 0);
    /* No folder. */
    CU_ASSERT(rn_ctl_open(&c2, "/nonexistent/run", fake_apply, NULL, err,
                          sizeof err) == -ENOENT);
    CU_ASSERT(strstr(err, "/nonexistent/run") != NULL);
}

/* A socket listening at DIR/NAME, as a stray process of a dead run may
 * still hold one: its fd. */
static int listen_at(const char *dir, const char *name)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/%s", dir, name);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    CU_ASSERT_FATAL(listen(fd, 8) == 0);
    return fd;
}

/* How many entries DIR holds (besides . and ..). */
static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    CU_ASSERT_FATAL(d != NULL);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static rn_ctl *open_claimed_ok(const char *dir)
{
    rn_ctl *c = NULL;
    char err[512] = "";
    int rc = rn_ctl_open_claimed(&c, dir, fake_apply, NULL, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "  rn_ctl_open_claimed: %s\n", err);
    CU_ASSERT_FATAL(rc == 0 && c != NULL);
    return c;
}

/* A run holding the folder's claim replaces even a live ctl.sock, and
 * unlinks only the socket it bound. */
static void test_claimed(void)
{
    const char *dir = pt_test_tmpdir();
    int stray = listen_at(dir, RN_CTL_SOCK);
    rn_ctl *c = open_claimed_ok(dir);
    struct stat st;
    CU_ASSERT(stat(sock_path(dir), &st) == 0 && S_ISSOCK(st.st_mode) &&
              (st.st_mode & 0777) == 0600);
    CU_ASSERT(entries(dir) == 1); /* no private name left */
    int fd = dial(dir);
    CU_ASSERT_FATAL(fd >= 0);
    ASSERT_PREFIX(ask(c, fd, "{\"cmd\":\"status\"}\n"), "{\"ok\":true");
    close(fd);
    /* Another socket put in its place later is not ours to unlink. */
    int later = listen_at(dir, "later.sock");
    char later_path[PATH_MAX];
    snprintf(later_path, sizeof later_path, "%s/later.sock", dir);
    CU_ASSERT_FATAL(rename(later_path, sock_path(dir)) == 0);
    rn_ctl_close(c);
    CU_ASSERT(stat(sock_path(dir), &st) == 0 && S_ISSOCK(st.st_mode));
    /* Our own goes at the end, also through a long path. */
    rn_ctl_close(open_claimed_ok(dir));
    CU_ASSERT(stat(sock_path(dir), &st) < 0 && errno == ENOENT);
    const char *deep = long_dir();
    c = open_claimed_ok(deep);
    CU_ASSERT((fd = dial(deep)) >= 0);
    ASSERT_PREFIX(ask(c, fd, "{\"cmd\":\"status\"}\n"), "{\"ok\":true");
    close(fd);
    rn_ctl_close(c);
    CU_ASSERT(stat(sock_path(deep), &st) < 0 && errno == ENOENT);
    close(stray);
    close(later);
}

/* A ctl.sock that is not a socket stays, and no private name is left. */
static void test_claimed_not_a_socket(void)
{
    const char *dir = pt_test_tmpdir();
    FILE *f = fopen(sock_path(dir), "w");
    CU_ASSERT_FATAL(f != NULL);
    fclose(f);
    rn_ctl *c = NULL;
    char err[512] = "";
    CU_ASSERT(rn_ctl_open_claimed(&c, dir, fake_apply, NULL, err, sizeof err) ==
              -EEXIST);
    CU_ASSERT(c == NULL && strstr(err, "not a socket") != NULL);
    CU_ASSERT(strstr(err, dir) != NULL);
    struct stat st;
    CU_ASSERT(stat(sock_path(dir), &st) == 0 && S_ISREG(st.st_mode));
    CU_ASSERT(entries(dir) == 1);
}

/* ---- ptrun ctl ---- */

/* In a child: DIR's server, or _exit. */
static rn_ctl *open_or_exit(const char *dir)
{
    rn_ctl *c = NULL;
    char err[512];
    if (rn_ctl_open(&c, dir, fake_apply, NULL, err, sizeof err) < 0)
        _exit(1);
    return c;
}

/* In a child: serve until `quit` is readable (or 20 s), then _exit. */
static _Noreturn void serve(rn_ctl *c, int quit)
{
    for (int64_t end = now_ns() + 20000000000; now_ns() < end;) {
        struct pollfd p[RN_CTL_POLLFDS + 1];
        int n = rn_ctl_pollfds(c, p, RN_CTL_POLLFDS);
        p[n] = (struct pollfd){.fd = quit, .events = POLLIN};
        if (poll(p, (nfds_t)n + 1, rn_ctl_timeout_ms(c, now_ns())) < 0 &&
            errno != EINTR)
            break;
        if (p[n].revents)
            break;
        rn_ctl_handle(c, p, n, now_ns());
    }
    rn_ctl_close(c);
    _exit(0);
}

/* Write `pid` into DIR/.lock, as a run does when it claims DIR. */
static void write_lock(const char *dir, long pid)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, RN_RUNDIR_LOCK);
    FILE *f = fopen(path, "w");
    CU_ASSERT_FATAL(f != NULL);
    fprintf(f, "%ld\n", pid);
    CU_ASSERT_FATAL(fclose(f) == 0);
}

/*
 * A server in a child until `stop` closes; returns its pid. When `late`,
 * the child claims DIR (its pid in DIR/.lock) but opens its socket only
 * once a client has opened DIR/.lock, which a client does only after it
 * found no socket to connect to: like a run in its first millisecond.
 */
static pid_t serve_in_child_at(const char *dir, int *stop, bool late)
{
    int ready[2], quit[2];
    CU_ASSERT_FATAL(pipe2(ready, O_CLOEXEC) == 0);
    CU_ASSERT_FATAL(pipe2(quit, O_CLOEXEC) == 0);
    fflush(NULL);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        close(quit[1]);
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, RN_RUNDIR_LOCK);
        int in = late ? inotify_init1(IN_CLOEXEC) : -1;
        rn_ctl *c = late ? NULL : open_or_exit(dir);
        if (late) {
            write_lock(dir, (long)getpid());
            if (inotify_add_watch(in, path, IN_OPEN) < 0)
                _exit(1);
        }
        (void)!write(ready[1], "r", 1);
        struct pollfd p = {.fd = in, .events = POLLIN};
        if (late && poll(&p, 1, 20000) != 1)
            _exit(1); /* no client looked: it did not wait */
        serve(c ? c : open_or_exit(dir), quit[0]);
    }
    close(ready[1]);
    close(quit[0]);
    char b;
    CU_ASSERT_FATAL(read(ready[0], &b, 1) == 1);
    close(ready[0]);
    *stop = quit[1];
    return pid;
}

static pid_t serve_in_child(const char *dir, int *stop)
{
    return serve_in_child_at(dir, stop, false);
}

/* Run `ptrun ctl DIR args...`; its output and errors in static buffers. */
static char *out_text, *err_text;

static int ctl(const char *dir, int argc, const char *const *argv)
{
    size_t on = 0, en = 0;
    free(out_text);
    free(err_text);
    FILE *out = open_memstream(&out_text, &on);
    FILE *errf = open_memstream(&err_text, &en);
    CU_ASSERT_FATAL(out && errf);
    int status = rn_ctl_client(dir, argc, (char **)argv, true, out, errf);
    fclose(out);
    fclose(errf);
    return status;
}

#define CTL(dir, ...)                                                          \
    ctl(dir, (int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(char *)),    \
        (const char *[]){__VA_ARGS__})

static void test_client(void)
{
    const char *dir = long_dir();
    int stop;
    pid_t pid = serve_in_child(dir, &stop);

    CU_ASSERT(CTL(dir, "status") == 0);
    ASSERT_STR(out_text, "{\"ok\":true,\"running\":1, \"queued\":2}\n");
    CU_ASSERT(CTL(dir, "priority", "12", "50") == 0);
    ASSERT_STR(out_text, "{\"ok\":true,\"changed\":3,\"saw\":\"1 12 - - 50\"}"
                         "\n");
    CU_ASSERT(CTL(dir, "priority", "kernel=pi", "-5") == 0);
    ASSERT_STR(out_text, "{\"ok\":true,\"changed\":3,\"saw\":\"1 -1 pi - -5\"}"
                         "\n");
    CU_ASSERT(CTL(dir, "priority", "tag=ur\"g\\ent", "5") == 0);
    ASSERT_STR(out_text, "{\"ok\":true,\"changed\":3,\"saw\":\"1 -1 - "
                         "ur\\\"g\\\\ent 5\"}\n");
    CU_ASSERT(CTL(dir, "cancel", "0") == 0);
    ASSERT_STR(out_text, "{\"ok\":true,\"changed\":3,\"saw\":\"2 0 - - 0\"}\n");
    CU_ASSERT(CTL(dir, "cancel", "tag=x") == 0);
    CU_ASSERT(CTL(dir, "pause") == 0);
    ASSERT_STR(out_text, "{\"ok\":true}\n");
    CU_ASSERT(CTL(dir, "resume") == 0);
    CU_ASSERT(CTL(dir, "cancel", "kernel=nope") == 1);
    ASSERT_STR(out_text, "{\"ok\":false,\"error\":\"no kernel \\\"nope\\\"\"}"
                         "\n");

    /* Bad usage: 2, and nothing sent. */
    CU_ASSERT(ctl(dir, 0, NULL) == 2);
    CU_ASSERT(CTL(dir, "frob") == 2);
    ASSERT_PREFIX(err_text, "ptrun ctl: unknown command");
    CU_ASSERT(strstr(err_text, "usage: ptrun ctl DIR") != NULL);
    CU_ASSERT(CTL(dir, "status", "1") == 2);
    CU_ASSERT(CTL(dir, "priority", "12") == 2);
    CU_ASSERT(CTL(dir, "priority", "x", "5") == 2);
    CU_ASSERT(CTL(dir, "priority", "-1", "5") == 2);
    CU_ASSERT(CTL(dir, "priority", "12", "5x") == 2);
    CU_ASSERT(CTL(dir, "priority", "12", "99999999999999999999") == 2);
    CU_ASSERT(CTL(dir, "cancel", "kernel=") == 2);
    CU_ASSERT(CTL(dir, "cancel", "") == 2);
    CU_ASSERT(CTL(dir, "cancel") == 2);
    CU_ASSERT(out_text[0] == '\0');

    close(stop);
    int st;
    CU_ASSERT(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
              WEXITSTATUS(st) == 0);
    /* No run: 3, with a message naming the folder. */
    CU_ASSERT(CTL(dir, "status") == 3);
    CU_ASSERT(strstr(err_text, "no run is listening") != NULL);
    CU_ASSERT(strstr(err_text, dir) != NULL);
    make_stale(dir);
    CU_ASSERT(CTL(dir, "status") == 3);
    CU_ASSERT(strstr(err_text, "no run is listening") != NULL);
    CU_ASSERT(CTL("/nonexistent/run", "status") == 3);
    CU_ASSERT(strstr(err_text, "/nonexistent/run") != NULL);
    free(out_text);
    free(err_text);
    out_text = err_text = NULL;
}

/* A subfolder of the test's own, made afresh. */
static const char *sub_dir(const char *name)
{
    static char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%s", pt_test_tmpdir(), name);
    CU_ASSERT_FATAL(mkdir(dir, 0700) == 0);
    return dir;
}

/* `ptrun ctl` against a run that has claimed its folder but not opened its
 * socket yet (none there, or an ended run's stale one): it waits for it;
 * against a folder whose run is gone (or a zombie), it says so at once. */
static void test_client_waits_for_run(void)
{
    for (int stale = 0; stale < 2; stale++) {
        const char *dir = sub_dir(stale ? "stale" : "none");
        if (stale)
            make_stale(dir);
        int stop, st;
        pid_t pid = serve_in_child_at(dir, &stop, true);
        CU_ASSERT(CTL(dir, "status") == 0);
        ASSERT_STR(out_text, "{\"ok\":true,\"running\":1, \"queued\":2}\n");
        close(stop);
        CU_ASSERT(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
                  WEXITSTATUS(st) == 0); /* 1: the client never looked */
    }
    /* A holder that ended: reaped, then a zombie. */
    const char *dir = sub_dir("ended");
    for (int zombie = 0; zombie < 2; zombie++) {
        pid_t pid = fork();
        CU_ASSERT_FATAL(pid >= 0);
        if (pid == 0)
            _exit(0);
        siginfo_t si;
        CU_ASSERT_FATAL(waitid(P_PID, (id_t)pid, &si,
                               WEXITED | (zombie ? WNOWAIT : 0)) == 0);
        write_lock(dir, (long)pid);
        CU_ASSERT(CTL(dir, "status") == 3);
        ASSERT_PREFIX(err_text, "ptrun ctl: no run is listening in");
        if (zombie)
            CU_ASSERT(waitpid(pid, NULL, 0) == pid);
    }
    free(out_text);
    free(err_text);
    out_text = err_text = NULL;
}

int main(int argc, char **argv)
{
    static const pt_test_case cases[] = {
        {"requests", test_requests, 20},
        {"bad_requests", test_bad_requests, 20},
        {"huge_line", test_huge_line, 20},
        {"slow_loris", test_slow_loris, 20},
        {"too_many_clients", test_too_many_clients, 20},
        {"never_reads", test_never_reads, 20},
        {"mode_and_unlink", test_mode_and_unlink, 20},
        {"long_path", test_long_path, 20},
        {"stale_and_live", test_stale_and_live, 20},
        {"claimed", test_claimed, 20},
        {"claimed_not_a_socket", test_claimed_not_a_socket, 20},
        {"client", test_client, 30},
        {"client_waits_for_run", test_client_waits_for_run, 30},
        {NULL, NULL, 0},
    };
    return pt_test_main("ctl", cases, argc, argv);
}
