/* summary.c - the end-of-run summary (see summary.h). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <ptools/export.h>
#include <ptools/json.h>

#include "events/rundir.h"
#include "engine/prefault.h"
#include "engine/summary.h"

int rn_summary_init(rn_summary *s, const rn_spec *spec)
{
    *s = (rn_summary){.nkernels = spec->nkernels};
    for (int i = 0; i < spec->nworkersets; i++)
        s->workers += spec->workersets[i].workers;
    s->per_kernel = calloc((size_t)spec->nkernels + 1, sizeof *s->per_kernel);
    return s->per_kernel ? 0 : -1;
}

/* The histogram: 2^SUB_BITS buckets per power of two (exact below). */
#define SUB_BITS 7
#define NBUCKETS ((64 - SUB_BITS + 1) << SUB_BITS)
/* The exact samples' mapping (more_room()). */
#define SAMPLES_BYTES (RN_SAMPLES_EXACT * sizeof(int64_t))

static size_t bucket_of(int64_t v)
{
    if (v < (1 << SUB_BITS))
        return (size_t)v;
    int e = 63 - __builtin_clzll((unsigned long long)v); /* >= SUB_BITS */
    size_t sub = (size_t)(v >> (e - SUB_BITS)) & ((1u << SUB_BITS) - 1);
    return ((size_t)(e - SUB_BITS + 1) << SUB_BITS) + sub;
}

/* The middle of bucket b's values. */
static int64_t value_of(size_t b)
{
    if (b < (1u << SUB_BITS))
        return (int64_t)b;
    int e = (int)(b >> SUB_BITS) + SUB_BITS - 1;
    int64_t sub = (int64_t)(b & ((1u << SUB_BITS) - 1));
    int64_t lo = ((INT64_C(1) << SUB_BITS) + sub) << (e - SUB_BITS);
    return lo + ((INT64_C(1) << (e - SUB_BITS)) >> 1);
}

/* Past RN_SAMPLES_EXACT: count every sample in a histogram instead (a
 * run of 10^7 tasks kept 160 MB of them). */
static void to_histogram(rn_samples *l)
{
    if (!(l->hist = calloc(NBUCKETS, sizeof *l->hist)))
        return; /* stays exact: more_room() drops what does not fit */
    rn_prefault(l->hist, NBUCKETS * sizeof *l->hist);
    for (size_t i = 0; i < l->n; i++)
        l->hist[bucket_of(l->ns[i])]++;
    l->total = l->n;
    rn_unmap(l->ns, SAMPLES_BYTES);
    l->ns = NULL;
    l->n = l->cap = 0;
}

/*
 * Room for more exact samples. Their array is a mapping of its own, made
 * for RN_SAMPLES_EXACT and mapped as it fills (doubling, each part
 * prefaulted in one call): no copy as it grows, no page fault per page,
 * and the half megabyte it reaches is no hole left in the heap when it
 * goes. False when there is no memory (past RN_SAMPLES_EXACT, when
 * the histogram could not be made: the sample is dropped).
 */
static bool more_room(rn_samples *l)
{
    if (l->cap >= RN_SAMPLES_EXACT) /* full, and no histogram (ENOMEM) */
        return false;
    if (!l->ns && !(l->ns = rn_map(SAMPLES_BYTES)))
        return false;
    size_t cap = l->cap ? 2 * l->cap : 512;
    cap = cap < RN_SAMPLES_EXACT ? cap : RN_SAMPLES_EXACT;
    rn_prefault(l->ns + l->cap, (cap - l->cap) * sizeof *l->ns);
    l->cap = cap;
    return true;
}

/* add() where the exact samples have no room left: more room, or the
 * histogram from now on. Out of line: the common paths (two samples a
 * task) then save no registers. */
PT_NOINLINE static void add_slow(rn_samples *l, int64_t ns)
{
    if (!l->hist && l->n >= RN_SAMPLES_EXACT)
        to_histogram(l);
    if (l->hist) {
        l->hist[bucket_of(ns)]++;
        l->total++;
        return;
    }
    if (l->n == l->cap && !more_room(l))
        return;
    l->ns[l->n++] = ns;
}

