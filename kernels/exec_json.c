/*
 * exec_json.c - `capture: json` for the exec kernel: the program's stdout
 * is one JSON object (RFC 8259, strictly) whose members become results:
 * strings, numbers (an int when written without fraction or exponent and
 * within int64, else a real), booleans, and lists of numbers; a null
 * member is left out. Kernels link nothing, hence this small parser
 * rather than jansson; nested objects and other lists are refused.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"

typedef struct parser {
    pt_ctx *ctx;
    const char *p, *start, *end;
    exec_buf num; /* a list of numbers being read */
} parser;

static int fail_at(parser *ps, const char *what)
{
    return pt_fail(ps->ctx, "capture json: %s at byte %zu of stdout", what,
                   (size_t)(ps->p - ps->start));
}

static void skip_ws(parser *ps)
{
    while (ps->p < ps->end && strchr(" \t\r\n", *ps->p) && *ps->p)
        ps->p++;
}

static int hex4(parser *ps, unsigned *u)
{
    *u = 0;
    for (int i = 0; i < 4; i++, ps->p++) {
        char c = ps->p < ps->end ? *ps->p : 0;
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return fail_at(ps, "bad \\u escape");
        *u = *u * 16 + (unsigned)d;
    }
    return 0;
}

/* \uXXXX (with its low surrogate if any) as UTF-8. */
static int unicode(parser *ps, exec_buf *s)
{
    unsigned u, lo;
    char b[4];
    size_t n;
    if (hex4(ps, &u) < 0)
        return -1;
    if (u >= 0xD800 && u < 0xDC00) {
        if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u')
            return fail_at(ps, "a lone surrogate");
        ps->p += 2;
        if (hex4(ps, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF)
            return fail_at(ps, "a bad surrogate pair");
        u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
    } else if (u >= 0xDC00 && u < 0xE000) {
        return fail_at(ps, "a lone surrogate");
    }
    if (u == 0)
        return fail_at(ps, "a NUL character in a string");
    if (u < 0x80) {
        b[0] = (char)u, n = 1;
    } else if (u < 0x800) {
        b[0] = (char)(0xC0 | u >> 6), b[1] = (char)(0x80 | (u & 0x3F)), n = 2;
    } else if (u < 0x10000) {
        b[0] = (char)(0xE0 | u >> 12), b[1] = (char)(0x80 | (u >> 6 & 0x3F));
        b[2] = (char)(0x80 | (u & 0x3F)), n = 3;
    } else {
        b[0] = (char)(0xF0 | u >> 18), b[1] = (char)(0x80 | (u >> 12 & 0x3F));
        b[2] = (char)(0x80 | (u >> 6 & 0x3F)), b[3] = (char)(0x80 | (u & 0x3F));
        n = 4;
    }
    return exec_buf_add(s, b, n) < 0 ? fail_at(ps, "out of memory") : 0;
}

/* A string at ps->p (on its quote) into `s` (reset first). */
static int string(parser *ps, exec_buf *s)
{
    static const char esc[] = "\"\\/bfnrt", out[] = "\"\\/\b\f\n\r\t";
    s->len = 0;
    if (exec_buf_add(s, "", 0) < 0)
        return fail_at(ps, "out of memory");
    for (ps->p++; ps->p < ps->end && *ps->p != '"';) {
        unsigned char c = (unsigned char)*ps->p++;
        const char *e;
        int rc = 0;
        if (c < 0x20)
            return ps->p--, fail_at(ps, "a control character in a string");
        if (c != '\\')
            rc = exec_buf_add(s, &c, 1);
        else if (ps->p < ps->end && *ps->p == 'u' && (ps->p++, 1))
            rc = unicode(ps, s);
        else if (ps->p < ps->end && *ps->p && (e = strchr(esc, *ps->p)))
            rc = exec_buf_add(s, &out[e - esc], 1), ps->p++;
        else
            return fail_at(ps, "a bad escape");
        if (rc < 0)
            return -1;
    }
    if (ps->p >= ps->end)
        return fail_at(ps, "an unterminated string");
    ps->p++;
    return 0;
}

/* A number per the JSON grammar: its end, and whether it is integral. */
static const char *number_end(const char *p, const char *end, bool *whole)
{
#define DIGITS(q)                                                              \
    while (q < end && *q >= '0' && *q <= '9')                                  \
    q++
    const char *q = p + (p < end && *p == '-'), *d = q;
    *whole = true;
    if (q < end && *q == '0')
        q++;
    else
        DIGITS(q);
    if (q == d)
        return NULL;
    if (q < end && *q == '.') {
        d = ++q, *whole = false;
        DIGITS(q);
        if (q == d)
            return NULL;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        q++, *whole = false;
        q += q < end && (*q == '+' || *q == '-');
        d = q;
        DIGITS(q);
        if (q == d)
            return NULL;
    }
    return q;
#undef DIGITS
}

/* A number: as an int (is_int) or a real. */
static int number(parser *ps, bool *is_int, int64_t *i, double *r)
{
    char tmp[400];
    const char *q = number_end(ps->p, ps->end, is_int);
    size_t n = q ? (size_t)(q - ps->p) : 0;
    if (!q || n >= sizeof tmp)
        return fail_at(ps, "a bad value");
    memcpy(tmp, ps->p, n);
    tmp[n] = '\0';
    errno = 0;
    if (*is_int) {
        long long v = strtoll(tmp, NULL, 10);
        *is_int = errno == 0;
        *i = v;
    }
    if (!*is_int)
        *r = strtod(tmp, NULL);
    ps->p = q;
    return 0;
}

/* A list of numbers, set as ints (all whole) or reals. */
static int numbers(parser *ps, const char *key)
{
    size_t n = 0;
    bool all_int = true;
    ps->num.len = 0;
    for (ps->p++, skip_ws(ps); ps->p < ps->end && *ps->p != ']'; n++) {
        bool is_int;
        int64_t i = 0;
        double r = 0;
        if (n && (*ps->p != ',' || (ps->p++, skip_ws(ps), 0)))
            return fail_at(ps, "expected `,` or `]`");
        if (ps->p >= ps->end || !strchr("-0123456789", *ps->p) || !*ps->p)
            return fail_at(ps, "only lists of numbers are results");
        if (number(ps, &is_int, &i, &r) < 0)
            return -1;
        all_int = all_int && is_int;
        struct {
            int64_t i;
            double r;
        } v = {i, is_int ? (double)i : r};
        if (exec_buf_add(&ps->num, &v, sizeof v) < 0)
            return fail_at(ps, "out of memory");
        skip_ws(ps);
    }
    if (ps->p >= ps->end)
        return fail_at(ps, "an unterminated list");
    ps->p++;
    int rc = 0;
    void *a = malloc(n ? n * 8 : 1);
    if (!a)
        return fail_at(ps, "out of memory");
    for (size_t k = 0; k < n; k++) {
        const char *item = ps->num.p + k * (sizeof(int64_t) + sizeof(double));
        memcpy((char *)a + 8 * k, item + (all_int ? 0 : 8), 8);
    }
    rc = all_int ? pt_result_ints(ps->ctx, key, a, n)
                 : pt_result_reals(ps->ctx, key, a, n);
    free(a);
    return rc;
}

/* The literal `word` at ps->p. */
static bool literal(parser *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return false;
    ps->p += n;
    return true;
}

/* A result failed to be set: name it (a key given twice, `exit_code`). */
static int result_rc(parser *ps, int rc, const char *key)
{
    if (rc >= 0)
        return 0;
    return pt_fail(ps->ctx, "capture json: member `%s`: %s", key,
                   rc == -EEXIST ? "given twice (or it is `exit_code`)"
                                 : strerror(-rc));
}

/* One member's value at ps->p, set as the result `key`. */
static int value(parser *ps, const char *key, exec_buf *s)
{
    bool is_int;
    int64_t i;
    double r;
    char c = ps->p < ps->end ? *ps->p : 0;
    if (c == '"')
        return string(ps, s) < 0
                   ? -1
                   : result_rc(ps, pt_result_str(ps->ctx, key, s->p), key);
    if (c == '[')
        return numbers(ps, key) < 0 ? -1 : 0;
    if (c == '-' || (c >= '0' && c <= '9')) {
        if (number(ps, &is_int, &i, &r) < 0)
            return -1;
        return result_rc(ps,
                         is_int ? pt_result_int(ps->ctx, key, i)
                                : pt_result_real(ps->ctx, key, r),
                         key);
    }
    if (literal(ps, "true") || literal(ps, "false"))
        return result_rc(
            ps,
            pt_result_bool(ps->ctx, key, ps->p[-1] == 'e' && ps->p[-2] == 'u'),
            key);
    if (literal(ps, "null"))
        return 0;
    if (c == '{')
        return fail_at(ps, "a nested object (only flat objects are results)");
    return fail_at(ps, "a bad value");
}

/* The members of the object at ps->p. */
static int members(parser *ps, exec_buf *key, exec_buf *s)
{
    for (int n = 0;; n++) {
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == '}' && n == 0)
            break;
        if (ps->p >= ps->end || *ps->p != '"')
            return fail_at(ps, "expected a member name");
        if (string(ps, key) < 0)
            return -1;
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != ':')
            return fail_at(ps, "expected `:`");
        ps->p++;
        skip_ws(ps);
        if (value(ps, key->p, s) < 0)
            return -1;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p >= ps->end || *ps->p != '}')
            return fail_at(ps, "expected `,` or `}`");
        break;
    }
    ps->p++;
    return 0;
}

int exec_json_results(pt_ctx *ctx, const char *text, size_t len)
{
    parser ps = {.ctx = ctx, .p = text, .start = text, .end = text + len};
    exec_buf key = {0}, s = {0};
    int rc;
    skip_ws(&ps);
    if (ps.p >= ps.end || *ps.p != '{')
        rc = fail_at(&ps, "stdout is not a JSON object");
    else if (ps.p++, (rc = members(&ps, &key, &s)) == 0) {
        skip_ws(&ps);
        if (ps.p != ps.end)
            rc = fail_at(&ps, "more after the object");
    }
    exec_buf_free(&key);
    exec_buf_free(&s);
    exec_buf_free(&ps.num);
    return rc < 0 ? -1 : 0;
}
