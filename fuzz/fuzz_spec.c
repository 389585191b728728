/*
 * fuzz_spec.c - libFuzzer target over rn_spec_load(): the YAML reader, the
 * --set overrides and the spec checks, and on success the resolved YAML,
 * which must load again to the same spec (it is what a run folder keeps
 * and `ptrun run` of that folder reads back).
 *
 * Each input is written to spec.yaml in a private folder made once under
 * /tmp. A line of the input starting with "#set " (a YAML comment) is also
 * passed as one --set argument, the rest of the line, so that the override
 * paths are explored too (at most MAX_SETS of them).
 *
 * With $FUZZ_VERBOSE set, each input's outcome is printed (the error text,
 * or the resolved YAML).
 *
 * Kernels: the spec check dlopens every kernel a spec names, and an input
 * may name any file on the system (/usr/lib/.../libfoo.so.1, or a path
 * spelt with YAML escapes so that no ".so" shows in the input). Loading
 * arbitrary libraries would run their constructors in the fuzzer, so this
 * file defines dlopen() itself: it refuses every file but the shipped
 * kernels (FUZZ_KERNELS, from the build), which are opened once at start
 * and kept open, so that a spec's dlopen of one is only a reference count.
 * $PTRUN_KERNEL_PATH and the search dirs name a folder that holds links to
 * those kernels only; plugins are empty placeholder files (the spec check
 * only looks for them, it never loads them).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spec/spec.h"

#define MAX_SETS 4
#define MAX_KERNELS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_dir[] = "/tmp/ptools-fuzz-spec-XXXXXX";
static char g_path[PATH_MAX];     /* the input, as a spec file */
static char g_resolved[PATH_MAX]; /* a loaded spec's resolved YAML */
static char g_kernel_dir[PATH_MAX];
static char g_plugin_dir[PATH_MAX];
static char *g_kernels[MAX_KERNELS]; /* real paths of the shipped kernels */
static void *g_pinned[MAX_KERNELS];  /* their handles, never closed */
static int g_nkernels;
static bool g_verbose;

/* The dlopen() every caller in this program gets: see the top comment. */
void *dlopen(const char *file, int mode)
{
    static void *(*real)(const char *, int);
    if (!real)
        real = (void *(*)(const char *, int))dlsym(RTLD_NEXT, "dlopen");
    if (!file)
        return real(file, mode);
    for (int i = 0; i < g_nkernels; i++)
        if (strcmp(file, g_kernels[i]) == 0)
            return real(file, mode);
    return NULL;
}

static void die(const char *what, const char *arg)
{
    fprintf(stderr, "fuzz_spec: %s %s: %s\n", what, arg, strerror(errno));
    abort();
}

static void join(char *out, const char *dir, const char *name)
{
    if (snprintf(out, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX) {
        errno = ENAMETOOLONG;
        die("path too long:", name);
    }
}

static void make_dir(char *out, const char *name)
{
    join(out, g_dir, name);
    if (mkdir(out, 0700) < 0)
        die("cannot create", out);
}

static void write_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        die("cannot create", path);
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            die("cannot write", path);
        p = (const char *)p + w;
        n -= (size_t)w;
    }
    close(fd);
}

/* Link a shipped kernel into the kernel folder and keep it open. */
static void add_kernel(const char *so)
{
    char link[PATH_MAX];
    const char *base = strrchr(so, '/');
    char *real = realpath(so, NULL);
    if (!real || g_nkernels == MAX_KERNELS)
        die("cannot use kernel", so);
    join(link, g_kernel_dir, base ? base + 1 : so);
    if (symlink(real, link) < 0)
        die("cannot link", link);
    g_kernels[g_nkernels++] = real;
    if (!(g_pinned[g_nkernels - 1] = dlopen(real, RTLD_NOW | RTLD_LOCAL))) {
        fprintf(stderr, "fuzz_spec: cannot load %s: %s\n", real, dlerror());
        abort();
    }
}

