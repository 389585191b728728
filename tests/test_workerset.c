/* test_workerset.c - worker sets, futures, crashes, kernels from .so files. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ptools/dispatch.h>
#include <ptools/kernel_lib.h>
#include <ptools/sys.h>
#include <ptools/workerset.h>

#include "harness.h"
#include "internal.h"
#include "wire.h"
#include "worker.h"

#define TK(name) PT_TEST_KERNEL_DIR "/" name ".so"

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Plain functions run in the workers: they were forked from us. */
static int who(pt_ctx *c)
{
    pt_result_int(c, "worker", pt_worker_index(c));
    pt_result_int(c, "task", pt_task_id(c));
    return 0;
}

static int nap(pt_ctx *c)
{
    int64_t start = now_ns();
    int64_t ms = pt_arg_int(c, "ms", 50);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    pt_result_int(c, "worker", pt_worker_index(c));
    pt_result_int(c, "start", start);
    pt_result_int(c, "end", now_ns());
    return 0;
}

static int twice(pt_ctx *c)
{
    size_t n;
    const double *x = pt_arg_reals(c, "x", &n);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += x[i];
    pt_result_int(c, "n2", 2 * pt_arg_int(c, "n", 0));
    pt_result_real(c, "sum", sum);
    pt_result_str(c, "hello", pt_arg_str(c, "name", "nobody"));
    return 0;
}

static int segv(pt_ctx *c)
{
    (void)c;
    raise(SIGSEGV);
    return 0;
}

static pt_args *args_ms(int ms)
{
    pt_args *a = pt_args_create();
    pt_args_int(a, "ms", ms);
    return a;
}

