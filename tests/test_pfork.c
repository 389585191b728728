/* test_pfork.c - pt_pfork: order, failures, crashes, big results, shm. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ptools/pfork.h>
#include <ptools/shm.h>

#include "harness.h"

/* No child of ours may be left unreaped after pt_pfork returns. */
static void assert_no_children(void)
{
    errno = 0;
    CU_ASSERT_EQUAL(waitpid(-1, NULL, WNOHANG), -1);
    CU_ASSERT_EQUAL(errno, ECHILD);
}

static int say_index(int i, void *arg, pt_buf *out)
{
    (void)arg;
    usleep((unsigned)(8 - i) * 2000); /* finish out of order */
    return pt_buf_printf(out, "child %d", i);
}

static void test_results_in_order(void)
{
    pt_pfork_result r[8];
    CU_ASSERT_EQUAL_FATAL(pt_pfork(8, say_index, NULL, r), 0);
    for (int i = 0; i < 8; i++) {
        char want[32];
        snprintf(want, sizeof want, "child %d", i);
        CU_ASSERT_EQUAL(r[i].status, PT_PFORK_OK);
        CU_ASSERT_EQUAL(r[i].out.len, strlen(want));
        CU_ASSERT_EQUAL(memcmp(r[i].out.data, want, strlen(want)), 0);
    }
    CU_ASSERT_EQUAL(pt_pfork_failures(8, r), 0);
    pt_pfork_results_free(8, r);
    assert_no_children();
}

/* Child 1 segfaults, 2 aborts, 3 fails with 7, 4 and 5 exit early. */
static int misbehave(int i, void *arg, pt_buf *out)
{
    (void)arg;
    switch (i) {
    case 1: raise(SIGSEGV); break;
    case 2: abort();
    case 3: pt_buf_printf(out, "partial %d", i); return 7;
    case 4: _exit(3);
    case 5: _exit(0);
    }
    return 0;
}

static void test_failures_per_child(void)
{
    pt_pfork_result r[6];
    char why[128];
    CU_ASSERT_EQUAL_FATAL(pt_pfork(6, misbehave, NULL, r), 0);
    CU_ASSERT_EQUAL(r[0].status, PT_PFORK_OK);
    CU_ASSERT_EQUAL(r[1].status, PT_PFORK_SIGNALED);
    CU_ASSERT_EQUAL(r[1].code, SIGSEGV);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(pt_pfork_describe(&r[1], why, sizeof why), "signal 11"));
    CU_ASSERT_EQUAL(r[2].status, PT_PFORK_SIGNALED);
    CU_ASSERT_EQUAL(r[2].code, SIGABRT);
    CU_ASSERT_EQUAL(r[3].status, PT_PFORK_FAILED);
    CU_ASSERT_EQUAL(r[3].code, 7);
    CU_ASSERT_EQUAL(r[3].out.len, strlen("partial 3")); /* bytes kept */
    CU_ASSERT_EQUAL(r[4].status, PT_PFORK_NO_RESULT);
    CU_ASSERT_EQUAL(r[4].code, 3);
    CU_ASSERT_EQUAL(r[5].status, PT_PFORK_NO_RESULT);
    CU_ASSERT_EQUAL(r[5].code, 0);
    CU_ASSERT_EQUAL(r[5].out.len, 0);
    CU_ASSERT_EQUAL(pt_pfork_failures(6, r), 5);
    pt_pfork_results_free(6, r);
    assert_no_children();
}

#define BIG (64u << 20)

/* 64 MiB each, more than any pipe holds: both are read at once. */
static int big_result(int i, void *arg, pt_buf *out)
{
    (void)arg;
    int rc = pt_buf_reserve(out, BIG);
    if (rc < 0)
        return rc;
    memset(out->data, 0x5A, BIG);
    for (size_t k = 0; k < BIG; k += 4096)
        out->data[k] = (uint8_t)(k / 4096 + (size_t)i);
    out->len = BIG;
    out->data[BIG - 1] = (uint8_t)(0xA0 + i);
    return 0;
}

static void test_large_results(void)
{
    pt_pfork_result r[2];
    CU_ASSERT_EQUAL_FATAL(pt_pfork(2, big_result, NULL, r), 0);
    for (int i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL(r[i].status, PT_PFORK_OK);
        CU_ASSERT_EQUAL_FATAL(r[i].out.len, BIG);
        int good = 1;
        for (size_t k = 0; k < BIG - 1; k += 4096)
            good &= r[i].out.data[k] == (uint8_t)(k / 4096 + (size_t)i);
        CU_ASSERT_TRUE(good);
        CU_ASSERT_EQUAL(r[i].out.data[BIG - 1], 0xA0 + i);
    }
    pt_pfork_results_free(2, r);
}

