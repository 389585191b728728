/*
 * test_host.c - ptrun's plugin host (runner/events/host.c): a plugin that
 * takes batches (plugin ABI 4 on_events: tests/kernels/evbatch.so) gets
 * the very events a plugin of ABI 3 gets one call each (evlog.so), in the
 * same order, with what they point to intact although the runner reuses
 * that memory at once, and has them before any other kind of event, after
 * rn_host_deliver(), flush and close.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ptools/plugin.h>
#include <ptools/value.h>

#include "events/host.h"
#include "harness.h"

/* An encoded map {key: the string s} in b (reused: the runner reuses). */
static const void *map_of(pt_buf *b, const char *key, const char *s,
                          size_t *len)
{
    pt_vmark m;
    pt_buf_reset(b);
    int rc = pt_venc_map_begin(b, &m);
    if (rc == 0 && (rc = pt_venc_key(b, &m, key)) == 0)
        rc = pt_venc_str(b, s);
    if (rc == 0)
        rc = pt_venc_map_end(b, &m);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    *len = b->len;
    return b->data;
}

static char *read_log(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.log", pt_test_tmpdir(), name);
    FILE *f = fopen(path, "re");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    pt_buf b = {0};
    char block[65536];
    size_t n;
    while ((n = fread(block, 1, sizeof block, f)) > 0)
        CU_ASSERT_EQUAL_FATAL(pt_buf_append(&b, block, n), 0);
    CU_ASSERT_EQUAL_FATAL(pt_buf_append(&b, "", 1), 0);
    fclose(f);
    return (char *)b.data;
}

/* The log without its "call N" lines (in place); the calls' count, the
 * largest N. */
static char *events_of(char *log, int *calls, long *most)
{
    char *out = log, *line = log;
    *calls = 0, *most = 0;
    while (*line) {
        char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) + 1 : strlen(line);
        if (strncmp(line, "call ", 5) == 0) {
            long k = strtol(line + 5, NULL, 10);
            (*calls)++;
            *most = k > *most ? k : *most;
        } else {
            memmove(out, line, n);
            out += n;
        }
        line += n;
    }
    *out = '\0';
    return log;
}

/* Both logs hold the same events so far; returns how many. */
static int same_events(int *batch_calls, long *most)
{
    int calls;
    long one;
    char *a = events_of(read_log("evlog"), &calls, &one);
    char *b = events_of(read_log("evbatch"), batch_calls, most);
    CU_ASSERT_STRING_EQUAL(a, b);
    CU_ASSERT_EQUAL(one, 1); /* ABI 3: one event per call */
    int n = 0;
    for (const char *p = a; (p = strchr(p, '\n')); p++)
        n++;
    CU_ASSERT_EQUAL(calls, n);
    free(a);
    free(b);
    return n;
}

static pt_event task_event(pt_event_type type, int64_t task)
{
    return (pt_event){.type = type,
                      .time_ns = 1700000000000000000 + task,
                      .step = 0,
                      .step_name = "s",
                      .task = task,
                      .kernel = "k",
                      .workerset = "w",
                      .worker = (int)(task % 2),
                      .exit_code = -1,
                      .attempts = 1,
                      .priority = task % 3,
                      .seed = (uint64_t)task * 7919,
                      .queued_ns = task,
                      .waiting = 300 - task};
}

/* Emit a task's event whose args, result, error and earlier attempts are
 * in memory that is overwritten right after. */
static void emit_task(rn_host *h, pt_event_type type, int64_t task,
                      const char *result)
{
    static pt_buf args, res;
    static char error[64], earlier[64];
    pt_event ev = task_event(type, task);
    char text[32];
    snprintf(text, sizeof text, "a%lld", (long long)task);
    ev.args = map_of(&args, "x", text, &ev.args_len);
    if (result)
        ev.result = map_of(&res, "r", result, &ev.result_len);
    if (type == PT_EV_TASK_FINISHED || type == PT_EV_TASK_RETRIED) {
        snprintf(error, sizeof error, "error of %lld", (long long)task);
        snprintf(earlier, sizeof earlier, "[{\"attempt\":%lld}]",
                 (long long)task);
        ev.error = error;
        ev.attempts_json = earlier;
        ev.status = type == PT_EV_TASK_RETRIED ? PT_TASK_CRASHED
                                               : PT_TASK_FAILED;
    }
    CU_ASSERT_EQUAL(rn_host_emit(h, &ev), 0);
    memset(args.data, 0xee, args.len); /* the runner moves on */
    if (result)
        memset(res.data, 0xee, res.len);
    memset(error, 'X', sizeof error - 1);
    memset(earlier, 'Y', sizeof earlier - 1);
}

static void emit_simple(rn_host *h, pt_event_type type)
{
    pt_event ev = {.type = type, .step = -1, .task = -1, .worker = -1};
    CU_ASSERT_EQUAL(rn_host_emit(h, &ev), 0);
}

