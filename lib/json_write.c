/*
 * json_write.c - the JSON writer of json.h. It runs for every task's args
 * and results (and every results.jsonl line), so it prints by hand where
 * printf would cost.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ptools/json.h>

#include <ptools/value.h>

static int put(pt_buf *o, const char *s)
{
    return pt_buf_append(o, s, strlen(s));
}

static const char pairs[] = "00010203040506070809"
                            "10111213141516171819"
                            "20212223242526272829"
                            "30313233343536373839"
                            "40414243444546474849"
                            "50515253545556575859"
                            "60616263646566676869"
                            "70717273747576777879"
                            "80818283848586878889"
                            "90919293949596979899";

/*
 * Exactly eight digits of v < 10^8 at p, without a division: v is split
 * into 4, 2, then 1-digit fields of one 64-bit word by multiplying with
 * fixed-point reciprocals (exact for these ranges), each field a byte,
 * lowest digit first; a byte swap puts them in reading order.
 */
static void put8(char *p, uint32_t v)
{
    uint64_t x = v;
    x += (UINT64_C(0x100000000) - 10000) * ((x * UINT64_C(0x68db8bb)) >> 40);
    x += (0x10000 - 100) * (((x * 0x147b) >> 19) & UINT64_C(0x7f0000007f));
    x += (0x100 - 10) * (((x * 0x67) >> 10) & UINT64_C(0xf000f000f000f));
    x = __builtin_bswap64(x) + UINT64_C(0x3030303030303030);
    memcpy(p, &x, 8);
}

/* The digits of v < 10^8 at p, without leading zeros: their count. */
static size_t put_small(char *p, uint32_t v)
{
    size_t n = v < 10         ? 1
               : v < 100      ? 2
               : v < 1000     ? 3
               : v < 10000    ? 4
               : v < 100000   ? 5
               : v < 1000000  ? 6
               : v < 10000000 ? 7
                              : 8;
    char *w = p + n;
    while (v >= 100) {
        w -= 2;
        memcpy(w, pairs + 2 * (v % 100), 2);
        v /= 100;
    }
    if (v >= 10)
        memcpy(w - 2, pairs + 2 * v, 2);
    else
        w[-1] = (char)('0' + v);
    return n;
}

/* Decimal in chunks of eight digits, each made of independent 32-bit
 * halves: every task's line has eight integers, most of them 19-digit
 * timestamps, and a chain of 64-bit divisions by 100 would cost the most
 * of the line. */
size_t pt_json_uint_text(char *p, uint64_t u)
{
    const uint64_t e8 = 100000000, e16 = e8 * e8;
    if (u < e8)
        return put_small(p, (uint32_t)u);
    if (u < e16) {
        size_t n = put_small(p, (uint32_t)(u / e8));
        put8(p + n, (uint32_t)(u % e8));
        return n + 8;
    }
    uint64_t rest = u % e16;
    size_t n = put_small(p, (uint32_t)(u / e16));
    put8(p + n, (uint32_t)(rest / e8));
    put8(p + n + 8, (uint32_t)(rest % e8));
    return n + 16;
}

void pt_json_digits(char *p, uint64_t u, int n)
{
    for (; n >= 8; n -= 8) {
        put8(p + n - 8, (uint32_t)(u % 100000000));
        u /= 100000000;
    }
    for (; n > 0; n--) {
        p[n - 1] = (char)('0' + u % 10);
        u /= 10;
    }
}

size_t pt_json_int_text(char *p, int64_t i)
{
    if (i >= 0)
        return pt_json_uint_text(p, (uint64_t)i);
    *p = '-';
    return 1 + pt_json_uint_text(p + 1, 0 - (uint64_t)i);
}

int pt_json_int(pt_buf *o, int64_t i)
{
    int rc = pt_buf_reserve(o, PT_JSON_INT_MAX);
    if (rc == 0)
        o->len += pt_json_int_text((char *)o->data + o->len, i);
    return rc;
}

int pt_json_uint(pt_buf *o, uint64_t u)
{
    int rc = pt_buf_reserve(o, PT_JSON_INT_MAX);
    if (rc == 0)
        o->len += pt_json_uint_text((char *)o->data + o->len, u);
    return rc;
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

int pt_json_real(pt_buf *o, double d)
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
    case '"': return put(o, "\\\"");
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

int pt_json_str(pt_buf *o, const char *s, size_t n)
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

int pt_json_cstr(pt_buf *o, const char *s)
{
    return s ? pt_json_str(o, s, strlen(s)) : put(o, "\"\"");
}
