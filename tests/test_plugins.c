/*
 * test_plugins.c - the shipped result plugins (build/plugins/NAME.so),
 * loaded with dlopen and fed synthetic events: the exact text of
 * results.jsonl and results.csv (SPEC §5), their options, write failures,
 * and whole lines after a SIGKILL; the timeline of chrome-trace. Also the
 * JSON reader they share.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ptools/plugin.h>
#include <ptools/value.h>

#include "../plugins/json_mini.h"
#include <ptools/json_read.h>
#include "harness.h"

#ifndef PT_PLUGIN_DIR
#ifdef PT_KERNEL_DIR
#define PT_PLUGIN_DIR PT_KERNEL_DIR "/../plugins"
#else
#error "define PT_PLUGIN_DIR, the folder of jsonl.so and csv.so"
#endif
#endif

/* A loaded plugin and the context the runner would give it. */
typedef struct plug {
    void *dl;
    const pt_plugin *desc;
    pt_plugin_ctx ctx;
} plug;

static void plug_load(plug *p, const char *name, const char *run_dir)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.so", PT_PLUGIN_DIR, name);
    p->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!p->dl)
        fprintf(stderr, "  %s\n", dlerror());
    CU_ASSERT_PTR_NOT_NULL_FATAL(p->dl);
    const pt_plugin *const *d = dlsym(p->dl, "pt_plugin_desc");
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    p->desc = *d;
    CU_ASSERT_EQUAL_FATAL(p->desc->abi, PT_PLUGIN_ABI);
    CU_ASSERT_STRING_EQUAL(p->desc->name, name);
    p->ctx = (pt_plugin_ctx){
        .size = sizeof p->ctx, .run_dir = run_dir, .run_name = "demo"};
}

static void plug_unload(plug *p)
{
    dlclose(p->dl);
}

/* Load, open with `options`, check it opened. */
static void plug_open(plug *p, const char *name, const char *run_dir,
                      const char *options)
{
    plug_load(p, name, run_dir);
    int rc = p->desc->open(&p->ctx, options);
    if (rc != 0)
        fprintf(stderr, "  open: %s\n", p->ctx.error);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
}

static int emit(plug *p, const pt_event *ev)
{
    return p->desc->on_event(&p->ctx, ev);
}

static pt_event event(pt_event_type type)
{
    return (pt_event){.size = sizeof(pt_event),
                      .type = type,
                      .time_ns = INT64_C(1700000000000000000),
                      .run_name = "demo",
                      .step = -1,
                      .task = -1,
                      .worker = -1,
                      .exit_code = -1};
}

/*
 * Test data as JSON text, encoded the way the runner hands values to
 * plugins (ABI 3: ev->args, ev->result). Just the JSON the tests write:
 * objects, arrays (as lists), strings with \" \\ \n escapes, numbers
 * (int without '.' or 'e'), true, false, null.
 */
static int enc_json(pt_buf *b, const char **s);

static int enc_json_str(const char **s, pt_buf *out)
{
    const char *p = *s + 1;
    pt_buf_reset(out);
    for (; *p && *p != '"'; p++) {
        char c = *p;
        if (c == '\\' && p[1])
            c = *++p == 'n' ? '\n' : *p == 't' ? '\t' : *p;
        pt_buf_append(out, &c, 1);
    }
    *s = *p ? p + 1 : p;
    return pt_buf_append(out, "", 1);
}

static int enc_json_container(pt_buf *b, const char **s)
{
    bool map = **s == '{';
    pt_vmark m;
    pt_buf key = {0};
    int rc = map ? pt_venc_map_begin(b, &m) : pt_venc_list_begin(b, &m);
    for ((*s)++; rc == 0 && **s && **s != (map ? '}' : ']');) {
        if (map && (rc = enc_json_str(s, &key)) == 0) {
            rc = pt_venc_key(b, &m, (const char *)key.data);
            (*s)++; /* ':' */
        }
        if (rc == 0)
            rc = enc_json(b, s);
        if (**s == ',')
            (*s)++;
    }
    pt_buf_free(&key);
    (*s)++;
    return rc < 0 ? rc : map ? pt_venc_map_end(b, &m) : pt_venc_list_end(b, &m);
}

static int enc_json(pt_buf *b, const char **s)
{
    const char *p = *s;
    if (*p == '{' || *p == '[')
        return enc_json_container(b, s);
    if (*p == '"') {
        pt_buf str = {0};
        int rc = enc_json_str(s, &str);
        rc = rc < 0 ? rc : pt_venc_str(b, (const char *)str.data);
        pt_buf_free(&str);
        return rc;
    }
    const char *word[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++)
        if (strncmp(p, word[i], strlen(word[i])) == 0) {
            *s += strlen(word[i]);
            return i < 2 ? pt_venc_bool(b, i == 0) : pt_venc_null(b);
        }
    char *end;
    size_t n = strspn(p, "-+0123456789.eE");
    if (strcspn(p, ".eE") < n) {
        double d = strtod(p, &end);
        *s = end;
        return pt_venc_real(b, d);
    }
    long long v = strtoll(p, &end, 10);
    *s = end;
    return pt_venc_int(b, v);
}

/* The encoded value of `json` (NULL: none), in a ring of buffers that keeps
 * the last 16: enough for the event being built to be emitted. */
static const void *encoded(const char *json, size_t *len)
{
    static pt_buf ring[16];
    static unsigned next;
    *len = 0;
    if (!json)
        return NULL;
    pt_buf *b = &ring[next++ % 16];
    pt_buf_reset(b);
    CU_ASSERT_EQUAL_FATAL(enc_json(b, &json), 0);
    CU_ASSERT_EQUAL_FATAL(pt_value_check(b->data, b->len, PT_V_MAX_DEPTH), 0);
    *len = b->len;
    return b->data;
}

/* Give the event its args and result as ABI 3 values, and no JSON: the
 * shipped plugins must not need it. */
static void to_values(pt_event *ev)
{
    ev->args = encoded(ev->args_json, &ev->args_len);
    ev->result = encoded(ev->result_json, &ev->result_len);
    ev->args_json = ev->result_json = NULL;
}

/* An error text with all a JSON writer must escape, and some UTF-8. */
#define NASTY                                                                  \
    "bad \"quote\" \\ back\nline2\ttab\x01 \xc3\xa9 \xe2\x9c\x93 "             \
    "\xf0\x9f\x98\x80"
#define NASTY_JSON                                                             \
    "\"bad \\\"quote\\\" \\\\ back\\nline2\\ttab\\u0001 \xc3\xa9 "             \
    "\xe2\x9c\x93 \xf0\x9f\x98\x80\""

