/*
 * task.h - the private side of args.h: sealed argument bytes, reply
 * construction, and typed look-ups in an encoded map shared by pt_reply (the
 * caller's view of results) and pt_ctx (the kernel's view of arguments).
 */
#ifndef PT_TASK_H
#define PT_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ptools/args.h>

#include "value.h"

/* The encoded map of an empty argument list or result set. */
extern const uint64_t pt__empty_map[2];
#define PT__EMPTY_MAP_LEN 9

/*
 * Sealed args that take over `map` (an encoded map, e.g. built with the
 * value encoder from a job spec); `map` is left empty. NULL + errno.
 */
pt_args *pt__args_adopt(pt_buf *map);

/* Seal `a` (NULL: no arguments) and give its encoded map. 0 or -errno. */
int pt__args_bytes(pt_args *a, const uint8_t **bytes, size_t *len);

/* A reply owning a copy of `results` (an encoded map; NULL/0: none). */
pt_reply *pt__reply_new(uint64_t task, pt_task_status status, int worker,
                        const char *error, const void *results, size_t len);
/*
 * Did the reply's results (its own copy) pass pt__value_check() as a map?
 * A reply made from untrusted bytes is checked here, after the copy.
 */
bool pt__reply_results_ok(const pt_reply *r);
/* Record how the worker died: signal, exit code, its peak RSS in KiB. */
void pt__reply_set_death(pt_reply *r, int signal, int exit_code,
                         int64_t max_rss_kb);
/* The reply's encoded results map, as it came (to pass it on). */
void pt__reply_results(const pt_reply *r, const uint8_t **p, size_t *len);
/* Record when the task ran in its worker (CLOCK_MONOTONIC ns). */
void pt__reply_set_times(pt_reply *r, int64_t start_ns, int64_t end_ns);

/*
 * A view of an encoded map checked once (pt__map_open), then read by key.
 * A map that failed the check reads as empty.
 */
typedef struct pt__map {
    pt__val map;
    bool ok;
} pt__map;

int pt__map_open(pt__map *m, const void *base, size_t len);
bool pt__map_get(const pt__map *m, const char *key, pt__val *out);
int64_t pt__map_int(const pt__map *m, const char *key, int64_t def);
double pt__map_real(const pt__map *m, const char *key, double def);
bool pt__map_bool(const pt__map *m, const char *key, bool def);
const char *pt__map_str(const pt__map *m, const char *key, const char *def);
const int64_t *pt__map_ints(const pt__map *m, const char *key, size_t *len);
const double *pt__map_reals(const pt__map *m, const char *key, size_t *len);
const void *pt__map_bytes(const pt__map *m, const char *key, size_t *len);

#endif
