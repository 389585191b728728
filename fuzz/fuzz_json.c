/*
 * fuzz_json.c - libFuzzer target over the JSON the runner reads back:
 * jm_flatten() (plugins/json_mini.h) as resume reads manifest.json (the
 * whole text, up to a NUL) and results.jsonl (line by line), and
 * rn_ctl_request(), what the `ptrun ctl` server does with each request
 * line (runner/ctl/ctl.c).
 *
 * jm_flatten() is held to its contract, leaf by leaf and as a whole:
 *  - a leaf's raw text lies inside the input and is one JSON value of its
 *    type (a number strtod() reads in full, a string in quotes whose `str`
 *    is the text a reference decoder below makes, "true"/"false" with `b`
 *    to match, "null", an array that parses again on its own, "{ }");
 *  - the callback-less parse agrees with the one with a callback (result
 *    and message), and a callback's non-zero value stops the parse and is
 *    what jm_flatten() returns;
 *  - a parsed object wrapped as {"w": OBJECT} parses again (unless too
 *    deep) to the same leaves, each key prefixed with "w.".
 * rn_ctl_request() must apply exactly the requests ctl.h describes, with
 * their members as given, and give a reason for every refusal.
 *
 * A broken promise aborts, for the fuzzer. With $FUZZ_VERBOSE set, each
 * input's outcome is printed.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "json_mini.h"

#define ERR_MAX 256
#define STOP_CODE 7

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int g_verbose = -1;

/* A broken promise: say which, show the input, abort for the fuzzer. */
static void fail(const char *what, const char *text, size_t len)
{
    fprintf(stderr, "fuzz_json: %s\n--- input (%zu bytes):\n%.*s\n---\n", what,
            len, (int)(len > 4096 ? 4096 : len), text);
    abort();
}

/* malloc that never returns NULL (the fuzzer aborts instead). */
static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "fuzz_json: out of memory\n");
        abort();
    }
    return p;
}

/* A NUL-terminated copy of p[0..n), in a buffer of exactly n + 1 bytes. */
static char *copy(const void *p, size_t n)
{
    char *s = xmalloc(n + 1);
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* ---- the reference string decoder ---------------------------------------- */

/* Append code point `cp` as UTF-8. */
static void put_utf8(jm_buf *out, unsigned long cp)
{
    char u[4];
    size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    static const unsigned char lead[] = {0, 0x00, 0xC0, 0xE0, 0xF0};
    for (size_t i = n; i-- > 1; cp >>= 6)
        u[i] = (char)(0x80 | (cp & 0x3F));
    u[0] = (char)(lead[n] | cp);
    jm_buf_add(out, u, n);
}

/* The value of 4 hex digits (already checked by jm_flatten). */
static unsigned long hex4(const char *s)
{
    char h[5] = {s[0], s[1], s[2], s[3], 0};
    return strtoul(h, NULL, 16);
}

/*
 * Decode a string's raw text (with its quotes), which jm_flatten() already
 * checked, the way RFC 8259 reads it: a surrogate that is not half of a
 * pair is U+FFFD; bytes pass as they are. `out` gets the text and its
 * length (it may hold NULs).
 */
static void decode(const char *raw, size_t rawlen, jm_buf *out)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *s = raw + 1, *end = raw + rawlen - 1;
    jm_buf_add(out, "", 0);
    while (s < end) {
        if (*s != '\\') {
            jm_buf_add(out, s++, 1);
        } else if (s[1] != 'u') {
            jm_buf_add(out, &to[strchr(from, s[1]) - from], 1);
            s += 2;
        } else {
            unsigned long cp = hex4(s + 2), lo;
            s += 6;
            if (cp >= 0xD800 && cp < 0xDC00 && s + 6 <= end && s[0] == '\\' &&
                s[1] == 'u' && (lo = hex4(s + 2)) >= 0xDC00 && lo < 0xE000) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                s += 6;
            }
            put_utf8(out, cp >= 0xD800 && cp < 0xE000 ? 0xFFFD : cp);
        }
    }
}

/* ---- one parse and its leaves -------------------------------------------- */

/* A leaf as recorded: its key, type and raw text (offsets into the input). */
typedef struct leaf {
    char *key;
    jm_type type;
    size_t off, len;
} leaf;

/* One parse: its input, its leaves so far, where the callback stops it. */
typedef struct parse {
    const char *text; /* the input of this parse */
    size_t textlen;
    leaf *leaves;
    size_t n, cap;
    size_t stop_at; /* return STOP_CODE at this leaf (SIZE_MAX: never) */
} parse;

/* A string leaf's str is exactly the reference decoding of its raw text. */
static void check_str(parse *p, const jm_leaf *v)
{
    jm_buf want = {0};
    decode(v->raw, v->rawlen, &want);
    if (want.oom)
        fail("out of memory", p->text, p->textlen);
    if (!v->str || strlen(v->str) != want.len ||
        memcmp(v->str, want.data, want.len) != 0)
        fail("a string leaf's str is not its decoded text", p->text,
             p->textlen);
    jm_buf_free(&want);
}

