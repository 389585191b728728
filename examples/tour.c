/* tour.c - the README's tour: a shared segment filled by forked children. */
#include <stdio.h>
#include <ptools/pfork.h>
#include <ptools/shm.h>

/* Child i squares its share of the segment in place and reports its sum. */
static int square_share(int i, void *arg, pt_buf *out)
{
    const pt_shm_view *v = arg;
    double *x = v->data, sum = 0;
    for (uint64_t k = (uint64_t)i; k < v->size; k += 4) {
        x[k] = (double)k * (double)k;
        sum += x[k];
    }
    return pt_buf_printf(out, "%.0f", sum);
}

int main(void)
{
    pt_shm_opts o = {.prefix = "tour",
                     .name = "x",
                     .type = PT_FLOAT64,
                     .ndims = 1,
                     .dims = {1000}};
    pt_shm *shm = pt_shm_create(&o); /* zero-filled, nothing to leak */
    if (!shm) {
        fprintf(stderr, "tour: %s\n", pt_errmsg());
        return 1;
    }
    const pt_shm_view *v = pt_shm_view_of(shm);
    pt_pfork_result r[4];
    if (pt_pfork(4, square_share, (void *)v, r) < 0) {
        fprintf(stderr, "tour: %s\n", pt_errmsg());
        return 1;
    }
    for (int i = 0; i < 4; i++) {
        char why[128];
        printf("child %d: %s, sum %.*s\n", i,
               pt_pfork_describe(&r[i], why, sizeof why), (int)r[i].out.len,
               (const char *)r[i].out.data);
    }
    printf("x[999] = %.0f\n", ((double *)v->data)[999]);
    int bad = pt_pfork_failures(4, r);
    pt_pfork_results_free(4, r);
    pt_shm_detach(shm);
    return bad ? 1 : 0;
}
