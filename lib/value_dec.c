/* value_dec.c - the value decoder and checker (value.h): values read in
 * place, containers iterated, an encoding checked before it is trusted. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "value_impl.h"

/* ---- decoder ------------------------------------------------------------ */

/* Parse a length-prefixed, NUL-terminated text (a STR body or a map key). */
int pt_v_parse_text(const uint8_t *p, size_t len, size_t off, const char *what,
                    pt_vstr *s, size_t *next)
{
    if (!fits(len, off, 4))
        return pt__err(-EBADMSG, "%s length at offset %zu runs past the end",
                       what, off);
    size_t n = get_u32(p + off);
    size_t at = off + 4;
    if (n >= len - at)
        return pt__err(-EBADMSG,
                       "%s of %zu bytes at offset %zu runs past "
                       "the end",
                       what, n, off);
    if (p[at + n] != 0)
        return pt__err(-EBADMSG, "%s at offset %zu lacks its NUL terminator",
                       what, off);
    if (memchr(p + at, 0, n))
        return pt__err(-EBADMSG, "%s at offset %zu holds a NUL byte", what,
                       off);
    s->ptr = (const char *)(p + at);
    s->len = n;
    *next = at + n + 1;
    return 0;
}

static int dec_bool(const uint8_t *p, size_t len, size_t off, pt_val *v,
                    size_t *next)
{
    if (!fits(len, off, 2))
        return pt__err(-EBADMSG, "bool at offset %zu runs past the end", off);
    if (p[off + 1] > 1)
        return pt__err(-EBADMSG, "bool at offset %zu is %u, not 0 or 1", off,
                       p[off + 1]);
    v->u.b = p[off + 1];
    *next = off + 2;
    return 0;
}

static int dec_scalar(const uint8_t *p, size_t len, size_t off, pt_val *v,
                      size_t *next)
{
    if (!fits(len, off, 9))
        return pt__err(-EBADMSG, "number at offset %zu runs past the end", off);
    uint64_t bits = get_u64(p + off + 1);
    if (v->type == PT_V_INT)
        v->u.i = (int64_t)bits;
    else
        memcpy(&v->u.r, &bits, sizeof bits);
    *next = off + 9;
    return 0;
}

static int dec_bytes(const uint8_t *p, size_t len, size_t off, pt_val *v,
                     size_t *next)
{
    if (!fits(len, off, SIZED_HDR))
        return pt__err(-EBADMSG, "bytes at offset %zu run past the end", off);
    size_t n = get_u32(p + off + 1);
    if (!fits(len, off + SIZED_HDR, n))
        return pt__err(-EBADMSG, "%zu bytes at offset %zu run past the end", n,
                       off);
    v->u.bytes.ptr = p + off + SIZED_HDR;
    v->u.bytes.len = n;
    *next = off + SIZED_HDR + n;
    return 0;
}

/*
 * INTS and REALS: besides bounds, check the zero pad and the base's
 * alignment, so the elements can be handed out in place.
 */
static int dec_array(const uint8_t *p, size_t len, size_t off, pt_val *v,
                     size_t *next)
{
    if (!fits(len, off, SIZED_HDR))
        return pt__err(-EBADMSG, "array at offset %zu runs past the end", off);
    size_t n = get_u32(p + off + 1);
    size_t at = off + SIZED_HDR, pad = pad8(at);
    if (!fits(len, at, pad) || n > (len - at - pad) / 8)
        return pt__err(-EBADMSG,
                       "array of %zu elements at offset %zu runs "
                       "past the end",
                       n, off);
    for (size_t i = 0; i < pad; i++)
        if (p[at + i])
            return pt__err(-EBADMSG,
                           "array at offset %zu has nonzero "
                           "padding",
                           off);
    if ((uintptr_t)p % 8)
        return pt__err(-EINVAL,
                       "array at offset %zu: the buffer is not "
                       "8-byte aligned",
                       off);
    at += pad;
    if (v->type == PT_V_INTS)
        v->u.ints.ptr = (const int64_t *)(const void *)(p + at);
    else
        v->u.reals.ptr = (const double *)(const void *)(p + at);
    if (v->type == PT_V_INTS)
        v->u.ints.n = n;
    else
        v->u.reals.n = n;
    *next = at + n * 8;
    return 0;
}

/*
 * LIST and MAP: only the header here (the items are checked as they are
 * iterated). A count that cannot fit in the size is refused now, which
 * bounds every loop over the items by the bytes they occupy.
 */
static int dec_container(const uint8_t *p, size_t len, size_t off, pt_val *v,
                         size_t *next)
{
    if (!fits(len, off, CONTAINER_HDR))
        return pt__err(-EBADMSG, "%s at offset %zu runs past the end",
                       type_name(v->type), off);
    size_t count = get_u32(p + off + 1), size = get_u32(p + off + 5);
    size_t start = off + CONTAINER_HDR;
    size_t min = v->type == PT_V_MAP ? MIN_ENTRY : MIN_ITEM;
    if (size > len - start)
        return pt__err(-EBADMSG,
                       "%s of %zu bytes at offset %zu runs past the "
                       "end",
                       type_name(v->type), size, off);
    if (count > size / min)
        return pt__err(-EBADMSG,
                       "%s at offset %zu claims %zu items in %zu "
                       "bytes",
                       type_name(v->type), off, count, size);
    v->u.c.base = p;
    v->u.c.off = start;
    v->u.c.end = start + size;
    v->u.c.count = count;
    *next = start + size;
    return 0;
}

