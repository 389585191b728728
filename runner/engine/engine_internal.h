/*
 * engine_internal.h - the state of a running job, shared by the files of
 * the engine (engine.c: the run and its steps; engine_task.c: a task's
 * attempts; engine_setup.c: before and after the steps; engine_output.c:
 * what workers print, and the events of no task; resume.c: what an
 * interrupted run did; engine_ctl.c: `ptrun ctl` requests; live.c: the
 * live tasks by id; engine_feed.c: feeding a step to the sets). Private
 * to the runner.
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
#include "engine/median.h"
#include "engine/summary.h"
#include <ptools/dispatch.h>

/*
 * What the engine knows of one task between its attempts: kept only while
 * the task is live (materialised: queued, running or backing off), or
 * while `ptrun ctl` has changed it before it was materialised. Other tasks
 * cost a byte of tflags (TF_*) and their entry's cursor.
 */
typedef struct tstate {
    rn_ptask t;      /* the task; t.args once materialised (owned) */
    int entry;       /* its plan entry */
    pt_request *req; /* the current attempt, while it waits or runs */
    int attempts;
    int worker;
    bool live;         /* materialised and not ended */
    bool sent;         /* the current attempt is at a worker */
    bool prio_set;     /* `prio` was changed by `ptrun ctl` */
    bool cancel_asked; /* `ptrun ctl` cancelled it before it was queued */
    bool refeed;       /* taken back from its set, to be queued again */
    bool quiet;        /* queued again after a refeed: no new event */
    bool retry_due;    /* its retry's backoff is over: in its set's feed */
    bool halt_killed;  /* running when `halt: now` killed its worker */
    bool away;         /* sent to rank `rank`, not known started there:
                          still waiting (SPEC §1), rank 0 may ask it back */
    bool asked_back;   /* ... and it was asked back */
    int64_t prio;      /* its priority when prio_set */
    int rank;          /* the MPI rank its attempt went to (0: here) */
    int64_t queued_ns, start_ns;
    const uint8_t *args_enc; /* once submitted: t.args's encoded bytes */
    size_t args_len;
    char *history;             /* earlier attempts, a JSON array, or NULL */
    struct tstate *next_spare; /* in engine.spare, once forgotten */
} tstate;

enum {
    TF_SKIP = 1,  /* ok in the run being resumed: not run again */
    TF_ENDED = 2, /* its final attempt is recorded */
    TF_FED = 4,   /* materialised (its entry's cursor passes it) */
    TF_ALONE = 8, /* changed by `ptrun ctl` before it was materialised */
};

/* Live tasks by id (live.c): a page of slots per LIVE_PAGE ids, made
 * while one of its tasks is live. */
#define LIVE_PAGE_BITS 12
#define LIVE_PAGE ((int64_t)1 << LIVE_PAGE_BITS)
typedef struct tpage {
    size_t n; /* live tasks in it */
    tstate *s[LIVE_PAGE];
} tpage;

typedef struct tmap {
    tpage **pages; /* npages: one per LIVE_PAGE ids of the plan */
    size_t npages, n;
    tpage *spare; /* an empty page, for the next one needed */
} tmap;

/* An entry's run through a step: where its cursor is, its priority (the
 * spec's, or set by `ptrun ctl` for every task not materialised yet). */
typedef struct erun {
    int64_t next; /* the next id to materialise */
    int64_t prio;
    bool cancelled;
    bool cancel_now; /* cancelled by the `ptrun ctl` request being applied */
} erun;

/* A worker set's feed: entries (and single tasks) of the step not yet
 * queued, best first; `queued` of the set's requests wait in its queue. */
typedef struct feed_item {
    int64_t id; /* a single task's id, or -1 */
    int entry;  /* the entry when id is -1 */
} feed_item;

