/*
 * fuzz_json.c - libFuzzer target over the JSON parsers ptrun feeds with
 * untrusted bytes (all of them jansson underneath):
 *  - rn_results_parse_line() (runner/results.c), what --resume, finish and
 *    compaction make of each line of results.jsonl, through pt_json_loadb()
 *    (include/ptools/json_read.h), which csv's read-back uses too;
 *  - rn_ctl_request() (runner/ctl/ctl_request.c), what the `ptrun ctl`
 *    server does with each request line.
 *
 * Promises checked:
 *  - a results line is a result only with a task id of the plan and a
 *    status word, and a refusal says why;
 *  - pt_json_loadb() reads every text json_loadb() reads, to an equal value,
 * and reads more only by turning integers past int64 into their digits; a
 *    refusal has a message and an offset inside the text;
 *  - rn_ctl_request() applies exactly the requests ctl.h describes, with
 *    their members as given, and gives a reason for every refusal.
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

#include <jansson.h>

#include "ctl/ctl.h"
#include <ptools/json_read.h>
#include "events/results.h"

#define NTASKS 8 /* the plan results lines are read for */

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

/* ---- pt_json_loadb
 * ----------------------------------------------------------- */

/* pt_json_loadb() against json_loadb() on the same text. */
static void check_loadb(const char *text, size_t len, size_t flags)
{
    json_error_t je, je2;
    json_t *strict = json_loadb(text, len, flags, &je);
    json_t *lax = pt_json_loadb(text, len, flags, &je2);
    if (strict && !json_equal(strict, lax))
        fail("pt_json_loadb differs from json_loadb", text, len);
    if (!lax &&
        (!je2.text[0] || je2.position < 0 || (size_t)je2.position > len))
        fail("pt_json_loadb: a refusal without its message or offset", text,
             len);
    if (lax && !strict && json_error_code(&je) != json_error_numeric_overflow)
        fail("pt_json_loadb read what json_loadb refuses for another reason",
             text, len);
    json_decref(strict);
    json_decref(lax);
}

/* ---- results lines ------------------------------------------------------ */

/* One whole line (n bytes with its '\n', NUL after) as results.c reads it. */
static void check_result_line(const char *line, size_t n)
{
    int64_t task;
    int status;
    char why[160] = "";
    int rc = rn_results_parse_line(line, n, NTASKS, &task, &status, why,
                                   sizeof why);
    if (g_verbose)
        fprintf(stderr, "line: %d%s%s\n", rc, rc ? ": " : "", why);
    if (rc == 0 &&
        (task < 0 || task >= NTASKS || status < 0 || status >= PT_TASK_NSTATUS))
        fail("rn_results_parse_line: a result of no task or status", line, n);
    if (rc != 0 && (rc != -1 || !why[0]))
        fail("rn_results_parse_line: a refusal without a reason", line, n);
    check_loadb(line, n, JSON_REJECT_DUPLICATES);
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
        fail("rn_ctl_request applied a request ctl.h does not allow", a->line,
             strlen(a->line));
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
        if (nl)
            check_result_line(line, end - start);
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
    check_loadb((const char *)data, size, JSON_REJECT_DUPLICATES);
    if (memchr(data, '\n', size))
        check_lines(data, size);
    else
        check_request((const char *)data, size);
    return 0;
}
