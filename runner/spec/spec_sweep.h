/*
 * spec_sweep.h - a task's `sweep:` and `zip:` axes (spec_sweep.c), and the
 * generators that read files (spec_sweep_files.c).
 */
#ifndef RN_SPEC_SWEEP_H
#define RN_SPEC_SWEEP_H

#include "spec/spec_check.h"

/* `zip:` then `sweep:` of task node n into t->sweep (t->nzip, t->nsweep). */
void rn_build_axes(rn_build *b, const rn_ynode *n, rn_task *t);
/* No arg may get its value from two places (args, sweep, zip, repeat). */
void rn_check_arg_clash(rn_build *b, const rn_ynode *n, const rn_task *t);

/* {glob: PATTERN}: the matching paths, sorted, relative to the spec's
 * folder (or `dir`, when not NULL) as the pattern wrote them. n is the
 * pattern's node. */
void rn_axis_glob(rn_build *b, const rn_ynode *n, const rn_ynode *dir,
                  rn_sweep_axis *ax);
/* {lines: FILE}: one string a non-empty line. n is the file's node. */
void rn_axis_lines(rn_build *b, const rn_ynode *n, const rn_ynode *dir,
                   rn_sweep_axis *ax);

#endif
