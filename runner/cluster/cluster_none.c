/* cluster_none.c - the plain ptrun: no MPI inside (see cluster.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cluster/cluster.h"

bool rn_cluster_built(void)
{
    return false;
}

int rn_cluster_start(struct engine *e, char *err, size_t errlen)
{
    (void)e, (void)err, (void)errlen;
    return 0;
}

const rn_ranks *rn_cluster_ranks(struct engine *e)
{
    (void)e;
    return NULL;
}

void rn_cluster_pin(struct engine *e, int64_t id)
{
    (void)e, (void)id;
}

int rn_cluster_take_back(struct engine *e, int64_t id)
{
    (void)e, (void)id;
    return -EBUSY;
}

int rn_cluster_pump(struct engine *e)
{
    (void)e;
    return -1;
}

void rn_cluster_interrupt(struct engine *e, bool kill)
{
    (void)e, (void)kill;
}

void rn_cluster_finish(struct engine *e)
{
    (void)e;
}

int rn_cluster_agent(const rn_spec *spec, const rn_run_opts *o)
{
    (void)spec, (void)o;
    fprintf(stderr, "ptrun: this ptrun was built without MPI\n");
    return 2;
}
