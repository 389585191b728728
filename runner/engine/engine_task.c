/* engine_task.c - a task's life in the engine: queued, sent, done, then
 * retried after a backoff or recorded as final (see engine_internal.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ptools/json.h>
#include <ptools/reply.h>
#include <ptools/sys.h>

#include "cluster/cluster.h"
#include "engine/engine_internal.h"

#define BACKOFF_FIRST_NS INT64_C(100000000) /* 0.1 s, doubling */
#define BACKOFF_MAX_NS INT64_C(10000000000) /* 10 s */

/* A task's event; `ev->time_ns` is set by the caller (no clock read per
 * event: there are three events per task). */
void rn_eng_task_event(engine *e, pt_event_type type, const tstate *s,
                       pt_event *ev)
{
    const rn_ptask *t = &s->t;
    ev->type = type;
    ev->step = t->step;
    ev->step_name = e->spec->steps[t->step].name;
    ev->task = t->id;
    ev->kernel = e->spec->kernels[t->kernel].name;
    ev->workerset = e->spec->workersets[t->workerset].name;
    ev->worker = s->worker;
    ev->pid = s->worker >= 0
                  ? pt_workerset_pid(e->sets[t->workerset], s->worker)
                  : 0;
    ev->seed = t->seed;
    ev->priority = rn_eng_priority(e, s);
    if (s->args_enc) { /* submitted: the bytes its request carries */
        ev->args = s->args_enc;
        ev->args_len = s->args_len;
    } else {
        const uint8_t *args = NULL;
        if (pt_args_encoded(t->args, &args, &ev->args_len) == 0)
            ev->args = args; /* sealed when materialised: never fails */
    }
    ev->attempts = s->attempts;
    ev->queued_ns = s->queued_ns;
    /* Read alone: the callers have just stored start_ns, and a load of it
     * paired with queued_ns (one 16-byte load) would wait for that store
     * to reach the cache instead of taking it from the store buffer. */
    ev->start_ns = *(const volatile int64_t *)&s->start_ns;
    ev->waiting = e->waiting;
    ev->running = e->running;
    ev->rank = s->rank;
    ev->nranks = e->mpi_size;
    if (rn_host_emit(e->host, ev) < 0)
        e->lost_output = true;
    if (type == PT_EV_TASK_FINISHED) {
        e->finished++;
        if (!e->unflushed_ns) /* one clock read per batch of results */
            e->unflushed_ns = pt_sys_mono_ns();
    }
}

static void on_done(void *arg, pt_request *req);

int64_t rn_eng_priority(const engine *e, const tstate *s)
{
    return s->prio_set ? s->prio : e->eruns[s->entry].prio;
}

int rn_eng_submit(engine *e, tstate *s, int64_t now_ns)
{
    const rn_ptask *t = &s->t;
    pt_call c = PT_CALL_INIT;
    c.kernel = e->spec->kernels[t->kernel].name;
    c.args = t->args;
    c.priority = rn_eng_priority(e, s);
    c.worker = t->rank > 0 ? -1 : t->on; /* another rank's worker: below */
    c.step = t->step;
    pt_workerset *set = e->sets[t->workerset];
    s->req = pt_request_submit(set, &c, t->id, on_done, e);
    if (!s->req)
        return -errno;
    if (pt_args_encoded(t->args, &s->args_enc, &s->args_len) < 0)
        s->args_enc = NULL;         /* sealed by the submit: cannot fail */
    pt_request_set_data(s->req, s); /* the hooks find s without a lookup */
    s->attempts++;
    s->worker = -1;
    s->sent = false;
    rn_eng_count_queued(e, s, 1);
    if (!s->quiet)
        s->queued_ns = now_ns;
    if (!s->quiet && rn_host_wants(e->host, PT_EV_TASK_QUEUED)) {
        pt_event own, *ev = rn_host_slot(e->host, &own);
        ev->exit_code = -1;
        ev->time_ns = now_ns;
        rn_eng_task_event(e, PT_EV_TASK_QUEUED, s, ev);
    }
    s->quiet = false;
    s->retry_due = false;
    if (s->cancel_asked || e->cancel_rest) /* s is freed by on_done */
        pt_request_cancel(set, s->req);
    else if (t->rank > 0)
        rn_cluster_pin(e, t->id);
    return 0;
}

