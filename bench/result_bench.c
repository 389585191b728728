/*
 * result_bench.c - how fast a large result comes back, beside a raw pipe.
 *
 *   figure     pt_remotecall_fetch of the `blob` kernel (bench/kernels) on a
 *              1-worker set: one BYTES result per call, MB/s over CALLS calls
 *   reference  the same as raw pipes between two processes: a 1-byte request
 *              down, BYTES up (from a buffer filled once, into a buffer
 *              allocated once), with the pipe size the library's worker
 *              pipes have: the library sets none, so the default
 *   usage: result_bench BLOB_SO [CALLS [BYTES]]   (8 calls of 64 MiB - 4 KiB)
 * The default is just under 64 MiB because a whole result frame (bytes,
 * keys, headers) must fit the library's 64 MiB frame limit (wire.h):
 * a result of exactly 64 MiB ends its worker as having broken the protocol.
 *   prints: result_lib_mb_per_s, result_raw_mb_per_s, result_pipe_size,
 *           result_bytes
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include <ptools/workerset.h>

#include "bench.h"

/* The writer of the raw reference: BYTES for every request byte. */
static _Noreturn void raw_child(int in, int out, size_t bytes)
{
    char *buf = malloc(bytes ? bytes : 1);
    char req;
    if (!buf)
        _exit(1);
    memset(buf, 7, bytes);
    while (bench_read_all(in, &req, 1) == 0)
        if (bench_write_all(out, buf, bytes) < 0)
            _exit(1);
    _exit(0);
}

/* Make both pipes and fork the writer: 0 or -errno. */
static int raw_start(int *to, int *from, pid_t *pid, size_t bytes)
{
    int in = -1, out = -1;
    *pid = bench_fork_pipes(to, from, &in, &out);
    if (*pid == 0)
        raw_child(in, out, bytes);
    return *pid < 0 ? (int)*pid : 0;
}

/* MB/s of `calls` raw request/reply round trips of `bytes`; <0: -errno. */
static double raw_rate(int calls, size_t bytes, int *pipe_size)
{
    int to = -1, from = -1;
    pid_t pid = -1;
    char *buf = malloc(bytes ? bytes : 1), req = 'r';
    int rc = buf ? raw_start(&to, &from, &pid, bytes) : -ENOMEM;
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *pipe_size = fcntl(from, F_GETPIPE_SZ);
    double t0 = 0;
    for (int i = -1; i < calls && rc == 0; i++) { /* i = -1: warm-up */
        if (i == 0)
            t0 = bench_now();
        rc = bench_write_all(to, &req, 1);
        if (rc == 0)
            rc = bench_read_all(from, buf, bytes);
    }
    double dt = bench_now() - t0;
    close(to);
    close(from);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    free(buf);
    return rc < 0 ? rc : (double)bytes * calls / dt / 1e6;
}

/* One blob call through the library: 0, or -EIO with a message. */
static int lib_call(pt_workerset *ws, pt_args *args, size_t bytes)
{
    pt_reply *r = pt_remotecall_fetch(ws, "blob", args);
    size_t len = 0;
    int rc = 0;
    if (!r) {
        fprintf(stderr, "result_bench: %s\n", pt_errmsg());
        return -EIO;
    }
    if (pt_reply_status(r) != PT_TASK_OK || !pt_reply_bytes(r, "data", &len) ||
        len != bytes) {
        fprintf(stderr, "result_bench: blob: status %d, %zu bytes: %s\n",
                pt_reply_status(r), len,
                pt_reply_error(r) ? pt_reply_error(r) : "wrong size");
        rc = -EIO;
    }
    pt_reply_destroy(r);
    return rc;
}

/* MB/s of `calls` fetches of a `bytes` blob; <0: -errno. */
static double lib_rate(const char *so, int calls, size_t bytes)
{
    pt_kernel_ref blob = {"blob", so, NULL};
    pt_workerset_opts o = {.kernels = &blob, .nkernels = 1};
    pt_workerset *ws = pt_workerset_create(1, PT_WS_RR, &o);
    pt_args *args = pt_args_create();
    int rc = ws && args ? pt_args_int(args, "bytes", (int64_t)bytes) : -ENOMEM;
    if (!ws)
        fprintf(stderr, "result_bench: %s\n", pt_errmsg());
    double t0 = 0;
    for (int i = -1; i < calls && rc == 0; i++) { /* i = -1: warm-up */
        if (i == 0)
            t0 = bench_now();
        rc = lib_call(ws, args, bytes);
    }
    double dt = bench_now() - t0;
    pt_args_destroy(args);
    if (ws)
        pt_workerset_destroy(ws);
    return rc < 0 ? rc : (double)bytes * calls / dt / 1e6;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: result_bench BLOB_SO [CALLS [BYTES]]\n");
        return 2;
    }
    int calls = argc > 2 ? atoi(argv[2]) : 8, pipe_size = 0;
    size_t bytes = argc > 3 ? strtoull(argv[3], NULL, 10)
                            : ((size_t)64 << 20) - 4096;
    signal(SIGPIPE, SIG_IGN);
    double raw = raw_rate(calls, bytes, &pipe_size);
    double lib = lib_rate(argv[1], calls, bytes);
    if (raw < 0 || lib < 0) {
        fprintf(stderr, "result_bench: %s\n",
                strerror((int)-(raw < 0 ? raw : lib)));
        return 1;
    }
    bench_kv("result_lib_mb_per_s", lib);
    bench_kv("result_raw_mb_per_s", raw);
    bench_kv("result_pipe_size", pipe_size);
    bench_kv("result_bytes", (double)bytes);
    return 0;
}