typedef struct feeder {
    feed_item *heap;
    size_t n, cap;
    int64_t queued; /* submitted to the set, not yet sent (not pinned) */
    int64_t unfed;  /* tasks of the step not materialised yet */
    int64_t target; /* how many to keep queued */
    bool dirty;     /* keys changed: heapify before use */
    bool check_q;   /* a queued task may now be worse than the feed */
} feeder;

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
    tmap live;            /* tstates by id */
    tstate *spare;        /* forgotten tstates, for the next tasks */
    struct tslab *slabs;  /* where every tstate is (live.c) */
    size_t slab_len;      /* tstates in the last slab made */
    pt_args **spare_args; /* forgotten tasks' args, for the next tasks */
    size_t nspare_args, spare_args_cap;
    pt_buf args_scratch;  /* where the next task's args are encoded */
    uint8_t *tflags;      /* per task: TF_* */
    int64_t tflags_ready; /* ids below it: their flags' pages prefaulted */
    erun *eruns;          /* per plan entry */
    feeder *feed;         /* per set */
    bool feeding;         /* inside rn_eng_feed: no nested feeding */
    bool cancel_rest; /* nothing new will run: every task fed is cancelled */
    int feed_rc;      /* feeding failed (no memory): the step stops */
    int64_t step_queued_ns; /* the step began: its tasks' queued time */
    char *sessions;         /* resume: the manifest's earlier sessions (the
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
    bool late;          /* rn_eng_open_late() has run */
    bool reserved;      /* rn_manifest_reserve() was called */
    int64_t first_ns;   /* when the first tasks went out (mono), or 0 */
    bool shutting;      /* the sets are being destroyed: strays are reaped once
                           they are all gone, not at each worker's exit */
    int64_t *retry_ids; /* tasks waiting out their retry backoff */
    int64_t *retry_at;  /* when each may go again (CLOCK_MONOTONIC ns) */
    size_t nretry, retry_cap;
    int64_t mono_off;   /* CLOCK_REALTIME - CLOCK_MONOTONIC at the start */
    int64_t waiting;    /* tasks of the step to run, not yet sent */
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
    int look_credit;      /* > 0: a round that would write results and
                             wait looks instead (engine.c, should_look) */
    bool looked_empty;    /* the last round looked and found no news */
    pt_shm *shm_ready;    /* MPI: the node's "segments ready" marker */
    int64_t notok_job;    /* tasks ended failed, crashed or timeout */
    int64_t notok_step;   /* ... in the running step */
    bool halted;          /* `halt:` tripped: nothing new runs (halt.c) */
    bool halt_pending;    /* ... and the step loop has yet to act on it */
    bool halt_now;        /* ... with how: now */
    char halt_error[320]; /* the error of the tasks it cancelled */
    char halt_killed_error[352]; /* ... and of those it killed */
    char halt_why[320];          /* the summary's line */
    rn_median *medians;          /* per set: ok run times (median.c) */
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
void rn_eng_task_event(engine *e, pt_event_type type, const tstate *s,
                       pt_event *ev);
/* The priority task s has now (its entry's, or a `ptrun ctl` one). */
int64_t rn_eng_priority(const engine *e, const tstate *s);
/* Queue materialised task s again (or for the first time); `now_ns`
 * CLOCK_REALTIME. s may be freed on return (cancelled at once). */
int rn_eng_submit(engine *e, tstate *s, int64_t now_ns);
/* Count s as sent (waiting, queued and running), once per attempt. */
void rn_eng_mark_sent(engine *e, tstate *s);
/* The feed's count of s's set's queued tasks, changed by `d` (pinned
 * tasks are fed whole and not counted). */
void rn_eng_count_queued(engine *e, const tstate *s, int d);
/* Queue task `id` again after a failed attempt; if even that fails (no
 * memory), it ends as crashed. */
void rn_eng_requeue(engine *e, int64_t id);
/* Task `id`'s backoff is over: it waits again, in its set's feed like the
 * step's other tasks (priority, then id; pause and cancel as theirs). */
void rn_eng_retry_due(engine *e, int64_t id);
/* Take task `id` off the retry backoff list: true if it was there. */
bool rn_eng_unbackoff(engine *e, int64_t id);
/* A worker set's on_sent hook (arg: the engine): the task now runs. */
void rn_eng_on_sent(void *arg, pt_request *req, int64_t now);
/* Queue the retries that are due (all when `all`): milliseconds until the
 * next one, or -1 when none waits. */