/* Does the raw text of a leaf of this type look like one? */
static bool raw_fits(const jm_leaf *v)
{
    const char *r = v->raw;
    size_t n = v->rawlen;
    switch (v->type) {
    case JM_NULL: return n == 4 && memcmp(r, "null", 4) == 0;
    case JM_BOOL:
        return v->b ? n == 4 && memcmp(r, "true", 4) == 0
                    : n == 5 && memcmp(r, "false", 5) == 0;
    case JM_STRING: return n >= 2 && r[0] == '"' && r[n - 1] == '"';
    case JM_ARRAY: return n >= 2 && r[0] == '[' && r[n - 1] == ']';
    case JM_OBJECT:
        return n >= 2 && r[0] == '{' && r[n - 1] == '}' &&
               strspn(r + 1, " \t\r\n") == n - 2;
    default: return n >= 1;
    }
}

/* A number's raw text is read in full by strtod (a finite or huge value). */
static bool number_ok(const jm_leaf *v)
{
    char *s = copy(v->raw, v->rawlen), *end;
    (void)strtod(s, &end);
    bool ok = end == s + v->rawlen && strspn(s, "-0123456789.eE+") == v->rawlen;
    free(s);
    return ok;
}

/* An array's raw text, alone as the value of a member, parses again. */
static bool array_ok(const jm_leaf *v)
{
    jm_buf b = {0};
    char err[ERR_MAX];
    jm_buf_lit(&b, "{\"a\":");
    jm_buf_add(&b, v->raw, v->rawlen);
    jm_buf_lit(&b, "}");
    bool ok = !b.oom && jm_flatten(b.data, NULL, NULL, err, sizeof err) == 0;
    jm_buf_free(&b);
    return ok;
}

/* Keep a copy of the leaf, to compare parses. */
static void record(parse *p, const char *key, const jm_leaf *v)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 16;
        leaf *l = realloc(p->leaves, p->cap * sizeof *l);
        if (!l)
            fail("out of memory", p->text, p->textlen);
        p->leaves = l;
    }
    p->leaves[p->n++] = (leaf){copy(key, strlen(key)), v->type,
                               (size_t)(v->raw - p->text), v->rawlen};
}

/* jm_flatten() callback: check the leaf, record it, stop where asked. */
static int on_leaf(void *arg, const char *key, const jm_leaf *v)
{
    parse *p = arg;
    if (!key || v->raw < p->text || v->rawlen > p->textlen ||
        (size_t)(v->raw - p->text) > p->textlen - v->rawlen)
        fail("a leaf outside the input", p->text, p->textlen);
    if (!raw_fits(v) || (v->type == JM_NUMBER && !number_ok(v)) ||
        (v->type == JM_ARRAY && !array_ok(v)))
        fail("a leaf's raw text is not a value of its type", p->text,
             p->textlen);
    if (v->type == JM_STRING)
        check_str(p, v);
    record(p, key, v);
    return p->n - 1 == p->stop_at ? STOP_CODE : 0;
}

/* Forget the recorded leaves. */
static void parse_free(parse *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->leaves[i].key);
    free(p->leaves);
    p->leaves = NULL;
    p->n = p->cap = 0;
}

/* ---- jm_flatten() as a whole --------------------------------------------- */

/* {"w": text}, and where text's leaves are in it (the offset). */
static char *wrap(const char *text, size_t *shift)
{
    static const char head[] = "{\"w\":";
    size_t n = strlen(text);
    char *w = xmalloc(sizeof head + n + 1);
    memcpy(w, head, sizeof head - 1);
    memcpy(w + sizeof head - 1, text, n);
    memcpy(w + sizeof head - 1 + n, "}", 2);
    *shift = sizeof head - 1;
    return w;
}

/* The wrapped object's leaves are text's, keys under "w.". */
static void check_wrapped(const char *text, const parse *p)
{
    size_t shift;
    char *w = wrap(text, &shift), err[ERR_MAX];
    parse q = {w, strlen(w), NULL, 0, 0, SIZE_MAX};
    int rc = jm_flatten(w, on_leaf, &q, err, sizeof err);
    if (rc != 0 && !strstr(err, "nested too deep"))
        fail("a parsed object does not parse as a member's value", text,
             strlen(text));
    /* {} has no leaf, but {"w":{}} has one: an empty object. */
    for (size_t i = 0; rc == 0 && i < q.n; i++) {
        const leaf *a = i < p->n ? &p->leaves[i] : NULL, *b = &q.leaves[i];
        bool same = a ? strncmp(b->key, "w.", 2) == 0 &&
                            strcmp(b->key + 2, a->key) == 0 &&
                            a->type == b->type && a->off + shift == b->off &&
                            a->len == b->len
                      : p->n == 0 && q.n == 1 && strcmp(b->key, "w") == 0 &&
                            b->type == JM_OBJECT;
        if (!same)
            fail("a wrapped object has other leaves", text, strlen(text));
    }
    if (rc == 0 && q.n != (p->n ? p->n : 1))
        fail("a wrapped object has another number of leaves", text,
             strlen(text));
    parse_free(&q);
    free(w);
}

