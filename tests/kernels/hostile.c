/*
 * hostile.so - kernels that try to escape their worker, so that tests can
 * check that nothing they start outlives it and nothing of the runner's
 * reaches them.
 *
 *   detach     starts a process that leaves the worker's group and lives
 *              1000 s: `mode` "setsid" (a child that calls setsid) or
 *              "daemon" (double fork + setsid: its parent exits at once);
 *              writes its pid to `pidfile` when given; result `pid`; with
 *              `crash: true` the worker then dies by SIGSEGV
 *   alive      result `alive`: is the process whose pid is in `pidfile`
 *              still there (a zombie counts as gone)
 *   read_stdin reads fd 0 until EOF (at most 4 KiB): results `bytes`, `text`
 *   mark       creates the file `path`, then sleeps `ms` (default 60000)
 *   fini_hang  a call that does nothing, and a fini that never returns
 *   sleep_mark sleeps `ms` (default 100), then creates `dir`/<task id>: its
 *              mtime is when the task ended (for tests that kill ptrun)
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ptools/kernel.h>

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* In the new process: leave the group, tell our pid, live 1000 s. */
static _Noreturn void live_detached(int tell, int daemon)
{
    setsid();
    if (daemon && fork() != 0)
        _exit(0); /* the daemon's parent: gone at once */
    pid_t me = getpid();
    if (write(tell, &me, sizeof me) != (ssize_t)sizeof me)
        _exit(1);
    close(tell);
    nap_ms(1000 * 1000);
    _exit(0);
}

static int write_pidfile(const char *path, pid_t pid)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "%ld\n", (long)pid);
    return fclose(f);
}

static int detach_call(pt_ctx *ctx)
{
    int daemon = strcmp(pt_arg_str(ctx, "mode", "setsid"), "daemon") == 0;
    const char *pidfile = pt_arg_str(ctx, "pidfile", NULL);
    int p[2];
    pid_t got = 0, child;
    if (pipe(p) < 0)
        return pt_fail(ctx, "pipe: %s", strerror(errno));
    if ((child = fork()) == 0) {
        close(p[0]);
        live_detached(p[1], daemon);
    }
    close(p[1]);
    ssize_t n = child > 0 ? read(p[0], &got, sizeof got) : -1;
    close(p[0]);
    if (daemon && child > 0)
        waitpid(child, NULL, 0); /* the daemon's parent */
    if (n != (ssize_t)sizeof got)
        return pt_fail(ctx, "no pid from the detached process");
    if (pidfile && write_pidfile(pidfile, got) < 0)
        return pt_fail(ctx, "%s: %s", pidfile, strerror(errno));
    if (pt_arg_bool(ctx, "crash", false))
        raise(SIGSEGV);
    return pt_result_int(ctx, "pid", got);
}

/* Is `pid` alive and not a zombie? */
static int pid_alive(long pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X';
}

static int alive_call(pt_ctx *ctx)
{
    const char *pidfile = pt_arg_str(ctx, "pidfile", "");
    FILE *f = fopen(pidfile, "r");
    long pid = 0;
    if (!f)
        return pt_fail(ctx, "%s: %s", pidfile, strerror(errno));
    int ok = fscanf(f, "%ld", &pid) == 1;
    fclose(f);
    if (!ok || pid <= 0)
        return pt_fail(ctx, "%s: no pid", pidfile);
    return pt_result_bool(ctx, "alive", pid_alive(pid));
}

static int read_stdin_call(pt_ctx *ctx)
{
    char buf[4097];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof buf - 1 &&
           (n = read(0, buf + len, sizeof buf - 1 - len)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return pt_fail(ctx, "read(0): %s", strerror(errno));
        len += (size_t)n;
    }
    buf[len] = '\0';
    int rc = pt_result_int(ctx, "bytes", (int64_t)len);
    return rc ? rc : pt_result_str(ctx, "text", buf);
}

static int mark_call(pt_ctx *ctx)
{
    const char *path = pt_arg_str(ctx, "path", "");
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return pt_fail(ctx, "%s: %s", path, strerror(errno));
    close(fd);
    nap_ms((long)pt_arg_int(ctx, "ms", 60000));
    return 0;
}

static int fini_hang_call(pt_ctx *ctx)
{
    (void)ctx;
    return 0;
}

static void fini_hang_fini(pt_ctx *ctx)
{
    (void)ctx;
    for (;;)
        pause();
}

static int sleep_mark_call(pt_ctx *ctx)
{
    char path[4096];
    nap_ms((long)pt_arg_int(ctx, "ms", 100));
    snprintf(path, sizeof path, "%s/%lld", pt_arg_str(ctx, "dir", "."),
             (long long)pt_task_id(ctx));
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return pt_fail(ctx, "%s: %s", path, strerror(errno));
    close(fd);
    return 0;
}

static const pt_kernel detach_kernel = {
    .abi = PT_KERNEL_ABI,
    .name = "detach",
    .call = detach_call,
    .doc = "start a process that leaves the worker's group"};
static const pt_kernel alive_kernel = {
    .abi = PT_KERNEL_ABI,
    .name = "alive",
    .call = alive_call,
    .doc = "is the process in pidfile alive"};
static const pt_kernel read_stdin_kernel = {.abi = PT_KERNEL_ABI,
                                            .name = "read_stdin",
                                            .call = read_stdin_call,
                                            .doc = "read fd 0 to its end"};
static const pt_kernel mark_kernel = {.abi = PT_KERNEL_ABI,
                                      .name = "mark",
                                      .call = mark_call,
                                      .doc = "create a file, then sleep"};
static const pt_kernel fini_hang_kernel = {.abi = PT_KERNEL_ABI,
                                           .name = "fini_hang",
                                           .call = fini_hang_call,
                                           .fini = fini_hang_fini,
                                           .doc = "a fini that never returns"};
static const pt_kernel sleep_mark_kernel = {
    .abi = PT_KERNEL_ABI,
    .name = "sleep_mark",
    .call = sleep_mark_call,
    .doc = "sleep, then leave a file named after the task"};
PT_KERNELS(&detach_kernel, &alive_kernel, &read_stdin_kernel, &mark_kernel,
           &fini_hang_kernel, &sleep_mark_kernel);
