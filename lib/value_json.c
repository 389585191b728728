/* value_json.c - encoded values written as JSON (value.h). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ptools/json.h>

#include "internal.h"
#include "value_impl.h"

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
    case PT_V_NULL: return put(o, "null");
    case PT_V_BOOL: return put(o, v->u.b ? "true" : "false");
    case PT_V_INT: return pt_json_int(o, v->u.i);
    case PT_V_REAL: return pt_json_real(o, v->u.r);
    case PT_V_STR: return pt_json_str(o, v->u.str.ptr, v->u.str.len);
    case PT_V_BYTES: return json_bytes(o, v->u.bytes.ptr, v->u.bytes.len);
    case PT_V_INTS:
    case PT_V_REALS: return json_array(o, v);
    default: return json_container(o, v);
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
