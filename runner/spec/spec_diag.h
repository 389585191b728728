/*
 * spec_diag.h - the problems found while reading a job spec.
 *
 * Every stage (YAML loading, --set overrides, checks) adds what it finds to
 * one rn_diags list instead of stopping at the first, so that a user sees
 * all the problems of a spec at once. They are printed sorted: --set
 * problems first (in argument order), then by position in the file, at
 * most RN_MAX_ERRORS of them, exact repeats (an alias used twice) once.
 */
#ifndef RN_SPEC_DIAG_H
#define RN_SPEC_DIAG_H

#include <stddef.h>

#include "spec/spec.h"

/* Most diagnostics printed; the others are counted on a last line. */
#define RN_MAX_ERRORS 20

typedef struct rn_diag {
    rn_pos pos;      /* 0:0 when it is about the file as a whole */
    const char *set; /* the --set argument it is about, or NULL */
    int set_index;   /* that argument's index */
    int seq;         /* order of arrival, to keep sorting stable */
    char *msg;
} rn_diag;

typedef struct rn_diags {
    rn_diag *v;
    int n, cap;
    int lost;    /* diagnostics that could not be stored (out of memory) */
    int runtime; /* of them, failures of the system, not of the spec (a
                    probe that could not run): a runtime error, exit 3 */
} rn_diags;

/* Add a message about `pos`, or about --set `set` when it is not NULL. */
void rn_diag_add(rn_diags *d, rn_pos pos, const char *set, int set_index,
                 const char *fmt, ...) PT_PRINTF(5, 6);
/* How many problems were found so far. */
int rn_diag_count(const rn_diags *d);
/*
 * Sort and print into buf, one a line: "FILE:LINE:COL: msg",
 * "FILE: msg" (no position) or "--set ARG: msg".
 */
void rn_diags_format(rn_diags *d, const char *file, char *buf, size_t size);
void rn_diags_free(rn_diags *d);

#endif
