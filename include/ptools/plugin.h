/*
 * ptools/plugin.h - the plugin ABI: observers of a ptrun run.
 *
 * The runner turns everything that happens into events (run start/end,
 * step start/end, task queued/started/finished/retried, worker
 * started/exited) and hands each to every plugin, in order, from its one
 * thread. Result files are plugins: `jsonl` (results.jsonl), `csv`, and any
 * user plugin named by path in the job spec.
 *
 * A plugin .so exports one descriptor with PT_PLUGIN(&desc). Its `abi` is
 * checked at load. The structs below are append-only: they start with their
 * size, and new members only ever go at the end.
 *
 * Values (ABI 3). A task's args and results, and the plugin's options, are
 * handed over as they travel: one encoded map each (ptools/value.h), read
 * with pt_vdec() and pt_vmap_next() or written out with pt_value_to_json()
 * (link libptools). They are valid during the call only and never NULL
 * where the text says "an encoded map" (an empty map then). The JSON text
 * members (`args_json`, `result_json`) are filled only when some loaded
 * plugin was built for ABI 1 or 2: the runner turns no task's values into
 * JSON before a plugin asks for it. A plugin built for ABI 3 reads `args`
 * and `result`, not the JSON.
 *
 * Batches (ABI 4). A plugin may take events in batches: `on_events(ctx,
 * evs, n)` gets n events in a row, in the order they happened, and then
 * gets every event through it (the kinds that are never batched, as
 * batches of one); `on_event` is not called and may be NULL. The runner
 * gathers task events (queued, started, finished, retried, priority) and
 * hands them over before any other kind of event, before a flush, and so
 * before it waits idle and at most 50 ms after a task ended. What an
 * event points to stays valid until on_events returns. A plugin without
 * on_events (all of ABI 1 to 3) gets one on_event call per event, in the
 * same order.
 *
 * Event types wanted (ABI 5). A plugin may say which types it takes:
 * `events`, PT_EV_MASK() of each, or-ed; 0 (and every plugin built for
 * ABI 1 to 4): all of them. The runner does not even make an event of a
 * type no loaded plugin takes (a task's queued and started events cost it
 * about as much as its results line); a plugin may still be handed types
 * it did not ask for, when another plugin takes them, and ignores them.
 */
#ifndef PTOOLS_PLUGIN_H
#define PTOOLS_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ptools/args.h>
#include <ptools/common.h> /* PT_EXTERN, pt_task_status */

