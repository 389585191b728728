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

/* u in decimal, after a '-' if `minus`. */
/* Decimal, two digits per division: every task's line has eight
 * integers, most of them 19-digit timestamps. */
static int put_decimal(pt_buf *o, uint64_t u, int minus)
{
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
    char s[24], *p = s + sizeof s;
    while (u >= 100) {
        unsigned d = (unsigned)(u % 100) * 2;
        u /= 100;
        *--p = pairs[d + 1];
        *--p = pairs[d];
    }
    if (u >= 10) {
        *--p = pairs[u * 2 + 1];
        *--p = pairs[u * 2];
    } else {
        *--p = (char)('0' + u);
    }
    if (minus)
        *--p = '-';
    return pt_buf_append(o, p, (size_t)(s + sizeof s - p));
}

int pt_json_int(pt_buf *o, int64_t i)
{
    return put_decimal(o, i < 0 ? 0 - (uint64_t)i : (uint64_t)i, i < 0);
}

int pt_json_uint(pt_buf *o, uint64_t u)
{
    return put_decimal(o, u, 0);
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
