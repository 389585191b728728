/*
 * cluster_shm.c - the job's segments under MPI: one copy per node (see
 * cluster.h). No MPI here: it runs before MPI_Init, when every rank forks
 * its workers, so the ranks of a node agree through the launcher's
 * environment (local rank, job id) and a "ready" marker segment.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ptools/shm.h>

#include "cluster/cluster.h"
#include "engine/engine_internal.h"

#define READY_NAME "ready"
#define WAIT_NS INT64_C(60000000000) /* for the node's first rank */

/* The first of `names` set in the environment, or NULL. */
static const char *env_first(const char *const *names)
{
    for (; *names; names++) {
        const char *v = getenv(*names);
        if (v && *v)
            return v;
    }
    return NULL;
}

bool rn_cluster_node_share(int *local_rank, char *prefix, size_t size,
                           const char *spec_prefix)
{
    static const char *const locals[] = {"OMPI_COMM_WORLD_LOCAL_RANK",
                                         "MPI_LOCALRANKID", "PMI_LOCAL_RANK",
                                         NULL};
    static const char *const jobs[] = {
        "PMIX_NAMESPACE", "OMPI_MCA_ess_base_jobid", "PMI_KVSNAME", NULL};
    const char *lr = env_first(locals), *job = env_first(jobs);
    char *end;
    long r = lr ? strtol(lr, &end, 10) : -1;
    if (!lr || *end || r < 0 || !job)
        return false;
    char token[48];
    size_t k = 0;
    for (const char *c = job; *c && k < sizeof token - 1; c++)
        if ((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') ||
            (*c >= 'A' && *c <= 'Z'))
            token[k++] = *c;
    token[k] = '\0';
    int n = snprintf(prefix, size, "%s_j%s", spec_prefix, token);
    *local_rank = (int)r;
    return k > 0 && n > 0 && (size_t)n < size;
}

/* Wait for the node's first rank to say its segments are ready. */
static int wait_ready(const char *prefix, char *err, size_t errlen)
{
    struct timespec ts = {0, 2000000};
    for (int64_t waited = 0; waited < WAIT_NS; waited += ts.tv_nsec) {
        pt_shm *m = pt_shm_attach(prefix, READY_NAME, NULL);
        if (m) {
            pt_shm_detach(m);
            return 0;
        }
        nanosleep(&ts, NULL);
    }
    snprintf(err, errlen,
             "MPI: the segments of this node (/ptools_%s_*) "
             "were not made within 60 s by its first rank",
             prefix);
    return -ETIMEDOUT;
}

int rn_cluster_make_segments(engine *e, char *err, size_t errlen)
{
    const rn_spec *s = e->spec;
    char shared[128];
    int local = 0, rc = 0;
    if (!rn_cluster_node_share(&local, shared, sizeof shared, s->shm_prefix)) {
        /* no way to agree: every rank its own copy, its own names */
        int rank = 0, size = 1;
        rn_cluster_launched(&rank, &size);
        snprintf(shared, sizeof shared, "%s_r%d", s->shm_prefix, rank);
        e->shm_owner = true;
        for (int i = 0; rc == 0 && i < s->nsegments; i++)
            rc = rn_eng_make_segment(e, i, rank ? shared : s->shm_prefix,
                                     s->segments[i].named, err, errlen);
        return rc;
    }
    e->shm_owner = local == 0;
    if (e->shm_owner) {
        for (int i = 0; rc == 0 && i < s->nsegments; i++) {
            const rn_segment *g = &s->segments[i];
            /* visible until every rank of the node has attached: see
             * rn_cluster_segments_attached() */
            rc = rn_eng_make_segment(e, i, g->named ? s->shm_prefix : shared,
                                     true, err, errlen);
        }
        pt_shm_opts o = {.prefix = shared,
                         .name = READY_NAME,
                         .type = PT_UINT8,
                         .ndims = 1,
                         .dims = {1},
                         .named = true};
        if (rc == 0 && !(e->shm_ready = pt_shm_create(&o))) {
            rc = -errno;
            snprintf(err, errlen, "MPI: %s", pt_errmsg());
        }
        return rc;
    }
    if ((rc = wait_ready(shared, err, errlen)) < 0)
        return rc;
    for (int i = 0; rc == 0 && i < s->nsegments; i++) {
        const rn_segment *g = &s->segments[i];
        pt_shm_opts want = {.type = g->type, .ndims = g->ndims};
        memcpy(want.dims, g->dims, sizeof want.dims);
        e->shm[i] = pt_shm_attach(g->named ? s->shm_prefix : shared, g->name,
                                  &want);
        if (!e->shm[i]) {
            rc = -errno;
            snprintf(err, errlen,
                     "%s:%d:%d: segment %s (shared on this "
                     "node): %s",
                     s->file, g->pos.line, g->pos.col, g->name, pt_errmsg());
        }
    }
    return rc;
}

void rn_cluster_segments_attached(engine *e)
{
    if (!e->shm_owner || !e->shm_ready)
        return;
    for (int i = 0; i < e->spec->nsegments; i++)
        if (e->shm[i] && !e->spec->segments[i].named)
            pt_shm_unlink(e->shm[i]); /* nothing can leak from now on */
    pt_shm_unlink(e->shm_ready);
    pt_shm_detach(e->shm_ready);
    e->shm_ready = NULL;
}
