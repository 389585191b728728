/*
 * gatelog.so - a kernel whose outcome a test sets from outside, and which
 * leaves a trace of every call: for resumed runs (tests/e2e/test_resume.py).
 *
 *   gate  appends "<task id>\n" to the file named by arg `log`, in one
 *         write; then ok (result `task`) if the file named by arg `gate`
 *         exists, else failed ("gate <path> is closed"). A test opens the
 *         gate between a run and its resume, and reads the log to see
 *         which tasks ran in each.
 */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <ptools/kernel.h>

/* Append this task's id to `log`: 0, or the task fails. */
static int log_call(pt_ctx *ctx, const char *log)
{
    char line[32];
    int n = snprintf(line, sizeof line, "%lld\n", (long long)pt_task_id(ctx));
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return pt_fail(ctx, "cannot open %s", log);
    ssize_t w = write(fd, line, (size_t)n);
    close(fd);
    return w == n ? 0 : pt_fail(ctx, "cannot write %s", log);
}

static int gate_call(pt_ctx *ctx)
{
    const char *log = pt_arg_str(ctx, "log", NULL);
    const char *gate = pt_arg_str(ctx, "gate", NULL);
    if (!log || !gate)
        return pt_fail(ctx, "args `log` and `gate` are required");
    if (log_call(ctx, log) != 0)
        return -1;
    if (access(gate, F_OK) != 0)
        return pt_fail(ctx, "gate %s is closed", gate);
    return pt_result_int(ctx, "task", pt_task_id(ctx));
}

static const pt_kernel gate_kernel = {
    .abi = PT_KERNEL_ABI,
    .name = "gate",
    .doc = "logs its task id to `log`; ok if file `gate` exists, else fails",
    .call = gate_call,
};

PT_KERNELS(&gate_kernel);
