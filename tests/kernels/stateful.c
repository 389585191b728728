/*
 * stateful.so - kernels that show what a worker keeps and who it is.
 *
 *   counter   counts its calls in this worker, in per-worker state (the
 *             server-task model). Results: `calls` (1 on a worker's first
 *             call), `worker` (index), `pid`, `inited` (true once its init
 *             ran in this worker, which set state "inited"). Its fini
 *             appends "fini <worker> <calls>\n" to the file named by
 *             $PT_TEST_FINI_LOG, when set, in one write.
 *   identity  results `task_id`, `task_seed` (the 64 bits as an int),
 *             `worker_index`, `worker_count`, `step_index`.
 *   whoami    writes its worker index into the int32 segment named by arg
 *             `segment` at i = worker, worker + count, ... (a worker set
 *             strides over the segment, as in the PTools README), and when
 *             arg `img` names a uint8 segment, worker + 1 into this
 *             worker's contiguous share [w*size/n, (w+1)*size/n) of it.
 *             Results `written` (int32 elements) and `img_written`.
 */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ptools/kernel.h>

static int counter_init(pt_ctx *ctx)
{
    int *mark = malloc(sizeof *mark);
    if (!mark)
        return pt_fail(ctx, "out of memory");
    *mark = 1;
    return pt_state_set(ctx, "inited", mark, free);
}

static int counter_call(pt_ctx *ctx)
{
    int64_t *calls = pt_state_get(ctx, "calls");
    if (!calls) {
        calls = calloc(1, sizeof *calls);
        if (!calls || pt_state_set(ctx, "calls", calls, free) < 0) {
            free(calls);
            return pt_fail(ctx, "cannot keep the call count");
        }
    }
    ++*calls;
    int rc = pt_result_int(ctx, "calls", *calls);
    if (rc == 0)
        rc = pt_result_int(ctx, "worker", pt_worker_index(ctx));
    if (rc == 0)
        rc = pt_result_int(ctx, "pid", (int64_t)getpid());
    if (rc == 0)
        rc = pt_result_bool(ctx, "inited", pt_state_get(ctx, "inited"));
    return rc;
}

static void counter_fini(pt_ctx *ctx)
{
    const char *path = getenv("PT_TEST_FINI_LOG");
    if (!path || !*path)
        return;
    const int64_t *calls = pt_state_get(ctx, "calls");
    char line[64];
    int n = snprintf(line, sizeof line, "fini %d %lld\n", pt_worker_index(ctx),
                     calls ? (long long)*calls : 0LL);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    if (write(fd, line, (size_t)n) != n)
        (void)0; /* nothing to tell: the test sees the line is missing */
    close(fd);
}

static int identity_call(pt_ctx *ctx)
{
    uint64_t seed = pt_task_seed(ctx);
    int64_t seed_bits;
    memcpy(&seed_bits, &seed, sizeof seed_bits);
    int rc = pt_result_int(ctx, "task_id", pt_task_id(ctx));
    if (rc == 0)
        rc = pt_result_int(ctx, "task_seed", seed_bits);
    if (rc == 0)
        rc = pt_result_int(ctx, "worker_index", pt_worker_index(ctx));
    if (rc == 0)
        rc = pt_result_int(ctx, "worker_count", pt_worker_count(ctx));
    if (rc == 0)
        rc = pt_result_int(ctx, "step_index", pt_step_index(ctx));
    return rc;
}

/* The segment named by arg `key`, of type t: NULL (with pt_fail) if not. */
static const pt_shm_view *segment(pt_ctx *ctx, const char *key, pt_dtype t)
{
    const char *tname = t == PT_INT32 ? "int32" : "uint8";
    const char *name = pt_arg_str(ctx, key, NULL);
    const pt_shm_view *v = name ? pt_shm_get(ctx, name) : NULL;
    if (!name)
        pt_fail(ctx, "arg `%s` (a segment name) is required", key);
    else if (!v)
        pt_fail(ctx, "no shared memory segment named \"%s\"", name);
    else if (v->type != t)
        pt_fail(ctx, "segment \"%s\" is not of type %s", name, tname);
    return v && v->type == t ? v : NULL;
}

/* [w*size/n, (w+1)*size/n) without overflow: see kernels/range.h. */
static uint64_t share_start(uint64_t size, uint64_t w, uint64_t n)
{
    return w * (size / n) + w * (size % n) / n;
}

static int whoami_call(pt_ctx *ctx)
{
    int w = pt_worker_index(ctx), n = pt_worker_count(ctx);
    if (w < 0 || n < 1 || w >= n)
        return pt_fail(ctx, "worker %d of %d: not in a worker set", w, n);
    const pt_shm_view *ids = segment(ctx, "segment", PT_INT32), *img = NULL;
    if (!ids ||
        (pt_arg_has(ctx, "img") && !(img = segment(ctx, "img", PT_UINT8))))
        return -1;
    int32_t *id = ids->data;
    int64_t written = 0, img_written = 0;
    for (uint64_t i = (uint64_t)w; i < ids->size; i += (uint64_t)n, written++)
        id[i] = w;
    if (img) {
        uint64_t lo = share_start(img->size, (uint64_t)w, (uint64_t)n);
        uint64_t hi = share_start(img->size, (uint64_t)w + 1, (uint64_t)n);
        memset((uint8_t *)img->data + lo, w + 1, hi - lo);
        img_written = (int64_t)(hi - lo);
    }
    int rc = pt_result_int(ctx, "written", written);
    if (rc == 0)
        rc = pt_result_int(ctx, "img_written", img_written);
    return rc;
}

static const pt_kernel counter_kernel = {
    .abi = PT_KERNEL_ABI,
    .name = "counter",
    .doc = "counts its calls in this worker's state",
    .init = counter_init,
    .call = counter_call,
    .fini = counter_fini,
};

static const pt_kernel identity_kernel = {
    .abi = PT_KERNEL_ABI,
    .name = "identity",
    .doc = "returns the task's and the worker's identity",
    .call = identity_call,
};

static const pt_kernel whoami_kernel = {
    .abi = PT_KERNEL_ABI,
    .name = "whoami",
    .doc = "writes its worker index into int32 `segment` (and uint8 `img`)",
    .call = whoami_call,
};

PT_KERNELS(&counter_kernel, &identity_kernel, &whoami_kernel);
