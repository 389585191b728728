/*
 * prio_bench.c - priority changes while the tasks run (issue 15's rule: a
 * task is at a worker only when it starts, so until then every priority
 * change is honoured).
 *
 * A 2-worker PT_WS_FF set (default options: batching as the set decides)
 * first runs WARM quick tasks, so that it has measured them. Then N small
 * tasks are submitted at priorities -0, -1, ..., -(N-1) (plan order), and
 * their results are taken; after every N/M results one task not yet
 * started (its start mark still 0) is raised above every other, to 1, 2,
 * ... M, each call timed alone. A task marks its start in shared memory
 * with the next number of a shared counter. Prints:
 *   prio_calls          M
 *   prio_honoured       calls that returned 0
 *   prio_busy_started   -EBUSY for a task that had started by then
 *   prio_refused_unstarted  -EBUSY (or other error) for a task that had not
 *                       started even after the call returned: a broken rule
 *   prio_overtaken      honoured raises after which a task never raised
 *                       started after the call returned but before the
 *                       raised one: a change accepted, not obeyed. A task
 *                       starts when its worker claims it: the start time
 *                       its reply carries (pt_reply_start_ns), on the
 *                       clock of pt_sys_mono_ns()
 *   prio_call_median_ns, prio_call_mean_ns
 *   prio_tasks_per_s    the N tasks, first submit to last result
 *   usage: prio_bench [N [M [SPIN [WARM]]]]   (10^5, 10^4, 0, 20)
 * SPIN: steps of bench/kernels/busy_loop.h per task (0: an empty task).
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/mman.h>

#include <ptools/queue.h>
#include <ptools/sys.h>

#include "bench.h"
#include "kernels/busy_loop.h"

enum { WORKERS = 2 };

static int64_t *start_seq; /* shared: task i's start number (1, 2, ...) */
static int64_t *counter;   /* shared: the last start number given */
static int64_t spin;
static int64_t first_id; /* the queue id (= task id) of the first task */

/* A task: mark its start, then spin. */
static int mark(pt_ctx *ctx)
{
    int64_t i = pt_task_id(ctx) - first_id;
    start_seq[i] = __atomic_add_fetch(counter, 1, __ATOMIC_ACQ_REL);
    uint64_t x = busy_loop((uint64_t)i, spin);
    __asm__ volatile("" : : "r"(x));
    return 0;
}

static int nothing(pt_ctx *ctx)
{
    (void)ctx;
    return 0;
}

typedef struct call_rec {
    int64_t task, before; /* the task raised; the counter before the call */
    int64_t returned_ns;  /* pt_sys_mono_ns() once the call returned */
    double ns;
    int rc;
} call_rec;

typedef struct bench {
    pt_queue *q;
    int64_t n, m;
    call_rec *calls;
    bool *raised;
    int64_t *claim_ns; /* each task's start (its claim), from its reply */
    uint64_t rng;
} bench;

/* Submit fn at `prio`: its queue id, which is also its task id. */
static int64_t submit(pt_queue *q, pt_call_fn fn, int64_t prio)
{
    pt_call c = PT_CALL_INIT;
    c.fn = fn;
    c.priority = prio;
    return pt_queue_submit_call(q, &c);
}

/* Take every result left: 0 or -errno (-EIO when one was not ok). */
static int take_all(pt_queue *q)
{
    int64_t id;
    pt_reply *r;
    int rc, bad = 0;
    while ((rc = pt_queue_next_result(q, &id, &r)) == 1) {
        bad |= pt_reply_status(r) != PT_TASK_OK;
        pt_reply_destroy(r);
    }
    return rc < 0 ? rc : bad ? -EIO : 0;
}

/* Raise the k-th task: a random one not started yet (queue ids qid0 + i),
   among those after the `got` whose results came (tasks start about in
   plan order). */
static int raise_one(bench *b, int64_t qid0, int64_t got, int64_t k)
{
    int64_t i = -1;
    for (int tries = 0; tries < 64 && i < 0 && got < b->n; tries++) {
        uint64_t r = bench_rng(&b->rng) % (uint64_t)(b->n - got);
        int64_t j = got + (int64_t)r;
        if (!b->raised[j] && !__atomic_load_n(&start_seq[j], __ATOMIC_ACQUIRE))
            i = j;
    }
    call_rec *c = &b->calls[k];
    c->task = i;
    c->rc = 1; /* no call: every task tried had started */
    if (i < 0)
        return 0;
    c->before = __atomic_load_n(counter, __ATOMIC_ACQUIRE);
    double t0 = bench_now();
    c->rc = pt_queue_set_priority(b->q, qid0 + i, k + 1);
    c->ns = (bench_now() - t0) * 1e9;
    c->returned_ns = pt_sys_mono_ns();
    b->raised[i] = c->rc == 0;
    if (c->rc == -EBUSY && !__atomic_load_n(&start_seq[i], __ATOMIC_ACQUIRE))
        c->rc = -EDEADLK; /* refused, yet still not started: the rule broken */
    return c->rc == 0 || c->rc == -EBUSY || c->rc == -EDEADLK ? 0 : c->rc;
}

