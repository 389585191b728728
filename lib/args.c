/* args.c - task arguments (pt_args) and typed map look-ups (task.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "task.h"
#include "ws.h"

/* tag 0x0A, count 0, size 0 (little-endian), in an 8-aligned array. */
const uint64_t pt__empty_map[2] = {0x0A};

struct pt_args {
    pt_buf buf;
    pt_vmark mark;
    bool sealed;
    int refs; /* the caller's, plus one per request holding it */
};

pt_args *pt_args_create(void)
{
    pt_args *a = calloc(1, sizeof *a);
    if (!a || pt_venc_map_begin(&a->buf, &a->mark) < 0) {
        free(a);
        errno = ENOMEM;
        return NULL;
    }
    a->refs = 1;
    return a;
}

pt_args *pt_args_from_buf(pt_buf *map)
{
    pt_args *a = calloc(1, sizeof *a);
    if (!a) {
        errno = ENOMEM;
        return NULL;
    }
    a->buf = *map;
    pt_buf_init(map);
    a->sealed = true;
    a->refs = 1;
    return a;
}

int pt_args_set_encoded(pt_args *a, const void *map, size_t len)
{
    if (a->refs > 1)
        return pt__err(-EBUSY, "args: set again while a request holds them");
    int rc = pt_value_check(map, len, PT_V_MAX_DEPTH);
    if (rc == 0 && ((const uint8_t *)map)[0] != PT_V_MAP)
        rc = pt__err(-EBADMSG, "args: not an encoded map");
    if (rc < 0)
        return rc;
    pt_buf_reset(&a->buf);
    if ((rc = pt_buf_append(&a->buf, map, len)) < 0)
        return rc;
    a->sealed = true;
    return 0;
}

int pt_args_set_buf(pt_args *a, pt_buf *map)
{
    if (a->refs > 1)
        return pt__err(-EBUSY, "args: set again while a request holds them");
    pt_buf old = a->buf;
    a->buf = *map;
    a->sealed = true;
    pt_buf_reset(&old);
    *map = old;
    return 0;
}

/* Requests keep the args they were given until they are done. */
void pt__args_prefetch(const pt_args *a)
{
    if (a)
        __builtin_prefetch(a->buf.data);
}

pt_args *pt__args_ref(pt_args *a)
{
    if (a)
        a->refs++;
    return a;
}

void pt_args_destroy(pt_args *a)
{
    if (a && --a->refs == 0) {
        pt_buf_free(&a->buf);
        free(a);
    }
}

/* Start an entry: the key, unless sealed or present. */
static int put_key(pt_args *a, const char *key)
{
    if (a->sealed)
        return pt__err(-EBUSY, "args: '%s' set after the args were sent", key);
    int rc = pt_venc_key(&a->buf, &a->mark, key);
    if (rc == -EEXIST)
        return pt__err(rc, "args: '%s' is set twice", key);
    return rc;
}

int pt_args_int(pt_args *a, const char *key, int64_t v)
{
    int rc = put_key(a, key);
    return rc < 0 ? rc : pt_venc_int(&a->buf, v);
}

int pt_args_real(pt_args *a, const char *key, double v)
{
    int rc = put_key(a, key);
    return rc < 0 ? rc : pt_venc_real(&a->buf, v);
}

int pt_args_bool(pt_args *a, const char *key, bool v)
{
    int rc = put_key(a, key);
    return rc < 0 ? rc : pt_venc_bool(&a->buf, v);
}

int pt_args_str(pt_args *a, const char *key, const char *v)
{
    int rc = put_key(a, key);
    return rc < 0 ? rc : pt_venc_str(&a->buf, v);
}

int pt_args_ints(pt_args *a, const char *key, const int64_t *p, size_t n)
{
    int rc = put_key(a, key);
    return rc < 0 ? rc : pt_venc_ints(&a->buf, p, n);
}

int pt_args_reals(pt_args *a, const char *key, const double *p, size_t n)
{
    int rc = put_key(a, key);
    return rc < 0 ? rc : pt_venc_reals(&a->buf, p, n);
}

