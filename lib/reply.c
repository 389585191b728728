/* reply.c - a finished task as the caller sees it (args.h, task.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "os.h"
#include "task.h"

/* Results this large get huge pages, if the system has them: copying 64
 * MiB into fresh memory costs 4 times less so (one fault per 2 MiB). */
#define HUGE_RESULTS ((size_t)4 << 20)
/* Results up to this size live in the reply's own allocation: one malloc
 * a task, not two. */
#define INLINE_RESULTS ((size_t)512)

struct pt_reply {
    int64_t task;
    pt_task_status status;
    int worker;
    int signal;
    int exit_code;
    int64_t max_rss_kb;
    int64_t start_ns, end_ns; /* when it ran in the worker, or 0 */
    char *error;
    pt_buf results; /* an encoded map; small ones just after the struct */
    pt__map map;
};

_Static_assert(sizeof(struct pt_reply) % 8 == 0, "inline results 8-aligned");

/* Whether r's results are in its own allocation (INLINE_RESULTS). */
static bool inline_results(const pt_reply *r)
{
    return r->results.data == (const uint8_t *)(r + 1);
}

pt_reply *pt_reply_create(int64_t task, pt_task_status status, int worker,
                          const char *error, const void *results, size_t len)
{
    if (!results || len == 0) {
        results = pt__empty_map;
        len = PT__EMPTY_MAP_LEN;
    }
    bool small = len <= INLINE_RESULTS; /* 8-aligned after the struct */
    pt_reply *r = malloc(sizeof *r + (small ? len : 0));
    if (!r)
        return NULL;
    *r = (pt_reply){
        .task = task, .status = status, .worker = worker, .exit_code = -1};
    if (small)
        r->results.data = (uint8_t *)(r + 1);
    /* exactly `len` bytes: results may be large */
    if ((error && !(r->error = strdup(error))) ||
        (!small && !(r->results.data = malloc(len)))) {
        pt_reply_destroy(r);
        return NULL;
    }
    if (len >= HUGE_RESULTS)
        pt__os_advise_huge(r->results.data, len);
    memcpy(r->results.data, results, len);
    r->results.len = r->results.cap = len;
    pt__map_open(&r->map, r->results.data, r->results.len);
    return r;
}

bool pt_reply_results_ok(const pt_reply *r)
{
    return r->map.ok;
}

void pt_reply_set_death(pt_reply *r, int signal, int exit_code,
                        int64_t max_rss_kb)
{
    r->signal = signal;
    r->exit_code = exit_code;
    r->max_rss_kb = max_rss_kb;
}

void pt_reply_set_times(pt_reply *r, int64_t start_ns, int64_t end_ns)
{
    r->start_ns = start_ns;
    r->end_ns = end_ns;
}

int64_t pt_reply_start_ns(const pt_reply *r)
{
    return r->start_ns;
}

int64_t pt_reply_end_ns(const pt_reply *r)
{
    return r->end_ns;
}

int pt_reply_exit_code(const pt_reply *r)
{
    return r->exit_code;
}

int64_t pt_reply_max_rss_kb(const pt_reply *r)
{
    return r->max_rss_kb;
}

pt_task_status pt_reply_status(const pt_reply *r)
{
    return r->status;
}

const char *pt_reply_error(const pt_reply *r)
{
    if (r->status == PT_TASK_OK)
        return NULL;
    return r->error ? r->error : pt_task_status_name(r->status);
}

int pt_reply_signal(const pt_reply *r)
{
    return r->signal;
}

int64_t pt_reply_task(const pt_reply *r)
{
    return r->task;
}

int pt_reply_worker(const pt_reply *r)
{
    return r->worker;
}

bool pt_reply_has(const pt_reply *r, const char *key)
{
    pt_val v;
    return pt__map_get(&r->map, key, &v);
}

int64_t pt_reply_int(const pt_reply *r, const char *key, int64_t def)
{
    return pt__map_int(&r->map, key, def);
}

double pt_reply_real(const pt_reply *r, const char *key, double def)
{
    return pt__map_real(&r->map, key, def);
}

bool pt_reply_bool(const pt_reply *r, const char *key, bool def)
{
    return pt__map_bool(&r->map, key, def);
}

const char *pt_reply_str(const pt_reply *r, const char *key, const char *def)
{
    return pt__map_str(&r->map, key, def);
}

const int64_t *pt_reply_ints(const pt_reply *r, const char *key, size_t *len)
{
    return pt__map_ints(&r->map, key, len);
}

const double *pt_reply_reals(const pt_reply *r, const char *key, size_t *len)
{
    return pt__map_reals(&r->map, key, len);
}

const void *pt_reply_bytes(const pt_reply *r, const char *key, size_t *len)
{
    return pt__map_bytes(&r->map, key, len);
}

void pt_reply_results(const pt_reply *r, const uint8_t **p, size_t *len)
{
    *p = r->results.data;
    *len = r->results.len;
}

size_t pt_reply_count(const pt_reply *r)
{
    return r->map.ok ? r->map.map.u.c.count : 0;
}

int pt_reply_json(const pt_reply *r, pt_buf *out)
{
    return pt_value_to_json(r->results.data, r->results.len, out);
}

void pt_reply_destroy(pt_reply *r)
{
    if (r) {
        free(r->error);
        if (!inline_results(r))
            pt_buf_free(&r->results);
        free(r);
    }
}
