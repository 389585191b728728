/* main.c - the ptrun command line (SPEC §5). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
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

#include "cli/help.h"
#include "ctl/ctl.h"
#include "cli/kernels_cmd.h"
#include "cluster/cluster.h"
#include "engine/engine.h"
#include "plan/plan.h"
#include "report/report.h"
#include "spec/spec.h"

#define EXIT_USAGE RN_EXIT_USAGE

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

/* "ptrun CMD: why" and the command's usage on stderr: EXIT_USAGE. */
static int usage(const char *cmd, const char *why)
{
    return rn_help_usage(cmd, why, stderr);
}

/* The value of option `a` (--opt=VALUE or --opt VALUE), or NULL. */
static const char *opt_value(const char *cmd, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *eq = strchr(a, '=');
    if (eq)
        return eq + 1;
    if (*i + 1 < argc)
        return argv[++*i];
    fprintf(stderr, "ptrun %s: option '%s' needs a value\n", cmd, a);
    rn_help_usage(cmd, NULL, stderr);
    return NULL;
}

/* --progress MODE: its rn_progress_mode, or -1 after saying why. */
static int progress_mode(const char *cmd, const char *m)
{
    static const char *const modes[] = {"auto", "none", "tty", "jsonl"};
    for (int k = 0; k < 4; k++)
        if (strcmp(m, modes[k]) == 0)
            return k; /* the rn_progress_mode order */
    fprintf(stderr,
            "ptrun %s: --progress %s: expected auto, none, tty or jsonl\n", cmd,
            m);
    return -1;
}

/* One option of the command (known to it: help.c's table): 0 or -EINVAL. */
static int parse_opt(cli *c, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v = NULL;
    size_t len = strcspn(a, "=");
    rn_opt_kind kind = rn_help_option(c->cmd, a, stderr);
    if (kind == RN_OPT_UNKNOWN)
        return -EINVAL;
    if (kind == RN_OPT_VALUE && !(v = opt_value(c->cmd, argc, argv, i)))
        return -EINVAL;
#define IS(name) (len == strlen(name) && strncmp(a, name, len) == 0)
    if (IS("-q") || IS("--quiet"))
        c->quiet = 1;
    else if (IS("--tee"))
        c->tee = 1;
    else if (IS("--force"))
        c->force = 1;
    else if (IS("--mpi-dedicated-root"))
        c->mpi_dedicated = 1;
    else if (IS("--out"))
        c->out = v;
    else if (IS("--set"))
        c->sets[c->nsets++] = v;
    else if (IS("--resume"))
        c->resume = v;
    else if (IS("--prefix"))
        c->prefix = v;
    else if (IS("--trace"))
        c->trace = v;
    else if (IS("--progress") && (c->progress = progress_mode(c->cmd, v)) < 0)
        return -EINVAL;
#undef IS
    return 0;
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
        if (argv[i][0] != '-' || argv[i][1] == '\0')
            c->files[c->nfiles++] = argv[i];
        else if (parse_opt(c, argc, argv, &i) < 0)
            return -EINVAL;
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
        return usage(c->cmd, "expected one JOB.yaml");
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
        return usage(c->cmd, "expected one run folder DIR");
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
 * ptrun ctl [--json] DIR WORDS...: options may come anywhere; the other
 * words are positional (PRIO may be negative, so only "--" starts one).
 */
static int cmd_ctl(int argc, char **argv)
{
    char **words = calloc((size_t)argc, sizeof *words);
    int n = 0, json = 0, status;
    if (!words)
        return 3;
    for (int i = 2; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) != 0)
            words[n++] = argv[i];
        else if (rn_help_option("ctl", argv[i], stderr) == RN_OPT_UNKNOWN) {
            free(words);
            return EXIT_USAGE;
        } else
            json = 1; /* --json, the only one */
    }
    status = n < 1 ? usage("ctl", "expected a run folder DIR")
                   : rn_ctl_client(words[0], n - 1, words + 1, json, stdout,
                                   stderr);
    free(words);
    return status;
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
    /* jansson's hash seed from the clock and pid, as jansson itself does
     * without /dev/urandom: its first object would otherwise open and
     * read /dev/urandom on every run's start (the seed only spreads hash
     * buckets; nothing's order depends on it). */
    json_object_seed(((size_t)pt_sys_mono_ns() ^ ((size_t)getpid() << 16)) | 1);
    if (pt_sys_fault_init() < 0) { /* a test's PTOOLS_FAULT, read up front */
        fprintf(stderr, "ptrun: %s\n", pt_errmsg());
        return EXIT_USAGE;
    }
    if (argc < 2)
        return usage(NULL, NULL);
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0) {
        printf("ptrun %s (kernel ABI %d)\n", pt_version(), PT_KERNEL_ABI);
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
        strcmp(cmd, "help") == 0)
        return argc > 3 ? usage("help", "expected one topic")
                        : rn_help(argc > 2 ? argv[2] : NULL, stdout, stderr);
    if (cmd[0] == '-') { /* not --help, -h or --version */
        rn_help_option(NULL, cmd, stderr);
        return EXIT_USAGE;
    }
    if (!rn_help_is_command(cmd))
        return rn_help_unknown_command(cmd, stderr);
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return rn_help(cmd, stdout, stderr);
    if (strcmp(cmd, "ctl") == 0)
        return cmd_ctl(argc, argv);
    cli c = {0};
    int status;
    if (parse(argc, argv, &c) < 0)
        status = EXIT_USAGE; /* parse said why */
    else if (strcmp(c.cmd, "run") == 0 || strcmp(c.cmd, "check") == 0)
        status = cmd_run_or_check(&c, argc, argv);
    else if (strcmp(c.cmd, "kernels") == 0)
        status = cmd_kernels(&c);
    else if (strcmp(c.cmd, "clean") == 0)
        status = cmd_clean(&c);
    else if (strcmp(c.cmd, "report") == 0)
        status = cmd_report(&c);
    else
        status = rn_help_unknown_command(c.cmd, stderr);
    free(c.sets);
    free(c.files);
    return status;
}
