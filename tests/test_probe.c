/*
 * test_probe.c - runner/spec/probe.h: a .so loaded in a child, never here. The
 * report of a good library, the loader's refusals as they were, and each
 * way a child can end (crash, exit, hang with a forked child, threads,
 * a chatty constructor) with its exact message; nothing left behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include <ptools/sys.h>
#include "spec/probe.h"
#include <ptools/kernel.h>

#define TK PT_TEST_KERNEL_DIR

static char why[512];

/* The words of a probe that ended as `how` (loaded or not, code). */
static const char *why_of(rn_probe_how how, bool loaded, int code)
{
    rn_probe p = {.how = how, .loaded = loaded, .code = code};
    if (how == RN_PROBE_FAILED)
        p.what = "fork";
    return rn_probe_why(&p, why, sizeof why);
}

/* One message for each way a child can end. */
static void test_messages(void)
{
    CU_ASSERT_PTR_NULL(why_of(RN_PROBE_REPORTED, true, 0));
    ASSERT_STR(why_of(RN_PROBE_SIGNALED, false, SIGSEGV),
               "loading it crashed (signal 11, SIGSEGV) in a constructor");
    ASSERT_STR(why_of(RN_PROBE_SIGNALED, true, SIGBUS),
               "it loaded, then crashed (signal 7, SIGBUS) while its "
               "descriptors were read");
    ASSERT_STR(why_of(RN_PROBE_EXITED, false, 0),
               "exited with status 0 while loading (does a constructor call "
               "exit?)");
    ASSERT_STR(why_of(RN_PROBE_EXITED, true, 127),
               "it loaded, then its probe exited with status 127 without a "
               "report");
    ASSERT_STR(why_of(RN_PROBE_TIMEOUT, false, 30000),
               "did not finish loading within 30 s (the limit is "
               "$PTRUN_LOAD_TIMEOUT_MS, in ms)");
    ASSERT_STR(why_of(RN_PROBE_TIMEOUT, false, 250),
               "did not finish loading within 250 ms (the limit is "
               "$PTRUN_LOAD_TIMEOUT_MS, in ms)");
    ASSERT_STR(why_of(RN_PROBE_TIMEOUT, true, 1500),
               "it loaded, but its check did not finish within 1500 ms");
    ASSERT_STR(why_of(RN_PROBE_BROKEN, true, -EBADMSG),
               "its probe sent a malformed report (Bad message)");
    ASSERT_STR(why_of(RN_PROBE_FAILED, false, -EAGAIN),
               "could not be probed: fork: Resource temporarily unavailable");
}

/* No child of this process is left, zombie or not. */
static void assert_no_child(void)
{
    CU_ASSERT_EQUAL(waitpid(-1, NULL, WNOHANG), -1);
    CU_ASSERT_EQUAL(errno, ECHILD);
}

/* A good library: every kernel, and the names asked for, found or not. */
static void test_good_library(void)
{
    const char *names[] = {"pi", "pie"};
    char want[1024];
    rn_probe p;
    CU_ASSERT_EQUAL(rn_probe_kernels(PT_KERNEL_DIR "/pi.so", names, 2, &p),
                    -ENOENT);
    CU_ASSERT_EQUAL(p.how, RN_PROBE_REPORTED);
    CU_ASSERT(p.loaded);
    CU_ASSERT_PTR_NULL(p.error);
    CU_ASSERT_EQUAL_FATAL(p.nkernels, 1);
    ASSERT_STR(p.kernels[0].name, "pi");
    CU_ASSERT_EQUAL(p.kernels[0].abi, 2);
    ASSERT_STR(p.kernels[0].doc, "Monte Carlo pi from `samples` points");
    CU_ASSERT(p.kernels[0].params.declared && !p.kernels[0].params.rest);
    CU_ASSERT_EQUAL_FATAL(p.kernels[0].params.n, 1);
    ASSERT_STR(p.kernels[0].params.v[0].name, "samples");
    CU_ASSERT_EQUAL(p.kernels[0].params.v[0].type, PT_PARAM_INT);
    ASSERT_STR(p.kernels[0].params.v[0].def, "1000000");
    ASSERT_STR(p.kernels[0].params.v[0].doc, "points to draw (>= 1)");
    CU_ASSERT_EQUAL_FATAL(p.nmissing, 2);
    CU_ASSERT_PTR_NULL(p.missing[0]);
    snprintf(want, sizeof want,
             "%s/pi.so: no kernel named 'pie' (it has: "
             "pi)",
             PT_KERNEL_DIR);
    ASSERT_STR(p.missing[1], want);
    rn_probe_free(&p);
    CU_ASSERT_EQUAL(rn_probe_kernels(PT_KERNEL_DIR "/pi.so", names, 1, &p), 0);
    rn_probe_free(&p);
    assert_no_child();
}

/*
 * Declared params as reported: each type and default; "*" taken out as
 * `rest`; a kernel of ABI 1 declares none; a bad default is the kernel's
 * fault, named (its library still loads: the others are fine).
 */
