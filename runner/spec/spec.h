/*
 * spec.h - a ptrun job spec, read from YAML and checked (SPEC §4).
 *
 * rn_spec_load() reads the file with libyaml, applies `--set PATH=VALUE`
 * overrides to the YAML tree, then builds and checks an rn_spec. Every
 * problem is reported as "FILE:LINE:COL: message" (1-based, pointing at the
 * offending node; for an override, the message names the --set argument)
 * and nothing else happens: no file or segment is created. Kernel and
 * plugin .so files are loaded only in short-lived children (probe.h), none
 * of which outlives the load.
 * Unknown keys are errors with a "did you mean" when one is close.
 * Anchors, aliases and merge keys (<<) work as YAML users expect.
 *
 * Paths in the spec (kernel and plugin .so files, npy inputs) are resolved
 * relative to the spec file's directory; a bare kernel/plugin name without
 * a '/' is looked up in $PTRUN_KERNEL_PATH / $PTRUN_PLUGIN_PATH (':'
 * separated), then in the build or install folder given by the caller.
 */
#ifndef RN_SPEC_H
#define RN_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ptools/args.h>
#include <ptools/buf.h>
#include <ptools/dtype.h>
#include <ptools/shm.h>
#include <ptools/workerset.h>

#include "spec/kparams.h"

/* Where a node was in the YAML file (1-based). */
typedef struct rn_pos {
    int line, col;
} rn_pos;

/* A YAML value as the spec holds it (task args, sweep values, options). */
typedef enum rn_vtype {
    RN_NULL,
    RN_BOOL,
    RN_INT,
    RN_REAL,
    RN_STR,
    RN_LIST,
    RN_MAP
} rn_vtype;

typedef struct rn_value {
    rn_vtype type;
    rn_pos pos;
    bool b;
    int64_t i;
    double r;
    char *s;                /* RN_STR */
    size_t n;               /* RN_LIST, RN_MAP: item count */
    struct rn_value *items; /* RN_LIST, RN_MAP: n values */
    char **keys;            /* RN_MAP: n keys, in file order */
} rn_value;

/*
 * Append v to b with the value codec (ptools/value.h): the one encoding a
 * spec value has from here on. A list of numbers becomes an int array (all
 * ints) or a real array. 0 or -errno.
 */
int rn_value_encode(pt_buf *b, const rn_value *v);
/* Is v a non-empty list of numbers (encoded as an array)? */
bool rn_value_numeric_list(const rn_value *v);

typedef enum rn_init { RN_INIT_ZERO, RN_INIT_FILL, RN_INIT_NPY } rn_init;

typedef struct rn_segment {
    char *name;
    pt_dtype type;
    int ndims;
    uint64_t dims[PT_SHM_MAXDIMS];
    rn_init init;
    double fill; /* RN_INIT_FILL: checked to fit the type */
    char *npy;   /* RN_INIT_NPY: resolved path */
    bool save;
    bool named;
    int hugepages; /* PT_SHM_HUGE_AUTO (default), _ON or _OFF */
    rn_pos pos;
} rn_segment;

typedef struct rn_kernel {
    char *name;   /* the name tasks use */
    char *path;   /* resolved .so path */
    char *symbol; /* the kernel's name inside the .so */
    rn_pos pos;
    rn_kparams params; /* what it declares (probed), checked per task */
} rn_kernel;

typedef struct rn_workerset {
    char *name;
    int workers; /* resolved: `auto` = online CPUs */
    bool workers_auto;
    pt_ws_mode mode;
    int64_t timeout_ms;    /* 0: none */
    double timeout_median; /* `timeout: Nx-median`: N (> 0), else 0 */
    int retries;
    bool retry_failed;
    int window; /* 0: the mode's default */
    int batch;  /* requests sent at once; 0: auto */
    rn_pos pos;
    int64_t memory_bytes;  /* RLIMIT_AS per worker, 0: none */
    int64_t grace_ms;      /* at shutdown, for the workers' fini; -1: default */
    int64_t checkpoint_ms; /* kernels' state snapshotted at most this often
                              into the run folder's state/; 0: never */
} rn_workerset;

/* How a sweep axis makes its values (SPEC §4). */
typedef enum rn_axis_gen {
    RN_GEN_LIST,     /* `values` holds them: a list, {glob:} or {lines:} */
    RN_GEN_RANGE,    /* {range: [start, stop, step]}: stop excluded */
    RN_GEN_LINSPACE, /* {linspace: [a, b, n]}: a..b inclusive */
    RN_GEN_LOGSPACE  /* {logspace: [a, b, n]}: 10^x, x in linspace */
} rn_axis_gen;

/*
 * One axis of a sweep, or of a zip (its values paired with the other zip
 * axes' by index). Numeric generators stay compact: the value at an index
 * is worked out when asked (rn_axis_value), so a range of 10^7 values
 * costs a few bytes.
 */
