/* json_shape.c - encoded maps as JSON, reusing the last one's shape (see
 * json_shape.h). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <string.h>

#include <ptools/export.h>
#include <ptools/value.h>

#include "json_shape.h"
#include "plugin_util.h"

/* Values larger than this are written each time, not kept. */
#define JS_KEEP_MAX (64 * 1024)

/* Where word i of an n-byte encoding starts: every 8 bytes, but the last
 * one ends at n (n >= 8). */
static size_t word_at(size_t n, int i)
{
    size_t at = 8 * (size_t)i;
    return at + 8 > n ? n - 8 : at;
}

/* same_shape() for an encoding with no masks (short, or long): slot by
 * slot, with memcmp. Out of line: the masked path, two a line, then saves
 * no registers for these calls. */
PT_NOINLINE static bool same_bytes(const js_shape *c, const uint8_t *p,
                                   size_t n)
{
    size_t at = 0;
    for (int i = 0; i < c->nslots; i++) {
        size_t to = c->slot[i].enc;
        if (memcmp(p + at, c->enc + at, to - at) != 0)
            return false;
        at = to + 8;
    }
    return memcmp(p + at, c->enc + at, n - at) == 0;
}

/* Does (p, n) have the kept shape: the same bytes outside the slots? The
 * value must lie where the kept one could (8-aligned), for the check it
 * passed to hold for it too. */
static bool same_shape(const js_shape *c, const uint8_t *p, size_t n)
{
    if (!c->valid || n != c->enc_len || ((uintptr_t)p & 7) != 0)
        return false;
    if (!c->nmask)
        return same_bytes(c, p, n);
    uint64_t diff = 0; /* word by word, the slots' bytes masked */
    for (int i = 0; i < c->nmask; i++) {
        size_t at = c->mask_at[i];
        uint64_t a, b;
        memcpy(&a, p + at, 8);
        memcpy(&b, c->enc + at, 8);
        diff |= (a ^ b) & c->mask[i];
    }
    return diff == 0;
}

/* The kept text with p's numbers printed in. */
static int emit(const js_shape *c, jm_buf *b, const uint8_t *p)
{
    size_t at = 0;
    for (int i = 0; i < c->nslots; i++) {
        const js_slot *s = &c->slot[i];
        jm_buf_add(b, c->txt.data + at, s->txt - at);
        at = s->txt;
        if (s->real) {
            double d;
            memcpy(&d, p + s->enc, sizeof d);
            jm_buf_real(b, d);
        } else {
            int64_t v;
            memcpy(&v, p + s->enc, sizeof v);
            jm_buf_int(b, v);
        }
    }
    jm_buf_add(b, c->txt.data + at, c->txt.len - at);
    return b->oom ? -1 : 0;
}

bool js_shape_ready(const js_shape *c, const void *p, size_t n)
{
    return p && n && n <= JS_KEEP_MAX && !c->reals && same_shape(c, p, n);
}

size_t js_shape_max(const js_shape *c)
{
    return c->txt.len + (size_t)c->nslots * PT_JSON_INT_MAX;
}

char *js_shape_put(const js_shape *c, char *at, const void *p)
{
    size_t from = 0;
    for (int i = 0; i < c->nslots; i++) {
        const js_slot *s = &c->slot[i];
        jm_copy(at, c->txt.data + from, s->txt - from);
        at += s->txt - from;
        from = s->txt;
        int64_t v;
        memcpy(&v, (const uint8_t *)p + s->enc, sizeof v);
        at += jm_int_text(at, v);
    }
    jm_copy(at, c->txt.data + from, c->txt.len - from);
    return at + (c->txt.len - from);
}

/* A top-level entry's value: scalars are written, numbers become slots
 * (while there is room); false for a container, bytes or an array. */
static bool flat_value(js_shape *c, const pt_val *v, size_t end)
{
    jm_buf *t = &c->txt;
    switch (v->type) {
    case PT_V_NULL: jm_buf_lit(t, "null"); return true;
    case PT_V_BOOL: jm_buf_str(t, v->u.b ? "true" : "false"); return true;
    case PT_V_STR: {
        pt_buf pb = jm_lend(t);
        jm_take(t, &pb, pt_json_str(&pb, v->u.str.ptr, v->u.str.len));
        return true;
    }
    case PT_V_INT:
    case PT_V_REAL:
        if (c->nslots < JS_SLOTS) {
            c->slot[c->nslots++] = (js_slot){.enc = (uint32_t)(end - 8),
                                             .txt = (uint32_t)t->len,
                                             .real = v->type == PT_V_REAL};
            c->reals |= v->type == PT_V_REAL;
        } else if (v->type == PT_V_INT) {
            jm_buf_int(t, v->u.i);
        } else {
            jm_buf_real(t, v->u.r);
        }
        return true;
    default: return false;
    }
}