static void test_params(void)
{
    static const char *const names[] = {"i", "r", "b", "s", "is", "rs", "a"};
    static const char *const defs[] = {NULL,     "0.5", "false", "~",
                                       "[1, 2]", "[]",  "~"};
    rn_probe p;
    CU_ASSERT_EQUAL(rn_probe_kernels(TK "/typed.so", NULL, 0, &p), 0);
    CU_ASSERT_EQUAL_FATAL(p.nkernels, 4);
    const rn_kparams *kp = &p.kernels[0].params;
    CU_ASSERT(kp->declared && !kp->rest && !p.kernels[0].bad);
    CU_ASSERT_EQUAL_FATAL(kp->n, 7);
    for (int i = 0; i < 7; i++) {
        ASSERT_STR(kp->v[i].name, names[i]);
        CU_ASSERT_EQUAL(kp->v[i].type, i < 6 ? i + 1 : PT_PARAM_ANY);
        if (defs[i])
            ASSERT_STR(kp->v[i].def, defs[i]);
        else
            CU_ASSERT_PTR_NULL(kp->v[i].def);
    }
    ASSERT_STR(p.kernels[1].bad, "kernel 'bad_default': param 'n': its "
                                 "default 'many' is not an int");
    CU_ASSERT(p.kernels[2].params.declared && !p.kernels[2].params.rest);
    CU_ASSERT_EQUAL(p.kernels[2].params.n, 0); /* bare: takes no args */
    rn_probe_free(&p);
    CU_ASSERT_EQUAL(rn_probe_kernels(PT_KERNEL_DIR "/echo.so", NULL, 0, &p), 0);
    CU_ASSERT_EQUAL_FATAL(p.nkernels, 1);
    CU_ASSERT(p.kernels[0].params.declared && p.kernels[0].params.rest);
    CU_ASSERT_EQUAL(p.kernels[0].params.n, 0);
    rn_probe_free(&p);
    CU_ASSERT_EQUAL(rn_probe_kernels(TK "/legacy.so", NULL, 0, &p), 0);
    CU_ASSERT_EQUAL_FATAL(p.nkernels, 1);
    CU_ASSERT_EQUAL(p.kernels[0].abi, 1);
    CU_ASSERT(!p.kernels[0].params.declared && !p.kernels[0].bad);
    rn_probe_free(&p);
    assert_no_child();
}

/* The loader's refusals reach the caller as pt_kernel_lib_open words them. */
static void test_refusals(void)
{
    rn_probe p;
    CU_ASSERT_EQUAL(rn_probe_kernels(TK "/bad_abi.so", NULL, 0, &p), -EINVAL);
    CU_ASSERT_EQUAL(p.how, RN_PROBE_REPORTED);
    CU_ASSERT_PTR_NULL(rn_probe_why(&p, why, sizeof why));
    ASSERT_PREFIX(p.error, TK "/bad_abi.so: kernel #0 has ABI 999, this "
                              "ptools speaks ABI 1 to 2 (rebuild it");
    rn_probe_free(&p);
    CU_ASSERT_EQUAL(rn_probe_kernels(TK "/no_such.so", NULL, 0, &p), -EINVAL);
    ASSERT_PREFIX(p.error, TK "/no_such.so: cannot load: ");
    rn_probe_free(&p);
    CU_ASSERT_EQUAL(rn_probe_plugin(PT_KERNEL_DIR "/../plugins/jsonl.so", &p),
                    0);
    rn_probe_free(&p);
    assert_no_child();
}

/* A constructor that segfaults, or exits: the probe's child, never us. */
static void test_crash_and_exit(void)
{
    rn_probe p;
    CU_ASSERT_EQUAL(rn_probe_kernels(TK "/ctor_crash.so", NULL, 0, &p),
                    -EINVAL);
    CU_ASSERT_EQUAL(p.how, RN_PROBE_SIGNALED);
    CU_ASSERT_EQUAL(p.code, SIGSEGV);
    CU_ASSERT(!p.loaded);
    ASSERT_STR(rn_probe_why(&p, why, sizeof why),
               "loading it crashed (signal 11, SIGSEGV) in a constructor");
    rn_probe_free(&p);
    CU_ASSERT_EQUAL(rn_probe_plugin(TK "/ctor_exit.so", &p), -EINVAL);
    CU_ASSERT_EQUAL(p.how, RN_PROBE_EXITED);
    CU_ASSERT_EQUAL(p.code, 0);
    CU_ASSERT(!p.loaded);
    rn_probe_free(&p);
    assert_no_child();
}

/* Whether pid is gone or a zombie (its parent may be an init that does
 * not reap), waiting up to 10 s for it. */
