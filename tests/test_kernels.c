/*
 * test_kernels.c - the shipped kernels (build/kernels/NAME.so), run by real
 * workers: names, args and results as SPEC §2 fixes them.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <ptools/kernel_lib.h>
#include <ptools/queue.h>
#include <ptools/workerset.h>

#include "harness.h"

#define K(name)                                                                \
    {                                                                          \
#name, PT_KERNEL_DIR "/" #name ".so", NULL                             \
    }

static const pt_kernel_ref shipped[] = {K(noop), K(echo), K(pi),
                                        K(fill), K(sum),  K(sleep)};

static pt_workerset *set_with(int n, pt_ws_mode mode, pt_shm **shm, int nshm,
                              uint64_t seed)
{
    pt_workerset_opts o = {.kernels = shipped,
                           .nkernels = 6,
                           .shm = shm,
                           .nshm = nshm,
                           .seed = seed};
    pt_workerset *ws = pt_workerset_create(n, mode, &o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    return ws;
}

static void test_each_loads(void)
{
    for (int i = 0; i < 6; i++) {
        pt_kernel_lib *lib = pt_kernel_lib_open(shipped[i].path);
        CU_ASSERT_PTR_NOT_NULL_FATAL(lib);
        CU_ASSERT_EQUAL(pt_kernel_lib_count(lib), 1);
        const pt_kernel *k = pt_kernel_lib_find(lib, shipped[i].name);
        CU_ASSERT_PTR_NOT_NULL_FATAL(k);
        CU_ASSERT_PTR_NOT_NULL(k->doc);
        pt_kernel_lib_close(lib);
    }
}

static void test_noop_echo_sleep(void)
{
    pt_workerset *ws = set_with(1, PT_WS_RR, NULL, 0, 0);
    pt_reply *r = pt_remotecall_fetch(ws, "noop", NULL);
    CU_ASSERT_EQUAL(pt_reply_status(r), PT_TASK_OK);
    pt_buf js = {0};
    pt_reply_json(r, &js);
    CU_ASSERT_STRING_EQUAL((char *)js.data, "{}");
    pt_reply_destroy(r);

    pt_args *a = pt_args_create();
    double xs[] = {0.5, 1.5};
    pt_args_int(a, "n", 3);
    pt_args_str(a, "s", "text");
    pt_args_reals(a, "xs", xs, 2);
    r = pt_remotecall_fetch(ws, "echo", a);
    pt_buf_reset(&js);
    pt_reply_json(r, &js);
    CU_ASSERT_STRING_EQUAL((char *)js.data,
                           "{\"n\":3,\"s\":\"text\",\"xs\":[0.5,1.5]}");
    pt_reply_destroy(r);
    pt_args_destroy(a);
    pt_buf_free(&js);

    a = pt_args_create();
    pt_args_int(a, "ms", 30);
    r = pt_remotecall_fetch(ws, "sleep", a);
    CU_ASSERT_EQUAL(pt_reply_int(r, "slept_ms", -1), 30);
    pt_reply_destroy(r);
    pt_args_destroy(a);
    pt_workerset_destroy(ws);
}

/* pi's result depends on the task's seed only: not on workers or mode. */
static void run_pi(int n, pt_ws_mode mode, int64_t *hits)
{
    pt_workerset *ws = set_with(n, mode, NULL, 0, 42);
    pt_queue *q = pt_queue_create(ws);
    pt_args *a = pt_args_create();
    pt_args_int(a, "samples", 100000);
    for (int i = 0; i < 8; i++)
        CU_ASSERT_EQUAL(pt_queue_submit(q, "pi", a, 0), i);
    int64_t id;
    pt_reply *r;
    while (pt_queue_next_result(q, &id, &r) == 1) {
        CU_ASSERT_EQUAL(pt_reply_status(r), PT_TASK_OK);
        CU_ASSERT_EQUAL(pt_reply_int(r, "samples", 0), 100000);
        double pi = pt_reply_real(r, "pi", 0);
        CU_ASSERT_TRUE(fabs(pi - M_PI) < 0.05);
        hits[id] = pt_reply_int(r, "hits", -1);
        pt_reply_destroy(r);
    }
    pt_args_destroy(a);
    pt_queue_destroy(q);
    pt_workerset_destroy(ws);
}

static void test_pi_reproducible(void)
{
    int64_t a[8], b[8], c[8];
    run_pi(1, PT_WS_RR, a);
    run_pi(3, PT_WS_FF, b);
    run_pi(2, PT_WS_RR, c);
    CU_ASSERT_EQUAL(memcmp(a, b, sizeof a), 0);
    CU_ASSERT_EQUAL(memcmp(a, c, sizeof a), 0);
    CU_ASSERT_NOT_EQUAL(a[0], a[1]); /* different tasks, different seeds */
}

static pt_reply *on_worker(pt_workerset *ws, const char *k, pt_args *a, int w)
{
    pt_call c = PT_CALL_INIT;
    c.kernel = k;
    c.args = a;
    c.worker = w;
    return pt_future_fetch(pt_remotecall_ex(ws, &c));
}

