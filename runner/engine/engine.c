/* engine.c - run a planned job (see engine.h): the steps, each a loop of
 * waiting, signals and results written before the runner waits idle. A
 * task's life is in engine_task.c, what comes before and after the steps
 * in engine_setup.c, what workers print in engine_output.c. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ptools/sys.h>

#include "cluster/cluster.h"
#include "ctl/ctl.h"
#include "engine/engine_internal.h"
#include "events/rundir.h"

/* The signal handlers' self-pipe: a handler gets no arg, so this is the
 * engine's one static (the rest reaches its engine through an arg). */
static int sig_pipe[2] = {-1, -1};

/* SPEC §5: a finished task's line is written at most this long after the
 * task ended, and before the runner waits idle. */
#define RESULT_LATENCY_NS INT64_C(50000000)

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
void rn_eng_set_handlers(void)
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

int rn_eng_install_signals(void)
{
    int rc = pt_sys_pipe(sig_pipe);
    if (rc < 0)
        return rc;
    /* a new pipe has no status flags: one F_SETFL each, no F_GETFL */
    if (fcntl(sig_pipe[0], F_SETFL, O_NONBLOCK) < 0 ||
        fcntl(sig_pipe[1], F_SETFL, O_NONBLOCK) < 0) {
        rc = -errno;
        pt_sys_close(sig_pipe[0]);
        pt_sys_close(sig_pipe[1]);
        sig_pipe[0] = sig_pipe[1] = -1;
        return rc;
    }
    rn_eng_set_handlers();
    return 0;
}

/* SIGPIPE keeps its handler: the summary may meet a closed stderr. */
void rn_eng_restore_signals(void)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    pt_sys_close(sig_pipe[0]);
    pt_sys_close(sig_pipe[1]);
    sig_pipe[0] = sig_pipe[1] = -1;
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
 * written now, and all of them before a round that may wait (SPEC §5:
 * before the runner next waits idle). Task events gathered for plugins
 * reach them before the runner waits, too. (A round that only looks, wait
 * 0, writes nothing younger: more may come with it; poll_round decides
 * when a round looks instead of writing and waiting.)
 */
static void results_before_wait(engine *e, int64_t now, int wait)
{
    if (e->unflushed_ns &&
        (wait != 0 || now - e->unflushed_ns >= RESULT_LATENCY_NS))
        flush_results(e);
    if (!e->unflushed_ns && wait != 0 && rn_host_deliver(e->host) < 0)
        e->lost_output = true;
}

/*
 * Whether a round that would write results and then wait only looks
 * instead (poll with no wait): when a task ends with the look, the next
 * round takes more without writing or waiting (SPEC §5: results are
 * written before the runner waits idle, or once RESULT_LATENCY_NS old),
 * which saves a write a task when tasks go one at a time to busy workers
 * (`batch: 1`). A look is a whole round: what it saw (a crash to retry, a
 * timeout) sets the next round's wait, and a round after a look that found
 * nothing waits without looking. A look that finds nothing costs a system
 * call; after LOOK_MISSES of them in a row the rounds stop looking, and
 * every LOOK_PROBE-th round tries again.
 */
enum { LOOK_MISSES = 2, LOOK_PROBE = 64 };

static bool should_look(engine *e, int wait)
{
    if (!e->unflushed_ns || wait == 0 || e->looked_empty)
        return false;
    if (e->look_credit > 0)
        return true;
    if (--e->look_credit > -LOOK_PROBE)
        return false;
    e->look_credit = 1; /* a probe: one look, kept while looks pay */
    return true;
}

/* One round's poll: a look instead when it may pay (should_look). */
static int poll_round(engine *e, struct pollfd *extra, int nextra, int wait)
{
    int nsets = e->spec->nworkersets;
    if (should_look(e, wait)) {
        results_before_wait(e, pt_sys_mono_ns(), 0); /* the old ones */
        int64_t finished = e->finished;
        int rc = pt_workerset_poll(e->sets, nsets, extra, nextra, 0);
        bool news = e->finished != finished;
        for (int i = 0; !news && i < nextra; i++)
            news = extra[i].revents != 0;
        e->look_credit = news ? LOOK_MISSES : e->look_credit - 1;
        e->looked_empty = !news;
        return rc;
    }
    e->looked_empty = false;
    results_before_wait(e, pt_sys_mono_ns(), wait);
    return pt_workerset_poll(e->sets, nsets, extra, nextra, wait);
}

