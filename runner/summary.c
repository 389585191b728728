/* summary.c - the end-of-run summary (see summary.h). */
#include <inttypes.h>
#include <stdlib.h>

#include "summary.h"

int rn_summary_init(rn_summary *s, int nkernels)
{
    s->nkernels = nkernels;
    s->per_kernel = calloc((size_t)nkernels + 1, sizeof *s->per_kernel);
    return s->per_kernel ? 0 : -1;
}

void rn_summary_add(rn_summary *s, int kernel, int64_t ns)
{
    rn_lat *l = &s->per_kernel[kernel];
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        int64_t *p = realloc(l->ns, cap * sizeof *p);
        if (!p)
            return;
        l->ns = p;
        l->cap = cap;
    }
    l->ns[l->n++] = ns < 0 ? 0 : ns;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The q-quantile (0..1) of sorted values, in milliseconds. */
static double quantile_ms(const rn_lat *l, double q)
{
    size_t i = (size_t)(q * (double)(l->n - 1) + 0.5);
    return (double)l->ns[i] / 1e6;
}

void rn_summary_print(rn_summary *s, const rn_spec *spec,
                      const int64_t counts[5], int64_t skipped, double wall_s,
                      const char *dir, FILE *out)
{
    static const char *const names[] = {"ok", "failed", "crashed", "timeout",
                                        "cancelled"};
    int64_t done = 0;
    fprintf(out, "ptrun: %s:", spec->name);
    for (int i = 0; i < 5; i++) {
        done += counts[i];
        if (counts[i] || i == 0)
            fprintf(out, " %" PRId64 " %s", counts[i], names[i]);
    }
    if (skipped)
        fprintf(out, " (%" PRId64 " ok before, not run again)", skipped);
    fprintf(out, " in %.2f s, %.0f tasks/s\n", wall_s,
            wall_s > 0 ? (double)done / wall_s : 0.0);
    for (int k = 0; k < s->nkernels; k++) {
        rn_lat *l = &s->per_kernel[k];
        if (!l->n)
            continue;
        qsort(l->ns, l->n, sizeof *l->ns, cmp64);
        fprintf(out, "  %-16s %8zu tasks  p50 %9.3f ms  p99 %9.3f ms\n",
                spec->kernels[k].name, l->n, quantile_ms(l, 0.5),
                quantile_ms(l, 0.99));
    }
    fprintf(out, "  results in %s\n", dir);
}

void rn_summary_free(rn_summary *s)
{
    for (int k = 0; s->per_kernel && k < s->nkernels; k++)
        free(s->per_kernel[k].ns);
    free(s->per_kernel);
    s->per_kernel = NULL;
}
