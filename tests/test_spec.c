/*
 * test_spec.c - rn_spec_load(): a full spec read into every field, anchors
 * and merge keys, each kind of error at its exact FILE:LINE:COL, --set
 * overrides and their errors, defaults, and the resolved YAML read back.
 *
 * Specs that need no real file sit in tests/specs/ (bare kernel names are
 * found in PT_KERNEL_DIR through rn_search); those that name absolute
 * paths are written into the case's scratch directory, with @K@ (shipped
 * kernels), @T@ (test kernels) and @D@ (test data) substituted.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "plan/plan.h"
#include "spec/spec.h"
#include "task.h"
#include <ptools/value.h>

#define PT_TEST_SPEC_DIR PT_TEST_DATA_DIR "/../specs"
#define LEN(a) (int)(sizeof(a) / sizeof((a)[0]))

static char err[16384];

/* Line i (0-based) of the error text, in a static buffer. */
static const char *line_of(const char *text, int i)
{
    static char buf[4096];
    for (; i > 0 && text; i--)
        if ((text = strchr(text, '\n')))
            text++;
    if (!text)
        return "(no such line)";
    size_t n = strcspn(text, "\n");
    snprintf(buf, sizeof buf, "%.*s", (int)n, text);
    return buf;
}

static int count_lines(const char *text)
{
    int n = *text ? 1 : 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

/* "a/b" into a static ring of buffers. */
static const char *join(const char *a, const char *b)
{
    static char bufs[8][PATH_MAX];
    static int k;
    char *buf = bufs[k++ % 8];
    if (snprintf(buf, PATH_MAX, "%s/%s", a, b) >= PATH_MAX)
        CU_FAIL("path too long");
    return buf;
}

/* `path` as a link to shipped plugin `name`: a loading spec probes its
 * plugins (runner/spec/probe.h), so they must be real ones. */
static void plugin_link(const char *path, const char *name)
{
    char target[PATH_MAX];
    snprintf(target, sizeof target, "%s/%s.so", PT_PLUGIN_DIR, name);
    unlink(path);
    CU_ASSERT_EQUAL_FATAL(symlink(target, path), 0);
}

/* A plugin folder with links to the shipped plugins. */
static const char *plugin_dir(void)
{
    const char *dir = join(pt_test_tmpdir(), "plugins");
    static char keep[PATH_MAX];
    snprintf(keep, sizeof keep, "%s", dir);
    mkdir(keep, 0755);
    plugin_link(join(keep, "jsonl.so"), "jsonl");
    plugin_link(join(keep, "chrome-trace.so"), "chrome-trace");
    return keep;
}

/* Load with the test search dirs; a failure's text stays in err. */
static rn_spec *try_load(const char *path, const char *const *sets, int n)
{
    rn_search s = {PT_KERNEL_DIR, plugin_dir()};
    err[0] = '\0';
    return rn_spec_load(path, sets, n, &s, err, sizeof err);
}

/* Load a spec that must load, printing why when it does not. */
static rn_spec *load_sets(const char *path, const char *const *sets, int n)
{
    rn_spec *spec = try_load(path, sets, n);
    if (!spec)
        fprintf(stderr, "    (load %s: %s)\n", path, err);
    return spec;
}

static rn_spec *load(const char *path)
{
    return load_sets(path, NULL, 0);
}

static const char *spec_path(const char *name)
{
    return join(PT_TEST_SPEC_DIR, name);
}

/* Write `text` to <tmpdir>/<name> with @K@, @T@ and @D@ substituted. */
static const char *write_spec(const char *name, const char *text)
{
    static char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", join(pt_test_tmpdir(), name));
    FILE *f = fopen(path, "w");
    CU_ASSERT_FATAL(f != NULL);
    for (const char *p = text; *p; p++) {
        if (p[0] == '@' && p[1] && p[2] == '@') {
            const char *sub = p[1] == 'K'   ? PT_KERNEL_DIR
                              : p[1] == 'T' ? PT_TEST_KERNEL_DIR
                                            : PT_TEST_DATA_DIR;
            fputs(sub, f);
            p += 2;
        } else {
            fputc(*p, f);
        }
    }
    fclose(f);
    return path;
}

/* The committed spec `name` fails; its first line is "FILE:" + want. */
static void expect_error(const char *name, const char *want)
{
    const char *path = spec_path(name);
    char full[4096];
    snprintf(full, sizeof full, "%s:%s", path, want);
    rn_spec *spec = try_load(path, NULL, 0);
    CU_ASSERT(spec == NULL);
    ASSERT_STR(line_of(err, 0), full);
    rn_spec_free(spec);
}

/* Same, with a prefix of the first line only. */
static void expect_error_prefix(const char *name, const char *want)
{
    const char *path = spec_path(name);
    char full[4096];
    snprintf(full, sizeof full, "%s:%s", path, want);
    rn_spec *spec = try_load(path, NULL, 0);
    CU_ASSERT(spec == NULL);
    ASSERT_PREFIX(line_of(err, 0), full);
    rn_spec_free(spec);
}

/* A real path, for comparing with what the spec resolved. */
static const char *real(const char *path)
{
    static char bufs[4][PATH_MAX];
    static int k;
    char *buf = bufs[k++ % 4];
    if (!realpath(path, buf))
        snprintf(buf, PATH_MAX, "%s", path);
    return buf;
}

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > RN_MAX_WORKERS ? RN_MAX_WORKERS : (int)n;
}

/* The value of `key` in an RN_MAP value, or NULL. */
static const rn_value *get(const rn_value *map, const char *key)
{
    for (size_t i = 0; map->type == RN_MAP && i < map->n; i++)
        if (strcmp(map->keys[i], key) == 0)
            return &map->items[i];
    return NULL;
}

static const char full_spec[] =
    "ptrun: 1\n"
    "name: full-spec\n"
    "seed: 18446744073709551615\n"
    "shm:\n"
    "  prefix: fullpfx\n"
    "  segments:\n"
    "    - {name: hits, type: int64, dims: [1024]}\n"
    "    - {name: img, type: uint8, dims: [10, 20], init: {fill: 255}}\n"
    "    - {name: x, type: float64, dims: [2, 3], init: {npy: "
    "@D@/f8_2x3.npy}, save: true}\n"
    "    - {name: grid, type: float32, dims: 16, named: true, save: false}\n"
    "kernels:\n"
    "  pi: {path: @K@/echo.so, name: echo}\n" /* takes any args */
    "  fill: {path: fill}\n"
    "  tally: {path: @K@/noop.so, name: noop}\n"
    "workersets:\n"
    "  - {name: cpu, workers: auto, mode: ff, timeout: 30s, retries: 2}\n"
    "  - {name: io, workers: 3, mode: rr, timeout: 500ms, retry_failed: "
    "true, window: 8}\n"
    "  - {name: slow, workers: 1, timeout: 2m}\n"
    "  - {name: slower, workers: 1, timeout: 1h}\n"
    "  - {name: bare, workers: 2, timeout: 1.5}\n"
    "steps:\n"
    "  - name: sample\n"
    "    tasks:\n"
    "      - kernel: pi\n"
    "        workerset: cpu\n"
    "        priority: 10\n"
    "        args: {samples: 1000000, label: \"7\", ratio: 0.5, flag: true,\n"
    "               none: null, list: [1, two], nested: {a: 1}}\n"
    "        repeat: 8\n"
    "      - kernel: pi\n"
    "        sweep: {samples: [1000, 10000], scale: [0.5, 1.0, 2.0]}\n"
    "  - name: reduce\n"
    "    tasks:\n"
    "      - {kernel: fill, workerset: io, each_worker: true,\n"
    "         args: {segment: hits, value: 1, part: worker}}\n"
    "      - {kernel: tally, workerset: io, on: 2, priority: -3}\n"
    "plugins:\n"
    "  - {name: jsonl}\n"
    "  - {name: chrome-trace, options: {file: lanes.json}}\n"
    "  - {path: ./sink.so, options: {url: \"http://x\", n: 3}}\n";

/* Write the full spec and the user plugin it names; load it. */
static rn_spec *load_full(const char *const *sets, int nsets)
{
    const char *path = write_spec("full.yaml", full_spec);
    /* a plugin that takes any options: the check opens it with them */
    unlink(join(pt_test_tmpdir(), "sink.so"));
    CU_ASSERT_EQUAL_FATAL(symlink(PT_TEST_KERNEL_DIR "/opts_plugin.so",
                                  join(pt_test_tmpdir(), "sink.so")),
                          0);
    return load_sets(path, sets, nsets);
}

static void check_full_segments(const rn_spec *s)
{
    CU_ASSERT_EQUAL_FATAL(s->nsegments, 4);
    const rn_segment *g = s->segments;
    ASSERT_STR(g[0].name, "hits");
    CU_ASSERT(g[0].type == PT_INT64 && g[0].ndims == 1 &&
              g[0].dims[0] == 1024 && g[0].init == RN_INIT_ZERO);
    CU_ASSERT(!g[0].save && !g[0].named);
    CU_ASSERT(g[0].pos.line == 7 && g[0].pos.col == 7);
    CU_ASSERT(g[1].type == PT_UINT8 && g[1].ndims == 2 && g[1].dims[0] == 10 &&
              g[1].dims[1] == 20);
    CU_ASSERT(g[1].init == RN_INIT_FILL && g[1].fill == 255);
    CU_ASSERT(g[2].init == RN_INIT_NPY && g[2].save);
    ASSERT_STR(g[2].npy, real(PT_TEST_DATA_DIR "/f8_2x3.npy"));
    CU_ASSERT(g[3].type == PT_FLOAT32 && g[3].ndims == 1 &&
              g[3].dims[0] == 16 && g[3].named && !g[3].save);
}

