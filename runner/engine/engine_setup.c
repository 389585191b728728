/* engine_setup.c - before and after the steps: the run folder, segments,
 * worker sets and the plan; then teardown, results settled and the
 * manifest (see engine_internal.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ptools/npy.h>
#include <ptools/shm.h>
#include <ptools/sys.h>

#include "cluster/cluster.h"
#include "ctl/ctl.h"
#include "engine/engine_internal.h"
#include "events/results.h"
#include "events/rundir.h"

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
    fprintf(stderr,
            "ptrun: --resume %s: segment %s has no saved copy (%s): "
            "it starts from its init, without what the tasks done before "
            "wrote to it\n",
            e->dir, g->name, path);
    return 0;
}

int rn_eng_make_segment(engine *e, int i, const char *prefix, bool keep_name,
                        char *err, size_t errlen)
{
    const rn_segment *g = &e->spec->segments[i];
    pt_shm_opts o = {.prefix = prefix,
                     .name = g->name,
                     .type = g->type,
                     .ndims = g->ndims,
                     .named = keep_name,
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
        snprintf(err, errlen,
                 "%d worker sets need about %lld open files, "
                 "the limit is %llu (raise it with ulimit -n, or use fewer "
                 "workers)",
                 s->nworkersets, (long long)need,
                 (unsigned long long)rl.rlim_cur);
        return -EMFILE;
    }
    return 0;
}

/*
 * Where set w's workers keep their snapshots: DIR/state/<set> (the folder
 * made here), into `prefix`; "" when the set takes none or the run has no
 * folder of its own (an MPI agent).
 */
static int state_prefix(const engine *e, const rn_workerset *w, bool own_dir,
                        char *prefix, size_t size, char *err, size_t errlen)
{
    prefix[0] = '\0';
    if (!own_dir || w->checkpoint_ms <= 0)
        return 0;
    snprintf(prefix, size, "%s/state", e->dir);
    if (mkdir(prefix, 0755) < 0 && errno != EEXIST) {
        int rc = -errno;
        snprintf(err, errlen, "%s: %s", prefix, strerror(errno));
        return rc;
    }
    snprintf(prefix, size, "%s/state/%s", e->dir, w->name);
    return 0;
}

/*
 * The kernels of set `set`'s tasks in the first step that has any, into
 * out (room for every kernel): its workers load them as they start, while
 * the run folder is made (pt_workerset_opts.preload). Their count.
 */
static int first_kernels(const rn_spec *s, int set, int *out)
{
    int n = 0;
    for (int st = 0; st < s->nsteps && n == 0; st++)
        for (int t = 0; t < s->steps[st].ntasks; t++) {
            const rn_task *k = &s->steps[st].tasks[t];
            bool seen = k->workerset != set;
            for (int i = 0; i < n && !seen; i++)
                seen = out[i] == k->kernel;
            if (!seen)
                out[n++] = k->kernel;
        }
    return n;
}

/*
 * Whether set `set`'s first step with tasks for it has more than one: then
 * all its workers are forked at once (the others would be forked a round
 * later anyway, a fork and a start - ~2 ms on a slow VM - after the first
 * began, sitting idle while tasks wait). A one-task run forks one.
 */
static bool starts_busy(const rn_spec *s, int set)
{
    for (int st = 0; st < s->nsteps; st++) {
        int n = 0;
        for (int t = 0; t < s->steps[st].ntasks; t++) {
            const rn_task *k = &s->steps[st].tasks[t];
            if (k->workerset != set)
                continue;
            if (++n > 1 || k->repeat > 1 || k->nsweep > 0 || k->each_worker)
                return true;
        }
        if (n)
            return false;
    }
    return false;
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
    int *preload = calloc((size_t)s->nkernels + 1, sizeof *preload);
    if (!refs || !preload) {
        free(refs);
        free(preload);
        return -ENOMEM;
    }
    for (int i = 0; i < s->nkernels; i++)
        refs[i] = (pt_kernel_ref){s->kernels[i].name, s->kernels[i].path,
                                  s->kernels[i].symbol};
    /* One worker of each set now, the rest once they have work (a run of
     * one task forks one); all now when its first step has more tasks
     * than one (starts_busy), and under MPI, before MPI_Init. */
    int rank, size, rc = 0;
    bool mpi = rn_cluster_launched(&rank, &size);
    for (int i = 0; i < s->nworkersets && rc == 0; i++) {
        const rn_workerset *w = &s->workersets[i];
        char prefix[4200];
        if ((rc = state_prefix(e, w, hooks, prefix, sizeof prefix, err,
                               errlen)) < 0)
            break;
        pt_workerset_opts o = {.window = w->window,
                               .batch = w->batch,
                               .kernels = refs,
                               .nkernels = s->nkernels,
                               .shm = e->shm,
                               .nshm = s->nsegments,
                               .seed = s->seed,
                               .timeout_ms = w->timeout_ms,
                               .memory_bytes = w->memory_bytes,
                               .grace_ms = w->grace_ms < 0 ? 0
                                           : w->grace_ms   ? w->grace_ms
                                                           : -1,
                               .output_fn = hooks ? rn_eng_on_output : NULL,
                               .output_arg = e->hooks ? &e->hooks[i] : NULL,
                               .checkpoint_prefix = prefix[0] ? prefix : NULL,
                               .checkpoint_ms = w->checkpoint_ms,
                               .preload = preload,
                               .npreload = first_kernels(s, i, preload),
                               .start = mpi || starts_busy(s, i) ? 0 : 1};
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
            pt_workerset_on_sent(e->sets[i], rn_eng_on_sent, e);
        }
    }
    free(refs);
    free(preload);
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

