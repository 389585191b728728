/*
 * ctl.c - the server of live control (see ctl.h): a nonblocking Unix socket
 * listener and its clients, driven by the run loop's poll: each request
 * line a client sends goes to rn_ctl_request() (ctl_request.c), and its
 * answer back to that client.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ptools/json.h>
#include <ptools/sys.h>

#include "ctl/ctl.h"

#define READ_CHUNK (16 * 1024)
#define READ_ROUNDS 8 /* chunks per client per handle call */
#define ACCEPTS_PER_CALL 64
#define ACCEPT_PAUSE_NS INT64_C(100000000) /* after EMFILE and the like */
#define MS INT64_C(1000000)

typedef enum cstate {
    C_FREE,    /* an unused slot */
    C_OPEN,    /* reading requests, answering them */
    C_CLOSING, /* no more reading: close once the replies are sent */
    C_DEAD,    /* close now */
} cstate;

typedef struct client {
    int fd;
    cstate state;
    pt_buf in;      /* received bytes, from the start of a line */
    size_t scanned; /* bytes of `in` known to hold no newline */
    pt_buf out;     /* replies not yet sent, from out_off */
    size_t out_off;
    int64_t line_since; /* when the incomplete line in `in` began */
    int64_t active_at;  /* the last read or write */
} client;

struct rn_ctl {
    int fd;    /* the listener */
    int dirfd; /* O_PATH, for the socket's name */
    dev_t dev; /* the socket file we bound, to unlink only it */
    ino_t ino;
    rn_ctl_apply_fn fn;
    void *arg;
    int64_t line_ns, idle_ns;
    int64_t accept_at; /* accepting paused until then (fd shortage) */
    pt_buf reply;      /* the apply function's members */
    client cl[RN_CTL_MAX_CLIENTS];
};

/* ---- the socket ---- */

/* The address of DIR/NAME (through dirfd when too long), as rn_ctl_addr. */
static int addr_named(const char *dir, int dirfd, const char *name,
                      struct sockaddr_un *sa, socklen_t *len)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    int n = snprintf(sa->sun_path, sizeof sa->sun_path, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof sa->sun_path)
        n = snprintf(sa->sun_path, sizeof sa->sun_path, "/proc/self/fd/%d/%s",
                     dirfd, name);
    if (n < 0 || (size_t)n >= sizeof sa->sun_path)
        return -ENAMETOOLONG;
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n + 1);
    return 0;
}

int rn_ctl_addr(const char *dir, int dirfd, struct sockaddr_un *sa,
                socklen_t *len)
{
    return addr_named(dir, dirfd, RN_CTL_SOCK, sa, len);
}

/* Bind with umask 077, so that the socket is never reachable by others. */
static int bind_private(int fd, const struct sockaddr_un *sa, socklen_t len)
{
    mode_t old = umask(077);
    int rc = pt_sys_bind(fd, (const struct sockaddr *)sa, len);
    umask(old);
    return rc;
}

/* Is a run listening at `sa`? 1 yes, 0 no (stale or gone), or -errno. */
static int live(const struct sockaddr_un *sa, socklen_t len)
{
    int fd = pt_sys_socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return fd;
    int rc = connect(fd, (const struct sockaddr *)sa, len) == 0 ? 1 : -errno;
    if (rc == -EAGAIN || rc == -EINPROGRESS) /* a full backlog: alive */
        rc = 1;
    else if (rc == -ECONNREFUSED || rc == -ENOENT)
        rc = 0;
    pt_sys_close(fd);
    return rc;
}

/*
 * DIR/ctl.sock is taken: remove it when nobody listens there (a killed
 * run left it), so that the caller can bind again.
 */
