/* test_queue.c - priorities, FIFO ties, reprioritising and cancelling. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <ptools/dispatch.h>

#include <ptools/queue.h>

#include "harness.h"

/* One FF worker, kept busy by a first task while the others queue up. */
typedef struct fixture {
    pt_workerset *ws;
    pt_queue *q;
    pt_args *slow, *fast;
} fixture;

/* `warm` tasks of no time run first: the set's batches grow (auto). */
static void setup_warm(fixture *fx, int warm)
{
    pt_test_starts_reset();
    fx->ws = pt_workerset_create(1, PT_WS_FF, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fx->ws);
    fx->q = pt_queue_create(fx->ws);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fx->q);
    fx->slow = pt_args_create();
    fx->fast = pt_args_create();
    pt_args_int(fx->slow, "ms", 300);
    pt_args_int(fx->slow, "mark", 1);
    pt_args_int(fx->fast, "ms", 1);
    pt_call c = PT_CALL_INIT;
    c.fn = pt_test_nap;
    for (int i = 0; i < warm; i++)
        CU_ASSERT_EQUAL(pt_queue_submit_call(fx->q, &c), i);
    CU_ASSERT_EQUAL(pt_queue_drain(fx->q), 0);
    c.args = fx->slow;
    c.priority = 1000;
    CU_ASSERT_EQUAL(pt_queue_submit_call(fx->q, &c), warm); /* the blocker */
    pt_test_wait_starts(fx->ws, 1);
}

static void setup(fixture *fx)
{
    setup_warm(fx, 0);
}

static int64_t submit(fixture *fx, int64_t prio)
{
    pt_call c = PT_CALL_INIT;
    c.fn = pt_test_nap;
    c.args = fx->fast;
    c.priority = prio;
    return pt_queue_submit_call(fx->q, &c);
}

/* Collect ids in the order they finish; `n` expected. */
static void finish_order(fixture *fx, int64_t *ids, int n, pt_task_status *st)
{
    int64_t id;
    pt_reply *r;
    int k = 0;
    while (pt_queue_next_result(fx->q, &id, &r) == 1) {
        if (k < n) {
            ids[k] = id;
            st[k] = pt_reply_status(r);
        }
        k++;
        pt_reply_destroy(r);
    }
    CU_ASSERT_EQUAL(k, n);
}

static void teardown(fixture *fx)
{
    pt_queue_destroy(fx->q);
    pt_args_destroy(fx->slow);
    pt_args_destroy(fx->fast);
    CU_ASSERT_EQUAL(pt_workerset_destroy(fx->ws), 0);
}

static void expect_order(const int64_t *got, const int64_t *want, int n)
{
    for (int i = 0; i < n; i++)
        if (got[i] != want[i]) {
            fprintf(stderr, "  position %d: task %lld, expected %lld\n", i,
                    (long long)got[i], (long long)want[i]);
            CU_FAIL("wrong order");
            return;
        }
}

static void test_priority_then_fifo(void)
{
    fixture fx;
    setup(&fx);
    int64_t prios[] = {1, 5, 5, 3, 5, 1};
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(submit(&fx, prios[i]), i + 1);
    int64_t got[7];
    pt_task_status st[7];
    finish_order(&fx, got, 7, st);
    int64_t want[] = {0, 2, 3, 5, 4, 1, 6};
    expect_order(got, want, 7);
    teardown(&fx);
}

static void test_set_priority(void)
{
    fixture fx;
    setup(&fx);
    for (int i = 0; i < 4; i++)
        submit(&fx, 1);                                         /* ids 1..4 */
    CU_ASSERT_EQUAL(pt_queue_set_priority(fx.q, 4, 10), 0);     /* 4 first */
    CU_ASSERT_EQUAL(pt_queue_set_priority(fx.q, 1, -5), 0);     /* 1 last */
    CU_ASSERT_EQUAL(pt_queue_set_priority(fx.q, 0, 5), -EBUSY); /* running */
    CU_ASSERT_EQUAL(pt_queue_set_priority(fx.q, 99, 5), -ENOENT);
    int64_t got[5];
    pt_task_status st[5];
    finish_order(&fx, got, 5, st);
    int64_t want[] = {0, 4, 2, 3, 1};
    expect_order(got, want, 5);
    CU_ASSERT_EQUAL(pt_queue_set_priority(fx.q, 2, 1), -EBUSY); /* done */
    CU_ASSERT_EQUAL(pt_queue_cancel(fx.q, 2), -EBUSY);
    CU_ASSERT_EQUAL(pt_queue_cancel(fx.q, 5), -ENOENT); /* never issued */
    CU_ASSERT_EQUAL(pt_queue_cancel(fx.q, -1), -ENOENT);
    teardown(&fx);
}

