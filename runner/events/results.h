/*
 * results.h - results.jsonl as a run folder keeps it (SPEC §5).
 *
 * rn_results_read() reads it strictly. A line is a task's result only if it
 * is whole (ends in '\n'), a JSON object, its "task" an integer id of the
 * plan (0 <= task < ntasks) and its "status" a word of pt_task_status_name().
 * A task's latest such line is its result. Any other whole line is ignored
 * (counted; the first one's number and reason kept). An unterminated last
 * line, a write cut short by a kill, is neither: it is left out silently.
 *
 * rn_results_compact() then leaves in results.jsonl only the latest line of
 * each task, in the order written, and appends every other whole line,
 * verbatim and in order, to history.jsonl. The new results.jsonl is written
 * aside and renamed over the old one only once history.jsonl holds the moved
 * lines (both fsync'd): at every instant each line ever written is in one
 * file or the other. A kill between the two leaves lines in both, never in
 * neither.
 */
#ifndef RN_RESULTS_H
#define RN_RESULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ptools/args.h>

typedef struct rn_results {
    int64_t ntasks;
    int64_t *latest;       /* per task: offset of its latest line, or -1 */
    unsigned char *status; /* per task: that line's pt_task_status */
    int64_t counts[PT_TASK_NSTATUS]; /* tasks by the status of their line */
    int64_t
        since[PT_TASK_NSTATUS]; /* result lines at offset >= base, by status */
    int64_t lines;              /* whole lines */
    int64_t ignored;            /* whole lines that are no result of the plan */
    int64_t first_ignored;      /* the first one's line number (from 1), or 0 */
    char why[160];              /* what is wrong with it */
    int64_t end;                /* bytes of whole lines: where a new one goes */
} rn_results;

/*
 * Read `path` (a missing file reads as empty) for a plan of `ntasks`
 * tasks; `base` is the offset from which `since` counts (where this
 * session's lines begin). 0 or -errno; rn_results_free() in both cases.
 */
int rn_results_read(rn_results *r, const char *path, int64_t ntasks,
                    int64_t base);

/* Does every whole line stay (one result line per task, nothing else)? */
bool rn_results_compacted(const rn_results *r);

/*
 * Compact dir/results.jsonl as read into `r` (see above): 0 or -errno, and
 * then nothing changed but, at worst, lines duplicated into history.jsonl.
 * -EAGAIN if the file grew since it was read (no line may be lost).
 */
int rn_results_compact(const rn_results *r, const char *dir);

void rn_results_free(rn_results *r);

/*
 * Read one whole line of results.jsonl (`n` bytes with its '\n', then a
 * NUL) for a plan of `ntasks` tasks: 0 with its task and status, or -1 with
 * why it is no result of the plan ("no \"task\"", "not a JSON object
 * (bad JSON at offset N: ...)"). The line is untrusted input (fuzzed).
 */
int rn_results_parse_line(const char *line, size_t n, int64_t ntasks,
                          int64_t *task, int *status, char *why, size_t size);

#endif
