/*
 * spec_set.c - apply `--set PATH=VALUE` overrides to the YAML tree, in
 * order, before the spec is built, so that an overridden value is checked
 * like any other (a problem with it names the --set argument).
 *
 * PATH is dotted: each component is a key of a mapping, or in a list an
 * item by index or by the value of its `name` key (workersets.cpu.workers,
 * steps.0.tasks.1.priority). VALUE reads like a YAML plain scalar (int,
 * float, true/false, null, else string); quotes force a string. A VALUE
 * starting with '[' or '{' is YAML flow syntax, a list or a mapping
 * ([1, 2, 3], {range: [0, 10, 2]}), and replaces whatever the target was.
 * A scalar may replace only a scalar. An absent key is created only where
 * the schema allows it: a scalar where a scalar or any value goes (seed, a
 * worker set's timeout, a task's args), a list or mapping where the schema
 * knows the key (a task's sweep).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec/spec_internal.h"

typedef struct setarg {
    const char *arg; /* as given, for messages */
    int index;
    bool flow; /* VALUE is a YAML flow list or mapping */
    rn_diags *d;
    char where[512]; /* the components walked so far */
} setarg;

static void set_err(const setarg *s, const char *fmt, ...) PT_PRINTF(2, 3);

static void set_err(const setarg *s, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rn_diag_add(s->d, (rn_pos){0, 0}, s->arg, s->index, "%s", msg);
}

static const char *where(const setarg *s)
{
    return s->where[0] ? s->where : "the spec";
}

/* List item `comp`: an index, or the item whose `name` is comp. */
static rn_ynode *seq_child(const setarg *s, rn_ynode *seq, const char *comp)
{
    if (strspn(comp, "0123456789") == strlen(comp)) {
        unsigned long i = strtoul(comp, NULL, 10);
        if (i < seq->n)
            return seq->e[i].val;
    }
    for (size_t i = 0; i < seq->n; i++) {
        const rn_ynode *name = rn_ymap_get(seq->e[i].val, "name");
        if (name && name->kind == RN_Y_SCALAR && !strcmp(name->text, comp))
            return seq->e[i].val;
    }
    set_err(s,
            "no item '%s' in %s (it has %zu: give an index from 0, or "
            "an item's name)",
            comp, where(s), seq->n);
    return NULL;
}

/* May --set create `key` in a mapping of schema s? A scalar only where
 * a scalar (or any value) goes; a flow value wherever the key is known. */
static bool may_create(const rn_schema *s, const char *key, bool flow)
{
    const rn_schema *c = rn_schema_child(s, key);
    return c && (flow || c->kind == RN_S_SCALAR || c->kind == RN_S_ANY);
}

/* "no key 'wrkers' in workersets.cpu (did you mean 'workers'?)" */
static void no_key(const setarg *s, const rn_ynode *map,
                   const rn_schema *schema, const char *key, bool last)
{
    const char *cands[64];
    size_t n = 0;
    for (size_t i = 0; i < map->n && n < 32; i++)
        cands[n++] = map->e[i].key;
    for (const rn_skey *k = schema && schema->kind == RN_S_MAP ? schema->keys
                                                               : NULL;
         k && k->name && n < 64; k++)
        cands[n++] = k->name;
    const char *close = rn_closest(key, cands, n);
    if (close)
        set_err(s, "no key '%s' in %s (did you mean '%s'?)", key, where(s),
                close);
    else if (rn_schema_child(schema, key))
        set_err(s, "no key '%s' in %s (--set creates %s)", key, where(s),
                last ? "it only with a list or mapping value: [...] or {...}"
                     : "the last key of a path only");
    else
        set_err(s, "no key '%s' in %s", key, where(s));
}

/* Add an empty scalar `key` to map: the node, or NULL. */
static rn_ynode *create(const setarg *s, rn_ynode *map, const char *key)
{
    rn_ynode *n = rn_ynode_scalar("", false, (rn_pos){0, 0});
    if (n && rn_ynode_append(map, key, (rn_pos){0, 0}, n) == 0)
        return n;
    rn_ynode_free(n);
    set_err(s, "out of memory");
    return NULL;
}

