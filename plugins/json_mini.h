/*
 * json_mini.h - the text buffer the shipped plugins write their files in,
 * header-only.
 *
 * jm_buf is a growing text buffer whose failures are sticky (`oom`), so a
 * writer appends a whole record and checks once; the per-task path of
 * jsonl and chrome-trace writes with it. Its JSON pieces (jm_buf_quote(),
 * jm_buf_int(), jm_buf_uint(), jm_buf_real()) are ptools' one JSON writer
 * (ptools/json.h, from libptools) run on the buffer's
 * storage. Reading JSON is jansson's (json_read.h).
 */
#ifndef PT_JSON_MINI_H
#define PT_JSON_MINI_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ptools/json.h>

#if defined(__GNUC__)
#define JM_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define JM_PRINTF(f, a)
#endif

typedef struct jm_buf {
    char *data; /* NUL-terminated once anything was added */
    size_t len, cap;
    bool oom; /* an append failed: the contents are incomplete */
} jm_buf;

/* Room for n more bytes (and the NUL) at b->data + b->len: a pointer to
 * write them at, or NULL (and oom set) when memory runs out. The writer
 * then adds what it wrote to b->len and calls jm_buf_end(). */
static inline char *jm_buf_room(jm_buf *b, size_t n)
{
    if (b->oom)
        return NULL;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) {
            b->oom = true;
            return NULL;
        }
        b->data = p;
        b->cap = cap;
    }
    return b->data + b->len;
}

/* The end of what was written at jm_buf_room()'s pointer, `at`. */
static inline void jm_buf_end(jm_buf *b, char *at)
{
    b->len = (size_t)(at - b->data);
    b->data[b->len] = '\0';
}

/*
 * Copy n bytes from s to p. Up to 16 in place, as two loads that may
 * overlap (and read nothing outside s): the pieces of a results.jsonl
 * line are a few bytes each, a dozen of them a line, and a call to
 * memcpy() cost more than the copy.
 */
static inline void jm_copy(char *p, const char *s, size_t n)
{
    if (n >= 8 && n <= 16) {
        uint64_t a, z;
        memcpy(&a, s, 8);
        memcpy(&z, s + n - 8, 8);
        memcpy(p, &a, 8);
        memcpy(p + n - 8, &z, 8);
    } else if (n >= 4 && n < 8) {
        uint32_t a, z;
        memcpy(&a, s, 4);
        memcpy(&z, s + n - 4, 4);
        memcpy(p, &a, 4);
        memcpy(p + n - 4, &z, 4);
    } else if (n < 4) {
        for (size_t i = 0; i < n; i++)
            p[i] = s[i];
    } else {
        memcpy(p, s, n);
    }
}

/*
 * The eight decimal digits of v < 10^8 in the bytes of one word, a digit
 * (0..9, not yet ASCII) a byte, the first digit in the highest byte: lib's
 * split (json_write.c's put8: 4, 2, then 1-digit fields by fixed-point
 * reciprocals), inline, for the numbers of a results.jsonl line.
 */
static inline uint64_t jm_digits8(uint32_t v)
{
    uint64_t x = v;
    x += (UINT64_C(0x100000000) - 10000) * ((x * UINT64_C(0x68db8bb)) >> 40);
    x += (0x10000 - 100) * (((x * 0x147b) >> 19) & UINT64_C(0x7f0000007f));
    x += (0x100 - 10) * (((x * 0x67) >> 10) & UINT64_C(0xf000f000f000f));
    return x;
}

/* Exactly eight digits of v < 10^8 at p. */
static inline void jm_put8(char *p, uint32_t v)
{
    uint64_t x = __builtin_bswap64(jm_digits8(v)) +
                 UINT64_C(0x3030303030303030);
    memcpy(p, &x, 8);
}

/*
 * The decimal text of v at p, as pt_json_uint_text() writes it, which p
 * has PT_JSON_INT_MAX bytes of room for (eight may be written past the
 * text): its length. Below 10^8 in place, the leading zeros of the eight
 * digits shifted out.
 */
