/*
 * gate.so - a task that waits for the test to let it go, so that e2e tests
 * can hold a run at a known point without guessing how long anything takes.
 *
 *   gate    creates the file `mark` (when given), then waits until the file
 *           `open` exists (checking every 5 ms), at most `max_ms` (default
 *           120000; then the task fails); result `passed` (int, 1), or
 *           with `fail: true` the task fails once the gate is open
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ptools/kernel.h>

/* Sleep 5 ms (a signal cuts it short, which is harmless here). */
static void nap(void)
{
    struct timespec ts = {0, 5000000L};
    nanosleep(&ts, NULL);
}

/* Create `path` (empty): 0 or -errno. */
static int touch(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    close(fd);
    return 0;
}

/* Create the mark, wait for the gate, say it passed. */
static int gate_call(pt_ctx *ctx)
{
    const char *mark = pt_arg_str(ctx, "mark", "");
    const char *gate = pt_arg_str(ctx, "open", "");
    int64_t max_ms = pt_arg_int(ctx, "max_ms", 120000);
    int rc = mark[0] ? touch(mark) : 0;
    if (rc < 0)
        return pt_fail(ctx, "%s: %s", mark, strerror(-rc));
    for (int64_t waited = 0; access(gate, F_OK) != 0; waited += 5) {
        if (waited >= max_ms)
            return pt_fail(ctx, "%s: not there after %lld ms", gate,
                           (long long)max_ms);
        nap();
    }
    if (pt_arg_bool(ctx, "fail", false))
        return pt_fail(ctx, "the gate opened: failing as asked");
    return pt_result_int(ctx, "passed", 1);
}

static const pt_kernel gate_kernel = {
    .abi = PT_KERNEL_ABI,
    .name = "gate",
    .doc = "create `mark`, then wait until the file `open` exists",
    .call = gate_call,
};

PT_KERNELS(&gate_kernel);