static void add(rn_samples *l, int64_t ns)
{
    ns = ns < 0 ? 0 : ns;
    if (l->hist) {
        l->hist[bucket_of(ns)]++;
        l->total++;
    } else if (l->n < l->cap) { /* cap <= RN_SAMPLES_EXACT */
        l->ns[l->n++] = ns;
    } else {
        add_slow(l, ns);
    }
}

void rn_summary_task(rn_summary *s, int kernel, int status, int64_t queued_ns,
                     int64_t start_ns, int64_t end_ns)
{
    rn_ksum *k = &s->per_kernel[kernel];
    if (status >= 0 && status < PT_TASK_NSTATUS)
        k->counts[status]++;
    if (!start_ns)
        return;
    add(&k->lat, end_ns - start_ns);
    if (queued_ns)
        add(&k->wait, start_ns - queued_ns);
}

/* The first line of an error, cut to ERROR_MAX bytes ("..." when cut). */
#define ERROR_MAX 160

static char *first_line(const char *error)
{
    if (!error)
        return NULL;
    size_t n = strcspn(error, "\n");
    bool cut = n > ERROR_MAX || error[n] == '\n';
    n = n > ERROR_MAX ? ERROR_MAX : n;
    char *p = malloc(n + 4);
    if (p)
        snprintf(p, n + 4, "%.*s%s", (int)n, error, cut ? "..." : "");
    return p;
}

void rn_summary_failure(rn_summary *s, int64_t task, int kernel, int status,
                        const char *error)
{
    if (status != PT_TASK_FAILED && status != PT_TASK_CRASHED &&
        status != PT_TASK_TIMEOUT)
        return;
    s->failed++;
    int i = s->nfailures;
    if (i == RN_SUMMARY_FAILURES) {
        if (s->failures[i - 1].task < task)
            return; /* later than those kept */
        free(s->failures[--i].error);
    } else {
        s->nfailures++;
    }
    for (; i > 0 && s->failures[i - 1].task > task; i--)
        s->failures[i] = s->failures[i - 1];
    s->failures[i] = (rn_failure){.task = task,
                                  .kernel = kernel,
                                  .status = status,
                                  .error = first_line(error)};
}

void rn_summary_busy(rn_summary *s, int64_t ns)
{
    if (ns > 0)
        s->busy_ns += ns;
}

void rn_summary_rss(rn_summary *s, int64_t max_rss_kb)
{
    if (max_rss_kb > s->peak_rss_kb)
        s->peak_rss_kb = max_rss_kb;
}

static size_t rank_of(const rn_samples *l, double q)
{
    return (size_t)(q * (double)(l->n - 1) + 0.5);
}

static void swap64(int64_t *a, int64_t *b)
{
    int64_t t = *a;
    *a = *b;
    *b = t;
}

/* The next of a fixed xorshift sequence: where select_kth() looks for
 * its pivot (the same every run: the summary stays deterministic). */
