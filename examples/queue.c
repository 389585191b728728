/* queue.c - queued tasks whose priorities change while they wait. */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <stdio.h>
#include <time.h>
#include <ptools/dispatch.h>
#include <ptools/queue.h>

static int work(pt_ctx *ctx)
{
    struct timespec ts = {0, 20 * 1000000L}; /* 20 ms of "work" */
    nanosleep(&ts, NULL);
    return pt_result_int(ctx, "task", pt_task_id(ctx));
}

int main(void)
{
    pt_workerset *ws = pt_workerset_create(1, PT_WS_FF, NULL);
    pt_queue *q = ws ? pt_queue_create(ws) : NULL;
    if (!q) {
        fprintf(stderr, "queue: %s\n", pt_errmsg());
        return 1;
    }
    pt_workerset_hold(ws, true);  /* none starts before the changes */
    for (int i = 0; i < 6; i++) { /* priorities 0, 1, 2, 0, 1, 2 */
        pt_call c = PT_CALL_INIT;
        c.fn = work;
        c.priority = i % 3;
        pt_queue_submit_call(q, &c);
    }
    pt_queue_set_priority(q, 3, 10); /* task 3 jumps the queue */
    pt_queue_cancel(q, 4);           /* task 4 never runs */
    pt_workerset_hold(ws, false);
    int64_t id;
    pt_reply *r;
    printf("finished:");
    while (pt_queue_next_result(q, &id, &r) == 1) {
        printf(" %lld(%s)", (long long)id,
               pt_task_status_name(pt_reply_status(r)));
        pt_reply_destroy(r);
    }
    printf("\n");
    pt_queue_destroy(q);
    return pt_workerset_destroy(ws) == 0 ? 0 : 1;
}