static int write_shm(int i, void *arg, pt_buf *out)
{
    (void)out;
    int64_t *d = arg;
    d[i] = 1000 + i;
    return 0;
}

static void test_shm_visible(void)
{
    pt_shm_opts o = {.prefix = pt_test_prefix(),
                     .name = "pf",
                     .type = PT_INT64,
                     .ndims = 1,
                     .dims = {16}};
    pt_shm *s = pt_shm_create(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    int64_t *d = pt_shm_view_of(s)->data;
    pt_pfork_result r[16];
    CU_ASSERT_EQUAL_FATAL(pt_pfork(16, write_shm, d, r), 0);
    for (int i = 0; i < 16; i++)
        CU_ASSERT_EQUAL(d[i], 1000 + i);
    pt_pfork_results_free(16, r);
    pt_shm_detach(s);
}

/* The child leaves a grandchild holding its pipe open for 30 s. */
static int leave_grandchild(int i, void *arg, pt_buf *out)
{
    (void)i;
    (void)arg;
    pid_t g = fork();
    if (g == 0) {
        sleep(30);
        _exit(0);
    }
    return pt_buf_append(out, &g, sizeof g);
}

static void test_grandchild_holds_pipe(void)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pt_pfork_result r[1];
    CU_ASSERT_EQUAL_FATAL(pt_pfork(1, leave_grandchild, NULL, r), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CU_ASSERT_EQUAL(r[0].status, PT_PFORK_OK);
    CU_ASSERT_TRUE(t1.tv_sec - t0.tv_sec < 10); /* not the grandchild's 30 s */
    pid_t g;
    if (r[0].out.len == sizeof g) {
        memcpy(&g, r[0].out.data, sizeof g);
        kill(g, SIGKILL);
    }
    pt_pfork_results_free(1, r);
}

static void *block_forever(void *arg)
{
    int *fds = arg;
    char c;
    while (read(fds[0], &c, 1) < 0 && errno == EINTR)
        ;
    return NULL;
}

static void test_refuses_threads(void)
{
    int fds[2];
    CU_ASSERT_EQUAL_FATAL(pipe(fds), 0);
    pthread_t t;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, block_forever, fds), 0);
    pt_pfork_result r[2];
    CU_ASSERT_EQUAL(pt_pfork(2, say_index, NULL, r), -EDEADLK);
    CU_ASSERT_PTR_NOT_NULL(strstr(pt_errmsg(), "threads"));
    CU_ASSERT_EQUAL(write(fds[1], "x", 1), 1);
    pthread_join(t, NULL);
    assert_no_children();
}

static void test_bad_args(void)
{
    pt_pfork_result r[1];
    CU_ASSERT_EQUAL(pt_pfork(0, say_index, NULL, r), -EINVAL);
    CU_ASSERT_EQUAL(pt_pfork(1, NULL, NULL, r), -EINVAL);
    CU_ASSERT_EQUAL(pt_pfork(1, say_index, NULL, NULL), -EINVAL);
}

static int tiny(int i, void *arg, pt_buf *out)
{
    (void)arg;
    return pt_buf_append(out, &i, sizeof i);
}

static void test_many_children(void)
{
    enum { N = 100 };
    pt_pfork_result r[N];
    CU_ASSERT_EQUAL_FATAL(pt_pfork(N, tiny, NULL, r), 0);
    int good = 1;
    for (int i = 0; i < N; i++)
        good &= r[i].status == PT_PFORK_OK && r[i].out.len == sizeof(int) &&
                memcmp(r[i].out.data, &i, sizeof i) == 0;
    CU_ASSERT_TRUE(good);
    pt_pfork_results_free(N, r);
    assert_no_children();
}

static const pt_test_case cases[] = {
    {"results come back in index order", test_results_in_order, 0},
    {"each child's failure is its own", test_failures_per_child, 0},
    {"two 64 MiB results", test_large_results, 120},
    {"shm writes are visible in the parent", test_shm_visible, 0},
    {"a grandchild holding the pipe does not stall", test_grandchild_holds_pipe,
     0},
    {"refuses a process with threads", test_refuses_threads, 0},
    {"bad arguments", test_bad_args, 0},
    {"100 children", test_many_children, 0},
    {NULL, NULL, 0},
};

int main(int argc, char **argv)
{
    return pt_test_main("pfork", cases, argc, argv);
}