static void test_fill_and_sum(void)
{
    pt_shm_opts o = {.prefix = pt_test_prefix(),
                     .name = "v",
                     .type = PT_INT64,
                     .ndims = 1,
                     .dims = {1000}};
    pt_shm *shm = pt_shm_create(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(shm);
    pt_workerset *ws = set_with(3, PT_WS_RR, &shm, 1, 0);
    int64_t filled = 0;
    for (int w = 0; w < 3; w++) { /* each worker fills its share */
        pt_args *a = pt_args_create();
        pt_args_str(a, "segment", "v");
        pt_args_int(a, "value", 2);
        pt_args_str(a, "part", "worker");
        pt_reply *r = on_worker(ws, "fill", a, w);
        CU_ASSERT_EQUAL(pt_reply_status(r), PT_TASK_OK);
        filled += pt_reply_int(r, "filled", 0);
        pt_reply_destroy(r);
        pt_args_destroy(a);
    }
    CU_ASSERT_EQUAL(filled, 1000);
    pt_args *a = pt_args_create();
    pt_args_str(a, "segment", "v");
    pt_args_int(a, "offset", 10);
    pt_args_int(a, "count", 5);
    pt_reply *r = pt_remotecall_fetch(ws, "sum", a);
    CU_ASSERT_EQUAL(pt_reply_int(r, "sum", -1), 10);
    CU_ASSERT_EQUAL(pt_reply_int(r, "count", -1), 5);
    pt_reply_destroy(r);
    pt_args_destroy(a);
    a = pt_args_create();
    pt_args_str(a, "segment", "v");
    r = pt_remotecall_fetch(ws, "sum", a);
    CU_ASSERT_EQUAL(pt_reply_int(r, "sum", -1), 2000);
    pt_reply_destroy(r);
    pt_args_destroy(a);
    a = pt_args_create();
    pt_args_str(a, "segment", "nope");
    pt_args_int(a, "value", 1);
    r = pt_remotecall_fetch(ws, "fill", a);
    CU_ASSERT_EQUAL(pt_reply_status(r), PT_TASK_FAILED);
    CU_ASSERT_PTR_NOT_NULL(strstr(pt_reply_error(r), "nope"));
    pt_reply_destroy(r);
    pt_args_destroy(a);
    pt_workerset_destroy(ws);
    const int64_t *d = pt_shm_view_of(shm)->data;
    CU_ASSERT_EQUAL(d[0] + d[999], 4); /* the parent sees the workers' data */
    pt_shm_detach(shm);
}

/* Run fill with args `a` (taken) and check its status and error. */
static void expect_fill(pt_workerset *ws, pt_args *a, pt_task_status st,
                        const char *error)
{
    pt_args_str(a, "segment", "v");
    pt_reply *r = pt_remotecall_fetch(ws, "fill", a);
    CU_ASSERT_EQUAL(pt_reply_status(r), st);
    ASSERT_STR(pt_reply_error(r) ? pt_reply_error(r) : "(none)", error);
    pt_reply_destroy(r);
    pt_args_destroy(a);
}

/*
 * fill's `value`: an int is stored exactly (past 2^53), a whole real
 * too; a fraction does not fit an integer segment; a string is not a
 * number, and the accessor's message (naming what was given) is the
 * task's error, here and for a `count` of the wrong type.
 */
static void test_fill_value_types(void)
{
    pt_shm_opts o = {.prefix = pt_test_prefix(),
                     .name = "v",
                     .type = PT_INT64,
                     .ndims = 1,
                     .dims = {4}};
    pt_shm *shm = pt_shm_create(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(shm);
    const int64_t *d = pt_shm_view_of(shm)->data;
    pt_workerset *ws = set_with(1, PT_WS_RR, &shm, 1, 0);
    pt_args *a = pt_args_create();
    pt_args_int(a, "value", INT64_MAX - 1);
    expect_fill(ws, a, PT_TASK_OK, "(none)");
    CU_ASSERT_EQUAL(d[3], INT64_MAX - 1);
    a = pt_args_create();
    pt_args_real(a, "value", -3.0);
    expect_fill(ws, a, PT_TASK_OK, "(none)");
    CU_ASSERT_EQUAL(d[0], -3);
    a = pt_args_create();
    pt_args_real(a, "value", 2.5);
    expect_fill(ws, a, PT_TASK_FAILED,
                "value 2.5 does not fit in segment \"v\" (int64)");
    a = pt_args_create();
    pt_args_str(a, "value", "abc");
    expect_fill(ws, a, PT_TASK_FAILED,
                "arg `value` must be a real, got the string \"abc\"");
    a = pt_args_create();
    pt_args_int(a, "value", 1);
    pt_args_str(a, "count", "x");
    expect_fill(ws, a, PT_TASK_FAILED,
                "arg `count` must be an int, got the string \"x\"");
    expect_fill(ws, pt_args_create(), PT_TASK_FAILED,
                "arg `value` (a number) is required");
    CU_ASSERT_EQUAL(d[0], -3);
    pt_workerset_destroy(ws);
    pt_shm_detach(shm);
}

static const pt_test_case cases[] = {
    {"each shipped kernel loads", test_each_loads, 0},
    {"noop, echo, sleep", test_noop_echo_sleep, 0},
    {"pi is the same whatever the workers", test_pi_reproducible, 60},
    {"fill and sum a segment", test_fill_and_sum, 0},
    {"fill: the value's type", test_fill_value_types, 0},
    {NULL, NULL, 0},
};

int main(int argc, char **argv)
{
    return pt_test_main("kernels", cases, argc, argv);
}
