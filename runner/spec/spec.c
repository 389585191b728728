/*
 * spec.c - rn_spec_load(): read the YAML (yaml_tree.c), apply the --set
 * overrides (spec_set.c), build and check the spec (spec_check.c and
 * friends), and keep the resolved spec as YAML text. Also where the files
 * a spec names are looked for.
 *
 * Errors: every stage adds to one list of diagnostics (spec_diag.c); the
 * spec is built only when the YAML read, every --set applied and no
 * integer was out of range, and it is returned only when no problem at
 * all was found. Then the resolved YAML has every file it names made
 * absolute (kernel, npy and plugin paths), so that it runs the same from
 * anywhere (e.g. from the run's output folder).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "spec/spec_internal.h"

char *rn_resolve_path(const char *rel, const char *dir)
{
    while (rel[0] == '.' && rel[1] == '/')
        rel += 2;
    size_t len = strlen(dir) + strlen(rel) + 2;
    char *joined = malloc(len);
    if (!joined)
        return NULL;
    if (rel[0] == '/')
        snprintf(joined, len, "%s", rel);
    else
        snprintf(joined, len, "%s/%s", dir, rel);
    char *real = realpath(joined, NULL);
    if (!real)
        return joined;
    free(joined);
    return real;
}

/* <d>/<name>.so, made real, when it is a regular file; else NULL. */
static char *try_dir(const char *d, size_t dlen, const char *name)
{
    struct stat st;
    char p[PATH_MAX];
    int n = snprintf(p, sizeof p, "%.*s/%s.so", (int)dlen, d, name);
    if (n < 0 || (size_t)n >= sizeof p)
        return NULL;
    if (stat(p, &st) < 0 || !S_ISREG(st.st_mode))
        return NULL;
    return realpath(p, NULL);
}

/* Look for <name>.so in the ':'-separated dirs of `path`, in order. */
static char *search_path(const char *path, const char *name)
{
    while (path && *path) {
        size_t len = strcspn(path, ":");
        char *found = len ? try_dir(path, len, name) : NULL;
        if (found)
            return found;
        path += len + (path[len] == ':');
    }
    return NULL;
}

/* "$ENV (its value) or FALLBACK", for a "not found" message. */
static char *describe_search(const char *env, const char *fallback)
{
    const char *val = getenv(env);
    size_t len = strlen(env) + (val ? strlen(val) : 0) +
                 (fallback ? strlen(fallback) : 0) + 32;
    char *s = malloc(len);
    if (!s)
        return NULL;
    snprintf(s, len, "$%s (%s)%s%s", env, val && *val ? val : "unset",
             fallback ? " or " : "", fallback ? fallback : "");
    return s;
}

char *rn_find_so(const char *given, const char *dir, const char *env,
                 const char *fallback, char **tried)
{
    size_t len = strlen(given);
    *tried = NULL;
    if (strchr(given, '/') || (len > 3 && !strcmp(given + len - 3, ".so")))
        return rn_resolve_path(given, dir);
    char *found = search_path(getenv(env), given);
    if (!found && fallback)
        found = try_dir(fallback, strlen(fallback), given);
    if (!found) {
        *tried = describe_search(env, fallback);
        errno = ENOENT;
    }
    return found;
}

static void free_segments(rn_spec *s)
{
    for (int i = 0; i < s->nsegments; i++) {
        free(s->segments[i].name);
        free(s->segments[i].npy);
    }
    free(s->segments);
}

static void free_kernels(rn_spec *s)
{
    for (int i = 0; i < s->nkernels; i++) {
        free(s->kernels[i].name);
        free(s->kernels[i].path);
        free(s->kernels[i].symbol);
        rn_kparams_free(&s->kernels[i].params);
    }
    free(s->kernels);
}

static void free_steps(rn_spec *s)
{
    for (int i = 0; i < s->nsteps; i++) {
        rn_step *st = &s->steps[i];
        for (int j = 0; j < st->ntasks; j++) {
            rn_task *t = &st->tasks[j];
            rn_value_clear(&t->args);
            for (int k = 0; k < t->nsweep; k++) {
                free(t->sweep[k].key);
                rn_value_clear(&t->sweep[k].values);
            }
            free(t->sweep);
            for (int k = 0; k < t->ntags; k++)
                free(t->tags[k]);
            free(t->tags);
        }
        free(st->tasks);
        free(st->name);
    }
    free(s->steps);
}

