/*
 * spawn_true.c - the median time to fork, exec and reap a program.
 *
 * Without a command it runs /bin/true: the floor of starting any process,
 * the reference of `ptrun`'s start-up. Given a command, it times that the
 * same way (so both figures share one method); "%d" in an argument becomes
 * the run's index, for a fresh output folder per run.
 *   usage: spawn_true RUNS [CMD ARG...]
 *   prints: spawn_median_us, spawn_min_us, spawn_runs
 * Exits 1 if a run fails (the command's status is not 0).
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/wait.h>

#include "bench.h"

/* argv with "%d" replaced by i, in bufs (one per argument). */
static int expand(char **in, int n, int i, char **out, char (*bufs)[4096])
{
    for (int k = 0; k < n; k++) {
        const char *at = strstr(in[k], "%d");
        if (!at) {
            out[k] = in[k];
            continue;
        }
        int len = snprintf(bufs[k], sizeof bufs[k], "%.*s%d%s",
                           (int)(at - in[k]), in[k], i, at + 2);
        if (len < 0 || (size_t)len >= sizeof bufs[k])
            return -E2BIG;
        out[k] = bufs[k];
    }
    out[n] = NULL;
    return 0;
}

/* Fork, exec argv, reap: the seconds it took, or a negative errno. */
static double run_once(char **argv)
{
    double t0 = bench_now();
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -errno;
    double dt = bench_now() - t0;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? dt : -ECHILD;
}

int main(int argc, char **argv)
{
    static char *true_argv[] = {"/bin/true", NULL};
    int runs = argc > 1 ? atoi(argv[1]) : 200;
    int n = argc > 2 ? argc - 2 : 1;
    char **cmd = argc > 2 ? argv + 2 : true_argv;
    char **args = calloc((size_t)n + 1, sizeof *args);
    char(*bufs)[4096] = calloc((size_t)n, sizeof *bufs);
    double *t = calloc(runs > 0 ? (size_t)runs : 1, sizeof *t);
    if (runs < 1 || !args || !bufs || !t) {
        fprintf(stderr, "usage: spawn_true RUNS [CMD ARG...]\n");
        return 2;
    }
    for (int i = 0; i < runs; i++) {
        int rc = expand(cmd, n, i, args, bufs);
        t[i] = rc < 0 ? rc : run_once(args);
        if (t[i] < 0) {
            fprintf(stderr, "spawn_true: run %d of %s: %s\n", i, cmd[0],
                    strerror((int)-t[i]));
            return 1;
        }
    }
    double med = bench_median(t, (size_t)runs);
    bench_kv("spawn_median_us", med * 1e6);
    bench_kv("spawn_min_us", t[0] * 1e6);
    bench_kv("spawn_runs", runs);
    free(t);
    free(bufs);
    free(args);
    return 0;
}
