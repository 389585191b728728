/* engine.c - run a planned job (see engine.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ptools/json.h>
#include <ptools/npy.h>
#include <ptools/reply.h>
#include <ptools/shm.h>
#include <ptools/sys.h>

#include "cluster/cluster.h"
#include "ctl/ctl.h"
#include "engine/engine_internal.h"
#include "events/results.h"
#include "events/rundir.h"

static int sig_pipe[2] = {-1, -1};

/* SPEC §5: a finished task's line is written at most this long after the
 * task ended, and before the runner waits idle. */
#define RESULT_LATENCY_NS INT64_C(50000000)
#define BACKOFF_FIRST_NS INT64_C(100000000) /* 0.1 s, doubling */
#define BACKOFF_MAX_NS INT64_C(10000000000)  /* 10 s */

/* The handler only writes to the self-pipe (STYLE 6). */
static void on_signal(int sig)
{
    int saved = errno;
    unsigned char c = (unsigned char)sig;
    if (write(sig_pipe[1], &c, 1) < 0) {
        /* full pipe: enough signals are pending already */
    }
    errno = saved;
}

static void on_sigpipe(int sig)
{
    (void)sig; /* the write that raised it fails with EPIPE */
}

/* Our handlers (again after MPI_Init, which may set its own). */
static void set_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL); /* a closed terminal or ssh session */
    /* A worker gone is seen as EPIPE: no signal masking around every
     * write to workers (a handler, not SIG_IGN, which workers would keep) */
    sa.sa_handler = on_sigpipe;
    if (sigaction(SIGPIPE, &sa, NULL) == 0)
        pt_sys_sigpipe_harmless(true);
}

static int install_signals(void)
{
    int rc = pt_sys_pipe(sig_pipe);
    if (rc == 0 && (rc = pt_sys_set_nonblock(sig_pipe[0], 1)) == 0)
        rc = pt_sys_set_nonblock(sig_pipe[1], 1);
    if (rc < 0)
        return rc;
    set_handlers();
    return 0;
}

/* SIGPIPE keeps its handler: the summary may meet a closed stderr. */
static void restore_signals(void)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    pt_sys_close(sig_pipe[0]);
    pt_sys_close(sig_pipe[1]);
    sig_pipe[0] = sig_pipe[1] = -1;
}

/* ---- events ---- */

/* A task's event; `ev->time_ns` is set by the caller (no clock read per
 * event: there are three events per task). */
