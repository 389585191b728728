/*
 * test_stasks.c - server tasks: Julia PTools' README example in C, state
 * kept across pmap calls, fini at stop, and argument checks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ptools/dispatch.h>
#include <ptools/kernel_lib.h>
#include <ptools/queue.h>
#include <ptools/stasks.h>
#include <time.h>

#include "harness.h"

#define TK(name) PT_TEST_KERNEL_DIR "/" name ".so"

/*
 * The seed's example: an int32 segment of 64K and a 100x100 uint8 one; every
 * server task writes its worker id at offset:ntasks:65536.
 */
static void test_readme_example(void)
{
    pt_kernel_lib *lib = pt_kernel_lib_open(TK("stateful"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(lib);
    pt_shm_opts shm[2] = {
        {.prefix = pt_test_prefix(),
         .name = "ids",
         .type = PT_INT32,
         .ndims = 1,
         .dims = {65536}},
        {.prefix = shm[0].prefix,
         .name = "img",
         .type = PT_UINT8,
         .ndims = 2,
         .dims = {100, 100}},
    };
    pt_stasks *h = pt_stasks_start(shm, 2, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    CU_ASSERT_EQUAL(pt_stasks_count(h), 3);
    pt_args *a = pt_args_create();
    pt_args_str(a, "segment", "ids");
    pt_args_str(a, "img", "img");
    pt_args *args[3] = {a, a, a};
    pt_reply *res[3];
    CU_ASSERT_EQUAL(
        pt_stasks_pmap(h, pt_kernel_lib_find(lib, "whoami"), args, 3, res), 0);
    int64_t written = 0;
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(pt_reply_worker(res[i]), i);
        written += pt_reply_int(res[i], "written", 0);
        pt_reply_destroy(res[i]);
    }
    CU_ASSERT_EQUAL(written, 65536);
    const int32_t *ids = pt_stasks_shm(h, "ids")->data;
    const uint8_t *img = pt_stasks_shm(h, "img")->data;
    int good = 1;
    for (int i = 0; i < 65536; i++)
        good &= ids[i] == i % 3;
    for (int i = 0; i < 10000; i++) /* contiguous thirds, ids 1..3 */
        good &= img[i] == (uint8_t)(1 + (i >= 3333) + (i >= 6666));
    CU_ASSERT_TRUE(good);
    printf("\n    ids[0..5] = %d %d %d %d %d %d, img corners %d %d\n", ids[0],
           ids[1], ids[2], ids[3], ids[4], ids[5], img[0], img[9999]);
    pt_args_destroy(a);
    CU_ASSERT_EQUAL(pt_stasks_stop(h), 0);
    pt_kernel_lib_close(lib);
}

static void test_state_persists(void)
{
    const char *log = "fini.log";
    char path[512];
    snprintf(path, sizeof path, "%s/%s", pt_test_tmpdir(), log);
    setenv("PT_TEST_FINI_LOG", path, 1);
    pt_kernel_lib *lib = pt_kernel_lib_open(TK("stateful"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(lib);
    const pt_kernel *counter = pt_kernel_lib_find(lib, "counter");
    pt_stasks *h = pt_stasks_start(NULL, 0, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    pt_reply *res[2];
    for (int round = 1; round <= 3; round++) {
        CU_ASSERT_EQUAL(pt_stasks_pmap(h, counter, NULL, 2, res), 0);
        for (int i = 0; i < 2; i++) {
            CU_ASSERT_EQUAL(pt_reply_int(res[i], "calls", -1), round);
            CU_ASSERT_TRUE(pt_reply_bool(res[i], "inited", false));
            pt_reply_destroy(res[i]);
        }
    }
    CU_ASSERT_EQUAL(pt_stasks_stop(h), 0);
    FILE *f = fopen(path, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    char text[256] = "";
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "fini 0 3\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "fini 1 3\n"));
    pt_kernel_lib_close(lib);
}

static int square(pt_ctx *c)
{
    int64_t x = pt_arg_int(c, "x", 0);
    return pt_result_int(c, "y", x * x);
}

static const pt_kernel square_kernel = {
    .abi = PT_KERNEL_ABI, .name = "square", .doc = "x*x", .call = square};

static void test_pmap_checks(void)
{
    pt_stasks *h = pt_stasks_start(NULL, 0, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    pt_reply *res[3];
    pt_args *a[3] = {pt_args_create(), pt_args_create(), pt_args_create()};
    for (int i = 0; i < 3; i++)
        pt_args_int(a[i], "x", i + 2);
    CU_ASSERT_EQUAL(pt_stasks_pmap(h, &square_kernel, a, 3, res), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(pt_errmsg(), "3 args for 2 server tasks"));
    CU_ASSERT_EQUAL(pt_stasks_pmap(h, &square_kernel, a, 2, res), 0);
    CU_ASSERT_EQUAL(pt_reply_int(res[0], "y", 0), 4);
    CU_ASSERT_EQUAL(pt_reply_int(res[1], "y", 0), 9);
    for (int i = 0; i < 2; i++)
        pt_reply_destroy(res[i]);
    for (int i = 0; i < 3; i++)
        pt_args_destroy(a[i]);
    pt_stasks_stop(h);
}

static void test_bad_segment_undone(void)
{
    pt_shm_opts shm[2] = {
        {.prefix = pt_test_prefix(),
         .name = "ok",
         .type = PT_INT8,
         .ndims = 1,
         .dims = {8},
         .named = true},
        {.prefix = shm[0].prefix,
         .name = "bad/name",
         .type = PT_INT8,
         .ndims = 1,
         .dims = {8}},
    };
    errno = 0;
    CU_ASSERT_PTR_NULL(pt_stasks_start(shm, 2, 2));
    CU_ASSERT_EQUAL(errno, EINVAL);
    CU_ASSERT_PTR_NULL(pt_shm_attach(shm[0].prefix, "ok", NULL)); /* undone */
}

static int64_t submit_nap(pt_queue *q, pt_args *a, int64_t prio)
{
    pt_call c = PT_CALL_INIT;
    c.fn = pt_test_nap;
    c.args = a;
    c.priority = prio;
    c.worker = 0; /* a server task's request names its server task */
    return pt_queue_submit_call(q, &c);
}

/*
 * Requests pinned to a server task are sent ahead to it (round-robin sets
 * pipeline up to 64): those not started still change priority and can be
 * cancelled, and they run in the order asked for.
 */
static void test_sent_ahead_still_waits(void)
{
    pt_test_starts_reset();
    pt_stasks *h = pt_stasks_start(NULL, 0, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    pt_workerset *ws = pt_stasks_workerset(h);
    pt_queue *q = pt_queue_create(ws);
    pt_args *slow = pt_args_create(), *fast = pt_args_create();
    pt_args_int(slow, "ms", 300);
    pt_args_int(slow, "mark", 1);
    CU_ASSERT_EQUAL(submit_nap(q, slow, 0), 0);
    for (int i = 1; i <= 10; i++)
        CU_ASSERT_EQUAL(submit_nap(q, fast, 0), i);
    pt_test_wait_starts(ws, 1); /* the first one runs */
    for (int i = 1; i <= 10; i++)
        CU_ASSERT_EQUAL(pt_queue_set_priority(q, i, i), 0);
    CU_ASSERT_EQUAL(pt_queue_cancel(q, 4), 0);
    CU_ASSERT_EQUAL(pt_queue_cancel(q, 0), -EBUSY); /* it runs */
    int64_t want[] = {4, 0, 10, 9, 8, 7, 6, 5, 3, 2, 1}, id;
    pt_reply *r;
    for (int k = 0; pt_queue_next_result(q, &id, &r) == 1; k++) {
        CU_ASSERT_TRUE(k < 11 && id == want[k]);
        CU_ASSERT_EQUAL(pt_reply_status(r),
                        id == 4 ? PT_TASK_CANCELLED : PT_TASK_OK);
        pt_reply_destroy(r);
    }
    pt_queue_destroy(q);
    pt_args_destroy(slow);
    pt_args_destroy(fast);
    CU_ASSERT_EQUAL(pt_stasks_stop(h), 0);
}

/* The set's options: batching off, say; segments only as segments. */
static void test_start_with_options(void)
{
    pt_workerset_opts o = {.batch = 1, .timeout_ms = 60000};
    pt_stasks *h = pt_stasks_start_ex(NULL, 0, 2, &o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    pt_reply *res[2];
    CU_ASSERT_EQUAL(pt_stasks_pmap(h, &square_kernel, NULL, 2, res), 0);
    for (int i = 0; i < 2; i++)
        pt_reply_destroy(res[i]);
    CU_ASSERT_EQUAL(pt_stasks_stop(h), 0);
    pt_shm *none = NULL;
    o.shm = &none;
    o.nshm = 1;
    errno = 0;
    CU_ASSERT_PTR_NULL(pt_stasks_start_ex(NULL, 0, 2, &o));
    CU_ASSERT_EQUAL(errno, EINVAL);
}

static const pt_test_case cases[] = {
    {"the PTools README example", test_readme_example, 0},
    {"state persists across pmap calls", test_state_persists, 0},
    {"pmap needs one arg per server task", test_pmap_checks, 0},
    {"a failed start undoes its segments", test_bad_segment_undone, 0},
    {"sent ahead, not started: a server task's request still waits",
     test_sent_ahead_still_waits, 0},
    {"server tasks with the set's options", test_start_with_options, 0},
    {NULL, NULL, 0},
};

int main(int argc, char **argv)
{
    return pt_test_main("stasks", cases, argc, argv);
}
