/*
 * yaml_tree.h - a YAML document as a small editable tree.
 *
 * rn_yaml_load() reads one document with libyaml's event parser into
 * rn_ynode's: aliases become deep copies of their anchor's node (so an
 * override changes one place only), merge keys (`<<: *a`, `<<: [*a, *b]`)
 * are applied as YAML 1.1 says (explicit keys win, then earlier sources),
 * and duplicate keys are errors. Scalars keep their text; their type is
 * resolved on demand like a YAML plain scalar (null, bool, int, float,
 * else string), a quoted or !!str scalar being always a string.
 * rn_yaml_emit() writes the tree back as YAML text (without anchors).
 * Problems are added to an rn_diags list (spec_diag.h).
 */
#ifndef RN_YAML_TREE_H
#define RN_YAML_TREE_H

#include <stdbool.h>
#include <stddef.h>

#include "spec/spec.h"
#include "spec/spec_diag.h"

/*
 * Guards against alias bombs and runaway nesting: nodes in all, copies
 * included; bytes of text (scalars and keys) that aliases and merge keys
 * copy, beyond the document's own; levels of nesting. Both budgets are
 * checked before a copy is made, at the alias (or merge key) that would
 * pass them. 16 MiB is far beyond what anchors are for (shared settings,
 * a list reused by a few tasks) yet bounds what a small file can make the
 * runner allocate.
 */
#define RN_YAML_MAX_NODES 1000000
#define RN_YAML_MAX_COPIED ((size_t)16 << 20)
#define RN_YAML_MAX_DEPTH 256

typedef enum rn_ykind { RN_Y_SCALAR, RN_Y_SEQ, RN_Y_MAP } rn_ykind;

typedef struct rn_yentry {
    char *key; /* NULL in a sequence */
    rn_pos kpos;
    struct rn_ynode *val;
    bool merge; /* a `<<` entry (only while loading) */
} rn_yentry;

typedef struct rn_ynode {
    rn_ykind kind;
    rn_pos pos;
    char *text;      /* RN_Y_SCALAR */
    bool quoted;     /* RN_Y_SCALAR: a string whatever its text */
    const char *set; /* the --set argument that wrote it, or NULL */
    int set_index;
    rn_yentry *e; /* RN_Y_SEQ, RN_Y_MAP */
    size_t n, cap;
} rn_ynode;

/* Add a message at node `n` (about its --set argument when it has one). */
void rn_diag_at(rn_diags *d, const rn_ynode *n, const char *fmt, ...)
    PT_PRINTF(3, 4);

/* Read `file`: 0, or -errno with the reason in d. */
int rn_yaml_load(const char *file, rn_diags *d, rn_ynode **root);
void rn_ynode_free(rn_ynode *n);

/* New nodes (NULL when out of memory); `text` is copied. */
rn_ynode *rn_ynode_scalar(const char *text, bool quoted, rn_pos pos);
/* Append to a mapping (key copied) or a sequence (key NULL): 0 or -ENOMEM. */
int rn_ynode_append(rn_ynode *coll, const char *key, rn_pos kpos,
                    rn_ynode *val);
/* The value of `key` in mapping n, or NULL (also when n is no mapping). */
rn_ynode *rn_ymap_get(const rn_ynode *n, const char *key);

/*
 * The value of a scalar as a plain YAML scalar would have it: type and
 * b/i/r, and s pointing at the node's text (not a copy). An integer
 * literal outside int64 reads as a RN_REAL nan: rn_spec_load() refuses it
 * (rn_yint_range), so no spec holds one.
 */
void rn_yscalar(const rn_ynode *n, rn_value *v);
/* Resolve text as a plain scalar (what rn_yscalar does for unquoted). */
void rn_yplain(const char *text, rn_value *v);
/*
 * Is `text`, read as a plain scalar, an integer literal outside int64
 * (99999999999999999999999, -0x8000000000000001)? Then true, with the
 * message in msg ("integer ... is outside the 64-bit range; write 1e23 if
 * a real is meant").
 */
bool rn_yint_range(const char *text, char *msg, size_t size);
/* "a string 'abc'", "an integer 5", "a mapping", ... for messages. */
void rn_ydescribe(const rn_ynode *n, char *buf, size_t size);

/*
 * Read one document from `text` (a --set value: "[1, 2]", "{range: [0, 9,
 * 3]}"), as rn_yaml_load() reads a file; positions are within the text.
 */
int rn_yaml_load_text(const char *text, rn_diags *d, rn_ynode **root);
/* Grow *v (of *cap items of `size` bytes) to hold n + 1: 0 or -ENOMEM. */
int rn_ygrow(void **v, size_t *cap, size_t n, size_t size);

/* The tree as YAML text (malloc'd), or NULL when out of memory. */
char *rn_yaml_emit(const rn_ynode *root);

#endif
