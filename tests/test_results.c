/*
 * test_results.c - results.jsonl read strictly and compacted
 * (runner/events/results.h): given file contents, the exact verdicts, and the
 * exact results.jsonl and history.jsonl that compaction leaves.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "events/results.h"

/* Write `text` as dir/name. */
static void put(const char *name, const char *text)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", pt_test_tmpdir(), name);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(fputs(text, f) >= 0, 1);
    CU_ASSERT_EQUAL(fclose(f), 0);
}

/* The contents of dir/name ("<none>" when it does not exist); free it. */
static char *get(const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", pt_test_tmpdir(), name);
    FILE *f = fopen(path, "r");
    if (!f)
        return strdup("<none>");
    char *text = NULL;
    size_t cap = 0;
    if (getdelim(&text, &cap, '\0', f) < 0) {
        free(text);
        text = strdup("");
    }
    fclose(f);
    return text;
}

static int read_in(rn_results *r, int64_t ntasks, int64_t base)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/results.jsonl", pt_test_tmpdir());
    return rn_results_read(r, path, ntasks, base);
}

#define OK0 "{\"task\":0,\"status\":\"ok\"}\n"
#define FAIL1 "{\"task\":1,\"status\":\"failed\",\"error\":\"x\"}\n"
#define CANC2 "{\"task\":2,\"status\":\"cancelled\"}\n"
#define OK2 "{\"task\":2,\"status\":\"ok\",\"result\":{\"v\":2}}\n"
#define OK1 "{\"task\": 1, \"status\": \"ok\"}\n"