static inline size_t jm_uint_text(char *p, uint64_t v)
{
    if (v >= 100000000)
        return pt_json_uint_text(p, v);
    uint64_t x = __builtin_bswap64(jm_digits8((uint32_t)v));
    /* the first digit in the lowest byte now: zeros below the first
     * nonzero one are leading zeros (v = 0 keeps one) */
    int zeros = v ? __builtin_ctzll(x) / 8 : 7;
    x = (x >> (8 * zeros)) + UINT64_C(0x3030303030303030);
    memcpy(p, &x, 8);
    return (size_t)(8 - zeros);
}

/* The same for a signed v (pt_json_int_text()). */
static inline size_t jm_int_text(char *p, int64_t v)
{
    if (v >= 0)
        return jm_uint_text(p, (uint64_t)v);
    *p = '-';
    return 1 + pt_json_uint_text(p + 1, 0 - (uint64_t)v);
}

/* Append n bytes. -1 (and oom set) when memory runs out. */
static inline int jm_buf_add(jm_buf *b, const char *s, size_t n)
{
    char *p = jm_buf_room(b, n);
    if (!p)
        return -1;
    jm_copy(p, s, n);
    jm_buf_end(b, p + n);
    return 0;
}

static inline int jm_buf_str(jm_buf *b, const char *s)
{
    return jm_buf_add(b, s, strlen(s));
}

/* Append a string literal (no strlen). */
#define jm_buf_lit(b, lit) jm_buf_add((b), "" lit, sizeof(lit) - 1)

/* Append a short formatted piece (a number, a name): at most 255 bytes. */
JM_PRINTF(2, 3)
static inline int jm_buf_fmt(jm_buf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        b->oom = true;
        return -1;
    }
    return jm_buf_add(b, tmp, (size_t)n);
}

/* Forget everything after the first `len` bytes, and a failed append. */
static inline void jm_buf_cut(jm_buf *b, size_t len)
{
    b->oom = false;
    b->len = len;
    if (b->data)
        b->data[len] = '\0';
}

static inline void jm_buf_free(jm_buf *b)
{
    free(b->data);
    *b = (jm_buf){0};
}

/* A pt_buf over b's storage, for a writer of ptools/json.h. */
static inline pt_buf jm_lend(jm_buf *b)
{
    return (pt_buf){(uint8_t *)b->data, b->len, b->cap};
}

/* Take the storage back after writer's `rc`: 0, or -1 (and oom set). */
static inline int jm_take(jm_buf *b, const pt_buf *p, int rc)
{
    b->data = (char *)p->data;
    b->len = p->len;
    b->cap = p->cap;
    if (rc < 0)
        b->oom = true;
    return rc < 0 ? -1 : jm_buf_add(b, "", 0); /* NUL-terminated again */
}

/* Append `s` as a JSON string (pt_json_cstr: always valid JSON). */
static inline int jm_buf_quote(jm_buf *b, const char *s)
{
    if (b->oom)
        return -1;
    pt_buf p = jm_lend(b);
    return jm_take(b, &p, pt_json_cstr(&p, s));
}

/* Append a decimal, without printf (it is the hot path). */
static inline int jm_buf_int(jm_buf *b, long long v)
{
    char *p = jm_buf_room(b, PT_JSON_INT_MAX);
    if (!p)
        return -1;
    jm_buf_end(b, p + pt_json_int_text(p, v));
    return 0;
}

static inline int jm_buf_uint(jm_buf *b, unsigned long long v)
{
    char *p = jm_buf_room(b, PT_JSON_INT_MAX);
    if (!p)
        return -1;
    jm_buf_end(b, p + pt_json_uint_text(p, v));
    return 0;
}

/* Append a real (pt_json_real: shortest round-trip, ".0" kept). */
static inline int jm_buf_real(jm_buf *b, double v)
{
    if (b->oom)
        return -1;
    pt_buf p = jm_lend(b);
    return jm_take(b, &p, pt_json_real(&p, v));
}

#endif
