/*
 * yaml_scalar.c - what a scalar's text means, the way YAML 1.2's core
 * schema resolves a plain scalar: null (~, null, empty), bool (true,
 * false), int (decimal, 0x hex, 0o octal), float (1.5, 1e3, .inf, .nan),
 * else a string. YAML 1.1's yes/no/on/off stay strings, as users of
 * `on: 0` need.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yaml_tree.h"

static bool one_of(const char *t, const char *const *words)
{
    for (; *words; words++)
        if (strcmp(t, *words) == 0)
            return true;
    return false;
}

static bool all_digits(const char *s, int base)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (base == 16 ? !isxdigit((unsigned char)*s)
                       : (*s < '0' || *s >= '0' + base))
            return false;
    return true;
}

/* An integer literal: true with v set (RN_REAL when beyond int64). */
static bool parse_int(const char *t, rn_value *v)
{
    const char *p = t + (*t == '-' || *t == '+');
    int base = 10;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'o')) {
        base = p[1] == 'x' ? 16 : 8;
        p += 2;
    }
    if (!all_digits(p, base))
        return false;
    errno = 0;
    unsigned long long u = strtoull(p, NULL, base);
    bool neg = *t == '-';
    if (errno == ERANGE || u > (neg ? (unsigned long long)INT64_MAX + 1
                                    : (unsigned long long)INT64_MAX)) {
        v->type = RN_REAL;
        v->r = (neg ? -1.0 : 1.0) * (double)u;
        return true;
    }
    v->type = RN_INT;
    v->i = neg ? (int64_t)(0 - u) : (int64_t)u;
    return true;
}

/* Digits with an optional '.', then an optional exponent. */
static bool float_syntax(const char *p)
{
    size_t digits = strspn(p, "0123456789");
    p += digits;
    if (*p == '.') {
        size_t frac = strspn(p + 1, "0123456789");
        digits += frac;
        p += 1 + frac;
    }
    if (!digits)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        p += *p == '-' || *p == '+';
        size_t exp = strspn(p, "0123456789");
        if (!exp)
            return false;
        p += exp;
    }
    return *p == '\0';
}

static bool parse_real(const char *t, double *r)
{
    static const char *const inf[] = {".inf", ".Inf", ".INF", NULL};
    static const char *const nan[] = {".nan", ".NaN", ".NAN", NULL};
    const char *p = t + (*t == '-' || *t == '+');
    if (one_of(t, nan)) {
        *r = NAN;
        return true;
    }
    if (one_of(p, inf)) {
        *r = *t == '-' ? -INFINITY : INFINITY;
        return true;
    }
    if (!float_syntax(p))
        return false;
    *r = strtod(t, NULL);
    return true;
}

void rn_yplain(const char *t, rn_value *v)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const yes[] = {"true", "True", "TRUE", NULL};
    static const char *const no[] = {"false", "False", "FALSE", NULL};
    *v = (rn_value){.type = RN_STR, .s = (char *)t};
    if (one_of(t, nulls))
        v->type = RN_NULL;
    else if (one_of(t, yes) || one_of(t, no)) {
        v->type = RN_BOOL;
        v->b = one_of(t, yes);
    } else if (!parse_int(t, v) && parse_real(t, &v->r))
        v->type = RN_REAL;
}

void rn_yscalar(const rn_ynode *n, rn_value *v)
{
    if (n->quoted)
        *v = (rn_value){.type = RN_STR, .s = n->text};
    else
        rn_yplain(n->text, v);
    v->pos = n->pos;
}

void rn_ydescribe(const rn_ynode *n, char *buf, size_t size)
{
    rn_value v;
    if (n->kind != RN_Y_SCALAR) {
        snprintf(buf, size, n->kind == RN_Y_MAP ? "a mapping" : "a list");
        return;
    }
    rn_yscalar(n, &v);
    int len = strlen(n->text) > 40 ? 37 : 40;
    const char *more = strlen(n->text) > 40 ? "..." : "";
    switch (v.type) {
    case RN_NULL: snprintf(buf, size, "null"); break;
    case RN_BOOL: snprintf(buf, size, "a boolean %s", n->text); break;
    case RN_INT: snprintf(buf, size, "an integer %s", n->text); break;
    case RN_REAL: snprintf(buf, size, "a number %s", n->text); break;
    default:
        snprintf(buf, size, "a string '%.*s%s'", len, n->text, more);
    }
}
