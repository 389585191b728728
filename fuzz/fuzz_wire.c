/*
 * fuzz_wire.c - libFuzzer target over the worker protocol's decoders: the
 * incremental frame reader (wire.c) and the value codec (value_dec.c).
 *
 * Input: one byte choosing the reader's payload limit, one byte choosing
 * how many bytes each feed() gets (1-256, so that frames arrive split
 * anywhere), then the byte stream. Every complete frame's payload is walked
 * with the decoder as an untrusted value, then checked with
 * pt_value_check(); a payload that checks must walk without a single
 * error, render as JSON (valid UTF-8, no raw control character) and
 * re-encode to the same bytes. A broken promise aborts, for the fuzzer.
 * With $FUZZ_VERBOSE set, each frame is printed (its check, its JSON).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ptools/value.h>
#include "wire.h"

#define WALK_DEPTH 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int g_verbose = -1;
static volatile uint64_t g_sink; /* what touch() reads goes here */

/* Payload limits the first input byte picks from (0: the default). */
static const size_t limits[4] = {0, 1, 64, 4096};

static void fail(const char *what, const uint8_t *p, size_t len)
{
    fprintf(stderr, "fuzz_wire: %s (payload of %zu bytes)\n", what, len);
    for (size_t i = 0; i < len && i < 256; i++)
        fprintf(stderr, "%02x%s", p[i], i % 32 == 31 ? "\n" : " ");
    fprintf(stderr, "\n");
    abort();
}

/* A decoded string must hold exactly len bytes before its terminator. */
static bool str_ok(const pt_vstr *s)
{
    return strlen(s->ptr) == s->len;
}

/* Read every byte a scalar hands out (for ASan): false if it lies. */
static bool touch(const pt_val *v)
{
    uint64_t sum = 0;
    bool ok = true;
    switch (v->type) {
    case PT_V_STR: ok = str_ok(&v->u.str); break;
    case PT_V_BYTES:
        for (size_t i = 0; i < v->u.bytes.len; i++)
            sum += v->u.bytes.ptr[i];
        break;
    case PT_V_INTS:
        for (size_t i = 0; i < v->u.ints.n; i++)
            sum += (uint64_t)v->u.ints.ptr[i];
        ok = ((uintptr_t)v->u.ints.ptr & 7) == 0;
        break;
    case PT_V_REALS:
        for (size_t i = 0; i < v->u.reals.n; i++)
            sum += v->u.reals.ptr[i] != 0;
        ok = ((uintptr_t)v->u.reals.ptr & 7) == 0;
        break;
    default: break;
    }
    g_sink += sum;
    return ok;
}

/*
 * Walk a decoded value and its items down to WALK_DEPTH: the number of
 * faults met (bad items, lying scalars).
 */
static int walk(const pt_val *v, int depth)
{
    pt_viter it;
    pt_val item;
    pt_vstr key;
    int rc, faults = 0;
    if (v->type != PT_V_LIST && v->type != PT_V_MAP)
        return !touch(v);
    if (depth >= WALK_DEPTH)
        return 0;
    if (pt_viter_init(&it, v) < 0)
        return 1;
    if (v->type == PT_V_LIST) {
        while ((rc = pt_vlist_next(&it, &item)) == 1)
            faults += walk(&item, depth + 1);
    } else {
        while ((rc = pt_vmap_next(&it, &key, &item)) == 1)
            faults += !str_ok(&key) + walk(&item, depth + 1);
    }
    return faults + (rc < 0);
}

/* Strict UTF-8: no overlong form, surrogate, or code point past 10FFFF. */
static bool utf8_ok(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        size_t k = c < 0x80                 ? 0
                   : c >= 0xC2 && c <= 0xDF ? 1
                   : c >= 0xE0 && c <= 0xEF ? 2
                   : c >= 0xF0 && c <= 0xF4 ? 3
                                            : 4;
        if (k == 4 || k > n - i - 1)
            return false;
        uint32_t cp = c & (0x7F >> k);
        for (; k; k--) {
            if ((s[++i] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i] & 0x3F);
        }
        if (c >= 0xE0 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)))
            return false;
        if (c >= 0xF0 && (cp < 0x10000 || cp > 0x10FFFF))
            return false;
    }
    return true;
}

