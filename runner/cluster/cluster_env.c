/* cluster_env.c - was this process launched among MPI ranks? (cluster.h) */
#include <stdlib.h>

#include "cluster/cluster.h"

/* An integer from the first of `names` set in the environment, or -1. */
static int env_int(const char *const *names)
{
    for (; *names; names++) {
        const char *v = getenv(*names);
        char *end;
        long n = v ? strtol(v, &end, 10) : -1;
        if (v && *v && !*end && n >= 0 && n < 1 << 24)
            return (int)n;
    }
    return -1;
}

bool rn_cluster_launched(int *rank, int *size)
{
    /* Open MPI, MPICH/Hydra (PMI), PMIx (srun --mpi=pmix). Not Slurm's own
     * SLURM_PROCID: a batch script's shell has it too, without srun. */
    static const char *const ranks[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK",
                                        "PMIX_RANK", NULL};
    static const char *const sizes[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE",
                                        "PMIX_SIZE", NULL};
    *rank = env_int(ranks);
    *size = env_int(sizes);
    return *rank >= 0 && *size > 1 && *rank < *size;
}
