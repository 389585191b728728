/* test_value.c - the typed value codec: round trips, JSON, hostile input. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include <ptools/json.h>
#include <ptools/value.h>

/* A deterministic PRNG (xorshift64*), so that failures reproduce. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

/* A malloc'd copy of exactly n bytes, so that tools see any overread. */
static uint8_t *dup_exact(const void *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);
    CU_ASSERT_FATAL(c != NULL);
    if (n)
        memcpy(c, p, n);
    return c;
}

/* Decode the whole of `b` as one value (asserting success). */
static pt_val root(const pt_buf *b)
{
    pt_val v;
    size_t next = 0;
    CU_ASSERT_EQUAL_FATAL(pt_value_check(b->data, b->len, PT_V_MAX_DEPTH), 0);
    CU_ASSERT_EQUAL_FATAL(pt_vdec(b->data, b->len, 0, &v, &next), 0);
    CU_ASSERT_EQUAL(next, b->len);
    return v;
}

/* The JSON of `b`'s value, compared with `want`. */
static void assert_json(const pt_buf *b, const char *want)
{
    pt_buf out = {0};
    int rc = pt_value_to_json(b->data, b->len, &out);
    CU_ASSERT_EQUAL(rc, 0);
    if (rc == 0) {
        CU_ASSERT_EQUAL(out.len, strlen(want));
        CU_ASSERT_STRING_EQUAL((char *)out.data, want);
        if (strcmp((char *)out.data, want) != 0)
            fprintf(stderr, "  json: got  %s\n        want %s\n",
                    (char *)out.data, want);
    }
    pt_buf_free(&out);
}

/*
 * Walk a value with the public decoder only (vdec and the iterators); the
 * garbage test checks that pt_value_check() agrees with it.
 */
static int walk(const pt_val *v, int depth, int max_depth)
{
    pt_viter it;
    pt_vstr key;
    pt_val item;
    int rc;
    if (v->type != PT_V_LIST && v->type != PT_V_MAP)
        return 0;
    if (depth > max_depth)
        return -EBADMSG;
    CU_ASSERT_EQUAL_FATAL(pt_viter_init(&it, v), 0);
    for (;;) {
        rc = v->type == PT_V_LIST ? pt_vlist_next(&it, &item)
                                  : pt_vmap_next(&it, &key, &item);
        if (rc <= 0)
            return rc;
        if (v->type == PT_V_MAP)
            CU_ASSERT_EQUAL(key.ptr[key.len], '\0');
        rc = walk(&item, depth + 1, max_depth);
        if (rc < 0)
            return rc;
    }
}

static int walk_buf(const uint8_t *p, size_t len, int max_depth)
{
    pt_val v;
    size_t next;
    int rc = pt_vdec(p, len, 0, &v, &next);
    if (rc < 0)
        return rc;
    if (next != len)
        return -EBADMSG;
    return walk(&v, 1, max_depth);
}

/* A value using every type, containers nested, arrays at odd offsets. */
static void build_rich(pt_buf *b)
{
    static const int64_t ints[] = {1, -2, INT64_MAX, INT64_MIN};
    static const double reals[] = {0.5, -1e300, 3.0};
    pt_vmark top, list, inner, empty_l, empty_m;
    CU_ASSERT_EQUAL_FATAL(pt_venc_map_begin(b, &top), 0);
    CU_ASSERT_EQUAL(pt_venc_key(b, &top, "n"), 0);
    CU_ASSERT_EQUAL(pt_venc_int(b, -42), 0);
    CU_ASSERT_EQUAL(pt_venc_key(b, &top, "x"), 0);
    CU_ASSERT_EQUAL(pt_venc_real(b, 0.25), 0);
    CU_ASSERT_EQUAL(pt_venc_key(b, &top, "name"), 0);
    CU_ASSERT_EQUAL(pt_venc_str(b, "h\xC3\xA9llo"), 0);
    CU_ASSERT_EQUAL(pt_venc_key(b, &top, "ints"), 0);
    CU_ASSERT_EQUAL(pt_venc_ints(b, ints, 4), 0);
    CU_ASSERT_EQUAL(pt_venc_key(b, &top, "list"), 0);
    CU_ASSERT_EQUAL(pt_venc_list_begin(b, &list), 0);
    CU_ASSERT_EQUAL(pt_venc_null(b), 0);
    CU_ASSERT_EQUAL(pt_venc_bool(b, true), 0);
    CU_ASSERT_EQUAL(pt_venc_bool(b, false), 0);
    CU_ASSERT_EQUAL(pt_venc_bytes(b, "a\0b", 3), 0);
    CU_ASSERT_EQUAL(pt_venc_reals(b, reals, 3), 0);
    CU_ASSERT_EQUAL(pt_venc_list_begin(b, &empty_l), 0);
    CU_ASSERT_EQUAL(pt_venc_list_end(b, &empty_l), 0);
    CU_ASSERT_EQUAL(pt_venc_map_begin(b, &inner), 0);
    CU_ASSERT_EQUAL(pt_venc_key(b, &inner, "deep"), 0);
    CU_ASSERT_EQUAL(pt_venc_map_begin(b, &empty_m), 0);
    CU_ASSERT_EQUAL(pt_venc_map_end(b, &empty_m), 0);
    CU_ASSERT_EQUAL(pt_venc_map_end(b, &inner), 0);
    CU_ASSERT_EQUAL(pt_venc_list_end(b, &list), 0);
    CU_ASSERT_EQUAL(pt_venc_key(b, &top, ""), 0);
    CU_ASSERT_EQUAL(pt_venc_str(b, ""), 0);
    CU_ASSERT_EQUAL_FATAL(pt_venc_map_end(b, &top), 0);
}

