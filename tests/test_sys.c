/*
 * test_sys.c - the system call wrappers' fault injection (PTOOLS_FAULT).
 * PTOOLS_FAULT is read once per process: every case runs in a child of
 * its own (harness.c), sets it, then reads it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ptools/sys.h>

#include "harness.h"
#include "internal.h"

/* Read `spec` as PTOOLS_FAULT in this (fresh) process. */
static int arm(const char *spec)
{
    setenv("PTOOLS_FAULT", spec, 1);
    return pt_sys_fault_init();
}

/* Unset, nothing fails and nothing more is looked at than one flag. */
static void test_unset(void)
{
    unsetenv("PTOOLS_FAULT");
    CU_ASSERT_EQUAL(pt_sys_fault_init(), 0);
    CU_ASSERT_EQUAL(atomic_load(&pt__fault_state), PT__FAULT_OFF);
    int fd = pt_sys_open("/dev/null", O_WRONLY, 0);
    CU_ASSERT_TRUE_FATAL(fd >= 0);
    for (int i = 0; i < 10; i++)
        CU_ASSERT_EQUAL(pt_sys_write_full(fd, "x", 1), 0);
    CU_ASSERT_EQUAL(pt__fault(PT__FAULT_WRITE), 0);
    pt_sys_close(fd);
}

/* Only the Nth call fails, with the errno given; the others go through. */
static void test_nth_call(void)
{
    CU_ASSERT_EQUAL_FATAL(arm("write:2:EIO,pipe:1,write:4:28"), 0);
    int fd = pt_sys_open("/dev/null", O_WRONLY, 0), p[2];
    CU_ASSERT_TRUE_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(pt_sys_write_full(fd, "x", 1), 0);
    CU_ASSERT_EQUAL(pt_sys_write_full(fd, "x", 1), -EIO);
    CU_ASSERT_EQUAL(pt_sys_write_some(fd, "x", 1), 1);
    CU_ASSERT_EQUAL(pt_sys_pwrite_full(fd, "x", 1, 0), -ENOSPC); /* errno 28 */
    CU_ASSERT_EQUAL(pt_sys_write_full(fd, "x", 1), 0);
    CU_ASSERT_EQUAL(pt_sys_pipe(p), -EMFILE);
    CU_ASSERT_EQUAL_FATAL(pt_sys_pipe(p), 0);
    pt_sys_close(p[0]);
    pt_sys_close(p[1]);
    pt_sys_close(fd);
}

/* Every point fails with its own errno unless told otherwise. */
static void test_default_errnos(void)
{
    CU_ASSERT_EQUAL_FATAL(arm("fork:1,pipe:1,shm_open:1,ftruncate:1,"
                              "fallocate:1,mmap:1,write:1,fsync:1,"
                              "socket:1,bind:1,open:1"),
                          0);
    int p[2];
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    CU_ASSERT_EQUAL(pt_sys_fork(), -EAGAIN);
    CU_ASSERT_EQUAL(pt_sys_pipe(p), -EMFILE);
    CU_ASSERT_EQUAL(pt_sys_shm_open("/ptools_none", O_RDONLY, 0), -EMFILE);
    CU_ASSERT_EQUAL(pt_sys_ftruncate(-1, 0), -EFBIG);
    CU_ASSERT_EQUAL(pt_sys_fallocate(-1, 0, 1), -ENOSPC);
    errno = 0;
    CU_ASSERT_EQUAL(
        pt_sys_mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
        MAP_FAILED);
    CU_ASSERT_EQUAL(errno, ENOMEM);
    CU_ASSERT_EQUAL(pt_sys_write_full(-1, "x", 1), -ENOSPC);
    CU_ASSERT_EQUAL(pt_sys_fsync(-1), -EIO);
    CU_ASSERT_EQUAL(pt_sys_socket(AF_UNIX, SOCK_STREAM, 0), -EMFILE);
    CU_ASSERT_EQUAL(pt_sys_bind(-1, (struct sockaddr *)&sa, sizeof sa),
                    -EACCES);
    CU_ASSERT_EQUAL(pt_sys_open("/dev/null", O_RDONLY, 0), -EMFILE);
    /* the second calls are real ones */
    CU_ASSERT_EQUAL(pt_sys_ftruncate(-1, 0), -EBADF);
    CU_ASSERT_EQUAL(pt_sys_fsync(-1), -EBADF);
    int fd = pt_sys_socket(AF_UNIX, SOCK_STREAM, 0);
    CU_ASSERT_TRUE(fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC));
    pt_sys_close(fd);
}