void rn_eng_task_event(engine *e, pt_event_type type, int64_t id,
                       pt_event *ev)
{
    const rn_ptask *t = &e->plan.tasks[id];
    const tstate *s = &e->ts[id];
    ev->type = type;
    ev->step = t->step;
    ev->step_name = e->spec->steps[t->step].name;
    ev->task = id;
    ev->kernel = e->spec->kernels[t->kernel].name;
    ev->workerset = e->spec->workersets[t->workerset].name;
    ev->worker = s->worker;
    ev->pid = s->worker >= 0 ? pt_workerset_pid(e->sets[t->workerset],
                                                s->worker) : 0;
    ev->seed = t->seed;
    ev->priority = rn_eng_priority(e, id);
    const uint8_t *args = NULL;
    if (pt_args_encoded(t->args, &args, &ev->args_len) == 0)
        ev->args = args; /* sealed at planning: never fails here */
    ev->attempts = s->attempts;
    ev->queued_ns = s->queued_ns;
    ev->start_ns = s->start_ns;
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

/* Have the plugins write the results they buffer. */
static void flush_results(engine *e)
{
    if (rn_host_flush(e->host) < 0)
        e->lost_output = true;
    e->unflushed_ns = 0;
}

/*
 * Before a round of waiting: results older than RESULT_LATENCY_NS are
 * written now; younger ones make the round look without waiting (true
 * returned), and if it brought no new result they are written before the
 * next round waits.
 */
static bool results_before_wait(engine *e, int64_t now, int *wait)
{
    if (e->unflushed_ns && now - e->unflushed_ns >= RESULT_LATENCY_NS)
        flush_results(e);
    if (!e->unflushed_ns || *wait == 0)
        return false;
    *wait = 0;
    return true;
}

static void simple_event(engine *e, pt_event_type type, int step,
                         const int64_t *counts)
{
    pt_event ev = {.type = type, .time_ns = pt_sys_real_ns(), .step = step,
                   .task = -1, .worker = -1, .exit_code = -1,
                   .interrupted = e->sigs > 0, .waiting = e->waiting,
                   .running = e->running};
    if (step >= 0)
        ev.step_name = e->spec->steps[step].name;
    if (counts)
        memcpy(ev.counts, counts, sizeof ev.counts);
    if (rn_host_emit(e->host, &ev) < 0)
        e->lost_output = true;
}

/* A worker of set `arg` started, or exited (how, its peak RSS). */
static void on_worker(void *arg, int worker, int pid, bool started,
                      int status, int64_t max_rss_kb)
{
    const set_hook *h = arg;
    engine *e = h->e;
    int set = h->set;
    pt_event ev = {.type = started ? PT_EV_WORKER_STARTED
                                   : PT_EV_WORKER_EXITED,
                   .time_ns = pt_sys_real_ns(), .step = e->step, .task = -1,
                   .workerset = e->spec->workersets[set].name,
                   .worker = worker, .pid = pid, .exit_code = -1,
                   .max_rss_kb = max_rss_kb, .waiting = e->waiting,
                   .running = e->running};
    if (!started) {
        ev.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
        ev.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        rn_summary_rss(&e->summary, max_rss_kb);
        /* what its kernels detached came back to us as it died */
        pt_workerset_reap_strays(e->sets, e->spec->nworkersets);
    }
    if (e->step >= 0)
        ev.step_name = e->spec->steps[e->step].name;
    if (rn_host_emit(e->host, &ev) < 0)
        e->lost_output = true;
}

/* The first workers were born before the run started: say so now. */
static void announce_workers(engine *e)
{
    for (int i = 0; i < e->spec->nworkersets; i++) {
        for (int w = 0; w < pt_workerset_size(e->sets[i]); w++)
            on_worker(&e->hooks[i], w, pt_workerset_pid(e->sets[i], w), true,
                      0, 0);
        pt_workerset_on_worker(e->sets[i], on_worker, &e->hooks[i]);
    }
}

/* ---- kernels' output ---- */

/* Write the buffered lines of output.log (whole lines only). */
static void flush_log(engine *e)
{
    if (e->log.len && e->log_fd >= 0 &&
        pt_sys_write_full(e->log_fd, e->log.data, e->log.len) < 0) {
        fprintf(stderr, "ptrun: %s/output.log: %s (output dropped)\n",
                e->dir, strerror(errno));
        pt_sys_close(e->log_fd);
        e->log_fd = -1;
    }
    pt_buf_reset(&e->log);
}

static void keep_tail(tail *t, int64_t task, const char *line, size_t len)
{
    if (t->task != task) {
        for (int i = 0; i < t->n; i++)
            free(t->line[i]);
        t->n = 0;
        t->task = task;
    }
    if (t->n == TAIL_LINES) {
        free(t->line[0]);
        memmove(t->line, t->line + 1, sizeof t->line[0] * (TAIL_LINES - 1));
        t->n--;
    }
    t->line[t->n] = strndup(line, len > 500 ? 500 : len);
    t->n += t->line[t->n] != NULL;
}

/* One line a worker printed: to output.log, the tail, maybe the terminal. */
static void on_output(void *arg, int worker, int64_t task, int stream,
                      const char *line, size_t len)
{
    const set_hook *h = arg;
    engine *e = h->e;
    int set = h->set;
    const char *sname = e->spec->workersets[set].name;
    const char *what = stream == 1 ? "stdout" : "stderr";
    char id[24] = "-";
    if (task >= 0)
        snprintf(id, sizeof id, "%lld", (long long)task);
    pt_buf_printf(&e->log, "[%s %s/%d %s] ", id, sname, worker, what);
    pt_buf_append(&e->log, line, len);
    pt_buf_append(&e->log, "\n", 1);
    if (e->opts->tee)
        rn_progress_clear(&e->progress);
    if (e->opts->tee)
        fprintf(stderr, "[%s %s/%d %s] %.*s\n", id, sname, worker, what,
                (int)len, line);
    if (stream == 2 && task >= 0)
        keep_tail(&e->tails[set][worker], (uint64_t)task, line, len);
    if (e->log.len > 65536)
        flush_log(e);
}

/* The error text plus the task's last stderr lines, when there are some. */
static char *error_with_tail(engine *e, int64_t id, const char *error)
{
    const rn_ptask *t = &e->plan.tasks[id];
    int w = e->ts[id].worker;
    tail *tl = w >= 0 ? &e->tails[t->workerset][w] : NULL;
    if (!error || !tl || tl->task != id || tl->n == 0)
        return NULL;
    pt_buf b = {0};
    pt_buf_printf(&b, "%s; last stderr lines:", error);
    for (int i = 0; i < tl->n; i++)
        pt_buf_printf(&b, "\n%s", tl->line[i]);
    return (char *)b.data;
}

/* ---- tasks ---- */

static void on_done(void *arg, pt_request *req);

int64_t rn_eng_priority(const engine *e, int64_t id)
{
    return e->ts[id].prio_set ? e->ts[id].prio : e->plan.tasks[id].priority;
}

int rn_eng_submit(engine *e, int64_t id, int64_t now_ns)
{
    const rn_ptask *t = &e->plan.tasks[id];
    pt_call c = PT_CALL_INIT;
    c.kernel = e->spec->kernels[t->kernel].name;
    c.args = t->args;
    c.priority = rn_eng_priority(e, id);
    c.worker = t->rank > 0 ? -1 : t->on; /* another rank's worker: below */
    c.step = t->step;
    tstate *s = &e->ts[id];
    s->req = pt_request_submit(e->sets[t->workerset], &c, id,
                               on_done, e);
    if (!s->req)
        return -errno;
    s->attempts++;
    s->worker = -1;
    s->sent = false;
    e->waiting++;
    s->queued_ns = now_ns;
    pt_event ev = {.exit_code = -1, .time_ns = now_ns};
    rn_eng_task_event(e, PT_EV_TASK_QUEUED, id, &ev);
    if (s->cancel_asked) /* by `ptrun ctl` before its step began */
        pt_request_cancel(e->sets[t->workerset], s->req);
    else if (t->rank > 0)
        rn_cluster_pin(e, id);
    return 0;
}

static void on_sent(void *arg, pt_request *req, int64_t now)
{
    engine *e = arg;
    int64_t id = pt_request_id(req);
    tstate *s = &e->ts[id];
    s->start_ns = now + e->mono_off; /* until the worker says when it ran */
    s->worker = pt_request_worker(req);
    s->rank = 0;
    if (!s->sent) { /* else sent again after its worker died unstarted */
        s->sent = true;
        e->waiting--;
        e->running++;
    }
    pt_event ev = {.exit_code = -1, .time_ns = s->start_ns};
    rn_eng_task_event(e, PT_EV_TASK_STARTED, id, &ev);
}

/* Should this attempt's end be retried rather than final? */
static bool retry(const engine *e, int64_t id, pt_task_status st)
{
    const rn_workerset *w = &e->spec->workersets[e->plan.tasks[id]
                                                     .workerset];
    bool again = st == PT_TASK_CRASHED || st == PT_TASK_TIMEOUT ||
                 (st == PT_TASK_FAILED && w->retry_failed);
    return again && e->sigs == 0 && !e->stopping &&
           e->ts[id].attempts <= w->retries;
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
    int shift = e->ts[id].attempts - 1 < 7 ? e->ts[id].attempts - 1 : 7;
    int64_t wait = BACKOFF_FIRST_NS << shift;
    e->retry_ids[e->nretry] = id;
    e->retry_at[e->nretry++] = pt_sys_mono_ns() +
                               (wait < BACKOFF_MAX_NS ? wait : BACKOFF_MAX_NS);
    return 0;
}

void rn_eng_requeue(engine *e, int64_t id)
{
    if (rn_eng_submit(e, id, pt_sys_real_ns()) < 0) {
        e->counts[PT_TASK_CRASHED]++; /* cannot even queue it again */
        e->step_counts[PT_TASK_CRASHED]++;
        e->outstanding--;
    }
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
static int run_due_retries(engine *e, bool all)
{
    int64_t now = pt_sys_mono_ns(), next = -1;
    size_t keep = 0;
    for (size_t i = 0; i < e->nretry; i++) {
        int64_t id = e->retry_ids[i], at = e->retry_at[i];
        if (all || at <= now) {
            rn_eng_requeue(e, id);
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
    pt_buf_printf(&b, "%s{\"attempt\":%d,\"status\":\"%s\",\"worker\":%d,"
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

/* A request ended: retry it, or record it as final. */
static void on_done(void *arg, pt_request *req)
{
    engine *e = arg;
    int64_t id = pt_request_id(req);
    tstate *s = &e->ts[id];
    pt_reply *r = pt_request_reply(req);
    pt_task_status st = pt_reply_status(r);
    if (s->sent)
        e->running--;
    else
        e->waiting--;
    s->sent = false;
    const uint8_t *results;
    size_t results_len;
    pt_reply_results(r, &results, &results_len); /* as it came: no copy */
    char *long_error = error_with_tail(e, id, pt_reply_error(r));
    pt_event ev = {.status = st,
                   .error = long_error ? long_error : pt_reply_error(r),
                   .result = results, .result_len = results_len,
                   .signal = pt_reply_signal(r),
                   .exit_code = pt_reply_exit_code(r),
                   .max_rss_kb = pt_reply_max_rss_kb(r),
                   };
    if (pt_reply_end_ns(r)) { /* when it really ran, batched or not */
        s->start_ns = pt_reply_start_ns(r) + e->mono_off;
        ev.end_ns = pt_reply_end_ns(r) + e->mono_off;
    } else {
        ev.end_ns = pt_sys_real_ns();
    }
    ev.time_ns = ev.end_ns;
    if (st == PT_TASK_CANCELLED)
        s->start_ns = 0;
    bool again = retry(e, id, st);
    ev.attempts_json = s->history;
    rn_eng_task_event(e, again ? PT_EV_TASK_RETRIED : PT_EV_TASK_FINISHED, id, &ev);
    if (again)
        remember_attempt(s, &ev);
    if (s->start_ns)
        rn_summary_busy(&e->summary, ev.end_ns - s->start_ns);
    if (!again) {
        s->ended = true;
        e->counts[st]++;
        e->step_counts[st]++;
        e->outstanding--;
        rn_summary_task(&e->summary, e->plan.tasks[id].kernel, (int)st,
                        s->queued_ns, s->start_ns, ev.end_ns);
    }
    free(long_error);
    s->req = NULL;
    pt_request_destroy(req);
    if (again && backoff(e, id) < 0)
        rn_eng_requeue(e, id);
}

/* ---- signals ---- */

/* Cancel every task still waiting: nothing new will run. */
static void cancel_waiting(engine *e)
{
    for (int64_t id = 0; id < e->plan.ntasks; id++)
        if (e->ts[id].req &&
            pt_request_state_of(e->ts[id].req) == PT_REQ_WAITING)
            pt_request_cancel(e->sets[e->plan.tasks[id].workerset],
                          e->ts[id].req);
}

/* First signal: run nothing new. Second: kill the running tasks too. */
static void on_signals(engine *e)
{
    unsigned char buf[16];
    ssize_t n = read(sig_pipe[0], buf, sizeof buf);
    for (ssize_t i = 0; i < n; i++) {
        if (++e->sigs == 1) {
            if (!e->opts->quiet)
                fprintf(stderr, "\nptrun: interrupted: finishing running "
                        "tasks (again to kill them)\n");
            cancel_waiting(e);
            rn_cluster_interrupt(e, false);
        } else if (e->sigs == 2) {
            for (int w = 0; w < e->spec->nworkersets; w++)
                pt_workerset_kill_all(e->sets[w]);
            rn_cluster_interrupt(e, true);
        }
    }
}

/* ---- steps ---- */

static int min_ms(int a, int b)
{
    if (a < 0)
        return b;
    return b < 0 || a < b ? a : b;
}

/* The step's progress line (or JSON line), at most 10 times a second. */
static void show_progress(engine *e, int step, bool final)
{
    int64_t done = 0;
    for (int i = 0; i < PT_TASK_NSTATUS; i++)
        done += e->step_counts[i];
    rn_progress_state st = {
        .step = step, .nsteps = e->spec->nsteps,
        .step_name = e->spec->steps[step].name, .done = done,
        .total = e->step_total, .running = e->running,
        .waiting = e->waiting, .failed = done - e->step_counts[PT_TASK_OK],
        .paused = e->paused};
    rn_progress_show(&e->progress, &st, pt_sys_mono_ns(), final);
}

static int run_step(engine *e, int step)
{
    e->step = step;
    memset(e->step_counts, 0, sizeof e->step_counts);
    simple_event(e, PT_EV_STEP_START, step, NULL);
    rn_progress_step_start(&e->progress, pt_sys_mono_ns());
    e->step_total = 0;
    int nsets = e->spec->nworkersets, rc = 0;
    for (int i = 0; i < nsets; i++) /* queue the whole step first */
        pt_workerset_hold(e->sets[i], true);
    int64_t queued = pt_sys_real_ns(); /* the whole step is queued at once */
    for (int64_t id = e->plan.step_start[step];
         id < e->plan.step_start[step + 1] && rc == 0; id++) {
        if (e->skip && e->skip[id])
            continue;
        e->outstanding++;
        e->step_total++;
        if ((rc = rn_eng_submit(e, id, queued)) < 0)
            e->outstanding--;
    }
    for (int i = 0; i < nsets; i++)
        pt_workerset_hold(e->sets[i], e->paused);
    while (rc == 0 && e->outstanding > 0) {
        bool ending = e->sigs > 0 || e->stopping;
        size_t backing_off = e->nretry;
        int wait = run_due_retries(e, ending);
        if (ending && backing_off)
            cancel_waiting(e); /* the retries just queued, too */
        if (e->outstanding == 0)
            break;
        int64_t now = pt_sys_mono_ns();
        wait = min_ms(wait, rn_progress_timeout_ms(&e->progress, now));
        struct pollfd extra[1 + RN_CTL_POLLFDS];
        extra[0] = (struct pollfd){.fd = sig_pipe[0], .events = POLLIN};
        int nextra = 1;
        if (e->ctl) {
            nextra += rn_ctl_pollfds(e->ctl, extra + 1, RN_CTL_POLLFDS);
            wait = min_ms(wait, rn_ctl_timeout_ms(e->ctl, now));
        }
        if (e->mpi) { /* other ranks: no fds, so look every millisecond */
            wait = min_ms(wait, rn_cluster_pump(e));
            if (e->outstanding == 0)
                break;
        }
        int64_t finished = e->finished;
        bool looking = results_before_wait(e, pt_sys_mono_ns(), &wait);
        rc = pt_workerset_poll(e->sets, nsets, extra, nextra, wait);
        if (looking && e->finished == finished) /* idle next: write them */
            flush_results(e);
        if (e->ctl) /* after every round: it also drops late clients */
            rn_ctl_handle(e->ctl, extra + 1, nextra - 1, pt_sys_mono_ns());
        on_signals(e);
        flush_log(e);
        show_progress(e, step, false);
        if (e->lost_output && !e->stopping) { /* results cannot be kept */
            e->stopping = true;
            fprintf(stderr, "ptrun: stopping: results can no longer be "
                    "written\n");
            cancel_waiting(e);
        }
    }
    show_progress(e, step, true);
    simple_event(e, PT_EV_STEP_END, step, e->step_counts);
    if (e->lost_output && !e->stopping) {
        e->stopping = true;
        fprintf(stderr, "ptrun: stopping: results can no longer be "
                "written\n");
    }
    return rc;
}

/* ---- segments and worker sets ---- */

/*
 * A resumed run starts a `save: true` segment from its saved copy,
 * DIR/shm/<name>.npy (1, its path in `path`): the tasks recorded ok are
 * not run again, so what they wrote must come back. Without a copy (the
 * run was killed) it starts from `init`, which is said on stderr: what
 * those tasks wrote to it is lost.
 */
static int saved_segment(const engine *e, const rn_segment *g, char *path,
                         size_t size)
{
    if (!e->opts || !e->opts->resume || !g->save)
        return 0;
    snprintf(path, size, "%s/shm/%s.npy", e->dir, g->name);
    if (access(path, R_OK) == 0)
        return 1;
    fprintf(stderr, "ptrun: --resume %s: segment %s has no saved copy (%s): "
            "it starts from its init, without what the tasks done before "
            "wrote to it\n", e->dir, g->name, path);
    return 0;
}

int rn_eng_make_segment(engine *e, int i, const char *prefix, bool keep_name,
                        char *err, size_t errlen)
{
    const rn_segment *g = &e->spec->segments[i];
    pt_shm_opts o = {.prefix = prefix, .name = g->name,
                     .type = g->type, .ndims = g->ndims, .named = keep_name,
                     .hugepages = g->hugepages};
    memcpy(o.dims, g->dims, sizeof o.dims);
    e->shm[i] = pt_shm_create(&o);
    int rc = e->shm[i] ? 0 : -errno;
    if (rc == 0)
        rn_eng_huge_note(e, i);
    char saved[4200];
    int restore = rc == 0 ? saved_segment(e, g, saved, sizeof saved) : 0;
    if (restore)
        rc = pt_shm_load_npy(e->shm[i], saved);
    else if (rc == 0 && g->init == RN_INIT_FILL)
        rc = pt_shm_fill(e->shm[i], g->fill);
    else if (rc == 0 && g->init == RN_INIT_NPY)
        rc = pt_shm_load_npy(e->shm[i], g->npy);
    if (rc < 0)
        snprintf(err, errlen, "%s:%d:%d: segment %s: %s", e->spec->file,
                 g->pos.line, g->pos.col, g->name, pt_errmsg());
    return rc;
}

/* Five fds per worker, plus some: refuse early and clearly when short. */
static int check_fds(const rn_spec *s, char *err, size_t errlen)
{
    struct rlimit rl;
    int64_t need = 64;
    for (int i = 0; i < s->nworkersets; i++)
        need += 5 * (int64_t)s->workersets[i].workers;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (uint64_t)need > (uint64_t)rl.rlim_cur) {
        snprintf(err, errlen, "%d worker sets need about %lld open files, "
                 "the limit is %llu (raise it with ulimit -n, or use fewer "
                 "workers)", s->nworkersets, (long long)need,
                 (unsigned long long)rl.rlim_cur);
        return -EMFILE;
    }
    return 0;
}

int rn_eng_make_sets(engine *e, bool hooks, char *err, size_t errlen)
{
    const rn_spec *s = e->spec;
    int frc = check_fds(s, err, errlen);
    if (frc < 0)
        return frc;
    if (hooks) {
        e->hooks = calloc((size_t)s->nworkersets + 1, sizeof *e->hooks);
        if (!e->hooks)
            return -ENOMEM;
        for (int i = 0; i < s->nworkersets; i++)
            e->hooks[i] = (set_hook){e, i};
    }
    pt_kernel_ref *refs = calloc((size_t)s->nkernels + 1, sizeof *refs);
    if (!refs)
        return -ENOMEM;
    for (int i = 0; i < s->nkernels; i++)
        refs[i] = (pt_kernel_ref){s->kernels[i].name, s->kernels[i].path,
                                  s->kernels[i].symbol};
    int rc = 0;
    for (int i = 0; i < s->nworkersets && rc == 0; i++) {
        const rn_workerset *w = &s->workersets[i];
        pt_workerset_opts o = {.window = w->window, .batch = w->batch,
                               .kernels = refs,
                               .nkernels = s->nkernels, .shm = e->shm,
                               .nshm = s->nsegments, .seed = s->seed,
                               .timeout_ms = w->timeout_ms,
                               .memory_bytes = w->memory_bytes,
                               .grace_ms = w->grace_ms < 0 ? 0
                                           : w->grace_ms ? w->grace_ms : -1,
                               .output_fn = hooks ? on_output : NULL,
                               .output_arg = e->hooks ? &e->hooks[i] : NULL};
        e->tails[i] = calloc((size_t)w->workers, sizeof *e->tails[i]);
        if (!e->tails[i]) {
            rc = -ENOMEM;
            break;
        }
        e->sets[i] = pt_workerset_create(w->workers, w->mode, &o);
        if (!e->sets[i]) {
            rc = -errno;
            snprintf(err, errlen, "%s:%d:%d: workerset %s: %s", s->file,
                     w->pos.line, w->pos.col, w->name, pt_errmsg());
        } else if (hooks) {
            pt_workerset_on_sent(e->sets[i], on_sent, e);
        }
    }
    free(refs);
    return rc;
}

void rn_eng_unlink_segments(engine *e)
{
    for (int i = 0; e->shm && i < e->spec->nsegments; i++)
        if (e->shm[i] && e->shm_owner) /* not another rank's names */
            pt_shm_unlink(e->shm[i]);
    if (e->shm_ready) { /* MPI: a run that failed before the ranks met */
        pt_shm_unlink(e->shm_ready);
        pt_shm_detach(e->shm_ready);
        e->shm_ready = NULL;
    }
}

/* Save `save: true` segments as DIR/shm/<name>.npy. */
static int save_segments(engine *e, char *err, size_t errlen)
{
    char path[4200];
    for (int i = 0; i < e->spec->nsegments; i++) {
        if (!e->spec->segments[i].save || !e->shm[i])
            continue;
        snprintf(path, sizeof path, "%s/shm", e->dir);
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
            return -errno;
        snprintf(path, sizeof path, "%s/shm/%s.npy", e->dir,
                 e->spec->segments[i].name);
        int rc = pt_shm_save_npy(e->shm[i], path);
        if (rc < 0) {
            snprintf(err, errlen, "%s", pt_errmsg());
            return rc;
        }
    }
    return 0;
}

/* ---- the run ---- */

/* The manifest's view of the run so far (counts: what was on disk). */
static void manifest_of(const engine *e, int64_t start, rn_manifest *m)
{
    *m = (rn_manifest){.spec = e->spec, .argv_line = e->opts->argv_line,
                       .start_ns = start, .tasks = e->plan.ntasks,
                       .skipped = e->skipped, .sessions = e->sessions,
                       .exit_status = -1,
                       .hugepages = (const char *)e->huge.data};
    memcpy(m->counts, e->on_disk, sizeof m->counts);
}

static int prepare(engine *e, char *err, size_t errlen)
{
    const rn_spec *s = e->spec;
    int rc = install_signals(); /* before anything is made: a signal from
                                   now on ends the run cleanly */
    if (rc < 0) {
        snprintf(err, errlen, "signal pipe: %s", strerror(-rc));
        return rc;
    }
    rc = rn_rundir_make(s, e->opts->resume ? e->opts->resume : e->opts->out,
                        e->opts->resume != NULL, e->dir, sizeof e->dir,
                        &e->claim, err, errlen);
    e->have_dir = rc == 0;
    e->refused = rc == -EBUSY || rc == -EEXIST ||
                 (rc == -ENOENT && e->opts->resume); /* bad usage: exit 2 */
    if (rc == 0 && e->opts->resume &&
        (rc = rn_eng_check_resume(e, err, errlen)) < 0)
        e->refused = true;
    if (rc == 0 && (rc = rn_write_atomic(e->dir, "job.yaml",
                                         s->resolved_yaml,
                                         strlen(s->resolved_yaml))) < 0)
        snprintf(err, errlen, "%s/job.yaml: %s", e->dir, strerror(-rc));
    char mpath[4200];
    snprintf(mpath, sizeof mpath, "%s/manifest.json", e->dir);
    if (rc == 0 && access(mpath, F_OK) < 0) { /* before results.jsonl
                                   exists: a folder with results resumes */
        rn_manifest m;
        manifest_of(e, e->start_ns, &m);
        rc = rn_manifest_write(e->dir, &m, err, errlen);
    }
    if (rc == 0 && !(e->host = rn_host_open(s, e->dir, err, errlen)))
        rc = -EIO;
    if (rc == 0) {
        char path[4200];
        snprintf(path, sizeof path, "%s/output.log", e->dir);
        e->log_fd = pt_sys_open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (e->log_fd < 0) {
            rc = e->log_fd;
            snprintf(err, errlen, "%s: %s", path, strerror(-rc));
        }
    }
    pt_shm_clean(NULL); /* what dead runs left, of any job (an MPI rank
                           killed early leaves names of its own prefix) */
    int rank, size;
    if (rc == 0 && rn_cluster_launched(&rank, &size)) { /* one copy per node */
        rc = rn_cluster_make_segments(e, err, errlen);
    } else {
        e->shm_owner = true;
        for (int i = 0; rc == 0 && i < s->nsegments; i++)
            rc = rn_eng_make_segment(e, i, s->shm_prefix,
                                     s->segments[i].named, err, errlen);
    }
    if (rc == 0)
        rc = rn_eng_make_sets(e, true, err, errlen);
    if (rc == 0) /* MPI only now: every rank forks its workers first */
        rc = rn_cluster_start(e, err, errlen);
    set_handlers(); /* MPI_Init may have set handlers of its own */
    /* Only now the plan (every task's args): the workers, forked above,
     * neither share its pages nor make the runner copy them on write. */
    if (rc == 0 && (rc = rn_plan_build(s, rn_cluster_ranks(e), &e->plan, err,
                                       errlen)) == 0 &&
        !(e->ts = calloc((size_t)e->plan.ntasks + 1, sizeof *e->ts)))
        rc = -ENOMEM;
    for (int64_t i = 0; rc == 0 && e->mpi && e->opts->mpi_dedicated &&
                        i < e->plan.ntasks; i++)
        if (e->plan.tasks[i].on >= 0 && e->plan.tasks[i].rank == 0) {
            snprintf(err, errlen, "task %lld is pinned to a worker of rank 0 "
                     "(on: or each_worker): it cannot run with "
                     "--mpi-dedicated-root", (long long)i);
            rc = -EINVAL;
        }
    if (rc == 0 && e->opts->resume)
        rc = rn_eng_load_done(e, err, errlen);
    if (rc == 0 && (rc = rn_ctl_open_claimed(&e->ctl, e->dir, rn_eng_ctl_apply,
                                             e, err, errlen)) < 0) {
        /* no live control, but the run can go on */
        fprintf(stderr, "ptrun: no ptrun ctl for this run: %s\n", err);
        err[0] = '\0';
        rc = 0;
    }
    if (rc == 0) /* only a run that starts becomes runs/latest */
        rn_rundir_link_latest(e->dir, &e->claim);
    return rc;
}

/*
 * Stop the workers (their kernels' fini may still write to segments), save
 * what the spec asks to keep, then unmap and unlink every segment.
 */
static int teardown(engine *e, int rc, char *err, size_t errlen)
{
    rn_ctl_close(e->ctl);
    e->ctl = NULL;
    rn_cluster_finish(e);
    pt_workerset_destroy_all(e->sets, e->spec->nworkersets);
    pt_workerset_reap_strays(NULL, 0); /* the last workers' strays */
    flush_log(e);
    pt_sys_close(e->log_fd);
    pt_buf_free(&e->log);
    if (rc == 0)
        rc = save_segments(e, err, errlen);
    rn_eng_unlink_segments(e);
    for (int i = 0; i < e->spec->nsegments; i++)
        pt_shm_detach(e->shm[i]);
    restore_signals();
    return rc;
}

static int exit_status(const engine *e, int rc)
{
    if (e->refused)
        return 2;
    if (rc < 0 || e->lost_output)
        return 3;
    if (e->sigs)
        return 130;
    return e->counts[PT_TASK_OK] + e->skipped == e->plan.ntasks ? 0 : 1;
}

/*
 * Read results.jsonl back, once every plugin is closed: the manifest's
 * counts become what it holds (and `results_lost` what of this session's
 * it lacks), then it is compacted to one line per task. 0 or -errno, said
 * on stderr. `written_all`: a first session that wrote every line it was
 * asked to holds one line per task it ended, so its own counts are the
 * file's (no reading back: 200k tasks took 0.1 s).
 */
static int settle_results(engine *e, rn_manifest *m, bool written_all)
{
    char path[4200];
    rn_results r;
    int64_t ended = 0, written = 0;
    if (written_all) { /* a first session whose every line was written:
                          one line per task it ended, nothing to read */
        memcpy(m->counts, e->counts, sizeof m->counts);
        memcpy(m->session_counts, e->counts, sizeof m->session_counts);
        m->results_lost = 0;
        m->compacted = true;
        return 0;
    }
    snprintf(path, sizeof path, "%s/results.jsonl", e->dir);
    int rc = rn_results_read(&r, path, e->plan.ntasks, e->results_base);
    if (rc < 0) {
        fprintf(stderr, "ptrun: %s: cannot read it back: %s\n", path,
                strerror(-rc));
        rn_results_free(&r);
        return rc;
    }
    for (int i = 0; i < PT_TASK_NSTATUS; i++) {
        ended += e->counts[i];
        written += r.since[i];
    }
    memcpy(m->counts, r.counts, sizeof m->counts);
    memcpy(m->session_counts, r.since, sizeof m->session_counts);
    m->results_lost = ended > written ? ended - written : 0;
    if (m->results_lost && e->lost_output) /* else none was asked for */
        fprintf(stderr, "ptrun: %s: %lld results of this run could not be "
                "written (manifest.json: \"results_lost\")\n", path,
                (long long)m->results_lost);
    rc = rn_results_compacted(&r) ? 0 : rn_results_compact(&r, e->dir);
    m->compacted = rc == 0;
    if (rc < 0)
        fprintf(stderr, "ptrun: %s: cannot compact it (%s): the lines it "
                "should move to history.jsonl stay in it\n", path,
                strerror(-rc));
    rn_results_free(&r);
    return rc;
}

static int finish(engine *e, int rc, int64_t start, char *err, size_t errlen)
{
    simple_event(e, PT_EV_RUN_END, -1, e->counts);
    int plug = e->host ? rn_host_close(e->host) : 0;
    e->host = NULL;
    rn_manifest m;
    manifest_of(e, start, &m);
    m.end_ns = pt_sys_real_ns();
    m.interrupted = e->sigs > 0;
    m.finished = true;
    bool written_all = !e->opts->resume && !e->lost_output && plug == 0;
    if (e->started && settle_results(e, &m, written_all) < 0)
        rc = rc < 0 ? rc : -EIO;
    double wall_s = (double)(m.end_ns - start) * 1e-9;
    pt_buf sj = {0};
    rn_summary_json(&e->summary, e->spec, e->skipped, wall_s, &sj);
    if (pt_buf_append(&sj, "", 1) == 0)
        m.summary_json = (const char *)sj.data;
    m.exit_status = exit_status(e, rc < 0 || plug < 0 ? -1 : 0);
    if (e->started && rn_manifest_write(e->dir, &m, err, errlen) < 0) {
        m.exit_status = 3;
        rc = rc < 0 ? rc : -EIO;
    }
    pt_buf_free(&sj);
    if (!e->opts->quiet && rc == 0)
        rn_summary_print(&e->summary, e->spec, e->counts, e->skipped, wall_s,
                         e->dir, stderr);
    return m.exit_status;
}

static void free_tails(engine *e)
{
    for (int i = 0; e->tails && i < e->spec->nworkersets; i++) {
        for (int w = 0; e->tails[i] && w < e->spec->workersets[i].workers;
             w++)
            for (int k = 0; k < e->tails[i][w].n; k++)
                free(e->tails[i][w].line[k]);
        free(e->tails[i]);
    }
    free(e->tails);
}

int rn_run(const rn_spec *spec, const rn_run_opts *o)
{
    engine e = {.spec = spec, .opts = o, .log_fd = -1, .claim = {.fd = -1}};
    char err[8192] = "";
    int64_t start = pt_sys_real_ns();
    e.start_ns = start;
    e.shm = calloc((size_t)spec->nsegments + 1, sizeof *e.shm);
    e.sets = calloc((size_t)spec->nworkersets + 1, sizeof *e.sets);
    e.tails = calloc((size_t)spec->nworkersets + 1, sizeof *e.tails);
    int rc = e.shm && e.sets && e.tails ? 0 : -ENOMEM;
    if (rc == 0)
        rc = rn_summary_init(&e.summary, spec);
    pt_subreaper_enable(); /* nothing a kernel detaches escapes the run */
    e.mono_off = pt_sys_real_ns() - pt_sys_mono_ns();
    e.step = -1;
    e.mpi_size = 1;
    rn_progress_init(&e.progress, o->progress, o->quiet);
    if (rc == 0)
        rc = prepare(&e, err, sizeof err);
    if (rc == 0) { /* a run killed from now on says so in its folder */
        rn_manifest m;
        manifest_of(&e, start, &m);
        rc = rn_manifest_write(e.dir, &m, err, sizeof err);
        e.started = rc == 0;
    }
    if (rc == 0) {
        simple_event(&e, PT_EV_RUN_START, -1, NULL);
        announce_workers(&e);
    }
    for (int s = 0; rc == 0 && s < spec->nsteps && !e.sigs && !e.stopping;
         s++)
        if ((rc = run_step(&e, s)) < 0)
            snprintf(err, sizeof err, "%s", pt_errmsg());
    rc = teardown(&e, rc, err, sizeof err);
    int status = finish(&e, rc, start, err, sizeof err);
    if (!e.started && e.have_dir && !o->resume) /* nothing ran: no trace */
        rn_rundir_discard(e.dir, &e.claim);
    rn_rundir_release(&e.claim); /* last: the folder is complete */
    if (err[0])
        fprintf(stderr, "ptrun: %s\n", err);
    rn_summary_free(&e.summary);
    free_tails(&e);
    free(e.hooks);
    for (int64_t i = 0; e.ts && i < e.plan.ntasks; i++)
        free(e.ts[i].history);
    free(e.retry_ids);
    free(e.retry_at);
    free(e.skip);
    free(e.sessions);
    pt_buf_free(&e.huge);
    free(e.shm);
    free(e.sets);
    free(e.ts);
    rn_plan_free(&e.plan);
    return status;
}