#ifdef __cplusplus
extern "C" {
#endif

#define PT_PLUGIN_ABI 5 /* plugins built for ABI 1 to 4 still load */

typedef enum pt_event_type {
    PT_EV_RUN_START = 1,
    PT_EV_RUN_END,
    PT_EV_STEP_START,
    PT_EV_STEP_END,
    PT_EV_TASK_QUEUED,
    PT_EV_TASK_STARTED,
    PT_EV_TASK_FINISHED, /* final: status ok, failed, crashed, ... */
    PT_EV_TASK_RETRIED,  /* an attempt failed and the task waits again */
    PT_EV_WORKER_STARTED,
    PT_EV_WORKER_EXITED,
    PT_EV_TASK_PRIORITY, /* a waiting task's priority changed (`priority`) */
    PT_EV_CONTROL,       /* a `ptrun ctl` request was applied (`control`) */
} pt_event_type;
/* The bit of event type t in pt_plugin.events. */
#define PT_EV_MASK(t) (UINT64_C(1) << (t))

/* One event. Pointers are valid during on_event (on_events) only; NULL
 * when unknown. */
typedef struct pt_event {
    uint32_t size; /* sizeof(pt_event) of the runner */
    pt_event_type type;
    int64_t time_ns; /* CLOCK_REALTIME, ns since the epoch */
    const char *run_name;
    int step; /* step index, -1 when none */
    const char *step_name;
    int64_t task; /* the plan's task id, PT_TASK_NONE (-1): none */
    const char *kernel;
    const char *workerset;
    int worker;    /* worker index in its set, -1 when none */
    int pid;       /* the worker's pid, 0 when none */
    uint64_t seed; /* the task's seed */
    int64_t priority;
    const char *args_json;   /* the task's args, a JSON object (only for
                                plugins of ABI < 3, see "Values") */
    pt_task_status status;   /* TASK_FINISHED, TASK_RETRIED */
    const char *error;       /* NULL when ok */
    const char *result_json; /* what the kernel set, a JSON object (only
                                for plugins of ABI < 3) */
    int attempts;            /* attempts so far, this one included */
    int signal;              /* the worker's death signal, or 0 */
    int exit_code;           /* the worker's exit status, or -1 */
    int64_t queued_ns, start_ns, end_ns; /* CLOCK_REALTIME */
    int64_t counts[PT_TASK_NSTATUS];     /* RUN_END, STEP_END: tasks by
                                            pt_task_status */
    int interrupted;           /* RUN_END: the run was stopped by a signal */
    int64_t max_rss_kb;        /* a dead worker's peak RSS (wait4), or 0 */
    const char *attempts_json; /* TASK_FINISHED/RETRIED: the earlier failed
                                  attempts, a JSON array, or NULL */
    int64_t waiting;           /* tasks queued and not yet sent, run-wide */
    int64_t running;           /* tasks sent to workers and not yet answered */
    const char *control;       /* CONTROL: the request as JSON, else NULL */
    int rank;                  /* the MPI rank that ran the task (0: rank 0) */
    int nranks;                /* ranks of the run; 0 or 1: not under MPI */
    /* ABI 3: the typed views (see "Values" above) */
    const void *args; /* task events: the task's args, an encoded map */
    size_t args_len;
    const void *result; /* TASK_FINISHED/RETRIED: what the kernel set, */
    size_t result_len;  /* an encoded map */
} pt_event;

/*
 * The runner's own system calls, offered to plugins (ctx->sys): they retry
 * on EINTR and short writes, make every fd close-on-exec, return 0 (or the
 * fd) or a negative errno, and are the ones that tests make fail on
 * purpose (PTOOLS_FAULT), so that a plugin's error paths are tested too.
 */
typedef struct pt_plugin_sys {
    uint32_t size; /* sizeof(pt_plugin_sys) of the runner */
    int (*open)(const char *path, int flags, mode_t mode); /* fd or -errno */
    int (*write)(int fd, const void *p, size_t n); /* all n bytes: 0, -errno */
    int (*fsync)(int fd);                          /* 0 or -errno */
} pt_plugin_sys;

/* The plugin's view of the run; `data` is the plugin's own. */
typedef struct pt_plugin_ctx {
    uint32_t size;       /* sizeof(pt_plugin_ctx) of the runner */
    const char *run_dir; /* the output folder: write files here */
    const char *run_name;
    void *data;               /* set it in open, it comes back every call */
    char error[256];          /* a message when a call returns non-zero */
    const pt_plugin_sys *sys; /* the runner's system calls; older runners
                                 have none (size says so) */
    /* ABI 3 */
    const void *options; /* the spec's options, an encoded map (the
                            same as open()'s JSON), valid during open */
    size_t options_len;
    int checking; /* 1: this open() only checks the options
                     (ptrun check, in a child, in a scratch run
                     folder): create nothing; close follows */
} pt_plugin_ctx;

typedef struct pt_plugin {
    uint32_t abi; /* PT_PLUGIN_ABI */
    const char *name;
    const char *doc; /* one line */
    /*
     * `options` is the spec's options mapping as JSON text ("{}" if none),
     * nested maps and lists included (ABI 3 also has ctx->options). An
     * error returned here, with ctx->error, fails `ptrun check` and `ptrun
     * run` as a spec error at the options: the runner opens every plugin
     * once at check time, in a child process, in a scratch folder.
     */
    int (*open)(pt_plugin_ctx *ctx, const char *options);
    int (*on_event)(pt_plugin_ctx *ctx, const pt_event *ev);
    int (*close)(pt_plugin_ctx *ctx); /* flush and release everything */
    /* ABI 2 */
    /*
     * Optional: write out what is buffered. The runner calls it before it
     * next waits idle and at most 50 ms after a task ended, so a SIGKILL
     * of the runner loses no result older than that (SPEC §5).
     */
    int (*flush)(pt_plugin_ctx *ctx);
    /* ABI 4 */
    /*
     * Optional: take evs[0..n-1] (n >= 1) at once, in order; then every
     * event comes through here (see "Batches"). Non-zero: the plugin
     * failed, as from on_event.
     */
    int (*on_events)(pt_plugin_ctx *ctx, const pt_event *evs, size_t n);
    /* ABI 5 */
    uint64_t events; /* PT_EV_MASK()s of the types it takes; 0: all */
} pt_plugin;

/* Export this .so's plugin: PT_PLUGIN(&my_plugin); */
#define PT_PLUGIN(desc) PT_EXTERN const pt_plugin *const pt_plugin_desc = (desc)

#ifdef __cplusplus
}
#endif
#endif