void rn_eng_mark_sent(engine *e, tstate *s)
{
    if (s->sent)
        return;
    s->sent = true;
    e->waiting--;
    e->running++;
    rn_eng_count_queued(e, s, -1);
}

void rn_eng_count_queued(engine *e, const tstate *s, int d)
{
    if (s->t.on < 0) /* pinned ones (on:, each_worker, ranks) are not fed */
        e->feed[s->t.workerset].queued += d;
}

void rn_eng_on_sent(void *arg, pt_request *req, int64_t now)
{
    engine *e = arg;
    tstate *s = pt_request_data(req);
    s->start_ns = now + e->mono_off; /* when it started: its claim */
    s->worker = pt_request_worker(req);
    s->rank = 0;
    rn_eng_mark_sent(e, s); /* else sent again after its worker died */
    if (!rn_host_wants(e->host, PT_EV_TASK_STARTED))
        return;
    pt_event own, *ev = rn_host_slot(e->host, &own);
    ev->exit_code = -1;
    ev->time_ns = s->start_ns;
    rn_eng_task_event(e, PT_EV_TASK_STARTED, s, ev);
}

/* Should this attempt's end be retried rather than final? */
static bool retry(const engine *e, const tstate *s, pt_task_status st)
{
    const rn_workerset *w = &e->spec->workersets[s->t.workerset];
    bool again = st == PT_TASK_CRASHED || st == PT_TASK_TIMEOUT ||
                 (st == PT_TASK_FAILED && w->retry_failed);
    return again && e->sigs == 0 && !e->stopping && !e->halted &&
           s->attempts <= w->retries;
}

/*
 * Let task `id` wait before its next attempt: 0.1 s after the first
 * failure, doubling, at most 10 s, so a flapping resource gets time.
 * -ENOMEM: retry at once instead.
 */
static int backoff(engine *e, int64_t id)
{
    if (e->nretry == e->retry_cap) {
        size_t cap = e->retry_cap ? 2 * e->retry_cap : 64;
        int64_t *ids = realloc(e->retry_ids, cap * sizeof *ids);
        if (ids)
            e->retry_ids = ids;
        int64_t *at = ids ? realloc(e->retry_at, cap * sizeof *at) : NULL;
        if (!at)
            return -ENOMEM;
        e->retry_at = at;
        e->retry_cap = cap;
    }
    const tstate *s = rn_eng_live(e, id);
    int shift = s->attempts - 1 < 7 ? s->attempts - 1 : 7;
    int64_t wait = BACKOFF_FIRST_NS << shift;
    e->retry_ids[e->nretry] = id;
    e->retry_at[e->nretry++] = pt_sys_mono_ns() +
                               (wait < BACKOFF_MAX_NS ? wait : BACKOFF_MAX_NS);
    return 0;
}

static void keep_args(void *e, void *args)
{
    rn_eng_keep_args(e, args);
}

/* Forget task s: its args go, to be reused by a new task, once no
 * gathered event points to them (the host does not copy them:
 * rn_host_slot()). */
static void forget(engine *e, tstate *s)
{
    pt_args *args = s->t.args;
    s->t.args = NULL;
    rn_eng_untrack(e, s);
    rn_host_free_later(e->host, keep_args, e, args);
}

void rn_eng_requeue(engine *e, int64_t id)
{
    tstate *s = rn_eng_live(e, id);
    e->waiting++;
    if (rn_eng_submit(e, s, pt_sys_real_ns()) < 0) {
        e->waiting--;
        e->counts[PT_TASK_CRASHED]++; /* cannot even queue it again */
        e->step_counts[PT_TASK_CRASHED]++;
        e->outstanding--;
        e->tflags[id] |= TF_ENDED;
        forget(e, s);
    }
}

