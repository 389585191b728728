/* value_enc.c - the value encoder (value.h): values written into a
 * buffer, and decoded values written again. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "value_impl.h"

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
static int put_sized(pt_buf *b, uint8_t tag, const void *p, size_t n, bool text)
{
    if (n >= UINT32_MAX || n > SIZE_MAX - 16)
        return pt__err(-EOVERFLOW,
                       "%zu bytes exceed the 4 GiB limit of a "
                       "string or bytes value",
                       n);
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
        return pt__err(-EINVAL,
                       "string holds a NUL byte at offset %zu "
                       "(use bytes for binary data)",
                       (size_t)(nul - s));
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
        return pt__err(-EOVERFLOW,
                       "an array of %zu elements exceeds the "
                       "limit of 2^32-1",
                       n);
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
        if (map && pt_v_parse_text(base, end, off, "map key", &k, &off) < 0)
            return pt__err(-EINVAL, "map entry %zu lacks its key", n);
        if (key && k.len == klen && memcmp(k.ptr, key, klen) == 0)
            return pt__err(-EEXIST, "duplicate map key \"%s\"", key);
        if (pt_vdec(base, end, off, &v, &off) < 0)
            return pt__err(-EINVAL,
                           "item %zu does not parse (no value after "
                           "a key, or a container not ended)",
                           n);
    }
    *count = n;
    return 0;
}

/* Patch a container's count and size, now that its items are written. */
static int patch(pt_buf *b, size_t off, size_t count)
{
    size_t size = b->len - off - CONTAINER_HDR;
    if (size >= OPEN_SIZE || count > UINT32_MAX)
        return pt__err(-EOVERFLOW,
                       "a container of %zu items in %zu bytes "
                       "exceeds the 4 GiB limit",
                       count, size);
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
    case PT_V_NULL: return pt_venc_null(b);
    case PT_V_BOOL: return pt_venc_bool(b, v->u.b);
    case PT_V_INT: return pt_venc_int(b, v->u.i);
    case PT_V_REAL: return pt_venc_real(b, v->u.r);
    case PT_V_STR: return pt_venc_strn(b, v->u.str.ptr, v->u.str.len);
    case PT_V_BYTES: return pt_venc_bytes(b, v->u.bytes.ptr, v->u.bytes.len);
    case PT_V_INTS: return pt_venc_ints(b, v->u.ints.ptr, v->u.ints.n);
    case PT_V_REALS: return pt_venc_reals(b, v->u.reals.ptr, v->u.reals.n);
    case PT_V_LIST:
    case PT_V_MAP: return enc_container(b, v, depth);
    default: return pt__err(-EINVAL, "unknown value type %d", (int)v->type);
    }
}

int pt_venc_val(pt_buf *b, const pt_val *v)
{
    return enc_val(b, v, 1);
}
