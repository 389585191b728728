/* value.c - the typed value codec of the worker protocol (see value.h). */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ptools/json.h>

#include "internal.h"
#include <ptools/value.h>

/*
 * Arrays are handed out in place, so the host must store int64 and double
 * exactly as the encoding does: little-endian, IEEE 754 binary64. Headers
 * are still read byte by byte (they are not aligned).
 */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "value.c hands out arrays in place: it needs a little-endian host"
#endif
_Static_assert(sizeof(double) == 8 && FLT_RADIX == 2 && DBL_MANT_DIG == 53,
               "the value encoding needs IEEE 754 binary64 doubles");

#define SIZED_HDR 5     /* tag, u32 length */
#define CONTAINER_HDR 9 /* tag, u32 count, u32 size */
#define OPEN_SIZE UINT32_MAX /* size of a container not yet ended */
#define MIN_ITEM 1      /* smallest list item: a NULL */
#define MIN_ENTRY 6     /* smallest map entry: an empty key and a NULL */

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

/* Zero bytes needed after `off` to reach a multiple of 8. */
static size_t pad8(size_t off)
{
    return (8 - (off & 7)) & 7;
}

/* Whether `n` bytes at `off` lie inside `len` bytes (overflow-safe). */
static bool fits(size_t len, size_t off, size_t n)
{
    return off <= len && n <= len - off;
}

static bool is_container(pt_vtype t)
{
    return t == PT_V_LIST || t == PT_V_MAP;
}

static const char *type_name(pt_vtype t)
{
    return t == PT_V_MAP ? "map" : "list";
}

/* ---- encoder ------------------------------------------------------------ */

static int put_scalar(pt_buf *b, uint8_t tag, uint64_t bits)
{
    uint8_t h[9];
    h[0] = tag;
    put_u64(h + 1, bits);
    return pt_buf_append(b, h, sizeof h);
}

int pt_venc_null(pt_buf *b)
{
    uint8_t tag = PT_V_NULL;
    return pt_buf_append(b, &tag, 1);
}

int pt_venc_bool(pt_buf *b, bool v)
{
    uint8_t h[2] = {PT_V_BOOL, v ? 1 : 0};
    return pt_buf_append(b, h, sizeof h);
}

int pt_venc_int(pt_buf *b, int64_t v)
{
    return put_scalar(b, PT_V_INT, (uint64_t)v);
}

int pt_venc_real(pt_buf *b, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return put_scalar(b, PT_V_REAL, bits);
}

/*
 * Append a tag (none when `tag` is 0, as for map keys), a u32 length, the
 * `n` bytes and, for text, the NUL terminator; all or nothing.
 */
static int put_sized(pt_buf *b, uint8_t tag, const void *p, size_t n,
                     bool text)
{
    if (n >= UINT32_MAX || n > SIZE_MAX - 16)
        return pt__err(-EOVERFLOW, "%zu bytes exceed the 4 GiB limit of a "
                       "string or bytes value", n);
    int rc = pt_buf_reserve(b, SIZED_HDR + n + 1);
    if (rc < 0)
        return rc;
    uint8_t *w = b->data + b->len;
    if (tag)
        *w++ = tag;
    put_u32(w, (uint32_t)n);
    w += 4;
    if (n)
        memcpy(w, p, n);
    w += n;
    if (text)
        *w++ = 0;
    b->len = (size_t)(w - b->data);
    return 0;
}

int pt_venc_str(pt_buf *b, const char *s)
{
    return put_sized(b, PT_V_STR, s, strlen(s), true);
}

int pt_venc_strn(pt_buf *b, const char *s, size_t n)
{
    const char *nul = n ? memchr(s, 0, n) : NULL;
    if (nul)
        return pt__err(-EINVAL, "string holds a NUL byte at offset %zu "
                       "(use bytes for binary data)", (size_t)(nul - s));
    return put_sized(b, PT_V_STR, s, n, true);
}

int pt_venc_bytes(pt_buf *b, const void *p, size_t n)
{
    return put_sized(b, PT_V_BYTES, p, n, false);
}