#define RICH_JSON                                                              \
    "{\"n\":-42,\"x\":0.25,\"name\":\"h\xC3\xA9llo\","                         \
    "\"ints\":[1,-2,9223372036854775807,-9223372036854775808],"                \
    "\"list\":[null,true,false,{\"$bytes\":\"YQBi\"},[0.5,-1e+300,3.0],[],"    \
    "{\"deep\":{}}],\"\":\"\"}"

static void test_scalars(void)
{
    static const int64_t is[] = {0, 1, -1, INT64_MAX, INT64_MIN, 1 << 20};
    static const double rs[] = {0.0, -0.0, 0.1, -1e-310, 1e308, INFINITY};
    pt_buf b = {0};
    pt_val v;
    for (size_t i = 0; i < sizeof is / sizeof is[0]; i++) {
        pt_buf_reset(&b);
        CU_ASSERT_EQUAL(pt_venc_int(&b, is[i]), 0);
        v = root(&b);
        CU_ASSERT_EQUAL(v.type, PT_V_INT);
        CU_ASSERT_EQUAL(v.u.i, is[i]);
    }
    for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++) {
        pt_buf_reset(&b);
        CU_ASSERT_EQUAL(pt_venc_real(&b, rs[i]), 0);
        v = root(&b);
        CU_ASSERT_EQUAL(v.type, PT_V_REAL);
        CU_ASSERT(memcmp(&v.u.r, &rs[i], sizeof(double)) == 0);
    }
    pt_buf_reset(&b);
    CU_ASSERT_EQUAL(pt_venc_real(&b, NAN), 0);
    CU_ASSERT(isnan(root(&b).u.r));
    pt_buf_reset(&b);
    CU_ASSERT_EQUAL(pt_venc_null(&b), 0);
    CU_ASSERT_EQUAL(root(&b).type, PT_V_NULL);
    CU_ASSERT_EQUAL(b.len, 1);
    pt_buf_reset(&b);
    CU_ASSERT_EQUAL(pt_venc_bool(&b, true), 0);
    v = root(&b);
    CU_ASSERT(v.type == PT_V_BOOL && v.u.b == true);
    pt_buf_free(&b);
}

static void test_strings_bytes(void)
{
    pt_buf b = {0};
    pt_val v;
    CU_ASSERT_EQUAL(pt_venc_str(&b, "hello"), 0);
    v = root(&b);
    CU_ASSERT_EQUAL(v.type, PT_V_STR);
    CU_ASSERT_EQUAL(v.u.str.len, 5);
    CU_ASSERT_STRING_EQUAL(v.u.str.ptr, "hello"); /* zero copy, terminated */
    CU_ASSERT(v.u.str.ptr > (const char *)b.data &&
              v.u.str.ptr < (const char *)b.data + b.len);
    pt_buf_reset(&b);
    CU_ASSERT_EQUAL(pt_venc_strn(&b, "", 0), 0);
    v = root(&b);
    CU_ASSERT(v.u.str.len == 0 && v.u.str.ptr[0] == '\0');
    pt_buf_reset(&b);
    CU_ASSERT_EQUAL(pt_venc_bytes(&b, "\0\1\2\0", 4), 0);
    v = root(&b);
    CU_ASSERT_EQUAL(v.type, PT_V_BYTES);
    CU_ASSERT(v.u.bytes.len == 4 && memcmp(v.u.bytes.ptr, "\0\1\2\0", 4) == 0);
    pt_buf_reset(&b);
    CU_ASSERT_EQUAL(pt_venc_bytes(&b, NULL, 0), 0);
    CU_ASSERT_EQUAL(root(&b).u.bytes.len, 0);
    pt_buf_free(&b);
}