static void test_cancel(void)
{
    fixture fx;
    setup(&fx);
    for (int i = 0; i < 3; i++)
        submit(&fx, 0); /* ids 1..3 */
    CU_ASSERT_EQUAL(pt_queue_cancel(fx.q, 2), 0);
    CU_ASSERT_EQUAL(pt_queue_cancel(fx.q, 2), -EBUSY); /* done already */
    CU_ASSERT_EQUAL(pt_queue_cancel(fx.q, 0), -EBUSY); /* running */
    CU_ASSERT_EQUAL(pt_queue_outstanding(fx.q), 4);
    int64_t got[4];
    pt_task_status st[4];
    finish_order(&fx, got, 4, st);
    int64_t want[] = {2, 0, 1, 3}; /* the cancelled one is reported first */
    expect_order(got, want, 4);
    CU_ASSERT_EQUAL(st[0], PT_TASK_CANCELLED);
    CU_ASSERT_EQUAL(st[1], PT_TASK_OK);
    CU_ASSERT_EQUAL(pt_queue_outstanding(fx.q), 0);
    teardown(&fx);
}

/*
 * The repro: after 20 small tasks, batches are big, so the 10
 * tasks queued behind a busy task are sent ahead to its worker at once.
 * They have not started: their priorities still change (the order they
 * run in follows) and one can still be cancelled.
 */
static void test_batched_not_started(void)
{
    fixture fx;
    setup_warm(&fx, 20); /* ids 0..19, the blocker 20 */
    for (int i = 0; i < 10; i++)
        CU_ASSERT_EQUAL(submit(&fx, 0), 21 + i); /* ids 21..30 */
    pt_workerset_poll(&fx.ws, 1, NULL, 0, 0);    /* sent, if ever */
    for (int i = 0; i < 10; i++) /* the reverse order: 30 first */
        CU_ASSERT_EQUAL(pt_queue_set_priority(fx.q, 21 + i, i), 0);
    CU_ASSERT_EQUAL(pt_queue_cancel(fx.q, 25), 0);
    CU_ASSERT_EQUAL(pt_queue_set_priority(fx.q, 20, 0), -EBUSY); /* runs */
    CU_ASSERT_EQUAL(pt_queue_set_priority(fx.q, 3, 0), -EBUSY);  /* done */
    CU_ASSERT_EQUAL(pt_queue_set_priority(fx.q, 31, 0), -ENOENT);
    int64_t got[11];
    pt_task_status st[11];
    finish_order(&fx, got, 11, st);
    int64_t want[] = {25, 20, 30, 29, 28, 27, 26, 24, 23, 22, 21};
    expect_order(got, want, 11);
    CU_ASSERT_EQUAL(st[0], PT_TASK_CANCELLED);
    for (int i = 1; i < 11; i++)
        CU_ASSERT_EQUAL(st[i], PT_TASK_OK);
    teardown(&fx);
}

static void test_drain_counts(void)
{
    pt_workerset *ws = pt_workerset_create(2, PT_WS_FF, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    pt_queue *q = pt_queue_create(ws);
    for (int i = 0; i < 200; i++) {
        pt_call c = PT_CALL_INIT;
        c.fn = pt_test_nap;
        c.priority = i % 7;
        CU_ASSERT_EQUAL(pt_queue_submit_call(q, &c), i);
    }
    CU_ASSERT_EQUAL(pt_queue_submit(q, "no-such-kernel", NULL, 0), -ENOENT);
    CU_ASSERT_EQUAL(pt_queue_drain(q), 0);
    CU_ASSERT_EQUAL(pt_queue_outstanding(q), 0);
    pt_queue_destroy(q);
    pt_workerset_destroy(ws);
}

static const pt_test_case cases[] = {
    {"highest priority first, FIFO among equals", test_priority_then_fifo, 0},
    {"set_priority reorders waiting tasks", test_set_priority, 0},
    {"cancel a waiting task", test_cancel, 0},
    {"batched but not started: priorities and cancel", test_batched_not_started,
     0},
    {"drain", test_drain_counts, 0},
    {NULL, NULL, 0},
};

int main(int argc, char **argv)
{
    return pt_test_main("queue", cases, argc, argv);
}
