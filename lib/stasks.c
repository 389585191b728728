/* stasks.c - server tasks over a worker set (stasks.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ptools/stasks.h>

#include "internal.h"

struct pt_stasks {
    pt_workerset *ws;
    pt_shm **shm;
    int nshm;
};

/* Create the segments, undoing all of them if one fails. */
static int create_segments(pt_stasks *h, const pt_shm_opts *cfg, int n)
{
    h->shm = calloc((size_t)n + 1, sizeof *h->shm);
    if (!h->shm)
        return pt__err(-ENOMEM, "stasks: out of memory");
    for (; h->nshm < n; h->nshm++) {
        h->shm[h->nshm] = pt_shm_create(&cfg[h->nshm]);
        if (!h->shm[h->nshm])
            return -errno;
    }
    return 0;
}

pt_stasks *pt_stasks_start(const pt_shm_opts *shm, int nshm, int n)
{
    return pt_stasks_start_ex(shm, nshm, n, NULL);
}

pt_stasks *pt_stasks_start_ex(const pt_shm_opts *shm, int nshm, int n,
                              const pt_workerset_opts *opts)
{
    pt_stasks *h = calloc(1, sizeof *h);
    int rc = h ? 0 : -ENOMEM;
    if (rc == 0 && (nshm < 0 || (nshm > 0 && !shm)))
        rc = pt__err(-EINVAL, "stasks: %d segment configs", nshm);
    if (rc == 0 && opts && (opts->shm || opts->nshm))
        rc = pt__err(-EINVAL, "stasks: the set's options name segments: "
                              "pass them as the segment configs");
    if (rc == 0)
        rc = create_segments(h, shm, nshm);
    if (rc == 0) {
        pt_workerset_opts o = {0};
        if (opts)
            o = *opts;
        o.shm = h->shm;
        o.nshm = h->nshm;
        h->ws = pt_workerset_create(n, PT_WS_RR, &o);
        rc = h->ws ? 0 : -errno;
    }
    if (rc == 0)
        return h;
    if (h)
        pt_stasks_stop(h);
    errno = -rc;
    return NULL;
}

int pt_stasks_count(const pt_stasks *h)
{
    return pt_workerset_size(h->ws);
}

/* Submit task i of a pmap, pinned to server task i. */
static pt_future *submit(pt_stasks *h, const pt_kernel *k, pt_args *args, int i)
{
    pt_call c = PT_CALL_INIT;
    c.kobj = k;
    c.args = args;
    c.worker = i;
    return pt_remotecall_ex(h->ws, &c);
}

int pt_stasks_pmap(pt_stasks *h, const pt_kernel *kernel, pt_args *const *args,
                   int nargs, pt_reply **results)
{
    int n = pt_stasks_count(h);
    if (nargs != n || !kernel || !results)
        return pt__err(-EINVAL,
                       "stasks_pmap: %d args for %d server tasks "
                       "(one each is needed)",
                       nargs, n);
    pt_future **f = calloc((size_t)n, sizeof *f);
    if (!f)
        return pt__err(-ENOMEM, "stasks_pmap: out of memory");
    int rc = 0, bad = 0;
    for (int i = 0; i < n && rc == 0; i++)
        if (!(f[i] = submit(h, kernel, args ? args[i] : NULL, i)))
            rc = -errno;
    for (int i = 0; i < n; i++) {
        results[i] = NULL;
        if (rc < 0) { /* cancel what was submitted */
            pt_future_destroy(f[i]);
            continue;
        }
        results[i] = pt_future_fetch(f[i]);
        if (!results[i])
            rc = -errno;
        else
            bad += pt_reply_status(results[i]) != PT_TASK_OK;
    }
    free(f);
    return rc < 0 ? rc : bad;
}

const pt_shm_view *pt_stasks_shm(const pt_stasks *h, const char *name)
{
    for (int i = 0; i < h->nshm; i++) {
        const pt_shm_view *v = pt_shm_view_of(h->shm[i]);
        if (strcmp(v->name, name) == 0)
            return v;
    }
    return NULL;
}

pt_workerset *pt_stasks_workerset(pt_stasks *h)
{
    return h->ws;
}

int pt_stasks_stop(pt_stasks *h)
{
    if (!h)
        return 0;
    int rc = pt_workerset_destroy(h->ws);
    for (int i = 0; i < h->nshm; i++) {
        pt_shm_unlink(h->shm[i]); /* a no-op unless it was named */
        pt_shm_detach(h->shm[i]);
    }
    free(h->shm);
    free(h);
    return rc;
}