/* Arrays after every prefix length 0..15: elements 8-aligned, in place. */
static void test_array_alignment(void)
{
    int64_t ints[5] = {5, -6, 7, INT64_MIN, 0};
    double reals[3] = {1.5, -0.0, 1e-300};
    for (size_t pre = 0; pre < 16; pre++) {
        char prefix[17] = "0123456789abcdef";
        prefix[pre] = '\0';
        pt_buf b = {0};
        pt_vmark m;
        pt_viter it;
        pt_val v, item;
        CU_ASSERT_EQUAL(pt_venc_list_begin(&b, &m), 0);
        CU_ASSERT_EQUAL(pt_venc_str(&b, prefix), 0);
        CU_ASSERT_EQUAL(pt_venc_ints(&b, ints, 5), 0);
        CU_ASSERT_EQUAL(pt_venc_bool(&b, 1), 0);
        CU_ASSERT_EQUAL(pt_venc_reals(&b, reals, 3), 0);
        CU_ASSERT_EQUAL(pt_venc_ints(&b, NULL, 0), 0);
        CU_ASSERT_EQUAL(pt_venc_list_end(&b, &m), 0);
        uint8_t *copy = dup_exact(b.data, b.len); /* a fresh malloc'd base */
        CU_ASSERT_EQUAL(pt_value_check(copy, b.len, 4), 0);
        CU_ASSERT_EQUAL(pt_vdec(copy, b.len, 0, &v, &(size_t){0}), 0);
        CU_ASSERT_EQUAL(v.u.c.count, 5);
        pt_viter_init(&it, &v);
        CU_ASSERT_EQUAL(pt_vlist_next(&it, &item), 1);
        CU_ASSERT_EQUAL(pt_vlist_next(&it, &item), 1);
        CU_ASSERT(item.type == PT_V_INTS && item.u.ints.n == 5);
        CU_ASSERT_EQUAL((uintptr_t)item.u.ints.ptr % 8, 0);
        CU_ASSERT(memcmp(item.u.ints.ptr, ints, sizeof ints) == 0);
        CU_ASSERT_EQUAL(pt_vlist_next(&it, &item), 1);
        CU_ASSERT_EQUAL(pt_vlist_next(&it, &item), 1);
        CU_ASSERT(item.type == PT_V_REALS && item.u.reals.n == 3);
        CU_ASSERT_EQUAL((uintptr_t)item.u.reals.ptr % 8, 0);
        CU_ASSERT(memcmp(item.u.reals.ptr, reals, sizeof reals) == 0);
        CU_ASSERT_EQUAL(pt_vlist_next(&it, &item), 1);
        CU_ASSERT(item.type == PT_V_INTS && item.u.ints.n == 0);
        CU_ASSERT_EQUAL(pt_vlist_next(&it, &item), 0);
        free(copy);
        pt_buf_free(&b);
    }
}

static void test_nested_roundtrip(void)
{
    pt_buf b = {0};
    pt_val v, x, list, inner, deep;
    pt_viter it;
    pt_vstr key;
    build_rich(&b);
    v = root(&b);
    CU_ASSERT(v.type == PT_V_MAP && v.u.c.count == 6);
    CU_ASSERT_EQUAL(pt_vmap_get(&v, "n", &x), 0);
    CU_ASSERT(x.type == PT_V_INT && x.u.i == -42);
    CU_ASSERT_EQUAL(pt_vmap_get(&v, "name", &x), 0);
    CU_ASSERT_STRING_EQUAL(x.u.str.ptr, "h\xC3\xA9llo");
    CU_ASSERT_EQUAL(pt_vmap_get(&v, "list", &list), 0);
    CU_ASSERT(list.type == PT_V_LIST && list.u.c.count == 7);
    pt_viter_init(&it, &list);
    for (int i = 0; i < 7; i++)
        CU_ASSERT_EQUAL(pt_vlist_next(&it, &inner), 1);
    CU_ASSERT_EQUAL(pt_vlist_next(&it, &x), 0);
    CU_ASSERT_EQUAL(pt_vlist_next(&it, &x), 0); /* and stays at the end */
    CU_ASSERT_EQUAL(inner.type, PT_V_MAP);
    CU_ASSERT_EQUAL(pt_vmap_get(&inner, "deep", &deep), 0);
    CU_ASSERT(deep.type == PT_V_MAP && deep.u.c.count == 0);
    pt_viter_init(&it, &deep);
    CU_ASSERT_EQUAL(pt_vmap_next(&it, &key, &x), 0);
    CU_ASSERT_EQUAL(pt_vlist_next(&it, &x), -EINVAL); /* a map, not a list */
    CU_ASSERT_EQUAL(pt_viter_init(&it, &x), -EINVAL); /* not a container */
    assert_json(&b, RICH_JSON);
    pt_buf_free(&b);
}

static void test_empty_containers(void)
{
    pt_buf b = {0};
    pt_vmark m;
    CU_ASSERT_EQUAL(pt_venc_list_begin(&b, &m), 0);
    CU_ASSERT_EQUAL(pt_venc_list_end(&b, &m), 0);
    CU_ASSERT_EQUAL(b.len, 9);
    CU_ASSERT_EQUAL(root(&b).u.c.count, 0);
    assert_json(&b, "[]");
    pt_buf_reset(&b);
    CU_ASSERT_EQUAL(pt_venc_map_begin(&b, &m), 0);
    CU_ASSERT_EQUAL(pt_venc_map_end(&b, &m), 0);
    assert_json(&b, "{}");
    pt_buf_free(&b);
}

