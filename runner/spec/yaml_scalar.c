/*
 * yaml_scalar.c - what a scalar's text means, the way YAML 1.2's core
 * schema resolves a plain scalar: null (~, null, empty), bool (true,
 * false), int (decimal, 0x hex, 0o octal), float (1.5, 1e3, .inf, .nan),
 * else a string. YAML 1.1's yes/no/on/off stay strings, as users of
 * `on: 0` need. An integer literal outside int64 is refused where a spec
 * is read (rn_yint_range), never turned into a real nor saturated.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ptools/value.h>
#include "spec/yaml_tree.h"

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

/* What a plain scalar's text is as an integer literal. */
typedef enum int_lit { INT_NONE, INT_OK, INT_RANGE } int_lit;

/*
 * An integer literal (decimal, 0x hex, 0o octal, with a sign): INT_OK with
 * its value in *i, INT_RANGE when it is one but outside int64, else
 * INT_NONE. *base gets its base.
 */
static int_lit parse_int(const char *t, int64_t *i, int *base)
{
    const char *p = t + (*t == '-' || *t == '+');
    *base = 10;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'o')) {
        *base = p[1] == 'x' ? 16 : 8;
        p += 2;
    }
    if (!all_digits(p, *base))
        return INT_NONE;
    errno = 0;
    unsigned long long u = strtoull(p, NULL, *base);
    bool neg = *t == '-';
    if (errno == ERANGE || u > (neg ? (unsigned long long)INT64_MAX + 1
                                    : (unsigned long long)INT64_MAX))
        return INT_RANGE;
    *i = neg ? (int64_t)(0 - u) : (int64_t)u;
    return INT_OK;
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
    } else {
        int base;
        int_lit k = parse_int(t, &v->i, &base);
        if (k == INT_OK)
            v->type = RN_INT;
        else if (k == INT_RANGE) { /* a number, though no spec holds one */
            v->type = RN_REAL;
            v->r = NAN;
        } else if (parse_real(t, &v->r))
            v->type = RN_REAL;
    }
}

/* A real as YAML writes it: "1e23" rather than C's "1e+23". */
static void yaml_real_text(char *buf, size_t size, double d)
{
    char c[48];
    pt_real_text(c, sizeof c, d);
    char *e = strchr(c, 'e');
    if (e) {
        char *digits = e + 1 + (e[1] == '+' || e[1] == '-');
        size_t zeros = strspn(digits, "0");
        memmove(digits, digits + zeros, strlen(digits + zeros) + 1);
        if (e[1] == '+')
            memmove(e + 1, e + 2, strlen(e + 2) + 1);
    }
    snprintf(buf, size, "%s", c);
}

/* The int64 range written in `base`, for messages. */
static const char *range_in(int base)
{
    if (base == 16)
        return "-0x8000000000000000 to 0x7fffffffffffffff";
    if (base == 8)
        return "-0o1000000000000000000000 to 0o777777777777777777777";
    return "-9223372036854775808 to 9223372036854775807";
}

bool rn_yint_range(const char *text, char *msg, size_t size)
{
    int64_t i;
    int base;
    if (parse_int(text, &i, &base) != INT_RANGE)
        return false;
    size_t len = strlen(text);
    char shown[64], real[48];
    if (len > 40)
        snprintf(shown, sizeof shown, "%.24s... (%zu characters)", text, len);
    else
        snprintf(shown, sizeof shown, "%s", text);
    double d = base == 10 ? strtod(text, NULL) : NAN;
    if (isfinite(d)) { /* a decimal: perhaps a real written out in full */
        yaml_real_text(real, sizeof real, d);
        snprintf(msg, size,
                 "integer %s is outside the 64-bit range; write "
                 "%s if a real is meant",
                 shown, real);
    } else {
        snprintf(msg, size, "integer %s is outside the 64-bit range (%s)",
                 shown, range_in(base));
    }
    return true;
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
    default: snprintf(buf, size, "a string '%.*s%s'", len, n->text, more);
    }
}
