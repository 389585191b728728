/* host.c - load plugins and fan events out to them (see host.h). */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events/host.h"
#include <ptools/sys.h>
#include <ptools/value.h>

typedef struct loaded {
    void *handle;
    const pt_plugin *desc;
    pt_plugin_ctx ctx;
    char *path;
    int failed;
} loaded;

/* What plugins reach through ctx->sys: lib's wrappers (plugin.h). */
static const pt_plugin_sys host_sys = {.size = sizeof host_sys,
                                       .open = pt_sys_open,
                                       .write = pt_sys_write_full,
                                       .fsync = pt_sys_fsync};

struct rn_host {
    loaded *p;
    int n;
    const char *run_name;
};

/* Options as JSON: the spec's mapping, through the value codec. */
static char *options_json(const rn_value *opts)
{
    pt_buf b = {0}, js = {0};
    pt_vmark m;
    int rc = pt_venc_map_begin(&b, &m);
    for (size_t i = 0; rc == 0 && i < opts->n; i++) {
        const rn_value *v = &opts->items[i];
        rc = pt_venc_key(&b, &m, opts->keys[i]);
        if (rc == 0)
            rc = v->type == RN_STR    ? pt_venc_str(&b, v->s)
                 : v->type == RN_INT  ? pt_venc_int(&b, v->i)
                 : v->type == RN_REAL ? pt_venc_real(&b, v->r)
                 : v->type == RN_BOOL ? pt_venc_bool(&b, v->b)
                                      : pt_venc_null(&b);
    }
    if (rc == 0)
        rc = pt_venc_map_end(&b, &m);
    if (rc == 0)
        rc = pt_value_to_json(b.data, b.len, &js);
    pt_buf_free(&b);
    if (rc < 0) {
        free(js.data);
        return NULL;
    }
    return (char *)js.data;
}

/*
 * Load and open plugin p, which its spec check probed in a child
 * (probe.h): its constructors are known to survive and to start no thread.
 */
static int load_one(loaded *l, const rn_plugin *p, const char *run_dir,
                    const char *run_name, char *err, size_t errlen)
{
    l->path = strdup(p->path);
    if (!p->probed) { /* never user code here before a child ran it */
        snprintf(err, errlen, "%s: plugin not loaded: it was not probed in "
                 "a child process first", p->path);
        return -EPERM;
    }
    l->handle = dlopen(p->path, RTLD_NOW | RTLD_LOCAL);
    if (!l->handle) {
        snprintf(err, errlen, "%s: cannot load plugin: %s", p->path,
                 dlerror());
        return -ENOENT;
    }
    const pt_plugin *const *d = dlsym(l->handle, "pt_plugin_desc");
    if (!d || !*d || (*d)->abi < 1 || (*d)->abi > PT_PLUGIN_ABI ||
        !(*d)->on_event) {
        snprintf(err, errlen, "%s: not a ptools plugin of ABI 1 to %d (no "
                 "PT_PLUGIN(&desc), or another ABI)", p->path, PT_PLUGIN_ABI);
        return -EINVAL;
    }
    l->desc = *d;
    l->ctx = (pt_plugin_ctx){.size = sizeof l->ctx, .run_dir = run_dir,
                             .run_name = run_name, .sys = &host_sys};
    char *opts = options_json(&p->options);
    int rc = l->desc->open ? l->desc->open(&l->ctx, opts ? opts : "{}") : 0;
    free(opts);
    if (rc != 0) {
        snprintf(err, errlen, "%s: plugin %s failed to open: %s", p->path,
                 l->desc->name, l->ctx.error[0] ? l->ctx.error : "error");
        l->desc = NULL;
        return -EIO;
    }
    return 0;
}

rn_host *rn_host_open(const rn_spec *spec, const char *run_dir, char *err,
                      size_t errlen)
{
    rn_host *h = calloc(1, sizeof *h);
    if (!h || !(h->p = calloc((size_t)spec->nplugins + 1, sizeof *h->p))) {
        free(h);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->run_name = spec->name;
    for (; h->n < spec->nplugins; h->n++) {
        if (load_one(&h->p[h->n], &spec->plugins[h->n], run_dir, spec->name,
                     err, errlen) < 0) {
            h->n++;
            rn_host_close(h);
            return NULL;
        }
    }
    return h;
}

/* Tell plugin l it failed: once on stderr; its output stops there. */
static void failed(loaded *l)
{
    fprintf(stderr, "ptrun: plugin %s: %s (its output stops here)\n",
            l->desc->name, l->ctx.error[0] ? l->ctx.error : "error");
    l->failed = 1;
}

int rn_host_emit(rn_host *h, pt_event *ev)
{
    int rc = 0;
    if (!h)
        return 0;
    ev->size = sizeof *ev;
    ev->run_name = h->run_name;
    for (int i = 0; i < h->n; i++) {
        loaded *l = &h->p[i];
        if (!l->desc || l->failed)
            continue;
        if (l->desc->on_event(&l->ctx, ev) != 0) {
            failed(l);
            rc = -1;
        }
    }
    return rc;
}

int rn_host_flush(rn_host *h)
{
    int rc = 0;
    for (int i = 0; h && i < h->n; i++) {
        loaded *l = &h->p[i];
        if (!l->desc || l->failed || l->desc->abi < 2 || !l->desc->flush)
            continue; /* an ABI 1 descriptor has no flush member */
        if (l->desc->flush(&l->ctx) != 0) {
            failed(l);
            rc = -1;
        }
    }
    return rc;
}

int rn_host_close(rn_host *h)
{
    int rc = 0;
    for (int i = 0; h && i < h->n; i++) {
        loaded *l = &h->p[i];
        if (l->desc && l->desc->close && l->desc->close(&l->ctx) != 0) {
            fprintf(stderr, "ptrun: plugin %s: %s\n", l->desc->name,
                    l->ctx.error[0] ? l->ctx.error : "close failed");
            rc = -1;
        }
        rc = l->failed ? -1 : rc;
        if (l->handle)
            dlclose(l->handle);
        free(l->path);
    }
    if (h)
        free(h->p);
    free(h);
    return rc;
}
