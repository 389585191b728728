/*
 * spec_check.c - build an rn_spec from the YAML tree and check it against
 * SPEC §4: the header (ptrun, name, seed) and plugins; kernels are in
 * spec_kernels.c, worker sets in spec_sets.c, shm segments in spec_shm.c,
 * steps and tasks in spec_tasks.c. Every problem becomes a diagnostic; nothing
 * stops early. Kernel and plugin .so files are loaded in a child (probe.h),
 * never here.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spec/probe.h"
#include "spec/spec_check.h"

void rn_wrong_type(rn_build *b, const rn_ynode *n, const char *want)
{
    char got[96];
    rn_ydescribe(n, got, sizeof got);
    rn_diag_at(b->d, n, "expected %s, got %s", want, got);
}

bool rn_oom_at(rn_build *b, const rn_ynode *n)
{
    rn_diag_at(b->d, n, "out of memory");
    return false;
}

void rn_hint(const char *word, const char *const *names, size_t n,
             const char *noun, char *buf, size_t size)
{
    const char *close = rn_closest(word, names, n);
    if (close) {
        snprintf(buf, size, "did you mean '%s'?", close);
        return;
    }
    size_t off = (size_t)snprintf(buf, size, "%s:", noun);
    for (size_t i = 0; i < n && off < size; i++)
        if (names[i])
            off += (size_t)snprintf(buf + off, size - off, "%s %s",
                                    i ? "," : "", names[i]);
}

/* An unknown key of a mapping of schema s, with a hint from its keys. */
static void unknown_key(rn_build *b, const rn_yentry *e, const rn_schema *s)
{
    const char *names[16];
    size_t n = 0;
    char hint[256];
    for (const rn_skey *k = s->keys; k->name && n < 16; k++)
        names[n++] = k->name;
    rn_hint(e->key, names, n, "known keys", hint, sizeof hint);
    rn_diag_add(b->d, e->kpos, NULL, 0, "unknown key '%s' (%s)", e->key, hint);
}

bool rn_check_map(rn_build *b, const rn_ynode *n, const rn_schema *s)
{
    if (n->kind != RN_Y_MAP) {
        rn_wrong_type(b, n, "a mapping");
        return false;
    }
    for (size_t i = 0; i < n->n; i++)
        if (!rn_schema_key(s, n->e[i].key))
            unknown_key(b, &n->e[i], s);
    for (const rn_skey *k = s->keys; k->name; k++)
        if (k->required && !rn_ymap_get(n, k->name))
            rn_diag_at(b->d, n, "missing key '%s'", k->name);
    return true;
}

bool rn_check_list(rn_build *b, const rn_ynode *n, const char *what,
                   bool nonempty)
{
    if (n->kind != RN_Y_SEQ) {
        rn_wrong_type(b, n, "a list");
        return false;
    }
    if (nonempty && n->n == 0) {
        rn_diag_at(b->d, n, "%s must not be empty", what);
        return false;
    }
    return true;
}

bool rn_get_int(rn_build *b, const rn_ynode *n, const char *key, int64_t lo,
                int64_t hi, int64_t *out)
{
    rn_value v = {.type = RN_NULL};
    if (n->kind == RN_Y_SCALAR)
        rn_yscalar(n, &v);
    if (v.type != RN_INT || n->kind != RN_Y_SCALAR) {
        rn_wrong_type(b, n, "an integer");
        return false;
    }
    if (v.i < lo || v.i > hi) {
        rn_diag_at(b->d, n, "%s must be at %s %" PRId64 ", got %" PRId64, key,
                   v.i < lo ? "least" : "most", v.i < lo ? lo : hi, v.i);
        return false;
    }
    *out = v.i;
    return true;
}

bool rn_get_bool(rn_build *b, const rn_ynode *n, bool *out)
{
    rn_value v = {.type = RN_NULL};
    if (n->kind == RN_Y_SCALAR)
        rn_yscalar(n, &v);
    if (v.type != RN_BOOL || n->kind != RN_Y_SCALAR) {
        rn_wrong_type(b, n, "true or false");
        return false;
    }
    *out = v.b;
    return true;
}

bool rn_get_text(rn_build *b, const rn_ynode *n, const char **out)
{
    rn_value v = {.type = RN_NULL};
    if (n->kind == RN_Y_SCALAR)
        rn_yscalar(n, &v);
    if (n->kind != RN_Y_SCALAR || v.type == RN_NULL) {
        rn_wrong_type(b, n, "a string");
        return false;
    }
    if (!n->text[0]) {
        rn_diag_at(b->d, n, "expected a string, got an empty one");
        return false;
    }
    *out = n->text;
    return true;
}

bool rn_get_str(rn_build *b, const rn_ynode *n, char **out)
{
    const char *t;
    if (!rn_get_text(b, n, &t))
        return false;
    return (*out = strdup(t)) ? true : rn_oom_at(b, n);
}

