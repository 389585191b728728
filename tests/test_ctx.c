/*
 * test_ctx.c - the kernel's view of its arguments (lib/ctx.c), in process:
 * an arg of another type fails the task with a message naming the arg,
 * the type wanted and the value given (SPEC §2), never reads as the
 * default; conversions are made only where nothing is lost.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ptools/kernel.h>

#include "ctx.h"
#include "harness.h"
#include <ptools/value.h>

/* The args of every case: one of each kind the codec has. */
static pt_buf args;
static pt__worker_env env;

static void key(pt_vmark *m, const char *k)
{
    CU_ASSERT_EQUAL_FATAL(pt_venc_key(&args, m, k), 0);
}

/* Add entry k: the value that `enc` (a call of the encoder) writes. */
#define PUT(k, enc)                                                            \
    do {                                                                       \
        key(&m, k);                                                            \
        CU_ASSERT_EQUAL_FATAL(enc, 0);                                         \
    } while (0)

/* Lists and maps of strings, for pt_arg_strs and pt_arg_strmap. */
static void make_text_args(pt_vmark *mp)
{
    pt_vmark m = *mp, l;
    PUT("argv", pt_venc_list_begin(&args, &l));
    CU_ASSERT_EQUAL_FATAL(pt_venc_str(&args, "wc"), 0);
    CU_ASSERT_EQUAL_FATAL(pt_venc_str(&args, "-c"), 0);
    CU_ASSERT_EQUAL_FATAL(pt_venc_str(&args, "a b"), 0);
    CU_ASSERT_EQUAL_FATAL(pt_venc_list_end(&args, &l), 0);
    PUT("mixed", pt_venc_list_begin(&args, &l));
    CU_ASSERT_EQUAL_FATAL(pt_venc_str(&args, "a"), 0);
    CU_ASSERT_EQUAL_FATAL(pt_venc_int(&args, 7), 0);
    CU_ASSERT_EQUAL_FATAL(pt_venc_list_end(&args, &l), 0);
    PUT("env", pt_venc_map_begin(&args, &l));
    CU_ASSERT_EQUAL_FATAL(pt_venc_key(&args, &l, "LANG"), 0);
    CU_ASSERT_EQUAL_FATAL(pt_venc_str(&args, "C"), 0);
    CU_ASSERT_EQUAL_FATAL(pt_venc_key(&args, &l, "X"), 0);
    CU_ASSERT_EQUAL_FATAL(pt_venc_str(&args, "1 2"), 0);
    CU_ASSERT_EQUAL_FATAL(pt_venc_map_end(&args, &l), 0);
    PUT("badenv", pt_venc_map_begin(&args, &l));
    CU_ASSERT_EQUAL_FATAL(pt_venc_key(&args, &l, "N"), 0);
    CU_ASSERT_EQUAL_FATAL(pt_venc_int(&args, 3), 0);
    CU_ASSERT_EQUAL_FATAL(pt_venc_map_end(&args, &l), 0);
    PUT("tenth", pt_venc_real(&args, 0.1));
}

static void make_args(void)
{
    static const int64_t ints[] = {1, -2, INT64_MAX};
    static const double whole[] = {1e6, -2, -0x1p63};
    static const double frac[] = {1, 2.5, 3};
    static const double big[] = {1, 1e23};
    pt_vmark m, l;
    pt_buf_init(&args);
    CU_ASSERT_EQUAL_FATAL(pt_venc_map_begin(&args, &m), 0);
    PUT("max", pt_venc_int(&args, INT64_MAX));
    PUT("min", pt_venc_int(&args, INT64_MIN));
    PUT("million", pt_venc_real(&args, 1e6));
    PUT("lowest", pt_venc_real(&args, -0x1p63));
    PUT("two63", pt_venc_real(&args, 0x1p63));
    PUT("huge", pt_venc_real(&args, 1e23));
    PUT("half", pt_venc_real(&args, 2.5));
    PUT("nan", pt_venc_real(&args, NAN));
    PUT("s", pt_venc_str(&args, "abc"));
    PUT("long", pt_venc_str(&args, "0123456789012345678901234567890123456789"
                                   "0123456789"));
    PUT("yes", pt_venc_bool(&args, true));
    PUT("none", pt_venc_null(&args));
    PUT("ints", pt_venc_ints(&args, ints, 3));
    PUT("whole", pt_venc_reals(&args, whole, 3));
    PUT("frac", pt_venc_reals(&args, frac, 3));
    PUT("big", pt_venc_reals(&args, big, 2));
    PUT("empty", pt_venc_list_begin(&args, &l));
    CU_ASSERT_EQUAL_FATAL(pt_venc_list_end(&args, &l), 0);
    PUT("map", pt_venc_map_begin(&args, &l));
    CU_ASSERT_EQUAL_FATAL(pt_venc_map_end(&args, &l), 0);
    make_text_args(&m);
    CU_ASSERT_EQUAL_FATAL(pt_venc_map_end(&args, &m), 0);
}

