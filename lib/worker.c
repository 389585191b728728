/* worker.c - the loop a worker process runs (see worker.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ptools/kernel_lib.h>

#include "ctx.h"
#include "internal.h"
#include "wire.h"
#include "worker.h"

/* A kernel this worker has met: loaded, initialised or broken. */
typedef struct loaded {
    struct loaded *next;
    const pt_kernel *k;
    pt_kernel_lib *lib; /* owned when loaded by index */
    int index;          /* kernel index, or -1 for a linked-in kernel */
    int inited;         /* init ran and returned 0 (or there is none) */
    char *error;        /* why it cannot run here, once known */
} loaded;

typedef struct worker {
    const pt__worker_boot *boot;
    pt__worker_env env;
    loaded *kernels;
    pt_buf results, reply;
} worker;

static loaded *remember(worker *w, const pt_kernel *k, pt_kernel_lib *lib,
                        int index, const char *error)
{
    loaded *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    *l = (loaded){w->kernels, k, lib, index, 0, error ? strdup(error) : NULL};
    w->kernels = l;
    return l;
}

/* Load kernel `index` of the set's table (dlopen on first use). */
static loaded *load_indexed(worker *w, uint32_t index)
{
    for (loaded *l = w->kernels; l; l = l->next)
        if (l->index == (int)index)
            return l;
    if (index >= (uint32_t)w->boot->nkernels)
        return remember(w, NULL, NULL, (int)index, "no such kernel index");
    const pt_kernel_ref *ref = &w->boot->kernels[index];
    pt_kernel_lib *lib = pt_kernel_lib_open(ref->path);
    const pt_kernel *k = NULL;
    if (lib)
        k = pt_kernel_lib_find(lib, ref->symbol ? ref->symbol : ref->name);
    if (!k) {
        loaded *l = remember(w, NULL, NULL, (int)index, pt_errmsg());
        pt_kernel_lib_close(lib);
        return l;
    }
    return remember(w, k, lib, (int)index, NULL);
}

static loaded *load_linked(worker *w, const pt_kernel *k)
{
    for (loaded *l = w->kernels; l; l = l->next)
        if (l->k == k && l->index < 0)
            return l;
    if (k->abi != PT_KERNEL_ABI || !k->call)
        return remember(w, NULL, NULL, -1, "kernel has a wrong ABI or no "
                        "call function");
    return remember(w, k, NULL, -1, NULL);
}

/* Run init once; after a failure the kernel stays broken in this worker. */
static void ensure_init(worker *w, loaded *l)
{
    if (l->inited || l->error || !l->k->init) {
        l->inited = l->inited || (!l->error && !l->k->init);
        return;
    }
    pt_ctx c;
    pt__ctx_begin(&c, &w->env, NULL, 0, NULL);
    int rc = l->k->init(&c);
    if (rc != 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "kernel '%s': init failed%s%s (code %d)",
                 l->k->name, c.error ? ": " : "", c.error ? c.error : "", rc);
        l->error = strdup(msg);
    } else {
        l->inited = 1;
    }
    pt__ctx_clear(&c);
}

static int send_result(worker *w, uint64_t id)
{
    return pt__wire_write(w->boot->out_fd, PT__WIRE_RESULT, id,
                          w->results.data, w->results.len);
}

/* ERROR frame: head, message + NUL, padding, the results map. */
static int send_error(worker *w, uint64_t id, const char *msg)
{
    size_t n = strlen(msg);
    pt__err_head h = {(uint32_t)n, 0};
    h.results_off = (uint32_t)((sizeof h + n + 1 + 7) / 8 * 8);
    static const uint8_t zeros[8];
    pt_buf *b = &w->reply;
    pt_buf_reset(b);
    int rc = pt_buf_append(b, &h, sizeof h);
    if (rc == 0)
        rc = pt_buf_append(b, msg, n + 1);
    if (rc == 0)
        rc = pt_buf_append(b, zeros, h.results_off - b->len);
    if (rc == 0 && w->results.len)
        rc = pt_buf_append(b, w->results.data, w->results.len);
    else if (rc == 0)
        rc = pt_buf_append(b, pt__empty_map, PT__EMPTY_MAP_LEN);
    if (rc < 0)
        return rc;
    return pt__wire_write(w->boot->out_fd, PT__WIRE_ERROR, id, b->data,
                          b->len);
}