bool rn_get_map_value(rn_build *b, const rn_ynode *map, const char *key,
                      rn_value *out)
{
    const rn_ynode *n = rn_ymap_get(map, key);
    *out = (rn_value){.type = RN_MAP, .pos = map->pos};
    if (!n)
        return true;
    if (n->kind != RN_Y_MAP) {
        rn_wrong_type(b, n, "a mapping");
        return false;
    }
    if (rn_value_from(n, out) < 0)
        return rn_oom_at(b, n);
    return true;
}

bool rn_get_name(rn_build *b, const rn_ynode *n, char **out)
{
    const char *t;
    if (!rn_get_text(b, n, &t))
        return false;
    size_t len = strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVW"
                           "XYZ0123456789_-");
    if (t[len] || len > RN_NAME_MAX) {
        rn_diag_at(b->d, n,
                   "'%s' is not a valid name: use 1 to %d letters, "
                   "digits, '_' or '-'",
                   t, RN_NAME_MAX);
        return false;
    }
    return (*out = strdup(t)) ? true : rn_oom_at(b, n);
}

/* seed: an integer in 0 .. 2^64-1 (beyond int64 it reads as a real). */
static void get_seed(rn_build *b, const rn_ynode *n, uint64_t *out)
{
    rn_value v = {.type = RN_NULL};
    if (n->kind == RN_Y_SCALAR)
        rn_yscalar(n, &v);
    if (v.type == RN_INT && v.i >= 0) {
        *out = (uint64_t)v.i;
        return;
    }
    if (v.type == RN_INT) {
        rn_diag_at(b->d, n, "seed must be at least 0, got %" PRId64, v.i);
        return;
    }
    const char *t = n->kind == RN_Y_SCALAR ? n->text : "";
    if (v.type == RN_REAL && t[0] && strspn(t, "0123456789") == strlen(t)) {
        errno = 0;
        unsigned long long u = strtoull(t, NULL, 10);
        if (errno != ERANGE) {
            *out = u;
            return;
        }
        rn_diag_at(b->d, n, "seed must be below 2^64, got %s", t);
        return;
    }
    rn_wrong_type(b, n, "an integer");
}

static void build_header(rn_build *b, const rn_ynode *root)
{
    const rn_ynode *n;
    int64_t v;
    if ((n = rn_ymap_get(root, "ptrun")) &&
        rn_get_int(b, n, "ptrun", INT64_MIN, INT64_MAX, &v)) {
        if (v != 1)
            rn_diag_at(b->d, n,
                       "unsupported ptrun: %" PRId64 " (this "
                       "ptrun reads version 1)",
                       v);
        b->spec->version = (int)v;
    }
    if ((n = rn_ymap_get(root, "name")))
        rn_get_name(b, n, &b->spec->name);
    if ((n = rn_ymap_get(root, "seed")))
        get_seed(b, n, &b->spec->seed);
}

int rn_plugin_probe(rn_plugin *p, const char *label, char *msg, size_t size)
{
    rn_probe pr;
    char why[512];
    pt_buf opts = {0};
    int rc = rn_value_encode(&opts, &p->options);
    if (rc < 0) {
        snprintf(msg, size, "%s: its options: %s", label, pt_strerror(rc));
        return -EIO;
    }
    rc = rn_probe_plugin_open(p->path, opts.data, opts.len, &pr);
    pt_buf_free(&opts);
    p->probed = rc == 0;
    if (rc < 0 && rn_probe_why(&pr, why, sizeof why))
        snprintf(msg, size, "%s: %s", label, why);
    else if (rc == -EDOM) /* it loaded, and refused its options */
        snprintf(msg, size, "%s", pr.options_error);
    else if (rc < 0) /* it loaded, and the child said what is wrong */
        snprintf(msg, size, "%s", pr.error);
    bool failed = pr.how == RN_PROBE_FAILED; /* no probe could run */
    rn_probe_free(&pr);
    return rc == 0 || rc == -EDOM ? rc : failed ? -EIO : -EINVAL;
}

/* Probe plugin p; problems go at `at`, or to the file for the default. */
static void probe_plugin(rn_build *b, rn_plugin *p, const rn_ynode *at,
                         const char *given)
{
    char label[512], msg[1024];
    snprintf(label, sizeof label, "%splugin '%s'", at ? "" : "default ", given);
    int rc = rn_plugin_probe(p, label, msg, sizeof msg);
    b->d->runtime += rc == -EIO; /* not the spec's fault */
    if (rc == -EDOM && at)       /* the options' fault: point at them */
        rn_diag_add(b->d, p->options.pos, at->set, at->set_index, "%s", msg);
    else if (rc < 0)
        rn_diag_add(b->d, at ? at->pos : (rn_pos){0, 0}, at ? at->set : NULL,
                    at ? at->set_index : 0, "%s", msg);
}

