/*
 * median.c - a running median (median.h), and `timeout: Nx-median`: the
 * timeout of a set's tasks follows N times the median run time (end_ns -
 * start_ns) of its tasks that ended ok so far. Before RN_MEDIAN_MIN_OK of
 * them ended there is no timeout; after, never less than
 * RN_MEDIAN_FLOOR_MS.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "engine/engine_internal.h"
#include "engine/median.h"
#include "spec/rn_math.h"

/* a max-heap when `max`, else a min-heap */
static bool above(int64_t a, int64_t b, bool max)
{
    return max ? a > b : a < b;
}

static void sift_up(int64_t *h, size_t i, bool max)
{
    while (i > 0 && above(h[i], h[(i - 1) / 2], max)) {
        int64_t t = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static void sift_down(int64_t *h, size_t n, size_t i, bool max)
{
    for (;;) {
        size_t l = 2 * i + 1, best = i;
        if (l < n && above(h[l], h[best], max))
            best = l;
        if (l + 1 < n && above(h[l + 1], h[best], max))
            best = l + 1;
        if (best == i)
            return;
        int64_t t = h[i];
        h[i] = h[best];
        h[best] = t;
        i = best;
    }
}

/* Room for one more in heap *h of n items: 0 or -ENOMEM. */
static int reserve(int64_t **h, size_t n, size_t *cap)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? 2 * *cap : 64;
    int64_t *p = realloc(*h, c * sizeof *p);
    if (!p)
        return -ENOMEM;
    *h = p;
    *cap = c;
    return 0;
}

static void push(int64_t *h, size_t *n, int64_t v, bool max)
{
    h[*n] = v;
    sift_up(h, (*n)++, max);
}

static int64_t pop(int64_t *h, size_t *n, bool max)
{
    int64_t top = h[0];
    h[0] = h[--*n];
    sift_down(h, *n, 0, max);
    return top;
}

int rn_median_add(rn_median *m, int64_t v)
{
    if (m->nlo + m->nhi >= RN_MEDIAN_MAX)
        return 0;
    if (reserve(&m->lo, m->nlo + 1, &m->caplo) < 0 ||
        reserve(&m->hi, m->nhi + 1, &m->caphi) < 0)
        return -ENOMEM;
    if (m->nlo == 0 || v <= m->lo[0])
        push(m->lo, &m->nlo, v, true);
    else
        push(m->hi, &m->nhi, v, false);
    /* balance: lo holds as many as hi, or one more */
    if (m->nlo > m->nhi + 1)
        push(m->hi, &m->nhi, pop(m->lo, &m->nlo, true), false);
    else if (m->nhi > m->nlo)
        push(m->lo, &m->nlo, pop(m->hi, &m->nhi, false), true);
    return 0;
}

size_t rn_median_count(const rn_median *m)
{
    return m->nlo + m->nhi;
}

int64_t rn_median_get(const rn_median *m)
{
    return m->nlo ? m->lo[0] : 0;
}

void rn_median_free(rn_median *m)
{
    free(m->lo);
    free(m->hi);
    m->lo = m->hi = NULL;
    m->nlo = m->nhi = m->caplo = m->caphi = 0;
}

/* ---- timeout: Nx-median ---- */

int rn_eng_median_init(engine *e)
{
    e->medians = calloc((size_t)e->spec->nworkersets + 1, sizeof *e->medians);
    return e->medians ? 0 : -ENOMEM;
}

void rn_eng_median_free(engine *e)
{
    for (int i = 0; e->medians && i < e->spec->nworkersets; i++)
        rn_median_free(&e->medians[i]);
    free(e->medians);
    e->medians = NULL;
}

void rn_eng_median_ok(engine *e, int set, int64_t run_ns)
{
    double x = e->spec->workersets[set].timeout_median;
    rn_median *m = e->medians ? &e->medians[set] : NULL;
    if (!(x > 0) || !m || run_ns < 0 || rn_median_add(m, run_ns) < 0 ||
        rn_median_count(m) < RN_MEDIAN_MIN_OK)
        return;
    double ms = rn_ceil(x * (double)rn_median_get(m) / 1e6);
    if (ms < RN_MEDIAN_FLOOR_MS)
        ms = RN_MEDIAN_FLOOR_MS;
    if (ms > 1e12)
        ms = 1e12;
    pt_workerset_set_timeout(e->sets[set], (int64_t)ms);
}
