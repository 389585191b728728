/*
 * ws_recv.c - a worker's replies: frames read from its answer pipe (or its
 * result buffer), checked, and ending its oldest request; and the batch
 * size learnt from the run times they report.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "internal.h"
#include "task.h"
#include "wire.h"
#include "worker.h"
#include "ws.h"
#include "ws_impl.h"

/* Batching: a worker gets up to BATCH_WORK_NS of measured work at once. */
#define BATCH_WORK_NS INT64_C(2000000)
#define BATCH_MAX PT__RING

/*
 * The set's mean run time, for the batch size. A sample counts for at most
 * LEARN_CAP times the mean: one long request among short ones must not make
 * the set send the short ones one at a time, each a round trip through the
 * parent, for the next few dozen (a set whose requests all grow long gets
 * there within a dozen of them).
 */
#define LEARN_CAP 8

static void learn(pt_workerset *ws, int64_t ran_ns)
{
    if (ran_ns < 1)
        ran_ns = 1;
    if (ws->avg_ns && ran_ns / LEARN_CAP > ws->avg_ns)
        ran_ns = LEARN_CAP * ws->avg_ns;
    ws->avg_ns = ws->avg_ns ? ws->avg_ns - ws->avg_ns / 8 + ran_ns / 8 : ran_ns;
    /* A set whose kernels print goes one request at a time: the lines a
     * worker prints can only be told apart by the answer that follows. */
    if (ws->batch_opt || ws->printed)
        return;
    int64_t b = BATCH_WORK_NS / (ws->avg_ns ? ws->avg_ns : 1);
    ws->batch = b < 1 ? 1 : b > BATCH_MAX ? BATCH_MAX : (int)b;
}

/* ---- receiving ---- */

/* Decode an ERROR payload into a reply. */
static pt_reply *error_reply(pt_workerset *ws, const pt_request *req,
                             const uint8_t *p, uint32_t len,
                             pt__res_head *times)
{
    pt__err_head h;
    if (len < sizeof h)
        return NULL;
    memcpy(&h, p, sizeof h);
    if ((uint64_t)sizeof h + h.msg_len + 1 > h.results_off ||
        h.results_off > len || h.results_off % 8 ||
        p[sizeof h + h.msg_len] != '\0')
        return NULL;
    *times = (pt__res_head){h.start_ns, h.end_ns};
    return pt__reply_create_pooled(&ws->replies, req->id, PT_TASK_FAILED,
                                   req->worker, (const char *)p + sizeof h,
                                   p + h.results_off, len - h.results_off);
}

/*
 * A RESULT payload: the times, then the results, a value. The reply checks
 * them as it opens them as a map (once: that is a task's one look at
 * them); only a value that is not a map is looked at again.
 */
static pt_reply *result_reply(pt_workerset *ws, const pt_request *req,
                              const uint8_t *p, uint32_t len,
                              pt__res_head *times)
{
    if (len <= sizeof *times)
        return NULL;
    memcpy(times, p, sizeof *times);
    pt_reply *r = pt__reply_create_pooled(&ws->replies, req->id, PT_TASK_OK,
                                          req->worker, NULL, p + sizeof *times,
                                          len - sizeof *times);
    if (r && !pt_reply_results_ok(r) &&
        pt_value_check(p + sizeof *times, len - sizeof *times, PT_V_MAX_DEPTH) <
            0) {
        pt_reply_destroy(r);
        return NULL;
    }
    return r;
}

/*
 * Map worker s's result buffer so that its first `n` bytes can be read: 0,
 * -EPROTO when the buffer is smaller (the worker lied), or -errno. The
 * memfd cannot shrink (sealed), so what was mapped stays readable.
 */