static void check_full_sets(const rn_spec *s)
{
    CU_ASSERT_EQUAL_FATAL(s->nworkersets, 5);
    const rn_workerset *w = s->workersets;
    ASSERT_STR(w[0].name, "cpu");
    CU_ASSERT(w[0].workers_auto && w[0].workers == online_cpus());
    CU_ASSERT(w[0].mode == PT_WS_FF && w[0].timeout_ms == 30000);
    CU_ASSERT(w[0].retries == 2 && !w[0].retry_failed && w[0].window == 0);
    CU_ASSERT(!w[1].workers_auto && w[1].workers == 3 && w[1].mode == PT_WS_RR);
    CU_ASSERT(w[1].timeout_ms == 500 && w[1].retry_failed && w[1].window == 8);
    CU_ASSERT(w[2].timeout_ms == 120000 && w[2].mode == PT_WS_FF);
    CU_ASSERT(w[3].timeout_ms == 3600000);
    CU_ASSERT(w[4].timeout_ms == 1500);
}

static void check_full_args(const rn_value *a)
{
    CU_ASSERT_EQUAL_FATAL(a->type, RN_MAP);
    CU_ASSERT_EQUAL_FATAL(a->n, 7);
    ASSERT_STR(a->keys[0], "samples");
    CU_ASSERT(a->items[0].type == RN_INT && a->items[0].i == 1000000);
    CU_ASSERT(get(a, "label")->type == RN_STR);
    ASSERT_STR(get(a, "label")->s, "7");
    CU_ASSERT(get(a, "ratio")->type == RN_REAL && get(a, "ratio")->r == 0.5);
    CU_ASSERT(get(a, "flag")->type == RN_BOOL && get(a, "flag")->b);
    CU_ASSERT(get(a, "none")->type == RN_NULL);
    const rn_value *l = get(a, "list");
    CU_ASSERT_FATAL(l->type == RN_LIST && l->n == 2);
    CU_ASSERT(l->items[0].i == 1 && l->items[1].type == RN_STR);
    const rn_value *nested = get(a, "nested");
    CU_ASSERT(nested->type == RN_MAP && get(nested, "a")->i == 1);
}

static void check_full_steps(const rn_spec *s)
{
    CU_ASSERT_EQUAL_FATAL(s->nsteps, 2);
    const rn_step *st = s->steps;
    ASSERT_STR(st[0].name, "sample");
    CU_ASSERT_EQUAL_FATAL(st[0].ntasks, 2);
    const rn_task *t = st[0].tasks;
    CU_ASSERT(t[0].kernel == 0 && t[0].workerset == 0 && t[0].priority == 10);
    CU_ASSERT(t[0].repeat == 8 && t[0].has_repeat && t[0].nsweep == 0);
    CU_ASSERT(!t[0].each_worker && t[0].on == -1);
    CU_ASSERT(t[0].pos.line == 24 && t[0].pos.col == 9);
    check_full_args(&t[0].args);
    CU_ASSERT(t[1].repeat == 1 && !t[1].has_repeat && t[1].workerset == 0);
    CU_ASSERT(t[1].args.type == RN_MAP && t[1].args.n == 0);
    CU_ASSERT_EQUAL_FATAL(t[1].nsweep, 2);
    ASSERT_STR(t[1].sweep[0].key, "samples");
    CU_ASSERT(t[1].sweep[0].values.type == RN_LIST &&
              t[1].sweep[0].values.n == 2 &&
              t[1].sweep[0].values.items[1].i == 10000);
    CU_ASSERT(t[1].sweep[1].values.n == 3 &&
              t[1].sweep[1].values.items[2].r == 2.0);
    t = st[1].tasks;
    CU_ASSERT(t[0].kernel == 1 && t[0].workerset == 1 && t[0].each_worker);
    ASSERT_STR(get(&t[0].args, "part")->s, "worker");
    CU_ASSERT(t[1].kernel == 2 && t[1].on == 2 && t[1].priority == -3);
}

static void check_full_rest(const rn_spec *s)
{
    CU_ASSERT(s->version == 1);
    ASSERT_STR(s->name, "full-spec");
    CU_ASSERT(s->seed == UINT64_MAX);
    ASSERT_STR(s->shm_prefix, "fullpfx");
    CU_ASSERT_EQUAL_FATAL(s->nkernels, 3);
    ASSERT_STR(s->kernels[0].name, "pi");
    ASSERT_STR(s->kernels[0].symbol, "echo");
    ASSERT_STR(s->kernels[0].path, real(PT_KERNEL_DIR "/echo.so"));
    ASSERT_STR(s->kernels[1].path, real(PT_KERNEL_DIR "/fill.so"));
    ASSERT_STR(s->kernels[2].name, "tally");
    ASSERT_STR(s->kernels[2].symbol, "noop");
    CU_ASSERT(s->kernels[2].pos.line == 14 && s->kernels[2].pos.col == 3);
    CU_ASSERT_EQUAL_FATAL(s->nplugins, 3);
    ASSERT_STR(s->plugins[0].name, "jsonl");
    ASSERT_STR(s->plugins[0].path, real(join(plugin_dir(), "jsonl.so")));
    CU_ASSERT(s->plugins[0].options.type == RN_MAP &&
              s->plugins[0].options.n == 0);
    ASSERT_STR(get(&s->plugins[1].options, "file")->s, "lanes.json");
    CU_ASSERT(s->plugins[2].name == NULL);
    ASSERT_STR(s->plugins[2].path, real(join(pt_test_tmpdir(), "sink.so")));
    ASSERT_STR(get(&s->plugins[2].options, "url")->s, "http://x");
    CU_ASSERT(s->resolved_yaml != NULL);
}

static void test_full_spec(void)
{
    rn_spec *s = load_full(NULL, 0);
    CU_ASSERT_FATAL(s != NULL);
    ASSERT_STR(s->file, join(pt_test_tmpdir(), "full.yaml"));
    ASSERT_STR(s->dir, pt_test_tmpdir());
    check_full_rest(s);
    check_full_segments(s);
    check_full_sets(s);
    check_full_steps(s);
    rn_spec_free(s);
}

/* Defaults: seed, prefix, workers auto, mode ff, default plugin, tasks. */
static void test_defaults(void)
{
    rn_spec *s = load(spec_path("minimal.yaml"));
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT(s->seed == 0 && s->nsegments == 0);
    ASSERT_STR(s->shm_prefix, "minimal");
    ASSERT_STR(s->kernels[0].symbol, "noop");
    const rn_workerset *w = &s->workersets[0];
    CU_ASSERT(w->workers_auto && w->workers == online_cpus());
    CU_ASSERT(w->mode == PT_WS_FF && w->timeout_ms == 0 && w->retries == 0);
    CU_ASSERT(!w->retry_failed && w->window == 0);
    const rn_task *t = &s->steps[0].tasks[0];
    CU_ASSERT(t->workerset == 0 && t->priority == 0 && t->repeat == 1);
    CU_ASSERT(!t->has_repeat && t->on == -1 && !t->each_worker);
    CU_ASSERT_EQUAL_FATAL(s->nplugins, 1);
    ASSERT_STR(s->plugins[0].name, "jsonl");
    CU_ASSERT(s->plugins[0].builtin && s->plugins[0].probed);
    CU_ASSERT(s->plugins[0].path == NULL); /* built into ptrun */
    CU_ASSERT(s->plugins[0].options.type == RN_MAP);
    ASSERT_STR(s->dir, PT_TEST_SPEC_DIR);
    rn_spec_free(s);
}

/* The default plugin is built in: no jsonl.so needed, none searched. */
static void test_default_plugin_builtin(void)
{
    rn_search srch = {PT_KERNEL_DIR, pt_test_tmpdir()}; /* no jsonl.so */
    unsetenv("PTRUN_PLUGIN_PATH");
    rn_spec *s = rn_spec_load(spec_path("minimal.yaml"), NULL, 0, &srch, err,
                              sizeof err);
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT_EQUAL_FATAL(s->nplugins, 1);
    ASSERT_STR(s->plugins[0].name, "jsonl");
    CU_ASSERT(s->plugins[0].builtin && s->plugins[0].path == NULL);
    rn_spec_free(s);
}

static void test_workers_auto(void)
{
    const char *sets[] = {"workersets.cpu.workers=auto"};
    rn_spec *s = load_sets(spec_path("anchors.yaml"), sets, 1);
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT(s->workersets[0].workers_auto);
    CU_ASSERT(s->workersets[0].workers == online_cpus());
    CU_ASSERT(!s->workersets[1].workers_auto);
    rn_spec_free(s);
}

static void test_anchors_merge(void)
{
    rn_spec *s = load(spec_path("anchors.yaml"));
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT(s->seed == 5);
    CU_ASSERT_EQUAL_FATAL(s->nkernels, 2);
    ASSERT_STR(s->kernels[1].name, "other");
    ASSERT_STR(s->kernels[1].symbol, "noop"); /* an alias copies the map */
    CU_ASSERT_EQUAL_FATAL(s->nworkersets, 3);
    const rn_workerset *w = s->workersets;
    CU_ASSERT(w[0].workers == 2 && w[0].mode == PT_WS_RR);
    /* merge: explicit keys win, the rest comes from the anchor */
    ASSERT_STR(w[1].name, "io");
    CU_ASSERT(w[1].workers == 1 && w[1].mode == PT_WS_RR);
    CU_ASSERT(w[1].timeout_ms == 30000 && w[1].retries == 1);
    /* merge of a list: earlier sources win over later ones */
    ASSERT_STR(w[2].name, "gpu");
    CU_ASSERT(w[2].workers == 3 && w[2].mode == PT_WS_FF);
    CU_ASSERT(w[2].timeout_ms == 30000 && w[2].retries == 1);
    const rn_task *t = s->steps[0].tasks;
    CU_ASSERT(t[0].workerset == 0 && t[1].workerset == 1);
    CU_ASSERT(t[1].kernel == 0 && t[1].priority == 5);
    CU_ASSERT(t[1].args.n == 2 && get(&t[1].args, "n")->i == 1);
    CU_ASSERT(t[2].kernel == 1);
    ASSERT_STR(get(&t[2].args, "s")->s, "text");
    rn_spec_free(s);
}

