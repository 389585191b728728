/* engine_output.c - what workers print (output.log, the stderr tails
 * that go with a task's error), and the events that are no task's: run,
 * step, worker started or exited (see engine_internal.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <ptools/sys.h>

#include "engine/engine_internal.h"

/* ---- events ---- */

void rn_eng_simple_event(engine *e, pt_event_type type, int step,
                         const int64_t *counts)
{
    pt_event ev = {.type = type,
                   .time_ns = pt_sys_real_ns(),
                   .step = step,
                   .task = -1,
                   .worker = -1,
                   .exit_code = -1,
                   .interrupted = e->sigs > 0,
                   .waiting = e->waiting,
                   .running = e->running};
    if (step >= 0)
        ev.step_name = e->spec->steps[step].name;
    if (counts)
        memcpy(ev.counts, counts, sizeof ev.counts);
    if (rn_host_emit(e->host, &ev) < 0)
        e->lost_output = true;
}

/* A worker of set `arg` started, or exited (how, its peak RSS). */
static void on_worker(void *arg, int worker, int pid, bool started, int status,
                      int64_t max_rss_kb)
{
    const set_hook *h = arg;
    engine *e = h->e;
    int set = h->set;
    pt_event ev = {.type = started ? PT_EV_WORKER_STARTED : PT_EV_WORKER_EXITED,
                   .time_ns = pt_sys_real_ns(),
                   .step = e->step,
                   .task = -1,
                   .workerset = e->spec->workersets[set].name,
                   .worker = worker,
                   .pid = pid,
                   .exit_code = -1,
                   .max_rss_kb = max_rss_kb,
                   .waiting = e->waiting,
                   .running = e->running};
    if (!started) {
        ev.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
        ev.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        rn_summary_rss(&e->summary, max_rss_kb);
        /* what its kernels detached came back to us as it died */
        if (!e->shutting)
            pt_workerset_reap_strays(e->sets, e->spec->nworkersets);
    }
    if (e->step >= 0)
        ev.step_name = e->spec->steps[e->step].name;
    if (rn_host_emit(e->host, &ev) < 0)
        e->lost_output = true;
}

/* The first workers were born before the run started: say so now. */
void rn_eng_announce_workers(engine *e)
{
    for (int i = 0; i < e->spec->nworkersets; i++) {
        for (int w = 0; w < pt_workerset_size(e->sets[i]); w++)
            if (pt_workerset_pid(e->sets[i], w) > 0) /* the rest: when born */
                on_worker(&e->hooks[i], w, pt_workerset_pid(e->sets[i], w),
                          true, 0, 0);
        pt_workerset_on_worker(e->sets[i], on_worker, &e->hooks[i]);
    }
}

/* ---- kernels' output ---- */

/* Write the buffered lines of output.log (whole lines only). */
void rn_eng_flush_log(engine *e)
{
    if (e->log.len && e->log_fd >= 0 &&
        pt_sys_write_full(e->log_fd, e->log.data, e->log.len) < 0) {
        fprintf(stderr, "ptrun: %s/output.log: %s (output dropped)\n", e->dir,
                strerror(errno));
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
void rn_eng_on_output(void *arg, int worker, int64_t task, int stream,
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
        rn_eng_flush_log(e);
}

/* The error text plus the task's last stderr lines, when there are some. */
char *rn_eng_error_with_tail(engine *e, int64_t id, const char *error)
{
    if (!error) /* most tasks: no lookup */
        return NULL;
    const tstate *s = rn_eng_live(e, id);
    int w = s ? s->worker : -1;
    tail *tl = w >= 0 ? &e->tails[s->t.workerset][w] : NULL;
    if (!error || !tl || tl->task != id || tl->n == 0)
        return NULL;
    pt_buf b = {0};
    pt_buf_printf(&b, "%s; last stderr lines:", error);
    for (int i = 0; i < tl->n; i++)
        pt_buf_printf(&b, "\n%s", tl->line[i]);
    return (char *)b.data;
}