static void test_map_get(void)
{
    pt_buf b = {0};
    pt_vmark m;
    pt_val v, x;
    CU_ASSERT_EQUAL(pt_venc_map_begin(&b, &m), 0);
    CU_ASSERT_EQUAL(pt_venc_key(&b, &m, "aa"), 0);
    CU_ASSERT_EQUAL(pt_venc_int(&b, 1), 0);
    CU_ASSERT_EQUAL(pt_venc_key(&b, &m, "ab"), 0);
    CU_ASSERT_EQUAL(pt_venc_int(&b, 2), 0);
    CU_ASSERT_EQUAL(pt_venc_map_end(&b, &m), 0);
    v = root(&b);
    CU_ASSERT_EQUAL(pt_vmap_get(&v, "ab", &x), 0);
    CU_ASSERT_EQUAL(x.u.i, 2);
    CU_ASSERT_EQUAL(pt_vmap_get(&v, "a", &x), -ENOENT);
    CU_ASSERT_EQUAL(pt_vmap_get(&v, "aaa", &x), -ENOENT);
    CU_ASSERT_EQUAL(pt_vmap_get(&v, "", &x), -ENOENT);
    CU_ASSERT_EQUAL(pt_vmap_get(&x, "ab", &x), -EINVAL);
    /* A duplicate made behind the encoder's back: the first one wins. */
    uint8_t *dup = memmem(b.data, b.len, "ab", 3);
    CU_ASSERT_FATAL(dup != NULL);
    dup[1] = 'a';
    v = root(&b);
    CU_ASSERT_EQUAL(pt_vmap_get(&v, "aa", &x), 0);
    CU_ASSERT_EQUAL(x.u.i, 1);
    pt_buf_free(&b);
}

static void test_encoder_refuses(void)
{
    pt_buf b = {0};
    pt_vmark m, in;
    CU_ASSERT_EQUAL(pt_venc_strn(&b, "a\0b", 3), -EINVAL);
    CU_ASSERT(strstr(pt_errmsg(), "NUL") != NULL);
    CU_ASSERT_EQUAL(b.len, 0); /* a failure leaves the buffer as it was */
    CU_ASSERT_EQUAL(pt_venc_map_begin(&b, &m), 0);
    CU_ASSERT_EQUAL(pt_venc_key(&b, &m, "k"), 0);
    CU_ASSERT_EQUAL(pt_venc_int(&b, 1), 0);
    size_t len = b.len;
    CU_ASSERT_EQUAL(pt_venc_key(&b, &m, "k"), -EEXIST);
    CU_ASSERT(strstr(pt_errmsg(), "\"k\"") != NULL);
    CU_ASSERT_EQUAL(b.len, len);
    CU_ASSERT_EQUAL(pt_venc_list_end(&b, &m), -EINVAL); /* not a list */
    CU_ASSERT_EQUAL(pt_venc_key(&b, &m, "j"), 0);
    CU_ASSERT_EQUAL(pt_venc_map_end(&b, &m), -EINVAL); /* key, no value */
    CU_ASSERT_EQUAL(pt_venc_list_begin(&b, &in), 0);   /* never ended */
    CU_ASSERT_EQUAL(pt_venc_map_end(&b, &m), -EINVAL);
    CU_ASSERT_EQUAL(pt_venc_list_end(&b, &in), 0);
    CU_ASSERT_EQUAL(pt_venc_map_end(&b, &m), 0);
    CU_ASSERT_EQUAL(pt_venc_map_end(&b, &m), -EINVAL); /* ended twice */
    assert_json(&b, "{\"k\":1,\"j\":[]}");
    pt_buf_reset(&b);
    CU_ASSERT_EQUAL(pt_venc_map_begin(&b, &m), 0);
    CU_ASSERT_EQUAL(pt_venc_int(&b, 7), 0); /* a value without a key */
    CU_ASSERT_EQUAL(pt_venc_map_end(&b, &m), -EINVAL);
    pt_buf_reset(&b);
    CU_ASSERT_EQUAL(pt_venc_list_begin(&b, &m), 0); /* left open */
    CU_ASSERT_EQUAL(pt_value_check(b.data, b.len, 4), -EBADMSG);
    pt_buf_free(&b);
}

/* One scalar encoded with `enc`, printed as JSON, must read `want`. */
static void json_real_is(double d, const char *want)
{
    pt_buf b = {0};
    CU_ASSERT_EQUAL(pt_venc_real(&b, d), 0);
    assert_json(&b, want);
    pt_buf_free(&b);
}

static void test_json_numbers(void)
{
    pt_buf b = {0};
    CU_ASSERT_EQUAL(pt_venc_int(&b, INT64_MIN), 0);
    assert_json(&b, "-9223372036854775808");
    json_real_is(0.1, "0.1");
    json_real_is(1.0, "1.0");
    json_real_is(-0.0, "-0.0");
    json_real_is(1.0 / 3, "0.3333333333333333");
    json_real_is(0.1 + 0.2, "0.30000000000000004");
    json_real_is(1e300, "1e+300");
    json_real_is(123456789012345678.0, "1.2345678901234568e+17");
    json_real_is(5e-324, "4.94065645841247e-324");
    json_real_is(NAN, "null");
    json_real_is(-INFINITY, "null");
    pt_buf_reset(&b);
    double r[] = {2.5, NAN, 1e21};
    int64_t i[] = {-1, 0};
    pt_vmark m;
    CU_ASSERT_EQUAL(pt_venc_list_begin(&b, &m), 0);
    CU_ASSERT_EQUAL(pt_venc_reals(&b, r, 3), 0);
    CU_ASSERT_EQUAL(pt_venc_ints(&b, i, 2), 0);
    CU_ASSERT_EQUAL(pt_venc_reals(&b, r, 0), 0);
    CU_ASSERT_EQUAL(pt_venc_list_end(&b, &m), 0);
    assert_json(&b, "[[2.5,null,1e+21],[-1,0],[]]");
    pt_buf_free(&b);
}

