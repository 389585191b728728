/* test_remote.c - requests a program runs elsewhere (ptools/dispatch.h:
 * pt_workerset_take, pt_request_untake, pt_request_complete), as ptrun's
 * rank 0 does for other MPI ranks: a request taken and given back waits
 * again in its place, and still changes priority or is cancelled. */
#include <errno.h>

#include <ptools/dispatch.h>

#include "harness.h"

typedef struct ended {
    int n;
    int64_t id[8];
    pt_task_status st[8];
} ended;

static int nothing(pt_ctx *ctx)
{
    (void)ctx;
    return 0;
}

static void on_done(void *arg, pt_request *req)
{
    ended *d = arg;
    if (d->n < 8) {
        d->id[d->n] = pt_request_id(req);
        d->st[d->n] = pt_reply_status(pt_request_reply(req));
    }
    d->n++;
    pt_request_destroy(req);
}

static void test_untake_keeps_the_place(void)
{
    pt_workerset *ws = pt_workerset_create(1, PT_WS_FF, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
    pt_workerset_remote_only(ws, true); /* everything goes by take() */
    ended d = {0};
    pt_request *r[4];
    for (int i = 0; i < 4; i++) {
        pt_call c = PT_CALL_INIT;
        c.fn = nothing;
        r[i] = pt_request_submit(ws, &c, i, on_done, &d);
        CU_ASSERT_PTR_NOT_NULL_FATAL(r[i]);
    }
    CU_ASSERT_EQUAL(pt_request_untake(ws, r[0]), -EINVAL); /* not taken */
    CU_ASSERT_PTR_EQUAL(pt_workerset_take(ws), r[0]);
    CU_ASSERT_PTR_EQUAL(pt_workerset_take(ws), r[1]);
    CU_ASSERT_EQUAL(pt_request_untake(ws, r[1]), 0);
    CU_ASSERT_EQUAL(pt_request_untake(ws, r[0]), 0);
    CU_ASSERT_EQUAL(pt_request_state_of(r[0]), PT_REQ_WAITING);
    CU_ASSERT_PTR_EQUAL(pt_workerset_take(ws), r[0]); /* still first */
    CU_ASSERT_EQUAL(pt_request_untake(ws, r[0]), 0);
    /* waiting again: it changes priority, or is cancelled */
    CU_ASSERT_EQUAL(pt_request_set_priority(ws, r[0], -1), 0);
    CU_ASSERT_EQUAL(pt_request_cancel(ws, r[2]), 0);
    CU_ASSERT_EQUAL(d.n, 1);
    CU_ASSERT_EQUAL(d.id[0], 2);
    CU_ASSERT_EQUAL(d.st[0], PT_TASK_CANCELLED);
    CU_ASSERT_PTR_EQUAL(pt_workerset_take(ws), r[1]);
    CU_ASSERT_PTR_EQUAL(pt_workerset_take(ws), r[3]);
    CU_ASSERT_PTR_EQUAL(pt_workerset_take(ws), r[0]);
    CU_ASSERT_PTR_NULL(pt_workerset_take(ws));
    pt_request *order[3] = {r[1], r[3], r[0]};
    for (int i = 0; i < 3; i++)
        pt_request_complete(ws, order[i],
                            pt_reply_create(pt_request_id(order[i]), PT_TASK_OK,
                                            -1, NULL, NULL, 0));
    CU_ASSERT_EQUAL(d.n, 4);
    CU_ASSERT_EQUAL(d.id[3], 0);
    pt_workerset_destroy(ws);
}

int main(int argc, char **argv)
{
    static const pt_test_case cases[] = {
        {"a request given back waits in its place", test_untake_keeps_the_place,
         0},
        {NULL, NULL, 0},
    };
    return pt_test_main("remote", cases, argc, argv);
}
