/*
 * ckpt.so - a counter whose state outlives its worker (kernel save and
 * restore; tests/e2e/test_checkpoint.py).
 *
 *   count      adds 1 to this worker's count (pt_state "count"), which
 *              save and restore carry over as 8 bytes; result `count`
 *              (the count so far) and `pid`. Args, all optional: `ms`
 *              (sleep first), `hold` (a file: while it exists, wait,
 *              checking every 5 ms, at most 120 s; first the worker's
 *              pid is written to the file `mark`, when given), `die_once` (a
 * file: if it does not exist yet, create it, count, then SIGKILL this worker).
 *   count_bad  the same, but its restore always fails ("refused on
 *              purpose", code -5).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ptools/kernel.h>

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Create `path`: 1 when this call made it, 0 when it was there, -errno. */
static int create(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return errno == EEXIST ? 0 : -errno;
    close(fd);
    return 1;
}

static int64_t *count_of(pt_ctx *ctx)
{
    int64_t *n = pt_state_get(ctx, "count");
    if (n)
        return n;
    n = calloc(1, sizeof *n);
    if (n && pt_state_set(ctx, "count", n, free) < 0) {
        free(n);
        n = NULL;
    }
    return n;
}

/* Write this worker's pid into the file `path`: 0 or -1. */
static int write_pid(const char *path)
{
    char text[32];
    int n = snprintf(text, sizeof text, "%ld\n", (long)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    int ok = write(fd, text, (size_t)n) == n;
    close(fd);
    return ok ? 0 : -1;
}

/* Wait while the file `hold` exists (at most 120 s). */
static int hold(pt_ctx *ctx)
{
    const char *path = pt_arg_str(ctx, "hold", NULL);
    const char *mark = pt_arg_str(ctx, "mark", NULL);
    if (mark && write_pid(mark) < 0)
        return pt_fail(ctx, "cannot write %s", mark);
    for (int i = 0; path && access(path, F_OK) == 0; i++)
        if (i == 24000)
            return pt_fail(ctx, "held for 120 s");
        else
            nap_ms(5);
    return 0;
}

static int count_call(pt_ctx *ctx)
{
    int64_t *n = count_of(ctx), ms = pt_arg_int(ctx, "ms", 0);
    const char *die = pt_arg_str(ctx, "die_once", NULL);
    if (!n)
        return pt_fail(ctx, "out of memory");
    if (ms > 0)
        nap_ms((long)ms);
    if (hold(ctx) != 0)
        return -1;
    ++*n;
    int made = die ? create(die) : 0;
    if (made < 0)
        return pt_fail(ctx, "cannot create %s", die);
    if (made)
        kill(getpid(), SIGKILL);
    int rc = pt_result_int(ctx, "count", *n);
    return rc ? rc : pt_result_int(ctx, "pid", (int64_t)getpid());
}

static int count_save(pt_ctx *ctx, pt_buf *out)
{
    const int64_t *n = pt_state_get(ctx, "count");
    int64_t v = n ? *n : 0;
    return pt_save_bytes(ctx, out, &v, sizeof v);
}

static int count_restore(pt_ctx *ctx, const void *data, size_t len)
{
    int64_t *n = count_of(ctx);
    if (!n)
        return pt_fail(ctx, "out of memory");
    if (len != sizeof *n)
        return pt_fail(ctx, "a count is 8 bytes, got %zu", len);
    memcpy(n, data, sizeof *n);
    return 0;
}

static int bad_restore(pt_ctx *ctx, const void *data, size_t len)
{
    (void)data;
    (void)len;
    pt_fail(ctx, "refused on purpose");
    return -5;
}

static const pt_kernel count_kernel = {
    .abi = PT_KERNEL_ABI,
    .name = "count",
    .doc = "counts its calls; the count outlives the worker",
    .call = count_call,
    .save = count_save,
    .restore = count_restore,
};

static const pt_kernel count_bad_kernel = {
    .abi = PT_KERNEL_ABI,
    .name = "count_bad",
    .doc = "count, whose restore always fails",
    .call = count_call,
    .save = count_save,
    .restore = bad_restore,
};

PT_KERNELS(&count_kernel, &count_bad_kernel);