/* Append an INTS or REALS header, the zero pad and the 8-byte elements. */
static int put_array(pt_buf *b, uint8_t tag, const void *p, size_t n)
{
    if (n > UINT32_MAX || n > (SIZE_MAX - 64) / 8)
        return pt__err(-EOVERFLOW, "an array of %zu elements exceeds the "
                       "limit of 2^32-1", n);
    size_t pad = pad8(b->len + SIZED_HDR);
    size_t total = SIZED_HDR + pad + n * 8;
    int rc = pt_buf_reserve(b, total);
    if (rc < 0)
        return rc;
    uint8_t *w = b->data + b->len;
    w[0] = tag;
    put_u32(w + 1, (uint32_t)n);
    memset(w + SIZED_HDR, 0, pad);
    if (n)
        memcpy(w + SIZED_HDR + pad, p, n * 8);
    b->len += total;
    return 0;
}

int pt_venc_ints(pt_buf *b, const int64_t *p, size_t n)
{
    return put_array(b, PT_V_INTS, p, n);
}

int pt_venc_reals(pt_buf *b, const double *p, size_t n)
{
    return put_array(b, PT_V_REALS, p, n);
}

/* Write an open container's header: no items yet, size marked open. */
static int begin_container(pt_buf *b, uint8_t tag, pt_vmark *m)
{
    uint8_t h[CONTAINER_HDR] = {tag};
    put_u32(h + 5, OPEN_SIZE);
    m->off = b->len;
    return pt_buf_append(b, h, sizeof h);
}

int pt_venc_list_begin(pt_buf *b, pt_vmark *m)
{
    return begin_container(b, PT_V_LIST, m);
}

int pt_venc_map_begin(pt_buf *b, pt_vmark *m)
{
    return begin_container(b, PT_V_MAP, m);
}

/* Check that `m` marks a container of type `tag` that is still open. */
static int check_open(const pt_buf *b, const pt_vmark *m, uint8_t tag)
{
    if (!fits(b->len, m->off, CONTAINER_HDR) || b->data[m->off] != tag ||
        get_u32(b->data + m->off + 5) != OPEN_SIZE)
        return pt__err(-EINVAL, "the mark at offset %zu is not an open %s",
                       m->off, type_name(tag));
    return 0;
}

static int parse_text(const uint8_t *p, size_t len, size_t off,
                      const char *what, pt_vstr *s, size_t *next);

/*
 * Walk the items of an open container between `off` and `end`, counting
 * them (map entries when `map`). With `key`, fail with -EEXIST if the map
 * has it already. The items were written by this encoder, so a failure to
 * parse means the caller misused it (a key without a value, an unended
 * container): -EINVAL.
 */
static int walk(const uint8_t *base, size_t off, size_t end, bool map,
                const char *key, size_t *count)
{
    size_t n = 0, klen = key ? strlen(key) : 0;
    pt_vstr k = {"", 0};
    pt_val v;
    for (; off < end; n++) {
        if (map && parse_text(base, end, off, "map key", &k, &off) < 0)
            return pt__err(-EINVAL, "map entry %zu lacks its key", n);
        if (key && k.len == klen && memcmp(k.ptr, key, klen) == 0)
            return pt__err(-EEXIST, "duplicate map key \"%s\"", key);
        if (pt_vdec(base, end, off, &v, &off) < 0)
            return pt__err(-EINVAL, "item %zu does not parse (no value after "
                           "a key, or a container not ended)", n);
    }
    *count = n;
    return 0;
}

/* Patch a container's count and size, now that its items are written. */
static int patch(pt_buf *b, size_t off, size_t count)
{
    size_t size = b->len - off - CONTAINER_HDR;
    if (size >= OPEN_SIZE || count > UINT32_MAX)
        return pt__err(-EOVERFLOW, "a container of %zu items in %zu bytes "
                       "exceeds the 4 GiB limit", count, size);
    put_u32(b->data + off + 1, (uint32_t)count);
    put_u32(b->data + off + 5, (uint32_t)size);
    return 0;
}