static int shm_map(slot *s, uint64_t n)
{
    if (n <= s->shm_size)
        return 0;
    struct stat st;
    if (fstat(s->shm_fd, &st) < 0)
        return -errno;
    if ((uint64_t)st.st_size < n)
        return -EPROTO;
    uint64_t size = (uint64_t)st.st_size; /* may be far larger: cap it */
    if (size > PT__SHM_RESULT_MAX)
        size = PT__SHM_RESULT_MAX;
    if (s->shm)
        munmap((void *)s->shm, s->shm_size);
    s->shm = NULL;
    s->shm_size = 0;
    void *m = pt_sys_mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, s->shm_fd,
                          0);
    if (m == MAP_FAILED)
        return -errno;
    s->shm = m;
    s->shm_size = (size_t)size;
    return 0;
}

/*
 * A RESULT_SHM payload: the results wait in worker s's buffer. They are
 * copied out, then the copy (never the shared bytes, which the worker
 * could still change) is checked; then the worker may reuse the buffer.
 * NULL for a bad frame; a reply of a failed task if memory ran out, or
 * if the buffer could not be mapped here (our failure, not the worker's).
 */
static pt_reply *shm_result_reply(slot *s, const pt_request *req,
                                  const uint8_t *p, uint32_t len,
                                  pt__res_head *times)
{
    pt__res_shm h;
    if (len != sizeof h || s->shm_fd < 0)
        return NULL;
    memcpy(&h, p, sizeof h);
    int mapped = h.len < PT__EMPTY_MAP_LEN || h.len > PT__SHM_RESULT_MAX
                     ? -EPROTO
                     : shm_map(s, h.len);
    if (mapped == -EPROTO) /* the worker lied */
        return NULL;
    *times = (pt__res_head){h.start_ns, h.end_ns};
    pt_reply *r = mapped < 0 ? NULL
                             : pt_reply_create(req->id, PT_TASK_OK, req->worker,
                                               NULL, s->shm, (size_t)h.len);
    atomic_fetch_add_explicit(&s->beacon->released, 1, memory_order_release);
    if (!r) {
        char why[160];
        snprintf(why, sizeof why, "%s for a result of %llu bytes%s%s",
                 mapped < 0 ? "cannot map the worker's buffer"
                            : "out of "
                              "memory",
                 (unsigned long long)h.len, mapped < 0 ? ": " : "",
                 mapped < 0 ? pt_strerror(mapped) : "");
        r = pt_reply_create(req->id, PT_TASK_FAILED, req->worker, why, NULL, 0);
        return pt__ws_reply_or_bare(r, req->id, PT_TASK_FAILED, req->worker);
    }
    if (!pt_reply_results_ok(r)) {
        pt_reply_destroy(r);
        return NULL;
    }
    return r;
}

/* Write to worker s what it has waiting, unless its pipe was full at the
 * last try and fewer than PT__OUT_FULL_ANSWERS answers were taken since (nor
 * did poll say it takes more): a worker in a long task does not read, and
 * a try after each answer of another worker was a failed write a task. */
static void flush_if_room(slot *s)
{
    if (s->out.len > s->out_off && (!s->out_full || !--s->out_full))
        pt__ws_flush(s);
}

/* Write what worker s, and with posting to all every other worker, has
 * waiting: a posted request must reach a free worker now, not once s's
 * answers run dry. */
static void flush_fast(pt_workerset *ws, slot *s)
{
    if (!ws->post_all) {
        flush_if_room(s);
        return;
    }
    for (int i = 0; i < ws->n; i++) {
        slot *o = &ws->slots[i];
        if (pt__ws_slot_takes(o))
            flush_if_room(o);
    }
}

