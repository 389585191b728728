/* ws_future.c - futures and the remotecall API over a worker set
 * (workerset.h), and the task seed mix. */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"
#include "task.h"
#include "ws_impl.h"

struct pt_future {
    pt_workerset *ws;
    pt_request *req;
};

static void future_done(void *arg, pt_request *req)
{
    (void)arg;       /* req->owner: NULL once abandoned */
    if (!req->owner) /* abandoned by pt_future_destroy */
        pt_request_destroy(req);
}

pt_future *pt_remotecall_ex(pt_workerset *ws, const pt_call *call)
{
    pt_future *f = malloc(sizeof *f);
    if (!f) {
        errno = ENOMEM;
        return NULL;
    }
    int64_t id = call->task_id > 0 ? call->task_id : (int64_t)ws->next_id++;
    f->ws = ws;
    f->req = pt_request_submit(ws, call, id, future_done, f);
    if (!f->req) {
        int err = errno;
        free(f);
        errno = err;
        return NULL;
    }
    pt__ws_kick(ws);
    return f;
}

pt_future *pt_remotecall(pt_workerset *ws, const char *kernel, pt_args *args)
{
    pt_call c = PT_CALL_INIT;
    c.kernel = kernel;
    c.args = args;
    return pt_remotecall_ex(ws, &c);
}

pt_future *pt_remotecall_fn(pt_workerset *ws, pt_call_fn fn, pt_args *args)
{
    pt_call c = PT_CALL_INIT;
    c.fn = fn;
    c.args = args;
    return pt_remotecall_ex(ws, &c);
}

bool pt_future_ready(pt_future *f)
{
    if (f->req->state != PT_REQ_DONE)
        pt__ws_pump(f->ws, 0);
    return f->req->state == PT_REQ_DONE;
}

int pt_future_wait(pt_future *f)
{
    int rc = 0;
    while (f->req->state != PT_REQ_DONE && rc == 0)
        rc = pt__ws_pump(f->ws, -1);
    return rc < 0 ? rc : (int)pt_reply_status(f->req->reply);
}

pt_reply *pt_future_fetch(pt_future *f)
{
    int rc = pt_future_wait(f);
    if (rc < 0) {
        errno = -rc;
        return NULL;
    }
    pt_reply *r = f->req->reply;
    f->req->reply = NULL;
    pt_request_destroy(f->req);
    free(f);
    return r;
}

void pt_future_destroy(pt_future *f)
{
    if (!f)
        return;
    pt_request *req = f->req;
    if (pt_request_state_of(req) == PT_REQ_WAITING) /* not started */
        pt_request_cancel(f->ws, req);
    if (req->state == PT_REQ_DONE)
        pt_request_destroy(req);
    else
        req->owner = NULL; /* freed by future_done when it ends */
    free(f);
}

pt_reply *pt_remotecall_fetch(pt_workerset *ws, const char *kernel,
                              pt_args *args)
{
    pt_future *f = pt_remotecall(ws, kernel, args);
    return f ? pt_future_fetch(f) : NULL;
}

int pt_remotecall_wait(pt_workerset *ws, const char *kernel, pt_args *args)
{
    pt_future *f = pt_remotecall(ws, kernel, args);
    if (!f)
        return -errno;
    int rc = pt_future_wait(f);
    pt_future_destroy(f);
    return rc;
}

uint64_t pt_task_seed_of(uint64_t job_seed, int64_t task_id)
{
    uint64_t z = job_seed ^ ((uint64_t)task_id * 0x9E3779B97F4A7C15u);
    z += 0x9E3779B97F4A7C15u;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}
