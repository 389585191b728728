/*
 * ws_reap.c - what a worker's kernels start must not outlive it: the
 * caller becomes a child subreaper, and the strays that come back to it
 * when a worker dies (setsid children, daemons) are killed and reaped.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <ptools/workerset.h>

#include "internal.h"
#include "os.h"

int pt_subreaper_enable(void)
{
    int rc = pt__os_set_subreaper();
    return rc < 0 ? pt__err(rc, "child subreaper: %s", pt_strerror(rc)) : 0;
}

/* Is `pid` a worker of one of the sets (alive, or dead and not reaped)? */
static int is_worker(pid_t pid, pt_workerset *const *sets, int nsets)
{
    for (int i = 0; i < nsets; i++)
        for (int w = 0; sets[i] && w < pt_workerset_size(sets[i]); w++)
            if (pt_workerset_pid(sets[i], w) == (int)pid)
                return 1;
    return 0;
}

/* Kill and reap child `pid`; its own children come back to us. */
static void end_stray(pid_t pid)
{
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

/* The caller's children now, in *kids (grown as needed): count or -errno. */
static int list_children(pid_t **kids, int *cap)
{
    for (;;) {
        int n = pt__os_children(*kids, *cap);
        if (n <= *cap)
            return n;
        pid_t *more = realloc(*kids, (size_t)(n + 64) * sizeof *more);
        if (!more)
            return -ENOMEM;
        *kids = more;
        *cap = n + 64;
    }
}

/* Kill the strays among the children, once: how many, or -errno. */
static int reap_round(pid_t **kids, int *cap, pt_workerset *const *sets,
                      int nsets)
{
    int n = list_children(kids, cap), strays = 0;
    if (n < 0)
        return n;
    for (int i = 0; i < n; i++) {
        if (is_worker((*kids)[i], sets, nsets))
            continue;
        end_stray((*kids)[i]);
        strays++;
    }
    return strays;
}

/* Does the caller have no child at all (none to list in /proc)? */
static bool childless(void)
{
    siginfo_t info;
    return waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) < 0 &&
           errno == ECHILD;
}

/* Rounds until none is left: a stray's children become ours as it dies. */
int pt_workerset_reap_strays(pt_workerset *const *sets, int nsets)
{
    if (childless()) /* a worker's end, most often: no /proc to read */
        return 0;
    int cap = 64, ended = 0, n;
    pid_t *kids = malloc((size_t)cap * sizeof *kids);
    if (!kids)
        return pt__err(-ENOMEM, "reaping strays: out of memory");
    while ((n = reap_round(&kids, &cap, sets, nsets)) > 0)
        ended += n;
    free(kids);
    if (n < 0)
        return pt__err(n, "listing child processes: %s", pt_strerror(n));
    return ended;
}