/* Find what a task calls: a kernel (initialised) or a plain function. */
static const char *resolve(worker *w, const pt__task_head *h,
                           const pt_kernel **k, pt_call_fn *fn)
{
    *k = NULL;
    *fn = NULL;
    if (h->kind == PT__CALLEE_FN) {
        *fn = (pt_call_fn)(uintptr_t)h->ptr;
        return NULL;
    }
    loaded *l = NULL;
    if (h->kind == PT__CALLEE_INDEX)
        l = load_indexed(w, h->kernel_index);
    else if (h->kind == PT__CALLEE_KOBJ)
        l = load_linked(w, (const pt_kernel *)(uintptr_t)h->ptr);
    else
        return "unknown callee kind";
    if (!l)
        return "out of memory";
    ensure_init(w, l);
    *k = l->k;
    return l->error;
}

/* Run one task and answer it. A failed write means the parent is gone. */
static int run_task(worker *w, uint64_t id, const uint8_t *p, size_t len)
{
    pt__task_head h;
    if (len < sizeof h)
        return -EBADMSG;
    memcpy(&h, p, sizeof h);
    if (h.args_len > len - sizeof h)
        return -EBADMSG;
    const pt_kernel *k;
    pt_call_fn fn;
    const char *why = resolve(w, &h, &k, &fn);
    pt_buf_reset(&w->results);
    if (why)
        return send_error(w, id, why);
    pt_ctx c;
    if (pt__ctx_begin(&c, &w->env, h.args_len ? p + sizeof h : NULL,
                      h.args_len, &w->results) < 0)
        return send_error(w, id, "the task's arguments are malformed");
    c.task_id = id;
    c.seed = h.seed;
    c.step = h.step;
    int rc = k ? k->call(&c) : fn(&c);
    fflush(NULL); /* its output reaches the parent before its reply */
    int end = pt__ctx_end(&c);
    char msg[256];
    const char *err = c.error;
    if (!err && rc != 0) {
        snprintf(msg, sizeof msg, "kernel returned %d", rc);
        err = msg;
    } else if (!err && end < 0) {
        err = pt_errmsg();
    }
    int sent = err ? send_error(w, id, err) : send_result(w, id);
    pt__ctx_clear(&c);
    return sent;
}

static void run_finis(worker *w)
{
    for (loaded *l = w->kernels; l; l = l->next) {
        if (l->inited && l->k && l->k->fini) {
            pt_ctx c;
            pt__ctx_begin(&c, &w->env, NULL, 0, NULL);
            l->k->fini(&c);
            pt__ctx_clear(&c);
        }
    }
}

static void free_all(worker *w)
{
    while (w->kernels) {
        loaded *l = w->kernels;
        w->kernels = l->next;
        pt_kernel_lib_close(l->lib);
        free(l->error);
        free(l);
    }
    pt__state_free_all(&w->env);
    pt_buf_free(&w->results);
    pt_buf_free(&w->reply);
}

void pt__worker_main(const pt__worker_boot *boot)
{
    worker w = {.boot = boot};
    w.env = (pt__worker_env){.index = boot->index, .count = boot->count,
                             .shm = boot->shm, .nshm = boot->nshm};
    pt_buf payload = {0};
    pt__wire_hdr hdr;
    int rc, status = 0;
    while ((rc = pt__wire_read(boot->in_fd, 0, &hdr, &payload)) == 0) {
        if (hdr.type == PT__WIRE_SHUTDOWN)
            break;
        if (hdr.type != PT__WIRE_TASK ||
            run_task(&w, hdr.task_id, payload.data, hdr.len) < 0) {
            status = 2; /* a broken pipe or protocol: leave at once */
            break;
        }
    }
    if (status == 0)
        run_finis(&w);
    fflush(NULL);
    pt_buf_free(&payload);
    free_all(&w);
    _exit(status);
}
