/*
 * probe_impl.h - what the two sides of a probe share (probe.h says what a
 * probe is): the request, the report's first byte and the child's exit
 * status when it could not write. probe.c is the parent's side (fork,
 * pipe, time limit, decoding the report); probe_child.c is the child's.
 */
#ifndef RN_PROBE_IMPL_H
#define RN_PROBE_IMPL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define RN_PROBE_LOADED_MARK 'L' /* first byte: dlopen has returned */
/* The child's exit status when it could not write to ptrun (a constructor
 * calling exit(125) would be taken for that: the lesser evil). */
#define RN_PROBE_EXIT_UNSENT 125

/* What the child is to do. */
typedef struct rn_probe_req {
    const char *path;
    bool plugin;
    const char *const *names; /* kernels only: the names to look up */
    int n;
    const void *options; /* plugins: open with these, or NULL */
    size_t options_len;
} rn_probe_req;

/*
 * The child's whole life, right after fork (signals blocked, `old` the mask
 * to restore): set up its fds, dlopen r->path, write the mark then the
 * encoded report to `wfd`, and _exit (RN_PROBE_EXIT_UNSENT if it cannot).
 */
_Noreturn void rn_probe_child_main(const rn_probe_req *r, int null_fd, int wfd,
                                   pid_t parent, const sigset_t *old);

#endif