void rn_spec_free(rn_spec *spec)
{
    if (!spec)
        return;
    free_segments(spec);
    free_kernels(spec);
    for (int i = 0; i < spec->nworkersets; i++)
        free(spec->workersets[i].name);
    free(spec->workersets);
    free_steps(spec);
    for (int i = 0; i < spec->nplugins; i++) {
        free(spec->plugins[i].name);
        free(spec->plugins[i].path);
        rn_value_clear(&spec->plugins[i].options);
    }
    free(spec->plugins);
    free(spec->file);
    free(spec->dir);
    free(spec->name);
    free(spec->shm_prefix);
    free(spec->resolved_yaml);
    free(spec);
}

/* The options {key: value}: 0 or -ENOMEM. */
static int one_option(rn_value *v, const char *key, const char *value)
{
    *v = (rn_value){.type = RN_MAP, .n = 1};
    v->keys = calloc(1, sizeof *v->keys);
    v->items = calloc(1, sizeof *v->items);
    if (v->keys && v->items) {
        v->keys[0] = strdup(key);
        v->items[0] = (rn_value){.type = RN_STR, .s = strdup(value)};
    }
    if (!v->keys || !v->items || !v->keys[0] || !v->items[0].s) {
        rn_value_clear(v);
        return -ENOMEM;
    }
    return 0;
}

int rn_spec_add_plugin(rn_spec *spec, const char *name, const char *key,
                       const char *value, const rn_search *search, char *err,
                       size_t errlen)
{
    char *tried = NULL, label[300];
    rn_plugin p = {.name = strdup(name), .added = true};
    snprintf(label, sizeof label, "plugin '%s'", name);
    p.path = rn_find_so(name, spec->dir, "PTRUN_PLUGIN_PATH",
                        search ? search->plugin_dir : NULL, &tried);
    int rc = !p.path && tried ? -ENOENT : 0;
    if (rc < 0)
        snprintf(err, errlen, "plugin '%s' not found: no %s.so in %s", name,
                 name, tried);
    else if (!p.name || !p.path || one_option(&p.options, key, value) < 0)
        rc = -ENOMEM;
    else
        rc = rn_plugin_probe(&p, label, err, errlen);
    rn_plugin *all = rc == 0
                         ? realloc(spec->plugins,
                                   (size_t)(spec->nplugins + 1) * sizeof *all)
                         : NULL;
    if (rc == 0 && !all)
        rc = -ENOMEM;
    if (rc == -ENOMEM)
        snprintf(err, errlen, "out of memory");
    free(tried);
    if (rc < 0) {
        free(p.name);
        free(p.path);
        rn_value_clear(&p.options);
        return rc;
    }
    spec->plugins = all;
    spec->plugins[spec->nplugins++] = p;
    return 0;
}

/* An empty spec that knows its file and folder ("." when none). */
static rn_spec *new_spec(const char *file)
{
    rn_spec *s = calloc(1, sizeof *s);
    const char *slash = strrchr(file, '/');
    if (!s)
        return NULL;
    s->file = strdup(file);
    s->dir = !slash          ? strdup(".")
             : slash == file ? strdup("/")
                             : strndup(file, (size_t)(slash - file));
    if (!s->file || !s->dir) {
        rn_spec_free(s);
        return NULL;
    }
    return s;
}

/* Replace scalar n's text (a path) with `text`: 0 or -ENOMEM. */
static int patch(rn_ynode *n, const char *text)
{
    char *t;
    if (!n || n->kind != RN_Y_SCALAR || !text)
        return 0;
    if (!(t = strdup(text)))
        return -ENOMEM;
    free(n->text);
    n->text = t;
    n->quoted = true;
    return 0;
}

/*
 * Give each glob and lines generator of the axes map n (sweep or zip) the
 * `dir` it is relative to, absolute, unless it has one: the run's
 * job.yaml, elsewhere, must read the same files.
 */
static int patch_axes(rn_ynode *n, const char *dir)
{
    for (size_t i = 0; n && n->kind == RN_Y_MAP && i < n->n; i++) {
        rn_ynode *gen = n->e[i].val, *d;
        if ((!rn_ymap_get(gen, "glob") && !rn_ymap_get(gen, "lines")) ||
            rn_ymap_get(gen, "dir"))
            continue;
        if (!(d = rn_ynode_scalar(dir, true, gen->pos)))
            return -ENOMEM;
        if (rn_ynode_append(gen, "dir", gen->pos, d) < 0) {
            rn_ynode_free(d);
            return -ENOMEM;
        }
    }
    return 0;
}