/* `s` (n bytes) as a JSON string must read `want`. */
static void json_str_is(const char *s, size_t n, const char *want)
{
    pt_buf b = {0};
    CU_ASSERT_EQUAL(pt_venc_strn(&b, s, n), 0);
    assert_json(&b, want);
    pt_buf_free(&b);
}

#define FFFD "\xEF\xBF\xBD"

static void test_json_strings(void)
{
    json_str_is("", 0, "\"\"");
    json_str_is("a\"b\\c/", 6, "\"a\\\"b\\\\c/\"");
    json_str_is("\b\f\n\r\t", 5, "\"\\b\\f\\n\\r\\t\"");
    json_str_is("\x01\x1f\x7f", 3, "\"\\u0001\\u001f\x7f\"");
    json_str_is("\xC3\xA9\xE2\x82\xAC\xF0\x9D\x84\x9E", 9,
                "\"\xC3\xA9\xE2\x82\xAC\xF0\x9D\x84\x9E\"");
    json_str_is("a\xFF"
                "b",
                3, "\"a" FFFD "b\"");
    json_str_is("\xC3", 1, "\"" FFFD "\"");                   /* truncated */
    json_str_is("\xC0\xAF", 2, "\"" FFFD FFFD "\"");          /* overlong */
    json_str_is("\xED\xA0\x80", 3, "\"" FFFD FFFD FFFD "\""); /* surrogate */
    json_str_is("\xF4\x90\x80\x80", 4,
                "\"" FFFD FFFD FFFD FFFD "\""); /* past U+10FFFF */
    json_str_is("\xE2\x82", 2, "\"" FFFD FFFD "\"");
    json_str_is("\xE0\x80\xAF", 3, "\"" FFFD FFFD FFFD "\""); /* overlong */
    json_str_is("\xF0\x9D\x41\x9E", 4, "\"" FFFD FFFD "A" FFFD "\"");
    /* Keys are escaped the same way. */
    pt_buf b = {0};
    pt_vmark m;
    CU_ASSERT_EQUAL(pt_venc_map_begin(&b, &m), 0);
    CU_ASSERT_EQUAL(pt_venc_key(&b, &m, "q\"\n\xFF"), 0);
    CU_ASSERT_EQUAL(pt_venc_null(&b), 0);
    CU_ASSERT_EQUAL(pt_venc_map_end(&b, &m), 0);
    assert_json(&b, "{\"q\\\"\\n" FFFD "\":null}");
    pt_buf_free(&b);
}

static void test_json_bytes(void)
{
    static const char *want[] = {
        "{\"$bytes\":\"\"}",         "{\"$bytes\":\"Zg==\"}",
        "{\"$bytes\":\"Zm8=\"}",     "{\"$bytes\":\"Zm9v\"}",
        "{\"$bytes\":\"Zm9vYg==\"}", "{\"$bytes\":\"Zm9vYmE=\"}",
        "{\"$bytes\":\"Zm9vYmFy\"}",
    };
    for (size_t n = 0; n <= 6; n++) {
        pt_buf b = {0};
        CU_ASSERT_EQUAL(pt_venc_bytes(&b, "foobar", n), 0);
        assert_json(&b, want[n]);
        pt_buf_free(&b);
    }
    pt_buf b = {0};
    CU_ASSERT_EQUAL(pt_venc_bytes(&b, "\xff\xfe\x00", 3), 0);
    assert_json(&b, "{\"$bytes\":\"//4A\"}");
    pt_buf_free(&b);
}

/* Appending JSON keeps what `out` held, and a failure leaves it intact. */
static void test_json_appends(void)
{
    pt_buf b = {0}, out = {0};
    CU_ASSERT_EQUAL(pt_buf_append(&out, "x=", 2), 0);
    CU_ASSERT_EQUAL(pt_venc_bool(&b, false), 0);
    CU_ASSERT_EQUAL(pt_value_to_json(b.data, b.len, &out), 0);
    CU_ASSERT_STRING_EQUAL((char *)out.data, "x=false");
    b.data[1] = 2;
    CU_ASSERT_EQUAL(pt_value_to_json(b.data, b.len, &out), -EBADMSG);
    CU_ASSERT_EQUAL(out.len, 7);
    pt_buf_free(&b);
    pt_buf_free(&out);
}

/* Every strict prefix of a valid buffer is refused, never overread. */
static void test_check_truncations(void)
{
    pt_buf b = {0}, out = {0};
    build_rich(&b);
    for (size_t n = 0; n < b.len; n++) {
        uint8_t *p = dup_exact(b.data, n);
        CU_ASSERT_EQUAL(pt_value_check(p, n, PT_V_MAX_DEPTH), -EBADMSG);
        CU_ASSERT(walk_buf(p, n, PT_V_MAX_DEPTH) < 0);
        CU_ASSERT_EQUAL(pt_value_to_json(p, n, &out), -EBADMSG);
        CU_ASSERT_EQUAL(out.len, 0);
        free(p);
    }
    uint8_t *p = dup_exact(b.data, b.len);
    CU_ASSERT_EQUAL(pt_value_check(p, b.len, PT_V_MAX_DEPTH), 0);
    free(p);
    CU_ASSERT_EQUAL(pt_buf_append(&b, "", 1), 0); /* one stray byte */
    CU_ASSERT_EQUAL(pt_value_check(b.data, b.len, 8), -EBADMSG);
    CU_ASSERT(strstr(pt_errmsg(), "stray") != NULL);
    pt_buf_free(&b);
    pt_buf_free(&out);
}