/* A forked child goes on counting from where its parent was. */
static void test_fork_inherits_count(void)
{
    CU_ASSERT_EQUAL_FATAL(arm("write:2"), 0);
    int fd = pt_sys_open("/dev/null", O_WRONLY, 0);
    CU_ASSERT_EQUAL(pt_sys_write_full(fd, "x", 1), 0);
    pid_t pid = pt_sys_fork();
    if (pid == 0)
        _exit(pt_sys_write_full(fd, "x", 1) == -ENOSPC &&
                      pt_sys_write_full(fd, "x", 1) == 0
                  ? 0
                  : 1);
    CU_ASSERT_TRUE_FATAL(pid > 0);
    CU_ASSERT_EQUAL(pt_sys_write_full(fd, "x", 1), -ENOSPC);
    int status;
    CU_ASSERT_EQUAL(pt_sys_waitpid(pid, &status, 0), pid);
    CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    pt_sys_close(fd);
}

/* A bad value is refused with a reason, and arms nothing. */
static void check_bad(const char *spec, const char *why)
{
    char want[300];
    snprintf(want, sizeof want, "PTOOLS_FAULT: '%s': %s (expected", spec, why);
    CU_ASSERT_EQUAL(arm(spec), -EINVAL);
    ASSERT_PREFIX(pt_errmsg(), want);
    CU_ASSERT_EQUAL(atomic_load(&pt__fault_state), PT__FAULT_OFF);
}

static void test_bad_point(void)
{
    check_bad("wrte:1", "unknown point");
}

static void test_bad_count(void)
{
    check_bad("write:0", "N must be a call number from 1");
}

static void test_bad_errno(void)
{
    check_bad("write:1:ENOPE", "unknown errno");
}

static void test_no_count(void)
{
    check_bad("write", "no ':N'");
}

/*
 * pt_sys_read_full reads exactly n bytes, across several writes, and says
 * -EPIPE at an early EOF; pt_sys_exit's status reaches the parent.
 */
static void test_read_full_and_exit(void)
{
    int p[2];
    char got[6] = {0};
    CU_ASSERT_EQUAL_FATAL(pt_sys_pipe(p), 0);
    pid_t pid = pt_sys_fork();
    CU_ASSERT_TRUE_FATAL(pid >= 0);
    if (pid == 0) {
        pt_sys_close(p[0]);
        int rc = pt_sys_write_full(p[1], "abc", 3);
        if (rc == 0)
            rc = pt_sys_write_full(p[1], "defg", 4);
        pt_sys_exit(rc == 0 ? 7 : 1);
    }
    pt_sys_close(p[1]);
    CU_ASSERT_EQUAL(pt_sys_read_full(p[0], got, 5), 0);
    CU_ASSERT_STRING_EQUAL(got, "abcde");
    CU_ASSERT_EQUAL(pt_sys_read_full(p[0], got, 5), -EPIPE); /* 2 then EOF */
    int st = 0;
    CU_ASSERT_EQUAL(pt_sys_waitpid(pid, &st, 0), pid);
    CU_ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 7);
    pt_sys_close(p[0]);
}

/* dlerror() repeats the path; the reason alone is kept, else all of it. */
static void test_dl_reason(void)
{
    const char *p = "/x/k.so";
    CU_ASSERT_STRING_EQUAL(
        pt_sys_dl_reason(p, "/x/k.so: cannot open shared object file"),
        "cannot open shared object file");
    CU_ASSERT_STRING_EQUAL(pt_sys_dl_reason(p, "/x/k.sox: no"), "/x/k.sox: no");
    CU_ASSERT_STRING_EQUAL(pt_sys_dl_reason(p, "undefined symbol: f"),
                           "undefined symbol: f");
    CU_ASSERT_STRING_EQUAL(pt_sys_dl_reason(p, NULL), "unknown error");
}

/* A thread that waits until its pipe closes. */
static void *wait_closed(void *arg)
{
    char c;
    while (read(*(int *)arg, &c, 1) < 0 && errno == EINTR)
        ;
    return NULL;
}

/* One thread, counted without /proc while the process never made another
 * (pt_sys_thread_count's fast path); two while one runs; one again once
 * it ended (counted by /proc from then on). In a child: a clean start. */
static void test_thread_count(void)
{
    fflush(NULL);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        int p[2], ok = pipe(p) == 0 && pt_sys_thread_count() == 1;
        pthread_t t;
        ok = ok && pthread_create(&t, NULL, wait_closed, &p[0]) == 0;
        ok = ok && pt_sys_thread_count() == 2;
        close(p[1]);
        ok = ok && pthread_join(t, NULL) == 0 && pt_sys_thread_count() == 1;
        _exit(ok ? 0 : 1);
    }
    int st;
    CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
    CU_ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void on_usr1(int sig)
{
    (void)sig;
}