/* Submit the N tasks, take their results raising one every N/M. */
static int run(bench *b)
{
    int64_t qid0 = -1, got = 0, every = b->n / b->m, k = 0, id;
    double t0 = bench_now();
    for (int64_t i = 0; i < b->n; i++) {
        int64_t qid = submit(b->q, mark, -i);
        if (qid < 0)
            return (int)qid;
        qid0 = i == 0 ? qid : qid0;
        if (qid != first_id + i) /* mark() could not find its index */
            return -EPROTO;
    }
    pt_reply *r;
    int rc;
    while ((rc = pt_queue_next_result(b->q, &id, &r)) == 1) {
        bool ok = pt_reply_status(r) == PT_TASK_OK;
        if (id >= qid0 && id < qid0 + b->n)
            b->claim_ns[id - qid0] = pt_reply_start_ns(r);
        pt_reply_destroy(r);
        if (!ok)
            return -EIO;
        if (++got % every == 0 && k < b->m &&
            (rc = raise_one(b, qid0, got, k++)))
            return rc;
    }
    bench_kv("prio_tasks_per_s", (double)b->n / (bench_now() - t0));
    b->m = k;
    return rc;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* How many of the n sorted times lie in (lo, hi). */
static int64_t between(const int64_t *t, int64_t n, int64_t lo, int64_t hi)
{
    int64_t a = 0, z = n; /* first > lo */
    while (a < z) {
        int64_t m = a + (z - a) / 2;
        if (t[m] <= lo)
            a = m + 1;
        else
            z = m;
    }
    int64_t c = a, e = n; /* first >= hi */
    while (c < e) {
        int64_t m = c + (e - c) / 2;
        if (t[m] < hi)
            c = m + 1;
        else
            e = m;
    }
    return c - a;
}

/* Was raised task c->task overtaken: did a task never raised start (its
 * claim) after the call returned and before the raised one? `never`: the
 * never-raised tasks' start times, sorted. */
static bool overtaken(const bench *b, const int64_t *never, int64_t n,
                      const call_rec *c)
{
    int64_t raised = b->claim_ns[c->task];
    return raised > c->returned_ns &&
           between(never, n, c->returned_ns, raised) > 0;
}

static int report(bench *b)
{
    int64_t *never = malloc(((size_t)b->n + 1) * sizeof *never), nn = 0;
    double *ns = calloc((size_t)b->m + 1, sizeof *ns), sum = 0;
    if (!never || !ns) {
        free(never);
        free(ns);
        return -ENOMEM;
    }
    for (int64_t i = 0; i < b->n; i++)
        if (!b->raised[i])
            never[nn++] = b->claim_ns[i];
    qsort(never, (size_t)nn, sizeof *never, cmp_i64);
    int64_t calls = 0, ok = 0, busy = 0, refused = 0, over = 0;
    for (int64_t k = 0; k < b->m; k++) {
        const call_rec *c = &b->calls[k];
        if (c->rc == 1)
            continue;
        ns[calls++] = c->ns;
        sum += c->ns;
        ok += c->rc == 0;
        busy += c->rc == -EBUSY;
        refused += c->rc == -EDEADLK;
        over += c->rc == 0 && overtaken(b, never, nn, c);
    }
    bench_kv("prio_calls", (double)calls);
    bench_kv("prio_honoured", (double)ok);
    bench_kv("prio_busy_started", (double)busy);
    bench_kv("prio_refused_unstarted", (double)refused);
    bench_kv("prio_overtaken", (double)over);
    bench_kv("prio_call_mean_ns", calls ? sum / (double)calls : 0);
    bench_kv("prio_call_median_ns", bench_median(ns, (size_t)calls));
    free(never);
    free(ns);
    return 0;
}

/* Shared memory for the marks, the set and its queue; warm the set up. */
static int setup(bench *b, int warm, pt_workerset **ws)
{
    size_t bytes = ((size_t)b->n + 1) * sizeof(int64_t);
    void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return -errno;
    counter = mem;
    start_seq = counter + 1;
    b->calls = calloc((size_t)b->m, sizeof *b->calls);
    b->raised = calloc((size_t)b->n, sizeof *b->raised);
    b->claim_ns = calloc((size_t)b->n, sizeof *b->claim_ns);
    if (!b->calls || !b->raised || !b->claim_ns)
        return -ENOMEM;
    *ws = pt_workerset_create(WORKERS, PT_WS_FF, NULL);
    b->q = *ws ? pt_queue_create(*ws) : NULL;
    if (!b->q)
        return -errno;
    for (int i = 0; i < warm; i++)
        if (submit(b->q, nothing, 0) < 0)
            return -EIO;
    return take_all(b->q);
}

int main(int argc, char **argv)
{
    bench b = {.n = argc > 1 ? strtoll(argv[1], NULL, 10) : 100000,
               .m = argc > 2 ? strtoll(argv[2], NULL, 10) : 10000,
               .rng = 0x9E3779B97F4A7C15ull};
    spin = argc > 3 ? strtoll(argv[3], NULL, 10) : 0;
    int warm = argc > 4 ? atoi(argv[4]) : 20;
    first_id = warm; /* before the fork: the workers read it */
    if (b.n < 1 || b.m < 1 || b.m > b.n || spin < 0 || warm < 0) {
        fprintf(stderr, "usage: prio_bench [N [M [SPIN [WARM]]]], M <= N\n");
        return 2;
    }
    pt_workerset *ws = NULL;
    int rc = setup(&b, warm, &ws);
    if (rc == 0)
        rc = run(&b);
    if (rc == 0)
        rc = report(&b);
    if (rc < 0)
        fprintf(stderr, "prio_bench: %s (%s)\n", strerror(-rc), pt_errmsg());
    if (b.q)
        pt_queue_destroy(b.q);
    if (ws)
        pt_workerset_destroy(ws);
    free(b.calls);
    free(b.raised);
    free(b.claim_ns);
    return rc < 0;
}
