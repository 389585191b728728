/* yaml_tree.c - read a YAML document into an rn_ynode tree (see yaml_tree.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "spec/yaml_tree.h"

typedef struct anchor {
    char *name;
    rn_ynode *node; /* in the tree, or buried */
    bool measured;  /* nodes and bytes known (at its first alias) */
    size_t nodes;   /* what a copy of it costs (measure()) */
    size_t bytes;
} anchor;

/*
 * Loading state. Nodes taken out of the tree while loading (a `<<` entry
 * once merged, a duplicate key) may still be anchors, so they are buried
 * and freed only when the whole document is read.
 */
typedef struct loader {
    yaml_parser_t parser;
    rn_diags *d;
    anchor *anchors;
    size_t nanchors, capanchors;
    rn_ynode **buried;
    size_t nburied, capburied;
    size_t nodes;  /* made so far, copies included */
    size_t copied; /* bytes of text (scalars, keys) made by copies */
    int depth;
} loader;

static const char str_tag[] = "tag:yaml.org,2002:str";
static const char core_tag[] = "tag:yaml.org,2002:";

static rn_pos mark_pos(yaml_mark_t m)
{
    return (rn_pos){(int)m.line + 1, (int)m.column + 1};
}

/* A fresh node counted against the budget; NULL with a diagnostic. */
static rn_ynode *new_node(loader *l, rn_ykind kind, rn_pos pos)
{
    if (++l->nodes > RN_YAML_MAX_NODES) {
        rn_diag_add(l->d, pos, NULL, 0,
                    "the document expands to more than "
                    "%d nodes (aliases nested too deep?)",
                    RN_YAML_MAX_NODES);
        return NULL;
    }
    rn_ynode *n = calloc(1, sizeof *n);
    if (!n) {
        rn_diag_add(l->d, pos, NULL, 0, "out of memory");
        return NULL;
    }
    n->kind = kind;
    n->pos = pos;
    return n;
}

static int oom(loader *l, rn_pos pos)
{
    rn_diag_add(l->d, pos, NULL, 0, "out of memory");
    return -ENOMEM;
}

/* Keep a detached node alive until the document is read. */
static int bury(loader *l, rn_ynode *n)
{
    if (!n)
        return 0;
    if (rn_ygrow((void **)&l->buried, &l->capburied, l->nburied,
                 sizeof *l->buried) < 0) {
        rn_ynode_free(n);
        return oom(l, (rn_pos){0, 0});
    }
    l->buried[l->nburied++] = n;
    return 0;
}

/* Count the nodes of n and the bytes of its text (scalars and keys). */
static void measure(const rn_ynode *n, size_t *nodes, size_t *bytes)
{
    *nodes += 1;
    if (n->text)
        *bytes += strlen(n->text);
    for (size_t i = 0; i < n->n; i++) {
        if (n->e[i].key)
            *bytes += strlen(n->e[i].key);
        measure(n->e[i].val, nodes, bytes);
    }
}

/*
 * May a copy of `nodes` nodes holding `bytes` of text be made (at pos, for
 * `what`)? Checked before copying, so that an alias bomb is refused
 * before it allocates: 0 (and the bytes are counted), or -EINVAL reported.
 */
static int afford(loader *l, size_t nodes, size_t bytes, rn_pos pos,
                  const char *what)
{
    if (l->nodes > RN_YAML_MAX_NODES || nodes > RN_YAML_MAX_NODES - l->nodes) {
        rn_diag_add(l->d, pos, NULL, 0,
                    "the document expands to more than "
                    "%d nodes (aliases nested too deep?)",
                    RN_YAML_MAX_NODES);
        return -EINVAL;
    }
    if (bytes > RN_YAML_MAX_COPIED - l->copied) {
        rn_diag_add(l->d, pos, NULL, 0,
                    "%s would copy %zu more bytes, past "
                    "the %d MiB of text that aliases and merge keys may add "
                    "to a spec",
                    what, bytes, (int)(RN_YAML_MAX_COPIED >> 20));
        return -EINVAL;
    }
    l->copied += bytes;
    return 0;
}