static int take_over(rn_ctl *c, const char *dir, const struct sockaddr_un *sa,
                     socklen_t len, char *err, size_t errlen)
{
    struct stat st;
    int rc = live(sa, len);
    if (rc == 1) {
        snprintf(err, errlen,
                 "%s/%s: another ptrun is running in this "
                 "folder (its control socket answers)",
                 dir, RN_CTL_SOCK);
        return -EADDRINUSE;
    }
    if (rc == 0 && fstatat(c->dirfd, RN_CTL_SOCK, &st, AT_SYMLINK_NOFOLLOW) < 0)
        rc = errno == ENOENT ? 0 : -errno;
    else if (rc == 0 && !S_ISSOCK(st.st_mode))
        rc = -EEXIST;
    else if (rc == 0 && unlinkat(c->dirfd, RN_CTL_SOCK, 0) < 0 &&
             errno != ENOENT)
        rc = -errno;
    if (rc < 0)
        snprintf(err, errlen, "%s/%s: cannot replace it: %s", dir, RN_CTL_SOCK,
                 rc == -EEXIST ? "not a socket" : strerror(-rc));
    return rc;
}

/* Make the socket bound as DIR/name private and listen on it; its
 * identity goes to c, so that rn_ctl_close unlinks only this socket. */
static int listen_bound(rn_ctl *c, const char *name)
{
    struct stat st;
    if (fchmodat(c->dirfd, name, 0600, 0) < 0 ||
        fstatat(c->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
        listen(c->fd, SOMAXCONN) < 0)
        return -errno;
    c->dev = st.st_dev;
    c->ino = st.st_ino;
    return 0;
}

/* Bind and listen on DIR/ctl.sock, replacing a stale one: 0 or -errno. */
static int listen_on(rn_ctl *c, const char *dir, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    socklen_t len;
    int rc = rn_ctl_addr(dir, c->dirfd, &sa, &len);
    if (rc == 0 && (rc = bind_private(c->fd, &sa, len)) == -EADDRINUSE) {
        if ((rc = take_over(c, dir, &sa, len, err, errlen)) < 0)
            return rc;
        rc = bind_private(c->fd, &sa, len);
    }
    if (rc == 0)
        rc = listen_bound(c, RN_CTL_SOCK);
    if (rc < 0)
        snprintf(err, errlen, "%s/%s: cannot listen: %s", dir, RN_CTL_SOCK,
                 strerror(-rc));
    return rc;
}

/* May DIR/ctl.sock be replaced: 0 when it is missing or a socket. */
static int replaceable(int dirfd)
{
    struct stat st;
    if (fstatat(dirfd, RN_CTL_SOCK, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -errno;
    return S_ISSOCK(st.st_mode) ? 0 : -EEXIST;
}

/* Listen on DIR/tmp, bound just now, then rename it to DIR/ctl.sock. */
static int publish(rn_ctl *c, const char *tmp)
{
    int rc = listen_bound(c, tmp);
    if (rc == 0)
        rc = replaceable(c->dirfd);
    if (rc == 0 && renameat(c->dirfd, tmp, c->dirfd, RN_CTL_SOCK) < 0)
        rc = -errno;
    return rc;
}

/*
 * For a caller that holds the folder's claim: listen on a private name,
 * then rename it over DIR/ctl.sock. A socket there is a dead run's (a stray
 * process of it may even hold it open still): it is replaced in one step,
 * never unlinked. A ctl.sock that is not a socket stays (-EEXIST).
 */
static int listen_claimed(rn_ctl *c, const char *dir, char *err, size_t errlen)
{
    char tmp[64];
    struct sockaddr_un sa;
    socklen_t len;
    snprintf(tmp, sizeof tmp, ".%s-%ld", RN_CTL_SOCK, (long)getpid());
    int rc = addr_named(dir, c->dirfd, tmp, &sa, &len);
    if (rc == 0 && unlinkat(c->dirfd, tmp, 0) < 0 && errno != ENOENT)
        rc = -errno; /* a dead run of the same pid left it */
    if (rc == 0 && (rc = bind_private(c->fd, &sa, len)) == 0 &&
        (rc = publish(c, tmp)) < 0)
        unlinkat(c->dirfd, tmp, 0); /* the name we bound; best effort */
    if (rc < 0)
        snprintf(err, errlen, "%s/%s: cannot listen: %s", dir, RN_CTL_SOCK,
                 rc == -EEXIST ? "not a socket" : strerror(-rc));
    return rc;
}

/* Open the server: claimed, as rn_ctl_open_claimed; else rn_ctl_open. */
static int open_server(rn_ctl **out, const char *dir, bool claimed,
                       rn_ctl_apply_fn fn, void *arg, char *err, size_t errlen)
{
    int rc;
    rn_ctl *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    *c = (rn_ctl){.fd = -1,
                  .fn = fn,
                  .arg = arg,
                  .line_ns = RN_CTL_LINE_MS * MS,
                  .idle_ns = RN_CTL_IDLE_MS * MS};
    for (int i = 0; i < RN_CTL_MAX_CLIENTS; i++)
        c->cl[i].fd = -1;
    c->dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (c->dirfd < 0) {
        rc = -errno;
        snprintf(err, errlen, "%s: cannot open the run folder: %s", dir,
                 strerror(-rc));
        goto fail_free;
    }
    c->fd = pt_sys_socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) {
        rc = c->fd;
        snprintf(err, errlen, "control socket: %s", strerror(-rc));
        goto fail_close_dir;
    }
    rc = claimed ? listen_claimed(c, dir, err, errlen)
                 : listen_on(c, dir, err, errlen);
    if (rc < 0)
        goto fail_close_socket;
    *out = c;
    return 0;
fail_close_socket:
    pt_sys_close(c->fd);
fail_close_dir:
    pt_sys_close(c->dirfd);
fail_free:
    free(c);
    *out = NULL;
    return rc;
}

int rn_ctl_open(rn_ctl **out, const char *dir, rn_ctl_apply_fn fn, void *arg,
                char *err, size_t errlen)
{
    return open_server(out, dir, false, fn, arg, err, errlen);
}

int rn_ctl_open_claimed(rn_ctl **out, const char *dir, rn_ctl_apply_fn fn,
                        void *arg, char *err, size_t errlen)
{
    return open_server(out, dir, true, fn, arg, err, errlen);
}

void rn_ctl_set_deadlines(rn_ctl *c, int line_ms, int idle_ms)
{
    c->line_ns = line_ms * MS;
    c->idle_ns = idle_ms * MS;
}

/* ---- clients ---- */

/*
 * Shut the connection down before closing: forked workers may hold a copy
 * of the fd, and the peer must see the end all the same.
 */
static void drop(client *k)
{
    shutdown(k->fd, SHUT_RDWR);
    pt_sys_close(k->fd);
    pt_buf_free(&k->in);
    pt_buf_free(&k->out);
    *k = (client){.fd = -1};
}

/* Queue reply bytes; a client that lets them pile up is dropped. */
static void queue_out(client *k, const void *p, size_t n)
{
    if (k->out.len - k->out_off + n > RN_CTL_MAX_OUT ||
        pt_buf_append(&k->out, p, n) < 0)
        k->state = C_DEAD;
}

static void reply_error(client *k, const char *msg)
{
    pt_buf b = {0};
    if (pt_buf_append(&b, "{\"ok\":false,\"error\":", 20) < 0 ||
        pt_json_cstr(&b, msg) < 0 || pt_buf_append(&b, "}\n", 2) < 0)
        k->state = C_DEAD;
    else
        queue_out(k, b.data, b.len);
    pt_buf_free(&b);
}

/* Send what is queued, without blocking. */
static void flush_out(client *k, int64_t now)
{
    while (k->state != C_DEAD && k->out_off < k->out.len) {
        ssize_t w = send(k->fd, k->out.data + k->out_off,
                         k->out.len - k->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (w < 0) { /* EPIPE, ECONNRESET: the client is gone */
            k->state = C_DEAD;
            break;
        }
        k->out_off += (size_t)w;
        k->active_at = now;
    }
    if (k->out_off == k->out.len) {
        pt_buf_reset(&k->out);
        k->out_off = 0;
        if (k->state == C_CLOSING)
            k->state = C_DEAD;
    } else if (k->out_off > k->out.len / 2) {
        memmove(k->out.data, k->out.data + k->out_off, k->out.len - k->out_off);
        k->out.len -= k->out_off;
        k->out_off = 0;
    }
}

/* ---- requests (read and checked in ctl_request.c) ---- */

/* Queue {"ok":true, members}; newlines in the members become spaces. */
static void reply_ok(client *k, pt_buf *members)
{
    for (size_t i = 0; i < members->len; i++)
        if (members->data[i] == '\n' || members->data[i] == '\r')
            members->data[i] = ' ';
    queue_out(k, "{\"ok\":true", 10);
    if (members->len) {
        queue_out(k, ",", 1);
        queue_out(k, members->data, members->len);
    }
    queue_out(k, "}\n", 2);
}

/* Answer one request line (NUL-terminated, without its newline). */
static void answer(rn_ctl *c, client *k, char *line, size_t len)
{
    char why[RN_CTL_WHY];
    if (rn_ctl_request(line, len, c->fn, c->arg, &c->reply, why, sizeof why) ==
        0)
        reply_ok(k, &c->reply);
    else
        reply_error(k, why);
}

/* Answer the complete lines in k->in and keep the rest. */
static void take_lines(rn_ctl *c, client *k, int64_t now)
{
    char *data = (char *)k->in.data;
    size_t start = 0;
    char *nl;
    while (k->state == C_OPEN &&
           (nl = memchr(data + k->scanned, '\n', k->in.len - k->scanned))) {
        size_t len = (size_t)(nl - (data + start));
        *nl = '\0';
        if (len > RN_CTL_MAX_LINE) {
            reply_error(k, "request longer than 65536 bytes");
            k->state = k->state == C_DEAD ? C_DEAD : C_CLOSING;
        } else {
            answer(c, k, data + start, len);
            flush_out(k, now); /* keep only what the socket cannot take */
        }
        start = k->scanned = (size_t)(nl + 1 - data);
    }
    if (start) {
        memmove(data, data + start, k->in.len - start);
        k->in.len -= start;
        k->line_since = now;
    }
    k->scanned = k->in.len;
    if (k->state == C_OPEN && k->in.len > RN_CTL_MAX_LINE) {
        reply_error(k, "request longer than 65536 bytes");
        if (k->state == C_OPEN)
            k->state = C_CLOSING;
    }
}

/* At the end of input: a last line without its newline counts too. */
static void on_eof(rn_ctl *c, client *k, int64_t now)
{
    if (k->state == C_OPEN && k->in.len && pt_buf_append(&k->in, "\n", 1) == 0)
        take_lines(c, k, now);
    if (k->state == C_OPEN)
        k->state = C_CLOSING;
    if (k->state == C_CLOSING && k->out_off == k->out.len)
        k->state = C_DEAD;
}

/* Read what the client sent, a bounded amount per call. */
static void read_in(rn_ctl *c, client *k, int64_t now)
{
    for (int round = 0; round < READ_ROUNDS && k->state == C_OPEN; round++) {
        if (pt_buf_reserve(&k->in, READ_CHUNK) < 0) {
            k->state = C_DEAD;
            return;
        }
        ssize_t r = recv(k->fd, k->in.data + k->in.len, READ_CHUNK, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r < 0) {
            k->state = C_DEAD;
            return;
        }
        if (r == 0) {
            on_eof(c, k, now);
            return;
        }
        if (k->in.len == 0)
            k->line_since = now;
        k->in.len += (size_t)r;
        k->active_at = now;
        take_lines(c, k, now);
    }
}

/* Past a deadline: an incomplete line too slow, or nothing for too long. */
static int64_t deadline(const rn_ctl *c, const client *k)
{
    int64_t idle = k->active_at + c->idle_ns;
    if (k->state == C_OPEN && k->in.len) {
        int64_t line = k->line_since + c->line_ns;
        return line < idle ? line : idle;
    }
    return idle;
}

static void on_client(rn_ctl *c, client *k, short revents, int64_t now)
{
    if (revents & POLLNVAL) {
        k->state = C_DEAD;
        return;
    }
    if (revents & (POLLIN | POLLHUP | POLLERR) && k->state == C_OPEN)
        read_in(c, k, now);
    else if (revents & (POLLHUP | POLLERR) && k->out_off == k->out.len)
        k->state = C_DEAD;
    flush_out(k, now);
}

/* Refuse a client beyond the limit: one error line, then close. */
static void refuse(int fd)
{
    static const char msg[] = "{\"ok\":false,\"error\":\"too many control "
                              "clients (at most 16)\"}\n";
    while (send(fd, msg, sizeof msg - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
           errno == EINTR)
        ;
    shutdown(fd, SHUT_RDWR);
    pt_sys_close(fd);
}

static void accept_clients(rn_ctl *c, int64_t now)
{
    for (int i = 0; i < ACCEPTS_PER_CALL; i++) {
        int fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
            continue;
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) /* EMFILE... */
                c->accept_at = now + ACCEPT_PAUSE_NS;
            return;
        }
        client *k = NULL;
        for (int j = 0; j < RN_CTL_MAX_CLIENTS && !k; j++)
            if (c->cl[j].state == C_FREE)
                k = &c->cl[j];
        if (!k) {
            refuse(fd);
            continue;
        }
        *k = (client){.fd = fd, .state = C_OPEN, .active_at = now};
    }
}

/* ---- the loop's side ---- */

int rn_ctl_pollfds(rn_ctl *c, struct pollfd *p, int max)
{
    int n = 0;
    if (n < max && c->accept_at == 0)
        p[n++] = (struct pollfd){.fd = c->fd, .events = POLLIN};
    for (int i = 0; i < RN_CTL_MAX_CLIENTS && n < max; i++) {
        const client *k = &c->cl[i];
        if (k->state == C_FREE)
            continue;
        short ev = k->state == C_OPEN ? POLLIN : 0;
        if (k->out_off < k->out.len)
            ev |= POLLOUT;
        p[n++] = (struct pollfd){.fd = k->fd, .events = ev};
    }
    return n;
}

void rn_ctl_handle(rn_ctl *c, const struct pollfd *p, int n, int64_t now_ns)
{
    bool listener = false;
    for (int i = 0; i < n; i++) {
        if (p[i].fd == c->fd) {
            listener = p[i].revents != 0;
            continue;
        }
        for (int j = 0; j < RN_CTL_MAX_CLIENTS; j++) {
            client *k = &c->cl[j];
            if (k->state != C_FREE && k->fd == p[i].fd && p[i].revents)
                on_client(c, k, p[i].revents, now_ns);
        }
    }
    for (int j = 0; j < RN_CTL_MAX_CLIENTS; j++) {
        client *k = &c->cl[j];
        if (k->state != C_FREE &&
            (k->state == C_DEAD || now_ns >= deadline(c, k)))
            drop(k);
    }
    if (c->accept_at && now_ns >= c->accept_at)
        c->accept_at = 0;
    if (listener) /* last: a new client may reuse a dropped one's fd */
        accept_clients(c, now_ns);
}

int rn_ctl_timeout_ms(const rn_ctl *c, int64_t now_ns)
{
    int64_t next = c->accept_at ? c->accept_at : INT64_MAX;
    for (int j = 0; j < RN_CTL_MAX_CLIENTS; j++) {
        if (c->cl[j].state != C_FREE) {
            int64_t d = deadline(c, &c->cl[j]);
            next = d < next ? d : next;
        }
    }
    if (next == INT64_MAX)
        return -1;
    if (next <= now_ns)
        return 0;
    int64_t ms = (next - now_ns + MS - 1) / MS;
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

void rn_ctl_close(rn_ctl *c)
{
    struct stat st;
    if (!c)
        return;
    for (int j = 0; j < RN_CTL_MAX_CLIENTS; j++)
        if (c->cl[j].state != C_FREE)
            drop(&c->cl[j]);
    shutdown(c->fd, SHUT_RDWR); /* workers may hold a copy: refuse now */
    pt_sys_close(c->fd);
    if (fstatat(c->dirfd, RN_CTL_SOCK, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        st.st_dev == c->dev && st.st_ino == c->ino)
        unlinkat(c->dirfd, RN_CTL_SOCK, 0);
    pt_sys_close(c->dirfd);
    pt_buf_free(&c->reply);
    free(c);
}
