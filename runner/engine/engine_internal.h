/*
 * engine_internal.h - the state of a running job, shared by the files of
 * the engine (engine.c: the run and its steps; engine_task.c: a task's
 * attempts; engine_setup.c: before and after the steps; engine_output.c:
 * what workers print, and the events of no task; resume.c: what an
 * interrupted run did; engine_ctl.c: `ptrun ctl` requests). Private to
 * the runner.
 */
#ifndef RN_ENGINE_INTERNAL_H
#define RN_ENGINE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <ptools/buf.h>
#include <ptools/plugin.h>
#include <ptools/shm.h>
#include <ptools/workerset.h>

#include "engine/engine.h"
#include "events/host.h"
#include "plan/plan.h"
#include "engine/progress.h"
#include "events/rundir.h"
#include "engine/summary.h"
#include <ptools/dispatch.h>

/* What the engine knows of one planned task between its attempts. */
typedef struct tstate {
    pt_request *req; /* the current attempt, while it waits or runs */
    int attempts;
    int worker;
    bool sent;         /* the current attempt is at a worker */
    bool ended;        /* its final attempt is recorded */
    bool prio_set;     /* `prio` was changed by `ptrun ctl` */
    bool cancel_asked; /* `ptrun ctl` cancelled it before it was queued */
    int64_t prio;      /* its priority when prio_set */
    int rank;          /* the MPI rank its attempt went to (0: here) */
    int64_t queued_ns, start_ns;
    char *history; /* earlier attempts, a JSON array, or NULL */
} tstate;

#define TAIL_LINES 5

/* The last stderr lines of the task a worker runs, kept for its error. */
typedef struct tail {
    int64_t task;
    char *line[TAIL_LINES];
    int n;
} tail;

struct engine;

/* The way back from a worker set's hooks (their `arg`): engine and set. */
typedef struct set_hook {
    struct engine *e;
    int set;
} set_hook;

typedef struct engine {
    const rn_spec *spec;
    rn_plan plan; /* built once the workers are forked */
    const rn_run_opts *opts;
    char dir[4096];
    rn_host *host;
    pt_shm **shm;
    pt_workerset **sets;
    tstate *ts;
    bool *skip;     /* already ok in the run being resumed */
    char *sessions; /* resume: the manifest's earlier sessions (the
                       items of its JSON array), or NULL */
    int64_t
        on_disk[PT_TASK_NSTATUS]; /* resume: tasks by status in results.jsonl */
    int64_t results_base;         /* resume: bytes of results.jsonl before us */
    int64_t counts[PT_TASK_NSTATUS], step_counts[PT_TASK_NSTATUS], outstanding,
        skipped;
    int step;
    int sigs; /* SIGINT/SIGTERM received */
    rn_summary summary;
    int log_fd;       /* DIR/output.log */
    pt_buf log;       /* whole lines not yet written */
    tail **tails;     /* per set, per worker */
    set_hook *hooks;  /* per set: the arg of its hooks */
    bool started;     /* the run folder holds this run's manifest */
    bool have_dir;    /* rn_rundir_make succeeded: the claim is ours */
    rn_claim claim;   /* the run folder's lock, held until the end */
    bool refused;     /* bad usage found late (a resume that differs) */
    bool lost_output; /* a plugin failed (disk full?): stop the run */
    bool stopping;
    int64_t *retry_ids; /* tasks waiting out their retry backoff */
    int64_t *retry_at;  /* when each may go again (CLOCK_MONOTONIC ns) */
    size_t nretry, retry_cap;
    int64_t mono_off;   /* CLOCK_REALTIME - CLOCK_MONOTONIC at the start */
    int64_t waiting;    /* tasks queued in the sets, not yet sent */
    int64_t running;    /* tasks sent to workers, not yet answered */
    bool paused;        /* `ptrun ctl DIR pause`: nothing is dispatched */
    int64_t step_total; /* tasks of the running step (to run now) */
    rn_progress progress;
    struct rn_ctl *ctl;   /* DIR/ctl.sock, or NULL */
    int mpi_size;         /* ranks of the run: 1 when not under MPI */
    struct rn_mpi *mpi;   /* rank 0's side of the agents (cluster_mpi.c) */
    bool shm_owner;       /* the segments' names are ours to remove */
    pt_buf huge;          /* the manifest's "hugepages" items (hugenote.c) */
    bool huge_noted;      /* its note on stderr was given */
    int64_t start_ns;     /* when this run (or resume) began, CLOCK_REALTIME */
    int64_t finished;     /* final task events so far */
    int64_t unflushed_ns; /* CLOCK_MONOTONIC of the oldest result the
                             plugins may still buffer, 0: none */
    pt_shm *shm_ready;    /* MPI: the node's "segments ready" marker */
} engine;