/* The three finished tasks of the demo run, in the order they finish. */
static pt_event demo_task(int i)
{
    static const pt_event tasks[] = {
        {.task = 2,
         .kernel = "pi",
         .workerset = "cpu",
         .worker = 0,
         .seed = 7,
         .status = PT_TASK_FAILED,
         .error = NASTY,
         .args_json = "{\"opt\":{\"tol\":1e-6,\"name\":\"a,b\"},"
                      "\"v\":[1,2,3],\"s\":\"say \\\"hi\\\"\"}",
         .result_json = "{\"partial\":true,\"note\":null}",
         .attempts = 2,
         .queued_ns = 10,
         .start_ns = 20,
         .end_ns = 30},
        {.task = 0,
         .kernel = "pi",
         .workerset = "cpu",
         .worker = 1,
         .seed = UINT64_MAX,
         .priority = 10,
         .status = PT_TASK_OK,
         .args_json = "{\"samples\":1000,\"rep\":0}",
         .result_json = "{\"pi\":3.14159,\"hits\":785}",
         .attempts = 1,
         .queued_ns = 1000,
         .start_ns = 2000,
         .end_ns = 3000},
        {.task = 1,
         .kernel = "sleep",
         .workerset = "io",
         .worker = -1,
         .seed = 5,
         .priority = -3,
         .status = PT_TASK_CANCELLED,
         .error = "cancelled before start",
         .args_json = "{}",
         .queued_ns = 4000},
    };
    pt_event ev = tasks[i];
    to_values(&ev);
    ev.size = sizeof ev;
    ev.type = PT_EV_TASK_FINISHED;
    ev.time_ns = INT64_C(1700000000000000000);
    ev.run_name = "demo";
    ev.step = 0;
    ev.step_name = "sample";
    ev.exit_code = -1;
    return ev;
}

static const char demo_jsonl[] =
    "{\"task\":2,\"step\":\"sample\",\"kernel\":\"pi\",\"args\":{\"opt\":"
    "{\"tol\":1e-06,\"name\":\"a,b\"},\"v\":[1,2,3],\"s\":\"say \\\"hi\\\"\"},"
    "\"seed\":7,\"status\":\"failed\",\"error\":" NASTY_JSON ",\"result\":"
    "{\"partial\":true,\"note\":null},\"worker\":0,\"attempts\":2,"
    "\"queued_ns\":10,\"start_ns\":20,\"end_ns\":30,\"workerset\":\"cpu\","
    "\"priority\":0}\n"
    "{\"task\":0,\"step\":\"sample\",\"kernel\":\"pi\",\"args\":{\"samples\":"
    "1000,\"rep\":0},\"seed\":18446744073709551615,\"status\":\"ok\","
    "\"error\":null,\"result\":{\"pi\":3.14159,\"hits\":785},\"worker\":1,"
    "\"attempts\":1,\"queued_ns\":1000,\"start_ns\":2000,\"end_ns\":3000,"
    "\"workerset\":\"cpu\",\"priority\":10}\n"
    "{\"task\":1,\"step\":\"sample\",\"kernel\":\"sleep\",\"args\":{},"
    "\"seed\":5,\"status\":\"cancelled\",\"error\":\"cancelled before "
    "start\",\"result\":{},\"worker\":null,\"attempts\":0,\"queued_ns\":4000,"
    "\"start_ns\":0,\"end_ns\":0,\"workerset\":\"io\",\"priority\":-3}\n";

/* Run start, step start, the demo tasks (and events to ignore). */
static void feed_step(plug *p)
{
    pt_event ev = event(PT_EV_RUN_START);
    CU_ASSERT_EQUAL(emit(p, &ev), 0);
    ev = event(PT_EV_STEP_START);
    ev.step = 0, ev.step_name = "sample";
    CU_ASSERT_EQUAL(emit(p, &ev), 0);
    ev = event(PT_EV_WORKER_STARTED);
    ev.workerset = "cpu", ev.worker = 0, ev.pid = 1234;
    CU_ASSERT_EQUAL(emit(p, &ev), 0);
    for (int i = 0; i < 3; i++) {
        ev = demo_task(i);
        ev.type = PT_EV_TASK_STARTED;
        CU_ASSERT_EQUAL(emit(p, &ev), 0);
        ev = demo_task(i);
        CU_ASSERT_EQUAL(emit(p, &ev), 0);
    }
}

static int end_step(plug *p)
{
    pt_event ev = event(PT_EV_STEP_END);
    ev.step = 0, ev.step_name = "sample";
    ev.counts[PT_TASK_OK] = ev.counts[PT_TASK_FAILED] = 1;
    ev.counts[PT_TASK_CANCELLED] = 1;
    return emit(p, &ev);
}

static int end_run(plug *p)
{
    pt_event ev = event(PT_EV_RUN_END);
    ev.counts[PT_TASK_OK] = ev.counts[PT_TASK_FAILED] = 1;
    ev.counts[PT_TASK_CANCELLED] = 1;
    return emit(p, &ev);
}

/* The whole demo run through one plugin. */
static void demo_run(const char *name, const char *dir, const char *options)
{
    plug p;
    plug_open(&p, name, dir, options);
    feed_step(&p);
    CU_ASSERT_EQUAL(end_step(&p), 0);
    CU_ASSERT_EQUAL(end_run(&p), 0);
    CU_ASSERT_EQUAL(p.desc->close(&p.ctx), 0);
    plug_unload(&p);
}

static char *path_in(const char *dir, const char *name)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

/* A file's contents (NUL-terminated, free it), NULL when unreadable. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    jm_buf b = {0};
    char block[65536];
    size_t n;
    jm_buf_add(&b, "", 0);
    while ((n = fread(block, 1, sizeof block, f)) > 0)
        jm_buf_add(&b, block, n);
    fclose(f);
    if (len)
        *len = b.len;
    return b.data;
}

/* Close plugin p (a jsonl writing into dir), unload it: its results.jsonl
 * (free it). */
