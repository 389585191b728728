/*
 * pingpong2.c - the raw cost of serving two workers: round trips per second.
 *
 * One parent, two forked children, a pair of pipes each. Each child sends a
 * 64-byte message and waits for the answer, in a loop; the parent poll()s
 * both read ends and answers each message as it comes. This is what a
 * runner with two workers and one task in flight per worker does at best,
 * without any framing, queue or results: the reference of `ptrun` unbatched.
 *   usage: pingpong2 [SECONDS]      (default 2)
 *   prints: pingpong2_rt_per_s, pingpong2_round_trips, pingpong2_seconds
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "bench.h"

enum { MSG = 64, NCHILD = 2 };

typedef struct child {
    pid_t pid;
    int to, from; /* the parent's ends */
} child;

/* The child's side: ask, wait for the answer, until the parent hangs up. */
static _Noreturn void child_loop(int in, int out)
{
    char msg[MSG];
    memset(msg, 'q', sizeof msg);
    while (bench_write_all(out, msg, sizeof msg) == 0 &&
           bench_read_all(in, msg, sizeof msg) == 0)
        ;
    _exit(0);
}

/* Fork child c with its two pipes: 0 or -errno. */
static int start(child *c)
{
    int in = -1, out = -1;
    pid_t pid = bench_fork_pipes(&c->to, &c->from, &in, &out);
    if (pid == 0)
        child_loop(in, out);
    if (pid < 0)
        return (int)pid;
    c->pid = pid;
    return 0;
}

/* Answer both children as their messages come, for `secs` seconds. */
static int serve(child *c, double secs, uint64_t *trips, double *elapsed)
{
    struct pollfd pfd[NCHILD];
    char msg[MSG];
    for (int i = 0; i < NCHILD; i++)
        pfd[i] = (struct pollfd){.fd = c[i].from, .events = POLLIN};
    double t0 = bench_now(), t = t0;
    uint64_t n = 0;
    while (t - t0 < secs) {
        for (int k = 0; k < 1024; k++) {
            int r = poll(pfd, NCHILD, -1);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                return -errno;
            for (int i = 0; i < NCHILD; i++) {
                if (!(pfd[i].revents & (POLLIN | POLLHUP)))
                    continue;
                int rc = bench_read_all(c[i].from, msg, sizeof msg);
                if (rc == 0)
                    rc = bench_write_all(c[i].to, msg, sizeof msg);
                if (rc < 0)
                    return rc;
                n++;
            }
        }
        t = bench_now();
    }
    *trips = n;
    *elapsed = t - t0;
    return 0;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 2.0;
    child c[NCHILD];
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < NCHILD; i++) {
        int rc = start(&c[i]);
        if (rc < 0) {
            fprintf(stderr, "pingpong2: fork: %s\n", strerror(-rc));
            return 1;
        }
    }
    uint64_t trips = 0;
    double dt = 0;
    int rc = serve(c, secs, &trips, &dt);
    /* All hang up first: a child holds copies of its elders' pipe ends. */
    for (int i = 0; i < NCHILD; i++) {
        close(c[i].to); /* the child's EOF: it exits */
        close(c[i].from);
    }
    for (int i = 0; i < NCHILD; i++)
        while (waitpid(c[i].pid, NULL, 0) < 0 && errno == EINTR)
            ;
    if (rc < 0 || dt <= 0) {
        fprintf(stderr, "pingpong2: %s\n", strerror(rc < 0 ? -rc : EIO));
        return 1;
    }
    bench_kv("pingpong2_rt_per_s", (double)trips / dt);
    bench_kv("pingpong2_round_trips", (double)trips);
    bench_kv("pingpong2_seconds", dt);
    return 0;
}