static int end_container(pt_buf *b, const pt_vmark *m, uint8_t tag)
{
    size_t count;
    int rc = check_open(b, m, tag);
    if (rc == 0)
        rc = walk(b->data, m->off + CONTAINER_HDR, b->len, tag == PT_V_MAP,
                  NULL, &count);
    return rc < 0 ? rc : patch(b, m->off, count);
}

int pt_venc_list_end(pt_buf *b, const pt_vmark *m)
{
    return end_container(b, m, PT_V_LIST);
}

int pt_venc_map_end(pt_buf *b, const pt_vmark *m)
{
    return end_container(b, m, PT_V_MAP);
}

int pt_venc_key(pt_buf *b, const pt_vmark *m, const char *key)
{
    size_t count;
    int rc = check_open(b, m, PT_V_MAP);
    if (rc == 0)
        rc = walk(b->data, m->off + CONTAINER_HDR, b->len, true, key, &count);
    return rc < 0 ? rc : put_sized(b, 0, key, strlen(key), true);
}

/* ---- decoder ------------------------------------------------------------ */

/* Parse a length-prefixed, NUL-terminated text (a STR body or a map key). */
static int parse_text(const uint8_t *p, size_t len, size_t off,
                      const char *what, pt_vstr *s, size_t *next)
{
    if (!fits(len, off, 4))
        return pt__err(-EBADMSG, "%s length at offset %zu runs past the end",
                       what, off);
    size_t n = get_u32(p + off);
    size_t at = off + 4;
    if (n >= len - at)
        return pt__err(-EBADMSG, "%s of %zu bytes at offset %zu runs past "
                       "the end", what, n, off);
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
        return pt__err(-EBADMSG, "number at offset %zu runs past the end",
                       off);
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
        return pt__err(-EBADMSG, "%zu bytes at offset %zu run past the end",
                       n, off);
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
        return pt__err(-EBADMSG, "array of %zu elements at offset %zu runs "
                       "past the end", n, off);
    for (size_t i = 0; i < pad; i++)
        if (p[at + i])
            return pt__err(-EBADMSG, "array at offset %zu has nonzero "
                           "padding", off);
    if ((uintptr_t)p % 8)
        return pt__err(-EINVAL, "array at offset %zu: the buffer is not "
                       "8-byte aligned", off);
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
static int dec_container(const uint8_t *p, size_t len, size_t off,
                         pt_val *v, size_t *next)
{
    if (!fits(len, off, CONTAINER_HDR))
        return pt__err(-EBADMSG, "%s at offset %zu runs past the end",
                       type_name(v->type), off);
    size_t count = get_u32(p + off + 1), size = get_u32(p + off + 5);
    size_t start = off + CONTAINER_HDR;
    size_t min = v->type == PT_V_MAP ? MIN_ENTRY : MIN_ITEM;
    if (size > len - start)
        return pt__err(-EBADMSG, "%s of %zu bytes at offset %zu runs past the "
                       "end", type_name(v->type), size, off);
    if (count > size / min)
        return pt__err(-EBADMSG, "%s at offset %zu claims %zu items in %zu "
                       "bytes", type_name(v->type), off, count, size);
    v->u.c.base = p;
    v->u.c.off = start;
    v->u.c.end = start + size;
    v->u.c.count = count;
    *next = start + size;
    return 0;
}

int pt_vdec(const void *base, size_t len, size_t off, pt_val *v,
             size_t *next)
{
    const uint8_t *p = base;
    if (off >= len)
        return pt__err(-EBADMSG, "value expected at offset %zu, past the end "
                       "of %zu bytes", off, len);
    uint8_t tag = p[off];
    if (tag < PT_V_NULL || tag >= PT_V_TYPE_END)
        return pt__err(-EBADMSG, "unknown type tag 0x%02x at offset %zu", tag,
                       off);
    v->type = (pt_vtype)tag;
    switch (v->type) {
    case PT_V_NULL:
        *next = off + 1;
        return 0;
    case PT_V_BOOL:
        return dec_bool(p, len, off, v, next);
    case PT_V_INT:
    case PT_V_REAL:
        return dec_scalar(p, len, off, v, next);
    case PT_V_STR:
        return parse_text(p, len, off + 1, "string", &v->u.str, next);
    case PT_V_BYTES:
        return dec_bytes(p, len, off, v, next);
    case PT_V_INTS:
    case PT_V_REALS:
        return dec_array(p, len, off, v, next);
    default:
        return dec_container(p, len, off, v, next);
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
        return it->err = pt__err(-EBADMSG, "%zu stray bytes after the last "
                                 "item at offset %zu", it->end - it->off,
                                 it->off);
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
    size_t off;
    int rc = iter_due(it, PT_V_MAP);
    if (rc <= 0)
        return rc;
    rc = parse_text(it->base, it->end, it->off, "map key", key, &off);
    if (rc == 0)
        rc = pt_vdec(it->base, it->end, off, val, &it->off);
    if (rc < 0)
        return it->err = rc;
    it->left--;
    return 1;
}

/* The next item of either kind of container (`key` is set for maps). */
static int iter_next(pt_viter *it, pt_vstr *key, pt_val *item)
{
    if (it->type == PT_V_MAP)
        return pt_vmap_next(it, key, item);
    return pt_vlist_next(it, item);
}

int pt_vmap_get(const pt_val *map, const char *key, pt_val *out)
{
    pt_viter it;
    pt_vstr k;
    pt_val v;
    if (map->type != PT_V_MAP)
        return pt__err(-EINVAL, "looking up \"%s\" in a value that is not a "
                       "map", key);
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
        return pt__err(-EINVAL, "value buffer %p is not 8-byte aligned",
                       base);
    if (max_depth < 0)
        max_depth = 0;
    if (max_depth > PT_V_DEPTH_CAP)
        max_depth = PT_V_DEPTH_CAP;
    int rc = pt_vdec(base, len, 0, &v, &next);
    if (rc == 0)
        rc = check_items(&v, 1, max_depth);
    if (rc == 0 && next != len)
        rc = pt__err(-EBADMSG, "%zu stray bytes after the value",
                     len - next);
    return rc;
}

/* ---- re-encoding -------------------------------------------------------- */

static int enc_val(pt_buf *b, const pt_val *v, int depth);

/* Copy a container item by item; on any failure `b` is left as it was. */
static int enc_container(pt_buf *b, const pt_val *v, int depth)
{
    pt_vmark m;
    pt_viter it;
    pt_vstr key;
    pt_val item;
    size_t undo = b->len;
    if (depth > PT_V_DEPTH_CAP)
        return pt__err(-EBADMSG, "containers nested deeper than %d",
                       PT_V_DEPTH_CAP);
    int rc = pt_viter_init(&it, v);
    if (rc == 0)
        rc = begin_container(b, (uint8_t)v->type, &m);
    while (rc == 0 && (rc = iter_next(&it, &key, &item)) == 1) {
        rc = 0;
        if (v->type == PT_V_MAP)
            rc = put_sized(b, 0, key.ptr, key.len, true);
        if (rc == 0)
            rc = enc_val(b, &item, depth + 1);
    }
    if (rc == 0)
        rc = patch(b, m.off, v->u.c.count);
    if (rc < 0)
        b->len = undo;
    return rc;
}

static int enc_val(pt_buf *b, const pt_val *v, int depth)
{
    switch (v->type) {
    case PT_V_NULL:
        return pt_venc_null(b);
    case PT_V_BOOL:
        return pt_venc_bool(b, v->u.b);
    case PT_V_INT:
        return pt_venc_int(b, v->u.i);
    case PT_V_REAL:
        return pt_venc_real(b, v->u.r);
    case PT_V_STR:
        return pt_venc_strn(b, v->u.str.ptr, v->u.str.len);
    case PT_V_BYTES:
        return pt_venc_bytes(b, v->u.bytes.ptr, v->u.bytes.len);
    case PT_V_INTS:
        return pt_venc_ints(b, v->u.ints.ptr, v->u.ints.n);
    case PT_V_REALS:
        return pt_venc_reals(b, v->u.reals.ptr, v->u.reals.n);
    case PT_V_LIST:
    case PT_V_MAP:
        return enc_container(b, v, depth);
    default:
        return pt__err(-EINVAL, "unknown value type %d", (int)v->type);
    }
}

int pt_venc_val(pt_buf *b, const pt_val *v)
{
    return enc_val(b, v, 1);
}

/* ---- JSON --------------------------------------------------------------- */

static int put(pt_buf *o, const char *s)
{
    return pt_buf_append(o, s, strlen(s));
}

/* Strings and numbers: the one writer of json.h (lib/json_write.c). */

/* Bytes as {"$bytes":"<base64>"} (RFC 4648 alphabet, '=' padded). */
static int json_bytes(pt_buf *o, const uint8_t *p, size_t n)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t out = 4 * ((n + 2) / 3);
    int rc = put(o, "{\"$bytes\":\"");
    if (rc == 0)
        rc = pt_buf_reserve(o, out + 2);
    if (rc < 0)
        return rc;
    char *w = (char *)o->data + o->len;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        *w++ = tab[v >> 18 & 63];
        *w++ = tab[v >> 12 & 63];
        *w++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
        *w++ = i + 2 < n ? tab[v & 63] : '=';
    }
    o->len += out;
    return put(o, "\"}");
}

