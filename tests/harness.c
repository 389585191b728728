/* harness.c - see harness.h. */
#include "harness.h"

#include <CUnit/Basic.h>
#include <CUnit/TestRun.h>
#include <errno.h>
#include <setjmp.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <stdatomic.h>
#include <sys/mman.h>

#include <ptools/sys.h>

static _Atomic int *starts; /* pt_test_nap's, shared with the workers */

int pt_test_nap(pt_ctx *c)
{
    if (pt_arg_int(c, "mark", 0))
        atomic_fetch_add(starts, 1);
    struct timespec ts = {0, pt_arg_int(c, "ms", 0) * 1000000L};
    nanosleep(&ts, NULL);
    return 0;
}

void pt_test_starts_reset(void)
{
    if (!starts) {
        starts = mmap(NULL, sizeof *starts, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        CU_ASSERT_FATAL(starts != MAP_FAILED);
    }
    atomic_store(starts, 0);
}

int pt_test_starts(void)
{
    return atomic_load(starts);
}

void pt_test_wait_starts(pt_workerset *ws, int n)
{
    while (atomic_load(starts) < n)
        CU_ASSERT_EQUAL_FATAL(pt_workerset_poll(&ws, 1, NULL, 0, 10), 0);
}

static const pt_test_case *current;

const char *pt_test_prefix(void)
{
    static char buf[32];
    static int n;
    snprintf(buf, sizeof buf, "t%ld_%d", (long)getpid(), n++);
    return buf;
}

static char tmpdir[256]; /* this case's, removed when it ends */

const char *pt_test_tmpdir(void)
{
    char *buf = tmpdir;
    if (buf[0])
        return buf;
    const char *base = getenv("TMPDIR");
    snprintf(buf, sizeof tmpdir, "%s/ptools-test-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(buf)) {
        perror("mkdtemp");
        abort();
    }
    return buf;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/*
 * In the child: print this case's CUnit failures (those after the first
 * `before`, which the parent recorded earlier); exit 0 if none.
 */
static void child_report_and_exit(unsigned before)
{
    unsigned fails = CU_get_number_of_failures() - before, k = 0;
    for (CU_pFailureRecord f = CU_get_failure_list(); f; f = f->pNext)
        if (k++ >= before)
            fprintf(stderr, "  %s:%u: assertion failed: %s\n", f->strFileName,
                    f->uiLineNumber, f->strCondition);
    if (tmpdir[0])
        nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    fflush(NULL);
    pt_sys_exit(fails ? 1 : 0); /* _exit, counters written in coverage builds */
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Wait for `pid` at most `timeout_s`; kill it after. Returns wait status. */
static int wait_with_timeout(pid_t pid, int timeout_s, int *timed_out)
{
    int status = 0;
    *timed_out = 0;
    for (long waited = 0;; waited += 5) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0 && errno != EINTR)
            return -1;
        if (waited >= timeout_s * 1000L) {
            *timed_out = 1;
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            return status;
        }
        sleep_ms(5);
    }
}

static void run_case(void)
{
    const pt_test_case *tc = current;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        CU_FAIL_FATAL("fork failed");
    }
    if (pid == 0) {
        /* A failed *_FATAL assertion must end this child, not return into
         * CUnit's loop (which would run the next cases here too). */
        static jmp_buf fatal;
        unsigned before = CU_get_number_of_failures();
        CU_get_current_test()->pJumpBuf = &fatal;
        if (setjmp(fatal) == 0)
            tc->fn();
        child_report_and_exit(before);
    }
    int timed_out;
    int timeout = tc->timeout_s ? tc->timeout_s : 60;
    int st = wait_with_timeout(pid, timeout, &timed_out);
    if (timed_out) {
        fprintf(stderr, "  %s: timed out after %d s\n", tc->name, timeout);
        CU_FAIL("test case timed out");
    } else if (WIFSIGNALED(st)) {
        fprintf(stderr, "  %s: killed by signal %d (%s)\n", tc->name,
                WTERMSIG(st), strsignal(WTERMSIG(st)));
        CU_FAIL("test case crashed");
    } else {
        CU_ASSERT_EQUAL(WEXITSTATUS(st), 0);
    }
}

/*
 * CUnit calls test functions without arguments, so each case gets a tiny
 * trampoline that records which case runs; the table below holds enough.
 */
static const pt_test_case *cases_tab;
#define TRAMP(i)                                                               \
    static void tramp##i(void)                                                 \
    {                                                                          \
        current = &cases_tab[i];                                               \
        run_case();                                                            \
    }
/* A table clang-format cannot lay out (nor the same way twice). */
/* clang-format off */
TRAMP(0) TRAMP(1) TRAMP(2) TRAMP(3) TRAMP(4) TRAMP(5) TRAMP(6) TRAMP(7)
TRAMP(8) TRAMP(9) TRAMP(10) TRAMP(11) TRAMP(12) TRAMP(13) TRAMP(14)
TRAMP(15) TRAMP(16) TRAMP(17) TRAMP(18) TRAMP(19) TRAMP(20) TRAMP(21)
TRAMP(22) TRAMP(23) TRAMP(24) TRAMP(25) TRAMP(26) TRAMP(27) TRAMP(28)
TRAMP(29) TRAMP(30) TRAMP(31) TRAMP(32) TRAMP(33) TRAMP(34) TRAMP(35)
TRAMP(36) TRAMP(37) TRAMP(38) TRAMP(39) TRAMP(40) TRAMP(41) TRAMP(42)
TRAMP(43) TRAMP(44) TRAMP(45) TRAMP(46) TRAMP(47) TRAMP(48) TRAMP(49)
TRAMP(50) TRAMP(51) TRAMP(52) TRAMP(53) TRAMP(54) TRAMP(55) TRAMP(56)
TRAMP(57) TRAMP(58) TRAMP(59) TRAMP(60) TRAMP(61) TRAMP(62) TRAMP(63)
    /* clang-format on */
    static void (*const tramps[])(void) = {
        tramp0,  tramp1,  tramp2,  tramp3,  tramp4,  tramp5,  tramp6,  tramp7,
        tramp8,  tramp9,  tramp10, tramp11, tramp12, tramp13, tramp14, tramp15,
        tramp16, tramp17, tramp18, tramp19, tramp20, tramp21, tramp22, tramp23,
        tramp24, tramp25, tramp26, tramp27, tramp28, tramp29, tramp30, tramp31,
        tramp32, tramp33, tramp34, tramp35, tramp36, tramp37, tramp38, tramp39,
        tramp40, tramp41, tramp42, tramp43, tramp44, tramp45, tramp46, tramp47,
        tramp48, tramp49, tramp50, tramp51, tramp52, tramp53, tramp54, tramp55,
        tramp56, tramp57, tramp58, tramp59, tramp60, tramp61, tramp62, tramp63,
};

int pt_test_main(const char *suite, const pt_test_case *cases, int argc,
                 char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL; /* run one case by name */
    cases_tab = cases;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite s = CU_add_suite(suite, NULL, NULL);
    size_t n = 0;
    for (; cases[n].name; n++) {
        if (n >= sizeof tramps / sizeof tramps[0]) {
            fprintf(stderr, "harness: too many cases in %s\n", suite);
            return 2;
        }
        if (only && strcmp(only, cases[n].name) != 0)
            continue;
        if (!CU_add_test(s, cases[n].name, tramps[n]))
            return 2;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_tests_failed();
    unsigned ran = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    if (ran == 0) {
        fprintf(stderr, "harness: no test ran in %s\n", suite);
        return 1;
    }
    return failed ? 1 : 0;
}