/* A fresh call with those args. */
static void begin(pt_ctx *c)
{
    if (!args.len)
        make_args();
    CU_ASSERT_EQUAL_FATAL(pt__ctx_begin(c, &env, args.data, args.len, NULL), 0);
}

/* One accessor call's error, then a fresh ctx for the next. */
static void expect_error(pt_ctx *c, const char *want)
{
    ASSERT_STR(c->error, want);
    pt__ctx_clear(c);
    begin(c);
}

static void test_int(void)
{
    pt_ctx c;
    begin(&c);
    CU_ASSERT_EQUAL(pt_arg_int(&c, "max", 0), INT64_MAX);
    CU_ASSERT_EQUAL(pt_arg_int(&c, "min", 0), INT64_MIN);
    CU_ASSERT_EQUAL(pt_arg_int(&c, "million", 0), 1000000);
    CU_ASSERT_EQUAL(pt_arg_int(&c, "lowest", 0), INT64_MIN);
    CU_ASSERT_EQUAL(pt_arg_int(&c, "absent", 7), 7);
    CU_ASSERT_EQUAL(pt_arg_int(&c, "none", 7), 7);
    CU_ASSERT_PTR_NULL(c.error);
    CU_ASSERT_EQUAL(pt_arg_int(&c, "huge", 7), 7);
    expect_error(&c, "arg `huge` must be an int, got the real 1e+23");
    CU_ASSERT_EQUAL(pt_arg_int(&c, "two63", 7), 7);
    expect_error(&c, "arg `two63` must be an int, got the real "
                     "9.223372036854776e+18");
    CU_ASSERT_EQUAL(pt_arg_int(&c, "half", 7), 7);
    expect_error(&c, "arg `half` must be an int, got the real 2.5");
    CU_ASSERT_EQUAL(pt_arg_int(&c, "nan", 7), 7);
    expect_error(&c, "arg `nan` must be an int, got the real nan");
    CU_ASSERT_EQUAL(pt_arg_int(&c, "s", 7), 7);
    expect_error(&c, "arg `s` must be an int, got the string \"abc\"");
    CU_ASSERT_EQUAL(pt_arg_int(&c, "ints", 7), 7);
    expect_error(&c, "arg `ints` must be an int, got a list of 3 ints");
    pt__ctx_clear(&c);
}

/* The first accessor failure is the task's error; pt_fail cannot hide it. */
static void test_first_failure_stays(void)
{
    pt_ctx c;
    begin(&c);
    pt_fail(&c, "kernel: %d", 1);
    pt_fail(&c, "kernel: %d", 2);
    ASSERT_STR(c.error, "kernel: 2"); /* pt_fail alone: the last wins */
    pt_arg_bool(&c, "s", false);
    pt_arg_str(&c, "yes", NULL);
    CU_ASSERT_EQUAL(pt_fail(&c, "count must be >= 0"), -1);
    expect_error(&c, "arg `s` must be true or false, got the string \"abc\"");
    pt__ctx_clear(&c);
}