/* ---- the run folder, before and after the steps ---- */

/* The manifest's view of the run so far (counts: what was on disk). */
void rn_eng_manifest_of(const engine *e, int64_t start, rn_manifest *m)
{
    *m = (rn_manifest){.spec = e->spec,
                       .argv_line = e->opts->argv_line,
                       .start_ns = start,
                       .tasks = e->plan.ntasks,
                       .skipped = e->skipped,
                       .sessions = e->sessions,
                       .exit_status = -1,
                       .hugepages = (const char *)e->huge.data};
    memcpy(m->counts, e->on_disk, sizeof m->counts);
}

/*
 * Once the run is set to start: its manifest (finished: false) before
 * results.jsonl exists, so that a folder with results resumes; then the
 * plugins (which make results.jsonl) and output.log. From here on a run
 * killed says so in its folder.
 */
static int open_outputs(engine *e, char *err, size_t errlen)
{
    rn_manifest m;
    char path[4200];
    rn_eng_manifest_of(e, e->start_ns, &m);
    int rc = rn_manifest_write(e->dir, &m, err, errlen);
    if (rc == 0 && !(e->host = rn_host_open(e->spec, e->dir, err, errlen)))
        rc = -EIO;
    if (rc < 0)
        return rc;
    snprintf(path, sizeof path, "%s/output.log", e->dir);
    e->log_fd = pt_sys_open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (e->log_fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(-e->log_fd));
        return e->log_fd;
    }
    e->started = true;
    return 0;
}

/* DIR/job.yaml: the resolved spec, overrides applied. */
static int write_job(const engine *e, char *err, size_t errlen)
{
    const char *y = e->spec->resolved_yaml;
    int rc = rn_write_atomic(e->dir, "job.yaml", y, strlen(y));
    if (rc < 0)
        snprintf(err, errlen, "%s/job.yaml: %s", e->dir, strerror(-rc));
    return rc;
}

int rn_eng_prepare(engine *e, char *err, size_t errlen)
{
    const rn_spec *s = e->spec;
    int rc = rn_eng_install_signals(); /* before anything is made: a signal from
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
    int rank, size;
    bool mpi = rn_cluster_launched(&rank, &size);
    /* With no segment of its own to make, a run forks its first workers
     * as soon as its folder is claimed: their start (~1-2 ms) overlaps
     * job.yaml and the clean-up of /dev/shm. job.yaml is still written
     * before the manifest, so any folder with results holds it. */
    bool fork_first = !mpi && s->nsegments == 0;
    if (rc == 0 && fork_first)
        rc = rn_eng_make_sets(e, true, err, errlen);
    if (rc == 0)
        rc = write_job(e, err, errlen);
    pt_shm_clean(NULL);   /* what dead runs left, of any job (an MPI rank
                             killed early leaves names of its own prefix) */
    if (rc == 0 && mpi) { /* one copy per node */
        rc = rn_cluster_make_segments(e, err, errlen);
    } else {
        e->shm_owner = true;
        for (int i = 0; rc == 0 && i < s->nsegments; i++)
            rc = rn_eng_make_segment(e, i, s->shm_prefix, s->segments[i].named,
                                     err, errlen);
    }
    if (rc == 0 && !fork_first)
        rc = rn_eng_make_sets(e, true, err, errlen);
    if (rc == 0) /* MPI only now: every rank forks its workers first */
        rc = rn_cluster_start(e, err, errlen);
    if (mpi) /* MPI_Init may have set handlers of its own */
        rn_eng_set_handlers();
    /* Only now the plan: the workers, forked above, neither share its
     * pages nor make the runner copy them on write. */
    if (rc == 0 &&
        (rc = rn_plan_build(s, rn_cluster_ranks(e), &e->plan, err, errlen)) ==
            0 &&
        (rc = rn_eng_feed_init(e)) < 0)
        snprintf(err, errlen, "planning: %s", pt_strerror(rc));
    for (int i = 0;
         rc == 0 && e->mpi && e->opts->mpi_dedicated && i < e->plan.nentries;
         i++) {
        const rn_pentry *en = &e->plan.entries[i];
        rn_ptask t;
        if (en->n == 0)
            continue;
        rn_plan_task(&e->plan, en->first, &t); /* rank 0's come first */
        if (t.on >= 0 && t.rank == 0) {
            snprintf(err, errlen,
                     "task %lld is pinned to a worker of rank 0 "
                     "(on: or each_worker): it cannot run with "
                     "--mpi-dedicated-root",
                     (long long)t.id);
            rc = -EINVAL;
        }
    }
    if (rc == 0 && e->opts->resume)
        rc = rn_eng_load_done(e, err, errlen);
    if (rc == 0)
        rc = open_outputs(e, err, errlen);
    return rc;
}

