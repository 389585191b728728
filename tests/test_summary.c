/* test_summary.c - the end-of-run summary (runner/engine/summary.h): counts and
 * quantiles against a sorted copy, on random and adversarial samples. */
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "spec/spec.h"
#include "engine/median.h"
#include "engine/summary.h"

static int cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The summary's p50/p95/p99 latency (ms) of kernel "k", from its JSON. */
static void quantiles(rn_summary *s, rn_spec *spec, double q[3])
{
    pt_buf b = {0};
    rn_summary_json(s, spec, 0, 1.0, &b);
    pt_buf_append(&b, "", 1);
    const char *p = strstr((const char *)b.data, "\"latency_ms\"");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(sscanf(p,
                           "\"latency_ms\": {\"p50\": %lf, \"p95\": %lf, "
                           "\"p99\": %lf",
                           &q[0], &q[1], &q[2]),
                    3);
    pt_buf_free(&b);
}

static void check(const int64_t *v, size_t n)
{
    char name[] = "k";
    rn_kernel k = {.name = name};
    rn_spec spec = {.name = name, .kernels = &k, .nkernels = 1};
    rn_summary s;
    CU_ASSERT_EQUAL_FATAL(rn_summary_init(&s, &spec), 0);
    for (size_t i = 0; i < n; i++)
        rn_summary_task(&s, 0, 0, 1, 1000, 1000 + v[i]);
    int64_t *sorted = malloc(n * sizeof *sorted);
    memcpy(sorted, v, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp);
    double q[3], want[3], qs[3] = {0.5, 0.95, 0.99};
    quantiles(&s, &spec, q);
    for (int i = 0; i < 3; i++) {
        want[i] = (double)sorted[(size_t)(qs[i] * (double)(n - 1) + 0.5)] / 1e6;
        CU_ASSERT_DOUBLE_EQUAL(q[i], want[i], 1e-9);
    }
    free(sorted);
    rn_summary_free(&s);
}

static void test_quantiles(void)
{
    enum { N = 65521 }; /* below RN_SAMPLES_EXACT: exact */
    int64_t *v = malloc(N * sizeof *v);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    srand(7);
    for (size_t n = 1; n < 40; n++) { /* small sizes, with duplicates */
        for (size_t i = 0; i < n; i++)
            v[i] = rand() % 5;
        check(v, n);
    }
    for (size_t i = 0; i < N; i++)
        v[i] = rand();
    check(v, N);
    for (size_t i = 0; i < N; i++) /* sorted, reversed, all equal */
        v[i] = (int64_t)i;
    check(v, N);
    for (size_t i = 0; i < N; i++)
        v[i] = (int64_t)(N - i);
    check(v, N);
    for (size_t i = 0; i < N; i++)
        v[i] = 42;
    check(v, N);
    free(v);
}

/*
 * Past RN_SAMPLES_EXACT samples a kernel's durations are counted in a
 * histogram (a few tens of KB, not 8 bytes a task): its quantiles stay
 * within 1/128 of the exact ones.
 */
static void test_quantiles_of_many(void)
{
    size_t n = RN_SAMPLES_EXACT + 54321;
    int64_t *v = malloc(n * sizeof *v);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    char name[] = "k";
    rn_kernel k = {.name = name};
    rn_spec spec = {.name = name, .kernels = &k, .nkernels = 1};
    rn_summary s;
    CU_ASSERT_EQUAL_FATAL(rn_summary_init(&s, &spec), 0);
    srand(11);
    for (size_t i = 0; i < n; i++) {
        v[i] = (int64_t)rand() % 1000000000 + (i % 3 ? 0 : 5000000000);
        rn_summary_task(&s, 0, 0, 1, 1000, 1000 + v[i]);
    }
    CU_ASSERT_PTR_NULL(s.per_kernel[0].lat.ns);
    CU_ASSERT_PTR_NOT_NULL(s.per_kernel[0].lat.hist);
    qsort(v, n, sizeof *v, cmp);
    double q[3], qs[3] = {0.5, 0.95, 0.99};
    quantiles(&s, &spec, q);
    for (int i = 0; i < 3; i++) {
        double want = (double)v[(size_t)(qs[i] * (double)(n - 1) + 0.5)] / 1e6;
        CU_ASSERT(fabs(q[i] - want) <= want / 128);
    }
    free(v);
    rn_summary_free(&s);
}

