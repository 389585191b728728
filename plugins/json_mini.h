/*
 * json_mini.h - the little JSON the shipped plugins need, header-only.
 *
 * jm_buf is a growing text buffer whose failures are sticky (`oom`), so a
 * writer appends a whole record and checks once. jm_buf_quote() appends a
 * string as a JSON string literal.
 *
 * jm_flatten() reads one JSON object (RFC 8259, checked in full) and calls
 * back once per leaf: a scalar, an array or an empty object. Keys of nested
 * objects are joined with '.', so {"a":{"b":1},"c":[1,2]} gives "a.b" and
 * "c"; arrays are not entered, the callback gets their JSON text. Nesting
 * deeper than JM_MAX_DEPTH is an error, so hostile input cannot exhaust the
 * stack; so is \u0000 in a string, which a C string cannot hold.
 *
 * Everything is static: each plugin .so carries what it uses and links
 * nothing.
 */
#ifndef PT_JSON_MINI_H
#define PT_JSON_MINI_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JM_MAX_DEPTH 64

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

/* Append n bytes. -1 (and oom set) when memory runs out. */
static inline int jm_buf_add(jm_buf *b, const char *s, size_t n)
{
    if (b->oom)
        return -1;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) {
            b->oom = true;
            return -1;
        }
        b->data = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static inline int jm_buf_str(jm_buf *b, const char *s)
{
    return jm_buf_add(b, s, strlen(s));
}

/* Append a string literal (no strlen). */
#define jm_buf_lit(b, lit) jm_buf_add((b), "" lit, sizeof(lit) - 1)

/* Append an unsigned decimal, without printf (it is the hot path). */
static inline int jm_buf_uint(jm_buf *b, unsigned long long v)
{
    char tmp[24], *p = tmp + sizeof tmp;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return jm_buf_add(b, p, (size_t)(tmp + sizeof tmp - p));
}

/* Append a signed decimal. */
static inline int jm_buf_int(jm_buf *b, long long v)
{
    if (v >= 0)
        return jm_buf_uint(b, (unsigned long long)v);
    jm_buf_add(b, "-", 1);
    return jm_buf_uint(b, 0ULL - (unsigned long long)v);
}

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

/*
 * The length of the valid UTF-8 sequence at `s` (1 to 4), or 0 when the
 * bytes there are not UTF-8 (overlong, surrogate, beyond U+10FFFF, cut).
 */
static inline size_t jm_utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t n = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2
             : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) ||
        (c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] > 0x8F))
        return 0;
    return n;
}

/*
 * Append `s` as a JSON string: quotes and backslashes escaped, \n \r \t by
 * name, other control characters as \u00XX, and each byte that is not
 * valid UTF-8 (a kernel may print anything) as U+FFFD, so the output is
 * always valid JSON. Valid UTF-8 passes through.
 */
static inline int jm_buf_quote(jm_buf *b, const char *s)
{
    jm_buf_add(b, "\"", 1);
    for (const char *run = s;; s++) {
        unsigned char c = (unsigned char)*s;
        size_t n = c >= 0x80 ? jm_utf8_len((const unsigned char *)s) : 1;
        if (c >= 0x20 && c != '"' && c != '\\' && n) {
            s += n - 1;
            continue;
        }
        jm_buf_add(b, run, (size_t)(s - run));
        if (c == '\0')
            break;
        switch (c) {
        case '"': jm_buf_add(b, "\\\"", 2); break;
        case '\\': jm_buf_add(b, "\\\\", 2); break;
        case '\n': jm_buf_add(b, "\\n", 2); break;
        case '\r': jm_buf_add(b, "\\r", 2); break;
        case '\t': jm_buf_add(b, "\\t", 2); break;
        default:
            if (c >= 0x80)
                jm_buf_add(b, "\\ufffd", 6);
            else
                jm_buf_fmt(b, "\\u%04x", c);
        }
        run = s + 1;
    }
    return jm_buf_add(b, "\"", 1);
}

typedef enum jm_type {
    JM_NULL,
    JM_BOOL,
    JM_NUMBER,
    JM_STRING,
    JM_ARRAY,
    JM_OBJECT, /* only an empty one is a leaf */
} jm_type;

/* One leaf, valid during the callback only. */
typedef struct jm_leaf {
    jm_type type;
    const char *raw; /* the value's JSON text, rawlen bytes, not terminated */
    size_t rawlen;
    const char *str; /* JM_STRING: the decoded text, NUL-terminated */
    bool b;          /* JM_BOOL */
} jm_leaf;

/* Return 0 to go on; anything else stops jm_flatten(), which returns it. */
typedef int (*jm_leaf_fn)(void *arg, const char *key, const jm_leaf *v);

typedef struct jm_parser {
    const char *s;
    size_t pos;
    int in_array; /* > 0: check values, do not report them */
    jm_buf key;   /* the dotted key of the member being read */
    jm_buf str;   /* the last string value, decoded */
    jm_leaf_fn fn;
    void *arg;
    char *err;
    size_t errlen;
} jm_parser;

