/*
 * progress.h - the progress of the running step, on stderr (SPEC §5).
 *
 * On a terminal: one line per step (done/total, running, failed,
 * cancelled, tasks/s, ETA, a bar), redrawn in place at most 10 times a second,
 * cut to the terminal's width, left on screen when the step ends. With
 * RN_PROGRESS_JSONL: the same as one JSON object per line, for other tools.
 * Nothing when off.
 */
#ifndef RN_PROGRESS_H
#define RN_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

typedef enum rn_progress_mode {
    RN_PROGRESS_AUTO = 0, /* TTY when stderr is a terminal and not quiet */
    RN_PROGRESS_OFF,
    RN_PROGRESS_TTY,
    RN_PROGRESS_JSONL,
} rn_progress_mode;

typedef struct rn_progress_state {
    int step, nsteps;
    const char *step_name;
    int64_t done, total; /* tasks of the step that ran to an end (not
                            cancelled), tasks in it */
    int64_t running, waiting, failed; /* failed: done and not ok */
    int64_t cancelled;                /* ended without running to an end */
    bool paused;
} rn_progress_state;

typedef struct rn_progress {
    rn_progress_mode mode; /* OFF, TTY or JSONL once started */
    int64_t step_start_ns, last_ns;
    int shown; /* bytes of the line now on the terminal */
} rn_progress;

/* Resolve AUTO (quiet: off) and start. */
void rn_progress_init(rn_progress *p, rn_progress_mode mode, bool quiet);
void rn_progress_step_start(rn_progress *p, int64_t now_ns);
/* Show `st` if 100 ms have passed since the last time, or `final` (the
 * step's end: its line stays). now_ns: CLOCK_MONOTONIC. */
void rn_progress_show(rn_progress *p, const rn_progress_state *st,
                      int64_t now_ns, bool final);
/*
 * The terminal line for `st` on `cols` columns, without "\r" or a newline,
 * into out (NUL-terminated): its length, at most cols - 1. When it is too
 * wide, the bar shrinks (to 10) then goes, then the rate, the running
 * count and the step's name; the ETA ("took" when `final`) goes last.
 */
int rn_progress_format(const rn_progress_state *st, double rate, double eta,
                       bool final, int cols, char *out, size_t size);
/* Take the line off the terminal, before something else is printed. */
void rn_progress_clear(rn_progress *p);
/* Milliseconds until the next redraw is due, or -1 (off). */
int rn_progress_timeout_ms(const rn_progress *p, int64_t now_ns);

#endif
