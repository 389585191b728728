/*
 * ctl.h - live control of a run (`ptrun ctl`): line-delimited JSON over the
 * Unix socket DIR/ctl.sock (mode 0600) of the run folder DIR.
 *
 * Requests, one per line: {"cmd":"status"}, {"cmd":"pause"},
 * {"cmd":"resume"}, {"cmd":"priority", SELECTOR, "priority":N} and
 * {"cmd":"cancel", SELECTOR}, where SELECTOR is exactly one of "task":ID,
 * "kernel":"K" or "tag":"T". Each gets one reply line: {"ok":true, ...the
 * apply function's members} or {"ok":false,"error":"..."} (bad JSON,
 * unknown keys or commands, wrong types, a failed apply). A client may send
 * several requests on one connection.
 *
 * The server (ctl.c; each request line is read in ctl_request.c) runs
 * inside the run loop's single thread and never blocks: the loop polls
 * rn_ctl_pollfds() with its own fds, with a timeout no longer than
 * rn_ctl_timeout_ms(), then calls rn_ctl_handle() after every poll (a
 * timeout too: it drops clients past their deadlines). Hostile clients
 * cannot disturb the run: at most RN_CTL_MAX_CLIENTS, lines of at most
 * RN_CTL_MAX_LINE bytes, at most RN_CTL_MAX_OUT bytes of unread replies,
 * and deadlines for an incomplete line and for idleness.
 *
 * The address: DIR/ctl.sock itself when it fits in sun_path (108 bytes),
 * else /proc/self/fd/N/ctl.sock through an O_PATH descriptor of DIR.
 */
#ifndef RN_CTL_H
#define RN_CTL_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <ptools/buf.h>

#define RN_CTL_SOCK "ctl.sock"
#define RN_CTL_MAX_CLIENTS 16
#define RN_CTL_MAX_LINE (64 * 1024)  /* bytes of one request */
#define RN_CTL_MAX_OUT (1024 * 1024) /* unread reply bytes per client */
#define RN_CTL_LINE_MS 5000          /* to finish a line once begun */
#define RN_CTL_IDLE_MS 60000         /* without reading or writing */
#define RN_CTL_POLLFDS (1 + RN_CTL_MAX_CLIENTS) /* the most pollfds asks */
#define RN_CTL_WHY 200 /* bytes of rn_ctl_request's reason */

typedef struct rn_ctl rn_ctl;

typedef enum rn_ctl_cmd {
    RN_CTL_STATUS,
    RN_CTL_PRIORITY,
    RN_CTL_CANCEL,
    RN_CTL_PAUSE,
    RN_CTL_RESUME,
} rn_ctl_cmd;

/* One checked request; its pointers live during the apply call only. */
typedef struct rn_ctl_req {
    rn_ctl_cmd cmd;
    int64_t task;       /* selector: a task id, or -1 */
    const char *kernel; /* selector: a kernel name, or NULL */
    const char *tag;    /* selector: a tag, or NULL */
    int64_t priority;   /* RN_CTL_PRIORITY */
    const char *json;   /* the request as received (one line of valid JSON) */
} rn_ctl_req;

/*
 * Apply one request: append the reply's members (JSON text that goes after
 * "ok":true, e.g. "\"changed\":3"; nothing is fine), or return -errno with
 * a message in err.
 */
typedef int (*rn_ctl_apply_fn)(void *arg, const rn_ctl_req *req, pt_buf *reply,
                               char *err, size_t errlen);

/*
 * Read one request line (NUL-terminated, len bytes without its newline; a
 * trailing '\r' is dropped), check it and apply it with fn: 0 with fn's
 * members in `reply`; -EINVAL for a bad request (bad JSON, unknown keys or
 * commands, wrong types) or fn's -errno, with the reason in why. What the
 * server does with each line; fuzz/fuzz_json.c feeds it untrusted bytes.
 */
int rn_ctl_request(char *line, size_t len, rn_ctl_apply_fn fn, void *arg,
                   pt_buf *reply, char *why, size_t whylen);

/*
 * Listen on DIR/ctl.sock, mode 0600. A socket left by a dead run is
 * replaced; a live one (another ptrun on DIR) is -EADDRINUSE. 0, or -errno
 * with a message in err.
 */
int rn_ctl_open(rn_ctl **out, const char *dir, rn_ctl_apply_fn fn, void *arg,
                char *err, size_t errlen);

/*
 * The same for a caller that holds DIR's claim (rundir.h), so that no live
 * run can own a DIR/ctl.sock: the socket is bound under a private name and
 * renamed into place, replacing any socket a dead run left (even one a
 * stray process of that run still holds open); never -EADDRINUSE. A
 * ctl.sock that is not a socket stays: -EEXIST. The socket rn_ctl_close
 * unlinks is always the one this call bound, never another's.
 */
int rn_ctl_open_claimed(rn_ctl **out, const char *dir, rn_ctl_apply_fn fn,
                        void *arg, char *err, size_t errlen);

/* The fds to poll now (listener, clients); returns how many (<= max). */
int rn_ctl_pollfds(rn_ctl *c, struct pollfd *p, int max);

/*
 * After each poll: accept, read, answer, write, and drop clients that broke
 * a limit or a deadline. `p` and `n` are what rn_ctl_pollfds() gave (fds
 * not ours are ignored); now_ns is CLOCK_MONOTONIC, read after the poll.
 */
void rn_ctl_handle(rn_ctl *c, const struct pollfd *p, int n, int64_t now_ns);

/* Milliseconds until the next client deadline, or -1 when there is none. */
int rn_ctl_timeout_ms(const rn_ctl *c, int64_t now_ns);

/* Change the deadlines (RN_CTL_LINE_MS, RN_CTL_IDLE_MS); for tests. */
void rn_ctl_set_deadlines(rn_ctl *c, int line_ms, int idle_ms);

/* Close the listener and every client, and unlink the socket. NULL is ok. */
void rn_ctl_close(rn_ctl *c);

/*
 * `ptrun ctl DIR CMD [ARGS]`: argv[0] is CMD (status, pause, resume,
 * priority TASK|kernel=K|tag=T PRIO, cancel TASK|kernel=K|tag=T). Sends the
 * request, waits up to 10 s for the reply and prints it on `out`: as it
 * came (one line of JSON) when `json`, else for people (rn_ctl_print).
 * Returns the exit status: 0 "ok":true, 1 an error reply, 2 bad usage, 3
 * no run listening or another runtime error (messages on errf).
 */
int rn_ctl_client(const char *dir, int argc, char **argv, bool json, FILE *out,
                  FILE *errf);

/*
 * A reply of the run to request `cmd` for people (ctl_print.c): status as
 * tables, the others as a sentence on out; an error reply on errf. 0 when
 * the reply is "ok":true, else 1.
 */
int rn_ctl_print(const char *cmd, const char *reply, size_t len, FILE *out,
                 FILE *errf);

/*
 * Shared by server and client: the address of DIR/ctl.sock, given `dirfd`,
 * an O_PATH descriptor of DIR (used when the plain path is too long).
 */
int rn_ctl_addr(const char *dir, int dirfd, struct sockaddr_un *sa,
                socklen_t *len);

#endif
