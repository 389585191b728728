/* main.c - the ptrun command line (SPEC §5). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ptools/common.h>
#include <ptools/shm.h>
#include <ptools/sys.h>

#include "ctl/ctl.h"
#include "cli/kernels_cmd.h"
#include "cluster/cluster.h"
#include "engine/engine.h"
#include "plan/plan.h"
#include "report/report.h"
#include "spec/spec.h"

#define EXIT_USAGE 2

static const char usage_text[] =
    "usage: ptrun run JOB.yaml [--out DIR] [--set PATH=VALUE]...\n"
    "                 [--resume DIR [--force]] [--tee] [--trace FILE]\n"
    "                 [--progress auto|none|tty|jsonl] [-q]\n"
    "                 [--mpi-dedicated-root]   (under mpirun)\n"
    "       ptrun check JOB.yaml [--set PATH=VALUE]...\n"
    "       ptrun kernels [NAME|LIB.so]...\n"
    "       ptrun clean [--prefix P]\n"
    "       ptrun report DIR [--out FILE]\n"
    "       ptrun ctl DIR status | pause | resume\n"
    "       ptrun ctl DIR priority TASK|kernel=K|tag=T PRIO\n"
    "       ptrun ctl DIR cancel TASK|kernel=K|tag=T\n"
    "       ptrun --version | --help | help COMMAND\n";

static const char help_text[] =
    "ptrun - run a batch of tasks described in YAML on forked workers\n\n"
    "%s\n"
    "COMMANDS\n"
    "  run      Run a job: create its shared memory, start its worker sets,\n"
    "           run its steps in order (each a barrier), and write the run\n"
    "           folder (job.yaml, manifest.json, results.jsonl, shm/*.npy).\n"
    "  check    Validate a job spec and print the expanded plan: every\n"
    "           task with its id, kernel, worker set, priority, seed, args.\n"
    "  kernels  List the shipped kernels; with names or LIB.so files, each\n"
    "           kernel's ABI, doc and params (type, default, doc).\n"
    "  clean    Remove shared memory segments whose owning run is dead.\n"
    "  report   Write DIR/report.html (or --out FILE): the run folder DIR\n"
    "           as one self-contained page (summary, timeline of every\n"
    "           attempt, latency histograms) that loads nothing.\n"
    "  ctl      Control the live run in folder DIR through DIR/ctl.sock:\n"
    "           status; pause or resume dispatching; change the priority\n"
    "           of waiting tasks, or cancel them, chosen by task id, by\n"
    "           kernel=K or by tag=T. Prints the run's JSON reply; exits 0\n"
    "           when it says \"ok\":true, 1 when not, 3 when no run\n"
    "           listens in DIR.\n\n"
    "OPTIONS\n"
    "  --out DIR          Run folder (default runs/NAME-yyyymmdd-HHMMSS);\n"
    "                     for report, the page (default DIR/report.html).\n"
    "  --set PATH=VALUE   Override a scalar of the spec by dotted path;\n"
    "                     list items by index or by name. Repeatable.\n"
    "  --resume DIR       Finish an interrupted run: tasks whose latest\n"
    "                     line in DIR/results.jsonl is ok are not run\n"
    "                     again; the lines new ones supersede move to\n"
    "                     DIR/history.jsonl. It refuses when the spec\n"
    "                     (after overrides) or a kernel differs from\n"
    "                     DIR/manifest.json's.\n"
    "  --force            Resume all the same.\n"
    "  --tee              Also echo what kernels print on stderr (it\n"
    "                     always goes to DIR/output.log, line by line,\n"
    "                     as [TASK SET/WORKER stdout|stderr] LINE).\n"
    "  --trace FILE       Also write a timeline of the run to FILE (the\n"
    "                     chrome-trace plugin): open it in ui.perfetto.dev\n"
    "                     or chrome://tracing.\n"
    "  --progress MODE    The running step's progress on stderr: auto (a\n"
    "                     line redrawn in place when stderr is a terminal,\n"
    "                     unless -q), none, tty, or jsonl (one JSON object\n"
    "                     per line, at most 10 a second, for other tools).\n"
    "  -q, --quiet        No summary and no progress line on stderr.\n"
    "  --mpi-dedicated-root  Under mpirun: rank 0 only plans, dispatches\n"
    "                     and records; the other ranks run every task.\n\n"
    "EXIT STATUS\n"
    "  0 all tasks ok; 1 some tasks not ok; 2 bad usage or bad spec;\n"
    "  3 runtime error; 130 interrupted.\n\n"
    "EXAMPLES\n"
    "  ptrun check configs/pi.yaml\n"
    "  ptrun run configs/pi.yaml --set seed=7 --set workersets.cpu.workers=4\n"
    "  ptrun run configs/pi.yaml --out runs/pi --resume runs/pi\n"
    "  ptrun kernels build/kernels/*.so\n"
    "  ptrun report runs/pi && xdg-open runs/pi/report.html\n"
    "  ptrun ctl runs/pi priority kernel=pi 50\n"
    "  jq -c '{task, status, result}' runs/pi-*/results.jsonl\n";