/* engine.c: signals through a self-pipe, read by the step loop. */
/* Make the pipe and set the handlers: 0 or -errno. */
int rn_eng_install_signals(void);
/* Set our handlers again (MPI_Init may have set its own). */
void rn_eng_set_handlers(void);
/* Default dispositions back (SIGPIPE keeps its handler), pipe closed. */
void rn_eng_restore_signals(void);

/* engine_task.c: a task's attempts. */
/* Fill the task's fields of `ev` (time_ns is the caller's) and emit it. */
void rn_eng_task_event(engine *e, pt_event_type type, int64_t id, pt_event *ev);
/* The priority task `id` has now (the plan's, or a `ptrun ctl` one). */
int64_t rn_eng_priority(const engine *e, int64_t id);
/* Queue task `id` again (or for the first time); `now_ns` CLOCK_REALTIME. */
int rn_eng_submit(engine *e, int64_t id, int64_t now_ns);
/* Queue task `id` again after a failed attempt; if even that fails (no
 * memory), it ends as crashed. */
void rn_eng_requeue(engine *e, int64_t id);
/* Take task `id` off the retry backoff list: true if it was there. */
bool rn_eng_unbackoff(engine *e, int64_t id);
/* A worker set's on_sent hook (arg: the engine): the task now runs. */
void rn_eng_on_sent(void *arg, pt_request *req, int64_t now);
/* Queue the retries that are due (all when `all`): milliseconds until the
 * next one, or -1 when none waits. */
int rn_eng_run_due_retries(engine *e, bool all);
/* Cancel every task still waiting: nothing new will run. */
void rn_eng_cancel_waiting(engine *e);
/* `ptrun ctl` requests (engine_ctl.c): an rn_ctl_apply_fn, arg an engine. */
struct rn_ctl_req;
int rn_eng_ctl_apply(void *arg, const struct rn_ctl_req *req, pt_buf *reply,
                     char *err, size_t errlen);

/* engine_output.c: what workers print, events of no task. */
/* Emit a run or step event (`step` -1: none; `counts`: NULL or by status). */
void rn_eng_simple_event(engine *e, pt_event_type type, int step,
                         const int64_t *counts);
/* Say which workers were born before the run began, and hook the sets'
 * worker started/exited events from now on. */
void rn_eng_announce_workers(engine *e);
/* Write the buffered lines of output.log. */
void rn_eng_flush_log(engine *e);
/* A worker set's output hook (arg: its set_hook): one line a worker
 * printed, to output.log, the task's stderr tail, maybe the terminal. */
void rn_eng_on_output(void *arg, int worker, int64_t task, int stream,
                      const char *line, size_t len);
/* `error` plus task `id`'s last stderr lines, malloc'd; NULL when there
 * are none (or no error, or no memory). */
char *rn_eng_error_with_tail(engine *e, int64_t id, const char *error);

/* engine_setup.c: before and after the steps. */
/* Create segment i of the spec with this name prefix, its name kept
 * visible when `keep_name` (err: a message). */
int rn_eng_make_segment(engine *e, int i, const char *prefix, bool keep_name,
                        char *err, size_t errlen);
/* Record what backs segment i (made) for the manifest, and say once on
 * stderr when a large one asked for huge pages but the system denies them. */
void rn_eng_huge_note(engine *e, int i);
/* Remove the names of the segments this process owns (and the MPI ready
 * marker): at the end, or before an abort, so that none is left. */
void rn_eng_unlink_segments(engine *e);
/* Fork the spec's worker sets; `hooks`: the engine's (output.log, events),
 * else none (an MPI agent's). */
int rn_eng_make_sets(engine *e, bool hooks, char *err, size_t errlen);
/* Claim the run folder, make segments, worker sets and the plan, open
 * the plugins, output.log and ctl.sock: 0 or -errno (err: a message). */
int rn_eng_prepare(engine *e, char *err, size_t errlen);
/* The manifest's view of the run so far (counts: what was on disk). */
void rn_eng_manifest_of(const engine *e, int64_t start, rn_manifest *m);
/* Stop the workers, save and remove the segments, restore the signals:
 * `rc`, or the error of saving when `rc` is 0. */
int rn_eng_teardown(engine *e, int rc, char *err, size_t errlen);
/* End the run: last event, plugins closed, results settled, manifest
 * and summary written. Returns the exit status of ptrun. */
int rn_eng_finish(engine *e, int rc, int64_t start, char *err, size_t errlen);
/* Free the per-worker stderr tails. */
void rn_eng_free_tails(engine *e);

/* Resume: read the earlier sessions from DIR/manifest.json and, unless
 * --force, refuse a changed spec or kernel (-EINVAL, message in err). */
int rn_eng_check_resume(engine *e, char *err, size_t errlen);
/* Resume: mark the tasks whose latest line in DIR/results.jsonl is ok
 * (e->skip); report the lines that are no result of this plan. */
int rn_eng_load_done(engine *e, char *err, size_t errlen);

#endif