static void test_real_bool_str(void)
{
    pt_ctx c;
    begin(&c);
    CU_ASSERT_EQUAL(pt_arg_real(&c, "max", 0), 0x1p63);
    CU_ASSERT_EQUAL(pt_arg_real(&c, "huge", 0), 1e23);
    CU_ASSERT(pt_arg_bool(&c, "yes", false));
    ASSERT_STR(pt_arg_str(&c, "s", NULL), "abc");
    CU_ASSERT_PTR_NULL(pt_arg_str(&c, "none", NULL));
    CU_ASSERT_PTR_NULL(c.error);
    CU_ASSERT_EQUAL(pt_arg_real(&c, "yes", -1), -1);
    expect_error(&c, "arg `yes` must be a real, got the bool true");
    CU_ASSERT_EQUAL(pt_arg_bool(&c, "min", false), false);
    expect_error(&c, "arg `min` must be true or false, got the int "
                     "-9223372036854775808");
    CU_ASSERT_PTR_NULL(pt_arg_str(&c, "million", NULL));
    expect_error(&c, "arg `million` must be a string, got the real 1000000");
    ASSERT_STR(pt_arg_str(&c, "map", "def"), "def");
    expect_error(&c, "arg `map` must be a string, got a map of 0 keys");
    pt_arg_real(&c, "long", 0);
    expect_error(&c, "arg `long` must be a real, got the string "
                     "\"0123456789012345678901234567890123456789...\"");
    pt__ctx_clear(&c);
}

static void test_arrays(void)
{
    pt_ctx c;
    size_t n = 99;
    begin(&c);
    const int64_t *i = pt_arg_ints(&c, "ints", &n);
    CU_ASSERT(i && n == 3 && i[2] == INT64_MAX);
    i = pt_arg_ints(&c, "whole", &n);
    CU_ASSERT(i && n == 3 && i[0] == 1000000 && i[1] == -2 &&
              i[2] == INT64_MIN);
    const double *r = pt_arg_reals(&c, "ints", &n);
    CU_ASSERT(r && n == 3 && r[1] == -2.0 && r[2] == 0x1p63);
    CU_ASSERT(pt_arg_reals(&c, "empty", &n) != NULL && n == 0);
    CU_ASSERT(pt_arg_ints(&c, "empty", &n) != NULL && n == 0);
    CU_ASSERT(pt_arg_ints(&c, "absent", &n) == NULL && n == 0);
    CU_ASSERT(pt_arg_ints(&c, "none", NULL) == NULL);
    CU_ASSERT_PTR_NULL(c.error);
    CU_ASSERT(pt_arg_ints(&c, "frac", &n) == NULL && n == 0);
    expect_error(&c, "arg `frac` must be a list of ints, got the real 2.5 "
                     "at [1]");
    CU_ASSERT(pt_arg_ints(&c, "big", &n) == NULL && n == 0);
    expect_error(&c, "arg `big` must be a list of ints, got the real 1e+23 "
                     "at [1]");
    CU_ASSERT(pt_arg_ints(&c, "max", &n) == NULL);
    expect_error(&c, "arg `max` must be a list of ints, got the int "
                     "9223372036854775807");
    CU_ASSERT(pt_arg_reals(&c, "s", &n) == NULL);
    expect_error(&c, "arg `s` must be a list of reals, got the string "
                     "\"abc\"");
    pt__ctx_clear(&c);
}

/* pt_arg_type tells what is there, and never fails the task. */
static void test_type(void)
{
    static const struct {
        const char *key;
        pt_arg_kind kind;
    } want[] = {{"max", PT_ARG_INT},    {"huge", PT_ARG_REAL},
                {"s", PT_ARG_STR},      {"yes", PT_ARG_BOOL},
                {"none", PT_ARG_NULL},  {"ints", PT_ARG_INTS},
                {"frac", PT_ARG_REALS}, {"empty", PT_ARG_LIST},
                {"map", PT_ARG_MAP},    {"absent", PT_ARG_NONE}};
    pt_ctx c;
    begin(&c);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        CU_ASSERT_EQUAL(pt_arg_type(&c, want[i].key), want[i].kind);
    CU_ASSERT_PTR_NULL(c.error);
    pt__ctx_clear(&c);
}