/* One step down the path from node (of schema `schema`) by `comp`. */
static rn_ynode *step_into(setarg *s, rn_ynode *node, const rn_schema *schema,
                           const char *comp, bool last)
{
    if (node->kind == RN_Y_SEQ)
        return seq_child(s, node, comp);
    if (node->kind == RN_Y_SCALAR) {
        set_err(s, "%s is a scalar: it has no '%s'", where(s), comp);
        return NULL;
    }
    rn_ynode *c = rn_ymap_get(node, comp);
    if (c)
        return c;
    if (last && may_create(schema, comp, s->flow))
        return create(s, node, comp);
    no_key(s, node, schema, comp, last);
    return NULL;
}

/* Follow the dotted path (cut in place): the target node, or NULL. */
static rn_ynode *walk(setarg *s, rn_ynode *root, char *path)
{
    rn_ynode *node = root;
    const rn_schema *schema = &rn_spec_schema;
    for (char *comp = path, *next; comp; comp = next) {
        if ((next = strchr(comp, '.')))
            *next++ = '\0';
        if (!*comp) {
            set_err(s, "empty key in the path");
            return NULL;
        }
        if (!(node = step_into(s, node, schema, comp, !next)))
            return NULL;
        schema = rn_schema_child(schema, comp);
        size_t len = strlen(s->where);
        snprintf(s->where + len, sizeof s->where - len, "%s%s", len ? "." : "",
                 comp);
    }
    return node;
}

/* Put VALUE into scalar n: quotes ("..." or '...') force a string. */
static int set_value(setarg *s, rn_ynode *n, const char *value)
{
    size_t len = strlen(value);
    bool quoted = len >= 2 && (value[0] == '"' || value[0] == '\'') &&
                  value[len - 1] == value[0];
    char *text = quoted ? strndup(value + 1, len - 2) : strdup(value);
    if (!text) {
        set_err(s, "out of memory");
        return -1;
    }
    free(n->text);
    n->text = text;
    n->quoted = quoted;
    n->set = s->arg;
    n->set_index = s->index;
    return 0;
}

/* Mark n and all below it as written by this --set argument. */
static void mark_set(const setarg *s, rn_ynode *n)
{
    n->set = s->arg;
    n->set_index = s->index;
    for (size_t i = 0; i < n->n; i++)
        mark_set(s, n->e[i].val);
}

/* Replace node n by the YAML flow value: 0, or -1 with a diagnostic. */
static int set_flow(setarg *s, rn_ynode *n, const char *value)
{
    rn_diags d = {0};
    rn_ynode *v = NULL;
    if (rn_yaml_load_text(value, &d, &v) < 0) {
        for (int i = 0; i < d.n; i++)
            set_err(s, "bad YAML value at column %d: %s", d.v[i].pos.col,
                    d.v[i].msg);
        if (d.n == 0)
            set_err(s, "bad YAML value");
        rn_diags_free(&d);
        return -1;
    }
    rn_diags_free(&d);
    rn_ynode old = *n; /* n stays where it is in the tree: swap contents */
    *n = *v;
    *v = old;
    rn_ynode_free(v);
    mark_set(s, n);
    return 0;
}

static void apply_one(rn_ynode *root, const char *arg, int index, rn_diags *d)
{
    setarg s = {.arg = arg, .index = index, .d = d};
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) {
        set_err(&s, "expected PATH=VALUE (e.g. --set seed=7)");
        return;
    }
    char *path = strndup(arg, (size_t)(eq - arg));
    if (!path) {
        set_err(&s, "out of memory");
        return;
    }
    s.flow = eq[1] == '[' || eq[1] == '{';
    rn_ynode *n = walk(&s, root, path);
    if (n && s.flow)
        set_flow(&s, n, eq + 1);
    else if (n && n->kind != RN_Y_SCALAR)
        set_err(&s,
                "%s is a %s, not a scalar: give it as %s (YAML flow "
                "syntax)",
                where(&s), n->kind == RN_Y_MAP ? "mapping" : "list",
                n->kind == RN_Y_MAP ? "{key: value, ...}" : "[1, 2, ...]");
    else if (n)
        set_value(&s, n, eq + 1);
    free(path);
}

void rn_overrides_apply(rn_ynode *root, const char *const *sets, int nsets,
                        rn_diags *d)
{
    for (int i = 0; i < nsets; i++)
        apply_one(root, sets[i], i, d);
}