static void remove_all(void)
{
    char p[PATH_MAX];
    for (int i = 0; i < g_nkernels; i++) {
        const char *base = strrchr(g_kernels[i], '/');
        join(p, g_kernel_dir, base ? base + 1 : g_kernels[i]);
        unlink(p);
    }
    join(p, g_plugin_dir, "jsonl.so");
    unlink(p);
    join(p, g_plugin_dir, "csv.so");
    unlink(p);
    unlink(g_path);
    unlink(g_resolved);
    rmdir(g_kernel_dir);
    rmdir(g_plugin_dir);
    rmdir(g_dir);
}

/* The private folder, the kernel and plugin folders, the environment. */
static void setup(void)
{
    char list[] = FUZZ_KERNELS, *save = NULL, p[PATH_MAX];
    if (!mkdtemp(g_dir))
        die("cannot create", g_dir);
    make_dir(g_kernel_dir, "kernels");
    make_dir(g_plugin_dir, "plugins");
    atexit(remove_all);
    for (char *so = strtok_r(list, ":", &save); so;
         so = strtok_r(NULL, ":", &save))
        add_kernel(so);
    join(p, g_plugin_dir, "jsonl.so");
    write_file(p, "", 0);
    join(p, g_plugin_dir, "csv.so");
    write_file(p, "", 0);
    g_verbose = getenv("FUZZ_VERBOSE") != NULL;
    join(g_path, g_dir, "spec.yaml");
    join(g_resolved, g_dir, "resolved.yaml");
    if (setenv("PTRUN_KERNEL_PATH", g_kernel_dir, 1) < 0 ||
        setenv("PTRUN_PLUGIN_PATH", g_plugin_dir, 1) < 0)
        die("cannot set", "PTRUN_*_PATH");
}

/*
 * Copy the rest of each "#set " line into `buf` (NUL-separated) and point
 * sets[] at them: their count.
 */
static int find_sets(const uint8_t *data, size_t size, char *buf,
                     const char *sets[MAX_SETS])
{
    int n = 0;
    for (size_t i = 0; i + 5 <= size && n < MAX_SETS; i++) {
        if ((i && data[i - 1] != '\n') || memcmp(data + i, "#set ", 5))
            continue;
        size_t start = i + 5, end = start;
        while (end < size && data[end] != '\n' && data[end] != '\0')
            end++;
        memcpy(buf, data + start, end - start);
        buf[end - start] = '\0';
        sets[n++] = buf;
        buf += end - start + 1;
        i = end;
    }
    return n;
}