/* A deep copy of n (budgeted), placed at `pos` when pos.line is not 0. */
static int copy_node(loader *l, const rn_ynode *n, rn_pos pos, rn_ynode **out)
{
    rn_ynode *c = new_node(l, n->kind, pos.line ? pos : n->pos);
    *out = c;
    if (!c)
        return -EINVAL;
    c->quoted = n->quoted;
    if (n->text && !(c->text = strdup(n->text)))
        return oom(l, n->pos);
    for (size_t i = 0; i < n->n; i++) {
        rn_ynode *v;
        int rc = copy_node(l, n->e[i].val, (rn_pos){0, 0}, &v);
        if (rc == 0 && rn_ynode_append(c, n->e[i].key, n->e[i].kpos, v) < 0)
            rc = oom(l, n->pos);
        if (rc < 0) {
            rn_ynode_free(v);
            return rc;
        }
    }
    return 0;
}

/* Fetch the next event, or report libyaml's problem where it is. */
static int next_event(loader *l, yaml_event_t *ev)
{
    yaml_parser_t *p = &l->parser;
    if (yaml_parser_parse(p, ev))
        return 0;
    if (p->error == YAML_MEMORY_ERROR)
        return oom(l, (rn_pos){0, 0});
    rn_pos pos = mark_pos(p->problem_mark);
    if (p->context)
        rn_diag_add(l->d, pos, NULL, 0, "%s (%s at %d:%d)",
                    p->problem ? p->problem : "syntax error", p->context,
                    (int)p->context_mark.line + 1,
                    (int)p->context_mark.column + 1);
    else
        rn_diag_add(l->d, pos, NULL, 0, "%s",
                    p->problem ? p->problem : "syntax error");
    return -EINVAL;
}

static int load_node(loader *l, yaml_event_t *ev, rn_ynode **out);

/*
 * A scalar's tag decides whether it is a string whatever its text: quoted
 * styles, !!str and the non-specific "!" do; YAML's own core tags keep
 * plain resolution; any other tag is refused.
 */
static int load_scalar(loader *l, yaml_event_t *ev, rn_ynode **out)
{
    const char *tag = (const char *)ev->data.scalar.tag;
    rn_pos pos = mark_pos(ev->start_mark);
    bool quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
    if (tag && (strcmp(tag, str_tag) == 0 || strcmp(tag, "!") == 0))
        quoted = true;
    else if (tag && strncmp(tag, core_tag, strlen(core_tag)) != 0) {
        rn_diag_add(l->d, pos, NULL, 0, "unsupported tag '%s'", tag);
        return -EINVAL;
    }
    if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length)) {
        rn_diag_add(l->d, pos, NULL, 0,
                    "a NUL character (\\0) is not "
                    "allowed in a value");
        return -EINVAL;
    }
    rn_ynode *n = new_node(l, RN_Y_SCALAR, pos);
    if (!n)
        return -EINVAL;
    *out = n;
    n->quoted = quoted;
    n->text = strndup((const char *)ev->data.scalar.value,
                      ev->data.scalar.length);
    return n->text ? 0 : oom(l, pos);
}

static int load_seq(loader *l, yaml_event_t *start, rn_ynode **out)
{
    rn_ynode *s = new_node(l, RN_Y_SEQ, mark_pos(start->start_mark));
    if (!(*out = s))
        return -EINVAL;
    for (;;) {
        yaml_event_t ev;
        rn_ynode *item = NULL;
        int rc = next_event(l, &ev);
        if (rc < 0)
            return rc;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return 0;
        }
        rc = load_node(l, &ev, &item);
        if (rc == 0 && rn_ynode_append(s, NULL, item->pos, item) < 0)
            rc = oom(l, item->pos);
        if (rc < 0) {
            rn_ynode_free(item);
            return rc;
        }
    }
}

