/* value_json.c - encoded values written as JSON (value.h). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "value_impl.h"

/* ---- JSON --------------------------------------------------------------- */

static int put(pt_buf *o, const char *s)
{
    return pt_buf_append(o, s, strlen(s));
}

/* Decimal, by hand: this runs for every task's args and results. */
static int json_int(pt_buf *o, int64_t i)
{
    char s[24], *p = s + sizeof s;
    uint64_t u = i < 0 ? 0 - (uint64_t)i : (uint64_t)i;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (i < 0)
        *--p = '-';
    return pt_buf_append(o, p, (size_t)(s + sizeof s - p));
}

int pt_real_text(char *s, size_t size, double d)
{
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(s, size, "%.*g", prec, d);
        if (strtod(s, NULL) == d)
            break;
    }
    return n;
}

/* A real in JSON, by pt_real_text(); ".0" keeps it a real. */
static int json_real(pt_buf *o, double d)
{
    char s[48];
    if (!isfinite(d))
        return put(o, "null");
    int n = pt_real_text(s, sizeof s - 2, d);
    if (!strpbrk(s, ".eE")) {
        memcpy(s + n, ".0", 3);
        n += 2;
    }
    return pt_buf_append(o, s, (size_t)n);
}

/* Length of the valid UTF-8 sequence at p (lead byte >= 0x80), 0 if none. */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
    uint8_t c = p[0], lo = 0x80, hi = 0xBF;
    size_t k;
    if (c < 0xC2 || c > 0xF4)
        return 0; /* a stray continuation, an overlong lead, or past U+10FFFF */
    k = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (c == 0xE0)
        lo = 0xA0; /* overlong */
    else if (c == 0xED)
        hi = 0x9F; /* surrogates */
    else if (c == 0xF0)
        lo = 0x90; /* overlong */
    else if (c == 0xF4)
        hi = 0x8F; /* past U+10FFFF */
    if (n < k || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < k; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return k;
}

/* Bytes at p that JSON takes as they are: printable ASCII, valid UTF-8. */
static size_t plain_run(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        size_t k = c >= 0x80 ? utf8_seq(p + i, n - i)
                   : (c >= 0x20 && c != '"' && c != '\\');
        if (k == 0)
            break;
        i += k;
    }
    return i;
}

/* The escape of one special byte, or U+FFFD for a byte of invalid UTF-8. */
static int json_special(pt_buf *o, uint8_t c)
{
    char e[8];
    switch (c) {
    case '"':  return put(o, "\\\"");
    case '\\': return put(o, "\\\\");
    case '\b': return put(o, "\\b");
    case '\f': return put(o, "\\f");
    case '\n': return put(o, "\\n");
    case '\r': return put(o, "\\r");
    case '\t': return put(o, "\\t");
    default:
        if (c >= 0x20)
            return put(o, "\xEF\xBF\xBD");
        snprintf(e, sizeof e, "\\u%04x", c);
        return put(o, e);
    }
}

static int json_str(pt_buf *o, const char *s, size_t n)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0;
    int rc = put(o, "\"");
    while (rc == 0 && i < n) {
        size_t run = plain_run(p + i, n - i);
        rc = pt_buf_append(o, p + i, run);
        i += run;
        if (rc == 0 && i < n)
            rc = json_special(o, p[i++]);
    }
    return rc ? rc : put(o, "\"");
}

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
            rc = json_int(o, v->u.ints.ptr[i]);
        else if (rc == 0)
            rc = json_real(o, v->u.reals.ptr[i]);
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
            rc = json_str(o, key.ptr, key.len);
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
        return json_int(o, v->u.i);
    case PT_V_REAL:
        return json_real(o, v->u.r);
    case PT_V_STR:
        return json_str(o, v->u.str.ptr, v->u.str.len);
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