/* Check a hand-made encoding: must fail with -EBADMSG and a message. */
static void assert_bad(const void *enc, size_t n, const char *msg_part)
{
    uint8_t *p = dup_exact(enc, n);
    CU_ASSERT_EQUAL(pt_value_check(p, n, 8), -EBADMSG);
    if (!strstr(pt_errmsg(), msg_part))
        fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", pt_errmsg(),
                msg_part);
    CU_ASSERT(strstr(pt_errmsg(), msg_part) != NULL);
    free(p);
}

static void test_check_bad_encodings(void)
{
    assert_bad("\x00", 1, "tag");
    assert_bad("\xff", 1, "tag");
    assert_bad("\x02\x02", 2, "not 0 or 1");
    assert_bad("\x05\x01\x00\x00\x00"
               "a"
               "b",
               7, "NUL terminator");
    assert_bad("\x05\x02\x00\x00\x00"
               "a\0"
               "\0",
               8, "NUL byte");
    assert_bad("\x05\xff\xff\xff\xff"
               "a\0",
               7, "past the end");
    assert_bad("\x07\x01\x00\x00\x00\x00\x01\x00"
               "\x01\0\0\0\0\0\0\0",
               16, "padding");
    assert_bad("\x07\xff\xff\xff\x1f\x00\x00\x00"
               "\x01\0\0\0\0\0\0\0",
               16, "past the end");
    /* A list that claims 3 items in 2 bytes; one with a stray byte. */
    assert_bad("\x09\x03\0\0\0\x02\0\0\0\x01\x01", 11, "claims");
    assert_bad("\x09\x01\0\0\0\x02\0\0\0\x01\x01", 11, "stray");
    /* A list whose size runs past its parent's end. */
    assert_bad("\x09\x01\0\0\0\x0a\0\0\0"
               "\x09\0\0\0\0\x02\0\0\0\x01",
               19, "past the end");
    /* A map whose key is not terminated. */
    assert_bad("\x0a\x01\0\0\0\x07\0\0\0"
               "\x01\0\0\0"
               "kx\x01",
               16, "NUL terminator");
    /* Iterating a bad list unchecked: the error sticks. */
    uint8_t *p = dup_exact("\x09\x02\0\0\0\x02\0\0\0\x01\xee", 11);
    pt_val v, item;
    pt_viter it;
    CU_ASSERT_EQUAL(pt_vdec(p, 11, 0, &v, &(size_t){0}), 0);
    CU_ASSERT_EQUAL(pt_viter_init(&it, &v), 0);
    CU_ASSERT_EQUAL(pt_vlist_next(&it, &item), 1);
    CU_ASSERT_EQUAL(pt_vlist_next(&it, &item), -EBADMSG);
    CU_ASSERT_EQUAL(pt_vlist_next(&it, &item), -EBADMSG);
    free(p);
}

/* Random buffers, and valid ones with random damage: check == walk. */
static void test_check_garbage(void)
{
    pt_buf b = {0}, out = {0};
    build_rich(&b);
    int ok = 0;
    for (int round = 0; round < 6000; round++) {
        size_t n = round % 3 ? b.len : rng() % 200;
        uint8_t *p = malloc(n ? n : 1);
        if (round % 3 == 0) {
            for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t)(rng() % 12); /* tags and small numbers */
        } else {
            memcpy(p, b.data, n);
            for (int k = 1 + (int)(rng() % 3); k > 0; k--)
                p[rng() % n] = (uint8_t)rng();
            n -= rng() % 4 == 0 ? rng() % n : 0;
        }
        int rc = pt_value_check(p, n, 8);
        CU_ASSERT(rc == 0 || rc == -EBADMSG);
        CU_ASSERT_EQUAL(rc == 0, walk_buf(p, n, 8) == 0);
        if (rc == 0) {
            ok++;
            pt_buf_reset(&out);
            CU_ASSERT_EQUAL(pt_value_to_json(p, n, &out), 0);
        }
        free(p);
    }
    CU_ASSERT(ok > 100); /* the damage left many buffers valid */
    pt_buf_free(&b);
    pt_buf_free(&out);
}

/* `depth` lists nested in each other. */
static void nest(pt_buf *b, int depth)
{
    pt_vmark m[PT_V_DEPTH_CAP + 50];
    for (int i = 0; i < depth; i++)
        CU_ASSERT_EQUAL(pt_venc_list_begin(b, &m[i]), 0);
    CU_ASSERT_EQUAL(pt_venc_int(b, 7), 0);
    for (int i = depth - 1; i >= 0; i--)
        CU_ASSERT_EQUAL(pt_venc_list_end(b, &m[i]), 0);
}