int rn_eng_run_due_retries(engine *e, bool all);
/* Cancel every task still waiting: nothing new will run. */
void rn_eng_cancel_waiting(engine *e);
/* live.c: the live tasks by id. */
/* Task `id`'s tstate, or NULL when it is not live (or no task). */
tstate *rn_eng_live(const engine *e, int64_t id);
/* The live task after id *at (start at -1), in id order, *at its id; NULL
 * after the last. The map may change between calls. */
tstate *rn_eng_live_next(const engine *e, int64_t *at);
/* The map's directory for the plan's tasks: 0 or -ENOMEM. */
int rn_eng_live_init(engine *e);
/* Free the live tasks and the spares. */
void rn_eng_live_free(engine *e);
/* A new tstate for task `id` (not materialised), in e->live: NULL on
 * ENOMEM. */
tstate *rn_eng_track(engine *e, int64_t id);
/* Forget s (its args kept for reuse, history freed, request gone): its
 * task ended. */
void rn_eng_untrack(engine *e, tstate *s);
/* The args of a task forgotten, for a new one to reuse, or NULL. */
pt_args *rn_eng_spare_args(engine *e);
/* Keep args no request holds any more for a new task, or free them. */
void rn_eng_keep_args(engine *e, pt_args *a);
/* engine_feed.c: feeding a step to the sets. */
/* Allocate the per-task flags, entry runs, feeders: 0 or -ENOMEM. */
int rn_eng_feed_init(engine *e);
void rn_eng_feed_free(engine *e);
/* Put step `step`'s tasks in the feeders: how many will run. */
int rn_eng_feed_step(engine *e, int step, int64_t *total);
/* Queue tasks of set `set` up to its target (or every one left when
 * e->cancel_rest); all sets when `set` is -1. 0 or -errno. */
int rn_eng_feed(engine *e, int set);
/* After `ptrun ctl` changed priorities: keep every set's queue better
 * than what it has not been fed yet. */
void rn_eng_rebalance(engine *e);
/* Task s (queued in a set) goes back to its feed: from on_done. */
void rn_eng_refed(engine *e, tstate *s);
/* Task `id`, not materialised (or a retry due), now stands alone in its
 * set's feed. */
int rn_eng_feed_alone(engine *e, int64_t id);
/* Materialise task `id` of the running step now (cancelled ones). */
int rn_eng_materialise_now(engine *e, int64_t id);

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
/*
 * What a started run makes once its first tasks are at workers, so that
 * making it overlaps their work: when `running`, the manifest's disk
 * reserve and DIR/ctl.sock (a failure is only said on stderr); and
 * runs/latest. Once; nothing before the start.
 */
void rn_eng_open_late(engine *e, bool running);
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

/* halt.c: `halt: {failed: N, how: soon|now}`. */
/* Task s ended for good with status st: count it, maybe trip the halt. */
void rn_eng_halt_count(engine *e, const tstate *s, pt_task_status st);
/* After a tripped halt, from the step loop: cancel what waits, and with
 * `now` kill the workers running tasks. */
void rn_eng_halt_apply(engine *e);
/* The error of task s ending with *st after a halt (a killed task's
 * status becomes cancelled), or NULL: its own. */
const char *rn_eng_halt_error(engine *e, const tstate *s, pt_task_status *st);

/* median.c: `timeout: Nx-median`. */
#define RN_MEDIAN_MIN_OK 5     /* no timeout before this many ended ok */
#define RN_MEDIAN_FLOOR_MS 100 /* never a timeout shorter than this */
int rn_eng_median_init(engine *e);
void rn_eng_median_free(engine *e);
/* A task of set `set` ended ok after running run_ns: the set's timeout
 * follows. */
void rn_eng_median_ok(engine *e, int set, int64_t run_ns);

/* Resume: read the earlier sessions from DIR/manifest.json and, unless
 * --force, refuse a changed spec or kernel (-EINVAL, message in err). */
int rn_eng_check_resume(engine *e, char *err, size_t errlen);
/* Resume: mark the tasks whose latest line in DIR/results.jsonl is ok
 * (TF_SKIP); report the lines that are no result of this plan. */
int rn_eng_load_done(engine *e, char *err, size_t errlen);

#endif
