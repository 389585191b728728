/*
 * probe.h - look inside a kernel or plugin .so without loading it into
 * ptrun (SPEC §2: a kernel costs its worker, never the run).
 *
 * dlopen runs a library's constructors, which may crash, call exit, hang
 * or start threads. So each probe forks a short-lived child (its own
 * process group, stdin from /dev/null, stdout sent to stderr so that a
 * chatty constructor cannot corrupt `ptrun check`'s plan, SIGKILLed if
 * ptrun dies) that dlopens and checks the file, writes a report over a
 * close-on-exec pipe and leaves with _exit(). ptrun reads the report
 * within the load time limit ($PTRUN_LOAD_TIMEOUT_MS, default 30 s), then
 * kills the child's process group (what a constructor forked goes too)
 * and reaps the child. ptrun itself never loads the file, and stays
 * single-threaded so that it can fork workers.
 */
#ifndef RN_PROBE_H
#define RN_PROBE_H

#include <stdbool.h>
#include <stddef.h>

#include "spec/kparams.h"

/* The time limit of a load, and the variable that changes it (in ms). */
#define RN_PROBE_LIMIT_MS 30000
#define RN_PROBE_LIMIT_ENV "PTRUN_LOAD_TIMEOUT_MS"
#define RN_PROBE_LIMIT_MAX_MS 86400000

/* How a probe's child ended. */
typedef enum rn_probe_how {
    RN_PROBE_REPORTED, /* it loaded the file and sent its report */
    RN_PROBE_SIGNALED, /* killed by signal `code` */
    RN_PROBE_EXITED,   /* exited with status `code`, without a report */
    RN_PROBE_TIMEOUT,  /* no report within `code` ms: killed */
    RN_PROBE_BROKEN,   /* a report that does not parse (`code`: -errno) */
    RN_PROBE_FAILED    /* no probe: `what` failed with `code` (-errno) */
} rn_probe_how;

/* A kernel as a library's descriptor has it. */
typedef struct rn_probe_kernel {
    char *name;
    char *doc; /* "" when it has none */
    unsigned abi;
    rn_kparams params; /* its declared params (kparams.h) */
    char *bad; /* why its params are unusable ("kernel 'x': ..."), or NULL */
} rn_probe_kernel;

typedef struct rn_probe {
    rn_probe_how how;
    int code;                 /* see rn_probe_how */
    bool loaded;              /* dlopen returned in the child */
    const char *what;         /* RN_PROBE_FAILED: the call that failed */
    char *error;              /* REPORTED: the loader's refusal, or NULL */
    char *options_error;      /* REPORTED: what open() said of its options */
    rn_probe_kernel *kernels; /* REPORTED, no error: what the .so holds */
    int nkernels;
    char **missing; /* per name asked: NULL (there) or why not */
    int nmissing;
} rn_probe;

/*
 * Probe kernel library `path` (pt_kernel_lib_open's checks) and look up
 * `names[0..n)` in it. 0 when it passed and holds every name; -ENOENT
 * when only names are missing (p->missing says which); -EINVAL when the
 * library was refused or its child misbehaved (rn_probe_why(), p->error);
 * another -errno when no probe could run. Free p with rn_probe_free().
 */
int rn_probe_kernels(const char *path, const char *const *names, int n,
                     rn_probe *p);

/*
 * Probe plugin `path`: it must load, and leave the process with one
 * thread (ptrun loads plugins and must stay able to fork). 0, -EINVAL or
 * another -errno as rn_probe_kernels(). Free p with rn_probe_free().
 */
int rn_probe_plugin(const char *path, rn_probe *p);
/*
 * The same, and then open the plugin in the child with `options` (an
 * encoded map, ptools/value.h) in a scratch run folder that is removed
 * after, and close it: a plugin that refuses its options is known at check
 * time. -EDOM with p->options_error ("plugin NAME: its error") when open()
 * failed.
 */
int rn_probe_plugin_open(const char *path, const void *options, size_t len,
                         rn_probe *p);

/*
 * Why the child gave no report, in words that follow "kernel library
 * 'X': " (e.g. "loading it crashed (signal 11, SIGSEGV) in a
 * constructor"), written to buf; NULL when it reported (then p->error,
 * if any, is the whole message).
 */
const char *rn_probe_why(const rn_probe *p, char *buf, size_t size);

void rn_probe_free(rn_probe *p);

#endif