/* One reply frame from worker s: it answers its oldest request. */
static int on_frame(pt_workerset *ws, slot *s, const pt__wire_hdr *hdr,
                    const uint8_t *p)
{
    pt_request *req = s->head;
    /* Posted to all (ws_posted.c), a request joins the FIFO when it is seen
     * claimed: the worker may have claimed it before older ones it had
     * not reached yet, which it answers later. */
    while (req && req->id != hdr->task_id && (req->all || !pt__ws_started(req)))
        req = req->next;
    /* Not found, or stopped at one of its own it started later (a request
     * sent to it alone, after posted ones it ran and answers now): the
     * answer is to a posted request whose claim is not seen yet. */
    if ((!req || req->id != hdr->task_id) && ws->posted_head) {
        pt__ws_see_claims(ws, true);
        for (req = s->head; req && req->id != hdr->task_id &&
                            (req->all || !pt__ws_started(req));
             req = req->next)
            ;
    }
    if (!req || req->id != hdr->task_id)
        return pt__err(-EPROTO, "worker %d answered task %llu out of turn",
                       s->index, (unsigned long long)hdr->task_id);
    pt__ws_announce(ws, s); /* it started: it claimed it */
    pt_reply *r;
    pt__res_head t;
    if (hdr->type == PT__WIRE_RESULT)
        r = result_reply(ws, req, p, hdr->len, &t);
    else if (hdr->type == PT__WIRE_ERROR)
        r = error_reply(ws, req, p, hdr->len, &t);
    else if (hdr->type == PT__WIRE_RESULT_SHM)
        r = shm_result_reply(s, req, p, hdr->len, &t);
    else
        return pt__err(-EPROTO, "worker %d sent frame type %d", s->index,
                       hdr->type);
    if (!r || t.end_ns < t.start_ns) {
        pt_reply_destroy(r);
        return pt__err(-EPROTO, "worker %d sent a malformed reply", s->index);
    }
    pt_reply_set_times(r, t.start_ns, t.end_ns);
    /* What it printed for this task comes first. Sets that have printed
     * nothing yet look only when poll saw output: no syscalls per task. */
    if (ws->output_fn && (s->out_ready || ws->printed))
        pt__ws_read_output(ws, s, (int64_t)req->id);
    learn(ws, t.end_ns - t.start_ns);
    ws->succeeded++;
    ws->deaths_in_a_row = 0;
    if (!req->told) /* a frame too short to claim, or out of FIFO order */
        pt__ws_tell(ws, req, t.start_ns);
    pt__ws_fifo_remove(s, req);
    pt__ws_unclaim(ws, req);
    s->ninflight--;
    pt__ws_slot_event(s, s->ninflight ? PT__SLOT_EV_ANSWERED
                                      : PT__SLOT_EV_ALL_ANSWERED);
    /* The worker may be idle now: send its next requests before the
     * owner's bookkeeping of this one (unbatched, that is the worker's
     * wait). Only where a write cannot raise a deadly SIGPIPE; a worker
     * gone is seen by the next poll. Not after a task that failed: its
     * owner hears of it first, and may hold the set (ptrun's `halt`). */
    if (pt__wire_sigpipe_harmless() && !ws->broken && pt__ws_slot_takes(s) &&
        pt_reply_status(r) == PT_TASK_OK) {
        pt__ws_fill_slot(ws, s);
        flush_fast(ws, s);
        pt__ws_announce(ws, s);
    }
    pt__ws_finish(ws, req, r);
    return 0;
}

/* Reads of one worker's answers in one drain: a worker answering as fast
 * as we read would otherwise keep us from writing to the others. */
#define DRAIN_FILLS_MAX 2

/*
 * Read and handle what worker s sent: 0, 1 at end of stream, -errno. A
 * short read ends the round without one more read for EAGAIN: what comes
 * later, poll will tell; so does DRAIN_FILLS_MAX full reads.
 */
int pt__ws_drain(pt_workerset *ws, slot *s)
{
    pt__ws_see_claims(ws, false); /* before its answers to them */
    for (int emptied = 0, fills = 0;;
         emptied = s->rd.short_read || fills == DRAIN_FILLS_MAX) {
        const uint8_t *p;
        pt__wire_hdr hdr;
        int rc;
        while ((rc = pt__wire_reader_next(&s->rd, &hdr, &p)) == 1)
            if ((rc = on_frame(ws, s, &hdr, p)) < 0)
                return rc;
        if (rc < 0 || emptied)
            return rc < 0 ? rc : 0;
        ssize_t n = pt__wire_reader_fill(&s->rd, s->from_fd);
        fills++;
        if (n == -EAGAIN)
            return 0;
        if (n == 0)
            return 1;
        if (n < 0)
            return (int)n;
    }
}