static inline int jm_value(jm_parser *p, int depth);

static inline int jm_fail(jm_parser *p, const char *what)
{
    if (p->err && p->errlen)
        snprintf(p->err, p->errlen, "bad JSON at offset %zu: %s", p->pos, what);
    return -1;
}

static inline void jm_ws(jm_parser *p)
{
    while (p->s[p->pos] && strchr(" \t\r\n", p->s[p->pos]))
        p->pos++;
}

/* Append code point `cp` to `out` as UTF-8. */
static inline void jm_utf8(jm_buf *out, unsigned long cp)
{
    static const unsigned char lead[] = {0, 0x00, 0xC0, 0xE0, 0xF0};
    size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    char u[4];
    u[0] = (char)(lead[n] | cp >> (6 * (n - 1)));
    for (size_t i = 1; i < n; i++)
        u[i] = (char)(0x80 | ((cp >> (6 * (n - 1 - i))) & 0x3F));
    jm_buf_add(out, u, n);
}

/* Read the 4 hex digits of a \u escape. */
static inline int jm_hex4(jm_parser *p, unsigned long *cp)
{
    *cp = 0;
    for (int i = 0; i < 4; i++, p->pos++) {
        char c = p->s[p->pos];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return jm_fail(p, "bad \\u escape");
        *cp = *cp << 4 | (unsigned long)d;
    }
    return 0;
}

/*
 * Decode the escape after a backslash. A \u surrogate pair becomes one code
 * point; a lone surrogate becomes U+FFFD, as lenient readers do. \u0000 is
 * refused: the decoded text is a C string, and a NUL in it would cut it
 * short for every reader ({"cmd":"status\u0000junk"} read as "status").
 */
static inline int jm_escape(jm_parser *p, jm_buf *out)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    char c = p->s[p->pos];
    const char *k = c ? strchr(from, c) : NULL;
    if (k) {
        p->pos++;
        jm_buf_add(out, &to[k - from], 1);
        return 0;
    }
    if (c != 'u')
        return jm_fail(p, "bad escape");
    p->pos++;
    unsigned long cp, lo;
    if (jm_hex4(p, &cp))
        return -1;
    if (cp >= 0xD800 && cp < 0xDC00 && p->s[p->pos] == '\\' &&
        p->s[p->pos + 1] == 'u') {
        p->pos += 2;
        if (jm_hex4(p, &lo))
            return -1;
        if (lo >= 0xDC00 && lo < 0xE000)
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        else /* a lone high one: the next escape is read on its own, */
            p->pos -= 6; /* it may start a pair (\ud800\ud800\udc00) */
    }
    if (cp == 0)
        return jm_fail(p, "\\u0000 (NUL) in a string");
    jm_utf8(out, cp >= 0xD800 && cp < 0xE000 ? 0xFFFD : cp);
    return 0;
}

/* Read the string at p->pos (a '"') and append its decoded text to out. */
static inline int jm_string(jm_parser *p, jm_buf *out)
{
    p->pos++;
    for (;;) {
        size_t run = p->pos;
        unsigned char c;
        while ((c = (unsigned char)p->s[p->pos]) >= 0x20 && c != '"' &&
               c != '\\')
            p->pos++;
        jm_buf_add(out, p->s + run, p->pos - run);
        if (c == '"')
            break;
        if (c != '\\')
            return jm_fail(p, c ? "control character in a string"
                                : "unterminated string");
        p->pos++;
        if (jm_escape(p, out))
            return -1;
    }
    p->pos++;
    if (jm_buf_add(out, "", 0))
        return jm_fail(p, "out of memory");
    return 0;
}