static void test_batches_keep_order_and_data(void)
{
    rn_plugin pl[2] = {
        {.path = PT_TEST_KERNEL_DIR "/evlog.so", .probed = true},
        {.path = PT_TEST_KERNEL_DIR "/evbatch.so", .probed = true}};
    pl[0].options.type = pl[1].options.type = RN_MAP;
    rn_spec spec = {.name = "demo", .plugins = pl, .nplugins = 2};
    char err[1024] = "";
    rn_host *h = rn_host_open(&spec, pt_test_tmpdir(), err, sizeof err);
    if (!h)
        fprintf(stderr, "  %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    int calls;
    long most;

    emit_simple(h, PT_EV_RUN_START);
    emit_simple(h, PT_EV_STEP_START);
    for (int64_t t = 0; t < 300; t++) /* more than one batch holds */
        emit_task(h, PT_EV_TASK_QUEUED, t, NULL);
    emit_task(h, PT_EV_TASK_STARTED, 0, NULL);
    emit_task(h, PT_EV_TASK_STARTED, 1, NULL);
    emit_task(h, PT_EV_TASK_FINISHED, 0, "zero");
    emit_task(h, PT_EV_TASK_RETRIED, 1, "one");
    CU_ASSERT_EQUAL(rn_host_deliver(h), 0); /* as before an idle wait */
    CU_ASSERT_EQUAL(same_events(&calls, &most), 306);
    CU_ASSERT(calls < 10 && most > 100); /* batched, not one by one */

    emit_task(h, PT_EV_TASK_STARTED, 2, NULL);
    emit_task(h, PT_EV_TASK_PRIORITY, 3, NULL);
    char *big = malloc(100000); /* more than a batch keeps: goes alone */
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    memset(big, 'b', 99999);
    big[99999] = '\0';
    emit_task(h, PT_EV_TASK_FINISHED, 2, big);
    free(big);
    emit_task(h, PT_EV_TASK_STARTED, 3, NULL);
    emit_simple(h, PT_EV_WORKER_EXITED); /* hands the batch over first */
    CU_ASSERT_EQUAL(same_events(&calls, &most), 311);
    emit_task(h, PT_EV_TASK_FINISHED, 3, "three");
    CU_ASSERT_EQUAL(rn_host_flush(h), 0);
    CU_ASSERT_EQUAL(same_events(&calls, &most), 312);
    for (int64_t t = 4; t < 40; t++) {
        emit_task(h, PT_EV_TASK_STARTED, t, NULL);
        emit_task(h, PT_EV_TASK_FINISHED, t, "r");
    }
    emit_simple(h, PT_EV_STEP_END);
    CU_ASSERT_EQUAL(same_events(&calls, &most), 385);
    emit_task(h, PT_EV_TASK_QUEUED, 40, NULL);
    CU_ASSERT_EQUAL(rn_host_close(h), 0); /* delivers what is left */
    CU_ASSERT_EQUAL(same_events(&calls, &most), 386);
}

/* Frees counted, the memory poisoned first: a read after it shows. */
static int freed;

static void free_poisoned(void *arg, void *p)
{
    CU_ASSERT_PTR_EQUAL(arg, &freed);
    pt_buf *b = p;
    memset(b->data, 0xee, b->len);
    pt_buf_free(b);
    free(b);
    freed++;
}

/* Task t's event built in h's slot (or `own`), its args in a buffer of
 * its own that h frees later, as the engine does. */
static void emit_in_slot(rn_host *h, pt_event_type type, int64_t t)
{
    pt_event own, *ev = rn_host_slot(h, &own);
    static const pt_event zero;
    CU_ASSERT_EQUAL(memcmp(ev, &zero, sizeof zero), 0); /* zeroed */
    pt_event want = task_event(type, t);
    pt_buf *args = calloc(1, sizeof *args);
    CU_ASSERT_PTR_NOT_NULL_FATAL(args);
    char text[32];
    snprintf(text, sizeof text, "a%lld", (long long)t);
    want.args = map_of(args, "x", text, &want.args_len);
    memcpy(ev, &want, sizeof want);
    CU_ASSERT_EQUAL(rn_host_emit(h, ev), 0);
    rn_host_free_later(h, free_poisoned, &freed, args);
}

/*
 * The engine's way (rn_host_slot, rn_host_free_later): events built in
 * the batch itself, args not copied but freed only once their batch went,
 * give a batching plugin the same events as a copying host gives an
 * ABI 3 plugin.
 */
static void test_slots_and_free_later(void)
{
    rn_plugin one = {.path = PT_TEST_KERNEL_DIR "/evlog.so", .probed = true};
    rn_plugin two = {.path = PT_TEST_KERNEL_DIR "/evbatch.so", .probed = true};
    one.options.type = two.options.type = RN_MAP;
    rn_spec s1 = {.name = "demo", .plugins = &one, .nplugins = 1};
    rn_spec s2 = {.name = "demo", .plugins = &two, .nplugins = 1};
    char err[1024] = "";
    rn_host *single = rn_host_open(&s1, pt_test_tmpdir(), err, sizeof err);
    rn_host *batch = rn_host_open(&s2, pt_test_tmpdir(), err, sizeof err);
    CU_ASSERT_FATAL(single && batch);
    int calls;
    long most;

    freed = 0;
    for (int64_t t = 0; t < 10; t++)
        emit_in_slot(single, PT_EV_TASK_QUEUED, t);
    CU_ASSERT_EQUAL(freed, 10); /* nothing gathered: freed at once */
    freed = 0;
    for (int64_t t = 0; t < 10; t++)
        emit_in_slot(batch, PT_EV_TASK_QUEUED, t);
    CU_ASSERT_EQUAL(freed, 0); /* the batch points to them */
    CU_ASSERT_EQUAL(rn_host_deliver(batch), 0);
    CU_ASSERT_EQUAL(freed, 10);
    CU_ASSERT_EQUAL(same_events(&calls, &most), 10);

    freed = 0;
    for (int64_t t = 10; t < 700; t++) { /* batches fill up */
        emit_in_slot(single, PT_EV_TASK_STARTED, t);
        emit_in_slot(batch, PT_EV_TASK_STARTED, t);
    }
    emit_task(single, PT_EV_TASK_FINISHED, 1, NULL); /* copied ones too */
    emit_task(batch, PT_EV_TASK_FINISHED, 1, NULL);
    emit_simple(single, PT_EV_WORKER_EXITED);
    emit_simple(batch, PT_EV_WORKER_EXITED);
    emit_in_slot(single, PT_EV_TASK_QUEUED, 700);
    emit_in_slot(batch, PT_EV_TASK_QUEUED, 700);
    CU_ASSERT_EQUAL(rn_host_flush(batch), 0);
    CU_ASSERT_EQUAL(same_events(&calls, &most), 703);
    CU_ASSERT(calls < 10 && most > 100);
    CU_ASSERT_EQUAL(freed, 2 * 691);
    CU_ASSERT_EQUAL(rn_host_close(single), 0);
    CU_ASSERT_EQUAL(rn_host_close(batch), 0);
}

/* A plugin of ABI 4 may have no on_event when it has on_events; one with
 * neither is refused. Done through evbatch: it has no on_event. */
static void test_no_on_event_needed(void)
{
    rn_plugin pl = {.path = PT_TEST_KERNEL_DIR "/evbatch.so", .probed = true};
    pl.options.type = RN_MAP;
    rn_spec spec = {.name = "demo", .plugins = &pl, .nplugins = 1};
    char err[1024] = "";
    rn_host *h = rn_host_open(&spec, pt_test_tmpdir(), err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    emit_simple(h, PT_EV_RUN_START); /* not batched: a batch of one */
    emit_task(h, PT_EV_TASK_QUEUED, 0, NULL);
    CU_ASSERT_EQUAL(rn_host_close(h), 0);
    char *log = read_log("evbatch");
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "call 1\n1 task=-1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "call 1\n5 task=0"));
    free(log);
}

/*
 * Plugin ABI 5: a plugin says which event types it takes. The runner asks
 * the host before it makes a task's queued or started event: with the
 * built-in jsonl alone (it takes finished, step end and run end) no one
 * takes them; a plugin built for ABI 4 (evbatch.so) takes every type.
 */
static void test_wanted_types(void)
{
    rn_plugin pl[2] = {
        {.builtin = true},
        {.path = PT_TEST_KERNEL_DIR "/evbatch.so", .probed = true}};
    pl[0].options.type = pl[1].options.type = RN_MAP;
    rn_spec spec = {.name = "demo", .plugins = pl, .nplugins = 1};
    char err[1024] = "";
    rn_host *h = rn_host_open(&spec, pt_test_tmpdir(), err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    CU_ASSERT(!rn_host_wants(h, PT_EV_TASK_QUEUED));
    CU_ASSERT(!rn_host_wants(h, PT_EV_TASK_STARTED));
    CU_ASSERT(!rn_host_wants(h, PT_EV_WORKER_STARTED));
    CU_ASSERT(rn_host_wants(h, PT_EV_TASK_FINISHED));
    CU_ASSERT(rn_host_wants(h, PT_EV_RUN_END));
    CU_ASSERT_EQUAL(rn_host_close(h), 0);
    spec.nplugins = 2;
    h = rn_host_open(&spec, pt_test_tmpdir(), err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    CU_ASSERT(rn_host_wants(h, PT_EV_TASK_QUEUED));
    CU_ASSERT(rn_host_wants(h, PT_EV_TASK_STARTED));
    CU_ASSERT_EQUAL(rn_host_close(h), 0);
}

static const pt_test_case cases[] = {
    {"batches_keep_order_and_data", test_batches_keep_order_and_data, 0},
    {"no_on_event_needed", test_no_on_event_needed, 0},
    {"slots_and_free_later", test_slots_and_free_later, 0},
    {"wanted_types", test_wanted_types, 0},
    {NULL, NULL, 0},
};

int main(int argc, char **argv)
{
    return pt_test_main("host", cases, argc, argv);
}