static bool same_str(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static bool same_real(double a, double b)
{
    return a == b || (isnan(a) && isnan(b));
}

static bool same_value(const rn_value *a, const rn_value *b)
{
    if (a->type != b->type || a->n != b->n)
        return false;
    switch (a->type) {
    case RN_BOOL: return a->b == b->b;
    case RN_INT: return a->i == b->i;
    case RN_REAL: return same_real(a->r, b->r);
    case RN_STR: return same_str(a->s, b->s);
    case RN_LIST:
    case RN_MAP:
        for (size_t i = 0; i < a->n; i++)
            if ((a->type == RN_MAP && !same_str(a->keys[i], b->keys[i])) ||
                !same_value(&a->items[i], &b->items[i]))
                return false;
        return true;
    default: return true;
    }
}

/* Two arrays of items, equal in number and pairwise by `same`. */
static bool same_items(const void *a, int na, const void *b, int nb,
                       size_t size, bool (*same)(const void *, const void *))
{
    if (na != nb)
        return false;
    for (int i = 0; i < na; i++)
        if (!same((const char *)a + i * size, (const char *)b + i * size))
            return false;
    return true;
}

static bool same_segment(const void *pa, const void *pb)
{
    const rn_segment *a = pa, *b = pb;
    return same_str(a->name, b->name) && a->type == b->type &&
           a->ndims == b->ndims &&
           memcmp(a->dims, b->dims, sizeof a->dims) == 0 &&
           a->init == b->init && same_real(a->fill, b->fill) &&
           same_str(a->npy, b->npy) && a->save == b->save &&
           a->named == b->named;
}

static bool same_kernel(const void *pa, const void *pb)
{
    const rn_kernel *a = pa, *b = pb;
    return same_str(a->name, b->name) && same_str(a->path, b->path) &&
           same_str(a->symbol, b->symbol);
}

static bool same_workerset(const void *pa, const void *pb)
{
    const rn_workerset *a = pa, *b = pb;
    return same_str(a->name, b->name) && a->workers == b->workers &&
           a->workers_auto == b->workers_auto && a->mode == b->mode &&
           a->timeout_ms == b->timeout_ms && a->retries == b->retries &&
           a->retry_failed == b->retry_failed && a->window == b->window;
}

static bool same_task(const void *pa, const void *pb)
{
    const rn_task *a = pa, *b = pb;
    if (a->kernel != b->kernel || a->workerset != b->workerset ||
        a->priority != b->priority || !same_value(&a->args, &b->args) ||
        a->repeat != b->repeat || a->has_repeat != b->has_repeat ||
        a->nsweep != b->nsweep || a->each_worker != b->each_worker ||
        a->on != b->on)
        return false;
    for (int i = 0; i < a->nsweep; i++)
        if (!same_str(a->sweep[i].key, b->sweep[i].key) ||
            !same_value(&a->sweep[i].values, &b->sweep[i].values))
            return false;
    return true;
}

static bool same_step(const void *pa, const void *pb)
{
    const rn_step *a = pa, *b = pb;
    return same_str(a->name, b->name) &&
           same_items(a->tasks, a->ntasks, b->tasks, b->ntasks,
                      sizeof *a->tasks, same_task);
}

static bool same_plugin(const void *pa, const void *pb)
{
    const rn_plugin *a = pa, *b = pb;
    return same_str(a->name, b->name) && same_str(a->path, b->path) &&
           same_value(&a->options, &b->options);
}

/* Everything but positions and file names: the spec as it would run. */
static bool same_spec(const rn_spec *a, const rn_spec *b)
{
    return a->version == b->version && same_str(a->name, b->name) &&
           a->seed == b->seed && same_str(a->shm_prefix, b->shm_prefix) &&
           same_items(a->segments, a->nsegments, b->segments, b->nsegments,
                      sizeof *a->segments, same_segment) &&
           same_items(a->kernels, a->nkernels, b->kernels, b->nkernels,
                      sizeof *a->kernels, same_kernel) &&
           same_items(a->workersets, a->nworkersets, b->workersets,
                      b->nworkersets, sizeof *a->workersets, same_workerset) &&
           same_items(a->steps, a->nsteps, b->steps, b->nsteps,
                      sizeof *a->steps, same_step) &&
           same_items(a->plugins, a->nplugins, b->plugins, b->nplugins,
                      sizeof *a->plugins, same_plugin) &&
           same_str(a->resolved_yaml, b->resolved_yaml);
}

/*
 * A loaded spec's resolved YAML must load again, to the same spec and the
 * same resolved YAML.
 */
static void check_resolved(const rn_spec *spec, const rn_search *search)
{
    char err[4096];
    write_file(g_resolved, spec->resolved_yaml, strlen(spec->resolved_yaml));
    rn_spec *again = rn_spec_load(g_resolved, NULL, 0, search, err, sizeof err);
    if (!again) {
        fprintf(stderr,
                "fuzz_spec: the resolved YAML does not load:\n%s\n"
                "---\n%s---\n",
                err, spec->resolved_yaml);
        abort();
    }
    if (!same_spec(spec, again)) {
        fprintf(stderr,
                "fuzz_spec: the resolved YAML loads to another spec:"
                "\n%s---\n%s---\n",
                spec->resolved_yaml, again->resolved_yaml);
        abort();
    }
    rn_spec_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    const char *sets[MAX_SETS];
    char err[4096];
    if (!ready) {
        setup();
        ready = true;
    }
    char *setbuf = malloc(size + 1);
    if (!setbuf)
        return 0;
    int nsets = find_sets(data, size, setbuf, sets);
    rn_search search = {g_kernel_dir, g_plugin_dir};
    write_file(g_path, data, size);
    rn_spec *spec = rn_spec_load(g_path, sets, nsets, &search, err, sizeof err);
    if (g_verbose)
        fprintf(stderr, "%s\n", spec ? spec->resolved_yaml : err);
    if (spec)
        check_resolved(spec, &search);
    rn_spec_free(spec);
    free(setbuf);
    return 0;
}
