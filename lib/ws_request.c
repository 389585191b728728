/* ws_request.c - what the owner of a request may read of it (dispatch.h). */
#include "ws_impl.h"

int64_t pt_request_id(const pt_request *req)
{
    return (int64_t)req->id;
}

/* Sent ahead to a worker but not started there, a request still waits. */
pt_request_state pt_request_state_of(const pt_request *req)
{
    return req->state == PT_REQ_SENT && !pt__ws_started(req) ? PT_REQ_WAITING
                                                             : req->state;
}

int pt_request_worker(const pt_request *req)
{
    return req->worker;
}

pt_reply *pt_request_reply(const pt_request *req)
{
    return req->reply;
}

pt_reply *pt_request_take_reply(pt_request *req)
{
    pt_reply *r = req->reply;
    req->reply = NULL;
    return r;
}

void pt_request_set_data(pt_request *req, void *data)
{
    req->data = data;
}

void *pt_request_data(const pt_request *req)
{
    return req->data;
}
