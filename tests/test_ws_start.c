/* test_ws_start.c - what a worker set does at its start, for ptrun's
 * start-up: pt_workerset_opts.preload (kernels a worker loads as it starts,
 * before any request, so the first task does not wait for their dlopen)
 * and .start (workers forked at create; the others once there is work). */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <ptools/dispatch.h>
#include <ptools/reply.h>
#include <ptools/workerset.h>

#include "harness.h"
#include "internal.h"

#define TK(name) PT_TEST_KERNEL_DIR "/" name ".so"

/* Does process pid map a file whose path ends with `tail`? */
static bool maps(int pid, const char *tail)
{
    char path[64], line[4096];
    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    FILE *f = fopen(path, "re");
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        size_t n = strlen(line), t = strlen(tail);
        found = n >= t && strcmp(line + n - t, tail) == 0;
    }
    if (f)
        fclose(f);
    return found;
}

/* Wait (10 s at most) until pid maps `tail` (or, !want, no longer does):
 * true once so. */
static bool wait_maps(int pid, const char *tail, bool want)
{
    for (int i = 0; i < 10000; i++) {
        if (maps(pid, tail) == want)
            return true;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return false;
}

static void expect(pt_workerset *ws, const char *kernel, pt_task_status st,
                   const char *in_error)
{
    pt_reply *r = pt_remotecall_fetch(ws, kernel, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_EQUAL(pt_reply_status(r), st);
    const char *e = pt_reply_error(r) ? pt_reply_error(r) : "";
    if (in_error && !strstr(e, in_error)) {
        fprintf(stderr, "  %s: error '%s' lacks '%s'\n", kernel, e, in_error);
        CU_FAIL("unexpected error text");
    }
    pt_reply_destroy(r);
}

/*
 * Every worker maps the preloaded libraries before it is sent anything,
 * and only those; indices out of range are ignored; one that cannot load
 * fails the requests naming it, as it would at first use, and costs no
 * worker.
 */
static void test_preload_at_start(void)
{
    static const pt_kernel_ref refs[] = {
        {"counter", TK("stateful"), NULL},
        {"bad", TK("bad_abi"), "x"},
        {"fail", TK("faults"), NULL},
    };
    static const int preload[] = {0, 1, 7, -1};
    pt_workerset_opts o = {
        .kernels = refs, .nkernels = 3, .preload = preload, .npreload = 4};
    pt_workerset *ws = pt_workerset_create(2, PT_WS_FF, &o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    for (int i = 0; i < 2; i++) {
        CU_ASSERT(wait_maps(pt_workerset_pid(ws, i), "/stateful.so", true));
        CU_ASSERT(!maps(pt_workerset_pid(ws, i), "/faults.so"));
        /* tried next, refused, let go (maybe mapped for a moment) */
        CU_ASSERT(wait_maps(pt_workerset_pid(ws, i), "/bad_abi.so", false));
    }
    expect(ws, "bad", PT_TASK_FAILED, "ABI 999");
    expect(ws, "counter", PT_TASK_OK, NULL);
    expect(ws, "fail", PT_TASK_FAILED, "asked to fail: 7");
    CU_ASSERT_EQUAL(pt_workerset_restarts(ws), 0);
    CU_ASSERT_EQUAL(pt_workerset_destroy(ws), 0);
}

/* Without preload, a worker loads a kernel only when a request names it. */
static void test_no_preload_loads_at_first_use(void)
{
    static const pt_kernel_ref refs[] = {{"counter", TK("stateful"), NULL}};
    pt_workerset_opts o = {.kernels = refs, .nkernels = 1};
    pt_workerset *ws = pt_workerset_create(1, PT_WS_FF, &o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    CU_ASSERT(!maps(pt_workerset_pid(ws, 0), "/stateful.so"));
    expect(ws, "counter", PT_TASK_OK, NULL);
    CU_ASSERT(maps(pt_workerset_pid(ws, 0), "/stateful.so"));
    CU_ASSERT_EQUAL(pt_workerset_destroy(ws), 0);
}

/* The identity of a request on worker `on` (-1: any): its worker index
 * and count, checked; the future, for the caller to fetch. */
static pt_future *identity(pt_workerset *ws, int on)
{
    pt_call c = PT_CALL_INIT;
    c.kernel = "identity";
    c.worker = on;
    pt_future *f = pt_remotecall_ex(ws, &c);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    return f;
}

static int64_t result_int(pt_reply *r, const char *key)
{
    CU_ASSERT_EQUAL(pt_reply_status(r), PT_TASK_OK);
    return pt_reply_int(r, key, -1);
}

static const pt_kernel_ref id_refs[] = {{"identity", TK("stateful"), NULL}};

/*
 * start = 1: one worker forked at create. One request at a time, each
 * finished before the next, never needs the second; the count a kernel
 * sees is still the set's size.
 */
static void test_start_one_at_a_time(void)
{
    pt_workerset_opts o = {.kernels = id_refs, .nkernels = 1, .start = 1};
    pt_workerset *ws = pt_workerset_create(2, PT_WS_FF, &o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    CU_ASSERT(pt_workerset_pid(ws, 0) > 0);
    CU_ASSERT_EQUAL(pt_workerset_pid(ws, 1), 0);
    for (int i = 0; i < 3; i++) {
        pt_reply *r = pt_future_fetch(identity(ws, -1));
        CU_ASSERT_EQUAL(result_int(r, "worker_index"), 0);
        CU_ASSERT_EQUAL(result_int(r, "worker_count"), 2);
        pt_reply_destroy(r);
    }
    CU_ASSERT_EQUAL(pt_workerset_pid(ws, 1), 0);
    CU_ASSERT_EQUAL(pt_workerset_restarts(ws), 0);
    CU_ASSERT_EQUAL(pt_workerset_destroy(ws), 0);
}

/* More requests waiting than idle workers: the rest are forked, and a
 * request pinned to an unborn worker runs there. */
static void test_start_births(void)
{
    for (int mode = 0; mode < 2; mode++) {
        pt_workerset_opts o = {.kernels = id_refs, .nkernels = 1, .start = 1};
        pt_workerset *ws = pt_workerset_create(3, mode ? PT_WS_RR : PT_WS_FF,
                                               &o);
        CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
        pt_future *f[4];
        for (int i = 0; i < 4; i++)
            f[i] = identity(ws, -1);
        for (int i = 0; i < 4; i++)
            pt_reply_destroy(pt_future_fetch(f[i]));
        for (int w = 0; w < 3; w++)
            CU_ASSERT(pt_workerset_pid(ws, w) > 0);
        CU_ASSERT_EQUAL(pt_workerset_destroy(ws), 0);
    }
    pt_workerset_opts o = {.kernels = id_refs, .nkernels = 1, .start = 1};
    pt_workerset *ws = pt_workerset_create(3, PT_WS_FF, &o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    pt_reply *r = pt_future_fetch(identity(ws, 2));
    CU_ASSERT_EQUAL(result_int(r, "worker_index"), 2);
    CU_ASSERT_EQUAL(result_int(r, "worker_count"), 3);
    pt_reply_destroy(r);
    CU_ASSERT(pt_workerset_pid(ws, 2) > 0);
    CU_ASSERT_EQUAL(pt_workerset_destroy(ws), 0);
    errno = 0;
    o.start = -1;
    CU_ASSERT_PTR_NULL(pt_workerset_create(2, PT_WS_FF, &o));
    CU_ASSERT_EQUAL(errno, EINVAL);
}

/*
 * pt_workerset_stop_all: every request done, then the workers told to end
 * and left to it (the caller works meanwhile); they exit before
 * pt_workerset_destroy_all, which reaps them. Twice is the same as once.
 */
static void test_stop_then_destroy(void)
{
    pt_workerset_opts o = {.kernels = id_refs, .nkernels = 1};
    pt_workerset *ws = pt_workerset_create(2, PT_WS_FF, &o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    pt_future *f = identity(ws, 1); /* still running when stop_all starts */
    CU_ASSERT_EQUAL(pt_workerset_stop_all(&ws, 1), 0);
    CU_ASSERT_EQUAL(pt_workerset_stop_all(&ws, 1), 0);
    pt_reply *r = pt_future_fetch(f);
    CU_ASSERT_EQUAL(pt_reply_status(r), PT_TASK_OK);
    CU_ASSERT_EQUAL(result_int(r, "worker_index"), 1);
    pt_reply_destroy(r);
    for (int w = 0; w < 2; w++) { /* exited, not reaped: WNOWAIT */
        siginfo_t si = {0};
        int pid = pt_workerset_pid(ws, w);
        CU_ASSERT_EQUAL(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
        CU_ASSERT_EQUAL(si.si_pid, pid);
        CU_ASSERT_EQUAL(si.si_code, CLD_EXITED);
        CU_ASSERT_EQUAL(si.si_status, 0);
    }
    int pids[2] = {pt_workerset_pid(ws, 0), pt_workerset_pid(ws, 1)};
    CU_ASSERT_EQUAL(pt_workerset_destroy_all(&ws, 1), 0);
    for (int w = 0; w < 2; w++) { /* reaped by destroy_all */
        siginfo_t si = {0};
        errno = 0;
        CU_ASSERT_EQUAL(waitid(P_PID, (id_t)pids[w], &si, WEXITED | WNOHANG),
                        -1);
        CU_ASSERT_EQUAL(errno, ECHILD);
    }
}

static void on_usr1(int sig)
{
    (void)sig;
}

/* Run in a worker: which of its signals are at SIG_DFL (1) or not (0). */
static int dispositions(pt_ctx *c)
{
    static const int sigs[] = {SIGUSR1, SIGUSR2, SIGINT, SIGHUP};
    static const char *const names[] = {"usr1", "usr2", "int", "hup"};
    for (int i = 0; i < 4; i++) {
        struct sigaction sa;
        pt_result_int(c, names[i],
                      sigaction(sigs[i], NULL, &sa) == 0 &&
                          sa.sa_handler == SIG_DFL);
    }
    return 0;
}

/*
 * A handler installed and a signal ignored by the caller before the set
 * starts are at SIG_DFL in its workers (the workers read which ones to
 * reset from /proc, `status` NULL, or without it try each signal), and
 * still the caller's own.
 */
static void workers_reset_signals(const char *status)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_usr1;
    CU_ASSERT_EQUAL_FATAL(sigaction(SIGUSR1, &sa, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(sigaction(SIGINT, &sa, NULL), 0);
    sa.sa_handler = SIG_IGN;
    CU_ASSERT_EQUAL_FATAL(sigaction(SIGUSR2, &sa, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(sigaction(SIGHUP, &sa, NULL), 0);
    if (status)
        pt__signal_status_path = status;
    pt_workerset *ws = pt_workerset_create(2, PT_WS_FF, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    for (int i = 0; i < 4; i++) { /* both workers, maybe */
        pt_reply *r = pt_future_fetch(pt_remotecall_fn(ws, dispositions, NULL));
        CU_ASSERT_PTR_NOT_NULL_FATAL(r);
        CU_ASSERT_EQUAL(pt_reply_status(r), PT_TASK_OK);
        CU_ASSERT_EQUAL(pt_reply_int(r, "usr1", -1), 1);
        CU_ASSERT_EQUAL(pt_reply_int(r, "usr2", -1), 1);
        CU_ASSERT_EQUAL(pt_reply_int(r, "int", -1), 1);
        CU_ASSERT_EQUAL(pt_reply_int(r, "hup", -1), 1);
        pt_reply_destroy(r);
    }
    CU_ASSERT_EQUAL(pt_workerset_destroy(ws), 0);
    CU_ASSERT_EQUAL(sigaction(SIGUSR1, NULL, &sa), 0);
    CU_ASSERT_PTR_EQUAL(sa.sa_handler, on_usr1);
    CU_ASSERT_EQUAL(sigaction(SIGUSR2, NULL, &sa), 0);
    CU_ASSERT_PTR_EQUAL(sa.sa_handler, SIG_IGN);
}

static void test_workers_reset_signals(void)
{
    workers_reset_signals(NULL);
}

static void test_workers_reset_signals_no_proc(void)
{
    workers_reset_signals("/nonexistent/proc/self/status");
}

static const pt_test_case cases[] = {
    {"start = 1: one request at a time needs one worker",
     test_start_one_at_a_time, 0},
    {"start = 1: the others are forked once there is work for them",
     test_start_births, 0},
    {"preloaded kernels are loaded before any request", test_preload_at_start,
     0},
    {"without preload a kernel loads at first use",
     test_no_preload_loads_at_first_use, 0},
    {"stop_all: the workers end while the caller works; destroy_all reaps",
     test_stop_then_destroy, 0},
    {"workers start with the caller's handlers and ignores reset",
     test_workers_reset_signals, 0},
    {"the same without /proc", test_workers_reset_signals_no_proc, 0},
    {NULL, NULL, 0},
};

int main(int argc, char **argv)
{
    return pt_test_main("ws_start", cases, argc, argv);
}