void rn_eng_open_late(engine *e, bool running)
{
    char err[4200];
    if (e->late || !e->started)
        return;
    e->late = true;
    if (running) {
        rn_manifest_reserve(e->dir);
        e->reserved = true;
    }
    if (running && rn_ctl_open_claimed(&e->ctl, e->dir, rn_eng_ctl_apply, e,
                                       err, sizeof err) < 0) /* it goes on */
        fprintf(stderr, "ptrun: no ptrun ctl for this run: %s\n", err);
    rn_rundir_link_latest(e->dir, &e->claim); /* only a run that starts */
}

/*
 * Stop the workers (their kernels' fini may still write to segments), save
 * what the spec asks to keep, then unmap and unlink every segment.
 */
int rn_eng_teardown(engine *e, int rc, char *err, size_t errlen)
{
    rn_ctl_close(e->ctl);
    e->ctl = NULL;
    rn_cluster_finish(e);
    e->shutting = true;
    pt_workerset_stop_all(e->sets, e->spec->nworkersets);
    /* While the workers end: the file the last manifest is written into,
     * if the run made none yet (a new inode costs ext4 up to 0.25 ms). */
    if (e->started && !e->reserved) {
        rn_manifest_reserve(e->dir);
        e->reserved = true;
    }
    pt_workerset_destroy_all(e->sets, e->spec->nworkersets);
    pt_workerset_reap_strays(NULL, 0); /* the last workers' strays */
    rn_eng_flush_log(e);
    pt_sys_close(e->log_fd);
    pt_buf_free(&e->log);
    if (rc == 0)
        rc = save_segments(e, err, errlen);
    rn_eng_unlink_segments(e);
    for (int i = 0; i < e->spec->nsegments; i++)
        pt_shm_detach(e->shm[i]);
    rn_eng_restore_signals();
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
        fprintf(stderr,
                "ptrun: %s: %lld results of this run could not be "
                "written (manifest.json: \"results_lost\")\n",
                path, (long long)m->results_lost);
    rc = rn_results_compacted(&r) ? 0 : rn_results_compact(&r, e->dir);
    m->compacted = rc == 0;
    if (rc < 0)
        fprintf(stderr,
                "ptrun: %s: cannot compact it (%s): the lines it "
                "should move to history.jsonl stay in it\n",
                path, strerror(-rc));
    rn_results_free(&r);
    return rc;
}

int rn_eng_finish(engine *e, int rc, int64_t start, char *err, size_t errlen)
{
    rn_eng_simple_event(e, PT_EV_RUN_END, -1, e->counts);
    int plug = e->host ? rn_host_close(e->host) : 0;
    e->host = NULL;
    rn_manifest m;
    rn_eng_manifest_of(e, start, &m);
    m.end_ns = pt_sys_real_ns();
    m.interrupted = e->sigs > 0;
    m.halted = e->summary.halted;
    m.finished = true;
    m.no_reserve = !e->reserved && !e->opts->resume; /* a resumed folder may
                                                        hold one */
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

void rn_eng_free_tails(engine *e)
{
    for (int i = 0; e->tails && i < e->spec->nworkersets; i++) {
        for (int w = 0; e->tails[i] && w < e->spec->workersets[i].workers; w++)
            for (int k = 0; k < e->tails[i][w].n; k++)
                free(e->tails[i][w].line[k]);
        free(e->tails[i]);
    }
    free(e->tails);
}