typedef struct rn_sweep_axis {
    char *key;
    rn_value values; /* RN_GEN_LIST: RN_LIST of n values; else empty */
    rn_axis_gen gen;
    bool ints; /* RN_GEN_RANGE: every value an int (i0 + k*istep) */
    int64_t i0, istep;
    double r0, r1, rstep; /* reals: r0 + k*rstep; linspace ends at r1 */
    size_t n;             /* how many values: 1 .. RN_MAX_TASKS */
    bool zip;             /* an axis of `zip:` (they come first) */
    rn_pos pos;           /* the axis's value node */
} rn_sweep_axis;

/* Value k (< ax->n) of an axis: in ax->values, or made in *tmp. */
const rn_value *rn_axis_value(const rn_sweep_axis *ax, size_t k, rn_value *tmp);

typedef struct rn_task {
    int kernel;    /* index into spec->kernels */
    int workerset; /* index into spec->workersets */
    int64_t priority;
    rn_value args;  /* RN_MAP (empty when absent) */
    int64_t repeat; /* 1 when absent; tasks get arg `rep` when given */
    bool has_repeat;
    rn_sweep_axis *sweep; /* the zip's axes first (zip: true), then the
                             sweep's */
    int nsweep;           /* all axes, zip's included */
    int nzip;             /* zip axes: one index for all, slowest; then
                             the sweep's cartesian product, first axis
                             slowest */
    bool each_worker;
    int on;      /* pinned worker index, -1 when absent */
    char **tags; /* for `ptrun ctl` to select tasks by */
    int ntags;
    rn_pos pos;
} rn_task;

/*
 * The most bytes the args of a task of entry t encode to, over all its
 * sweep points (0-7 alignment bytes of an array counted as 7): exact for
 * args without arrays, never below. A task is refused when this passes
 * RN_MAX_ARGS_BYTES, what one request to a worker carries.
 */
size_t rn_task_args_size(const rn_task *t);
/* The same for one value: what rn_value_encode appends, at most. */
size_t rn_value_size(const rn_value *v);
#define RN_MAX_ARGS_BYTES PT_ARGS_MAX

/* `halt: {failed: N, how: soon|now}` of the job or of a step: after N
 * tasks end not ok (failed, crashed, timeout), nothing new is started. */
typedef struct rn_halt {
    int64_t failed; /* N >= 1; 0: no halt */
    bool now;       /* how: now (running tasks are killed), else soon */
    rn_pos pos;
} rn_halt;

typedef struct rn_step {
    char *name;
    rn_task *tasks;
    int ntasks;
    rn_pos pos;
    rn_halt halt; /* overrides the job's for this step */
} rn_step;

typedef struct rn_plugin {
    char *name;       /* shipped plugin name, or NULL with a path */
    char *path;       /* resolved .so path */
    rn_value options; /* RN_MAP (empty when absent) */
    rn_pos pos;
    bool probed;  /* it loaded safely in a child (probe.h): the
                     runner may load it (host.c) */
    bool added;   /* not an item of `plugins:` (the default jsonl,
                     --trace's) */
    bool builtin; /* the default jsonl: built into ptrun (host.c), no
                     .so to find, hash or load (path NULL) */
} rn_plugin;

typedef struct rn_spec {
    char *file;  /* as given */
    char *dir;   /* its directory, for relative paths */
    int version; /* `ptrun:` (1) */
    char *name;  /* [A-Za-z0-9_-]+ */
    uint64_t seed;
    char *shm_prefix; /* default: name */
    rn_segment *segments;
    int nsegments;
    rn_kernel *kernels;
    int nkernels;
    rn_workerset *workersets;
    int nworkersets;
    rn_step *steps;
    int nsteps;
    rn_halt halt;       /* the job's (failed 0: none) */
    rn_plugin *plugins; /* default: one, jsonl */
    int nplugins;
    char *resolved_yaml; /* the spec after overrides, as YAML text */
} rn_spec;

/* Where bare names are looked up after the environment's paths. */
typedef struct rn_search {
    const char *kernel_dir; /* e.g. build/kernels or $libdir/ptools/kernels */
    const char *plugin_dir;
} rn_search;

/*
 * Load, override and check `file`. On failure returns NULL and writes the
 * "FILE:LINE:COL: message" text (one or more lines) into err; errno is
 * EINVAL, or EIO when every problem was the system's (a library could not
 * be probed: fork failed, say), a runtime error rather than a bad spec.
 * `sets` are the --set arguments ("path.to.key=value"), `nsets` of them.
 */
rn_spec *rn_spec_load(const char *file, const char *const *sets, int nsets,
                      const rn_search *search, char *err, size_t errlen);
void rn_spec_free(rn_spec *spec);
/*
 * Add the shipped plugin `name`, looked up as a bare name in a spec is,
 * after the plugins the spec names, with the one string option
 * {key: value} (`ptrun run --trace FILE`). 0, or -errno with a message
 * in err.
 */
int rn_spec_add_plugin(rn_spec *spec, const char *name, const char *key,
                       const char *value, const rn_search *search, char *err,
                       size_t errlen);

/* Validation limits, so absurd specs fail before anything is created. */
#define RN_MAX_WORKERS 4096
#define RN_MAX_TASKS (INT64_C(100000000))

#endif
