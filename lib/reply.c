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
/* Results up to this size get this much room, so that their reply can be
 * reused for any other such (pt__reply_recycle). */
#define POOLED_RESULTS ((size_t)64)

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
    struct pt_reply *next; /* in a pt__reply_pool */
};

_Static_assert(sizeof(struct pt_reply) % 8 == 0, "inline results 8-aligned");
_Static_assert(POOLED_RESULTS >= sizeof pt__empty_map, "the empty map fits");

/* Whether r's results are in its own allocation (INLINE_RESULTS). */
static bool inline_results(const pt_reply *r)
{
    return r->results.data == (const uint8_t *)(r + 1);
}

/* A reply's memory for results of `len` bytes, from the pool if it can. */
static pt_reply *reply_alloc(pt__reply_pool *pool, size_t len)
{
    if (len > INLINE_RESULTS)
        return malloc(sizeof(pt_reply));
    if (len > POOLED_RESULTS)
        return malloc(sizeof(pt_reply) + len);
    pt_reply *r = pool ? pool->head : NULL;
    if (!r)
        return malloc(sizeof(pt_reply) + POOLED_RESULTS);
    pool->head = r->next;
    pool->n--;
    return r;
}

/* Every member but the results and their map, which the caller sets:
 * stores, not a whole-struct clear (a `rep stos`, slow to start). */
static void reply_init(pt_reply *r, int64_t task, pt_task_status status,
                       int worker)
{
    r->task = task;
    r->status = status;
    r->worker = worker;
    r->signal = 0;
    r->exit_code = -1;
    r->max_rss_kb = 0;
    r->start_ns = r->end_ns = 0;
    r->error = NULL;
    r->results = (pt_buf){0};
    r->map.ok = false;
    r->next = NULL;
}

/* Copy n <= POOLED_RESULTS bytes in a few word moves (an inlined memcpy
 * of a variable size is a `rep movs`, slow to start). */
static void copy_small(uint8_t *d, const uint8_t *s, size_t n)
{
    if (n >= 16) {
        for (size_t i = 0; i + 16 < n; i += 16)
            memcpy(d + i, s + i, 16);
        memcpy(d + n - 16, s + n - 16, 16);
    } else if (n >= 8) {
        memcpy(d, s, 8);
        memcpy(d + n - 8, s + n - 8, 8);
    } else {
        for (size_t i = 0; i < n; i++)
            d[i] = s[i];
    }
}

pt_reply *pt__reply_create_pooled(pt__reply_pool *pool, int64_t task,
                                  pt_task_status status, int worker,
                                  const char *error, const void *results,
                                  size_t len)
{
    if (!results || len == 0) {
        results = pt__empty_map;
        len = PT__EMPTY_MAP_LEN;
    }
    bool small = len <= INLINE_RESULTS; /* 8-aligned after the struct */
    pt_reply *r = reply_alloc(pool, len);
    if (!r)
        return NULL;
    reply_init(r, task, status, worker);
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
    /* The empty map (small tasks' results) goes in as one 16-byte store,
     * which the look at it that follows can read back at once. */
    if (len == PT__EMPTY_MAP_LEN && memcmp(results, pt__empty_map, len) == 0)
        memcpy(r->results.data, pt__empty_map, sizeof pt__empty_map);
    else if (len <= POOLED_RESULTS)
        copy_small(r->results.data, results, len);
    else
        memcpy(r->results.data, results, len);
    r->results.len = r->results.cap = len;
    if (len <= POOLED_RESULTS)
        r->results.cap = POOLED_RESULTS;
    pt__map_open(&r->map, r->results.data, r->results.len);
    return r;
}

pt_reply *pt_reply_create(int64_t task, pt_task_status status, int worker,
                          const char *error, const void *results, size_t len)
{
    return pt__reply_create_pooled(NULL, task, status, worker, error, results,
                                   len);
}

void pt__reply_recycle(pt__reply_pool *pool, pt_reply *r)
{
    if (!r || !inline_results(r) || r->results.cap != POOLED_RESULTS ||
        pool->n >= PT__REPLY_POOL_MAX) {
        pt_reply_destroy(r);
        return;
    }
    free(r->error);
    r->error = NULL;
    r->next = pool->head;
    pool->head = r;
    pool->n++;
}

void pt__reply_pool_free(pt__reply_pool *pool)
{
    while (pool->head) {
        pt_reply *r = pool->head;
        pool->head = r->next;
        pt_reply_destroy(r);
    }
    pool->n = 0;
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