void rn_eng_retry_due(engine *e, int64_t id)
{
    tstate *s = rn_eng_live(e, id);
    if (s->t.on >= 0) { /* pinned: its worker's own queue orders it */
        rn_eng_requeue(e, id);
        return;
    }
    e->waiting++;
    s->retry_due = true;
    if (rn_eng_feed_alone(e, id) < 0) { /* no memory: queue it at once */
        s->retry_due = false;
        e->waiting--;
        rn_eng_requeue(e, id);
        return;
    }
    rn_eng_feed(e, s->t.workerset); /* now, if its set has room */
}

bool rn_eng_unbackoff(engine *e, int64_t id)
{
    for (size_t i = 0; i < e->nretry; i++) {
        if (e->retry_ids[i] != id)
            continue;
        memmove(e->retry_ids + i, e->retry_ids + i + 1,
                (e->nretry - i - 1) * sizeof *e->retry_ids);
        memmove(e->retry_at + i, e->retry_at + i + 1,
                (e->nretry - i - 1) * sizeof *e->retry_at);
        e->nretry--;
        return true;
    }
    return false;
}

/*
 * Submit the retries that are due (all of them when `all`); returns the
 * milliseconds until the next one, or -1 when none waits.
 */
int rn_eng_run_due_retries(engine *e, bool all)
{
    int64_t now = pt_sys_mono_ns(), next = -1;
    size_t keep = 0;
    for (size_t i = 0; i < e->nretry; i++) {
        int64_t id = e->retry_ids[i], at = e->retry_at[i];
        if (all || at <= now) {
            rn_eng_retry_due(e, id);
            continue;
        }
        next = next < 0 || at - now < next ? at - now : next;
        e->retry_ids[keep] = id;
        e->retry_at[keep++] = at;
    }
    e->nretry = keep;
    return next < 0 ? -1 : (int)((next + 999999) / 1000000);
}

/*
 * Keep a failed attempt for the task's final record: status, error, how
 * its worker died, and when (a JSON object appended to s->history).
 */
static void remember_attempt(tstate *s, const pt_event *ev)
{
    pt_buf b = {0};
    size_t n = s->history ? strlen(s->history) : 0;
    if (n)
        pt_buf_append(&b, s->history, n - 1); /* drop the closing ']' */
    else
        pt_buf_append(&b, "[", 1);
    pt_buf_printf(&b,
                  "%s{\"attempt\":%d,\"status\":\"%s\",\"worker\":%d,"
                  "\"signal\":%d,\"exit_code\":%d,\"max_rss_kb\":%lld,"
                  "\"start_ns\":%lld,\"end_ns\":%lld,\"error\":",
                  n ? "," : "", s->attempts, pt_task_status_name(ev->status),
                  s->worker, ev->signal, ev->exit_code,
                  (long long)ev->max_rss_kb, (long long)s->start_ns,
                  (long long)ev->end_ns);
    pt_json_cstr(&b, ev->error);
    pt_buf_printf(&b, "}]");
    free(s->history);
    s->history = b.data && pt_buf_append(&b, "", 1) == 0 ? (char *)b.data
                                                         : NULL;
}

/* The counts of a request that ended: it was waiting or running. */
static void count_end(engine *e, tstate *s)
{
    if (s->sent) {
        e->running--;
    } else {
        e->waiting--;
        rn_eng_count_queued(e, s, -1);
    }
    s->sent = false;
}

/* Task s ended for good: counted, and forgotten. */
static void record_final(engine *e, tstate *s, pt_task_status st,
                         int64_t end_ns, const char *error)
{
    e->tflags[s->t.id] |= TF_ENDED;
    e->counts[st]++;
    e->step_counts[st]++;
    e->outstanding--;
    rn_summary_task(&e->summary, s->t.kernel, (int)st, s->queued_ns,
                    s->start_ns, end_ns);
    if (st == PT_TASK_OK && s->start_ns)
        rn_eng_median_ok(e, s->t.workerset, end_ns - s->start_ns);
    rn_eng_halt_count(e, s, st);
    rn_summary_failure(&e->summary, s->t.id, s->t.kernel, (int)st, error);
    forget(e, s);
}