int pt_vdec(const void *base, size_t len, size_t off, pt_val *v, size_t *next)
{
    const uint8_t *p = base;
    if (off >= len)
        return pt__err(-EBADMSG,
                       "value expected at offset %zu, past the end "
                       "of %zu bytes",
                       off, len);
    uint8_t tag = p[off];
    if (tag < PT_V_NULL || tag >= PT_V_TYPE_END)
        return pt__err(-EBADMSG, "unknown type tag 0x%02x at offset %zu", tag,
                       off);
    v->type = (pt_vtype)tag;
    switch (v->type) {
    case PT_V_NULL: *next = off + 1; return 0;
    case PT_V_BOOL: return dec_bool(p, len, off, v, next);
    case PT_V_INT:
    case PT_V_REAL: return dec_scalar(p, len, off, v, next);
    case PT_V_STR:
        return pt_v_parse_text(p, len, off + 1, "string", &v->u.str, next);
    case PT_V_BYTES: return dec_bytes(p, len, off, v, next);
    case PT_V_INTS:
    case PT_V_REALS: return dec_array(p, len, off, v, next);
    default: return dec_container(p, len, off, v, next);
    }
}

int pt_viter_init(pt_viter *it, const pt_val *v)
{
    if (!is_container(v->type))
        return pt__err(-EINVAL, "value of type %d is not a list or a map",
                       (int)v->type);
    it->base = v->u.c.base;
    it->off = v->u.c.off;
    it->end = v->u.c.end;
    it->left = v->u.c.count;
    it->type = v->type;
    it->err = 0;
    return 0;
}

/* Common to both kinds of step: 1 if an item is due, else 0 or an error. */
static int iter_due(pt_viter *it, pt_vtype type)
{
    if (it->err)
        return it->err;
    if (it->type != type)
        return pt__err(-EINVAL, "iterating a %s as a %s", type_name(it->type),
                       type_name(type));
    if (it->left > 0)
        return 1;
    if (it->off != it->end)
        return it->err = pt__err(-EBADMSG,
                                 "%zu stray bytes after the last "
                                 "item at offset %zu",
                                 it->end - it->off, it->off);
    return 0;
}

int pt_vlist_next(pt_viter *it, pt_val *item)
{
    int rc = iter_due(it, PT_V_LIST);
    if (rc <= 0)
        return rc;
    rc = pt_vdec(it->base, it->end, it->off, item, &it->off);
    if (rc < 0)
        return it->err = rc;
    it->left--;
    return 1;
}

int pt_vmap_next(pt_viter *it, pt_vstr *key, pt_val *val)
{
    size_t off = 0;
    int rc = iter_due(it, PT_V_MAP);
    if (rc <= 0)
        return rc;
    rc = pt_v_parse_text(it->base, it->end, it->off, "map key", key, &off);
    if (rc == 0)
        rc = pt_vdec(it->base, it->end, off, val, &it->off);
    if (rc < 0)
        return it->err = rc;
    it->left--;
    return 1;
}

int pt_vmap_get(const pt_val *map, const char *key, pt_val *out)
{
    pt_viter it;
    pt_vstr k;
    pt_val v;
    if (map->type != PT_V_MAP)
        return pt__err(-EINVAL,
                       "looking up \"%s\" in a value that is not a "
                       "map",
                       key);
    pt_viter_init(&it, map);
    size_t n = strlen(key);
    int rc;
    while ((rc = pt_vmap_next(&it, &k, &v)) == 1)
        if (k.len == n && memcmp(k.ptr, key, n) == 0) {
            *out = v;
            return 0;
        }
    return rc < 0 ? rc : -ENOENT;
}

/* Check a container's items, recursively, `depth` being its own depth. */
static int check_items(const pt_val *v, int depth, int max_depth)
{
    pt_viter it;
    pt_vstr key;
    pt_val item;
    int rc;
    if (!is_container(v->type))
        return 0;
    if (depth > max_depth)
        return pt__err(-EBADMSG, "%s at offset %zu is nested deeper than %d",
                       type_name(v->type), v->u.c.off - CONTAINER_HDR,
                       max_depth);
    pt_viter_init(&it, v);
    while ((rc = iter_next(&it, &key, &item)) == 1) {
        rc = check_items(&item, depth + 1, max_depth);
        if (rc < 0)
            return rc;
    }
    return rc;
}

int pt_value_check(const void *base, size_t len, int max_depth)
{
    pt_val v;
    size_t next;
    if ((uintptr_t)base % 8)
        return pt__err(-EINVAL, "value buffer %p is not 8-byte aligned", base);
    if (max_depth < 0)
        max_depth = 0;
    if (max_depth > PT_V_DEPTH_CAP)
        max_depth = PT_V_DEPTH_CAP;
    int rc = pt_vdec(base, len, 0, &v, &next);
    if (rc == 0)
        rc = check_items(&v, 1, max_depth);
    if (rc == 0 && next != len)
        rc = pt__err(-EBADMSG, "%zu stray bytes after the value", len - next);
    return rc;
}