/* Is sig's disposition SIG_DFL, with no flags? */
static bool at_default(int sig)
{
    struct sigaction sa;
    return sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL &&
           !(sa.sa_flags & SA_NOCLDWAIT);
}

/*
 * pt_sys_child_reset_signals in a child forked with every signal blocked,
 * as a worker is: a caught signal, an ignored one and SIGCHLD with
 * SA_NOCLDWAIT are back at SIG_DFL, the mask is the parent's again; read
 * from /proc (`status` NULL) or, without it, by trying each signal. The
 * child answers through a pipe: SA_NOCLDWAIT reaps it unseen.
 */
static void reset_signals_with(const char *status)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_usr1;
    CU_ASSERT_EQUAL_FATAL(sigaction(SIGUSR1, &sa, NULL), 0);
    sa.sa_handler = SIG_IGN;
    CU_ASSERT_EQUAL_FATAL(sigaction(SIGUSR2, &sa, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(sigaction(SIGRTMIN + 3, &sa, NULL), 0);
    sa.sa_handler = SIG_DFL;
    sa.sa_flags = SA_NOCLDWAIT;
    CU_ASSERT_EQUAL_FATAL(sigaction(SIGCHLD, &sa, NULL), 0);
    sigset_t all, old, one;
    sigfillset(&all);
    sigemptyset(&one);
    sigaddset(&one, SIGWINCH);
    CU_ASSERT_EQUAL_FATAL(sigprocmask(SIG_SETMASK, &one, NULL), 0);
    int p[2];
    CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
    CU_ASSERT_EQUAL_FATAL(sigprocmask(SIG_SETMASK, &all, &old), 0);
    fflush(NULL);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        if (status)
            pt__signal_status_path = status;
        pt_sys_child_reset_signals(&old);
        sigset_t now;
        int bad = sigprocmask(SIG_SETMASK, NULL, &now) != 0 ||
                  !sigismember(&now, SIGWINCH) || sigismember(&now, SIGUSR1);
        bad |= !at_default(SIGUSR1) << 1;
        bad |= !at_default(SIGUSR2) << 2;
        bad |= !at_default(SIGRTMIN + 3) << 3;
        bad |= !at_default(SIGCHLD) << 4;
        bad |= !at_default(SIGTERM) << 5;
        unsigned char c = (unsigned char)bad;
        _exit(write(p[1], &c, 1) == 1 ? 0 : 1);
    }
    CU_ASSERT_EQUAL(sigprocmask(SIG_SETMASK, &old, NULL), 0);
    close(p[1]);
    unsigned char c = 0xff;
    CU_ASSERT_EQUAL(read(p[0], &c, 1), 1);
    CU_ASSERT_EQUAL(c, 0);
    close(p[0]);
}

static void test_reset_signals_proc(void)
{
    reset_signals_with(NULL);
}

static void test_reset_signals_no_proc(void)
{
    reset_signals_with("/nonexistent/proc/self/status");
}

/* A status text cut short, or one without the lines: the loop, still. */
static void test_reset_signals_bad_status(void)
{
    char path[] = "/tmp/pt_status_XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    static const char text[] = "Name:\tx\nSigIgn:\t0000000000000000\n"
                               "SigCgt:\t00000000000";
    CU_ASSERT_EQUAL(write(fd, text, sizeof text - 1), (ssize_t)sizeof text - 1);
    close(fd);
    reset_signals_with(path);
    unlink(path);
}

static const pt_test_case cases[] = {
    {"unset: nothing fails", test_unset, 0},
    {"only the Nth call fails", test_nth_call, 0},
    {"each point's errno", test_default_errnos, 0},
    {"a forked child goes on counting", test_fork_inherits_count, 0},
    {"bad value: unknown point", test_bad_point, 0},
    {"bad value: N", test_bad_count, 0},
    {"bad value: errno", test_bad_errno, 0},
    {"bad value: no N", test_no_count, 0},
    {"read_full across writes, EOF; pt_sys_exit", test_read_full_and_exit, 0},
    {"dlerror's text without the path", test_dl_reason, 0},
    {"threads counted, with and without /proc", test_thread_count, 0},
    {"a child's signals reset, read from /proc", test_reset_signals_proc, 0},
    {"a child's signals reset, without /proc", test_reset_signals_no_proc, 0},
    {"a child's signals reset, status cut short", test_reset_signals_bad_status,
     0},
    {NULL, NULL, 0},
};

int main(int argc, char **argv)
{
    return pt_test_main("sys", cases, argc, argv);
}