/* What merge keys and aliases refuse, at the node to blame. */
static void test_merge_errors(void)
{
    const char *head = "ptrun: 1\nname: m\nkernels: {noop: {path: noop}}\n"
                       "steps: [{name: s, tasks: [{kernel: noop}]}]\n";
    char text[1024];
    const char *path;
    snprintf(text, sizeof text, "%sworkersets:\n  - {<<: 5, name: a}\n", head);
    path = write_spec("m1.yaml", text);
    CU_ASSERT(try_load(path, NULL, 0) == NULL);
    ASSERT_STR(line_of(err, 0) + strlen(path),
               ":6:10: a merge key (<<) takes a mapping or a list of mappings");
    snprintf(text, sizeof text, "%sworkersets:\n  - *nope\n", head);
    path = write_spec("m2.yaml", text);
    CU_ASSERT(try_load(path, NULL, 0) == NULL);
    ASSERT_STR(line_of(err, 0) + strlen(path),
               ":6:5: unknown alias '*nope' (no anchor '&nope' before it)");
    /* a quoted '<<' is an ordinary key */
    snprintf(text, sizeof text, "%sworkersets:\n  - {'<<': {a: 1}, name: a}\n",
             head);
    path = write_spec("m3.yaml", text);
    CU_ASSERT(try_load(path, NULL, 0) == NULL);
    ASSERT_PREFIX(line_of(err, 0) + strlen(path), ":6:6: unknown key '<<'");
}

/* An alias of an anchor being defined is refused (no cycles). */
static void test_recursive_alias(void)
{
    const char *path = write_spec(
        "rec.yaml", "ptrun: 1\nname: r\nworkersets: &w [*w]\nsteps: []\n");
    CU_ASSERT(try_load(path, NULL, 0) == NULL);
    ASSERT_STR(line_of(err, 0) + strlen(path),
               ":3:17: unknown alias '*w' (no anchor '&w' before it)");
}

/* A billion-laughs document stops at the node budget. */
static void test_alias_bomb(void)
{
    char text[2048] = "ptrun: 1\nname: bomb\nx0: &a0 [1, 1, 1, 1, 1, 1, 1, "
                      "1, 1, 1]\n";
    for (int i = 1; i < 9; i++) {
        size_t off = strlen(text);
        snprintf(text + off, sizeof text - off,
                 "x%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, "
                 "*a%d, *a%d]\n",
                 i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1,
                 i - 1, i - 1);
    }
    const char *path = write_spec("bomb.yaml", text);
    CU_ASSERT(try_load(path, NULL, 0) == NULL);
    CU_ASSERT(strstr(err, "expands to more than 1000000 nodes") != NULL);
}

/* A spec whose args hold a 1 MiB anchored scalar and `n` aliases of it
 * (on line 9, each "*a, " 4 columns wide from column 17); merges: the same
 * with a 1 MiB mapping value merged `n` times instead. */