typedef struct cli {
    const char *cmd, *job, *out, *resume, *prefix;
    const char *trace; /* --trace FILE */
    const char **sets;
    int nsets;
    int quiet, tee, force;
    int progress;       /* an rn_progress_mode */
    int mpi_dedicated;  /* --mpi-dedicated-root */
    const char **files; /* kernels */
    int nfiles;
} cli;

static int usage(const char *why)
{
    if (why)
        fprintf(stderr, "ptrun: %s\n", why);
    fputs(usage_text, stderr);
    return EXIT_USAGE;
}

/* Split argv into a command, its options and operands. */
static int parse(int argc, char **argv, cli *c)
{
    c->sets = calloc((size_t)argc, sizeof *c->sets);
    c->files = calloc((size_t)argc, sizeof *c->files);
    if (!c->sets || !c->files)
        return -ENOMEM;
    c->cmd = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0)
            c->quiet = 1;
        else if (strcmp(a, "--tee") == 0)
            c->tee = 1;
        else if (strcmp(a, "--force") == 0)
            c->force = 1;
        else if (strcmp(a, "--mpi-dedicated-root") == 0)
            c->mpi_dedicated = 1;
        else if (strcmp(a, "--out") == 0 && more)
            c->out = argv[++i];
        else if (strcmp(a, "--set") == 0 && more)
            c->sets[c->nsets++] = argv[++i];
        else if (strcmp(a, "--resume") == 0 && more)
            c->resume = argv[++i];
        else if (strcmp(a, "--prefix") == 0 && more)
            c->prefix = argv[++i];
        else if (strcmp(a, "--trace") == 0 && more)
            c->trace = argv[++i];
        else if (strncmp(a, "--progress=", 11) == 0 ||
                 (strcmp(a, "--progress") == 0 && more)) {
            const char *m = a[10] == '=' ? a + 11 : argv[++i];
            static const char *const modes[] = {"auto", "none", "tty", "jsonl"};
            c->progress = -1;
            for (int k = 0; k < 4; k++)
                if (strcmp(m, modes[k]) == 0)
                    c->progress = k; /* the rn_progress_mode order */
            if (c->progress < 0) {
                fprintf(stderr,
                        "ptrun %s: --progress %s: expected auto, "
                        "none, tty or jsonl\n",
                        c->cmd, m);
                return -EINVAL;
            }
        } else if (a[0] == '-') {
            fprintf(stderr, "ptrun %s: unknown option or missing value: %s\n",
                    c->cmd, a);
            return -EINVAL;
        } else
            c->files[c->nfiles++] = a;
    }
    c->job = c->nfiles ? c->files[0] : NULL;
    return 0;
}