static char *closed_jsonl(plug *p, const char *dir)
{
    CU_ASSERT_EQUAL(p->desc->close(&p->ctx), 0);
    plug_unload(p);
    char *text = slurp(path_in(dir, "results.jsonl"), NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    return text;
}

static void spit(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
}

/* Python, to check files with a reader we did not write; NULL if none. */
static const char *python(void)
{
#ifdef PT_TEST_PYTHON
    if (PT_TEST_PYTHON[0] && access(PT_TEST_PYTHON, X_OK) == 0)
        return PT_TEST_PYTHON;
#endif
    return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : NULL;
}

/* Run python -c code args...; its exit status, 0 when there is no python. */
static int run_python(const char *code, const char *a1, const char *a2,
                      const char *a3)
{
    const char *py = python();
    if (!py)
        return 0;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        execl(py, py, "-c", code, a1, a2, a3, (char *)NULL);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int python_jsonl(const char *path)
{
    return run_python("import json,sys\n"
                      "for l in open(sys.argv[1], encoding='utf-8'):\n"
                      "    assert isinstance(json.loads(l), dict)\n",
                      path, NULL, NULL);
}

/*
 * Count the lines of a jsonl text, each a JSON object (jansson); *tail
 * gets the length of an unterminated last line. -1 if a line is bad.
 */
static long check_lines(const char *text, size_t len, size_t *tail)
{
    long n = 0;
    json_error_t je;
    const char *p = text, *end = text + len;
    for (const char *nl; (nl = memchr(p, '\n', (size_t)(end - p)));
         p = nl + 1, n++) {
        json_t *line = pt_json_loadb(p, (size_t)(nl - p),
                                     JSON_REJECT_DUPLICATES, &je);
        bool ok = json_is_object(line);
        if (!ok)
            fprintf(stderr, "  line %ld: %s\n", n + 1,
                    line ? "not an object" : je.text);
        json_decref(line);
        if (!ok)
            return -1;
    }
    *tail = (size_t)(end - p);
    return n;
}

static void test_descriptors(void)
{
    const char *names[] = {"jsonl", "csv", "chrome-trace"};
    for (int i = 0; i < 3; i++) {
        plug p;
        plug_load(&p, names[i], pt_test_tmpdir());
        CU_ASSERT(p.desc->doc && p.desc->doc[0]);
        CU_ASSERT(p.desc->open && p.desc->on_event && p.desc->close);
        plug_unload(&p);
    }
}

static void test_jsonl_lines(void)
{
    const char *dir = pt_test_tmpdir();
    plug p;
    plug_open(&p, "jsonl", dir, "{}");
    feed_step(&p);
    CU_ASSERT_EQUAL(end_step(&p), 0);
    char *text = slurp(path_in(dir, "results.jsonl"), NULL);
    CU_ASSERT_STRING_EQUAL(text, demo_jsonl); /* written at the step's end */
    free(text);
    CU_ASSERT_EQUAL(end_run(&p), 0);
    CU_ASSERT_EQUAL(p.desc->close(&p.ctx), 0);
    plug_unload(&p);

    size_t len, tail;
    text = slurp(path_in(dir, "results.jsonl"), &len);
    CU_ASSERT_STRING_EQUAL(text, demo_jsonl);
    CU_ASSERT_EQUAL(check_lines(text, len, &tail), 3);
    CU_ASSERT_EQUAL(tail, 0);
    free(text);
    CU_ASSERT_EQUAL(python_jsonl(path_in(dir, "results.jsonl")), 0);
    struct stat st;
    CU_ASSERT_EQUAL(stat(path_in(dir, "results.jsonl"), &st), 0);
    CU_ASSERT_EQUAL(st.st_mode & 0777, 0644 & ~(unsigned)umask(022));
}

/*
 * Args of changing shapes, one line each: jsonl reuses the text of the
 * last args whose bytes differ only in top-level numbers (json_shape.h);
 * every line must still be what pt_value_to_json() writes.
 */
#define LONG                                                                   \
    "0123456789012345678901234567890123456789012345678901234567890123456789"   \
    "0123456789012345678901234567890123456789012345678901234567890123456789"   \
    "0123456789012345678901234567890123456789012345678901234567890123456789"   \
    "0123456789012345678901234567890123456789012345678901234567890123456789"   \
    "0123456789012345678901234567890123456789012345678901234567890123456789"   \
    "0123456789012345678901234567890123456789012345678901234567890123456789"   \
    "0123456789012345678901234567890123456789012345678901234567890123456789"   \
    "0123456789012345678901234567890123456789012345678901234567890123456789"
static void test_jsonl_shapes(void)
{
    static const char *const args[][2] = {
        {"{\"rep\":0}", "{\"rep\":0}"},
        {"{\"rep\":1}", "{\"rep\":1}"},
        {"{\"rep\":-5,\"x\":2.5,\"s\":\"a\\\"b\"}",
         "{\"rep\":-5,\"x\":2.5,\"s\":\"a\\\"b\"}"},
        {"{\"rep\":-9223372036854775807,\"x\":1e-7,\"s\":\"a\\\"b\"}",
         "{\"rep\":-9223372036854775807,\"x\":1e-07,\"s\":\"a\\\"b\"}"},
        {"{\"rep\":7,\"x\":3.0,\"s\":\"a\\\"c\"}",
         "{\"rep\":7,\"x\":3.0,\"s\":\"a\\\"c\"}"},
        {"{\"b\":true,\"n\":null}", "{\"b\":true,\"n\":null}"},
        {"{\"b\":false,\"n\":null}", "{\"b\":false,\"n\":null}"},
        {"{\"o\":{\"a\":1},\"v\":[1,2]}", "{\"o\":{\"a\":1},\"v\":[1,2]}"},
        {"{\"o\":{\"a\":1},\"v\":[1,2]}", "{\"o\":{\"a\":1},\"v\":[1,2]}"},
        {"{\"o\":{\"a\":2},\"v\":[1,2]}", "{\"o\":{\"a\":2},\"v\":[1,2]}"},
        {"{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,"
         "\"i\":9}",
         "{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,"
         "\"i\":9}"},
        {"{\"a\":10,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,"
         "\"i\":90}",
         "{\"a\":10,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,"
         "\"i\":90}"},
        {"{\"x\":1,\"k\":\"ab\"}", "{\"x\":1,\"k\":\"ab\"}"},
        {"{\"x\":2,\"k\":\"ac\"}", /* in the last word, which overlaps */
         "{\"x\":2,\"k\":\"ac\"}"},
        {"{\"k\":\"ac\",\"x\":3}", "{\"k\":\"ac\",\"x\":3}"},
        {"{\"k\":\"ad\",\"x\":4}", "{\"k\":\"ad\",\"x\":4}"},
        {"{\"rep\":1,\"x\":2}", "{\"rep\":1,\"x\":2}"},
        {"{\"rep\":1,\"y\":2}", "{\"rep\":1,\"y\":2}"}, /* a key: a word */
        {"{\"rep\":6,\"y\":2}", "{\"rep\":6,\"y\":2}"},
        {"{\"s\":\"" LONG "\",\"rep\":1}", "{\"s\":\"" LONG "\",\"rep\":1}"},
        {"{\"s\":\"" LONG "\",\"rep\":2}", "{\"s\":\"" LONG "\",\"rep\":2}"},
        {"{\"s\":\"" LONG "y\",\"rep\":2}",
         "{\"s\":\"" LONG "y\",\"rep\":2}"}, /* over 64 words */
        {"{}", "{}"},
        {"{\"rep\":2}", "{\"rep\":2}"},
        {NULL, "{}"},
        {"{\"rep\":3}", "{}"}, /* moved off 8-alignment: does not check */
        {"{\"rep\":4}", "{}"}, /* cut short: does not decode */
        {"{\"rep\":5}", "{\"rep\":5}"},
    };
    const size_t n = sizeof args / sizeof args[0];
    const char *dir = pt_test_tmpdir();
    static uint64_t moved[8];
    plug p;
    plug_open(&p, "jsonl", dir, "{}");
    for (size_t i = 0; i < n; i++) {
        pt_event ev = demo_task(1);
        ev.task = (int64_t)i;
        ev.args = encoded(args[i][0], &ev.args_len);
        if (i == n - 3) { /* the bytes one past an aligned start */
            memcpy((char *)moved + 1, ev.args, ev.args_len);
            ev.args = (char *)moved + 1;
        }
        if (i == n - 2)
            ev.args_len--;
        CU_ASSERT_EQUAL(emit(&p, &ev), 0);
    }
    char *text = closed_jsonl(&p, dir), *line = text;
    for (size_t i = 0; i < n && line; i++) {
        char *a = strstr(line, "\"args\":"), *e = strstr(line, ",\"seed\":");
        CU_ASSERT_FATAL(a && e && a < e);
        a += strlen("\"args\":");
        if (strlen(args[i][1]) != (size_t)(e - a) ||
            memcmp(a, args[i][1], (size_t)(e - a)) != 0)
            fprintf(stderr, "  line %zu: %.*s, not %s\n", i, (int)(e - a), a,
                    args[i][1]);
        CU_ASSERT_EQUAL(memcmp(a, args[i][1], (size_t)(e - a)), 0);
        CU_ASSERT_STRING_EQUAL(strstr(e, ",\"result\":{\"pi\":3.14159,"
                                         "\"hits\":785},\"worker\":1,") != NULL
                                   ? "ok"
                                   : "no",
                               "ok");
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    CU_ASSERT_PTR_NOT_NULL(line);
    CU_ASSERT_STRING_EQUAL(line ? line : "", "");
    free(text);
}

/*
 * Timestamps of lines whose queued_ns lies in another tenth of a second
 * than their start_ns and end_ns (a step queued long before), and whose
 * leading digits change between lines: each written in full.
 */
static void test_jsonl_stamps(void)
{
    static const int64_t t[][3] = {
        {1796550131715716928, 1796550131917797919, 1796550131917805426},
        {1796550131715716928, 1796550131999999999, 1796550132000000000},
        {1796550131715716928, 1796550132100000007, 1796550132100000008},
        {1796550132315716928, 1796550132100000009, 1796550132399999999},
        {99999999, 100000000, 1796550132400000000},
    };
    const size_t n = sizeof t / sizeof t[0];
    const char *dir = pt_test_tmpdir();
    plug p;
    plug_open(&p, "jsonl", dir, "{}");
    for (size_t i = 0; i < n; i++) {
        pt_event ev = demo_task(1);
        ev.queued_ns = t[i][0], ev.start_ns = t[i][1], ev.end_ns = t[i][2];
        CU_ASSERT_EQUAL(emit(&p, &ev), 0);
    }
    char *text = closed_jsonl(&p, dir), *line = text;
    for (size_t i = 0; i < n && line; i++) {
        char want[160];
        snprintf(want, sizeof want,
                 "\"queued_ns\":%" PRId64 ",\"start_ns\":%" PRId64
                 ",\"end_ns\":%" PRId64 ",",
                 t[i][0], t[i][1], t[i][2]);
        char *at = strstr(line, "\"queued_ns\":"), *nl = strchr(line, '\n');
        CU_ASSERT_FATAL(at && nl && at < nl);
        CU_ASSERT_EQUAL(strncmp(at, want, strlen(want)), 0);
        line = nl + 1;
    }
    free(text);
}

/* Without RUN_END or STEP_END, close still writes everything. */
/*
 * Lines of integers only, as most runs write: after the first of a shape,
 * jsonl writes them in one pass (fast_line()), its numbers by its own
 * digit writer. Each line must be what printf would write, across the
 * digit counts, signs, names and statuses that change between lines, and
 * lines that take the long way (an error) in between.
 */
static void test_jsonl_one_pass(void)
{
    static const struct {
        int64_t task, rep, hits, prio, queued;
        int worker;
        const char *step, *kernel, *error;
        pt_task_status st;
    } c[] = {
        {0, 0, 0, 0, 1000, 0, "a", "pi", NULL, PT_TASK_OK},
        {1, 1, 9, 0, 1000, 1, "a", "pi", NULL, PT_TASK_OK},
        {9, 10, 10, -3, 1000, -1, "a", "pi", NULL, PT_TASK_OK},
        {10, 99, 99, 10, 1000, 0, "a", "sleep", NULL, PT_TASK_OK},
        {99, 100, 100, 1000000, 1000, 0, "b", "sleep", NULL, PT_TASK_FAILED},
        {100, -1, 12345678, 0, 2000, 1, "b", "pi", NULL, PT_TASK_OK},
        {12345678, -99999999, 99999999, 0, 2000, 0, "b", "pi", "boom",
         PT_TASK_FAILED},
        {99999999, 100000000, 100000000, -1, 2000, 0, "b", "pi", NULL,
         PT_TASK_OK},
        {100000000, INT64_MAX, 1234567890123, 0, 0, 1, "b", "pi", NULL,
         PT_TASK_OK},
        {INT64_MAX, INT64_MIN, 7, INT64_MIN, 99999999, 1, "a", "pi", NULL,
         PT_TASK_OK},
        {5, 0, 0, 9, 99999999, 0, "a", "pi", NULL, PT_TASK_OK},
    };
    const size_t n = sizeof c / sizeof c[0];
    const char *dir = pt_test_tmpdir();
    jm_buf want = {0};
    plug p;
    plug_open(&p, "jsonl", dir, "{}");
    for (size_t i = 0; i < n; i++) {
        char args[64], result[64], line[512], worker[16];
        snprintf(args, sizeof args, "{\"rep\":%" PRId64 "}", c[i].rep);
        snprintf(result, sizeof result, "{\"hits\":%" PRId64 "}", c[i].hits);
        pt_event ev = demo_task(1);
        ev.task = c[i].task, ev.priority = c[i].prio, ev.worker = c[i].worker;
        ev.step_name = c[i].step, ev.kernel = c[i].kernel;
        ev.error = c[i].error, ev.status = c[i].st;
        ev.queued_ns = c[i].queued;
        ev.args = encoded(args, &ev.args_len);
        ev.result = encoded(result, &ev.result_len);
        CU_ASSERT_EQUAL(emit(&p, &ev), 0);
        snprintf(worker, sizeof worker, "%d", c[i].worker);
        snprintf(
            line, sizeof line,
            "{\"task\":%" PRId64 ",\"step\":\"%s\",\"kernel\":\"%s\","
            "\"args\":%s,\"seed\":18446744073709551615,\"status\":"
            "\"%s\",\"error\":%s%s%s,\"result\":%s,\"worker\":%s,"
            "\"attempts\":1,\"queued_ns\":%" PRId64 ",\"start_ns\":2000,"
            "\"end_ns\":3000,\"workerset\":\"cpu\",\"priority\":%" PRId64 "}\n",
            c[i].task, c[i].step, c[i].kernel, args,
            pt_task_status_name(c[i].st), c[i].error ? "\"" : "",
            c[i].error ? c[i].error : "null", c[i].error ? "\"" : "", result,
            c[i].worker < 0 ? "null" : worker, c[i].queued, c[i].prio);
        jm_buf_str(&want, line);
    }
    char *text = closed_jsonl(&p, dir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_STRING_EQUAL(text, want.data);
    free(text);
    jm_buf_free(&want);
}

static void test_jsonl_close_flushes(void)
{
    const char *dir = pt_test_tmpdir();
    plug p;
    plug_open(&p, "jsonl", dir, NULL); /* NULL options: the defaults */
    feed_step(&p);
    CU_ASSERT_EQUAL(p.desc->close(&p.ctx), 0);
    plug_unload(&p);
    char *text = slurp(path_in(dir, "results.jsonl"), NULL);
    CU_ASSERT_STRING_EQUAL(text, demo_jsonl);
    free(text);
}

/* --resume appends; a torn last line of the killed run is cut off. */
static void test_jsonl_append_and_torn_tail(void)
{
    const char *dir = pt_test_tmpdir();
    char *path = strdup(path_in(dir, "results.jsonl"));
    spit(path, "{\"task\":0,\"status\":\"ok\"}\n{\"task\":7,\"st");
    demo_run("jsonl", dir, "{}");
    demo_run("jsonl", dir, "{}");
    char *text = slurp(path, NULL);
    jm_buf want = {0};
    jm_buf_str(&want, "{\"task\":0,\"status\":\"ok\"}\n");
    jm_buf_str(&want, demo_jsonl);
    jm_buf_str(&want, demo_jsonl);
    CU_ASSERT_STRING_EQUAL(text, want.data);
    free(text);

    spit(path, "no newline at all"); /* one torn line and nothing else */
    demo_run("jsonl", dir, "{}");
    text = slurp(path, NULL);
    CU_ASSERT_STRING_EQUAL(text, demo_jsonl);
    free(text);
    jm_buf_free(&want);
    free(path);
}

static void test_jsonl_options(void)
{
    const char *dir = pt_test_tmpdir();
    demo_run("jsonl", dir, "{\"file\": \"out.jsonl\", \"fsync\": true}");
    char *text = slurp(path_in(dir, "out.jsonl"), NULL);
    CU_ASSERT_STRING_EQUAL(text, demo_jsonl);
    free(text);
    CU_ASSERT_EQUAL(access(path_in(dir, "results.jsonl"), F_OK), -1);

    char opts[1200];
    snprintf(opts, sizeof opts, "{\"file\":\"%s\",\"fsync\":false}",
             path_in(dir, "abs.jsonl"));
    demo_run("jsonl", "/nonexistent", opts); /* absolute: not in run_dir */
    text = slurp(path_in(dir, "abs.jsonl"), NULL);
    CU_ASSERT_STRING_EQUAL(text, demo_jsonl);
    free(text);

    static const struct {
        const char *options, *message;
    } bad[] = {
        {"{\"flie\":\"x\"}", "option \"flie\": no such option"},
        {"{\"fsync\":\"yes\"}", "option \"fsync\": expected true or false"},
        {"{\"file\":\"\"}", "option \"file\": expected a file name"},
        {"{\"file\":3}", "option \"file\": expected a file name"},
        {"{\"file\":{\"a\":1}}", "option \"file\": expected a file name"},
        {"{\"file\":\"a\",\"file\":\"b\"}",
         "bad JSON at offset 18: duplicate object key"},
        {"{\"file\":", "bad JSON at offset 8"},
        {"[]", "bad JSON at offset 0: expected an object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        plug p;
        plug_load(&p, "jsonl", dir);
        CU_ASSERT(p.desc->open(&p.ctx, bad[i].options) < 0);
        if (!strstr(p.ctx.error, bad[i].message))
            fprintf(stderr, "  %s: %s\n", bad[i].options, p.ctx.error);
        CU_ASSERT_PTR_NOT_NULL(strstr(p.ctx.error, bad[i].message));
        plug_unload(&p);
    }
}

/* A folder named results.jsonl, a missing run folder: open says why. */
static void test_jsonl_open_errors(void)
{
    const char *dir = pt_test_tmpdir();
    char *path = strdup(path_in(dir, "results.jsonl"));
    CU_ASSERT_EQUAL_FATAL(mkdir(path, 0755), 0);
    plug p;
    plug_load(&p, "jsonl", dir);
    CU_ASSERT(p.desc->open(&p.ctx, "{}") < 0);
    char want[1200];
    snprintf(want, sizeof want, "cannot open %s: %s", path, strerror(EISDIR));
    CU_ASSERT_STRING_EQUAL(p.ctx.error, want);

    p.ctx.run_dir = path_in(dir, "missing");
    CU_ASSERT_EQUAL(p.desc->open(&p.ctx, "{}"), -ENOENT);
    CU_ASSERT_PTR_NOT_NULL(strstr(p.ctx.error, "missing/results.jsonl: "));
    CU_ASSERT_PTR_NOT_NULL(strstr(p.ctx.error, strerror(ENOENT)));
    plug_unload(&p);
    free(path);
}

/* A full disk (/dev/full): the step's end and close fail and say why. */
static void test_jsonl_write_error(void)
{
    if (access("/dev/full", W_OK) != 0)
        return;
    plug p;
    plug_open(&p, "jsonl", pt_test_tmpdir(), "{\"file\":\"/dev/full\"}");
    feed_step(&p); /* gathered, not written yet */
    CU_ASSERT_NOT_EQUAL(end_step(&p), 0);
    char want[256];
    snprintf(want, sizeof want, "cannot write /dev/full: %s", strerror(ENOSPC));
    CU_ASSERT_STRING_EQUAL(p.ctx.error, want);
    p.ctx.error[0] = '\0';
    CU_ASSERT_NOT_EQUAL(p.desc->close(&p.ctx), 0);
    CU_ASSERT_STRING_EQUAL(p.ctx.error, want);
    plug_unload(&p);
}

#define MANY 100000

/* In a child: a long run, fed as fast as it goes, never closed. */
static void feed_many(const char *dir)
{
    plug p;
    plug_load(&p, "jsonl", dir);
    if (p.desc->open(&p.ctx, "{}") != 0)
        _exit(2);
    char args[64];
    pt_event ev = event(PT_EV_RUN_START);
    emit(&p, &ev);
    for (int i = 0; i < MANY; i++) {
        ev = demo_task(i % 3);
        ev.task = i;
        snprintf(args, sizeof args, "{\"i\":%d,\"pad\":\"%*s\"}", i, i % 40,
                 "");
        ev.args = encoded(args, &ev.args_len);
        if (emit(&p, &ev) != 0)
            _exit(3);
        if (i % 1000 == 999 && end_step(&p) != 0)
            _exit(4);
    }
    pause();
    _exit(5);
}

/*
 * SIGKILL mid-run leaves whole lines. A kill that lands inside write(2)
 * can cut the last line (Linux stops between pages on a fatal signal);
 * opening the file again, as --resume does, removes that torn tail.
 */
static void test_jsonl_sigkill(void)
{
    const char *dir = pt_test_tmpdir();
    char *path = strdup(path_in(dir, "results.jsonl"));
    fflush(NULL);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0)
        feed_many(dir);
    struct stat st = {0};
    struct timespec tick = {0, 100000};
    int status = 0;
    pid_t gone = 0;
    while ((stat(path, &st) < 0 || st.st_size < (1 << 20)) &&
           (gone = waitpid(pid, &status, WNOHANG)) == 0)
        nanosleep(&tick, NULL);
    if (gone == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    CU_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    size_t len, tail;
    char *text = slurp(path, &len);
    long lines = check_lines(text, len, &tail);
    CU_ASSERT(lines > 1000 && lines <= MANY);
    free(text);

    demo_run("jsonl", dir, "{}"); /* what --resume does */
    text = slurp(path, &len);
    CU_ASSERT_EQUAL(check_lines(text, len, &tail), lines + 3);
    CU_ASSERT_EQUAL(tail, 0);
    CU_ASSERT(len > 0 && text[len - 1] == '\n');
    free(text);
    CU_ASSERT_EQUAL(python_jsonl(path), 0);
    free(path);
}

#define CSV_HEADER                                                             \
    "task,step,kernel,workerset,worker,status,error,attempts,seed,"            \
    "queued_ns,start_ns,end_ns,arg.samples,arg.rep,arg.opt.tol,"               \
    "arg.opt.name,arg.v,arg.s,result.pi,result.hits,result.partial,"           \
    "result.note\n"

static const char demo_csv[] = CSV_HEADER
    "0,sample,pi,cpu,1,ok,,1,18446744073709551615,1000,2000,3000,1000,0,,,,,"
    "3.14159,785,,\n"
    "1,sample,sleep,io,,cancelled,cancelled before start,0,5,4000,0,0,,,,,,"
    ",,,,\n"
    "2,sample,pi,cpu,0,failed,\"bad \"\"quote\"\" \\ back\nline2\ttab\x01 "
    "\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80\",2,7,10,20,30,,,1e-06,\"a,b\","
    "\"[1,2,3]\",\"say \"\"hi\"\"\",,,true,\n";

static void test_csv_content(void)
{
    const char *dir = pt_test_tmpdir();
    plug p;
    plug_open(&p, "csv", dir, "{}");
    feed_step(&p);
    CU_ASSERT_EQUAL(end_step(&p), 0);
    CU_ASSERT_EQUAL(access(path_in(dir, "results.csv"), F_OK), -1);
    CU_ASSERT_EQUAL(end_run(&p), 0); /* written now, whole */
    char *text = slurp(path_in(dir, "results.csv"), NULL);
    CU_ASSERT_STRING_EQUAL(text, demo_csv);
    free(text);
    CU_ASSERT_EQUAL(p.desc->close(&p.ctx), 0);
    plug_unload(&p);
    CU_ASSERT_EQUAL(access(path_in(dir, "results.csv.tmp"), F_OK), -1);

    /* Python's csv reader agrees: 4 records of 22 fields, the error intact. */
    CU_ASSERT_EQUAL(
        run_python("import csv,sys\n"
                   "r = list(csv.reader(open(sys.argv[1], newline='',"
                   " encoding='utf-8')))\n"
                   "assert len(r) == 4 and {len(x) for x in r} == {22}\n"
                   "assert r[3][6] == sys.argv[2], r[3][6]\n"
                   "assert r[3][17] == sys.argv[3], r[3][17]\n",
                   path_in(dir, "results.csv"), NASTY, "say \"hi\""),
        0);
}

/* No RUN_END: close writes it. No task: a header alone. */
static void test_csv_close_writes(void)
{
    const char *dir = pt_test_tmpdir();
    plug p;
    plug_open(&p, "csv", dir, "{\"file\":\"a.csv\"}");
    feed_step(&p);
    CU_ASSERT_EQUAL(p.desc->close(&p.ctx), 0);
    plug_unload(&p);
    char *text = slurp(path_in(dir, "a.csv"), NULL);
    CU_ASSERT_STRING_EQUAL(text, demo_csv);
    free(text);

    plug_open(&p, "csv", dir, "{\"file\":\"empty.csv\"}");
    CU_ASSERT_EQUAL(end_run(&p), 0);
    CU_ASSERT_EQUAL(p.desc->close(&p.ctx), 0);
    plug_unload(&p);
    text = slurp(path_in(dir, "empty.csv"), NULL);
    CU_ASSERT_STRING_EQUAL(text, "task,step,kernel,workerset,worker,status,"
                                 "error,attempts,seed,queued_ns,start_ns,"
                                 "end_ns\n");
    free(text);
}

static void test_csv_errors(void)
{
    const char *dir = pt_test_tmpdir();
    plug p;
    plug_load(&p, "csv", dir);
    CU_ASSERT_EQUAL(p.desc->open(&p.ctx, "{\"fsync\":true}"), -EINVAL);
    CU_ASSERT_STRING_EQUAL(p.ctx.error,
                           "option \"fsync\": no such option (known: file)");
    plug_unload(&p);

    /* The temporary file cannot be made: RUN_END fails, nothing appears. */
    CU_ASSERT_EQUAL_FATAL(mkdir(path_in(dir, "results.csv.tmp"), 0755), 0);
    plug_open(&p, "csv", dir, "{}");
    feed_step(&p);
    CU_ASSERT_NOT_EQUAL(end_run(&p), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(p.ctx.error, "results.csv.tmp: "));
    CU_ASSERT_PTR_NOT_NULL(strstr(p.ctx.error, strerror(EISDIR)));
    CU_ASSERT_NOT_EQUAL(p.desc->close(&p.ctx), 0);
    plug_unload(&p);
    CU_ASSERT_EQUAL(access(path_in(dir, "results.csv"), F_OK), -1);

    /* A task whose args are a cut value, or not a map: reported, its
     * fixed cells kept. */
    plug_open(&p, "csv", dir, "{\"file\":\"b.csv\"}");
    pt_event ev = demo_task(1);
    ev.args = encoded("{\"n\":1}", &ev.args_len);
    ev.args_len--;
    CU_ASSERT_EQUAL(emit(&p, &ev), -EINVAL);
    CU_ASSERT_EQUAL(strncmp(p.ctx.error, "task 0: args: ", 14), 0);
    CU_ASSERT(strlen(p.ctx.error) > 14);
    ev = demo_task(1);
    ev.result = encoded("[1]", &ev.result_len);
    CU_ASSERT_EQUAL(emit(&p, &ev), -EINVAL);
    CU_ASSERT_STRING_EQUAL(p.ctx.error, "task 0: result: not a map");
    CU_ASSERT_EQUAL(p.desc->close(&p.ctx), 0);
    plug_unload(&p);
    char *text = slurp(path_in(dir, "b.csv"), NULL);
    CU_ASSERT_STRING_EQUAL(
        text, "task,step,kernel,workerset,worker,status,error,attempts,seed,"
              "queued_ns,start_ns,end_ns\n"
              "0,sample,pi,cpu,1,ok,,1,18446744073709551615,1000,2000,3000\n");
    free(text);
}

/* ---- chrome-trace ---- */

#define T0 INT64_C(1700000000000000000)

/* An attempt that ran on `set`/`worker` from T0+start to T0+end (in us). */
static pt_event attempt_event(pt_event_type type, int64_t task, const char *set,
                              int worker, int attempt, pt_task_status st,
                              int start, int end)
{
    pt_event ev = event(type);
    ev.time_ns = T0 + end * 1000;
    ev.step = 0, ev.step_name = "sample";
    ev.task = task, ev.kernel = "pi", ev.workerset = set, ev.worker = worker;
    ev.attempts = attempt, ev.status = st;
    ev.args_json = "{\"n\":1}", ev.result_json = "{\"y\":2}";
    to_values(&ev);
    ev.queued_ns = T0 + 1000000, ev.start_ns = T0 + start * 1000;
    ev.end_ns = T0 + end * 1000;
    ev.waiting = 3, ev.running = 2;
    return ev;
}

/* A run: two lanes of cpu, one of io, a retry, a cancelled task, ... */
static void feed_trace(plug *p)
{
    pt_event ev = event(PT_EV_RUN_START);
    ev.time_ns = T0;
    CU_ASSERT_EQUAL(emit(p, &ev), 0);
    ev = event(PT_EV_STEP_START);
    ev.time_ns = T0 + 1000000, ev.step = 0, ev.step_name = "sample";
    CU_ASSERT_EQUAL(emit(p, &ev), 0);
    ev = attempt_event(PT_EV_TASK_RETRIED, 3, "io", 0, 1, PT_TASK_CRASHED, 2500,
                       4000);
    ev.signal = 11, ev.error = NASTY, ev.max_rss_kb = 512;
    CU_ASSERT_EQUAL(emit(p, &ev), 0);
    ev = attempt_event(PT_EV_TASK_FINISHED, 0, "cpu", 1, 1, PT_TASK_OK, 2000,
                       5500);
    CU_ASSERT_EQUAL(emit(p, &ev), 0);
    /* sent at 3 ms in the worker's window, behind task 0 */
    ev = attempt_event(PT_EV_TASK_FINISHED, 1, "cpu", 1, 1, PT_TASK_OK, 3000,
                       7000);
    CU_ASSERT_EQUAL(emit(p, &ev), 0);
    ev = attempt_event(PT_EV_TASK_FINISHED, 3, "io", 0, 2, PT_TASK_OK, 6000,
                       8000);
    CU_ASSERT_EQUAL(emit(p, &ev), 0);
    ev = attempt_event(PT_EV_TASK_FINISHED, 4, "cpu", -1, 1, PT_TASK_CANCELLED,
                       0, 8100);
    ev.start_ns = 0;
    CU_ASSERT_EQUAL(emit(p, &ev), 0);
    ev = event(PT_EV_TASK_PRIORITY);
    ev.time_ns = T0 + 8200000, ev.task = 4, ev.priority = 7;
    CU_ASSERT_EQUAL(emit(p, &ev), 0);
    ev = event(PT_EV_CONTROL);
    ev.time_ns = T0 + 8300000, ev.control = "{\"op\":\"pause\"}";
    CU_ASSERT_EQUAL(emit(p, &ev), 0);
    ev = event(PT_EV_WORKER_EXITED);
    ev.time_ns = T0 + 8400000, ev.workerset = "cpu", ev.worker = 0;
    ev.pid = 99, ev.signal = 9;
    CU_ASSERT_EQUAL(emit(p, &ev), 0);
    ev = event(PT_EV_STEP_END);
    ev.time_ns = T0 + 9000000, ev.step = 0, ev.step_name = "sample";
    CU_ASSERT_EQUAL(emit(p, &ev), 0);
    ev = event(PT_EV_RUN_END);
    ev.time_ns = T0 + 10000000, ev.counts[PT_TASK_OK] = 3;
    CU_ASSERT_EQUAL(emit(p, &ev), 0);
}

static void test_chrome_trace_content(void)
{
    const char *dir = pt_test_tmpdir();
    plug p;
    plug_open(&p, "chrome-trace", dir, "{\"file\":\"t.json\"}");
    feed_trace(&p);
    CU_ASSERT_EQUAL(access(path_in(dir, "t.json"), F_OK), -1); /* not yet */
    CU_ASSERT_EQUAL(p.desc->close(&p.ctx), 0);
    plug_unload(&p);
    CU_ASSERT_EQUAL(access(path_in(dir, "t.json.tmp"), F_OK), -1);
    char *text = slurp(path_in(dir, "t.json"), NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    static const char *const want[] = {
        "{\"traceEvents\":[\n{\"ph\":\"M\",\"pid\":1,\"tid\":1,\"name\":"
        "\"process_name\",\"args\":{\"name\":\"ptrun\"}}",
        "{\"ph\":\"M\",\"pid\":2,\"tid\":1,\"name\":\"process_name\","
        "\"args\":{\"name\":\"io\"}}",
        "{\"ph\":\"M\",\"pid\":3,\"tid\":2,\"name\":\"thread_name\","
        "\"args\":{\"name\":\"worker 1\"}}",
        "{\"ph\":\"X\",\"pid\":2,\"tid\":1,\"ts\":2500.000,\"dur\":1500.000,"
        "\"name\":\"pi\",\"cat\":\"crashed\",\"args\":{\"task\":3,"
        "\"attempt\":1,\"status\":\"crashed\",\"step\":\"sample\","
        "\"workerset\":\"io\",\"worker\":0,\"priority\":0,\"queued_ts\":1000."
        "000,"
        "\"error\":" NASTY_JSON ",\"signal\":11,\"max_rss_kb\":512,"
        "\"args\":{\"n\":1},\"result\":{\"y\":2}}}",
        "\"ts\":5500.000,\"dur\":1500.000,\"name\":\"pi\",\"cat\":\"ok\","
        "\"args\":"
        "{\"task\":1,",
        "\"sent_ts\":3000.000,",
        "{\"ph\":\"i\",\"pid\":1,\"tid\":1,\"s\":\"t\",\"ts\":8100.000,"
        "\"name\":"
        "\"cancelled\",\"args\":{\"task\":4,",
        "\"name\":\"priority\",\"args\":{\"task\":4,\"priority\":7}}",
        "\"name\":\"ctl\",\"args\":{\"request\":{\"op\":\"pause\"}}}",
        "{\"ph\":\"i\",\"pid\":3,\"tid\":1,\"s\":\"t\",\"ts\":8400.000,"
        "\"name\":"
        "\"worker exited\",\"args\":{\"pid\":99,\"signal\":9,",
        "{\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":1000.000,\"dur\":8000.000,"
        "\"name\":\"sample\",\"cat\":\"step\"",
        "{\"ph\":\"C\",\"pid\":1,\"tid\":1,\"ts\":10000.000,\"name\":\"tasks\","
        "\"args\":{\"waiting\":0,\"running\":0}}\n],\"displayTimeUnit\":\"ms\"",
        "\"run\":\"demo\"",
        "\"start_time\":\"2023-11-14T22:13:20.000000000Z\"",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (!strstr(text, want[i]))
            fprintf(stderr, "  missing: %s\n", want[i]);
        CU_ASSERT_PTR_NOT_NULL(strstr(text, want[i]));
    }
    /* counters: throttled to one per ms, but at the step's start and end */
    size_t counters = 0;
    for (const char *q = text; (q = strstr(q, "\"ph\":\"C\"")); q++)
        counters++;
    /* at 0, 1, 4, 5.5, 7, 8 (not 8.1 .. 8.4), 9 and 10 ms */
    CU_ASSERT_EQUAL(counters, 8);
    free(text);
    CU_ASSERT_EQUAL(run_python("import json,sys\n"
                               "d = json.load(open(sys.argv[1]))\n"
                               "assert len(d['traceEvents']) > 20\n",
                               path_in(dir, "t.json"), NULL, NULL),
                    0);
}

static void test_chrome_trace_options(void)
{
    const char *dir = pt_test_tmpdir();
    static const struct {
        const char *options, *message;
    } bad[] = {
        {"{\"nope\":1}", "option \"nope\": no such option (known: file)"},
        {"{\"file\":\"\"}", "option \"file\": expected a file name"},
        {"{\"file\":true}", "option \"file\": expected a file name"},
        {"[1]", "bad JSON at offset 0: expected an object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        plug p;
        plug_load(&p, "chrome-trace", dir);
        CU_ASSERT(p.desc->open(&p.ctx, bad[i].options) == -EINVAL);
        if (strcmp(p.ctx.error, bad[i].message) != 0)
            fprintf(stderr, "  %s: %s\n", bad[i].options, p.ctx.error);
        CU_ASSERT_STRING_EQUAL(p.ctx.error, bad[i].message);
        plug_unload(&p);
    }
    plug p;
    plug_load(&p, "chrome-trace", dir);
    CU_ASSERT(p.desc->open(&p.ctx, "{\"file\":\"no/such/dir/t.json\"}") ==
              -ENOENT);
    CU_ASSERT_PTR_NOT_NULL(strstr(p.ctx.error, "cannot create "));
    plug_unload(&p);
    CU_ASSERT_EQUAL(access(path_in(dir, "trace.json.tmp"), F_OK), -1);

    /* Absolute paths are taken as they are; a run never started: no file */
    char abs[1100];
    snprintf(abs, sizeof abs, "{\"file\":\"%s/abs.json\"}", dir);
    plug_open(&p, "chrome-trace", "/nonexistent", abs);
    CU_ASSERT_EQUAL(access(path_in(dir, "abs.json.tmp"), F_OK), 0);
    pt_event ev = event(PT_EV_RUN_END);
    CU_ASSERT_EQUAL(emit(&p, &ev), 0);
    CU_ASSERT_EQUAL(p.desc->close(&p.ctx), 0);
    plug_unload(&p);
    CU_ASSERT_EQUAL(access(path_in(dir, "abs.json.tmp"), F_OK), -1);
    CU_ASSERT_EQUAL(access(path_in(dir, "abs.json"), F_OK), -1);
}

/* A write that fails (here: past RLIMIT_FSIZE) loses the trace, cleanly. */
static void test_chrome_trace_write_error(void)
{
    const char *dir = pt_test_tmpdir();
    struct rlimit old, small = {.rlim_cur = 100000};
    CU_ASSERT_EQUAL_FATAL(getrlimit(RLIMIT_FSIZE, &old), 0);
    small.rlim_max = old.rlim_max;
    signal(SIGXFSZ, SIG_IGN);
    CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_FSIZE, &small), 0);
    plug p;
    plug_open(&p, "chrome-trace", dir, "{}");
    pt_event ev = event(PT_EV_RUN_START);
    CU_ASSERT_EQUAL(emit(&p, &ev), 0);
    int rc = 0, i;
    for (i = 0; i < 100000 && rc == 0; i++) {
        ev = attempt_event(PT_EV_TASK_FINISHED, i, "cpu", 0, 1, PT_TASK_OK, i,
                           i + 1);
        rc = emit(&p, &ev);
    }
    CU_ASSERT_EQUAL(rc, -EFBIG);
    CU_ASSERT(i > 100); /* it wrote some first */
    CU_ASSERT_PTR_NOT_NULL(strstr(p.ctx.error, "trace.json.tmp: "));
    CU_ASSERT_PTR_NOT_NULL(strstr(p.ctx.error, strerror(EFBIG)));
    CU_ASSERT_EQUAL(p.desc->close(&p.ctx), -EFBIG);
    plug_unload(&p);
    setrlimit(RLIMIT_FSIZE, &old);
    CU_ASSERT_EQUAL(access(path_in(dir, "trace.json"), F_OK), -1);
    CU_ASSERT_EQUAL(access(path_in(dir, "trace.json.tmp"), F_OK), -1);
}

/* jm_buf's JSON pieces are ptools' writer's (ptools/json.h). */
static void test_json_mini(void)
{
    jm_buf out = {0};
    jm_buf_quote(&out, "q\"b\\n\n\r\t\b\f\x1f\x7f\xc3\xa9\xff");
    CU_ASSERT_STRING_EQUAL(out.data, "\"q\\\"b\\\\n\\n\\r\\t\\b\\f\\u001f\x7f"
                                     "\xc3\xa9\xef\xbf\xbd\"");
    jm_buf_cut(&out, 0);
    jm_buf_int(&out, INT64_MIN);
    jm_buf_lit(&out, ",");
    jm_buf_uint(&out, UINT64_MAX);
    jm_buf_lit(&out, ",");
    jm_buf_real(&out, 0.1);
    jm_buf_lit(&out, ",");
    jm_buf_real(&out, 2);
    jm_buf_lit(&out, ",");
    jm_buf_real(&out, 1.0 / 0.0);
    CU_ASSERT_FALSE(out.oom);
    CU_ASSERT_STRING_EQUAL(out.data, "-9223372036854775808,"
                                     "18446744073709551615,0.1,2.0,null");
    CU_ASSERT_EQUAL(out.len, strlen(out.data));
    jm_buf_free(&out);
}

/* pt_json_loadb(): jansson, but integers past int64 are kept as their digits.
 */
static void test_json_read(void)
{
    static const char text[] = "{\"seed\":18446744073709551615,\"a\":"
                               "[-9223372036854775809,1],\"b\":2}";
    json_error_t je;
    json_t *o = pt_json_loadb(text, sizeof text - 1, JSON_REJECT_DUPLICATES,
                              &je);
    CU_ASSERT_FATAL(json_is_object(o));
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "seed")),
                           "18446744073709551615");
    json_t *a = json_object_get(o, "a");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(a, 0)),
                           "-9223372036854775809");
    CU_ASSERT_EQUAL(json_integer_value(json_array_get(a, 1)), 1);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "b")), 2);
    json_decref(o);
    static const char bad[] = "{\"seed\":18446744073709551615,\"x\":[1,]}";
    CU_ASSERT_PTR_NULL(pt_json_loadb(bad, sizeof bad - 1, 0, &je));
    CU_ASSERT_EQUAL(je.position, 37); /* in the caller's text, after ']' */
    static const char dup[] = "{\"a\":1,\"a\":2}";
    CU_ASSERT_PTR_NULL(
        pt_json_loadb(dup, sizeof dup - 1, JSON_REJECT_DUPLICATES, &je));
    static const char utf8[] = "{\"a\":\"\xff\"}";
    CU_ASSERT_PTR_NULL(pt_json_loadb(utf8, sizeof utf8 - 1, 0, &je));
}