/* Read one JSON text as resume does; check everything above. */
static void check_text(const char *text)
{
    char err[ERR_MAX] = "", err2[ERR_MAX] = "";
    size_t len = strlen(text);
    parse p = {text, len, NULL, 0, 0, SIZE_MAX};
    int rc = jm_flatten(text, on_leaf, &p, err, sizeof err);
    int rc2 = jm_flatten(text, NULL, NULL, err2, sizeof err2);
    if (g_verbose)
        fprintf(stderr, "jm_flatten: %d, %zu leaves%s%s\n", rc, p.n,
                rc ? ": " : "", rc ? err : "");
    if ((rc != 0 && rc != -1) || rc != rc2 || strcmp(err, err2) != 0)
        fail("jm_flatten with and without a callback disagree", text, len);
    if (rc == -1 && !strstr(err, "bad JSON at offset "))
        fail("jm_flatten: a refusal without its message", text, len);
    if (rc == 0)
        check_wrapped(text, &p);
    if (rc == 0 && p.n > 0) {
        size_t at = p.n / 2, seen = p.n;
        parse_free(&p);
        p.stop_at = at;
        rc = jm_flatten(text, on_leaf, &p, err, sizeof err);
        if (rc != STOP_CODE || p.n != at + 1 || seen <= at)
            fail("jm_flatten did not stop at the callback's value", text, len);
    }
    parse_free(&p);
}

/* ---- ctl requests ------------------------------------------------------ */

/* What the apply function saw: the line it must point at, its calls. */
typedef struct applied {
    const char *line;
    int calls;
} applied;

/* The apply function: the request must be one ctl.h describes. */
static int apply(void *arg, const rn_ctl_req *req, pt_buf *reply, char *err,
                 size_t errlen)
{
    applied *a = arg;
    bool selects = req->cmd == RN_CTL_PRIORITY || req->cmd == RN_CTL_CANCEL;
    int selectors = (req->task >= 0) + !!req->kernel + !!req->tag;
    a->calls++;
    if (req->json != a->line || (unsigned)req->cmd > RN_CTL_RESUME ||
        selectors != (selects ? 1 : 0) || (req->kernel && !req->kernel[0]) ||
        (req->tag && !req->tag[0]) ||
        (req->cmd != RN_CTL_PRIORITY && req->priority != 0))
        fail("rn_ctl_request applied a request ctl.h does not allow",
             a->line, strlen(a->line));
    if (req->cmd == RN_CTL_PAUSE) { /* an apply error, now and then */
        snprintf(err, errlen, "not now");
        return -EBUSY;
    }
    return pt_buf_append(reply, "\"n\":1", 5);
}

/* Answer one request line (without its newline) as the server does. */
static void check_request(const char *line, size_t len)
{
    char *s = copy(line, len), why[200] = "";
    applied a = {s, 0};
    pt_buf reply = {0};
    int rc = rn_ctl_request(s, len, apply, &a, &reply, why, sizeof why);
    if (g_verbose)
        fprintf(stderr, "ctl: %d%s%s\n", rc, rc ? ": " : "", why);
    if (rc == 0 && (a.calls != 1 || reply.len != 5))
        fail("rn_ctl_request: ok without one apply", line, len);
    if (rc < 0 && (!why[0] || a.calls > 1 || (a.calls == 1) != (rc == -EBUSY)))
        fail("rn_ctl_request: a refusal without a reason", line, len);
    if (rc > 0)
        fail("rn_ctl_request: neither 0 nor -errno", line, len);
    pt_buf_free(&reply);
    free(s);
}

/* Each line (with its '\n', as getline gives it) and the line without it. */
static void check_lines(const uint8_t *data, size_t size)
{
    for (size_t start = 0; start < size;) {
        const uint8_t *nl = memchr(data + start, '\n', size - start);
        size_t end = nl ? (size_t)(nl - data) + 1 : size;
        char *line = copy(data + start, end - start);
        check_text(line);
        free(line);
        if (end - start - !!nl <= RN_CTL_MAX_LINE)
            check_request((const char *)data + start, end - start - !!nl);
        start = end;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g_verbose < 0)
        g_verbose = getenv("FUZZ_VERBOSE") != NULL;
    char *text = copy(data, size); /* manifest.json: read up to a NUL */
    check_text(text);
    free(text);
    if (memchr(data, '\n', size))
        check_lines(data, size);
    else
        check_request((const char *)data, size);
    return 0;
}
