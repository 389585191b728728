/* ws_remote.c - requests that the set's own workers do not run: a runner
 * takes them to run elsewhere (other MPI ranks) and ends them (ws.h). */
#include <errno.h>

#include "ws_impl.h"

pt_request *pt_workerset_take(pt_workerset *ws)
{
    if (ws->hold || ws->broken)
        return NULL;
    pt__heap *best = pt__heap_peek(&ws->shared) ? &ws->shared : NULL;
    for (int i = 0; i < ws->n; i++) { /* RR: unpinned ones wait here too */
        pt__heap_node *top = pt__heap_peek(&ws->slots[i].own);
        if (top && ((pt_request *)top)->worker < 0 &&
            (!best || pt__heap_before(top, pt__heap_peek(best))))
            best = &ws->slots[i].own;
    }
    pt_request *req = best ? (pt_request *)pt__heap_pop(best) : NULL;
    if (req)
        req->state = PT_REQ_SENT;
    return req;
}

int pt_request_withdraw(pt_workerset *ws, pt_request *req)
{
    if (req->state == PT_REQ_WAITING)
        pt__heap_remove(req->heap, &req->node);
    else if (!pt__ws_take_back(ws, req)) /* sent ahead, not started */
        return -EBUSY;
    req->state = PT_REQ_SENT;
    return 0;
}

int pt_request_untake(pt_workerset *ws, pt_request *req)
{
    if (req->state != PT_REQ_SENT || req->word || !req->heap)
        return -EINVAL; /* not taken: at a worker, waiting, or done */
    return pt__ws_requeue(ws, req);
}

void pt_workerset_remote_only(pt_workerset *ws, bool on)
{
    ws->remote_only = on;
}

void pt_request_complete(pt_workerset *ws, pt_request *req, pt_reply *reply)
{
    reply = pt__ws_reply_or_bare(reply, req->id, PT_TASK_CRASHED, -1);
    if (reply && pt_reply_status(reply) == PT_TASK_OK)
        ws->succeeded++;
    pt__ws_finish(ws, req, reply);
}