/* Every kind of line that is no result of a 3-task plan, and why. */
static void test_strict_lines(void)
{
    static const struct {
        const char *line, *why;
    } bad[] = {
        {"{\"task\":1.5,\"status\":\"ok\"}\n",
         "\"task\" is not a task id of this plan"},
        {"{\"task\":\"1\",\"status\":\"ok\"}\n",
         "\"task\" is not a task id of this plan"},
        {"{\"task\":-1,\"status\":\"ok\"}\n",
         "\"task\" is not a task id of this plan"},
        {"{\"task\":3,\"status\":\"ok\"}\n",
         "\"task\" is not a task id of this plan"},
        {"{\"task\":1e0,\"status\":\"ok\"}\n",
         "\"task\" is not a task id of this plan"},
        {"{\"task\":99999999999999999999999,\"status\":\"ok\"}\n",
         "\"task\" is not a task id of this plan"},
        {"{\"task\":1,\"status\":\"ok\",\"seed\":18446744073709551615,"
         "\"a\":-9223372036854775809,\"b\":[1,]}\n",
         "not a JSON object (bad JSON at offset 85: unexpected token near "
         "']')"},
        {"{\"task\":1,\"status\":\"ok\",\"task\":2}\n",
         "not a JSON object (bad JSON at offset 30: duplicate object key "
         "near '\"task\"')"},
        {"{\"task\":1,\"status\":\"ok\",\"error\":\"\xff\"}\n",
         "not a JSON object (bad JSON at offset 33: unable to decode byte "
         "0xff near '\"')"},
        {"{\"status\":\"ok\"}\n", "no \"task\""},
        {"{\"task\":1}\n", "no \"status\""},
        {"{\"task\":1,\"status\":\"done\"}\n",
         "\"status\" is not ok, failed, crashed, timeout or cancelled"},
        {"{\"task\":1,\"status\":0}\n",
         "\"status\" is not ok, failed, crashed, timeout or cancelled"},
        {"[1,2]\n", "not a JSON object (bad JSON at offset 0: expected an "
                    "object)"},
        {"\n", "not a JSON object (bad JSON at offset 1: '[' or '{' expected "
               "near end of file)"},
        {"{\"task\":1,\"status\":\"ok\"\n", "not a JSON object (bad JSON at "
                                            "offset 24: '}' expected near end "
                                            "of file)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, OK0 "%s" CANC2, bad[i].line);
        put("results.jsonl", text);
        rn_results r;
        CU_ASSERT_EQUAL_FATAL(read_in(&r, 3, 0), 0);
        CU_ASSERT_EQUAL(r.lines, 3);
        CU_ASSERT_EQUAL(r.ignored, 1);
        CU_ASSERT_EQUAL(r.first_ignored, 2);
        ASSERT_STR(r.why, bad[i].why);
        CU_ASSERT_EQUAL(r.latest[1], -1); /* task 1 is not done */
        CU_ASSERT_EQUAL(r.counts[0], 1);
        CU_ASSERT_EQUAL(r.counts[4], 1);
        CU_ASSERT_FALSE(rn_results_compacted(&r));
        rn_results_free(&r);
    }
}

/* The latest line wins; a torn last line is nothing; `since` from base. */
static void test_latest_and_torn_tail(void)
{
    put("results.jsonl", OK0 CANC2 FAIL1 OK2 "{\"task\":1,\"sta");
    rn_results r;
    CU_ASSERT_EQUAL_FATAL(read_in(&r, 3, (int64_t)strlen(OK0 CANC2)), 0);
    CU_ASSERT_EQUAL(r.lines, 4);
    CU_ASSERT_EQUAL(r.ignored, 0);
    CU_ASSERT_EQUAL(r.first_ignored, 0);
    CU_ASSERT_EQUAL(r.end, (int64_t)strlen(OK0 CANC2 FAIL1 OK2));
    CU_ASSERT_EQUAL(r.latest[2], (int64_t)strlen(OK0 CANC2 FAIL1));
    int64_t counts[PT_TASK_NSTATUS] = {2, 1, 0, 0, 0},
            since[PT_TASK_NSTATUS] = {1, 1};
    CU_ASSERT_EQUAL(memcmp(r.counts, counts, sizeof counts), 0);
    CU_ASSERT_EQUAL(memcmp(r.since, since, sizeof since), 0);
    rn_results_free(&r);
}

/* A missing file reads as empty; an empty plan takes no line. */
static void test_missing_and_empty_plan(void)
{
    rn_results r;
    CU_ASSERT_EQUAL_FATAL(read_in(&r, 5, 0), 0);
    CU_ASSERT_EQUAL(r.lines, 0);
    CU_ASSERT_EQUAL(r.end, 0);
    CU_ASSERT_TRUE(rn_results_compacted(&r));
    rn_results_free(&r);
    put("results.jsonl", OK0);
    CU_ASSERT_EQUAL_FATAL(read_in(&r, 0, 0), 0);
    CU_ASSERT_EQUAL(r.ignored, 1);
    ASSERT_STR(r.why, "\"task\" is not a task id of this plan");
    rn_results_free(&r);
}

/* Superseded and ignored lines go to history.jsonl, in order, verbatim. */
static void test_compact(void)
{
    put("results.jsonl",
        OK0 CANC2 "[junk]\n" FAIL1 OK2 OK1 "{\"task\":1,\"sta");
    rn_results r;
    CU_ASSERT_EQUAL_FATAL(read_in(&r, 3, 0), 0);
    CU_ASSERT_FALSE(rn_results_compacted(&r));
    CU_ASSERT_EQUAL(rn_results_compact(&r, pt_test_tmpdir()), 0);
    rn_results_free(&r);
    char *res = get("results.jsonl"), *hist = get("history.jsonl");
    ASSERT_STR(res, OK0 OK2 OK1); /* in the order written */
    ASSERT_STR(hist, CANC2 "[junk]\n" FAIL1);
    free(res);
    free(hist);
    /* compact now: read again, nothing to move */
    CU_ASSERT_EQUAL_FATAL(read_in(&r, 3, 0), 0);
    CU_ASSERT_TRUE(rn_results_compacted(&r));
    rn_results_free(&r);
    char path[4200];
    snprintf(path, sizeof path, "%s/.results.jsonl.tmp-%ld", pt_test_tmpdir(),
             (long)getpid());
    CU_ASSERT_EQUAL(access(path, F_OK), -1); /* no temporary file left */
}

/* History cut by a kill: the moved lines start on a line of their own. */
static void test_history_torn_by_a_kill(void)
{
    put("history.jsonl", FAIL1 "{\"task\":2,\"st");
    put("results.jsonl", CANC2 OK2);
    rn_results r;
    CU_ASSERT_EQUAL_FATAL(read_in(&r, 3, 0), 0);
    CU_ASSERT_EQUAL(rn_results_compact(&r, pt_test_tmpdir()), 0);
    rn_results_free(&r);
    char *res = get("results.jsonl"), *hist = get("history.jsonl");
    ASSERT_STR(res, OK2);
    ASSERT_STR(hist, FAIL1 "{\"task\":2,\"st\n" CANC2);
    free(res);
    free(hist);
}

/* A line written after the read: nothing is compacted, nothing lost. */
static void test_grown_file_is_left_alone(void)
{
    put("history.jsonl", FAIL1);
    put("results.jsonl", CANC2 OK2);
    rn_results r;
    CU_ASSERT_EQUAL_FATAL(read_in(&r, 3, 0), 0);
    put("results.jsonl", CANC2 OK2 OK0);
    CU_ASSERT_EQUAL(rn_results_compact(&r, pt_test_tmpdir()), -EAGAIN);
    rn_results_free(&r);
    char *res = get("results.jsonl"), *hist = get("history.jsonl");
    ASSERT_STR(res, CANC2 OK2 OK0);
    ASSERT_STR(hist, FAIL1); /* cut back: no duplicate either */
    free(res);
    free(hist);
    char path[4200];
    snprintf(path, sizeof path, "%s/.results.jsonl.tmp-%ld", pt_test_tmpdir(),
             (long)getpid());
    CU_ASSERT_EQUAL(access(path, F_OK), -1);
}

int main(int argc, char **argv)
{
    static const pt_test_case cases[] = {
        {"strict_lines", test_strict_lines, 0},
        {"latest_and_torn_tail", test_latest_and_torn_tail, 0},
        {"missing_and_empty_plan", test_missing_and_empty_plan, 0},
        {"compact", test_compact, 0},
        {"history_torn_by_a_kill", test_history_torn_by_a_kill, 0},
        {"grown_file_is_left_alone", test_grown_file_is_left_alone, 0},
        {NULL, NULL, 0},
    };
    return pt_test_main("results", cases, argc, argv);
}