static void test_depth_limit(void)
{
    pt_buf b = {0}, out = {0};
    nest(&b, 10);
    CU_ASSERT_EQUAL(pt_value_check(b.data, b.len, 10), 0);
    CU_ASSERT_EQUAL(pt_value_check(b.data, b.len, 9), -EBADMSG);
    CU_ASSERT(strstr(pt_errmsg(), "deeper than 9") != NULL);
    CU_ASSERT_EQUAL(pt_value_check(b.data, b.len, 0), -EBADMSG);
    CU_ASSERT_EQUAL(pt_value_check(b.data, b.len, -5), -EBADMSG);
    pt_buf_reset(&b);
    CU_ASSERT_EQUAL(pt_venc_int(&b, 1), 0);
    CU_ASSERT_EQUAL(pt_value_check(b.data, b.len, 0), 0); /* no container */
    pt_buf_reset(&b);
    nest(&b, PT_V_DEPTH_CAP + 40);
    CU_ASSERT_EQUAL(pt_value_check(b.data, b.len, 1 << 30), -EBADMSG);
    CU_ASSERT_EQUAL(pt_value_to_json(b.data, b.len, &out), -EBADMSG);
    pt_buf_reset(&b);
    /* A million list headers, each claiming the rest: no deep recursion. */
    size_t n = 1000000;
    CU_ASSERT_EQUAL_FATAL(pt_buf_reserve(&b, n * 9 + 1), 0);
    for (size_t i = 0; i < n; i++) {
        uint8_t *h = b.data + i * 9;
        uint32_t size = (uint32_t)((n - i - 1) * 9 + 1);
        h[0] = PT_V_LIST;
        memcpy(h + 1, "\x01\0\0\0", 4);
        for (int k = 0; k < 4; k++)
            h[5 + k] = (uint8_t)(size >> (8 * k));
    }
    b.data[n * 9] = PT_V_NULL;
    b.len = n * 9 + 1;
    CU_ASSERT_EQUAL(pt_value_check(b.data, b.len, PT_V_MAX_DEPTH), -EBADMSG);
    CU_ASSERT_EQUAL(pt_value_to_json(b.data, b.len, &out), -EBADMSG);
    /* Copying it unchecked stops at the depth cap and leaves no trace. */
    pt_val v;
    size_t next;
    CU_ASSERT_EQUAL(pt_vdec(b.data, b.len, 0, &v, &next), 0);
    CU_ASSERT_EQUAL(pt_buf_append(&out, "x", 1), 0);
    CU_ASSERT_EQUAL(pt_venc_val(&out, &v), -EBADMSG);
    CU_ASSERT_EQUAL(out.len, 1);
    pt_buf_free(&b);
    pt_buf_free(&out);
}

static void test_unaligned_base(void)
{
    int64_t one = 1;
    pt_buf b = {0};
    pt_val v;
    size_t next;
    CU_ASSERT_EQUAL(pt_buf_append(&b, "\0\0\0\0\0\0\0\0", 8), 0);
    b.len = 1; /* the value starts at byte 1 of an aligned buffer */
    CU_ASSERT_EQUAL(pt_venc_ints(&b, &one, 1), 0);
    /* Offsets count from b.data: decoding from b.data + 1 breaks the rule. */
    CU_ASSERT_EQUAL(pt_value_check(b.data + 1, b.len - 1, 4), -EINVAL);
    CU_ASSERT_EQUAL(pt_vdec(b.data + 1, b.len - 1, 0, &v, &next), -EBADMSG);
    CU_ASSERT_EQUAL(pt_vdec(b.data, b.len, 1, &v, &next), 0);
    CU_ASSERT_EQUAL(v.u.ints.ptr[0], 1);
    CU_ASSERT_EQUAL(next, b.len);
    pt_buf_reset(&b);
    CU_ASSERT_EQUAL(pt_buf_append(&b, "\x03\x07\0\0\0\0\0\0\0", 9), 0);
    CU_ASSERT_EQUAL(pt_vdec(b.data, b.len, 0, &v, &next), 0); /* aligned */
    CU_ASSERT_EQUAL(v.u.i, 7);
    /* A consistent encoding at a misaligned address: arrays are refused. */
    pt_buf_reset(&b);
    CU_ASSERT_EQUAL(pt_venc_ints(&b, &one, 1), 0);
    uint8_t *mem = malloc(b.len + 8);
    memcpy(mem + 3, b.data, b.len);
    CU_ASSERT_EQUAL(pt_vdec(mem + 3, b.len, 0, &v, &next), -EINVAL);
    CU_ASSERT(strstr(pt_errmsg(), "aligned") != NULL);
    free(mem);
    pt_buf_free(&b);
}