/* A request ended: retry it, or record it as final. */
static void on_done(void *arg, pt_request *req)
{
    engine *e = arg;
    int64_t id = pt_request_id(req);
    tstate *s = pt_request_data(req);
    pt_reply *r = pt_request_reply(req);
    pt_task_status st = pt_reply_status(r);
    if (s->refeed) { /* taken back to be fed again: no attempt */
        s->refeed = false;
        rn_eng_count_queued(e, s, -1);
        s->req = NULL;
        pt_request_recycle(e->sets[s->t.workerset], req);
        rn_eng_refed(e, s);
        return;
    }
    count_end(e, s);
    const uint8_t *results;
    size_t results_len;
    pt_reply_results(r, &results, &results_len); /* as it came: no copy */
    const char *error = rn_eng_halt_error(e, s, &st);
    char *long_error = rn_eng_error_with_tail(e, id, pt_reply_error(r));
    if (error) {
        free(long_error);
        long_error = NULL;
    } else {
        error = long_error ? long_error : pt_reply_error(r);
    }
    int64_t end_ns = pt_reply_end_ns(r) ? pt_reply_end_ns(r) + e->mono_off
                                        : pt_sys_real_ns();
    if (pt_reply_end_ns(r)) /* when it really ran, batched or not */
        s->start_ns = pt_reply_start_ns(r) + e->mono_off;
    if (st == PT_TASK_CANCELLED && !s->halt_killed)
        s->start_ns = 0;
    bool again = retry(e, s, st);
    pt_event own, *ev = rn_host_slot(e->host, &own); /* zeroed */
    ev->time_ns = end_ns;
    ev->status = st;
    ev->error = error;
    ev->result = results;
    ev->result_len = results_len;
    ev->signal = pt_reply_signal(r);
    ev->exit_code = pt_reply_exit_code(r);
    ev->max_rss_kb = pt_reply_max_rss_kb(r);
    ev->end_ns = end_ns;
    ev->attempts_json = s->history;
    rn_eng_task_event(e, again ? PT_EV_TASK_RETRIED : PT_EV_TASK_FINISHED, s,
                      ev);
    if (again) /* ev and what it points to are valid until the next event */
        remember_attempt(s, ev);
    if (s->start_ns)
        rn_summary_busy(&e->summary, end_ns - s->start_ns);
    s->req = NULL;
    int set = s->t.workerset;
    if (!again)
        record_final(e, s, st, end_ns, error);
    free(long_error);
    pt_request_recycle(e->sets[set], req);
    if (again && backoff(e, id) < 0)
        rn_eng_requeue(e, id);
    if (e->feed[set].queued < e->feed[set].target / 2)
        rn_eng_feed(e, set); /* more as they finish */
}

/* Cancel one waiting task (ENOMEM's slow way): false when none waits. */
static bool cancel_one_waiting(engine *e)
{
    int64_t at = -1;
    for (tstate *s; (s = rn_eng_live_next(e, &at));) {
        if (s->req && pt_request_state_of(s->req) == PT_REQ_WAITING) {
            pt_request_cancel(e->sets[s->t.workerset], s->req);
            return true;
        }
    }
    return false;
}

/* Cancel every task still waiting, and those not fed yet: nothing new
 * will run. */
void rn_eng_cancel_waiting(engine *e)
{
    size_t n = 0;
    int64_t *ids = malloc((e->live.n + 1) * sizeof *ids);
    e->cancel_rest = true;
    while (!ids && cancel_one_waiting(e))
        ;
    int64_t at = -1;
    for (const tstate *s; ids && (s = rn_eng_live_next(e, &at));)
        if (s->req && pt_request_state_of(s->req) == PT_REQ_WAITING)
            ids[n++] = s->t.id;
    for (size_t i = 0; i < n; i++) { /* each ends, and is freed, now */
        tstate *s = rn_eng_live(e, ids[i]);
        if (s && s->req && pt_request_state_of(s->req) == PT_REQ_WAITING)
            pt_request_cancel(e->sets[s->t.workerset], s->req);
    }
    free(ids);
    rn_eng_feed(e, -1); /* the rest: each fed and cancelled at once */
}