/* The JSON text of a checked value: renders, valid UTF-8, no raw control. */
static void check_json(const uint8_t *p, size_t len)
{
    pt_buf json = {0};
    int rc = pt_value_to_json(p, len, &json);
    if (rc == -ENOMEM)
        return;
    if (rc < 0)
        fail("pt_value_to_json refused a value that checked", p, len);
    if (!json.data || json.data[json.len] != '\0')
        fail("pt_value_to_json: no NUL after the text", p, len);
    for (size_t i = 0; i < json.len; i++)
        if (json.data[i] < 0x20)
            fail("pt_value_to_json: raw control character", p, len);
    if (!utf8_ok(json.data, json.len))
        fail("pt_value_to_json: invalid UTF-8", p, len);
    if (g_verbose)
        fprintf(stderr, "  %s\n", (const char *)json.data);
    pt_buf_free(&json);
}

/* A checked value re-encodes (unless a map repeats a key) to its bytes. */
static void check_reencode(const uint8_t *p, size_t len, const pt_val *v)
{
    pt_buf copy = {0};
    int rc = pt_venc_val(&copy, v);
    if (rc == 0 && (copy.len != len || memcmp(copy.data, p, len) != 0))
        fail("pt_venc_val: the copy differs from the original", p, len);
    if (rc < 0 && rc != -EEXIST && rc != -ENOMEM)
        fail("pt_venc_val refused a value that checked", p, len);
    pt_buf_free(&copy);
}

static void check_payload(const uint8_t *p, size_t len)
{
    pt_val v;
    size_t next = 0;
    int dec = pt_vdec(p, len, 0, &v, &next);
    int faults = dec < 0 ? 1 : walk(&v, 0);
    int rc = pt_value_check(p, len, PT_V_MAX_DEPTH);
    if (g_verbose)
        fprintf(stderr, "frame of %zu bytes: check %d, walk faults %d\n", len,
                rc, faults);
    if (rc == -EINVAL)
        fail("pt_value_check: the payload is not 8-aligned", p, len);
    if (rc < 0)
        return;
    if (faults || next != len)
        fail("a value that checked does not decode cleanly", p, len);
    check_json(p, len);
    check_reencode(p, len, &v);
}

/* Take every complete frame: how many, or the reader's error. */
static int drain(pt__wire_reader *r)
{
    pt__wire_hdr hdr;
    const uint8_t *payload;
    int rc, n = 0;
    while ((rc = pt__wire_reader_next(r, &hdr, &payload)) == 1) {
        if (!pt__wire_type_known(hdr.type))
            fail("pt__wire_reader_next: a frame of unknown type", payload,
                 hdr.len);
        check_payload(payload, hdr.len);
        n++;
    }
    return rc < 0 ? rc : n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pt__wire_reader r;
    if (g_verbose < 0)
        g_verbose = getenv("FUZZ_VERBOSE") != NULL;
    if (size < 2)
        return 0;
    pt__wire_reader_init(&r, limits[data[0] & 3]);
    size_t chunk = (size_t)data[1] + 1;
    data += 2;
    size -= 2;
    while (size) {
        ssize_t got = pt__wire_reader_feed(&r, data,
                                           size < chunk ? size : chunk);
        int took = drain(&r);
        if (got < 0 && got != -ENOBUFS)
            break;
        if (took < 0)
            break;
        if (got <= 0 && took == 0)
            fail("pt__wire_reader_feed: no progress", data, size);
        if (got > 0) {
            data += got;
            size -= (size_t)got;
        }
    }
    if (!r.err &&
        (pt__wire_reader_eof(&r) < 0) != (pt__wire_reader_pending(&r) > 0))
        fail("pt__wire_reader_eof: wrong about the pending bytes", data, 0);
    pt__wire_reader_free(&r);
    return 0;
}