/* Use dir `d` (relative to the executable's folder) when it exists. */
static int try_dir(char *out, size_t size, const char *exe, const char *d)
{
    struct stat st;
    int n = d[0] == '/' ? snprintf(out, size, "%s", d)
                        : snprintf(out, size, "%s/%s", exe, d);
    return n > 0 && n < (int)size && stat(out, &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * Where shipped kernels and plugins are: beside ptrun in a build tree, then
 * relative to an installed ptrun (so an install can move), then where the
 * build said it would install them.
 */
static void search_dirs(rn_search *s, char *kdir, char *pdir, size_t size)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    if (try_dir(kdir, size, exe, "kernels"))
        try_dir(pdir, size, exe, "plugins");
    else if (try_dir(kdir, size, exe, PTRUN_REL_KERNEL_DIR))
        try_dir(pdir, size, exe, PTRUN_REL_PLUGIN_DIR);
    else {
        snprintf(kdir, size, "%s", PTRUN_KERNEL_DIR);
        snprintf(pdir, size, "%s", PTRUN_PLUGIN_DIR);
    }
    s->kernel_dir = kdir;
    s->plugin_dir = pdir;
}

/*
 * --trace FILE: the chrome-trace plugin too, writing FILE (made absolute
 * here: plugins take relative paths relative to the run folder).
 */
static int add_trace(const char *file, rn_spec *spec, const rn_search *s)
{
    char cwd[PATH_MAX], path[2 * PATH_MAX], err[PATH_MAX + 256];
    if (file[0] != '/' && !getcwd(cwd, sizeof cwd)) {
        int e = errno;
        fprintf(stderr, "ptrun: --trace %s: %s\n", file, strerror(e));
        return -e;
    }
    snprintf(path, sizeof path, "%s%s%s", file[0] == '/' ? "" : cwd,
             file[0] == '/' ? "" : "/", file);
    int rc = rn_spec_add_plugin(spec, "chrome-trace", "file", path, s, err,
                                sizeof err);
    if (rc < 0)
        fprintf(stderr, "ptrun: --trace: %s\n", err);
    return rc;
}

/* The spec, or NULL with *status: 2 for a bad spec, 3 when the system
 * failed (a library could not be probed). */
static rn_spec *load(const cli *c, const char *job, int *status)
{
    char kdir[PATH_MAX], pdir[PATH_MAX], err[8192];
    rn_search s;
    search_dirs(&s, kdir, pdir, sizeof kdir);
    rn_spec *spec = rn_spec_load(job, c->sets, c->nsets, &s, err, sizeof err);
    *status = !spec && errno == EIO ? 3 : EXIT_USAGE;
    if (!spec)
        fprintf(stderr, "%s%s", err,
                err[0] && err[strlen(err) - 1] == '\n' ? "" : "\n");
    int rc = spec && c->trace ? add_trace(c->trace, spec, &s) : 0;
    if (rc < 0) {
        *status = rc == -EIO || rc == -ENOMEM ? 3 : EXIT_USAGE;
        rn_spec_free(spec);
        spec = NULL;
    }
    return spec;
}

/*
 * Started by mpirun, the plain ptrun (no MPI inside) becomes ptrun-mpi,
 * from its own folder, with the same arguments.
 */
static int become_mpi(char **argv, int rank, int size)
{
    char self[PATH_MAX], path[PATH_MAX + 16];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = '\0';
        snprintf(path, sizeof path, "%s/ptrun-mpi", self);
        execv(path, argv);
    }
    fprintf(stderr,
            "ptrun: started as rank %d of %d by an MPI launcher, "
            "but %s/ptrun-mpi cannot run (%s): build ptools where MPI is "
            "installed (Debian: libopenmpi-dev)\n",
            rank, size, n > 0 ? self : ".", strerror(errno));
    return EXIT_USAGE;
}

static int cmd_run_or_check(const cli *c, int argc, char **argv)
{
    int rank = 0, size = 1;
    bool mpi = strcmp(c->cmd, "run") == 0 && rn_cluster_launched(&rank, &size);
    if (mpi && !rn_cluster_built())
        return become_mpi(argv, rank, size);
    char job_in_dir[PATH_MAX];
    const char *job = c->job;
    if (!job && c->resume) { /* ptrun run --resume DIR */
        snprintf(job_in_dir, sizeof job_in_dir, "%s/job.yaml", c->resume);
        job = job_in_dir;
        if (access(job, F_OK) < 0 && errno == ENOENT) {
            fprintf(stderr,
                    "ptrun: --resume %s: no job.yaml in it (its run "
                    "was killed before it began): name the spec, as in "
                    "ptrun run JOB.yaml --resume %s\n",
                    c->resume, c->resume);
            return EXIT_USAGE;
        }
    }
    if (!job || c->nfiles > 1)
        return usage("expected one JOB.yaml");
    int status = 0;
    rn_spec *spec = load(c, job, &status);
    if (!spec)
        return status;
    status = 0;
    if (strcmp(c->cmd, "check") == 0) {
        rn_plan plan;
        char err[1024];
        if (rn_plan_build(spec, NULL, &plan, err, sizeof err) < 0) {
            fprintf(stderr, "ptrun: %s\n", err);
            status = 3;
        } else {
            rn_plan_print(spec, &plan, stdout);
            rn_plan_free(&plan);
        }
    } else {
        char line[4096] = "";
        for (int i = 0, off = 0; i < argc && off < (int)sizeof line; i++)
            off += snprintf(line + off, sizeof line - (size_t)off, "%s%s",
                            i ? " " : "", argv[i]);
        rn_run_opts o = {.out = c->out,
                         .resume = c->resume,
                         .argv_line = line,
                         .quiet = c->quiet,
                         .tee = c->tee,
                         .force = c->force,
                         .progress = c->progress,
                         .mpi_dedicated = c->mpi_dedicated};
        if (mpi && rank > 0) /* an agent: rank 0 runs the job */
            status = rn_cluster_agent(spec, &o);
        else
            status = rn_run(spec, &o); /* it plans once workers exist */
    }
    rn_spec_free(spec);
    return status;
}

