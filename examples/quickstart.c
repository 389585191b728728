/*
 * quickstart.c - what `make run` runs until ptrun exists: Monte Carlo pi on
 * every core with pt_pfork, each child's hit count written into a shared
 * int64 segment, the segment saved as a NumPy file.
 *
 *   usage: quickstart [SAMPLES_PER_CHILD] [OUT.npy]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <ptools/npy.h>
#include <ptools/pfork.h>
#include <ptools/shm.h>

struct job {
    int64_t *hits; /* the shared segment: one slot per child */
    uint64_t samples;
};

/* splitmix64: a small, good generator, seeded per child. */
static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static int count_hits(int i, void *arg, pt_buf *out)
{
    struct job *job = arg;
    uint64_t seed = 42 + (uint64_t)i, hits = 0;
    for (uint64_t k = 0; k < job->samples; k++) {
        double x = (double)(next(&seed) >> 11) * 0x1p-53;
        double y = (double)(next(&seed) >> 11) * 0x1p-53;
        hits += x * x + y * y <= 1.0;
    }
    job->hits[i] = (int64_t)hits;
    return pt_buf_printf(out, "pid %ld", (long)getpid());
}

int main(int argc, char **argv)
{
    struct job job = {.samples = argc > 1 ? strtoull(argv[1], NULL, 10)
                                          : 4000000};
    const char *npy = argc > 2 ? argv[2] : "quickstart-hits.npy";
    int n = (int)sysconf(_SC_NPROCESSORS_ONLN);
    n = n < 1 ? 1 : n;
    pt_shm_opts o = {.prefix = "quickstart",
                     .name = "hits",
                     .type = PT_INT64,
                     .ndims = 1,
                     .dims = {(uint64_t)n}};
    pt_shm *shm = pt_shm_create(&o);
    if (!shm) {
        fprintf(stderr, "quickstart: %s\n", pt_errmsg());
        return 3;
    }
    job.hits = pt_shm_view_of(shm)->data;
    pt_pfork_result *r = calloc((size_t)n, sizeof *r);
    if (!r || pt_pfork(n, count_hits, &job, r) < 0) {
        fprintf(stderr, "quickstart: %s\n", r ? pt_errmsg() : "no memory");
        return 3;
    }
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        char why[128];
        printf("child %d (%.*s): %s, %lld hits\n", i, (int)r[i].out.len,
               (char *)r[i].out.data, pt_pfork_describe(&r[i], why, sizeof why),
               (long long)job.hits[i]);
        total += job.hits[i];
    }
    printf("pi ~ %.6f from %llu samples on %d processes\n",
           4.0 * (double)total / ((double)job.samples * n),
           (unsigned long long)job.samples * (unsigned long long)n, n);
    int bad = pt_pfork_failures(n, r);
    if (pt_shm_save_npy(shm, npy) == 0)
        printf("hits per child saved to %s\n", npy);
    else
        fprintf(stderr, "quickstart: %s\n", pt_errmsg()), bad = 1;
    pt_pfork_results_free(n, r);
    free(r);
    pt_shm_detach(shm);
    return bad ? 1 : 0;
}
