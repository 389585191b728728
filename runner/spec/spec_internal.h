/*
 * spec_internal.h - what spec.c, spec_check.c, spec_schema.c and
 * spec_set.c share: the schema of a job spec, one table of keys per
 * mapping. The checks use it to refuse unknown keys (with a "did you mean")
 * and to find missing ones; --set uses it to walk a path and to know which
 * absent keys it may create.
 */
#ifndef RN_SPEC_INTERNAL_H
#define RN_SPEC_INTERNAL_H

#include <stdbool.h>

#include "spec/spec.h"
#include "spec/yaml_tree.h"

typedef enum rn_skind {
    RN_S_SCALAR, /* one scalar */
    RN_S_ANY,    /* any YAML value (task args, plugin options) */
    RN_S_MAP,    /* a mapping with the fixed keys of `keys` */
    RN_S_DICT,   /* a mapping with free keys, each value a `sub` */
    RN_S_LIST    /* a list of `sub` */
} rn_skind;

struct rn_skey;

typedef struct rn_schema {
    rn_skind kind;
    const struct rn_skey *keys; /* RN_S_MAP: ended by a NULL name */
    const struct rn_schema *sub;
} rn_schema;

typedef struct rn_skey {
    const char *name;
    bool required;
    const rn_schema *schema;
} rn_skey;

extern const rn_schema rn_spec_schema;
/* The mappings inside it, for the checks. */
extern const rn_schema rn_shm_schema, rn_segment_schema, rn_init_schema,
    rn_kernel_schema, rn_workerset_schema, rn_step_schema, rn_task_schema,
    rn_plugin_schema, rn_halt_schema;

/* The key `name` of a RN_S_MAP schema, or NULL. */
const rn_skey *rn_schema_key(const rn_schema *s, const char *name);
/* The schema of what `name` (a key or list item) holds inside s, or NULL. */
const rn_schema *rn_schema_child(const rn_schema *s, const char *name);

/*
 * The candidate closest to `word` for a "did you mean", or NULL: at most 2
 * edits away (Damerau: a swap counts 1) and no more than half the longer
 * word, or else one that `word` (2 characters or more) is a prefix of.
 */
const char *rn_closest(const char *word, const char *const *cands, size_t n);

/* Apply the --set arguments to the tree; problems go to d. */
void rn_overrides_apply(rn_ynode *root, const char *const *sets, int nsets,
                        rn_diags *d);

/* Fill spec from the tree and check it all (SPEC §4); problems go to d. */
void rn_spec_build(rn_spec *spec, rn_ynode *root, const rn_search *search,
                   rn_diags *d);

/* A deep copy of node n as an rn_value: 0 or -ENOMEM. */
int rn_value_from(const rn_ynode *n, rn_value *v);
/* Free what an rn_value holds (not v itself). */
void rn_value_clear(rn_value *v);

/*
 * Find the .so that a spec names: absolute as is; with a '/' or ending in
 * ".so", relative to `dir`; else a bare name, looked up as <d>/<name>.so
 * in the ':'-separated dirs of $env, then in `fallback`. Returns a malloc'd
 * real path, or NULL (errno ENOENT: not found; *tried then lists where it
 * looked, malloc'd).
 */
char *rn_find_so(const char *given, const char *dir, const char *env,
                 const char *fallback, char **tried);
/* `rel` relative to `dir` unless absolute, made real when it exists. */
char *rn_resolve_path(const char *rel, const char *dir);

/*
 * Probe plugin p's .so in a child (probe.h) and set p->probed: the runner
 * loads only a probed plugin (host.c). 0, or -EINVAL with "LABEL: why" (or
 * the loader's own message) in msg; -EIO (and msg) when no probe could run
 * (fork failed, say): not the plugin's fault.
 */
int rn_plugin_probe(rn_plugin *p, const char *label, char *msg, size_t size);

#endif