static void test_counts(void)
{
    char name[] = "k";
    rn_kernel k = {.name = name};
    rn_spec spec = {.name = name, .kernels = &k, .nkernels = 1};
    rn_summary s;
    CU_ASSERT_EQUAL_FATAL(rn_summary_init(&s, &spec), 0);
    rn_summary_task(&s, 0, 0, 1, 10, 20);
    rn_summary_task(&s, 0, 2, 1, 10, 30);
    rn_summary_task(&s, 0, 4, 1, 0, 0); /* cancelled: never ran */
    rn_summary_busy(&s, 500000000);
    rn_summary_rss(&s, 1234);
    pt_buf b = {0};
    rn_summary_json(&s, &spec, 3, 2.0, &b);
    pt_buf_append(&b, "", 1);
    const char *j = (const char *)b.data;
    CU_ASSERT_PTR_NOT_NULL(strstr(j, "\"counts\": {\"ok\": 1, \"failed\": 0, "
                                     "\"crashed\": 1, \"timeout\": 0, "
                                     "\"cancelled\": 1}"));
    CU_ASSERT_PTR_NOT_NULL(strstr(j, "\"peak_worker_rss_kb\": 1234"));
    CU_ASSERT_PTR_NOT_NULL(strstr(j, "\"skipped\": 3"));
    CU_ASSERT_PTR_NOT_NULL(strstr(j, "\"tasks_per_s\": 1.500"));
    pt_buf_free(&b);
    rn_summary_free(&s);
}

/*
 * Queue waits that differ, given in no order: the printed "wait p50" and
 * the JSON's queue_wait_ms are exact ranks of them (a wait list left
 * unsorted, or mixed up with the latencies, shows).
 */
static void test_queue_wait_quantiles(void)
{
    /* 1..21 shuffled, in units of 1.25 ms; every latency is 0.5 ms */
    static const int w[] = {13, 2, 21, 7, 17, 1, 10, 19, 4,  15, 8,
                            20, 3, 12, 6, 18, 9, 14, 5,  16, 11};
    char name[] = "k";
    rn_kernel k = {.name = name};
    rn_spec spec = {.name = name, .kernels = &k, .nkernels = 1};
    rn_summary s;
    CU_ASSERT_EQUAL_FATAL(rn_summary_init(&s, &spec), 0);
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
        int64_t queued = 1000000000 + (int64_t)i * 7, start;
        start = queued + w[i] * 1250000LL;
        rn_summary_task(&s, 0, 0, queued, start, start + 500000);
    }
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    int64_t counts[5] = {21, 0, 0, 0, 0};
    rn_summary_print(&s, &spec, counts, 0, 1.0, "DIR", f);
    CU_ASSERT_EQUAL_FATAL(fclose(f), 0);
    /* ranks 10, 19 and 20 of 21 (nearest rank): 11, 20 and 21 x 1.25 ms */
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "  p50 0.500  p95 0.500  p99 0.500 "
                                        "ms  wait p50 13.750 ms\n"));
    free(text);
    pt_buf b = {0};
    rn_summary_json(&s, &spec, 0, 1.0, &b);
    pt_buf_append(&b, "", 1);
    CU_ASSERT_PTR_NOT_NULL(strstr((const char *)b.data,
                                  "\"queue_wait_ms\": {\"p50\": 13.750000, "
                                  "\"p95\": 25.000000, \"p99\": 26.250000}"));
    CU_ASSERT_PTR_NOT_NULL(strstr((const char *)b.data,
                                  "\"latency_ms\": {\"p50\": 0.500000, "
                                  "\"p95\": 0.500000, \"p99\": 0.500000}"));
    pt_buf_free(&b);
    rn_summary_free(&s);
}

/* The running median of `timeout: Nx-median` (median.h) after every
 * sample equals the lower median of a sorted copy: random values with
 * many repeats, then an ascending and a descending run. */