/* Skip a run of digits; false when there was none. */
static inline bool jm_digits(jm_parser *p)
{
    size_t start = p->pos;
    while (p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
        p->pos++;
    return p->pos > start;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static inline int jm_number(jm_parser *p)
{
    if (p->s[p->pos] == '-')
        p->pos++;
    if (p->s[p->pos] == '0')
        p->pos++;
    else if (!jm_digits(p))
        return jm_fail(p, "bad number");
    if (p->s[p->pos] == '.' && (p->pos++, !jm_digits(p)))
        return jm_fail(p, "bad number");
    if (p->s[p->pos] == 'e' || p->s[p->pos] == 'E') {
        p->pos++;
        if (p->s[p->pos] == '+' || p->s[p->pos] == '-')
            p->pos++;
        if (!jm_digits(p))
            return jm_fail(p, "bad number");
    }
    return 0;
}

/* Hand the value read since `start` to the callback (not inside arrays). */
static inline int jm_emit(jm_parser *p, jm_type type, size_t start)
{
    if (p->in_array || !p->fn)
        return 0;
    jm_leaf v = {.type = type,
                 .raw = p->s + start,
                 .rawlen = p->pos - start,
                 .str = type == JM_STRING ? p->str.data : NULL,
                 .b = type == JM_BOOL && p->s[start] == 't'};
    return p->fn(p->arg, p->key.data ? p->key.data : "", &v);
}

/* Read the object at p->pos; `depth` is its nesting level, 1 at the top. */
static inline int jm_object(jm_parser *p, int depth)
{
    size_t start = p->pos++, keylen = p->key.len;
    jm_ws(p);
    if (p->s[p->pos] == '}') {
        p->pos++;
        return depth > 1 ? jm_emit(p, JM_OBJECT, start) : 0;
    }
    for (;;) {
        jm_ws(p);
        if (p->s[p->pos] != '"')
            return jm_fail(p, "expected a key");
        if (depth > 1)
            jm_buf_add(&p->key, ".", 1);
        if (jm_string(p, &p->key))
            return -1;
        jm_ws(p);
        if (p->s[p->pos] != ':')
            return jm_fail(p, "expected ':'");
        p->pos++;
        int rc = jm_value(p, depth);
        if (rc)
            return rc;
        jm_buf_cut(&p->key, keylen);
        jm_ws(p);
        if (p->s[p->pos] == '}')
            return p->pos++, 0;
        if (p->s[p->pos] != ',')
            return jm_fail(p, "expected ',' or '}'");
        p->pos++;
    }
}

/* Read the array at p->pos, checking its values without reporting them. */
static inline int jm_array(jm_parser *p, int depth)
{
    p->pos++;
    jm_ws(p);
    if (p->s[p->pos] == ']')
        return p->pos++, 0;
    p->in_array++;
    for (;;) {
        int rc = jm_value(p, depth);
        if (rc)
            return rc;
        jm_ws(p);
        if (p->s[p->pos] == ']')
            break;
        if (p->s[p->pos] != ',')
            return jm_fail(p, "expected ',' or ']'");
        p->pos++;
    }
    p->pos++;
    p->in_array--;
    return 0;
}

/* Read `word` (true, false, null) at p->pos. */
static inline int jm_literal(jm_parser *p, const char *word)
{
    size_t n = strlen(word);
    if (strncmp(p->s + p->pos, word, n) != 0)
        return jm_fail(p, "expected a value");
    p->pos += n;
    return 0;
}

/* Read any value; objects and arrays inside it are at depth + 1. */
static inline int jm_value(jm_parser *p, int depth)
{
    jm_ws(p);
    size_t start = p->pos;
    char c = p->s[p->pos];
    jm_type type = JM_NULL;
    int rc;
    if ((c == '{' || c == '[') && depth >= JM_MAX_DEPTH)
        return jm_fail(p, "nested too deep");
    if (c == '{')
        return jm_object(p, depth + 1);
    if (c == '[') {
        type = JM_ARRAY, rc = jm_array(p, depth + 1);
    } else if (c == '"') {
        jm_buf_cut(&p->str, 0);
        type = JM_STRING, rc = jm_string(p, &p->str);
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        type = JM_NUMBER, rc = jm_number(p);
    } else if (c == 't' || c == 'f') {
        type = JM_BOOL, rc = jm_literal(p, c == 't' ? "true" : "false");
    } else {
        rc = jm_literal(p, "null");
    }
    return rc ? rc : jm_emit(p, type, start);
}

/*
 * The value of a number leaf written as an integer in [0, limit): digits
 * only, so "4" but not "4.0", "4e0", "-1" or "\"4\""; -1 for anything else.
 */
static inline int64_t jm_leaf_index(const jm_leaf *v, int64_t limit)
{
    int64_t n = 0;
    if (v->type != JM_NUMBER)
        return -1;
    for (size_t i = 0; i < v->rawlen; i++) {
        char c = v->raw[i];
        if (c < '0' || c > '9' || n > (limit - (c - '0')) / 10)
            return -1;
        n = n * 10 + (c - '0');
    }
    return n < limit ? n : -1;
}

/*
 * Read `json`, which must be one object, calling fn(arg, key, leaf) for each
 * leaf in order. Returns 0, the callback's non-zero value, or -1 with a
 * message in err ("bad JSON at offset N: ...").
 */
static inline int jm_flatten(const char *json, jm_leaf_fn fn, void *arg,
                             char *err, size_t errlen)
{
    jm_parser p = {
        .s = json, .fn = fn, .arg = arg, .err = err, .errlen = errlen};
    jm_ws(&p);
    int rc = p.s[p.pos] == '{' ? jm_object(&p, 1)
                               : jm_fail(&p, "expected an object");
    if (rc == 0) {
        jm_ws(&p);
        if (p.s[p.pos])
            rc = jm_fail(&p, "text after the object");
    }
    jm_buf_free(&p.key);
    jm_buf_free(&p.str);
    return rc;
}

#endif
