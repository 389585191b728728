/* queue.c - tasks with changeable priorities over a worker set (queue.h). */
#include <errno.h>
#include <stdlib.h>

#include <ptools/queue.h>

#include "internal.h"
#include "ws.h"

struct pt_queue {
    pt_workerset *ws;
    pt_request **tasks; /* by id; NULL once reported */
    size_t ntasks, cap;
    pt_request *done_head, *done_tail; /* finished, not yet reported */
    int64_t outstanding;
};

/* Done hook: keep the finished request in order for next_result. */
static void queue_done(void *arg, pt_request *req)
{
    pt_queue *q = arg;
    req->next = NULL;
    if (q->done_tail)
        q->done_tail->next = req;
    else
        q->done_head = req;
    q->done_tail = req;
}

pt_queue *pt_queue_create(pt_workerset *ws)
{
    pt_queue *q = calloc(1, sizeof *q);
    if (!q) {
        errno = ENOMEM;
        return NULL;
    }
    q->ws = ws;
    return q;
}

static int grow(pt_queue *q)
{
    if (q->ntasks < q->cap)
        return 0;
    size_t cap = q->cap ? 2 * q->cap : 1024;
    pt_request **t = realloc(q->tasks, cap * sizeof *t);
    if (!t)
        return pt__err(-ENOMEM, "queue: out of memory for %zu tasks", cap);
    q->tasks = t;
    q->cap = cap;
    return 0;
}

int64_t pt_queue_submit_call(pt_queue *q, const pt_call *call)
{
    int rc = grow(q);
    if (rc < 0)
        return rc;
    int64_t id = (int64_t)q->ntasks;
    pt_request *req = pt_request_submit(q->ws, call, id, queue_done, q);
    if (!req)
        return -errno;
    q->tasks[q->ntasks++] = req;
    q->outstanding++;
    pt__ws_kick(q->ws);
    return id;
}

int64_t pt_queue_submit(pt_queue *q, const char *kernel, pt_args *args,
                        int64_t priority)
{
    pt_call c = PT_CALL_INIT;
    c.kernel = kernel;
    c.args = args;
    c.priority = priority;
    return pt_queue_submit_call(q, &c);
}

/* Task `id`'s request: 0, -ENOENT (never issued), -EBUSY (finished and
 * reported: its request is gone). */
static int find(pt_queue *q, int64_t id, pt_request **req)
{
    if (id < 0 || (uint64_t)id >= q->ntasks)
        return pt__err(-ENOENT, "queue: no task %lld was submitted",
                       (long long)id);
    if (!q->tasks[id])
        return pt__err(-EBUSY, "queue: task %lld is finished", (long long)id);
    *req = q->tasks[id];
    return 0;
}

int pt_queue_set_priority(pt_queue *q, int64_t id, int64_t priority)
{
    pt_request *req = NULL;
    int rc = find(q, id, &req);
    return rc < 0 ? rc : pt_request_set_priority(q->ws, req, priority);
}

int pt_queue_cancel(pt_queue *q, int64_t id)
{
    pt_request *req = NULL;
    int rc = find(q, id, &req);
    return rc < 0 ? rc : pt_request_cancel(q->ws, req);
}

int pt_queue_next_result(pt_queue *q, int64_t *id, pt_reply **reply)
{
    int rc = 0;
    while (!q->done_head && q->outstanding > 0 && rc == 0)
        rc = pt__ws_pump(q->ws, -1);
    if (rc < 0)
        return rc;
    pt_request *req = q->done_head;
    if (!req)
        return 0;
    q->done_head = req->next;
    if (!q->done_head)
        q->done_tail = NULL;
    q->tasks[req->id] = NULL;
    q->outstanding--;
    *id = pt_request_id(req);
    *reply = req->reply;
    req->reply = NULL;
    pt_request_destroy(req);
    return 1;
}

int64_t pt_queue_outstanding(const pt_queue *q)
{
    return q->outstanding;
}

int64_t pt_queue_drain(pt_queue *q)
{
    int64_t bad = 0, id;
    pt_reply *r;
    int rc;
    while ((rc = pt_queue_next_result(q, &id, &r)) == 1) {
        bad += pt_reply_status(r) != PT_TASK_OK;
        pt_reply_destroy(r);
    }
    return rc < 0 ? rc : bad;
}

void pt_queue_destroy(pt_queue *q)
{
    if (!q)
        return;
    pt_queue_drain(q);
    free(q->tasks);
    free(q);
}