static void test_running_median(void)
{
    enum { N = 3000 };
    static int64_t v[N], sorted[N];
    rn_median m = {0};
    CU_ASSERT_EQUAL(rn_median_get(&m), 0);
    srand(7);
    for (int i = 0; i < N; i++)
        v[i] = i < 1000 ? rand() % 50 : i < 2000 ? i : 5000 - i;
    for (int i = 0; i < N; i++) {
        CU_ASSERT_EQUAL_FATAL(rn_median_add(&m, v[i]), 0);
        memcpy(sorted, v, (size_t)(i + 1) * sizeof *v);
        qsort(sorted, (size_t)i + 1, sizeof *sorted, cmp);
        CU_ASSERT_EQUAL_FATAL(rn_median_get(&m), sorted[i / 2]);
    }
    CU_ASSERT_EQUAL(rn_median_count(&m), N);
    rn_median_free(&m);
}

/* A halted run says why in its summary, on a line of its own. */
static void test_halted_line(void)
{
    char name[] = "k";
    rn_kernel k = {.name = name};
    rn_spec spec = {.name = name, .kernels = &k, .nkernels = 1};
    rn_summary s;
    int64_t counts[PT_TASK_NSTATUS] = {0, 1, 0, 0, 3};
    CU_ASSERT_EQUAL_FATAL(rn_summary_init(&s, &spec), 0);
    s.halted = "halted after 1 failed task (halt: failed 1, soon)";
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    rn_summary_print(&s, &spec, counts, 0, 1.0, "runs/x", f);
    fclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "k: 0 ok 1 failed 3 cancelled in "));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\n  halted after 1 failed task "
                                        "(halt: failed 1, soon)\n"));
    free(text);
    rn_summary_free(&s);
}

/* The failures named: the 5 of lowest id whatever the order they end in,
 * their error's first line, then how many more; ok and cancelled aside. */
static void test_failures(void)
{
    char name[] = "sq";
    rn_kernel k = {.name = name};
    rn_spec spec = {.name = name, .kernels = &k, .nkernels = 1};
    rn_summary s;
    CU_ASSERT_EQUAL_FATAL(rn_summary_init(&s, &spec), 0);
    static const int64_t ids[] = {9, 3, 12, 6, 1, 7, 20, 2};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
        rn_summary_failure(&s, ids[i], 0,
                           ids[i] == 3   ? PT_TASK_CRASHED
                           : ids[i] == 6 ? PT_TASK_TIMEOUT
                                         : PT_TASK_FAILED,
                           ids[i] == 7   ? "x must be < 5\nmore text"
                           : ids[i] == 3 ? NULL
                                         : "x must be < 5");
    rn_summary_failure(&s, 0, 0, PT_TASK_OK, NULL);
    rn_summary_failure(&s, 0, 0, PT_TASK_CANCELLED, "cancelled");
    int64_t counts[PT_TASK_NSTATUS] = {0};
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    rn_summary_print(&s, &spec, counts, 0, 1.0, "runs/x", f);
    fclose(f);
    const char *tail = strstr(text, "  task ");
    CU_ASSERT_PTR_NOT_NULL_FATAL(tail);
    CU_ASSERT_STRING_EQUAL(tail, "  task 1 sq [failed]: x must be < 5\n"
                                 "  task 2 sq [failed]: x must be < 5\n"
                                 "  task 3 sq [crashed]\n"
                                 "  task 6 sq [timeout]: x must be < 5\n"
                                 "  task 7 sq [failed]: x must be < 5...\n"
                                 "  and 3 more; see results.jsonl\n"
                                 "  results in runs/x\n");
    free(text);
    rn_summary_free(&s);
}
int main(int argc, char **argv)
{
    static const pt_test_case cases[] = {
        {"quantiles match a sort", test_quantiles, 60},
        {"quantiles of many: a histogram", test_quantiles_of_many, 60},
        {"counts and totals", test_counts, 0},
        {"queue waits: distinct, unsorted", test_queue_wait_quantiles, 0},
        {"running median", test_running_median, 60},
        {"halted: its line", test_halted_line, 0},
        {"failed tasks named, 5 at most", test_failures, 0},
        {NULL, NULL, 0},
    };
    return pt_test_main("summary", cases, argc, argv);
}