static void test_rr_order(void)
{
    pt_workerset *ws = pt_workerset_create(3, PT_WS_RR, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    pt_future *f[9];
    for (int i = 0; i < 9; i++)
        f[i] = pt_remotecall_fn(ws, who, NULL);
    for (int i = 0; i < 9; i++) {
        pt_reply *r = pt_future_fetch(f[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(r);
        CU_ASSERT_EQUAL(pt_reply_status(r), PT_TASK_OK);
        CU_ASSERT_EQUAL(pt_reply_int(r, "worker", -1), i % 3);
        CU_ASSERT_EQUAL(pt_reply_int(r, "task", -1), i + 1);
        pt_reply_destroy(r);
    }
    CU_ASSERT_EQUAL(pt_workerset_destroy(ws), 0);
}

/*
 * FF: a busy worker gets nothing; the short tasks all go to the free one,
 * so every one of them ends before the slow one does (round-robin would
 * queue half of them behind it).
 */
/*
 * First free, under batching: 20 quick requests first, so that batches
 * are big (auto), then one long request and many short ones. Short ones
 * sent ahead to the long one's worker are taken back for the free one:
 * every short one ends before the long one, and none runs on its worker.
 */
static void test_ff_first_free(void)
{
    enum { NSHORT = 50 };
    pt_workerset *ws = pt_workerset_create(2, PT_WS_FF, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    pt_args *none = args_ms(0), *slow = args_ms(400), *fast = args_ms(2);
    for (int i = 0; i < 20; i++) {
        pt_reply *r = pt_future_fetch(pt_remotecall_fn(ws, nap, none));
        CU_ASSERT_EQUAL(pt_reply_status(r), PT_TASK_OK);
        pt_reply_destroy(r);
    }
    pt_future *f0 = pt_remotecall_fn(ws, nap, slow), *f[NSHORT];
    for (int i = 0; i < NSHORT; i++)
        f[i] = pt_remotecall_fn(ws, nap, fast);
    pt_reply *r0 = pt_future_fetch(f0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r0);
    /* without its times there would be nothing to compare with */
    CU_ASSERT_EQUAL_FATAL(pt_reply_status(r0), PT_TASK_OK);
    int w0 = (int)pt_reply_int(r0, "worker", -1);
    int64_t s0 = pt_reply_int(r0, "start", 0), e0 = pt_reply_int(r0, "end", 0);
    CU_ASSERT_TRUE(w0 == 0 || w0 == 1);
    CU_ASSERT_TRUE(s0 > 0 && e0 - s0 >= 400 * 1000000LL);
    int on_w0 = 0, ended_after = 0;
    for (int i = 0; i < NSHORT; i++) {
        pt_reply *r = pt_future_fetch(f[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(r);
        CU_ASSERT_EQUAL(pt_reply_status(r), PT_TASK_OK);
        on_w0 += pt_reply_int(r, "worker", w0) == w0;
        ended_after += pt_reply_int(r, "end", INT64_MAX) >= e0;
        pt_reply_destroy(r);
    }
    CU_ASSERT_EQUAL(on_w0, 0);
    CU_ASSERT_EQUAL(ended_after, 0);
    pt_reply_destroy(r0);
    pt_args_destroy(none);
    pt_args_destroy(slow);
    pt_args_destroy(fast);
    CU_ASSERT_EQUAL(pt_workerset_destroy(ws), 0);
}

static void test_futures_and_args(void)
{
    pt_workerset *ws = pt_workerset_create(2, PT_WS_FF, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    pt_args *a = args_ms(200);
    pt_future *f = pt_remotecall_fn(ws, nap, a);
    CU_ASSERT_FALSE(pt_future_ready(f));
    CU_ASSERT_EQUAL(pt_future_wait(f), PT_TASK_OK);
    CU_ASSERT_TRUE(pt_future_ready(f));
    pt_reply_destroy(pt_future_fetch(f));
    CU_ASSERT_EQUAL(pt_args_int(a, "late", 1), -EBUSY); /* sealed */
    pt_args_destroy(a);

    pt_args *b = pt_args_create();
    double x[] = {1.5, 2.5, 3};
    CU_ASSERT_EQUAL(pt_args_int(b, "n", 21), 0);
    CU_ASSERT_EQUAL(pt_args_reals(b, "x", x, 3), 0);
    CU_ASSERT_EQUAL(pt_args_str(b, "name", "ptools"), 0);
    CU_ASSERT_EQUAL(pt_args_int(b, "n", 1), -EEXIST);
    pt_future *g = pt_remotecall_fn(ws, twice, b);
    pt_args_destroy(b); /* the request keeps its own reference */
    pt_reply *r = pt_future_fetch(g);
    CU_ASSERT_EQUAL(pt_reply_int(r, "n2", 0), 42);
    CU_ASSERT_DOUBLE_EQUAL(pt_reply_real(r, "sum", 0), 7.0, 1e-12);
    CU_ASSERT_STRING_EQUAL(pt_reply_str(r, "hello", ""), "ptools");
    CU_ASSERT_EQUAL(pt_reply_count(r), 3);
    pt_buf js = {0};
    CU_ASSERT_EQUAL(pt_reply_json(r, &js), 0);
    CU_ASSERT_STRING_EQUAL((char *)js.data,
                           "{\"n2\":42,\"sum\":7.0,\"hello\":\"ptools\"}");
    pt_buf_free(&js);
    pt_reply_destroy(r);
    CU_ASSERT_EQUAL(pt_remotecall_wait(ws, "nothing", NULL), -ENOENT);
    pt_workerset_destroy(ws);
}

/* A crash fails its own request only; the set replaces the worker. */
static void test_crash_is_contained(void)
{
    pt_workerset *ws = pt_workerset_create(1, PT_WS_RR, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    int pid0 = pt_workerset_pid(ws, 0);
    pt_future *a = pt_remotecall_fn(ws, who, NULL);
    pt_future *b = pt_remotecall_fn(ws, segv, NULL);
    pt_future *c = pt_remotecall_fn(ws, who, NULL); /* queued behind b */
    pt_reply *ra = pt_future_fetch(a), *rb = pt_future_fetch(b),
             *rc = pt_future_fetch(c);
    CU_ASSERT_EQUAL(pt_reply_status(ra), PT_TASK_OK);
    CU_ASSERT_EQUAL(pt_reply_status(rb), PT_TASK_CRASHED);
    CU_ASSERT_EQUAL(pt_reply_signal(rb), SIGSEGV);
    CU_ASSERT_PTR_NOT_NULL(strstr(pt_reply_error(rb), "signal 11"));
    CU_ASSERT_EQUAL(pt_reply_status(rc), PT_TASK_OK);
    CU_ASSERT_EQUAL(pt_workerset_restarts(ws), 1);
    CU_ASSERT_NOT_EQUAL(pt_workerset_pid(ws, 0), pid0);
    pt_reply_destroy(ra);
    pt_reply_destroy(rb);
    pt_reply_destroy(rc);
    CU_ASSERT_EQUAL(pt_workerset_destroy(ws), 0);
    errno = 0;
    CU_ASSERT_EQUAL(waitpid(-1, NULL, WNOHANG), -1); /* all reaped */
    CU_ASSERT_EQUAL(errno, ECHILD);
}

static pt_workerset *faults_set(int n, pt_ws_mode mode)
{
    static const pt_kernel_ref refs[] = {
        {"segv", TK("faults"), NULL},
        {"abort", TK("faults"), NULL},
        {"exit3", TK("faults"), NULL},
        {"fail", TK("faults"), NULL},
        {"fail_rc", TK("faults"), NULL},
        {"init_crash", TK("faults"), NULL},
        {"big", TK("faults"), "big_result"},
        {"bad", TK("bad_abi"), "x"},
        {"missing", TK("faults"), "no_such_kernel"},
        {"counter", TK("stateful"), NULL},
    };
    pt_workerset_opts o = {.kernels = refs,
                           .nkernels = (int)(sizeof refs / sizeof refs[0])};
    return pt_workerset_create(n, mode, &o);
}

static pt_reply *call(pt_workerset *ws, const char *kernel, pt_args *a)
{
    pt_reply *r = pt_remotecall_fetch(ws, kernel, a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    return r;
}

static void expect(pt_workerset *ws, const char *kernel, pt_task_status st,
                   const char *in_error)
{
    pt_reply *r = call(ws, kernel, NULL);
    CU_ASSERT_EQUAL(pt_reply_status(r), st);
    if (in_error &&
        !strstr(pt_reply_error(r) ? pt_reply_error(r) : "", in_error)) {
        fprintf(stderr, "  %s: error '%s' lacks '%s'\n", kernel,
                pt_reply_error(r), in_error);
        CU_FAIL("unexpected error text");
    }
    pt_reply_destroy(r);
}

static void test_kernel_faults(void)
{
    pt_workerset *ws = faults_set(2, PT_WS_FF);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    expect(ws, "segv", PT_TASK_CRASHED, "signal 11");
    expect(ws, "abort", PT_TASK_CRASHED, "signal 6");
    expect(ws, "exit3", PT_TASK_CRASHED, "status 3");
    expect(ws, "fail", PT_TASK_FAILED, "asked to fail: 7");
    expect(ws, "fail_rc", PT_TASK_FAILED, "returned 5");
    expect(ws, "init_crash", PT_TASK_CRASHED, "signal");
    expect(ws, "bad", PT_TASK_FAILED, "ABI 999");
    expect(ws, "missing", PT_TASK_FAILED, "no kernel named");
    expect(ws, "counter", PT_TASK_OK, NULL); /* the set still works */
    CU_ASSERT_EQUAL(pt_workerset_restarts(ws), 4);
    pt_reply *r = call(ws, "big", NULL);
    size_t n = 0;
    const unsigned char *p = pt_reply_bytes(r, "data", &n);
    CU_ASSERT_EQUAL(pt_reply_status(r), PT_TASK_OK);
    CU_ASSERT_EQUAL(n, 1u << 20);
    CU_ASSERT_PTR_NOT_NULL(p);
    pt_reply_destroy(r);
    pt_workerset_destroy(ws);
}

static void test_kernel_lib_refusals(void)
{
    errno = 0;
    CU_ASSERT_PTR_NULL(pt_kernel_lib_open(TK("bad_abi")));
    CU_ASSERT_EQUAL(errno, EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(pt_errmsg(), "bad_abi.so"));
    CU_ASSERT_PTR_NOT_NULL(strstr(pt_errmsg(), "ABI 999"));
    CU_ASSERT_PTR_NULL(pt_kernel_lib_open(TK("no_symbol")));
    CU_ASSERT_PTR_NOT_NULL(strstr(pt_errmsg(), "pt_kernels"));
    CU_ASSERT_PTR_NULL(pt_kernel_lib_open(TK("dup_names")));
    CU_ASSERT_PTR_NOT_NULL(strstr(pt_errmsg(), "twice"));
    CU_ASSERT_PTR_NULL(pt_kernel_lib_open(TK("no_call")));
    CU_ASSERT_PTR_NOT_NULL(strstr(pt_errmsg(), "no call"));
    errno = 0;
    CU_ASSERT_PTR_NULL(pt_kernel_lib_open("/nonexistent/k.so"));
    CU_ASSERT_EQUAL(errno, ENOENT);

    pt_kernel_lib *lib = pt_kernel_lib_open(TK("faults"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(lib);
    CU_ASSERT_TRUE(pt_kernel_lib_count(lib) >= 8);
    CU_ASSERT_PTR_NOT_NULL(pt_kernel_lib_find(lib, "segv"));
    CU_ASSERT_PTR_NULL(pt_kernel_lib_find(lib, "nope"));
    CU_ASSERT_PTR_NOT_NULL(strstr(pt_errmsg(), "segv"));
    pt_kernel_lib_close(lib);
}

/* Requests pipelined behind a crash are resent to the new worker. */
static void test_pipelined_after_crash(void)
{
    pt_workerset *ws = faults_set(1, PT_WS_RR);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    pt_future *f[5];
    /* f[0] is answered first: an answer the worker had not yet written
     * when it crashed would run again (and count) on its successor */
    f[0] = pt_remotecall(ws, "counter", NULL);
    CU_ASSERT_EQUAL(pt_future_wait(f[0]), 0);
    f[1] = pt_remotecall(ws, "segv", NULL);
    for (int i = 2; i < 5; i++)
        f[i] = pt_remotecall(ws, "counter", NULL);
    int want[] = {PT_TASK_OK, PT_TASK_CRASHED, PT_TASK_OK, PT_TASK_OK,
                  PT_TASK_OK};
    int calls[] = {1, 0, 1, 2, 3}; /* state restarts with the new worker */
    for (int i = 0; i < 5; i++) {
        pt_reply *r = pt_future_fetch(f[i]);
        CU_ASSERT_EQUAL(pt_reply_status(r), want[i]);
        if (want[i] == PT_TASK_OK)
            CU_ASSERT_EQUAL(pt_reply_int(r, "calls", -1), calls[i]);
        pt_reply_destroy(r);
    }
    pt_workerset_destroy(ws);
}

static void test_destroy_waits(void)
{
    pt_workerset *ws = pt_workerset_create(2, PT_WS_FF, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    pt_args *a = args_ms(20);
    pt_future *f[6];
    for (int i = 0; i < 6; i++)
        f[i] = pt_remotecall_fn(ws, nap, a);
    pt_args_destroy(a);
    pt_future_destroy(f[5]); /* abandoned: cancelled or discarded */
    CU_ASSERT_EQUAL(pt_workerset_destroy(ws), 0);
    for (int i = 0; i < 5; i++) { /* still valid, finished */
        CU_ASSERT_TRUE(pt_future_ready(f[i]));
        pt_reply *r = pt_future_fetch(f[i]);
        CU_ASSERT_EQUAL(pt_reply_status(r), PT_TASK_OK);
        pt_reply_destroy(r);
    }
}

/*
 * Workers of a later set must not hold an earlier set's pipes, or the
 * earlier set's workers would never see the end of their input.
 */
static void test_sets_do_not_share_fds(void)
{
    pt_workerset *a = pt_workerset_create(2, PT_WS_RR, NULL);
    pt_workerset *b = pt_workerset_create(2, PT_WS_FF, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    pt_reply_destroy(pt_future_fetch(pt_remotecall_fn(b, who, NULL)));
    int64_t t0 = now_ns();
    CU_ASSERT_EQUAL(pt_workerset_destroy(a), 0);
    CU_ASSERT_TRUE(now_ns() - t0 < 3000000000LL); /* not the 10 s grace */
    pt_reply *r = pt_future_fetch(pt_remotecall_fn(b, who, NULL));
    CU_ASSERT_EQUAL(pt_reply_status(r), PT_TASK_OK);
    pt_reply_destroy(r);
    CU_ASSERT_EQUAL(pt_workerset_destroy(b), 0);
}

/* Workers die with their parent, even when it is SIGKILLed. */
static void test_workers_die_with_parent(void)
{
    int p[2];
    CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
    pid_t parent = fork();
    if (parent == 0) {
        pt_workerset *ws = pt_workerset_create(2, PT_WS_RR, NULL);
        int pids[2] = {ws ? pt_workerset_pid(ws, 0) : 0,
                       ws ? pt_workerset_pid(ws, 1) : 0};
        if (write(p[1], pids, sizeof pids) != sizeof pids)
            _exit(1);
        pause();
        _exit(0);
    }
    close(p[1]);
    int pids[2] = {0, 0};
    CU_ASSERT_EQUAL(read(p[0], pids, sizeof pids), (ssize_t)sizeof pids);
    CU_ASSERT_TRUE(pids[0] > 0 && pids[1] > 0);
    kill(parent, SIGKILL);
    waitpid(parent, NULL, 0);
    int alive = 2;
    for (int i = 0; i < 200 && alive; i++) { /* up to 2 s */
        alive = (kill(pids[0], 0) == 0) + (kill(pids[1], 0) == 0);
        usleep(10000);
    }
    CU_ASSERT_EQUAL(alive, 0);
}

/*
 * A 1 s timeout stops its task no earlier than 1 s after it was sent, and
 * well before 2 s: a timeout enforced at twice its value fails, a loaded
 * machine's scheduling delays do not.
 */
static void test_timeout(void)
{
    pt_workerset_opts o = {.timeout_ms = 1000};
    pt_workerset *ws = pt_workerset_create(1, PT_WS_RR, &o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    pt_args *a = args_ms(30000), *b = args_ms(1);
    int64_t t0 = now_ns();
    pt_future *slow = pt_remotecall_fn(ws, nap, a);
    pt_future *next = pt_remotecall_fn(ws, nap, b); /* queued behind it */
    pt_reply *r = pt_future_fetch(slow);
    int64_t dt = now_ns() - t0;
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_EQUAL(pt_reply_status(r), PT_TASK_TIMEOUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(pt_reply_error(r), "timed out"));
    CU_ASSERT_TRUE(dt >= 1000 * 1000000LL);
    CU_ASSERT_TRUE(dt < 1900 * 1000000LL);
    pt_reply_destroy(r);
    r = pt_future_fetch(next);
    CU_ASSERT_EQUAL(pt_reply_status(r), PT_TASK_OK);
    pt_reply_destroy(r);
    pt_args_destroy(a);
    pt_args_destroy(b);
    CU_ASSERT_EQUAL(pt_workerset_restarts(ws), 1);
    pt_workerset_destroy(ws);
}

static int chatty(pt_ctx *c)
{
    printf("out of task %lld\n", (long long)pt_task_id(c));
    fprintf(stderr, "err of task %lld", (long long)pt_task_id(c));
    fprintf(stderr, "\n");
    if (pt_arg_bool(c, "crash", false)) {
        fprintf(stderr, "about to crash");
        fflush(stderr);
        raise(SIGSEGV);
    }
    return 0;
}

typedef struct captured {
    char text[4096];
    size_t len;
} captured;

static void collect(void *arg, int worker, int64_t task, int stream,
                    const char *line, size_t len)
{
    captured *c = arg;
    c->len += (size_t)snprintf(c->text + c->len, sizeof c->text - c->len,
                               "%d/%lld/%d:%.*s|", worker, (long long)task,
                               stream, (int)len, line);
}

/* Workers' stdout and stderr come back as lines, with their task. */
static void test_output_capture(void)
{
    captured got = {0};
    pt_workerset_opts o = {.output_fn = collect, .output_arg = &got};
    pt_workerset *ws = pt_workerset_create(1, PT_WS_RR, &o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    pt_call c = PT_CALL_INIT;
    c.fn = chatty;
    c.task_id = 7;
    pt_reply_destroy(pt_future_fetch(pt_remotecall_ex(ws, &c)));
    pt_args *a = pt_args_create();
    pt_args_bool(a, "crash", true);
    c.task_id = 8;
    c.args = a;
    pt_reply *r = pt_future_fetch(pt_remotecall_ex(ws, &c));
    CU_ASSERT_EQUAL(pt_reply_status(r), PT_TASK_CRASHED);
    pt_reply_destroy(r);
    pt_args_destroy(a);
    pt_workerset_destroy(ws);
    CU_ASSERT_PTR_NOT_NULL(strstr(got.text, "0/7/1:out of task 7|"));
    CU_ASSERT_PTR_NOT_NULL(strstr(got.text, "0/7/2:err of task 7|"));
    CU_ASSERT_PTR_NOT_NULL(strstr(got.text, "0/8/2:about to crash|"));
    if (!strstr(got.text, "0/8/2:about to crash|"))
        fprintf(stderr, "  captured: %s\n", got.text);
}

/* init crashes every time: the set gives up instead of looping. */
static void test_broken_set(void)
{
    static const pt_kernel_ref refs[] = {{"init_crash", TK("faults"), NULL}};
    pt_workerset_opts o = {.kernels = refs, .nkernels = 1};
    pt_workerset *ws = pt_workerset_create(2, PT_WS_FF, &o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    pt_future *f[12];
    for (int i = 0; i < 12; i++)
        f[i] = pt_remotecall(ws, "init_crash", NULL);
    int broken = 0;
    for (int i = 0; i < 12; i++) {
        pt_reply *r = pt_future_fetch(f[i]);
        CU_ASSERT_EQUAL(pt_reply_status(r), PT_TASK_CRASHED);
        broken += strstr(pt_reply_error(r), "worker set broken") != NULL;
        pt_reply_destroy(r);
    }
    CU_ASSERT_TRUE(broken >= 12 - PT_WS_BROKEN_AFTER - 1);
    CU_ASSERT_TRUE(pt_workerset_restarts(ws) <= PT_WS_BROKEN_AFTER + 1);
    CU_ASSERT_EQUAL(pt_workerset_destroy(ws), 0);
}

/*
 * A worker that cannot be restarted (its fork fails, by PTOOLS_FAULT)
 * fails what is pinned to it later at once, rather than leave it waiting
 * for a worker that will never come; the other worker serves the rest.
 */
static void test_lost_worker(void)
{
    setenv("PTOOLS_FAULT", "fork:3", 1); /* two workers, then the restart */
    CU_ASSERT_EQUAL_FATAL(pt_sys_fault_init(), 0);
    pt_workerset *ws = pt_workerset_create(2, PT_WS_FF, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    kill(pt_workerset_pid(ws, 1), SIGKILL);
    pt_call c = PT_CALL_INIT;
    c.fn = who;
    c.worker = 0;
    int64_t deadline = now_ns() + INT64_C(60000000000);
    while (pt_workerset_pid(ws, 1) > 0 && now_ns() < deadline)
        pt_reply_destroy(pt_future_fetch(pt_remotecall_ex(ws, &c)));
    CU_ASSERT_EQUAL(pt_workerset_pid(ws, 1), 0);
    c.worker = 1;
    pt_reply *r = pt_future_fetch(pt_remotecall_ex(ws, &c));
    CU_ASSERT_EQUAL(pt_reply_status(r), PT_TASK_CRASHED);
    ASSERT_STR(pt_reply_error(r), "worker 1 could not be restarted: worker "
                                  "1: fork: Resource temporarily unavailable");
    pt_reply_destroy(r);
    c.worker = -1;
    r = pt_future_fetch(pt_remotecall_ex(ws, &c));
    CU_ASSERT_EQUAL(pt_reply_status(r), PT_TASK_OK);
    pt_reply_destroy(r);
    CU_ASSERT_EQUAL(pt_workerset_destroy(ws), 0);
}

static int hog(pt_ctx *c)
{
    size_t n = (size_t)pt_arg_int(c, "mb", 512) << 20;
    char *p = malloc(n);
    if (!p)
        return pt_fail(c, "out of memory for %zu bytes", n);
    memset(p, 1, n);
    __asm__ volatile("" : : "r"(p) : "memory"); /* the pages are touched */
    if (pt_arg_bool(c, "crash", false))
        raise(SIGSEGV);
    free(p);
    return 0;
}

/* memory: caps each worker's address space. */
static void test_memory_limit(void)
{
    pt_workerset_opts o = {.memory_bytes = 256 << 20};
    pt_workerset *ws = pt_workerset_create(1, PT_WS_RR, &o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    pt_reply *r = pt_future_fetch(pt_remotecall_fn(ws, hog, NULL));
#if defined(__SANITIZE_ADDRESS__)
    /* ASan cannot even map its shadow memory under the limit. */
    CU_ASSERT_NOT_EQUAL(pt_reply_status(r), PT_TASK_OK);
#else
    CU_ASSERT_EQUAL(pt_reply_status(r), PT_TASK_FAILED);
    CU_ASSERT_PTR_NOT_NULL(strstr(pt_reply_error(r), "out of memory"));
#endif
    pt_reply_destroy(r);
    pt_workerset_destroy(ws);
}

static int as_limit(pt_ctx *c)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) < 0)
        return pt_fail(c, "getrlimit: %s", strerror(errno));
    return pt_result_int(c, "as", (int64_t)rl.rlim_cur);
}

/* The guard pages around segments (8 MiB of data: 8 MiB of guard each side)
 * are not charged to `memory`: a worker's limit is memory + guards. */
static void test_memory_limit_spares_guards(void)
{
    pt_shm_opts so = {.prefix = pt_test_prefix(),
                      .name = "g",
                      .type = PT_UINT8,
                      .ndims = 1,
                      .dims = {8 << 20}};
    size_t before = pt__shm_guard_bytes();
    pt_shm *seg = pt_shm_create(&so);
    CU_ASSERT_PTR_NOT_NULL_FATAL(seg);
    CU_ASSERT_EQUAL(pt__shm_guard_bytes() - before, 16 << 20);
    pt_workerset_opts o = {.memory_bytes = 256 << 20, .shm = &seg, .nshm = 1};
    pt_workerset *ws = pt_workerset_create(1, PT_WS_RR, &o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    pt_reply *r = pt_future_fetch(pt_remotecall_fn(ws, as_limit, NULL));
#if defined(__SANITIZE_ADDRESS__)
    /* ASan cannot map its shadow memory under any limit (see above). */
    CU_ASSERT_NOT_EQUAL(pt_reply_status(r), PT_TASK_OK);
#else
    CU_ASSERT_EQUAL(pt_reply_status(r), PT_TASK_OK);
    CU_ASSERT_EQUAL(pt_reply_int(r, "as", -1),
                    (int64_t)(256 << 20) + (int64_t)pt__shm_guard_bytes());
#endif
    pt_reply_destroy(r);
    pt_workerset_destroy(ws);
    CU_ASSERT_EQUAL(pt_shm_detach(seg), 0);
    CU_ASSERT_EQUAL(pt__shm_guard_bytes(), before);
}

/* A worker that dies reports its peak RSS (wait4). */
static void test_rss_of_dead_worker(void)
{
    pt_workerset *ws = pt_workerset_create(1, PT_WS_RR, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    pt_args *a = pt_args_create();
    pt_args_int(a, "mb", 64);
    pt_args_bool(a, "crash", true);
    pt_reply *r = pt_future_fetch(pt_remotecall_fn(ws, hog, a));
    CU_ASSERT_EQUAL(pt_reply_status(r), PT_TASK_CRASHED);
    CU_ASSERT_TRUE(pt_reply_max_rss_kb(r) >= 64 * 1024);
    pt_reply_destroy(r);
    pt_args_destroy(a);
    pt_workerset_destroy(ws);
}

static int stubborn(pt_ctx *c)
{
    (void)c;
    signal(SIGTERM, SIG_IGN); /* only SIGKILL, after the grace, ends it */
    sleep(30);
    return 0;
}

static void test_timeout_term_then_kill(void)
{
    pt_workerset_opts o = {.timeout_ms = 100};
    pt_workerset *ws = pt_workerset_create(1, PT_WS_FF, &o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    int64_t t0 = now_ns();
    pt_reply *r = pt_future_fetch(pt_remotecall_fn(ws, stubborn, NULL));
    int64_t dt = now_ns() - t0;
    CU_ASSERT_EQUAL(pt_reply_status(r), PT_TASK_TIMEOUT);
    CU_ASSERT_EQUAL(pt_reply_signal(r), SIGKILL);
    CU_ASSERT_TRUE(dt >= 1000000000LL && dt < 5000000000LL); /* the grace */
    pt_reply_destroy(r);
    pt_workerset_destroy(ws);
}

/* A task that crashes when its arg `crash` is set, else says who ran it. */
static int crash_if(pt_ctx *c)
{
    if (pt_arg_bool(c, "crash", false))
        raise(SIGSEGV);
    if (pt_arg_int(c, "ms", 0) > 0) {
        struct timespec ts = {0, pt_arg_int(c, "ms", 0) * 1000000L};
        nanosleep(&ts, NULL);
    }
    pt_result_int(c, "task", pt_task_id(c));
    return 0;
}

/*
 * Batching: small requests go many at a time (here 256); a crash in the middle
 * of a batch fails exactly the request that ran (the worker's beacon names it),
 * and every other one succeeds once.
 */
static void test_batch_crash_blames_the_runner(void)
{
    enum { N = 3000, BAD = 1777 };
    pt_workerset_opts o = {.batch = 256};
    pt_workerset *ws = pt_workerset_create(1, PT_WS_FF, &o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    pt_future **f = calloc(N, sizeof *f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    for (int i = 0; i < N; i++) {
        pt_args *a = pt_args_create();
        pt_args_bool(a, "crash", i == BAD);
        f[i] = pt_remotecall_fn(ws, crash_if, a);
        pt_args_destroy(a);
    }
    int ok = 0, crashed = -1;
    int64_t prev_end = 0, ordered = 1;
    for (int i = 0; i < N; i++) {
        pt_reply *r = pt_future_fetch(f[i]);
        if (pt_reply_status(r) == PT_TASK_OK) {
            ok++;
            CU_ASSERT_TRUE(pt_reply_start_ns(r) > 0);
            CU_ASSERT_TRUE(pt_reply_end_ns(r) >= pt_reply_start_ns(r));
            ordered &= i < BAD ? pt_reply_start_ns(r) >= prev_end : 1;
            prev_end = pt_reply_end_ns(r);
        } else if (pt_reply_status(r) == PT_TASK_CRASHED) {
            crashed = i;
        }
        pt_reply_destroy(r);
    }
    CU_ASSERT_EQUAL(ok, N - 1);
    CU_ASSERT_EQUAL(crashed, BAD);
    CU_ASSERT_TRUE(ordered); /* one worker runs them one after another */
    CU_ASSERT_EQUAL(pt_workerset_restarts(ws), 1);
    free(f);
    pt_workerset_destroy(ws);
}

typedef struct taken_back_log {
    int n;
    pt_request *req[32];
} taken_back_log;

static void log_done(void *arg, pt_request *req)
{
    taken_back_log *c = arg;
    if (c->n < 32)
        c->req[c->n] = req;
    c->n++;
}

/*
 * A batch of 16 sent at once; while the first runs, one request sent
 * ahead is cancelled and the one that will crash is moved up: both are
 * taken back (their frames stay in the pipe, skipped). The crash blames
 * exactly the crasher; the others run (again) and end ok.
 */
static void test_batch_crash_after_take_backs(void)
{
    enum { N = 16, BAD = 10, GONE = 3 };
    pt_workerset_opts o = {.batch = N};
    pt_workerset *ws = pt_workerset_create(1, PT_WS_FF, &o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    pt_request *req[N];
    taken_back_log got = {0};
    for (int i = 0; i < N; i++) {
        pt_args *a = pt_args_create();
        pt_args_int(a, "ms", i == 0 ? 300 : 0);
        pt_args_bool(a, "crash", i == BAD);
        pt_call c = PT_CALL_INIT;
        c.fn = crash_if;
        c.args = a;
        req[i] = pt_request_submit(ws, &c, i, log_done, &got);
        CU_ASSERT_PTR_NOT_NULL_FATAL(req[i]);
        pt_args_destroy(a);
    }
    while (pt_request_state_of(req[0]) != PT_REQ_SENT) /* until it starts */
        CU_ASSERT_EQUAL_FATAL(pt_workerset_poll(&ws, 1, NULL, 0, 10), 0);
    CU_ASSERT_EQUAL(pt_request_worker(req[5]), 0); /* sent with it */
    CU_ASSERT_EQUAL(pt_request_state_of(req[5]), PT_REQ_WAITING);
    CU_ASSERT_EQUAL(pt_request_cancel(ws, req[GONE]), 0);
    CU_ASSERT_EQUAL(pt_request_set_priority(ws, req[BAD], 5), 0);
    CU_ASSERT_EQUAL(pt_request_cancel(ws, req[0]), -EBUSY); /* it runs */
    CU_ASSERT_EQUAL(pt_request_set_priority(ws, req[0], 9), -EBUSY);
    while (got.n < N)
        CU_ASSERT_EQUAL_FATAL(pt_workerset_poll(&ws, 1, NULL, 0, 100), 0);
    CU_ASSERT_EQUAL_FATAL(got.n, N);
    CU_ASSERT_EQUAL(pt_request_id(got.req[0]), GONE); /* ended at once */
    CU_ASSERT_EQUAL(pt_request_id(got.req[1]), 0);
    CU_ASSERT_EQUAL(pt_request_id(got.req[2]), BAD); /* it went next */
    for (int i = 0; i < N; i++) {
        int64_t id = pt_request_id(got.req[i]);
        pt_task_status want = id == GONE  ? PT_TASK_CANCELLED
                              : id == BAD ? PT_TASK_CRASHED
                                          : PT_TASK_OK;
        CU_ASSERT_EQUAL(pt_reply_status(pt_request_reply(got.req[i])), want);
        pt_request_destroy(got.req[i]);
    }
    CU_ASSERT_EQUAL(pt_workerset_restarts(ws), 1);
    pt_workerset_destroy(ws);
}

/* In a batch, the request that runs past the timeout is the one blamed. */
static void test_batch_timeout_blames_the_runner(void)
{
    enum { N = 400, SLOW = 250 };
    pt_workerset_opts o = {.timeout_ms = 300, .batch = 64};
    pt_workerset *ws = pt_workerset_create(1, PT_WS_FF, &o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    pt_future *f[N];
    for (int i = 0; i < N; i++) {
        pt_args *a = pt_args_create();
        pt_args_int(a, "ms", i == SLOW ? 900 : 0);
        f[i] = pt_remotecall_fn(ws, crash_if, a);
        pt_args_destroy(a);
    }
    for (int i = 0; i < N; i++) {
        pt_reply *r = pt_future_fetch(f[i]);
        CU_ASSERT_EQUAL(pt_reply_status(r),
                        i == SLOW ? PT_TASK_TIMEOUT : PT_TASK_OK);
        pt_reply_destroy(r);
    }
    CU_ASSERT_EQUAL(pt_workerset_restarts(ws), 1);
    pt_workerset_destroy(ws);
}

/*
 * Posted to all (FF, 2 workers, batches): a request that never answers,
 * sent alone to idle workers, times out on time. (Nothing wakes the
 * parent when a worker claims it; the race where the claim comes after
 * the parent's last look is caught by e2e_hostile's posted-hang test.)
 */
static void test_posted_timeout_without_news(void)
{
    pt_workerset_opts o = {.timeout_ms = 300, .batch = 64};
    pt_workerset *ws = pt_workerset_create(2, PT_WS_FF, &o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    pt_args *quick = args_ms(0), *hang = args_ms(30000);
    for (int i = 0; i < 20; i++)
        pt_reply_destroy(pt_future_fetch(pt_remotecall_fn(ws, nap, quick)));
    int64_t t0 = now_ns();
    pt_reply *r = pt_future_fetch(pt_remotecall_fn(ws, nap, hang));
    int64_t dt = now_ns() - t0;
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_EQUAL(pt_reply_status(r), PT_TASK_TIMEOUT);
    CU_ASSERT_TRUE(dt >= 300 * 1000000LL);
    CU_ASSERT_TRUE(dt < 5000 * 1000000LL); /* 300 ms + at most 1/8 */
    pt_reply_destroy(r);
    pt_args_destroy(quick);
    pt_args_destroy(hang);
    pt_workerset_destroy(ws);
}

/* batch: N is honoured, and a bad value is refused. */
static void test_batch_option(void)
{
    pt_workerset_opts bad = {.batch = -1};
    CU_ASSERT_PTR_NULL(pt_workerset_create(1, PT_WS_FF, &bad));
    CU_ASSERT_EQUAL(errno, EINVAL);
    errno = 0; /* a worker index is 16 bits in a request: no more forked */
    CU_ASSERT_PTR_NULL(
        pt_workerset_create(PT_WS_MAX_WORKERS + 1, PT_WS_FF, NULL));
    CU_ASSERT_EQUAL(errno, EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(pt_errmsg(), "n <= 32767 (got 32768)"));
    pt_workerset_opts o = {.batch = 1};
    pt_workerset *ws = pt_workerset_create(2, PT_WS_FF, &o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    pt_future *f[200];
    for (int i = 0; i < 200; i++)
        f[i] = pt_remotecall_fn(ws, who, NULL);
    int per[2] = {0, 0};
    for (int i = 0; i < 200; i++) {
        pt_reply *r = pt_future_fetch(f[i]);
        CU_ASSERT_EQUAL(pt_reply_status(r), PT_TASK_OK);
        int w = (int)pt_reply_int(r, "worker", -1);
        if (w == 0 || w == 1)
            per[w]++;
        pt_reply_destroy(r);
    }
    CU_ASSERT_EQUAL(per[0] + per[1], 200);
    pt_workerset_destroy(ws);
}

/* ---- large results: through the worker's shared buffer ---- */

/* Result `x`: `n` doubles, x[i] = tag + i; and `tag`. */
static int reals_of(pt_ctx *c)
{
    size_t n = (size_t)pt_arg_int(c, "n", 0);
    double tag = (double)pt_arg_int(c, "tag", 0);
    double *x = malloc(n ? n * sizeof *x : 1);
    if (!x)
        return pt_fail(c, "out of memory");
    for (size_t i = 0; i < n; i++)
        x[i] = tag + (double)i;
    int rc = pt_result_reals(c, "x", x, n);
    free(x);
    if (rc == 0)
        rc = pt_result_int(c, "tag", (int64_t)tag);
    if (pt_arg_bool(c, "crash", false))
        raise(SIGSEGV);
    return rc;
}

static pt_future *submit_reals(pt_workerset *ws, size_t n, int tag, int crash)
{
    pt_args *a = pt_args_create();
    pt_args_int(a, "n", (int64_t)n);
    pt_args_int(a, "tag", tag);
    pt_args_bool(a, "crash", crash);
    pt_future *f = pt_remotecall_fn(ws, reals_of, a);
    pt_args_destroy(a);
    CU_ASSERT_PTR_NOT_NULL(f);
    return f;
}

/* Is reply r ok with x[i] = tag + i for n doubles? */
static int reals_intact(pt_reply *r, size_t n, int tag)
{
    size_t len = 0;
    const double *x = r ? pt_reply_reals(r, "x", &len) : NULL;
    if (!r || pt_reply_status(r) != PT_TASK_OK || len != n ||
        pt_reply_int(r, "tag", -1) != tag || (n && !x))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (x[i] != (double)tag + (double)i)
            return 0;
    return 1;
}

/*
 * 64 MiB results, several in a row on one worker, between small batched
 * ones: the worker runs ahead (we look only after a pause), so it would
 * overwrite a large result we have not copied yet if it did not wait.
 */
static void test_large_results_reuse_the_buffer(void)
{
    enum { N = 24, BIG = 8 << 20 }; /* 8 Mi doubles: 64 MiB */
    pt_workerset_opts o = {.batch = 8};
    pt_workerset *ws = pt_workerset_create(1, PT_WS_RR, &o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    size_t sizes[N];
    pt_future *f[N];
    for (int i = 0; i < N; i++) {
        /* 64 MiB, 2 MiB and small ones; the buffer grows, never shrinks */
        sizes[i] = i % 8 == 0 ? BIG : i % 8 == 3 || i % 8 == 4 ? 300000 : 3;
        f[i] = submit_reals(ws, sizes[i], 1000 * i, 0);
    }
    usleep(300000);
    for (int i = 0; i < N; i++) {
        pt_reply *r = pt_future_fetch(f[i]);
        if (!reals_intact(r, sizes[i], 1000 * i)) {
            fprintf(stderr, "  request %d (%zu doubles) came back wrong\n", i,
                    sizes[i]);
            CU_FAIL("a large result was damaged");
        }
        pt_reply_destroy(r);
    }
    CU_ASSERT_EQUAL(pt_workerset_restarts(ws), 0);
    CU_ASSERT_EQUAL(pt_workerset_destroy(ws), 0);
}

/* Does worker i of ws map its result buffer yet? */
static int maps_result_buffer(const pt_workerset *ws, int i)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/maps", pt_workerset_pid(ws, i));
    FILE *f = fopen(path, "r");
    int found = 0;
    while (f && fgets(line, sizeof line, f))
        found |= strstr(line, "memfd:ptools-results") != NULL;
    if (f)
        fclose(f);
    return found;
}

static void expect_big(pt_workerset *ws, int64_t bytes)
{
    pt_args *a = pt_args_create();
    pt_args_int(a, "bytes", bytes);
    pt_reply *r = call(ws, "big", a);
    pt_args_destroy(a);
    size_t n = 0;
    const unsigned char *p = pt_reply_bytes(r, "data", &n);
    CU_ASSERT_EQUAL(pt_reply_status(r), PT_TASK_OK);
    CU_ASSERT_EQUAL_FATAL(n, (size_t)bytes);
    int same = 1;
    for (size_t i = 0; i < n; i++)
        same &= p[i] == (unsigned char)(i % 251);
    CU_ASSERT_TRUE(same);
    pt_reply_destroy(r);
}

/*
 * The results map of `big` is its bytes plus 23: at the threshold it takes
 * the pipe, one byte over it the shared buffer (which the worker maps
 * only then).
 */
static void test_large_result_threshold(void)
{
    pt_workerset *ws = faults_set(1, PT_WS_RR);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    int64_t at = (int64_t)PT__SHM_THRESHOLD - 23;
    expect_big(ws, at);
    CU_ASSERT_FALSE(maps_result_buffer(ws, 0));
    expect_big(ws, at + 1);
    CU_ASSERT_TRUE(maps_result_buffer(ws, 0));
    expect_big(ws, at);
    expect_big(ws, 3 * at); /* it grows */
    expect_big(ws, at + 1);
    CU_ASSERT_EQUAL(pt_workerset_restarts(ws), 0);
    pt_workerset_destroy(ws);
}

/*
 * We cannot map a worker's large result (our mmap fails, by PTOOLS_FAULT):
 * that task fails saying so, not its worker, which serves the next one.
 */
static void test_large_result_unmappable(void)
{
    setenv("PTOOLS_FAULT", "mmap:3", 1);
    CU_ASSERT_EQUAL_FATAL(pt_sys_fault_init(), 0);
    pt_workerset *ws = faults_set(1, PT_WS_RR); /* mmap 1: the beacons */
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    int pid = pt_workerset_pid(ws, 0); /* its mmap 2: its result buffer */
    void *m = pt_sys_mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
                          -1, 0); /* ours: 2, so that our next, 3, fails */
    CU_ASSERT_NOT_EQUAL_FATAL(m, MAP_FAILED);
    munmap(m, 4096);
    pt_args *a = pt_args_create();
    pt_args_int(a, "bytes", (int64_t)PT__SHM_THRESHOLD);
    pt_reply *r = call(ws, "big", a);
    pt_args_destroy(a);
    CU_ASSERT_EQUAL(pt_reply_status(r), PT_TASK_FAILED);
    ASSERT_STR(pt_reply_error(r),
               "cannot map the worker's buffer for a "
               "result of 1048599 bytes: Cannot allocate memory");
    pt_reply_destroy(r);
    expect_big(ws, (int64_t)PT__SHM_THRESHOLD);
    CU_ASSERT_EQUAL(pt_workerset_pid(ws, 0), pid);
    CU_ASSERT_EQUAL(pt_workerset_restarts(ws), 0);
    pt_workerset_destroy(ws);
}

/*
 * A worker that dies right after it sent a large result (before we even
 * read it): the result still counts, and its successor, with a buffer of
 * its own, serves the rest.
 */
static void test_crash_after_large_result(void)
{
    enum { BIG = 1 << 20, N = 5 }; /* 8 MiB */
    pt_workerset_opts o = {.batch = 4};
    pt_workerset *ws = pt_workerset_create(1, PT_WS_RR, &o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    size_t n[N] = {BIG, 5, BIG, 5, BIG};
    pt_future *f[N];
    for (int i = 0; i < N; i++)
        f[i] = submit_reals(ws, n[i], i, i == 1); /* 1 crashes */
    usleep(100000);
    for (int i = 0; i < N; i++) {
        pt_reply *r = pt_future_fetch(f[i]);
        int ok = i == 1 ? pt_reply_status(r) == PT_TASK_CRASHED
                        : reals_intact(r, n[i], i);
        CU_ASSERT_TRUE(ok);
        pt_reply_destroy(r);
    }
    CU_ASSERT_EQUAL(pt_workerset_restarts(ws), 1);
    pt_workerset_destroy(ws);
}

/* The worker's end of the answer pipe: its only write-only FIFO past 2. */
static int answer_fd(void)
{
    for (int fd = 3; fd < 64; fd++) {
        struct stat st;
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0 && (fl & O_ACCMODE) == O_WRONLY && fstat(fd, &st) == 0 &&
            S_ISFIFO(st.st_mode))
            return fd;
    }
    return -1;
}

/* Its result buffer: the memfd. */
static int buffer_fd(void)
{
    char path[64], link[256];
    for (int fd = 3; fd < 64; fd++) {
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(path, link, sizeof link - 1);
        if (n > 0 && (link[n] = '\0', strstr(link, "memfd:ptools-results")))
            return fd;
    }
    return -1;
}

/*
 * A hostile kernel forges a RESULT_SHM frame for its own task: `len` as
 * given, after growing the buffer to `size` bytes of `fill`. Then it waits
 * to be killed.
 */
static int forge(pt_ctx *c)
{
    int out = answer_fd(), shm = buffer_fd();
    int64_t size = pt_arg_int(c, "size", 0);
    if (out < 0 || shm < 0)
        return pt_fail(c, "no answer pipe or buffer found");
    if (size > 0) {
        unsigned char *junk = malloc((size_t)size);
        if (!junk || ftruncate(shm, size) < 0)
            return pt_fail(c, "cannot grow the buffer");
        memset(junk, (int)pt_arg_int(c, "fill", 0xAB), (size_t)size);
        if (pwrite(shm, junk, (size_t)size, 0) != size)
            return pt_fail(c, "cannot fill the buffer");
        free(junk);
    }
    if (size > 0 && pt_arg_bool(c, "shrink", false) && ftruncate(shm, 0) == 0)
        return pt_fail(c, "the buffer could shrink"); /* it is sealed */
    pt__res_shm h = {1, 2, (uint64_t)pt_arg_int(c, "len", 0)};
    if (pt__wire_write(out, PT__WIRE_RESULT_SHM, pt_task_id(c), &h, sizeof h) <
        0)
        return pt_fail(c, "cannot write");
    for (;;)
        pause();
}

/* A RESULT_SHM frame that lies ends its worker as crashed. */
static void test_forged_large_results(void)
{
    pt_workerset *ws = pt_workerset_create(1, PT_WS_FF, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    pt_reply_destroy(pt_future_fetch(pt_remotecall_fn(ws, who, NULL)));
    struct {
        int64_t len, size;
        int fill;
    } lies[] = {
        {100, 0, 0},     /* beyond the buffer (empty) */
        {8192, 4096, 0}, /* beyond the buffer */
        {4, 4096, 0},    /* shorter than any map */
        {(int64_t)PT__SHM_RESULT_MAX + 1, 4096, 0}, /* beyond any map */
        {4096, 4096, 0xAB},                         /* not a map at all */
        {4096, 8192, 0x0A}, /* a map tag, and absurd sizes */
    };
    int n = (int)(sizeof lies / sizeof lies[0]);
    for (int i = 0; i < n; i++) {
        pt_args *a = pt_args_create();
        pt_args_int(a, "len", lies[i].len);
        pt_args_int(a, "size", lies[i].size);
        pt_args_int(a, "fill", lies[i].fill);
        pt_args_bool(a, "shrink", true);
        pt_reply *r = pt_future_fetch(pt_remotecall_fn(ws, forge, a));
        pt_args_destroy(a);
        CU_ASSERT_EQUAL(pt_reply_status(r), PT_TASK_CRASHED);
        if (!strstr(pt_reply_error(r), "protocol")) {
            fprintf(stderr, "  lie %d: %s\n", i, pt_reply_error(r));
            CU_FAIL("a forged frame was not refused as a protocol error");
        }
        pt_reply_destroy(r);
    }
    CU_ASSERT_EQUAL(pt_workerset_restarts(ws), n);
    pt_reply *r = pt_future_fetch(submit_reals(ws, 1 << 18, 7, 0));
    CU_ASSERT_TRUE(reals_intact(r, 1 << 18, 7)); /* the set still works */
    pt_reply_destroy(r);
    pt_workerset_destroy(ws);
}

/*
 * Task seeds are a fixed contract (splitmix64 of seed ^ id * phi, see
 * workerset.h): results of old runs must stay reproducible, so any change
 * of the mix must fail here. Golden values from an independent Python
 * model of the header's formula.
 */
static void test_seed_mix(void)
{
    static const struct {
        uint64_t seed, id, want;
    } golden[] = {
        {0, 0, 0xE220A8397B1DCDAFu},
        {0, 1, 0x6E789E6AA1B965F4u},
        {42, 0, 0xBDD732262FEB6E95u},
        {42, 7, 0xCBBD05C7DE73A889u},
        {42, 8, 0xCC868F8D9BD23F76u},
        {43, 7, 0xFCF6B6E3C0400B3Du},
        {UINT64_MAX, 12345, 0x231F15910CB7BBB1u},
        {1, 1ull << 40, 0x4B232129431B8899u},
    };
    for (size_t i = 0; i < sizeof golden / sizeof golden[0]; i++)
        CU_ASSERT_EQUAL(pt_task_seed_of(golden[i].seed, golden[i].id),
                        golden[i].want);
    CU_ASSERT_EQUAL(pt_task_seed_of(42, 7), pt_task_seed_of(42, 7));
    CU_ASSERT_NOT_EQUAL(pt_task_seed_of(42, 7), pt_task_seed_of(42, 8));
    CU_ASSERT_NOT_EQUAL(pt_task_seed_of(42, 7), pt_task_seed_of(43, 7));
}

/*
 * PT_CALL_INIT: any worker, priority 0, the set numbers the ids (1, 2, ...).
 * An id given in the call is the one pt_task_id and pt_reply_task see, up
 * to INT64_MAX.
 */
static void test_task_ids(void)
{
    pt_call c = PT_CALL_INIT;
    CU_ASSERT(!c.kernel && !c.kobj && !c.fn && !c.args);
    CU_ASSERT(c.priority == 0 && c.worker == -1 && c.task_id == 0 &&
              c.step == 0);
    pt_workerset *ws = pt_workerset_create(1, PT_WS_FF, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    c.fn = who;
    const int64_t ids[] = {0, 5, INT64_MAX, 0};
    const int64_t want[] = {1, 5, INT64_MAX, 2};
    for (int i = 0; i < 4; i++) {
        c.task_id = ids[i];
        pt_reply *r = pt_future_fetch(pt_remotecall_ex(ws, &c));
        CU_ASSERT_PTR_NOT_NULL_FATAL(r);
        CU_ASSERT_EQUAL(pt_reply_status(r), PT_TASK_OK);
        CU_ASSERT_EQUAL(pt_reply_task(r), want[i]);
        CU_ASSERT_EQUAL(pt_reply_int(r, "task", -1), want[i]);
        pt_reply_destroy(r);
    }
    CU_ASSERT_EQUAL(pt_workerset_destroy(ws), 0);
}

static int str_len(pt_ctx *c)
{
    return pt_result_int(c, "len", (int64_t)strlen(pt_arg_str(c, "s", "")));
}

/* Args {s: <n bytes>}: a map of n + 21 bytes encoded. */
static pt_args *args_of_size(size_t n)
{
    char *s = malloc(n + 1);
    CU_ASSERT_FATAL(s != NULL);
    memset(s, 'x', n);
    s[n] = '\0';
    pt_args *a = pt_args_create();
    CU_ASSERT_FATAL(a && pt_args_str(a, "s", s) == 0);
    free(s);
    return a;
}

/*
 * Args that fill a request frame to its last byte reach the worker; one
 * byte more is refused when submitted (E2BIG, saying what to do), never
 * sent to a worker that would refuse the frame and die.
 */
static void test_args_frame_limit(void)
{
    pt_workerset *ws = pt_workerset_create(1, PT_WS_FF, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    size_t most = PT_ARGS_MAX - 21;
    pt_args *a = args_of_size(most);
    pt_future *f = pt_remotecall_fn(ws, str_len, a);
    pt_args_destroy(a);
    pt_reply *r = pt_future_fetch(f);
    CU_ASSERT_EQUAL(pt_reply_status(r), PT_TASK_OK);
    CU_ASSERT_EQUAL(pt_reply_int(r, "len", -1), (int64_t)most);
    pt_reply_destroy(r);
    a = args_of_size(most + 1);
    errno = 0;
    CU_ASSERT_PTR_NULL(pt_remotecall_fn(ws, str_len, a));
    CU_ASSERT_EQUAL(errno, E2BIG);
    ASSERT_STR(pt_errmsg(),
               "remotecall: args of 67108825 bytes exceed the "
               "67108824 a request carries (a 64 MiB frame): pass bulk data "
               "in a shared segment (pt_shm)");
    pt_args_destroy(a);
    CU_ASSERT_EQUAL(pt_workerset_restarts(ws), 0);
    CU_ASSERT_EQUAL(pt_workerset_destroy(ws), 0);
}

static const pt_test_case cases[] = {
    {"round-robin order", test_rr_order, 0},
    {"first free never sends to a busy worker", test_ff_first_free, 0},
    {"futures, args and replies", test_futures_and_args, 0},
    {"a crash fails only its request", test_crash_is_contained, 0},
    {"kernel faults end as statuses", test_kernel_faults, 120},
    {"kernel libraries are checked at load", test_kernel_lib_refusals, 0},
    {"pipelined requests survive a crash", test_pipelined_after_crash, 0},
    {"destroy waits for requests", test_destroy_waits, 0},
    {"sets do not share pipes", test_sets_do_not_share_fds, 0},
    {"workers die with their parent", test_workers_die_with_parent, 0},
    {"a request past the timeout kills its worker", test_timeout, 0},
    {"posted to all: a request that never answers times out",
     test_posted_timeout_without_news, 20},
    {"workers' output is captured by task", test_output_capture, 0},
    {"a set whose workers always die is broken", test_broken_set, 0},
    {"a worker that cannot be restarted fails its requests", test_lost_worker,
     0},
    {"memory limit", test_memory_limit, 0},
    {"memory limit spares shm guards", test_memory_limit_spares_guards, 0},
    {"peak RSS of a dead worker", test_rss_of_dead_worker, 0},
    {"timeout: SIGTERM, grace, SIGKILL", test_timeout_term_then_kill, 0},
    {"task seeds", test_seed_mix, 0},
    {"task ids and PT_CALL_INIT", test_task_ids, 0},
    {"args up to the frame limit, not beyond", test_args_frame_limit, 300},
    {"batched: a crash fails only the request that ran",
     test_batch_crash_blames_the_runner, 0},
    {"batched: the timeout blames the request that ran",
     test_batch_timeout_blames_the_runner, 0},
    {"batched: a crash after take-backs blames the crasher",
     test_batch_crash_after_take_backs, 0},
    {"batch option", test_batch_option, 0},
    {"large results reuse the shared buffer safely",
     test_large_results_reuse_the_buffer, 240},
    {"large results: the threshold", test_large_result_threshold, 120},
    {"large results we cannot map fail their task",
     test_large_result_unmappable, 120},
    {"a crash after a large result", test_crash_after_large_result, 120},
    {"forged large results are protocol errors", test_forged_large_results, 0},
    {NULL, NULL, 0},
};

int main(int argc, char **argv)
{
    return pt_test_main("workerset", cases, argc, argv);
}