static const char *big_alias_spec(int n, bool merges)
{
    size_t big = (size_t)1 << 20, cap = big + (size_t)n * 32 + 512;
    char *text = malloc(cap);
    CU_ASSERT_FATAL(text != NULL);
    int len = snprintf(text, cap,
                       "ptrun: 1\nname: bomb\nkernels: {n: {path: "
                       "noop, name: noop}}\nworkersets: [{name: cpu}]\n"
                       "steps:\n  - name: s\n    tasks:\n      - kernel: n\n"
                       "        args: {b: %s",
                       merges ? "&a {k: " : "&a ");
    memset(text + len, 'x', big);
    len += (int)big;
    len += snprintf(text + len, cap - (size_t)len, "%s,\n        l: [",
                    merges ? "}" : "");
    for (int i = 0; i < n; i++)
        len += snprintf(text + len, cap - (size_t)len,
                        merges ? "{<<: *a}, " : "*a, ");
    snprintf(text + len, cap - (size_t)len, "1]}\n");
    const char *path = write_spec("big_alias.yaml", text);
    free(text);
    return path;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/*
 * The bomb: a 1.4 MB file, a 1 MiB anchored scalar and 100 000
 * aliases, would expand to 100 GB. Refused at the 17th alias, the first
 * past 16 MiB, before copying it: in milliseconds (5 s allows for a
 * machine loaded many times over). 16 aliases, 16 MiB exactly, load.
 */
static void test_alias_bytes(void)
{
    const char *path = big_alias_spec(100000, false);
    struct stat st;
    CU_ASSERT(stat(path, &st) == 0 && st.st_size > 1400000 &&
              st.st_size < 1500000);
    double t0 = now_s();
    CU_ASSERT(try_load(path, NULL, 0) == NULL);
    CU_ASSERT(now_s() - t0 < 5.0);
    CU_ASSERT_EQUAL(count_lines(err), 1);
    ASSERT_STR(line_of(err, 0) + strlen(path),
               ":10:77: alias '*a' would copy 1048576 more bytes, past the "
               "16 MiB of text that aliases and merge keys may add to a spec");
    rn_spec *s = load(big_alias_spec(16, false));
    CU_ASSERT_FATAL(s != NULL);
    const rn_value *l = get(&s->steps[0].tasks[0].args, "l");
    CU_ASSERT(l->type == RN_LIST && l->n == 17);
    CU_ASSERT(l->items[15].type == RN_STR &&
              strlen(l->items[15].s) == (size_t)1 << 20);
    rn_spec_free(s);
}

/* A merge key copies too: `{<<: *a}` costs the alias's copy and the
 * merge's (2 MiB + 2 bytes), so the 8th merge of {k: <1 MiB>} passes
 * 16 MiB, at its alias (column 13 + 7 x 10 + 5). */
static void test_merge_bytes(void)
{
    const char *path = big_alias_spec(1000, true);
    CU_ASSERT(try_load(path, NULL, 0) == NULL);
    CU_ASSERT_EQUAL(count_lines(err), 1);
    ASSERT_STR(line_of(err, 0) + strlen(path),
               ":10:88: this merge (<<) would copy 1048577 more bytes, past "
               "the 16 MiB of text that aliases and merge keys may add to a "
               "spec");
    rn_spec *s = load(big_alias_spec(7, true));
    CU_ASSERT_PTR_NOT_NULL(s);
    rn_spec_free(s);
}

static void test_syntax_error(void)
{
    expect_error("bad_syntax.yaml", "5:6: did not find expected ',' or '}' "
                                    "(while parsing a flow mapping at 4:5)");
}

static void test_empty_and_two_documents(void)
{
    expect_error("bad_empty.yaml",
                 "1:1: empty file: expected a job spec (ptrun: 1, name: ...)");
    expect_error("bad_two_docs.yaml",
                 "3:1: more than one YAML document (a job spec is one)");
    const char *path = join(pt_test_tmpdir(), "none.yaml");
    CU_ASSERT(try_load(path, NULL, 0) == NULL);
    ASSERT_PREFIX(err, path);
    CU_ASSERT(strstr(err, ": cannot read: No such file") != NULL);
}

static void test_wrong_type(void)
{
    expect_error("bad_type.yaml", "3:7: expected an integer, got a string "
                                  "'abc'");
}

static void test_missing_key(void)
{
    expect_error("bad_missing.yaml", "11:9: missing key 'kernel'");
}

static void test_unknown_key(void)
{
    expect_error("bad_unknown.yaml",
                 "7:5: unknown key 'wrkers' (did you mean 'workers'?)");
}

/*
 * An unknown key that comes first in its mapping is reported like any
 * other, at its own line:col: at the top, in a block mapping inside a
 * list, and in a flow mapping.
 */
static void test_unknown_key_first(void)
{
    const char *path = write_spec("first.yaml",
                                  "ptrn: 1\n"
                                  "name: first\n"
                                  "kernels:\n"
                                  "  noop: {path: noop}\n"
                                  "workersets:\n"
                                  "  - wrkers: 4\n"
                                  "    name: cpu\n"
                                  "steps:\n"
                                  "  - name: s\n"
                                  "    tasks: [{kernl: noop, kernel: noop}]\n");
    char want[4][4096];
    snprintf(want[0], sizeof want[0],
             "%s:1:1: unknown key 'ptrn' (did you "
             "mean 'ptrun'?)",
             path);
    snprintf(want[1], sizeof want[1], "%s:1:1: missing key 'ptrun'", path);
    snprintf(want[2], sizeof want[2],
             "%s:6:5: unknown key 'wrkers' (did "
             "you mean 'workers'?)",
             path);
    snprintf(want[3], sizeof want[3],
             "%s:10:14: unknown key 'kernl' (did "
             "you mean 'kernel'?)",
             path);
    rn_spec *spec = try_load(path, NULL, 0);
    CU_ASSERT(spec == NULL);
    CU_ASSERT_EQUAL(count_lines(err), 4);
    for (int i = 0; i < 4; i++)
        ASSERT_STR(line_of(err, i), want[i]);
    rn_spec_free(spec);
}

/* Kernel .so problems: at the `path` node (or `name` for a missing one). */
static void test_kernel_so_errors(void)
{
    char want[4096];
    const char *path = spec_path("bad_kernel_so.yaml");
    setenv("PTRUN_KERNEL_PATH", "/nonexistent:" PT_TEST_KERNEL_DIR, 1);
    CU_ASSERT(try_load(path, NULL, 0) == NULL);
    CU_ASSERT_EQUAL(count_lines(err), 4);
    snprintf(want, sizeof want,
             "%s:4:16: %s/no_such_kernel.so: cannot load: ", path,
             PT_TEST_SPEC_DIR);
    ASSERT_PREFIX(line_of(err, 0), want);
    snprintf(want, sizeof want,
             "%s:5:24: %s: no kernel named 'pie' (it "
             "has: pi)",
             path, real(PT_KERNEL_DIR "/pi.so"));
    ASSERT_STR(line_of(err, 1), want);
    snprintf(want, sizeof want,
             "%s:6:18: %s: kernel #0 has ABI 999, this "
             "ptools speaks ABI 1",
             path, real(PT_TEST_KERNEL_DIR "/bad_abi.so"));
    ASSERT_PREFIX(line_of(err, 2), want);
    snprintf(want, sizeof want,
             "%s:7:18: kernel library "
             "'no_such_kernel_anywhere' not found: no no_such_kernel_anywhere"
             ".so in $PTRUN_KERNEL_PATH (/nonexistent:%s) or %s",
             path, PT_TEST_KERNEL_DIR, PT_KERNEL_DIR);
    ASSERT_STR(line_of(err, 3), want);
}

/* A .so without a pt_kernels array is refused at its path. */
static void test_kernel_no_symbol(void)
{
    const char *path = write_spec("nosym.yaml",
                                  "ptrun: 1\nname: n\nkernels:\n  k: {path: "
                                  "@T@/no_symbol.so}\nworkersets: [{name: a}]\n"
                                  "steps: [{name: s, tasks: [{kernel: k}]}]\n");
    CU_ASSERT(try_load(path, NULL, 0) == NULL);
    ASSERT_PREFIX(line_of(err, 0) + strlen(path), ":4:13: ");
    CU_ASSERT(strstr(err, "exports no pt_kernels array") != NULL);
}

static void test_unknown_names(void)
{
    expect_error("bad_kernel_name.yaml",
                 "12:18: no kernel named 'pii' (did you mean 'pi'?)");
    expect_error("bad_workerset.yaml",
                 "11:35: no workerset named 'cpus' (did you mean 'cpu'?)");
}

static void test_workers_zero_and_max(void)
{
    const char *sets[] = {"workersets.cpu.workers=5000"};
    expect_error("bad_workers0.yaml", "6:26: workers must be at least 1, "
                                      "got 0");
    CU_ASSERT(try_load(spec_path("minimal.yaml"), sets, 1) == NULL);
    ASSERT_STR(err, "--set workersets.cpu.workers=5000: workers must be at "
                    "most 4096, got 5000");
}

static void test_duplicates(void)
{
    expect_error("bad_duplicate.yaml",
                 "7:12: duplicate workerset name 'cpu' (first at 6:5)");
    expect_error("bad_duplicate_key.yaml",
                 "6:29: duplicate key 'workers' (first at 6:17)");
}

static void test_bad_duration(void)
{
    expect_error("bad_duration.yaml", "6:26: bad duration '30x' (use 500ms, "
                                      "30s, 2m, 1h or a number of seconds)");
}

static void test_on_out_of_range(void)
{
    expect_error("bad_on.yaml", "11:28: on 2 is out of range: workerset "
                                "'cpu' has 2 workers (on 0..1)");
    expect_error("bad_on_each.yaml",
                 "10:47: on and each_worker: true "
                 "exclude each other (each_worker runs the task on every "
                 "worker)");
}

static void test_segment_too_large(void)
{
    expect_error_prefix("bad_huge_segment.yaml",
                        "6:40: segment 'big' needs 1125899906842624 bytes "
                        "(1.0 PiB), more than /dev/shm holds: ");
}

/* Segments that each fit but not together fail at the segments list. */
static void test_segments_too_large_together(void)
{
    struct statvfs sv;
    CU_ASSERT_FATAL(statvfs("/dev/shm", &sv) == 0);
    unsigned long long cap = (unsigned long long)sv.f_blocks * sv.f_frsize;
    unsigned long long each = cap / 10 * 6;
    char text[1024], want[256];
    snprintf(text, sizeof text,
             "ptrun: 1\nname: two\nshm:\n  segments:\n"
             "    - {name: a, type: uint8, dims: [%llu]}\n"
             "    - {name: b, type: uint8, dims: [%llu]}\n"
             "workersets: [{name: cpu}]\nkernels: {n: {path: noop, name: "
             "noop}}\nsteps: [{name: s, tasks: [{kernel: n}]}]\n",
             each, each);
    const char *path = write_spec("two.yaml", text);
    CU_ASSERT(try_load(path, NULL, 0) == NULL);
    snprintf(want, sizeof want, ":5:5: the segments need %llu bytes", 2 * each);
    ASSERT_PREFIX(line_of(err, 0) + strlen(path), want);
    CU_ASSERT(strstr(err, "more than /dev/shm holds: ") != NULL);
    CU_ASSERT_EQUAL(count_lines(err), 1);
}

static void test_dims_overflow(void)
{
    expect_error("bad_dims_overflow.yaml",
                 "7:13: dims [4294967296, 4294967296] of int32 overflow: "
                 "segment 'big' would be larger than 2^64 bytes");
}

static void test_npy_mismatch(void)
{
    expect_error("bad_npy_shape.yaml",
                 "6:58: ../data/f8_2x3.npy holds float64 [2, 3], but segment "
                 "'x' is float64 [3, 2]");
}

static void test_segment_errors(void)
{
    const char *path = write_spec(
        "segs.yaml",
        "ptrun: 1\nname: segs\nshm:\n  segments:\n"
        "    - {name: a, type: uint8, dims: [4], init: {fill: 256}}\n"
        "    - {name: b, type: int7, dims: [4]}\n"
        "    - {name: c, type: int8, dims: [1, 1, 1, 1, 1, 1, 1, 1, 1]}\n"
        "    - {name: d, type: int8, dims: 4, init: {fill: 1, npy: x.npy}}\n"
        "    - {name: e, type: int8, dims: 4, init: {npy: @D@/i4_2x3.npy}}\n"
        "    - {name: f, type: float32, dims: [0]}\n"
        "workersets: [{name: cpu}]\nsteps: [{name: s, tasks: [{kernel: n}]}]\n"
        "kernels: {n: {path: noop, name: noop}}\n");
    CU_ASSERT(try_load(path, NULL, 0) == NULL);
    CU_ASSERT_EQUAL(count_lines(err), 6);
    ASSERT_STR(line_of(err, 0) + strlen(path),
               ":5:54: fill 256 does not fit uint8");
    ASSERT_STR(line_of(err, 1) + strlen(path),
               ":6:23: unknown type 'int7' (did you mean 'int8'?)");
    ASSERT_STR(line_of(err, 2) + strlen(path),
               ":7:35: dims must have 1 to 8 items, got 9");
    ASSERT_STR(line_of(err, 3) + strlen(path),
               ":8:44: init takes exactly one of fill or npy");
    ASSERT_STR(line_of(err, 4) + strlen(path),
               ":9:50: " PT_TEST_DATA_DIR "/i4_2x3.npy holds int32 [2, 3], "
               "but segment 'e' is int8 [4]");
    ASSERT_STR(line_of(err, 5) + strlen(path),
               ":10:39: dims must be at least 1, got 0");
}

static void test_absurd_task_count(void)
{
    expect_error("bad_tasks.yaml", "12:9: this task expands to more than "
                                   "100000000 tasks (RN_MAX_TASKS)");
    /* each_worker multiplies by the set's workers */
    const char *sets[] = {"steps.0.tasks.0.repeat=99999995",
                          "workersets.cpu.workers=4"};
    const char *path = write_spec(
        "each.yaml",
        "ptrun: 1\nname: e\nkernels: {n: {path: noop, name: noop}}\n"
        "workersets: [{name: cpu}]\nsteps:\n  - name: s\n    tasks:\n"
        "      - {kernel: n, repeat: 2}\n"
        "      - {kernel: n, each_worker: true, repeat: 2}\n");
    rn_spec *s = load_sets(path, sets + 1, 1);
    CU_ASSERT(s != NULL);
    rn_spec_free(s);
    CU_ASSERT(try_load(path, sets, 2) == NULL);
    ASSERT_STR(line_of(err, 0) + strlen(path),
               ":9:9: the plan expands to more than 100000000 tasks "
               "(RN_MAX_TASKS) with the 8 of this task");
}

/* Every problem is reported, one a line, in file order. */
static void test_many_errors(void)
{
    const char *path = spec_path("bad_many.yaml");
    static const char *const want[] = {
        ":1:8: unsupported ptrun: 2 (this ptrun reads version 1)",
        ":2:7: 'not a name' is not a valid name: use 1 to 100 letters, "
        "digits, '_' or '-'",
        ":3:7: seed must be at least 0, got -1",
        ":7:23: mode must be rr or ff, got 'fifo'",
        ":7:38: retries must be at least 0, got -1",
        ":11:32: repeat must be at least 1, got 0",
        ":11:46: sweep 'n' needs at least one value",
        ":11:64: expected true or false, got a string 'maybe'",
        ":13:5: a plugin takes exactly one of name (a shipped plugin) or "
        "path (a .so file)",
    };
    CU_ASSERT(try_load(path, NULL, 0) == NULL);
    CU_ASSERT_EQUAL(count_lines(err), LEN(want));
    for (int i = 0; i < LEN(want); i++) {
        char full[1024];
        snprintf(full, sizeof full, "%s%s", path, want[i]);
        ASSERT_STR(line_of(err, i), full);
    }
}

/* More than RN_MAX_ERRORS problems: the rest are counted. */
static void test_error_cap(void)
{
    char text[8192] = "ptrun: 1\nname: cap\nworkersets:\n";
    for (int i = 0; i < 25; i++) {
        size_t off = strlen(text);
        snprintf(text + off, sizeof text - off, "  - {name: s%d, workers: 0}\n",
                 i);
    }
    strcat(text, "steps: [{name: s, tasks: [{kernel: n}]}]\n"
                 "kernels: {n: {path: noop, name: noop}}\n");
    CU_ASSERT(try_load(write_spec("cap.yaml", text), NULL, 0) == NULL);
    CU_ASSERT_EQUAL(count_lines(err), 21);
    ASSERT_STR(line_of(err, 20), "... and 5 more errors");
}

static void test_set_scalars(void)
{
    const char *sets[] = {
        "seed=1",                    /* creates seed */
        "seed=7",                    /* later wins */
        "workersets.cpu.workers=4",  /* list item by name */
        "workersets.0.mode=rr",      /* by index */
        "workersets.cpu.timeout=1h", /* creates an optional key */
        "steps.only.tasks.0.priority=-2",
        "steps.0.tasks.0.args.n=5",
        "steps.0.tasks.0.args.label='5'", /* quotes force a string */
        "name=renamed",
    };
    rn_spec *s = load_sets(spec_path("minimal.yaml"), sets, LEN(sets));
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT(s->seed == 7);
    ASSERT_STR(s->name, "renamed");
    ASSERT_STR(s->shm_prefix, "renamed");
    const rn_workerset *w = &s->workersets[0];
    CU_ASSERT(w->workers == 4 && !w->workers_auto && w->mode == PT_WS_RR);
    CU_ASSERT(w->timeout_ms == 3600000);
    const rn_task *t = &s->steps[0].tasks[0];
    CU_ASSERT(t->priority == -2);
    CU_ASSERT(get(&t->args, "n")->type == RN_INT && get(&t->args, "n")->i == 5);
    CU_ASSERT(get(&t->args, "label")->type == RN_STR);
    ASSERT_STR(get(&t->args, "label")->s, "5");
    CU_ASSERT(strstr(s->resolved_yaml, "seed: 7\n") != NULL);
    CU_ASSERT(strstr(s->resolved_yaml, "label: '5'") != NULL);
    rn_spec_free(s);
}

/*
 * --set finds a list item by its name wherever it stands: here the second
 * worker set and the second step, while the first ones stay as they were.
 */
static void test_set_item_by_later_name(void)
{
    const char *path = write_spec("two.yaml",
                                  "ptrun: 1\n"
                                  "name: two\n"
                                  "kernels: {noop: {path: noop}}\n"
                                  "workersets:\n"
                                  "  - {name: cpu, workers: 2}\n"
                                  "  - {name: io, workers: 1}\n"
                                  "steps:\n"
                                  "  - {name: a, tasks: [{kernel: noop}]}\n"
                                  "  - {name: b, tasks: [{kernel: noop, "
                                  "workerset: io}]}\n");
    const char *sets[] = {"workersets.io.workers=3", "workersets.io.mode=rr",
                          "steps.b.tasks.0.priority=5"};
    rn_spec *s = load_sets(path, sets, LEN(sets));
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT_EQUAL_FATAL(s->nworkersets, 2);
    ASSERT_STR(s->workersets[0].name, "cpu");
    CU_ASSERT_EQUAL(s->workersets[0].workers, 2);
    CU_ASSERT_EQUAL(s->workersets[0].mode, PT_WS_FF);
    ASSERT_STR(s->workersets[1].name, "io");
    CU_ASSERT_EQUAL(s->workersets[1].workers, 3);
    CU_ASSERT_EQUAL(s->workersets[1].mode, PT_WS_RR);
    CU_ASSERT_EQUAL_FATAL(s->nsteps, 2);
    CU_ASSERT_EQUAL(s->steps[0].tasks[0].priority, 0);
    CU_ASSERT_EQUAL(s->steps[1].tasks[0].priority, 5);
    rn_spec_free(s);
}

/* Run the minimal spec with one --set; it must fail with `want`. */
static void expect_set_error(const char *set, const char *want)
{
    const char *sets[] = {set};
    rn_spec *s = try_load(spec_path("minimal.yaml"), sets, 1);
    CU_ASSERT(s == NULL);
    ASSERT_STR(line_of(err, 0), want);
    rn_spec_free(s);
}

static void test_set_errors(void)
{
    expect_set_error("workersets.cpu.wrkers=4",
                     "--set workersets.cpu.wrkers=4: no key 'wrkers' in "
                     "workersets.cpu (did you mean 'workers'?)");
    expect_set_error("sed=4", "--set sed=4: no key 'sed' in the spec (did "
                              "you mean 'seed'?)");
    expect_set_error("workersets.gpu.workers=1",
                     "--set workersets.gpu.workers=1: no worker set 'gpu' "
                     "(did you mean 'cpu'? sets: cpu)");
    expect_set_error("workersets.fast.workers=1",
                     "--set workersets.fast.workers=1: no worker set 'fast' "
                     "(sets: cpu)");
    expect_set_error("workersets.3.workers=1",
                     "--set workersets.3.workers=1: no item 3 in "
                     "workersets (it has 1: give an index from 0, or a "
                     "name)");
    expect_set_error("workersets.cpu=4",
                     "--set workersets.cpu=4: workersets.cpu is a mapping, "
                     "not a scalar: give it as {key: value, ...} (YAML flow "
                     "syntax)");
    expect_set_error("steps=4", "--set steps=4: steps is a list, not a "
                                "scalar: give it as [1, 2, ...] (YAML flow "
                                "syntax)");
    expect_set_error("shm=1", "--set shm=1: no key 'shm' in the spec (--set "
                              "creates it only with a list or mapping "
                              "value: [...] or {...})");
    expect_set_error("kernels.noop.path.x=1",
                     "--set kernels.noop.path.x=1: "
                     "kernels.noop.path is a scalar: it has no 'x'");
    expect_set_error("steps.0.tasks.0.sweep.n=1",
                     "--set steps.0.tasks.0.sweep.n=1: no key 'sweep' in "
                     "steps.0.tasks.0 (--set creates the last key of a "
                     "path only)");
    expect_set_error("seed", "--set seed: expected PATH=VALUE (e.g. --set "
                             "seed=7)");
    expect_set_error("workers..x=1",
                     "--set workers..x=1: no key 'workers' "
                     "in the spec (did you mean 'workersets'?)");
}

/* A value set by --set is checked like the file's, blamed on the --set. */
static void test_set_value_checked(void)
{
    expect_set_error("seed=\"7\"", "--set seed=\"7\": expected an integer, "
                                   "got a string '7'");
    expect_set_error("workersets.cpu.workers=0",
                     "--set "
                     "workersets.cpu.workers=0: workers must be at least 1, "
                     "got 0");
    expect_set_error("steps.0.tasks.0.kernel=noops",
                     "--set "
                     "steps.0.tasks.0.kernel=noops: no kernel named 'noops' "
                     "(did you mean 'noop'?)");
}

static bool value_eq(const rn_value *a, const rn_value *b);

static bool items_eq(const rn_value *a, const rn_value *b)
{
    for (size_t i = 0; i < a->n; i++) {
        if (a->type == RN_MAP && strcmp(a->keys[i], b->keys[i]) != 0)
            return false;
        if (!value_eq(&a->items[i], &b->items[i]))
            return false;
    }
    return true;
}

static bool value_eq(const rn_value *a, const rn_value *b)
{
    if (a->type != b->type || a->n != b->n)
        return false;
    switch (a->type) {
    case RN_BOOL: return a->b == b->b;
    case RN_INT: return a->i == b->i;
    case RN_REAL: return a->r == b->r || (isnan(a->r) && isnan(b->r));
    case RN_STR: return strcmp(a->s, b->s) == 0;
    case RN_LIST:
    case RN_MAP: return items_eq(a, b);
    default: return true;
    }
}

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void compare_tasks(const rn_step *a, const rn_step *b)
{
    CU_ASSERT(str_eq(a->name, b->name));
    CU_ASSERT_EQUAL_FATAL(a->ntasks, b->ntasks);
    for (int j = 0; j < a->ntasks; j++) {
        const rn_task *x = &a->tasks[j], *y = &b->tasks[j];
        CU_ASSERT(x->kernel == y->kernel && x->workerset == y->workerset);
        CU_ASSERT(x->priority == y->priority && x->repeat == y->repeat);
        CU_ASSERT(x->has_repeat == y->has_repeat && x->on == y->on);
        CU_ASSERT(x->each_worker == y->each_worker);
        CU_ASSERT(value_eq(&x->args, &y->args));
        CU_ASSERT_EQUAL_FATAL(x->nsweep, y->nsweep);
        for (int k = 0; k < x->nsweep; k++) {
            CU_ASSERT(str_eq(x->sweep[k].key, y->sweep[k].key));
            CU_ASSERT(value_eq(&x->sweep[k].values, &y->sweep[k].values));
        }
    }
}

static void compare_resources(const rn_spec *a, const rn_spec *b)
{
    CU_ASSERT_EQUAL_FATAL(a->nsegments, b->nsegments);
    for (int i = 0; i < a->nsegments; i++) {
        const rn_segment *x = &a->segments[i], *y = &b->segments[i];
        CU_ASSERT(str_eq(x->name, y->name) && x->type == y->type);
        CU_ASSERT(x->ndims == y->ndims &&
                  !memcmp(x->dims, y->dims, sizeof x->dims));
        CU_ASSERT(x->init == y->init && x->fill == y->fill);
        CU_ASSERT(str_eq(x->npy, y->npy));
        CU_ASSERT(x->save == y->save && x->named == y->named);
    }
    CU_ASSERT_EQUAL_FATAL(a->nkernels, b->nkernels);
    for (int i = 0; i < a->nkernels; i++) {
        CU_ASSERT(str_eq(a->kernels[i].name, b->kernels[i].name));
        CU_ASSERT(str_eq(a->kernels[i].path, b->kernels[i].path));
        CU_ASSERT(str_eq(a->kernels[i].symbol, b->kernels[i].symbol));
    }
    CU_ASSERT_EQUAL_FATAL(a->nworkersets, b->nworkersets);
    for (int i = 0; i < a->nworkersets; i++) {
        const rn_workerset *x = &a->workersets[i], *y = &b->workersets[i];
        CU_ASSERT(str_eq(x->name, y->name) && x->workers == y->workers);
        CU_ASSERT(x->workers_auto == y->workers_auto && x->mode == y->mode);
        CU_ASSERT(x->timeout_ms == y->timeout_ms && x->retries == y->retries);
        CU_ASSERT(x->retry_failed == y->retry_failed && x->window == y->window);
    }
}

/* Everything but file, dir and positions must be the same. */
static void compare_specs(const rn_spec *a, const rn_spec *b)
{
    CU_ASSERT(a->version == b->version && str_eq(a->name, b->name));
    CU_ASSERT(a->seed == b->seed && str_eq(a->shm_prefix, b->shm_prefix));
    compare_resources(a, b);
    CU_ASSERT_EQUAL_FATAL(a->nsteps, b->nsteps);
    for (int i = 0; i < a->nsteps; i++)
        compare_tasks(&a->steps[i], &b->steps[i]);
    CU_ASSERT_EQUAL_FATAL(a->nplugins, b->nplugins);
    for (int i = 0; i < a->nplugins; i++) {
        CU_ASSERT(str_eq(a->plugins[i].name, b->plugins[i].name));
        CU_ASSERT(str_eq(a->plugins[i].path, b->plugins[i].path));
        CU_ASSERT(value_eq(&a->plugins[i].options, &b->plugins[i].options));
    }
    ASSERT_STR(a->resolved_yaml, b->resolved_yaml);
}

/* Save a's resolved YAML in another folder, load it, compare. */
static void check_roundtrip(const rn_spec *a)
{
    const char *dir = join(pt_test_tmpdir(), "rerun");
    char path[PATH_MAX];
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/job.yaml", dir);
    FILE *f = fopen(path, "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs(a->resolved_yaml, f);
    fclose(f);
    rn_spec *b = load(path);
    CU_ASSERT_FATAL(b != NULL);
    compare_specs(a, b);
    rn_spec_free(b);
}

static void test_resolved_yaml_reloads(void)
{
    const char *sets[] = {"seed=99", "workersets.io.workers=4",
                          "steps.sample.tasks.0.args.label='007'"};
    rn_spec *a = load_full(sets, LEN(sets));
    CU_ASSERT_FATAL(a != NULL);
    CU_ASSERT(a->seed == 99 && a->workersets[1].workers == 4);
    check_roundtrip(a);
    rn_spec_free(a);
    a = load(spec_path("anchors.yaml"));
    CU_ASSERT_FATAL(a != NULL);
    CU_ASSERT(strstr(a->resolved_yaml, "*") == NULL); /* no aliases left */
    check_roundtrip(a);
    rn_spec_free(a);
}

/* Scalars read like YAML 1.2 plain scalars; quotes make strings. */
static void test_scalar_types(void)
{
    const char *path = write_spec(
        "types.yaml",
        "ptrun: 1\nname: t\nkernels: {n: {path: noop, name: noop}}\n"
        "workersets: [{name: cpu}]\nsteps:\n  - name: s\n    tasks:\n"
        "      - kernel: n\n        args: {a: 0x10, b: -0o17, c: 1e3, d: "
        ".inf, e: ~, f: 'true', g: yes, h: 9223372036854775807, i: -7,\n"
        "               j: \"\", k: !!str 12, l: False, m: "
        "-9223372036854775808,"
        "\n               n: -0x8000000000000000, o: 0o777777777777777777777,"
        "\n               p: '99999999999999999999999', q: 1e23}\n");
    rn_spec *s = load(path);
    CU_ASSERT_FATAL(s != NULL);
    const rn_value *a = &s->steps[0].tasks[0].args;
    CU_ASSERT(get(a, "a")->type == RN_INT && get(a, "a")->i == 16);
    CU_ASSERT(get(a, "b")->type == RN_INT && get(a, "b")->i == -15);
    CU_ASSERT(get(a, "c")->type == RN_REAL && get(a, "c")->r == 1000);
    CU_ASSERT(get(a, "d")->type == RN_REAL && isinf(get(a, "d")->r));
    CU_ASSERT(get(a, "e")->type == RN_NULL);
    CU_ASSERT(get(a, "f")->type == RN_STR && get(a, "g")->type == RN_STR);
    CU_ASSERT(get(a, "h")->type == RN_INT && get(a, "h")->i == INT64_MAX);
    CU_ASSERT(get(a, "m")->type == RN_INT && get(a, "m")->i == INT64_MIN);
    CU_ASSERT(get(a, "n")->type == RN_INT && get(a, "n")->i == INT64_MIN);
    CU_ASSERT(get(a, "o")->type == RN_INT && get(a, "o")->i == INT64_MAX);
    CU_ASSERT(get(a, "p")->type == RN_STR);
    CU_ASSERT(get(a, "q")->type == RN_REAL && get(a, "q")->r == 1e23);
    CU_ASSERT(get(a, "i")->type == RN_INT && get(a, "i")->i == -7);
    CU_ASSERT(get(a, "j")->type == RN_STR && get(a, "k")->type == RN_STR);
    ASSERT_STR(get(a, "k")->s, "12");
    CU_ASSERT(get(a, "l")->type == RN_BOOL && !get(a, "l")->b);
    check_roundtrip(s);
    rn_spec_free(s);
}

/*
 * An integer literal outside int64 is refused at its line:col in every
 * form (signs, hex, octal) and wherever it is (args, lists, sweeps, other
 * keys); a key of such digits is a name; seed keeps its 0 .. 2^64-1.
 */
static void test_int_out_of_range(void)
{
    const char *path = write_spec(
        "range.yaml",
        "ptrun: 1\nname: t\nseed: 18446744073709551615\n"
        "kernels: {n: {path: noop, name: noop}}\n"
        "workersets: [{name: cpu}]\nsteps:\n  - name: s\n    tasks:\n"
        "      - kernel: n\n"
        "        priority: 9223372036854775808\n"
        "        args: {a: 99999999999999999999999, b: -9223372036854775809,\n"
        "               c: +9223372036854775808, d: 0x7fffffffffffffffff,\n"
        "               e: -0x8000000000000001, f: 0o1000000000000000000000,\n"
        "               g: -0o1000000000000000000001, 99999999999999999999999: "
        "1,"
        "\n               h: [1, 18446744073709551616]}\n"
        "        sweep: {x: [1, 1e23, "
        "12345678901234567890123456789012345678901]}"
        "\n");
    static const char *const want[] = {
        ":10:19: integer 9223372036854775808 is outside the 64-bit range; "
        "write 9.223372036854776e18 if a real is meant",
        ":11:19: integer 99999999999999999999999 is outside the 64-bit range; "
        "write 1e23 if a real is meant",
        ":11:47: integer -9223372036854775809 is outside the 64-bit range; "
        "write -9.223372036854776e18 if a real is meant",
        ":12:19: integer +9223372036854775808 is outside the 64-bit range; "
        "write 9.223372036854776e18 if a real is meant",
        ":12:44: integer 0x7fffffffffffffffff is outside the 64-bit range "
        "(-0x8000000000000000 to 0x7fffffffffffffff)",
        ":13:19: integer -0x8000000000000001 is outside the 64-bit range "
        "(-0x8000000000000000 to 0x7fffffffffffffff)",
        ":13:43: integer 0o1000000000000000000000 is outside the 64-bit range "
        "(-0o1000000000000000000000 to 0o777777777777777777777)",
        ":14:19: integer -0o1000000000000000000001 is outside the 64-bit range "
        "(-0o1000000000000000000000 to 0o777777777777777777777)",
        ":15:23: integer 18446744073709551616 is outside the 64-bit range; "
        "write 1.8446744073709552e19 if a real is meant",
        ":16:30: integer 123456789012345678901234... (41 characters) is "
        "outside the 64-bit range; write 1.2345678901234568e40 if a real is "
        "meant",
    };
    CU_ASSERT(try_load(path, NULL, 0) == NULL);
    CU_ASSERT_EQUAL(count_lines(err), LEN(want));
    for (int i = 0; i < LEN(want); i++)
        ASSERT_STR(line_of(err, i) + strlen(path), want[i]);
}

/* An out-of-range --set value names its argument; INT64_MIN/MAX pass. */
static void test_set_int_out_of_range(void)
{
    expect_set_error("steps.0.tasks.0.args.n=-9223372036854775809",
                     "--set steps.0.tasks.0.args.n=-9223372036854775809: "
                     "integer -9223372036854775809 is outside the 64-bit "
                     "range; write -9.223372036854776e18 if a real is meant");
    expect_set_error("steps.0.tasks.0.args.n=0x10000000000000000",
                     "--set steps.0.tasks.0.args.n=0x10000000000000000: "
                     "integer 0x10000000000000000 is outside the 64-bit range "
                     "(-0x8000000000000000 to 0x7fffffffffffffff)");
    const char *sets[] = {"steps.0.tasks.0.args.a=9223372036854775807",
                          "steps.0.tasks.0.args.b=-9223372036854775808",
                          "steps.0.tasks.0.args.c='99999999999999999999999'"};
    rn_spec *s = load_sets(spec_path("minimal.yaml"), sets, LEN(sets));
    CU_ASSERT_FATAL(s != NULL);
    const rn_value *a = &s->steps[0].tasks[0].args;
    CU_ASSERT(get(a, "a")->type == RN_INT && get(a, "a")->i == INT64_MAX);
    CU_ASSERT(get(a, "b")->type == RN_INT && get(a, "b")->i == INT64_MIN);
    CU_ASSERT(get(a, "c")->type == RN_STR);
    check_roundtrip(s);
    rn_spec_free(s);
}

/* `n` bytes of 'x' into f. */
static void put_xs(FILE *f, size_t n)
{
    static char xs[65536];
    memset(xs, 'x', sizeof xs);
    for (size_t done = 0; done < n;) {
        size_t k = n - done < sizeof xs ? n - done : sizeof xs;
        CU_ASSERT_FATAL(fwrite(xs, 1, k, f) == k);
        done += k;
    }
}

/* A spec of one task (at 9:9) with args {a: <a x's>} and, when x is not
 * 0, sweep {x: [s, <x x's>]}. */
static const char *blob_spec(size_t a, size_t x)
{
    const char *path = join(pt_test_tmpdir(), "blob.yaml");
    FILE *f = fopen(path, "w");
    CU_ASSERT_FATAL(f != NULL);
    fprintf(f, "ptrun: 1\nname: blob\nkernels: {noop: {path: noop}}\n"
               "workersets: [{name: cpu}]\n\nsteps:\n  - name: s\n"
               "    tasks:\n      - kernel: noop\n        args: {a: ");
    put_xs(f, a);
    fprintf(f, "}\n");
    if (x) {
        fprintf(f, "        sweep: {x: [s, ");
        put_xs(f, x);
        fprintf(f, "]}\n");
    }
    CU_ASSERT_FATAL(fclose(f) == 0);
    return path;
}

/*
 * A task's args must fit one request to a worker (64 MiB less a 40-byte
 * head): {a: <n x's>} encodes to n + 21 bytes, so n = 67108803 is the
 * largest, and its plan holds exactly that many bytes. Several args add
 * up, with the largest value of each sweep axis.
 */
static void test_args_too_large(void)
{
    CU_ASSERT_EQUAL(RN_MAX_ARGS_BYTES, 67108824);
    const char *path = blob_spec(67108803, 0);
    rn_spec *s = load(path);
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT_EQUAL(rn_task_args_size(&s->steps[0].tasks[0]), 67108824);
    rn_spec_free(s);
    CU_ASSERT(try_load(blob_spec(67108804, 0), NULL, 0) == NULL);
    ASSERT_STR(line_of(err, 0) + strlen(path),
               ":9:9: the args of this task take 67108825 bytes encoded, "
               "more than the 67108824 a request to a worker carries (a "
               "64 MiB frame): put bulk data in a shared segment (shm: "
               "segments: with init: {npy: FILE}) and pass its name");
    CU_ASSERT(try_load(blob_spec(30 << 20, 40 << 20), NULL, 0) == NULL);
    ASSERT_PREFIX(line_of(err, 0) + strlen(path),
                  ":9:9: the args of this task take 73400353 bytes encoded");
    s = load(blob_spec(30 << 20, 30 << 20));
    CU_ASSERT_PTR_NOT_NULL(s);
    rn_spec_free(s);
}

/*
 * rn_task_args_size() is what the plan encodes: exactly for args without
 * arrays (the most over the sweep), at most 7 bytes more per array.
 */
static void test_args_size_exact(void)
{
    rn_spec *spec = load(write_spec(
        "sizes.yaml",
        "ptrun: 1\nname: p\nkernels: {echo: {path: @K@/echo.so}}\n"
        "workersets: [{name: w, workers: 2}]\n"
        "steps:\n  - name: s\n    tasks:\n"
        "      - {kernel: echo, args: {a: 1, s: xyz, n: ~, b: true,\n"
        "         m: {k: [1, a], e: []}}, sweep: {x: [1.5, a long string, "
        "{}]},\n         repeat: 2}\n"
        "      - {kernel: echo, args: {l: [1, 2.5], i: [3]}}\n"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
    rn_plan plan;
    char msg[256];
    CU_ASSERT_EQUAL_FATAL(rn_plan_build(spec, NULL, &plan, msg, sizeof msg), 0);
    CU_ASSERT_EQUAL_FATAL(plan.ntasks, 7);
    size_t most = 0, len;
    const uint8_t *bytes;
    rn_ptask t[7];
    for (int i = 0; i < 7; i++) {
        rn_plan_task(&plan, i, &t[i]);
        CU_ASSERT_EQUAL_FATAL(rn_plan_args(&plan, &t[i]), 0);
    }
    for (int i = 0; i < 6; i++) {
        CU_ASSERT_EQUAL(pt_args_encoded(t[i].args, &bytes, &len), 0);
        most = len > most ? len : most;
    }
    CU_ASSERT_EQUAL(most, rn_task_args_size(&spec->steps[0].tasks[0]));
    CU_ASSERT_EQUAL(pt_args_encoded(t[6].args, &bytes, &len), 0);
    size_t bound = rn_task_args_size(&spec->steps[0].tasks[1]);
    CU_ASSERT(len <= bound && bound <= len + 2 * 7);
    for (int i = 0; i < 7; i++)
        pt_args_destroy(t[i].args);
    rn_plan_free(&plan);
    rn_spec_free(spec);
}

/* Plugins: exactly one of name or path; both must be found. */
static void test_plugin_errors(void)
{
    const char *path = write_spec(
        "plugins.yaml",
        "ptrun: 1\nname: p\nkernels: {n: {path: noop, name: noop}}\n"
        "workersets: [{name: cpu}]\nsteps: [{name: s, tasks: [{kernel: n}]}]\n"
        "plugins:\n"
        "  - {name: csv}\n"
        "  - {name: ../jsonl}\n"
        "  - {path: missing.so}\n"
        "  - {options: {a: 1}}\n"
        "  - {name: jsonl, options: 3}\n");
    CU_ASSERT(try_load(path, NULL, 0) == NULL);
    CU_ASSERT_EQUAL(count_lines(err), 5);
    ASSERT_PREFIX(line_of(err, 0) + strlen(path),
                  ":7:12: plugin 'csv' not found: no csv.so in "
                  "$PTRUN_PLUGIN_PATH (unset) or ");
    ASSERT_STR(line_of(err, 1) + strlen(path),
               ":8:12: plugin name '../jsonl' must be a bare name (use path: "
               "for a file)");
    ASSERT_PREFIX(line_of(err, 2) + strlen(path), ":9:12: cannot read plugin ");
    ASSERT_STR(line_of(err, 3) + strlen(path),
               ":10:5: a plugin takes exactly one of name (a shipped plugin) "
               "or path (a .so file)");
    ASSERT_STR(line_of(err, 4) + strlen(path),
               ":11:28: expected a mapping, got an integer 3");
}

/* Arg conflicts and the sweep/each_worker combination. */
static void test_task_rules(void)
{
    const char *path = write_spec(
        "rules.yaml",
        "ptrun: 1\nname: r\nkernels: {n: {path: noop, name: noop}}\n"
        "workersets: [{name: cpu, workers: 2}]\nsteps:\n  - name: s\n"
        "    tasks:\n"
        "      - {kernel: n, args: {x: 1}, sweep: {x: [1, 2]}}\n"
        "      - {kernel: n, args: {rep: 1}, repeat: 2}\n");
    CU_ASSERT(try_load(path, NULL, 0) == NULL);
    ASSERT_STR(line_of(err, 0) + strlen(path),
               ":8:43: 'x' is both in args and in sweep");
    ASSERT_STR(line_of(err, 1) + strlen(path),
               ":9:45: repeat gives each task the arg 'rep', which args or "
               "sweep already sets");
    path = write_spec(
        "each.yaml",
        "ptrun: 1\nname: r\nkernels: {n: {path: noop, name: noop}}\n"
        "workersets: [{name: cpu, workers: 2}]\nsteps:\n  - name: s\n"
        "    tasks:\n      - {kernel: n, each_worker: true, repeat: 3, "
        "sweep: {x: [1, 2]}}\n");
    rn_spec *s = load(path);
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT(s->steps[0].tasks[0].each_worker);
    rn_spec_free(s);
}

static void test_nul_in_value(void)
{
    expect_error("bad_nul.yaml", "2:7: a NUL character (\\0) is not allowed "
                                 "in a value");
}

/* The plan keeps each task's args encoded only; `ptrun check` shows them
 * as the codec's JSON, made at print time. */
static void test_plan_args_json(void)
{
    rn_spec *spec = load(write_spec(
        "plan.yaml",
        "ptrun: 1\nname: p\nkernels: {echo: {path: @K@/echo.so}}\n"
        "workersets: [{name: w, workers: 2}]\n"
        "steps:\n  - name: s\n    tasks:\n"
        "      - {kernel: echo, args: {a: 1, s: 'x\"rep\":y', l: [1, 2]},\n"
        "         sweep: {b: [1, 2.5, \"t\"]}, repeat: 4}\n"
        "      - {kernel: echo, each_worker: true, repeat: 3}\n"
        "      - {kernel: echo, args: {z: {k: v}}}\n"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
    rn_plan plan;
    char msg[256];
    CU_ASSERT_EQUAL_FATAL(rn_plan_build(spec, NULL, &plan, msg, sizeof msg), 0);
    CU_ASSERT_EQUAL(plan.ntasks, 12 + 6 + 1);
    const uint8_t *bytes;
    size_t len;
    pt_buf js = {0};
    rn_ptask t;
    rn_plan_task(&plan, 5, &t);
    CU_ASSERT_EQUAL_FATAL(rn_plan_args(&plan, &t), 0);
    CU_ASSERT_EQUAL(pt_args_encoded(t.args, &bytes, &len), 0);
    CU_ASSERT_EQUAL(pt_value_to_json(bytes, len, &js), 0);
    pt_args_destroy(t.args);
    CU_ASSERT_STRING_EQUAL((char *)js.data,
                           "{\"a\":1,\"s\":\"x\\\"rep\\\":y\",\"l\":[1,2],"
                           "\"b\":2.5,\"rep\":1}");
    pt_buf_free(&js);
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    rn_plan_print(spec, &plan, out);
    fclose(out);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "  task 5 echo on w priority 0 seed "));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, " args {\"a\":1,\"s\":\"x\\\"rep"
                                        "\\\":y\",\"l\":[1,2],\"b\":2.5,"
                                        "\"rep\":1}\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "[1] priority 0 seed "));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, " args {\"z\":{\"k\":\"v\"}}\n"));
    free(text);
    rn_plan_free(&plan);
    rn_spec_free(spec);
}

/* Task `id`'s args as JSON text (malloc'd), worked out from its id. */
static char *task_json(const rn_plan *plan, int64_t id, rn_ptask *t)
{
    const uint8_t *bytes;
    size_t len;
    pt_buf js = {0};
    rn_plan_task(plan, id, t);
    if (rn_plan_args(plan, t) == 0 &&
        pt_args_encoded(t->args, &bytes, &len) == 0)
        pt_value_to_json(bytes, len, &js);
    pt_args_destroy(t->args);
    t->args = NULL;
    pt_buf_append(&js, "", 1);
    return (char *)js.data;
}

/*
 * The plan is entries and counts; each task is worked out from its id in
 * plan order: sweep points (first axis slowest), then rep, then every
 * worker of every rank (rank 0's first). A plan of 10^8 tasks costs no
 * more, and its last task is as the order says.
 */
static void test_plan_lazy_order(void)
{
    rn_spec *spec = load(write_spec(
        "lazy.yaml",
        "ptrun: 1\nname: p\nkernels: {echo: {path: @K@/echo.so}}\n"
        "workersets: [{name: w, workers: 2}, {name: v, workers: 1}]\n"
        "steps:\n  - name: a\n    tasks:\n"
        "      - {kernel: echo, workerset: v, priority: 3}\n"
        "      - {kernel: echo, sweep: {x: [1, 2], y: [a, b, c]}, repeat: 2,"
        "\n         each_worker: true, tags: [t]}\n"
        "  - name: b\n    tasks:\n"
        "      - {kernel: echo, repeat: 99999000}\n"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
    int workers[] = {2, 1, 3, 1}; /* rank 0: w 2, v 1; rank 1: w 3, v 1 */
    rn_ranks ranks = {2, workers};
    rn_plan plan;
    char msg[256];
    CU_ASSERT_EQUAL_FATAL(rn_plan_build(spec, &ranks, &plan, msg, sizeof msg),
                          0);
    CU_ASSERT_EQUAL(plan.ntasks, 1 + 2 * 3 * 2 * 5 + 99999000);
    CU_ASSERT_EQUAL(plan.step_start[1], 61);
    rn_ptask t;
    char *js = task_json(&plan, 0, &t);
    CU_ASSERT_STRING_EQUAL(js, "{}");
    CU_ASSERT(t.priority == 3 && t.workerset == 1 && t.on == -1);
    free(js);
    int64_t id = 1;
    static const char *const ys[] = {"a", "b", "c"};
    for (int x = 1; x <= 2; x++)
        for (int y = 0; y < 3; y++)
            for (int rep = 0; rep < 2; rep++)
                for (int w = 0; w < 5; w++, id++) {
                    char want[64];
                    snprintf(want, sizeof want,
                             "{\"x\":%d,\"y\":\"%s\",\"rep\":%d}", x, ys[y],
                             rep);
                    js = task_json(&plan, id, &t);
                    CU_ASSERT_STRING_EQUAL(js, want);
                    CU_ASSERT_EQUAL(t.rank, w < 2 ? 0 : 1);
                    CU_ASSERT_EQUAL(t.on, w < 2 ? w : w - 2);
                    CU_ASSERT(t.step == 0 && t.def->ntags == 1);
                    CU_ASSERT_EQUAL(t.seed, pt_task_seed_of(spec->seed, id));
                    free(js);
                }
    js = task_json(&plan, plan.ntasks - 1, &t);
    CU_ASSERT_STRING_EQUAL(js, "{\"rep\":99998999}");
    CU_ASSERT_EQUAL(t.step, 1);
    free(js);
    rn_plan_free(&plan);
    rn_spec_free(spec);
}

/*
 * A sweep-less entry's args are encoded once, `rep` patched in per task,
 * into args reused from the task before: the same bytes as made afresh,
 * for args large (made the long way) or small, with or without `rep`.
 */
static void test_plan_args_reused(void)
{
    char big[400];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    char text[1024];
    snprintf(text, sizeof text,
             "ptrun: 1\nname: p\nkernels: {echo: {path: @K@/echo.so}}\n"
             "workersets: [{name: w, workers: 2}]\n"
             "steps:\n  - name: s\n    tasks:\n"
             "      - {kernel: echo, args: {a: 1, l: [2.5]}, repeat: 3}\n"
             "      - {kernel: echo, args: {b: %s}, repeat: 2}\n"
             "      - {kernel: echo, args: {c: true}}\n",
             big);
    rn_spec *spec = load(write_spec("reuse.yaml", text));
    CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
    rn_plan plan;
    char msg[256];
    CU_ASSERT_EQUAL_FATAL(rn_plan_build(spec, NULL, &plan, msg, sizeof msg), 0);
    CU_ASSERT_EQUAL_FATAL(plan.ntasks, 6);
    pt_args *prev = NULL;
    pt_buf scratch = {0};
    for (int64_t id = 0; id < plan.ntasks; id++) {
        rn_ptask t, fresh;
        char *want = task_json(&plan, id, &fresh);
        rn_plan_task(&plan, id, &t);
        CU_ASSERT_EQUAL_FATAL(
            rn_plan_args_reuse(&plan, &t, prev, id % 2 ? &scratch : NULL), 0);
        CU_ASSERT(!prev || t.args == prev); /* its memory reused */
        /* the scratch got the memory the args held: empty, not freed */
        CU_ASSERT(!(id % 2) || (scratch.len == 0 && scratch.data));
        const uint8_t *bytes;
        size_t len;
        pt_buf js = {0};
        CU_ASSERT_EQUAL(pt_args_encoded(t.args, &bytes, &len), 0);
        CU_ASSERT_EQUAL(pt_value_to_json(bytes, len, &js), 0);
        pt_buf_append(&js, "", 1);
        CU_ASSERT_STRING_EQUAL((char *)js.data, want);
        pt_buf_free(&js);
        free(want);
        prev = t.args;
    }
    pt_args_destroy(prev);
    pt_buf_free(&scratch);
    char *js = task_json(&plan, 2, &(rn_ptask){0});
    CU_ASSERT_STRING_EQUAL(js, "{\"a\":1,\"l\":[2.5],\"rep\":2}");
    free(js);
    js = task_json(&plan, 5, &(rn_ptask){0});
    CU_ASSERT_STRING_EQUAL(js, "{\"c\":true}");
    free(js);
    rn_plan_free(&plan);
    rn_spec_free(spec);
}

static const pt_test_case cases[] = {
    {"plan_args_json", test_plan_args_json, 0},
    {"plan_args_reused", test_plan_args_reused, 0},
    {"plan_lazy_order", test_plan_lazy_order, 0},
    {"full_spec", test_full_spec, 0},
    {"defaults", test_defaults, 0},
    {"default_plugin_builtin", test_default_plugin_builtin, 0},
    {"workers_auto", test_workers_auto, 0},
    {"anchors_merge", test_anchors_merge, 0},
    {"merge_errors", test_merge_errors, 0},
    {"recursive_alias", test_recursive_alias, 0},
    {"alias_bomb", test_alias_bomb, 0},
    {"alias_bytes", test_alias_bytes, 0},
    {"merge_bytes", test_merge_bytes, 0},
    {"syntax_error", test_syntax_error, 0},
    {"empty_and_two_documents", test_empty_and_two_documents, 0},
    {"wrong_type", test_wrong_type, 0},
    {"missing_key", test_missing_key, 0},
    {"unknown_key", test_unknown_key, 0},
    {"unknown_key_first", test_unknown_key_first, 0},
    {"kernel_so_errors", test_kernel_so_errors, 0},
    {"kernel_no_symbol", test_kernel_no_symbol, 0},
    {"unknown_names", test_unknown_names, 0},
    {"workers_zero_and_max", test_workers_zero_and_max, 0},
    {"duplicates", test_duplicates, 0},
    {"bad_duration", test_bad_duration, 0},
    {"on_out_of_range", test_on_out_of_range, 0},
    {"segment_too_large", test_segment_too_large, 0},
    {"segments_too_large_together", test_segments_too_large_together, 0},
    {"dims_overflow", test_dims_overflow, 0},
    {"npy_mismatch", test_npy_mismatch, 0},
    {"segment_errors", test_segment_errors, 0},
    {"absurd_task_count", test_absurd_task_count, 0},
    {"many_errors", test_many_errors, 0},
    {"error_cap", test_error_cap, 0},
    {"set_scalars", test_set_scalars, 0},
    {"set_item_by_later_name", test_set_item_by_later_name, 0},
    {"set_errors", test_set_errors, 0},
    {"set_value_checked", test_set_value_checked, 0},
    {"resolved_yaml_reloads", test_resolved_yaml_reloads, 0},
    {"scalar_types", test_scalar_types, 0},
    {"int_out_of_range", test_int_out_of_range, 0},
    {"set_int_out_of_range", test_set_int_out_of_range, 0},
    {"args_too_large", test_args_too_large, 120},
    {"args_size_exact", test_args_size_exact, 0},
    {"task_rules", test_task_rules, 0},
    {"plugin_errors", test_plugin_errors, 0},
    {"a NUL inside a value is refused", test_nul_in_value, 0},
    {NULL, NULL, 0},
};

int main(int argc, char **argv)
{
    return pt_test_main("spec", cases, argc, argv);
}