/* pt_venc_val copies a value to another offset, re-aligning arrays. */
static void test_reencode(void)
{
    pt_buf b = {0}, c = {0}, j1 = {0}, j2 = {0};
    pt_val v;
    build_rich(&b);
    v = root(&b);
    CU_ASSERT_EQUAL(pt_buf_append(&c, "\x09\x01\0\0\0", 5), 0); /* any prefix */
    size_t at = c.len;
    CU_ASSERT_EQUAL(pt_venc_val(&c, &v), 0);
    CU_ASSERT_EQUAL(pt_value_to_json(b.data, b.len, &j1), 0);
    pt_val w;
    size_t next;
    CU_ASSERT_EQUAL(pt_vdec(c.data, c.len, at, &w, &next), 0);
    CU_ASSERT_EQUAL(next, c.len);
    pt_buf d = {0}; /* the copy, re-encoded again at offset 0 */
    CU_ASSERT_EQUAL(pt_venc_val(&d, &w), 0);
    CU_ASSERT_EQUAL(d.len, b.len);
    CU_ASSERT(memcmp(d.data, b.data, b.len) == 0);
    CU_ASSERT_EQUAL(pt_value_to_json(d.data, d.len, &j2), 0);
    CU_ASSERT_STRING_EQUAL((char *)j1.data, (char *)j2.data);
    pt_buf_free(&b);
    pt_buf_free(&c);
    pt_buf_free(&d);
    pt_buf_free(&j1);
    pt_buf_free(&j2);
}

/* Decoding straight from unchecked garbage (no check first) is safe. */
static void test_decode_unchecked(void)
{
    for (int round = 0; round < 3000; round++) {
        size_t n = rng() % 64;
        uint8_t *p = malloc(n ? n : 1);
        for (size_t i = 0; i < n; i++)
            p[i] = (uint8_t)(rng() % 16);
        pt_val v, x;
        size_t next;
        if (pt_vdec(p, n, 0, &v, &next) == 0) {
            CU_ASSERT(next <= n);
            if (v.type == PT_V_MAP) {
                pt_vmap_get(&v, "", &x);
                pt_vmap_get(&v, "\x01", &x);
            }
            walk(&v, 1, 8);
        }
        free(p);
    }
}

/* The one JSON writer's integers, at every length and both ends. */
static void test_json_integers(void)
{
    static const struct {
        int64_t v;
        const char *text;
    } want[] = {
        {0, "0"},
        {7, "7"},
        {10, "10"},
        {99, "99"},
        {100, "100"},
        {1009, "1009"},
        {99999999, "99999999"},
        {100000000, "100000000"},
        {100000007, "100000007"},
        {9999999999999999, "9999999999999999"},
        {10000000000000000, "10000000000000000"},
        {10000000000000009, "10000000000000009"},
        {-1, "-1"},
        {-90, "-90"},
        {1765000000123456789, "1765000000123456789"},
        {INT64_MAX, "9223372036854775807"},
        {INT64_MIN, "-9223372036854775808"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        pt_buf b = {0};
        CU_ASSERT_EQUAL(pt_json_int(&b, want[i].v), 0);
        CU_ASSERT_EQUAL(b.len, strlen(want[i].text));
        CU_ASSERT_EQUAL(memcmp(b.data, want[i].text, b.len), 0);
        pt_buf_free(&b);
    }
    pt_buf b = {0};
    CU_ASSERT_EQUAL(pt_json_uint(&b, UINT64_MAX), 0);
    CU_ASSERT_EQUAL(b.len, 20);
    CU_ASSERT_EQUAL(memcmp(b.data, "18446744073709551615", 20), 0);
    pt_buf_free(&b);
    char at[PT_JSON_INT_MAX + 1] = {0}; /* in place: nothing past them */
    CU_ASSERT_EQUAL(pt_json_int_text(at, INT64_MIN), PT_JSON_INT_MAX);
    CU_ASSERT_STRING_EQUAL(at, "-9223372036854775808");
    memset(at, 0, sizeof at);
    CU_ASSERT_EQUAL(pt_json_uint_text(at, 100000000), 9);
    CU_ASSERT_STRING_EQUAL(at, "100000000");
    memset(at, 0, sizeof at); /* a fixed count of digits, zeros in front */
    pt_json_digits(at, 1796547345584972902, 8);
    CU_ASSERT_STRING_EQUAL(at, "84972902");
    pt_json_digits(at, 7, 8);
    CU_ASSERT_STRING_EQUAL(at, "00000007");
    pt_json_digits(at, 1234567890123, 11);
    CU_ASSERT_STRING_EQUAL(at, "34567890123");
}

static const pt_test_case cases[] = {
    {"json_integers", test_json_integers, 0},
    {"scalars", test_scalars, 0},
    {"strings_bytes", test_strings_bytes, 0},
    {"array_alignment", test_array_alignment, 0},
    {"nested_roundtrip", test_nested_roundtrip, 0},
    {"empty_containers", test_empty_containers, 0},
    {"map_get", test_map_get, 0},
    {"encoder_refuses", test_encoder_refuses, 0},
    {"json_numbers", test_json_numbers, 0},
    {"json_strings", test_json_strings, 0},
    {"json_bytes", test_json_bytes, 0},
    {"json_appends", test_json_appends, 0},
    {"check_truncations", test_check_truncations, 0},
    {"check_bad_encodings", test_check_bad_encodings, 0},
    {"check_garbage", test_check_garbage, 0},
    {"depth_limit", test_depth_limit, 0},
    {"unaligned_base", test_unaligned_base, 0},
    {"reencode", test_reencode, 0},
    {"decode_unchecked", test_decode_unchecked, 0},
    {NULL, NULL, 0},
};

int main(int argc, char **argv)
{
    return pt_test_main("value", cases, argc, argv);
}
