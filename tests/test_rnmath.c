/*
 * test_rnmath.c - spec/rn_math.h, the runner's roundings without libm:
 * each one beside libm's own function (this test links libm) on the values
 * where a hand-made rounding goes wrong (halves, the last fraction below
 * 0.5, 2^52 and beyond, negatives, NaN, infinities), and rn_pow10 beside
 * pow(10, x), bit for bit.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "harness.h"
#include "spec/rn_math.h"

#define LEN(a) (int)(sizeof(a) / sizeof((a)[0]))

static const double values[] = {
    0.0,
    -0.0,
    0.5,
    -0.5,
    1.0,
    -1.0,
    1.5,
    -1.5,
    2.5,
    -2.5,
    0.49999999999999994,
    -0.49999999999999994,
    0.1,
    -0.1,
    1e-300,
    -1e-300,
    3.0000000000000004,
    2.9999999999999996,
    1e6 + 0.5,
    0x1p52 - 0.5,
    -0x1p52 + 0.5,
    0x1p52,
    0x1p52 + 1,
    0x1p53 + 2,
    0x1p61,
    -0x1p61,
    1e12,
    1e300,
    -1e300,
};

static void test_ceil_and_integral(void)
{
    int bad = 0;
    for (int i = 0; i < LEN(values); i++) {
        double x = values[i];
        if (rn_ceil(x) != ceil(x) || rn_is_integral(x) != (x == floor(x))) {
            fprintf(stderr, "x = %.17g: ceil %.17g / %.17g, integral %d\n", x,
                    rn_ceil(x), ceil(x), rn_is_integral(x));
            bad++;
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(isnan(rn_ceil(NAN)));
    CU_ASSERT_EQUAL(rn_ceil(INFINITY), INFINITY);
    CU_ASSERT_EQUAL(rn_ceil(-INFINITY), -INFINITY);
    CU_ASSERT_EQUAL(rn_ceil(0.25), 1.0); /* pinned, not only beside libm */
    CU_ASSERT_EQUAL(rn_ceil(-1.75), -1.0);
    CU_ASSERT(rn_is_integral(-3.0));
    CU_ASSERT(!rn_is_integral(-3.5));
}

static void test_llround(void)
{
    int bad = 0;
    for (int i = 0; i < LEN(values); i++) {
        double x = values[i];
        if (fabs(x) < 0x1p62 && rn_llround(x) != llround(x)) {
            fprintf(stderr, "x = %.17g: %lld, libm %lld\n", x,
                    (long long)rn_llround(x), llround(x));
            bad++;
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(rn_llround(2.5), 3);
    CU_ASSERT_EQUAL(rn_llround(-2.5), -3);
    CU_ASSERT_EQUAL(rn_llround(0.49999999999999994), 0);
}

static void test_pow10(void)
{
    static const double xs[] = {-1, 0,    1,   2,   0.5,  -0.25,  22,
                                23, -7.3, 308, 309, -400, 1.0 / 3};
    int bad = 0;
    for (int i = 0; i < LEN(xs); i++) {
        double got = rn_pow10(xs[i]), want = pow(10.0, xs[i]);
        if (memcmp(&got, &want, sizeof got) != 0) {
            fprintf(stderr, "10^%g: %.17g, pow %.17g\n", xs[i], got, want);
            bad++;
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(rn_pow10(2), 100.0);
    CU_ASSERT_EQUAL(rn_pow10(309), INFINITY);
}

static const pt_test_case cases[] = {
    {"ceil and is_integral as libm", test_ceil_and_integral, 0},
    {"llround as libm", test_llround, 0},
    {"pow10 as libm's pow", test_pow10, 0},
    {NULL, NULL, 0},
};

int main(int argc, char **argv)
{
    return pt_test_main("rnmath", cases, argc, argv);
}