static bool is_merge_key(const rn_ynode *k)
{
    return !k->quoted && strcmp(k->text, "<<") == 0;
}

/*
 * Add key k -> v to mapping m, taking both. A duplicate key is reported
 * and dropped (loading goes on); a key that is not a scalar stops it.
 */
static int add_pair(loader *l, rn_ynode *m, rn_ynode *k, rn_ynode *v)
{
    if (k->kind != RN_Y_SCALAR) {
        rn_diag_add(l->d, k->pos, NULL, 0, "a mapping key must be a scalar");
        rn_ynode_free(k);
        rn_ynode_free(v);
        return -EINVAL;
    }
    bool merge = is_merge_key(k);
    if (!merge) {
        for (size_t i = 0; i < m->n; i++)
            if (!m->e[i].merge && strcmp(m->e[i].key, k->text) == 0) {
                rn_diag_add(l->d, k->pos, NULL, 0,
                            "duplicate key '%s' (first at %d:%d)", k->text,
                            m->e[i].kpos.line, m->e[i].kpos.col);
                int rc = bury(l, k);
                int rc2 = bury(l, v);
                return rc < 0 ? rc : rc2;
            }
    }
    if (rn_ygrow((void **)&m->e, &m->cap, m->n, sizeof *m->e) < 0) {
        rn_ynode_free(k);
        rn_ynode_free(v);
        return oom(l, m->pos);
    }
    m->e[m->n++] = (rn_yentry){k->text, k->pos, v, merge};
    k->text = NULL;
    return bury(l, k);
}

/* Is `key` an explicit (non-merge) key of the n entries in e? */
static bool has_explicit(const rn_yentry *e, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (!e[i].merge && strcmp(e[i].key, key) == 0)
            return true;
    return false;
}

/* Copy into m the keys of source mapping src that m does not have yet. */
static int merge_one(loader *l, rn_ynode *m, const rn_yentry *old, size_t n,
                     const rn_ynode *src)
{
    if (src->kind != RN_Y_MAP) {
        rn_diag_add(l->d, src->pos, NULL, 0,
                    "a merge key (<<) takes a "
                    "mapping or a list of mappings");
        return -EINVAL;
    }
    for (size_t i = 0; i < src->n; i++) {
        const rn_yentry *e = &src->e[i];
        if (has_explicit(old, n, e->key) || rn_ymap_get(m, e->key))
            continue;
        rn_ynode *v = NULL;
        size_t nodes = 0, bytes = strlen(e->key);
        measure(e->val, &nodes, &bytes);
        int rc = afford(l, nodes, bytes, src->pos, "this merge (<<)");
        if (rc == 0)
            rc = copy_node(l, e->val, (rn_pos){0, 0}, &v);
        if (rc == 0 && rn_ynode_append(m, e->key, e->kpos, v) < 0)
            rc = oom(l, e->kpos);
        if (rc < 0) {
            rn_ynode_free(v);
            return rc;
        }
    }
    return 0;
}

