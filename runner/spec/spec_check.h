/*
 * spec_check.h - the typed getters and checks that build an rn_spec from
 * the YAML tree, shared by spec_check.c (header, shm, kernels, worker sets,
 * plugins) and spec_tasks.c (steps and tasks).
 *
 * Each getter either stores a value and returns true, or adds a
 * diagnostic at the offending node and returns false; checking goes on
 * either way, so that one pass reports every problem it can find.
 */
#ifndef RN_SPEC_CHECK_H
#define RN_SPEC_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "spec/spec_internal.h"

/* The longest name: a segment's or the shm prefix (PT_SHM_NAME_MAX). */
#define RN_NAME_MAX 100

typedef struct rn_build {
    rn_spec *spec;
    rn_diags *d;
    const rn_search *search;
    bool kernels_bad; /* `kernels:` unusable: skip lookups by name */
    bool sets_bad;    /* `workersets:` unusable: skip lookups by name */
    int64_t ntasks;   /* expanded tasks so far, saturated */
    bool tasks_over;  /* RN_MAX_TASKS already reported */
} rn_build;

/* "expected WANT, got ..." at n. */
void rn_wrong_type(rn_build *b, const rn_ynode *n, const char *want);
/* An out-of-memory diagnostic at n; returns false. */
bool rn_oom_at(rn_build *b, const rn_ynode *n);
/* n is a mapping of the keys of schema s, with its required ones. */
bool rn_check_map(rn_build *b, const rn_ynode *n, const rn_schema *s);
/* n is a list (with at least one item when `nonempty`). */
bool rn_check_list(rn_build *b, const rn_ynode *n, const char *what,
                   bool nonempty);

bool rn_get_int(rn_build *b, const rn_ynode *n, const char *key, int64_t lo,
                int64_t hi, int64_t *out);
bool rn_get_bool(rn_build *b, const rn_ynode *n, bool *out);
/* Any scalar but null, as text (not copied). */
bool rn_get_text(rn_build *b, const rn_ynode *n, const char **out);
/* A copy of rn_get_text's text. */
bool rn_get_str(rn_build *b, const rn_ynode *n, char **out);
/* The value of `key` in map (any YAML) as an rn_value: an empty RN_MAP
 * at the map's position when absent; false when it is not a mapping. */
bool rn_get_map_value(rn_build *b, const rn_ynode *map, const char *key,
                      rn_value *out);

/* "(did you mean 'x'?)" or "(NOUN: a, b, c)" for an unknown name. */
void rn_hint(const char *word, const char *const *names, size_t n,
             const char *noun, char *buf, size_t size);

/* A name of [A-Za-z0-9_-]{1,RN_NAME_MAX}, copied. */
bool rn_get_name(rn_build *b, const rn_ynode *n, char **out);
/* Report a later item of `list` whose name_of() repeats an earlier one. */
void rn_check_unique(rn_build *b, const rn_ynode *list, const char *noun,
                     const char *(*name_of)(const rn_spec *, int));

/* `shm:` (spec_shm.c). */
void rn_build_shm(rn_build *b, const rn_ynode *n);
/* Steps and their tasks (spec_tasks.c). */
void rn_build_steps(rn_build *b, const rn_ynode *n);

/* `halt:` of the job or a step (spec_halt.c); n may be NULL (none). */
void rn_build_halt(rn_build *b, const rn_ynode *n, rn_halt *h);

/* spec_kernels.c, spec_sets.c: the `kernels:` and `workersets:` lists. */
void rn_build_kernels(rn_build *b, const rn_ynode *n);
void rn_build_workersets(rn_build *b, const rn_ynode *n);

#endif