static uint64_t next_pick(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/*
 * Put the k-th smallest of v[lo..hi] at v[k], the smaller before it and
 * the larger after: a selection with three-way partitions (linear on
 * average, and duplicates cost nothing), where a sort of 10^6 latencies
 * was 5 % of a run. The pivot is the median of three samples at spread
 * pseudo-random places: first, middle and last went quadratic on the
 * waits of a step (queued at once, so ordered as they started), 55 M
 * instructions for 60 000 tasks against 3 M now.
 */
static void select_kth(int64_t *v, size_t lo, size_t hi, size_t k)
{
    uint64_t rng = UINT64_C(0x9e3779b97f4a7c15);
    while (lo < hi) {
        size_t span = hi - lo + 1;
        int64_t a = v[lo + next_pick(&rng) % span];
        int64_t b = v[lo + next_pick(&rng) % span];
        int64_t c = v[lo + next_pick(&rng) % span];
        int64_t pivot = a < b ? (b < c   ? b
                                 : a < c ? c
                                         : a)
                              : (a < c   ? a
                                 : b < c ? c
                                         : b);
        /* [lo, lt) < pivot, [lt, i) == pivot, (gt, hi] > pivot */
        size_t lt = lo, i = lo, gt = hi;
        while (i <= gt) {
            if (v[i] < pivot) {
                swap64(&v[lt++], &v[i++]);
            } else if (v[i] > pivot) {
                swap64(&v[i], &v[gt]);
                if (gt-- == lt) /* cannot be: the pivot is in the range */
                    break;
            } else {
                i++;
            }
        }
        if (k < lt)
            hi = lt - 1;
        else if (k > gt)
            lo = gt + 1;
        else
            return;
    }
}

/* Make the p50, p95 and p99 ranks hold their values (in that order, each
 * selection works on what lies above the previous one). */
static void sort(rn_samples *l)
{
    static const double qs[] = {0.5, 0.95, 0.99};
    size_t lo = 0;
    for (int i = 0; l->n && i < 3; i++) {
        size_t k = rank_of(l, qs[i]);
        select_kth(l->ns, lo, l->n - 1, k);
        lo = k;
    }
}

/* The q-quantile (0.5, 0.95 or 0.99, after sort()) in milliseconds. */
static double quantile_ms(const rn_samples *l, double q)
{
    if (l->hist) { /* the bucket holding the nearest rank */
        uint64_t k = (uint64_t)(q * (double)(l->total - 1) + 0.5), seen = 0;
        for (size_t b = 0; b < NBUCKETS; b++)
            if ((seen += l->hist[b]) > k)
                return (double)value_of(b) / 1e6;
    }
    if (!l->n)
        return 0;
    return (double)l->ns[rank_of(l, q)] / 1e6;
}

static int64_t total(const int64_t counts[PT_TASK_NSTATUS])
{
    int64_t n = 0;
    for (int i = 0; i < PT_TASK_NSTATUS; i++)
        n += counts[i];
    return n;
}

static double utilisation(const rn_summary *s, double wall_s)
{
    return wall_s > 0 && s->workers
               ? (double)s->busy_ns * 1e-9 / (wall_s * s->workers)
               : 0.0;
}

static void json_quantiles(pt_buf *b, const char *key, const rn_samples *l)
{
    pt_buf_printf(b, "\"%s\": {\"p50\": %.6f, \"p95\": %.6f, \"p99\": %.6f}",
                  key, quantile_ms(l, 0.5), quantile_ms(l, 0.95),
                  quantile_ms(l, 0.99));
}

/* Put every kernel's quantiles in place, once. */
static void settle(rn_summary *s)
{
    if (s->settled)
        return;
    for (int k = 0; k < s->nkernels; k++) {
        sort(&s->per_kernel[k].lat);
        sort(&s->per_kernel[k].wait);
    }
    s->settled = true;
}

void rn_summary_json(rn_summary *s, const rn_spec *spec, int64_t skipped,
                     double wall_s, pt_buf *b)
{
    settle(s);
    int64_t all[PT_TASK_NSTATUS] = {0};
    for (int k = 0; k < s->nkernels; k++)
        for (int i = 0; i < PT_TASK_NSTATUS; i++)
            all[i] += s->per_kernel[k].counts[i];
    int64_t done = total(all);
    pt_buf_printf(b,
                  "{\"wall_s\": %.6f, \"tasks_per_s\": %.3f, "
                  "\"skipped\": %" PRId64 ", \"utilisation\": %.4f, "
                  "\"peak_worker_rss_kb\": %" PRId64 ", \"kernels\": {",
                  wall_s, wall_s > 0 ? (double)done / wall_s : 0.0, skipped,
                  utilisation(s, wall_s), s->peak_rss_kb);
    int first = 1;
    for (int k = 0; k < s->nkernels; k++) {
        rn_ksum *ks = &s->per_kernel[k];
        if (!total(ks->counts))
            continue;
        pt_buf_printf(b, "%s", first ? "" : ", ");
        first = 0;
        pt_json_cstr(b, spec->kernels[k].name);
        pt_buf_printf(b, ": {\"counts\": {");
        for (int i = 0; i < PT_TASK_NSTATUS; i++)
            pt_buf_printf(b, "%s\"%s\": %" PRId64, i ? ", " : "",
                          pt_task_status_name((pt_task_status)i),
                          ks->counts[i]);
        pt_buf_printf(b, "}, ");
        json_quantiles(b, "latency_ms", &ks->lat);
        pt_buf_printf(b, ", ");
        json_quantiles(b, "queue_wait_ms", &ks->wait);
        pt_buf_printf(b, "}");
    }
    pt_buf_printf(b, "}}");
}

/* "  task 6 square [failed]: x must be < 5", and how many more. */
static void print_failures(const rn_summary *s, const rn_spec *spec, FILE *out)
{
    for (int i = 0; i < s->nfailures; i++) {
        const rn_failure *f = &s->failures[i];
        fprintf(out, "  task %" PRId64 " %s [%s]%s%s\n", f->task,
                spec->kernels[f->kernel].name,
                pt_task_status_name((pt_task_status)f->status),
                f->error ? ": " : "", f->error ? f->error : "");
    }
    if (s->failed > s->nfailures)
        fprintf(out, "  and %" PRId64 " more; see results.jsonl\n",
                s->failed - s->nfailures);
}

void rn_summary_print(rn_summary *s, const rn_spec *spec,
                      const int64_t counts[PT_TASK_NSTATUS], int64_t skipped,
                      double wall_s, const char *dir, FILE *out)
{
    int64_t done = total(counts);
    settle(s);
    fprintf(out, "ptrun: %s:", spec->name);
    for (int i = 0; i < PT_TASK_NSTATUS; i++)
        if (counts[i] || i == 0)
            fprintf(out, " %" PRId64 " %s", counts[i],
                    pt_task_status_name((pt_task_status)i));
    if (skipped)
        fprintf(out, " (%" PRId64 " ok before, not run again)", skipped);
    fprintf(out, " in %.2f s, %.0f tasks/s\n", wall_s,
            wall_s > 0 ? (double)done / wall_s : 0.0);
    if (s->halted)
        fprintf(out, "  %s\n", s->halted);
    fprintf(out, "  workers %.0f%% busy, peak worker RSS %.1f MiB\n",
            100 * utilisation(s, wall_s), (double)s->peak_rss_kb / 1024);
    for (int k = 0; k < s->nkernels; k++) {
        rn_ksum *ks = &s->per_kernel[k];
        if (!total(ks->counts))
            continue;
        fprintf(out, "  %-14s %8" PRId64 " tasks", spec->kernels[k].name,
                total(ks->counts));
        for (int i = 1; i < PT_TASK_NSTATUS; i++)
            if (ks->counts[i])
                fprintf(out, " (%" PRId64 " %s)", ks->counts[i],
                        pt_task_status_name((pt_task_status)i));
        fprintf(out, "  p50 %.3f  p95 %.3f  p99 %.3f ms  wait p50 %.3f ms\n",
                quantile_ms(&ks->lat, 0.5), quantile_ms(&ks->lat, 0.95),
                quantile_ms(&ks->lat, 0.99), quantile_ms(&ks->wait, 0.5));
    }
    print_failures(s, spec, out);
    fprintf(out, "  results in %s\n", dir);
}

void rn_summary_free(rn_summary *s)
{
    for (int k = 0; s->per_kernel && k < s->nkernels; k++) {
        rn_unmap(s->per_kernel[k].lat.ns, SAMPLES_BYTES);
        rn_unmap(s->per_kernel[k].wait.ns, SAMPLES_BYTES);
        free(s->per_kernel[k].lat.hist);
        free(s->per_kernel[k].wait.hist);
    }
    free(s->per_kernel);
    s->per_kernel = NULL;
    for (int i = 0; i < s->nfailures; i++)
        free(s->failures[i].error);
    s->nfailures = 0;
}