/* First signal: run nothing new. Second: kill the running tasks too. */
static void on_signals(engine *e)
{
    unsigned char buf[16];
    ssize_t n = read(sig_pipe[0], buf, sizeof buf);
    for (ssize_t i = 0; i < n; i++) {
        if (++e->sigs == 1) {
            rn_eng_cancel_waiting(e); /* first: what waits is cancelled
                                         by the time the line is read */
            if (!e->opts->quiet)
                fprintf(stderr, "\nptrun: interrupted: finishing running "
                                "tasks (again to kill them)\n");
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

/*
 * ctl.sock, runs/latest and the manifest's disk reserve are made once the
 * first tasks are at workers and the run has gone on LATE_NS with tasks
 * still to end: a run that ends sooner, or whose step has just ended,
 * needs none of them now (runs/latest is made at its end), and their
 * files cost ext4 an inode each (up to 0.25 ms) on the start's critical
 * path. The first round sends without waiting; the next ones wait no
 * longer than until then.
 */
#define LATE_NS INT64_C(1000000)

static int late_wait(const engine *e, int wait, int64_t now)
{
    if (e->late)
        return wait;
    if (!e->first_ns)
        return 0;
    int64_t left = e->first_ns + LATE_NS - now;
    return min_ms(wait, left > 0 ? (int)((left + 999999) / 1000000) : 0);
}

static void open_late_due(engine *e)
{
    int64_t now = pt_sys_mono_ns();
    if (!e->first_ns)
        e->first_ns = now;
    else if (now - e->first_ns >= LATE_NS && e->outstanding > 0)
        rn_eng_open_late(e, true); /* the first tasks are at workers */
}

/* The step's progress line (or JSON line), at most 10 times a second. */
static void show_progress(engine *e, int step, bool final)
{
    int64_t done = 0, cancelled = e->step_counts[PT_TASK_CANCELLED];
    for (int i = 0; i < PT_TASK_NSTATUS; i++)
        done += e->step_counts[i];
    done -= cancelled; /* after Ctrl-C, the bar is not full */
    rn_progress_state st = {.step = step,
                            .nsteps = e->spec->nsteps,
                            .step_name = e->spec->steps[step].name,
                            .done = done,
                            .total = e->step_total,
                            .running = e->running,
                            .waiting = e->waiting,
                            .failed = done - e->step_counts[PT_TASK_OK],
                            .cancelled = cancelled,
                            .paused = e->paused};
    rn_progress_show(&e->progress, &st, pt_sys_mono_ns(), final);
}

static int run_step(engine *e, int step)
{
    e->step = step;
    e->notok_step = 0;
    memset(e->step_counts, 0, sizeof e->step_counts);
    rn_eng_simple_event(e, PT_EV_STEP_START, step, NULL);
    rn_progress_step_start(&e->progress, pt_sys_mono_ns());
    int nsets = e->spec->nworkersets;
    for (int i = 0; i < nsets; i++) /* the step's best first, then go */
        pt_workerset_hold(e->sets[i], true);
    e->step_queued_ns = pt_sys_real_ns(); /* as if queued all at once */
    int rc = rn_eng_feed_step(e, step, &e->step_total);
    e->outstanding += e->step_total;
    e->waiting += e->step_total;
    if (rc == 0)
        rc = rn_eng_feed(e, -1);
    for (int i = 0; i < nsets; i++)
        pt_workerset_hold(e->sets[i], e->paused);
    while (rc == 0 && e->outstanding > 0) {
        bool ending = e->sigs > 0 || e->stopping || e->halted;
        size_t backing_off = e->nretry;
        int wait = rn_eng_run_due_retries(e, ending);
        if (ending && backing_off)
            rn_eng_cancel_waiting(e); /* the retries just queued, too */
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
        wait = late_wait(e, wait, pt_sys_mono_ns());
        rc = poll_round(e, extra, nextra, wait);
        if (rc == 0)
            rn_eng_feed(e, -1); /* more as they finish */
        if (rc == 0 && e->feed_rc)
            rc = e->feed_rc;
        if (e->ctl) /* after every round: it also drops late clients */
            rn_ctl_handle(e->ctl, extra + 1, nextra - 1, pt_sys_mono_ns());
        open_late_due(e);
        if (extra[0].revents) /* no read a round for nothing */
            on_signals(e);
        rn_eng_halt_apply(e);
        rn_eng_flush_log(e);
        show_progress(e, step, false);
        if (e->lost_output && !e->stopping) { /* results cannot be kept */
            e->stopping = true;
            fprintf(stderr, "ptrun: stopping: results can no longer be "
                            "written\n");
            rn_eng_cancel_waiting(e);
        }
    }
    show_progress(e, step, true);
    rn_eng_simple_event(e, PT_EV_STEP_END, step, e->step_counts);
    if (e->lost_output && !e->stopping) {
        e->stopping = true;
        fprintf(stderr, "ptrun: stopping: results can no longer be "
                        "written\n");
    }
    return rc;
}

/* ---- the run ---- */

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
    if (rc == 0)
        rc = rn_eng_median_init(&e);
    pt_subreaper_enable(); /* nothing a kernel detaches escapes the run */
    e.mono_off = pt_sys_real_ns() - pt_sys_mono_ns();
    e.step = -1;
    e.mpi_size = 1;
    rn_progress_init(&e.progress, o->progress, o->quiet);
    if (rc == 0)
        rc = rn_eng_prepare(&e, err, sizeof err);
    if (rc == 0) {
        rn_eng_simple_event(&e, PT_EV_RUN_START, -1, NULL);
        rn_eng_announce_workers(&e);
    }
    for (int s = 0; rc == 0 && s < spec->nsteps && !e.sigs && !e.stopping; s++)
        if ((rc = run_step(&e, s)) < 0)
            snprintf(err, sizeof err, "%s", pt_errmsg());
    rn_eng_open_late(&e, false); /* a run with no step is runs/latest too */
    rc = rn_eng_teardown(&e, rc, err, sizeof err);
    int status = rn_eng_finish(&e, rc, start, err, sizeof err);
    if (!e.started && e.have_dir && !o->resume) /* nothing ran: no trace */
        rn_rundir_discard(e.dir, &e.claim);
    rn_rundir_release(&e.claim); /* last: the folder is complete */
    if (err[0])
        fprintf(stderr, "ptrun: %s\n", err);
    rn_summary_free(&e.summary);
    rn_eng_free_tails(&e);
    free(e.hooks);
    rn_eng_feed_free(&e);
    rn_eng_median_free(&e);
    free(e.retry_ids);
    free(e.retry_at);
    free(e.sessions);
    pt_buf_free(&e.huge);
    free(e.shm);
    free(e.sets);
    rn_plan_free(&e.plan);
    return status;
}
