/*
 * ctx_text.c - the accessors for text: a list of strings (an argv), a map
 * of strings (an environment) and any scalar rendered as text (exec's
 * `{key}`). Like those of ctx.c, a value of another type fails the task.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctx.h"
#include "internal.h"

/* The item at [i] of a list, for messages. */
static void bad_item(pt_ctx *c, const char *k, const char *want,
                     const pt_val *item, size_t i)
{
    char where[48];
    snprintf(where, sizeof where, " at [%zu]", i);
    pt__ctx_wrong_type(c, k, want, item, where);
}

/* A list whose items are all strings: an argv (NULL after the last). */
const char *const *pt__ctx_arg_strs(pt_ctx *c, const char *k, size_t *len)
{
    static const char *const none[] = {NULL};
    const char *want = "a list of strings";
    pt_val v, item;
    pt_viter it;
    size_t n_;
    len = len ? len : &n_;
    *len = 0;
    if (!pt__ctx_arg_get(c, k, &v))
        return NULL;
    if (v.type == PT_V_LIST && v.u.c.count == 0)
        return none;
    if (v.type != PT_V_LIST || pt_viter_init(&it, &v) < 0) {
        pt__ctx_wrong_type(c, k, want, &v, "");
        return NULL;
    }
    const char **out = pt__ctx_scratch(c, k, v.u.c.count + 1, sizeof *out);
    size_t n = 0;
    int rc = 0;
    while (out && n < v.u.c.count && (rc = pt_vlist_next(&it, &item)) > 0) {
        if (item.type != PT_V_STR) {
            bad_item(c, k, want, &item, n);
            return NULL;
        }
        out[n++] = item.u.str.ptr;
    }
    if (!out || rc < 0 || n != v.u.c.count)
        return NULL; /* the codec checked the args: not reached */
    out[n] = NULL;
    *len = n;
    return out;
}

/* A map whose values are all strings: key, value, key, value..., NULL. */
const char *const *pt__ctx_arg_strmap(pt_ctx *c, const char *k, size_t *len)
{
    const char *want = "a map of strings";
    pt_val v, val;
    pt_vstr key;
    pt_viter it;
    size_t n_;
    len = len ? len : &n_;
    *len = 0;
    if (!pt__ctx_arg_get(c, k, &v))
        return NULL;
    if (v.type != PT_V_MAP || pt_viter_init(&it, &v) < 0) {
        pt__ctx_wrong_type(c, k, want, &v, "");
        return NULL;
    }
    size_t count = v.u.c.count, n = 0;
    const char **out = pt__ctx_scratch(c, k, 2 * count + 1, sizeof *out);
    int rc = 0;
    while (out && n < count && (rc = pt_vmap_next(&it, &key, &val)) > 0) {
        if (val.type != PT_V_STR) {
            char where[80];
            snprintf(where, sizeof where, " at `%.40s`", key.ptr);
            pt__ctx_wrong_type(c, k, want, &val, where);
            return NULL;
        }
        out[2 * n] = key.ptr;
        out[2 * n + 1] = val.u.str.ptr;
        n++;
    }
    if (!out || rc < 0 || n != count)
        return NULL; /* the codec checked the args: not reached */
    out[2 * n] = NULL;
    *len = n;
    return out;
}

/* A scalar as text; strings as they are, numbers as JSON writes them. */
const char *pt__ctx_arg_text(pt_ctx *c, const char *k)
{
    char num[48];
    pt_val v;
    if (!pt__ctx_arg_get(c, k, &v))
        return NULL;
    if (v.type == PT_V_STR)
        return v.u.str.ptr;
    if (v.type == PT_V_BOOL)
        return v.u.b ? "true" : "false";
    if (v.type == PT_V_INT)
        snprintf(num, sizeof num, "%" PRId64, v.u.i);
    else if (v.type == PT_V_REAL)
        pt_real_text(num, sizeof num, v.u.r);
    else {
        pt__ctx_wrong_type(c, k, "a number, string or bool", &v, "");
        return NULL;
    }
    char *out = pt__ctx_scratch(c, k, strlen(num) + 1, 1);
    return out ? memcpy(out, num, strlen(num) + 1) : NULL;
}
