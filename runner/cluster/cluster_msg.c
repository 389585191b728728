/* cluster_msg.c - packing the messages of cluster.h (see cluster_msg.h). */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "cluster/cluster_msg.h"

/* Every item starts 8-aligned, so encoded maps stay aligned in place. */
typedef struct task_head {
    int64_t id;
    int32_t set, kernel, step, worker;
    uint32_t args_len, pad;
    int64_t priority;
} task_head;

typedef struct result_head {
    int64_t id;
    int32_t status, worker, signal, exit_code;
    int64_t max_rss_kb, start_ns, end_ns;
    uint32_t error_len; /* with its NUL; 0: no error */
    uint32_t results_len;
    int32_t kind, pad;
} result_head;

/* The head of every batch: magic, count, stamp, flags. */
typedef struct msg_head {
    uint32_t magic, count;
    int64_t stamp;
    uint32_t flags, pad;
} msg_head;

#define COUNT_AT offsetof(msg_head, count)

static size_t pad8(size_t n)
{
    return (8 - n % 8) % 8;
}

static int add_padded(pt_buf *b, const void *p, size_t n)
{
    static const uint8_t zeros[8];
    int rc = pt_buf_append(b, p, n);
    return rc < 0 ? rc : pt_buf_append(b, zeros, pad8(n));
}

void rn_msg_begin(pt_buf *b, uint32_t magic)
{
    msg_head h = {.magic = magic};
    pt_buf_reset(b);
    pt_buf_append(b, &h, sizeof h);
}

void rn_msg_set_head(pt_buf *b, int64_t stamp, uint32_t flags)
{
    msg_head h;
    if (b->len < sizeof h)
        return;
    memcpy(&h, b->data, sizeof h);
    h.stamp = stamp;
    h.flags = flags;
    memcpy(b->data, &h, sizeof h);
}

uint32_t rn_msg_count(const pt_buf *b)
{
    uint32_t n = 0;
    if (b->len >= sizeof(msg_head))
        memcpy(&n, b->data + COUNT_AT, sizeof n);
    return n;
}

static int counted(pt_buf *b, int rc)
{
    if (rc < 0 || b->len < sizeof(msg_head))
        return rc < 0 ? rc : -EINVAL;
    uint32_t n = rn_msg_count(b) + 1;
    memcpy(b->data + COUNT_AT, &n, sizeof n);
    return 0;
}

int rn_msg_add_task(pt_buf *b, const rn_msg_task *t)
{
    task_head h = {t->id,     t->set,      t->kernel, t->step,
                   t->worker, t->args_len, 0,         t->priority};
    size_t before = b->len;
    int rc = pt_buf_append(b, &h, sizeof h);
    if (rc == 0)
        rc = add_padded(b, t->args, t->args_len);
    if (rc < 0)
        b->len = before;
    return counted(b, rc);
}

int rn_msg_add_result(pt_buf *b, const rn_msg_result *r)
{
    size_t elen = r->error ? strlen(r->error) + 1 : 0;
    result_head h = {r->id,          r->status,      r->worker,   r->signal,
                     r->exit_code,   r->max_rss_kb,  r->start_ns, r->end_ns,
                     (uint32_t)elen, r->results_len, r->kind,     0};
    size_t before = b->len;
    int rc = elen > UINT32_MAX / 2 ? -E2BIG : pt_buf_append(b, &h, sizeof h);
    if (rc == 0)
        rc = add_padded(b, r->error, elen);
    if (rc == 0)
        rc = add_padded(b, r->results, r->results_len);
    if (rc < 0)
        b->len = before;
    return counted(b, rc);
}

int rn_msg_open(rn_msg_reader *r, const void *p, size_t len, uint32_t magic)
{
    msg_head h;
    *r = (rn_msg_reader){.p = p, .len = len, .off = sizeof h};
    if (len < sizeof h || (uintptr_t)p % 8)
        return -EBADMSG;
    memcpy(&h, p, sizeof h);
    if (h.magic != magic)
        return -EBADMSG;
    r->left = h.count;
    r->stamp = h.stamp;
    r->flags = h.flags;
    return 0;
}

int rn_msg_take(pt_buf *b, int64_t stamp, int64_t any, const int64_t *ids,
                uint32_t n)
{
    rn_msg_begin(b, RN_MSG_TAKE);
    rn_msg_set_head(b, stamp, 0);
    int rc = pt_buf_append(b, &any, sizeof any);
    if (rc == 0 && n)
        rc = pt_buf_append(b, ids, n * sizeof *ids);
    if (rc == 0)
        memcpy(b->data + COUNT_AT, &n, sizeof n);
    return rc;
}

int rn_msg_read_take(const void *p, size_t len, int64_t *any,
                     const int64_t **ids, uint32_t *n)
{
    msg_head h;
    if (len < sizeof h + sizeof *any || (uintptr_t)p % 8)
        return -EBADMSG;
    memcpy(&h, p, sizeof h);
    if (h.magic != RN_MSG_TAKE ||
        (len - sizeof h - sizeof *any) / sizeof **ids != h.count ||
        (len - sizeof h - sizeof *any) % sizeof **ids)
        return -EBADMSG;
    memcpy(any, (const uint8_t *)p + sizeof h, sizeof *any);
    *ids = (const int64_t *)((const uint8_t *)p + sizeof h + sizeof *any);
    *n = h.count;
    return *any < 0 ? -EBADMSG : 0;
}

/* Take n bytes (then padding) at the cursor: NULL if they are not there. */
static const uint8_t *take(rn_msg_reader *r, size_t n)
{
    size_t room = r->len - r->off;
    if (n > room || pad8(n) > room - n)
        return NULL;
    const uint8_t *p = r->p + r->off;
    r->off += n + pad8(n);
    return p;
}

/* The next item's fixed head into h: 1, 0 at the end, -EBADMSG. */
static int next_head(rn_msg_reader *r, void *h, size_t size)
{
    if (!r->left)
        return r->off == r->len ? 0 : -EBADMSG;
    const uint8_t *p = take(r, size);
    if (!p)
        return -EBADMSG;
    memcpy(h, p, size);
    return 1;
}

int rn_msg_next_task(rn_msg_reader *r, rn_msg_task *t)
{
    task_head h;
    int rc = next_head(r, &h, sizeof h);
    if (rc < 1)
        return rc;
    const uint8_t *args = take(r, h.args_len);
    if (!args || h.id < 0 || h.set < 0 || h.kernel < 0 || h.worker < -1)
        return -EBADMSG;
    *t = (rn_msg_task){h.id,     h.set,      h.kernel, h.step,
                       h.worker, h.args_len, args,     h.priority};
    r->left--;
    return 1;
}

int rn_msg_next_result(rn_msg_reader *r, rn_msg_result *out)
{
    result_head h;
    int rc = next_head(r, &h, sizeof h);
    if (rc < 1)
        return rc;
    const uint8_t *err = take(r, h.error_len);
    const uint8_t *res = err ? take(r, h.results_len) : NULL;
    if (!res || h.id < 0 || h.status < 0 || h.status > 4 ||
        h.kind < RN_RES_DONE || h.kind > RN_RES_BACK ||
        (h.error_len && err[h.error_len - 1] != '\0'))
        return -EBADMSG;
    *out = (rn_msg_result){h.id,
                           h.status,
                           h.worker,
                           h.signal,
                           h.exit_code,
                           h.max_rss_kb,
                           h.start_ns,
                           h.end_ns,
                           h.error_len ? (const char *)err : NULL,
                           h.results_len ? res : NULL,
                           h.results_len,
                           h.kind};
    r->left--;
    return 1;
}