/* A list of strings reads as an argv; anything else fails the task. */
static void test_strs(void)
{
    pt_ctx c;
    size_t n = 99;
    begin(&c);
    const char *const *v = pt_arg_strs(&c, "argv", &n);
    CU_ASSERT_EQUAL_FATAL(n, 3);
    ASSERT_STR(v[0], "wc");
    ASSERT_STR(v[2], "a b");
    CU_ASSERT_PTR_NULL(v[3]);
    v = pt_arg_strs(&c, "empty", &n);
    CU_ASSERT(v && !v[0] && n == 0);
    CU_ASSERT_PTR_NULL(pt_arg_strs(&c, "absent", &n));
    CU_ASSERT_PTR_NULL(pt_arg_strs(&c, "none", NULL));
    CU_ASSERT_PTR_NULL(c.error);
    CU_ASSERT_PTR_NULL(pt_arg_strs(&c, "mixed", &n));
    CU_ASSERT_EQUAL(n, 0);
    expect_error(&c, "arg `mixed` must be a list of strings, got the int 7 "
                     "at [1]");
    CU_ASSERT_PTR_NULL(pt_arg_strs(&c, "s", &n));
    expect_error(&c, "arg `s` must be a list of strings, got the string "
                     "\"abc\"");
    pt__ctx_clear(&c);
}

/* A map of strings reads as key, value pairs. */
static void test_strmap(void)
{
    pt_ctx c;
    size_t n = 99;
    begin(&c);
    const char *const *v = pt_arg_strmap(&c, "env", &n);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    ASSERT_STR(v[0], "LANG");
    ASSERT_STR(v[1], "C");
    ASSERT_STR(v[2], "X");
    ASSERT_STR(v[3], "1 2");
    CU_ASSERT_PTR_NULL(v[4]);
    v = pt_arg_strmap(&c, "map", &n);
    CU_ASSERT(v && !v[0] && n == 0);
    CU_ASSERT_PTR_NULL(pt_arg_strmap(&c, "absent", &n));
    CU_ASSERT_PTR_NULL(c.error);
    CU_ASSERT_PTR_NULL(pt_arg_strmap(&c, "badenv", &n));
    expect_error(&c, "arg `badenv` must be a map of strings, got the int 3 "
                     "at `N`");
    CU_ASSERT_PTR_NULL(pt_arg_strmap(&c, "argv", &n));
    expect_error(&c, "arg `argv` must be a map of strings, got a list of 3 "
                     "values");
    pt__ctx_clear(&c);
}

/* Scalars as text, as `{key}` in exec shows them. */
static void test_text(void)
{
    pt_ctx c;
    begin(&c);
    ASSERT_STR(pt_arg_text(&c, "max"), "9223372036854775807");
    ASSERT_STR(pt_arg_text(&c, "min"), "-9223372036854775808");
    ASSERT_STR(pt_arg_text(&c, "tenth"), "0.1");
    ASSERT_STR(pt_arg_text(&c, "million"), "1000000");
    ASSERT_STR(pt_arg_text(&c, "huge"), "1e+23");
    ASSERT_STR(pt_arg_text(&c, "s"), "abc");
    ASSERT_STR(pt_arg_text(&c, "yes"), "true");
    CU_ASSERT_PTR_NULL(pt_arg_text(&c, "none"));
    CU_ASSERT_PTR_NULL(pt_arg_text(&c, "absent"));
    CU_ASSERT_PTR_NULL(c.error);
    CU_ASSERT_PTR_NULL(pt_arg_text(&c, "ints"));
    expect_error(&c, "arg `ints` must be a number, string or bool, got a "
                     "list of 3 ints");
    pt__ctx_clear(&c);
}

static const pt_test_case cases[] = {
    {"pt_arg_strs", test_strs, 0},
    {"pt_arg_strmap", test_strmap, 0},
    {"pt_arg_text", test_text, 0},
    {"int: exact, whole reals, or the task fails", test_int, 0},
    {"the first accessor failure stays", test_first_failure_stays, 0},
    {"real, bool, str", test_real_bool_str, 0},
    {"arrays convert only what is exact", test_arrays, 0},
    {"pt_arg_type", test_type, 0},
    {NULL, NULL, 0},
};

int main(int argc, char **argv)
{
    return pt_test_main("ctx", cases, argc, argv);
}
