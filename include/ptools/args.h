/*
 * ptools/args.h - what a caller sends to a task.
 *
 * pt_args builds a task's arguments: a map from names to ints, reals, bools,
 * strings and int/real arrays, each name once. Build it, then pass it to any
 * number of calls (pt_remotecall, pt_queue_submit, ...): the first call seals
 * it, after which it can no longer change (-EBUSY). What comes back is a
 * pt_reply (ptools/reply.h).
 */
#ifndef PTOOLS_ARGS_H
#define PTOOLS_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ptools/buf.h>
#include <ptools/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_args pt_args;

/* NULL + errno (ENOMEM). */
PT_EXTERN pt_args *pt_args_create(void);
PT_EXTERN void pt_args_destroy(pt_args *a);
/* Each returns 0, -EEXIST (name set already), -EBUSY (sealed) or -errno. */
PT_EXTERN int pt_args_int(pt_args *a, const char *key, int64_t v);
PT_EXTERN int pt_args_real(pt_args *a, const char *key, double v);
PT_EXTERN int pt_args_bool(pt_args *a, const char *key, bool v);
PT_EXTERN int pt_args_str(pt_args *a, const char *key, const char *v);
PT_EXTERN int pt_args_ints(pt_args *a, const char *key, const int64_t *p,
                           size_t n);
PT_EXTERN int pt_args_reals(pt_args *a, const char *key, const double *p,
                            size_t n);

/*
 * Sealed args that take over `map` (one encoded map, built with the value
 * encoder of ptools/value.h, e.g. from a job spec); `map` is left empty.
 * The way to send values encoded once as they are. NULL + errno.
 */
PT_EXTERN pt_args *pt_args_from_buf(pt_buf *map);
/*
 * Make `a` hold a copy of the encoded map `map` (len bytes), sealed, in
 * place of what it held: its memory is reused, so one pt_args can carry
 * task after task. 0; -EBUSY while a request still holds `a` (submitted
 * and not done); -EBADMSG (a is unchanged) if `map` is no encoded map.
 */
PT_EXTERN int pt_args_set_encoded(pt_args *a, const void *map, size_t len);
/*
 * pt_args_from_buf() into args already made: `a` takes over `map`'s bytes
 * (sealed, unchecked like pt_args_from_buf's: one encoded map from the
 * value encoder) and `map` gets `a`'s memory back, emptied, to encode the
 * next map in. So one pt_args and one pt_buf carry task after task with
 * no allocation and no copy. 0; -EBUSY while a request still holds `a`
 * (then neither changes).
 */
PT_EXTERN int pt_args_set_buf(pt_args *a, pt_buf *map);
/* Seal `a` (NULL: no arguments) and give its encoded map (valid while `a`
 * lives). 0 or -errno. */
PT_EXTERN int pt_args_encoded(pt_args *a, const uint8_t **bytes, size_t *len);

/* The most one request to a worker carries (its frame), and the most
 * encoded args in it: the frame less its 40-byte head. Bulk data goes in a
 * pt_shm segment. */
#define PT_REQUEST_MAX ((size_t)64 << 20)
#define PT_ARGS_MAX (PT_REQUEST_MAX - 40)

#ifdef __cplusplus
}
#endif
#endif