/* `ptrun kernels [NAME|LIB.so]...`: kernels_cmd.c. */
static int cmd_kernels(const cli *c)
{
    char kdir[PATH_MAX], pdir[PATH_MAX];
    rn_search s;
    search_dirs(&s, kdir, pdir, sizeof kdir);
    return rn_kernels_cmd(c->files, c->nfiles, &s, stdout, stderr);
}

static int cmd_clean(const cli *c)
{
    int n = pt_shm_clean(c->prefix);
    if (n < 0) {
        fprintf(stderr, "ptrun clean: %s\n", pt_errmsg());
        return n == -EINVAL ? EXIT_USAGE : 3;
    }
    printf("removed %d segment%s\n", n, n == 1 ? "" : "s");
    return 0;
}

static int cmd_report(const cli *c)
{
    char path[PATH_MAX], err[PATH_MAX + 256];
    if (c->nfiles != 1)
        return usage("report: expected one run folder DIR");
    int rc = rn_report(c->files[0], c->out, path, sizeof path, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "ptrun report: %s\n", err);
        return rc == -EINVAL ? EXIT_USAGE : 3;
    }
    if (!c->quiet)
        printf("report in %s\n", path);
    return 0;
}

/*
 * Each worker costs the runner five fds (two protocol pipes, its stdout and
 * stderr, a pidfd): raise the soft limit to the hard one, so that hundreds
 * of workers fit. The engine checks the need against it.
 */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/*
 * Fds 0-2 closed by our caller would go to the first files we open (the
 * run folder's): give them /dev/null. A closed pipe on stdout or stderr
 * makes writes fail with EPIPE, never kills ptrun (a no-op handler, not
 * SIG_IGN, so that nothing we exec inherits it).
 */
static void on_sigpipe(int sig)
{
    (void)sig;
}

static void guard_std_fds(void)
{
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
            int null = open("/dev/null", fd ? O_WRONLY : O_RDONLY);
            if (null >= 0 && null != fd) { /* a lower one was free too */
                dup2(null, fd);
                close(null);
            }
        }
    struct sigaction sa = {.sa_handler = on_sigpipe};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);
}

int main(int argc, char **argv)
{
    guard_std_fds();
    raise_fd_limit();
    if (pt_sys_fault_init() < 0) { /* a test's PTOOLS_FAULT, read up front */
        fprintf(stderr, "ptrun: %s\n", pt_errmsg());
        return EXIT_USAGE;
    }
    if (argc < 2)
        return usage(NULL);
    if (strcmp(argv[1], "--version") == 0) {
        printf("ptrun %s (kernel ABI %d)\n", pt_version(), PT_KERNEL_ABI);
        return 0;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        printf(help_text, usage_text);
        return 0;
    }
    if (strcmp(argv[1], "ctl") == 0) /* positional: PRIO may be negative */
        return argc < 3
                   ? usage("ctl: expected a run folder DIR")
                   : rn_ctl_client(argv[2], argc - 3, argv + 3, stdout, stderr);
    cli c = {0};
    int status;
    if (parse(argc, argv, &c) < 0)
        status = usage(NULL);
    else if (strcmp(c.cmd, "run") == 0 || strcmp(c.cmd, "check") == 0)
        status = cmd_run_or_check(&c, argc, argv);
    else if (strcmp(c.cmd, "kernels") == 0)
        status = cmd_kernels(&c);
    else if (strcmp(c.cmd, "clean") == 0)
        status = cmd_clean(&c);
    else if (strcmp(c.cmd, "report") == 0)
        status = cmd_report(&c);
    else
        status = usage("unknown command");
    free(c.sets);
    free(c.files);
    return status;
}