/* INTS and REALS print as JSON arrays of numbers. */
static int json_array(pt_buf *o, const pt_val *v)
{
    size_t n = v->type == PT_V_INTS ? v->u.ints.n : v->u.reals.n;
    int rc = put(o, "[");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = i ? put(o, ",") : 0;
        if (rc == 0 && v->type == PT_V_INTS)
            rc = pt_json_int(o, v->u.ints.ptr[i]);
        else if (rc == 0)
            rc = pt_json_real(o, v->u.reals.ptr[i]);
    }
    return rc ? rc : put(o, "]");
}

static int json_val(pt_buf *o, const pt_val *v);

/* LIST as an array, MAP as an object with its keys in stored order. */
static int json_container(pt_buf *o, const pt_val *v)
{
    bool map = v->type == PT_V_MAP;
    pt_viter it;
    pt_vstr key;
    pt_val item;
    int rc = pt_viter_init(&it, v);
    if (rc == 0)
        rc = put(o, map ? "{" : "[");
    for (size_t i = 0; rc == 0 && (rc = iter_next(&it, &key, &item)) == 1;
         i++) {
        rc = i ? put(o, ",") : 0;
        if (rc == 0 && map)
            rc = pt_json_str(o, key.ptr, key.len);
        if (rc == 0 && map)
            rc = put(o, ":");
        if (rc == 0)
            rc = json_val(o, &item);
    }
    return rc ? rc : put(o, map ? "}" : "]");
}

