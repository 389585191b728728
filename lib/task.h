/*
 * task.h - the private side of args.h and reply.h: typed look-ups in an
 * encoded map shared by pt_reply (the caller's view of results) and pt_ctx
 * (the kernel's view of arguments).
 */
#ifndef PT_TASK_H
#define PT_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ptools/args.h>
#include <ptools/reply.h>
#include <ptools/value.h>

/* The encoded map of an empty argument list or result set. */
extern const uint64_t pt__empty_map[2];
#define PT__EMPTY_MAP_LEN 9

/*
 * A view of an encoded map checked once (pt__map_open), then read by key.
 * A map that failed the check reads as empty.
 */
typedef struct pt__map {
    pt_val map;
    bool ok;
} pt__map;

int pt__map_open(pt__map *m, const void *base, size_t len);

/*
 * Replies kept for reuse (a worker set's): pt__reply_create_pooled takes
 * one when it can, pt__reply_recycle gives one back (the small ones, up
 * to PT__REPLY_POOL_MAX of them), pt__reply_pool_free frees them all.
 */
typedef struct pt__reply_pool {
    pt_reply *head;
    int n;
} pt__reply_pool;
#define PT__REPLY_POOL_MAX 4096
/* pt_reply_create, from the pool when it has one of the right size. */
pt_reply *pt__reply_create_pooled(pt__reply_pool *pool, int64_t task,
                                  pt_task_status status, int worker,
                                  const char *error, const void *results,
                                  size_t len);
/* Keep r (or NULL) in the pool if it fits, else destroy it. */
void pt__reply_recycle(pt__reply_pool *pool, pt_reply *r);
void pt__reply_pool_free(pt__reply_pool *pool);
bool pt__map_get(const pt__map *m, const char *key, pt_val *out);
int64_t pt__map_int(const pt__map *m, const char *key, int64_t def);
double pt__map_real(const pt__map *m, const char *key, double def);
bool pt__map_bool(const pt__map *m, const char *key, bool def);
const char *pt__map_str(const pt__map *m, const char *key, const char *def);
const int64_t *pt__map_ints(const pt__map *m, const char *key, size_t *len);
const double *pt__map_reals(const pt__map *m, const char *key, size_t *len);
const void *pt__map_bytes(const pt__map *m, const char *key, size_t *len);

#endif