/* The text of a map of scalars, in c->txt with its slots; false for any
 * other value. */
static bool flat_map(js_shape *c, const pt_val *v)
{
    pt_viter it;
    pt_vstr key;
    pt_val item;
    int rc;
    if (v->type != PT_V_MAP || pt_viter_init(&it, v) < 0)
        return false;
    jm_buf_lit(&c->txt, "{");
    for (size_t i = 0; (rc = pt_vmap_next(&it, &key, &item)) == 1; i++) {
        if (i)
            jm_buf_lit(&c->txt, ",");
        pt_buf pb = jm_lend(&c->txt);
        jm_take(&c->txt, &pb, pt_json_str(&pb, key.ptr, key.len));
        jm_buf_lit(&c->txt, ":");
        if (!flat_value(c, &item, it.off))
            return false;
    }
    jm_buf_lit(&c->txt, "}");
    return rc == 0;
}

/* Set c->mask and c->nmask for c's encoding: no words (nmask 0) when it
 * is shorter than a word or longer than JS_MASK_BYTES. */
static void mask_of(js_shape *c)
{
    size_t n = c->enc_len;
    c->nmask = 0;
    if (n < 8 || n > JS_MASK_BYTES)
        return;
    int words = (int)((n + 7) / 8);
    for (int i = 0; i < words; i++) {
        size_t at = word_at(n, i);
        uint64_t m = ~UINT64_C(0);
        for (int k = 0; k < c->nslots; k++) {
            size_t lo = c->slot[k].enc, hi = lo + 8; /* its bytes */
            for (size_t b = 0; b < 8; b++)
                if (at + b >= lo && at + b < hi)
                    m &= ~(UINT64_C(0xff) << (8 * b));
        }
        c->mask[i] = m;
        c->mask_at[i] = (uint32_t)at;
    }
    c->nmask = words;
}

/* Keep (p, n) and its text: 0, -ENOMEM, or the codec's error for a bad
 * value (nothing kept then). */
static int rebuild(js_shape *c, const uint8_t *p, size_t n)
{
    pt_val v;
    size_t next;
    c->valid = false;
    c->nslots = 0;
    c->nmask = 0;
    c->reals = false;
    jm_buf_cut(&c->txt, 0);
    int rc = pt_value_check(p, n, PT_V_DEPTH_CAP);
    if (rc == 0)
        rc = pt_vdec(p, n, 0, &v, &next);
    if (rc < 0)
        return rc;
    if (!flat_map(c, &v)) { /* written whole, kept for an equal one */
        c->nslots = 0;
        c->reals = false;
        jm_buf_cut(&c->txt, 0);
        pt_buf pb = jm_lend(&c->txt);
        rc = pt_value_to_json(p, n, &pb);
        jm_take(&c->txt, &pb, rc == -ENOMEM ? rc : 0);
        if (rc < 0 && rc != -ENOMEM)
            return rc;
    }
    if (c->txt.oom)
        return -ENOMEM;
    if (n > c->enc_cap) {
        uint8_t *e = realloc(c->enc, n);
        if (!e)
            return -ENOMEM;
        c->enc = e;
        c->enc_cap = n;
    }
    memcpy(c->enc, p, n);
    c->enc_len = n;
    c->valid = true;
    mask_of(c);
    return 0;
}

int js_shape_write(js_shape *c, jm_buf *b, const void *p, size_t n,
                   const char *bad)
{
    if (b->oom)
        return -1;
    if (!p || !n)
        return jm_buf_lit(b, "{}");
    if (n > JS_KEEP_MAX)
        return jm_buf_value(b, p, n, bad);
    if (!same_shape(c, p, n)) {
        int rc = rebuild(c, p, n);
        if (rc == -ENOMEM) {
            c->valid = false;
            b->oom = true;
            return -1;
        }
        if (rc < 0)
            return jm_buf_str(b, bad);
    }
    return emit(c, b, p);
}

void js_shape_free(js_shape *c)
{
    free(c->enc);
    jm_buf_free(&c->txt);
    *c = (js_shape){0};
}
