/* test_progress.c - the progress line (runner/engine/progress.h): its text
 * on a wide and a narrow terminal, cancelled tasks apart from the done. */
#include <string.h>

#include "harness.h"
#include "engine/progress.h"

static char line[512];

static const char *format(const rn_progress_state *st, double rate, double eta,
                          bool final, int cols)
{
    int n = rn_progress_format(st, rate, eta, final, cols, line, sizeof line);
    CU_ASSERT_EQUAL(n, (int)strlen(line));
    CU_ASSERT(n <= cols - 1);
    return line;
}

static const rn_progress_state running = {.step = 0,
                                          .nsteps = 2,
                                          .step_name = "sample",
                                          .done = 5120,
                                          .total = 10000,
                                          .running = 8,
                                          .failed = 3};

static void test_wide(void)
{
    CU_ASSERT_STRING_EQUAL(
        format(&running, 41873, 0.6, false, 120),
        "step 1/2 sample: 5120/10000  51%  running 8  failed 3  41873 "
        "tasks/s  ETA 0:01 [###################...................]");
    CU_ASSERT_STRING_EQUAL(
        format(&running, 41873, 0.6, false, 100),
        "step 1/2 sample: 5120/10000  51%  running 8  failed 3  41873 "
        "tasks/s  ETA 0:01 [#########.........]");
}

/* Narrow: the bar goes, then the rate, running, the name; the ETA stays,
 * the rest cut at a gap when nothing else can go. */
static void test_narrow(void)
{
    CU_ASSERT_STRING_EQUAL(
        format(&running, 41873, 3725, false, 60),
        "step 1/2 sample: 5120/10000  51%  failed 3  ETA 1:02:05");
    CU_ASSERT_STRING_EQUAL(format(&running, 41873, 65, false, 40),
                           "step 1/2: 5120/10000  51%  ETA 1:05");
    CU_ASSERT_STRING_EQUAL(format(&running, 41873, -1, false, 20),
                           "step 1/2: 5  ETA --");
}

/* After Ctrl-C: the cancelled are not done, so the bar is not full. */
static void test_cancelled(void)
{
    rn_progress_state st = {.step = 1,
                            .nsteps = 2,
                            .step_name = "reduce",
                            .done = 40,
                            .total = 100,
                            .running = 0,
                            .failed = 1,
                            .cancelled = 60};
    CU_ASSERT_STRING_EQUAL(format(&st, 20, 2, true, 120),
                           "step 2/2 reduce: 40/100  40%  running 0  failed "
                           "1  cancelled 60  20 tasks/s  took 0:02 "
                           "[############..................]");
    CU_ASSERT_STRING_EQUAL(
        format(&st, 20, 2, true, 60),
        "step 2/2: 40/100  40%  failed 1  cancelled 60  took 0:02");
    st.paused = true;
    st.cancelled = 0;
    CU_ASSERT_STRING_EQUAL(
        format(&st, 20, 2, false, 60),
        "step 2/2 reduce: 40/100  40%  failed 1  [paused]  ETA 0:02");
}

int main(int argc, char **argv)
{
    static const pt_test_case cases[] = {
        {"120 and 100 columns: a bar", test_wide, 0},
        {"60 columns: the ETA stays", test_narrow, 0},
        {"cancelled apart", test_cancelled, 0},
        {NULL, NULL, 0},
    };
    return pt_test_main("progress", cases, argc, argv);
}