/* A shipped plugin by name, looked up like a bare kernel name. */
static void find_plugin(rn_build *b, rn_plugin *p, const rn_ynode *at)
{
    char *tried = NULL;
    const char *dir = b->search ? b->search->plugin_dir : NULL;
    if (strchr(p->name, '/') || strstr(p->name, ".so")) {
        rn_diag_at(b->d, at,
                   "plugin name '%s' must be a bare name (use "
                   "path: for a file)",
                   p->name);
        return;
    }
    p->path = rn_find_so(p->name, b->spec->dir, "PTRUN_PLUGIN_PATH", dir,
                         &tried);
    if (!p->path && tried)
        rn_diag_add(b->d, at ? at->pos : (rn_pos){0, 0}, at ? at->set : NULL,
                    at ? at->set_index : 0,
                    "%splugin '%s' not found: no "
                    "%s.so in %s",
                    at ? "" : "default ", p->name, p->name, tried);
    else if (!p->path)
        rn_diag_add(b->d, (rn_pos){0, 0}, NULL, 0, "out of memory");
    else
        probe_plugin(b, p, at, p->name);
    free(tried);
}

/* A user plugin by path, relative to the spec's folder. */
static void find_plugin_path(rn_build *b, rn_plugin *p, const rn_ynode *at)
{
    const char *t;
    if (!rn_get_text(b, at, &t))
        return;
    if (!(p->path = rn_resolve_path(t, b->spec->dir))) {
        rn_oom_at(b, at);
        return;
    }
    if (access(p->path, R_OK) < 0)
        rn_diag_at(b->d, at, "cannot read plugin %s: %s", p->path,
                   strerror(errno));
    else
        probe_plugin(b, p, at, t);
}

static void build_plugin(rn_build *b, const rn_ynode *n, rn_plugin *p)
{
    const rn_ynode *name, *path;
    p->pos = n->pos;
    p->options = (rn_value){.type = RN_MAP, .pos = n->pos};
    if (!rn_check_map(b, n, &rn_plugin_schema))
        return;
    rn_get_map_value(b, n, "options", &p->options); /* the probe opens */
    name = rn_ymap_get(n, "name");
    path = rn_ymap_get(n, "path");
    if (!name == !path)
        rn_diag_at(b->d, n,
                   "a plugin takes exactly one of name (a shipped "
                   "plugin) or path (a .so file)");
    else if (name && rn_get_str(b, name, &p->name))
        find_plugin(b, p, name);
    else if (path)
        find_plugin_path(b, p, path);
}

/* Does plugin p write DIR/results.jsonl (a jsonl without `file`, or
 * with that one)? */
static bool writes_results(const rn_plugin *p)
{
    if (!p->name || strcmp(p->name, "jsonl") != 0)
        return false;
    for (size_t i = 0; p->options.type == RN_MAP && i < p->options.n; i++)
        if (strcmp(p->options.keys[i], "file") == 0)
            return p->options.items[i].type == RN_STR &&
                   strcmp(p->options.items[i].s, "results.jsonl") == 0;
    return true;
}

/* The default jsonl plugin (results.jsonl), in slot p: the one built
 * into ptrun (our own code, so nothing to probe), not a jsonl.so. */
static void default_jsonl(rn_build *b, rn_plugin *p)
{
    p->options = (rn_value){.type = RN_MAP};
    p->added = true;
    p->builtin = true;
    p->probed = true;
    if (!(p->name = strdup("jsonl")))
        rn_diag_add(b->d, (rn_pos){0, 0}, NULL, 0, "out of memory");
}

/*
 * `plugins:`, after the default jsonl: results.jsonl is always written
 * (SPEC §5), the listed plugins add outputs. A listed jsonl that writes
 * results.jsonl (with fsync, say) takes the default's place.
 */
static void build_plugins(rn_build *b, const rn_ynode *n)
{
    rn_spec *s = b->spec;
    if (n && !rn_check_list(b, n, "plugins", false))
        return;
    size_t listed = n ? n->n : 0;
    if (!(s->plugins = calloc(listed + 1, sizeof *s->plugins))) {
        rn_diag_add(b->d, (rn_pos){0, 0}, NULL, 0, "out of memory");
        return;
    }
    bool have = false;
    for (size_t i = 0; i < listed; i++) {
        build_plugin(b, n->e[i].val, &s->plugins[i + 1]);
        have |= writes_results(&s->plugins[i + 1]);
    }
    s->nplugins = (int)listed + 1;
    if (!have) {
        default_jsonl(b, &s->plugins[0]);
        return;
    }
    memmove(s->plugins, s->plugins + 1, listed * sizeof *s->plugins);
    memset(&s->plugins[listed], 0, sizeof *s->plugins);
    s->nplugins = (int)listed;
}

void rn_spec_build(rn_spec *spec, rn_ynode *root, const rn_search *search,
                   rn_diags *d)
{
    rn_build b = {.spec = spec, .d = d, .search = search};
    if (!rn_check_map(&b, root, &rn_spec_schema))
        return;
    build_header(&b, root);
    rn_build_shm(&b, rn_ymap_get(root, "shm"));
    rn_build_kernels(&b, rn_ymap_get(root, "kernels"));
    rn_build_workersets(&b, rn_ymap_get(root, "workersets"));
    rn_build_steps(&b, rn_ymap_get(root, "steps"));
    rn_build_halt(&b, rn_ymap_get(root, "halt"), &spec->halt);
    build_plugins(&b, rn_ymap_get(root, "plugins"));
}