/* Merge the value of a `<<` entry: one mapping, or a list of them. */
static int merge_value(loader *l, rn_ynode *m, const rn_yentry *old, size_t n,
                       const rn_ynode *val)
{
    if (val->kind != RN_Y_SEQ)
        return merge_one(l, m, old, n, val);
    for (size_t i = 0; i < val->n; i++) {
        int rc = merge_one(l, m, old, n, val->e[i].val);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/*
 * Apply the `<<` entries of mapping m (YAML 1.1 merge): m's explicit keys
 * win over merged ones, and earlier sources over later ones. Merged keys
 * take the place of their `<<` entry.
 */
static int apply_merges(loader *l, rn_ynode *m)
{
    size_t n = m->n;
    rn_yentry *old = m->e;
    int rc = 0;
    m->e = NULL;
    m->n = m->cap = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (old[i].merge)
            rc = merge_value(l, m, old, n, old[i].val);
        else if (rn_ynode_append(m, old[i].key, old[i].kpos, old[i].val) < 0)
            rc = oom(l, old[i].kpos);
        else
            old[i].val = NULL;
    }
    for (size_t i = 0; i < n; i++) {
        free(old[i].key);
        if (old[i].val && bury(l, old[i].val) < 0)
            rc = -ENOMEM;
    }
    free(old);
    return rc;
}

static int load_map(loader *l, yaml_event_t *start, rn_ynode **out)
{
    rn_ynode *m = new_node(l, RN_Y_MAP, mark_pos(start->start_mark));
    bool merges = false;
    if (!(*out = m))
        return -EINVAL;
    for (;;) {
        yaml_event_t ev;
        rn_ynode *k = NULL, *v = NULL;
        int rc = next_event(l, &ev);
        if (rc < 0)
            return rc;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        rc = load_node(l, &ev, &k);
        if (rc == 0 && (rc = next_event(l, &ev)) == 0)
            rc = load_node(l, &ev, &v);
        if (rc < 0) {
            rn_ynode_free(k);
            rn_ynode_free(v);
            return rc;
        }
        merges |= k->kind == RN_Y_SCALAR && is_merge_key(k);
        if ((rc = add_pair(l, m, k, v)) < 0)
            return rc;
    }
    return merges ? apply_merges(l, m) : 0;
}

/* An alias is a copy of the latest node with that anchor, placed here. */
static int load_alias(loader *l, yaml_event_t *ev, rn_ynode **out)
{
    const char *name = (const char *)ev->data.alias.anchor;
    rn_pos pos = mark_pos(ev->start_mark);
    char what[96];
    for (size_t i = l->nanchors; i-- > 0;) {
        anchor *a = &l->anchors[i];
        if (strcmp(a->name, name) != 0)
            continue;
        if (!a->measured) /* once: each alias of it then costs O(1) */
            measure(a->node, &a->nodes, &a->bytes);
        a->measured = true;
        snprintf(what, sizeof what, "alias '*%.64s'", name);
        int rc = afford(l, a->nodes, a->bytes, pos, what);
        return rc < 0 ? rc : copy_node(l, a->node, pos, out);
    }
    rn_diag_add(l->d, mark_pos(ev->start_mark), NULL, 0,
                "unknown alias '*%s' (no anchor '&%s' before it)", name, name);
    return -EINVAL;
}

static int add_anchor(loader *l, const yaml_char_t *name, rn_ynode *n)
{
    if (!name)
        return 0;
    if (rn_ygrow((void **)&l->anchors, &l->capanchors, l->nanchors,
                 sizeof *l->anchors) < 0)
        return oom(l, n->pos);
    char *s = strdup((const char *)name);
    if (!s)
        return oom(l, n->pos);
    l->anchors[l->nanchors++] = (anchor){s, n, false, 0, 0};
    return 0;
}

static const yaml_char_t *anchor_of(const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_SCALAR_EVENT: return ev->data.scalar.anchor;
    case YAML_SEQUENCE_START_EVENT: return ev->data.sequence_start.anchor;
    case YAML_MAPPING_START_EVENT: return ev->data.mapping_start.anchor;
    default: return NULL;
    }
}

/*
 * Load the node that starts with event *ev (taken and deleted). On failure
 * *out may hold a partial node for the caller to free. An anchor is
 * registered once its node is complete, so an alias cannot reach into the
 * node that defines it.
 */