/* The status words: one table, both ways. */
static void test_status_words(void)
{
    for (int s = 0; s < PT_TASK_NSTATUS; s++)
        CU_ASSERT_EQUAL(
            pt_task_status_parse(pt_task_status_name((pt_task_status)s)), s);
    CU_ASSERT_STRING_EQUAL(pt_task_status_name(PT_TASK_CRASHED), "crashed");
    CU_ASSERT_STRING_EQUAL(pt_task_status_name((pt_task_status)PT_TASK_NSTATUS),
                           "unknown");
    CU_ASSERT_EQUAL(pt_task_status_parse("unknown"), -EINVAL);
    CU_ASSERT_EQUAL(pt_task_status_parse("OK"), -EINVAL);
    CU_ASSERT_EQUAL(pt_task_status_parse(""), -EINVAL);
    CU_ASSERT_EQUAL(pt_task_status_parse(NULL), -EINVAL);
}

static const pt_test_case cases[] = {
    {"descriptors", test_descriptors, 0},
    {"jsonl_lines", test_jsonl_lines, 0},
    {"jsonl_close_flushes", test_jsonl_close_flushes, 0},
    {"jsonl_shapes", test_jsonl_shapes, 0},
    {"jsonl_stamps", test_jsonl_stamps, 0},
    {"jsonl_one_pass", test_jsonl_one_pass, 0},
    {"jsonl_append_and_torn_tail", test_jsonl_append_and_torn_tail, 0},
    {"jsonl_options", test_jsonl_options, 0},
    {"jsonl_open_errors", test_jsonl_open_errors, 0},
    {"jsonl_write_error", test_jsonl_write_error, 0},
    {"jsonl_sigkill", test_jsonl_sigkill, 120},
    {"csv_content", test_csv_content, 0},
    {"csv_close_writes", test_csv_close_writes, 0},
    {"csv_errors", test_csv_errors, 0},
    {"chrome_trace_content", test_chrome_trace_content, 0},
    {"chrome_trace_options", test_chrome_trace_options, 0},
    {"chrome_trace_write_error", test_chrome_trace_write_error, 0},
    {"json_mini", test_json_mini, 0},
    {"json_read", test_json_read, 0},
    {"status_words", test_status_words, 0},
    {NULL, NULL, 0},
};

int main(int argc, char **argv)
{
    return pt_test_main("plugins", cases, argc, argv);
}