static int json_val(pt_buf *o, const pt_val *v)
{
    switch (v->type) {
    case PT_V_NULL:
        return put(o, "null");
    case PT_V_BOOL:
        return put(o, v->u.b ? "true" : "false");
    case PT_V_INT:
        return pt_json_int(o, v->u.i);
    case PT_V_REAL:
        return pt_json_real(o, v->u.r);
    case PT_V_STR:
        return pt_json_str(o, v->u.str.ptr, v->u.str.len);
    case PT_V_BYTES:
        return json_bytes(o, v->u.bytes.ptr, v->u.bytes.len);
    case PT_V_INTS:
    case PT_V_REALS:
        return json_array(o, v);
    default:
        return json_container(o, v);
    }
}

int pt_value_to_json(const void *base, size_t len, pt_buf *out)
{
    pt_val v;
    size_t next, undo = out->len;
    int rc = pt_value_check(base, len, PT_V_DEPTH_CAP);
    if (rc == 0)
        rc = pt_vdec(base, len, 0, &v, &next);
    if (rc == 0)
        rc = json_val(out, &v);
    if (rc == 0)
        rc = pt_buf_reserve(out, 1);
    if (rc < 0) {
        out->len = undo;
        return rc;
    }
    out->data[out->len] = '\0';
    return 0;
}