static int load_node(loader *l, yaml_event_t *ev, rn_ynode **out)
{
    int rc;
    *out = NULL;
    if (++l->depth > RN_YAML_MAX_DEPTH) {
        rn_diag_add(l->d, mark_pos(ev->start_mark), NULL, 0,
                    "nested deeper than %d levels", RN_YAML_MAX_DEPTH);
        rc = -EINVAL;
    } else if (ev->type == YAML_SCALAR_EVENT) {
        rc = load_scalar(l, ev, out);
    } else if (ev->type == YAML_SEQUENCE_START_EVENT) {
        rc = load_seq(l, ev, out);
    } else if (ev->type == YAML_MAPPING_START_EVENT) {
        rc = load_map(l, ev, out);
    } else if (ev->type == YAML_ALIAS_EVENT) {
        rc = load_alias(l, ev, out);
    } else {
        rn_diag_add(l->d, mark_pos(ev->start_mark), NULL, 0,
                    "unexpected YAML event %d", (int)ev->type);
        rc = -EINVAL;
    }
    if (rc == 0)
        rc = add_anchor(l, anchor_of(ev), *out);
    l->depth--;
    yaml_event_delete(ev);
    return rc;
}

/* Read the next event and check that it is of type t. */
static int expect_event(loader *l, yaml_event_type_t t)
{
    yaml_event_t ev;
    int rc = next_event(l, &ev);
    if (rc < 0)
        return rc;
    if (ev.type != t) {
        rn_diag_add(l->d, mark_pos(ev.start_mark), NULL, 0,
                    ev.type == YAML_DOCUMENT_START_EVENT
                        ? "more than one YAML document (a job spec is one)"
                        : "unexpected YAML event %d",
                    (int)ev.type);
        rc = -EINVAL;
    }
    yaml_event_delete(&ev);
    return rc;
}

/* A stream of exactly one document: its root node. */
static int load_stream(loader *l, rn_ynode **root)
{
    yaml_event_t ev;
    int rc = expect_event(l, YAML_STREAM_START_EVENT);
    if (rc < 0 || (rc = next_event(l, &ev)) < 0)
        return rc;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        rn_diag_add(l->d, (rn_pos){1, 1}, NULL, 0,
                    "empty file: expected a job spec (ptrun: 1, name: ...)");
        return -EINVAL;
    }
    yaml_event_delete(&ev); /* the document's start */
    if ((rc = next_event(l, &ev)) < 0 || (rc = load_node(l, &ev, root)) < 0)
        return rc;
    rc = expect_event(l, YAML_DOCUMENT_END_EVENT);
    return rc < 0 ? rc : expect_event(l, YAML_STREAM_END_EVENT);
}

static void loader_free(loader *l)
{
    for (size_t i = 0; i < l->nanchors; i++)
        free(l->anchors[i].name);
    free(l->anchors);
    for (size_t i = 0; i < l->nburied; i++)
        rn_ynode_free(l->buried[i]);
    free(l->buried);
    yaml_parser_delete(&l->parser);
}

/* Read the document l's parser was given, then free l: 0 or -errno. */
static int load_all(loader *l, rn_ynode **root)
{
    int errs = rn_diag_count(l->d);
    int rc = load_stream(l, root);
    if (rc == 0 && rn_diag_count(l->d) > errs)
        rc = -EINVAL; /* duplicate keys */
    if (rc < 0) {
        rn_ynode_free(*root);
        *root = NULL;
    }
    loader_free(l);
    return rc;
}

int rn_yaml_load(const char *file, rn_diags *d, rn_ynode **root)
{
    loader l = {.d = d};
    *root = NULL;
    FILE *f = fopen(file, "rbe");
    if (!f) {
        int rc = -errno;
        rn_diag_add(d, (rn_pos){0, 0}, NULL, 0, "cannot read: %s",
                    strerror(-rc));
        return rc;
    }
    if (!yaml_parser_initialize(&l.parser)) {
        fclose(f);
        return oom(&l, (rn_pos){0, 0});
    }
    yaml_parser_set_input_file(&l.parser, f);
    int rc = load_all(&l, root);
    fclose(f);
    return rc;
}

int rn_yaml_load_text(const char *text, rn_diags *d, rn_ynode **root)
{
    loader l = {.d = d};
    *root = NULL;
    if (!yaml_parser_initialize(&l.parser))
        return oom(&l, (rn_pos){0, 0});
    yaml_parser_set_input_string(&l.parser, (const unsigned char *)text,
                                 strlen(text));
    return load_all(&l, root);
}