/* patch_axes() for every task of every step. */
static int patch_generators(const rn_spec *s, rn_ynode *root)
{
    rn_ynode *steps = rn_ymap_get(root, "steps");
    char *dir = NULL; /* made real once a task has axes (a readlink per
                         component of the path: none for a plain job) */
    int rc = 0;
    for (size_t i = 0; !rc && steps && i < steps->n; i++) {
        rn_ynode *tasks = rn_ymap_get(steps->e[i].val, "tasks");
        for (size_t k = 0; !rc && tasks && k < tasks->n; k++) {
            rn_ynode *zip = rn_ymap_get(tasks->e[k].val, "zip"),
                     *sweep = rn_ymap_get(tasks->e[k].val, "sweep");
            if ((zip || sweep) && !dir && !(dir = realpath(s->dir, NULL)))
                rc = -errno;
            if (!rc)
                rc = patch_axes(zip, dir);
            if (!rc)
                rc = patch_axes(sweep, dir);
        }
    }
    free(dir);
    return rc;
}

/* Write the resolved paths of kernels, npy inputs, plugins and file
 * generators in the tree. */
static int patch_paths(const rn_spec *s, rn_ynode *root)
{
    rn_ynode *kernels = rn_ymap_get(root, "kernels");
    rn_ynode *segs = rn_ymap_get(rn_ymap_get(root, "shm"), "segments");
    rn_ynode *plugins = rn_ymap_get(root, "plugins");
    int rc = 0;
    for (int i = 0; kernels && i < s->nkernels && !rc; i++)
        rc = patch(rn_ymap_get(kernels->e[i].val, "path"), s->kernels[i].path);
    for (int i = 0; segs && i < s->nsegments && !rc; i++) {
        rn_ynode *init = rn_ymap_get(segs->e[i].val, "init");
        rc = patch(rn_ymap_get(init, "npy"), s->segments[i].npy);
    }
    for (int i = 0, k = 0; plugins && i < s->nplugins && !rc; i++)
        if (!s->plugins[i].added && (size_t)k < plugins->n)
            rc = patch(rn_ymap_get(plugins->e[k++].val, "path"),
                       s->plugins[i].path);
    return rc < 0 ? rc : patch_generators(s, root);
}

/* The spec checked out: keep its resolved YAML. */
static void finish(rn_spec *s, rn_ynode *root, rn_diags *d)
{
    if (patch_paths(s, root) < 0 || !(s->resolved_yaml = rn_yaml_emit(root)))
        rn_diag_add(d, (rn_pos){0, 0}, NULL, 0, "out of memory");
}

/*
 * Report every plain value in the tree that is an integer literal outside
 * int64 (at its line:col, or naming its --set argument): it would
 * otherwise become an inexact real without a word. Keys are names,
 * whatever their digits, and `seed` (0 .. 2^64-1) checks its own range.
 */
static void check_int_ranges(const rn_ynode *n, rn_diags *d, bool root)
{
    char msg[256];
    if (n->kind == RN_Y_SCALAR) {
        if (!n->quoted && rn_yint_range(n->text, msg, sizeof msg))
            rn_diag_at(d, n, "%s", msg);
        return;
    }
    for (size_t i = 0; i < n->n; i++)
        if (!(root && n->kind == RN_Y_MAP && !strcmp(n->e[i].key, "seed")))
            check_int_ranges(n->e[i].val, d, false);
}

rn_spec *rn_spec_load(const char *file, const char *const *sets, int nsets,
                      const rn_search *search, char *err, size_t errlen)
{
    rn_diags d = {0};
    rn_ynode *root = NULL;
    rn_spec *spec = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (rn_yaml_load(file, &d, &root) < 0)
        goto out;
    rn_overrides_apply(root, sets, nsets, &d);
    check_int_ranges(root, &d, true);
    if (rn_diag_count(&d))
        goto out;
    if (!(spec = new_spec(file))) {
        rn_diag_add(&d, (rn_pos){0, 0}, NULL, 0, "out of memory");
        goto out;
    }
    rn_spec_build(spec, root, search, &d);
    if (!rn_diag_count(&d))
        finish(spec, root, &d);
out:
    if (rn_diag_count(&d)) {
        rn_diags_format(&d, file, err, errlen);
        rn_spec_free(spec);
        spec = NULL;
        errno = d.runtime == rn_diag_count(&d) ? EIO : EINVAL;
    }
    rn_ynode_free(root);
    rn_diags_free(&d);
    return spec;
}