static bool dies(pid_t pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    for (int i = 0; i < 1000; i++) {
        FILE *f = fopen(path, "r");
        if (!f)
            return true;
        char *paren = fgets(buf, sizeof buf, f) ? strrchr(buf, ')') : NULL;
        fclose(f);
        if (paren && paren[1] == ' ' && paren[2] == 'Z')
            return true;
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    return false;
}

/* A constructor that forks and hangs: stopped at the limit, and the
 * process it forked killed with it. */
static void test_hang(void)
{
    char pids[PATH_MAX];
    snprintf(pids, sizeof pids, "%s/pids", pt_test_tmpdir());
    setenv("PT_TEST_PID_FILE", pids, 1);
    setenv(RN_PROBE_LIMIT_ENV, "300", 1);
    rn_probe p;
    CU_ASSERT_EQUAL(rn_probe_kernels(TK "/ctor_hang.so", NULL, 0, &p), -EINVAL);
    CU_ASSERT_EQUAL(p.how, RN_PROBE_TIMEOUT);
    CU_ASSERT_EQUAL(p.code, 300);
    CU_ASSERT(!p.loaded);
    rn_probe_free(&p);
    assert_no_child();
    FILE *f = fopen(pids, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    long pid;
    int n = 0;
    for (; fscanf(f, "%ld", &pid) == 1; n++)
        CU_ASSERT(dies((pid_t)pid));
    fclose(f);
    CU_ASSERT_EQUAL(n, 2); /* the probe's child and the one it forked */
}

/* A bad $PTRUN_LOAD_TIMEOUT_MS is refused, not guessed at. */
static void test_bad_limit(void)
{
    rn_probe p;
    setenv(RN_PROBE_LIMIT_ENV, "30s", 1);
    CU_ASSERT_EQUAL(rn_probe_kernels(PT_KERNEL_DIR "/pi.so", NULL, 0, &p),
                    -EINVAL);
    CU_ASSERT_EQUAL(p.how, RN_PROBE_FAILED);
    ASSERT_STR(rn_probe_why(&p, why, sizeof why),
               "could not be probed: $PTRUN_LOAD_TIMEOUT_MS (whole ms, 1 to "
               "86400000): Invalid argument");
    rn_probe_free(&p);
    setenv(RN_PROBE_LIMIT_ENV, "0", 1);
    CU_ASSERT_EQUAL(rn_probe_kernels(PT_KERNEL_DIR "/pi.so", NULL, 0, &p),
                    -EINVAL);
    rn_probe_free(&p);
    assert_no_child();
}

/*
 * A constructor that starts a thread and prints on stdout: a fine kernel
 * library, whose words go to stderr and whose thread stays in the child;
 * as a plugin (loaded into ptrun) it is refused.
 */
static void test_thread_and_stdout(void)
{
    char out[PATH_MAX], err[PATH_MAX], buf[256] = "", msg[512];
    snprintf(out, sizeof out, "%s/out", pt_test_tmpdir());
    snprintf(err, sizeof err, "%s/err", pt_test_tmpdir());
    int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int keep_out = dup(1), keep_err = dup(2);
    CU_ASSERT_FATAL(fo >= 0 && fe >= 0 && keep_out >= 0 && keep_err >= 0);
    fflush(NULL);
    CU_ASSERT_FATAL(dup2(fo, 1) == 1 && dup2(fe, 2) == 2);
    const char *names[] = {"threaded_square"};
    rn_probe p;
    int rc_kernel = rn_probe_kernels(TK "/ctor_thread.so", names, 1, &p);
    rn_probe_free(&p);
    int threads = pt_sys_thread_count();
    int rc_plugin = rn_probe_plugin(TK "/ctor_thread.so", &p);
    snprintf(msg, sizeof msg, "%s", p.error ? p.error : "(none)");
    rn_probe_free(&p);
    CU_ASSERT_FATAL(dup2(keep_out, 1) == 1 && dup2(keep_err, 2) == 2);
    close(keep_out);
    close(keep_err);
    close(fo);
    close(fe);
    CU_ASSERT_EQUAL(rc_kernel, 0);
    CU_ASSERT_EQUAL(threads, 1);
    CU_ASSERT_EQUAL(rc_plugin, -EINVAL);
    ASSERT_STR(msg,
               TK "/ctor_thread.so: loading this plugin started 1 "
                  "thread; ptrun runs plugins in its own process, which must "
                  "stay single-threaded to fork workers");
    FILE *f = fopen(out, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_PTR_NULL(fgets(buf, sizeof buf, f)); /* nothing on stdout */
    fclose(f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f = fopen(err, "r"));
    CU_ASSERT_PTR_NOT_NULL(fgets(buf, sizeof buf, f));
    ASSERT_STR(buf, "ctor_thread: a helper thread runs\n");
    fclose(f);
    assert_no_child();
}

int main(int argc, char **argv)
{
    static const pt_test_case cases[] = {
        {"messages", test_messages, 0},
        {"good_library", test_good_library, 0},
        {"refusals", test_refusals, 0},
        {"params", test_params, 0},
        {"crash_and_exit", test_crash_and_exit, 0},
        {"hang", test_hang, 0},
        {"bad_limit", test_bad_limit, 0},
        {"thread_and_stdout", test_thread_and_stdout, 0},
        {NULL, NULL, 0},
    };
    return pt_test_main("probe", cases, argc, argv);
}
