/* dispatch.c - the layer ptrun is built on: requests with done hooks. */
#include <stdio.h>
#include <ptools/dispatch.h>

typedef struct tally {
    int ok, cancelled;
    int64_t sum;
} tally;

static int square(pt_ctx *ctx)
{
    int64_t x = pt_arg_int(ctx, "x", 0);
    return pt_result_int(ctx, "y", x * x);
}

/* Runs inside pt_workerset_poll() (or a cancel) when a request ends. */
static void done(void *arg, pt_request *req)
{
    tally *t = arg;
    pt_reply *r = pt_request_reply(req);
    if (pt_reply_status(r) == PT_TASK_OK) {
        t->ok++;
        t->sum += pt_reply_int(r, "y", 0);
    } else if (pt_reply_status(r) == PT_TASK_CANCELLED) {
        t->cancelled++;
    }
    pt_request_destroy(req);
}

int main(void)
{
    pt_workerset *ws = pt_workerset_create(2, PT_WS_FF, NULL);
    if (!ws) {
        fprintf(stderr, "dispatch: %s\n", pt_errmsg());
        return 1;
    }
    tally t = {0};
    pt_request *req[6];
    pt_workerset_hold(ws, true); /* queue all six before any runs */
    for (int i = 0; i < 6; i++) {
        pt_args *a = pt_args_create();
        pt_args_int(a, "x", i + 1);
        pt_call c = PT_CALL_INIT;
        c.fn = square;
        c.args = a;
        req[i] = pt_request_submit(ws, &c, i + 1, done, &t);
        pt_args_destroy(a); /* the request keeps its own reference */
    }
    pt_request_set_priority(ws, req[5], 10); /* x = 6 goes first */
    pt_request_cancel(ws, req[0]);           /* x = 1 never runs */
    pt_workerset_hold(ws, false);
    while (t.ok + t.cancelled < 6)
        pt_workerset_poll(&ws, 1, NULL, 0, -1);
    printf("%d ok, %d cancelled, sum of squares %lld\n", t.ok, t.cancelled,
           (long long)t.sum);
    return pt_workerset_destroy(ws) == 0 ? 0 : 1;
}