/* Close a's map: done once, at its first send (kept apart from
 * pt_args_encoded(), which a set calls several times a task and which then
 * needs no registers saved). */
PT_COLD static int seal(pt_args *a)
{
    int rc = pt_venc_map_end(&a->buf, &a->mark);
    if (rc < 0)
        return pt__err(rc, "args: an entry has no value");
    a->sealed = true;
    return 0;
}

int pt_args_encoded(pt_args *a, const uint8_t **bytes, size_t *len)
{
    if (!a) {
        *bytes = (const uint8_t *)pt__empty_map;
        *len = PT__EMPTY_MAP_LEN;
        return 0;
    }
    int rc;
    if (!a->sealed && (rc = seal(a)) < 0)
        return rc;
    *bytes = a->buf.data;
    *len = a->buf.len;
    return 0;
}

/* ---- typed look-ups ---- */

int pt__map_open(pt__map *m, const void *base, size_t len)
{
    size_t next;
    m->ok = false;
    /* The empty map (most results of small tasks) needs no walk, nor a
     * decode: it is what pt_vdec() would make of it. */
    if (len == PT__EMPTY_MAP_LEN && (uintptr_t)base % 8 == 0 &&
        memcmp(base, pt__empty_map, len) == 0) {
        m->map = (pt_val){.type = PT_V_MAP,
                          .u.c = {.base = base,
                                  .off = PT__EMPTY_MAP_LEN,
                                  .end = PT__EMPTY_MAP_LEN,
                                  .count = 0}};
        m->ok = true;
        return 0;
    }
    int rc = pt_value_check(base, len, PT_V_MAX_DEPTH);
    if (rc == 0)
        rc = pt_vdec(base, len, 0, &m->map, &next);
    if (rc == 0 && m->map.type != PT_V_MAP)
        rc = pt__err(-EBADMSG, "expected a map of values");
    m->ok = rc == 0;
    return rc;
}

bool pt__map_get(const pt__map *m, const char *key, pt_val *out)
{
    return m->ok && pt_vmap_get(&m->map, key, out) == 0;
}

int64_t pt__map_int(const pt__map *m, const char *key, int64_t def)
{
    pt_val v;
    return pt__map_get(m, key, &v) && v.type == PT_V_INT ? v.u.i : def;
}

double pt__map_real(const pt__map *m, const char *key, double def)
{
    pt_val v;
    if (!pt__map_get(m, key, &v))
        return def;
    if (v.type == PT_V_REAL)
        return v.u.r;
    return v.type == PT_V_INT ? (double)v.u.i : def;
}

bool pt__map_bool(const pt__map *m, const char *key, bool def)
{
    pt_val v;
    return pt__map_get(m, key, &v) && v.type == PT_V_BOOL ? v.u.b : def;
}

const char *pt__map_str(const pt__map *m, const char *key, const char *def)
{
    pt_val v;
    return pt__map_get(m, key, &v) && v.type == PT_V_STR ? v.u.str.ptr : def;
}

const int64_t *pt__map_ints(const pt__map *m, const char *key, size_t *len)
{
    pt_val v;
    bool ok = pt__map_get(m, key, &v) && v.type == PT_V_INTS;
    if (len)
        *len = ok ? v.u.ints.n : 0;
    return ok ? v.u.ints.ptr : NULL;
}

const double *pt__map_reals(const pt__map *m, const char *key, size_t *len)
{
    pt_val v;
    bool ok = pt__map_get(m, key, &v) && v.type == PT_V_REALS;
    if (len)
        *len = ok ? v.u.reals.n : 0;
    return ok ? v.u.reals.ptr : NULL;
}

const void *pt__map_bytes(const pt__map *m, const char *key, size_t *len)
{
    pt_val v;
    bool ok = pt__map_get(m, key, &v) && v.type == PT_V_BYTES;
    if (len)
        *len = ok ? v.u.bytes.len : 0;
    return ok ? v.u.bytes.ptr : NULL;
}
