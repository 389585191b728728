/* host.c - load plugins and fan events out to them (see host.h). Plugins
 * that take batches (plugin ABI 4, on_events) get task events gathered in
 * `batch`, with what they point to copied into `arena`; the others get
 * each event as it comes. Each plugin sees the same events in the same
 * order. */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events/host.h"
#include <ptools/sys.h>
#include <ptools/value.h>

/* A batch ends at this many events, or when their copied data would pass
 * BATCH_BYTES: a 64 KiB arena, a few hundred results. */
#define BATCH_EVENTS 256
#define BATCH_BYTES (64 * 1024)

/* Something a gathered event may point to, and how to free it. */
typedef struct later {
    void (*free_fn)(void *arg, void *p);
    void *arg, *p;
} later;

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
    bool json;      /* a plugin of ABI < 3 is loaded: it reads the JSON */
    pt_buf args_js; /* this event's args and result as JSON, for it */
    pt_buf result_js;
    bool batching;   /* a plugin takes batches: events gather in `batch` */
    bool singles;    /* a plugin takes events one by one (on_event) */
    pt_event *batch; /* BATCH_EVENTS events not handed to those yet */
    size_t nbatch;
    char *arena; /* what they point to (BATCH_BYTES): it never moves */
    size_t arena_len;
    bool late_failure; /* a plugin failed on the batch rn_host_slot()
                          handed over: the next emit says so */
    later *doomed;     /* rn_host_free_later(): freed once the batch goes */
    size_t ndoomed;
    uint64_t wanted; /* the event types some plugin takes (PT_EV_MASK) */
};

/* The event types descriptor d takes: all, unless ABI 5 says. */
static uint64_t wants(const pt_plugin *d)
{
    return d->abi >= 5 && d->events ? d->events : ~UINT64_C(0);
}

/* Does descriptor d take batches? (Never read past an older one's end.) */
static bool takes_batches(const pt_plugin *d)
{
    return d->abi >= 4 && d->on_events;
}

/*
 * The options, whole (nested maps and lists too): encoded once from the
 * spec's mapping, and as JSON text for open(). 0 or -errno.
 */
static int encode_options(const rn_value *opts, pt_buf *enc, pt_buf *js)
{
    int rc = rn_value_encode(enc, opts);
    return rc < 0 ? rc : pt_value_to_json(enc->data, enc->len, js);
}

/*
 * Load plugin p's descriptor into l: the built-in jsonl's, or by dlopen of
 * its .so, which its spec check probed in a child (probe.h): its
 * constructors are known to survive and to start no thread.
 */
static int load_desc(loaded *l, const rn_plugin *p, char *err, size_t errlen)
{
    if (p->builtin) {
        l->desc = rn_jsonl_builtin;
        l->path = strdup("jsonl (built in)");
        return l->path ? 0 : -ENOMEM;
    }
    l->path = strdup(p->path);
    if (!p->probed) { /* never user code here before a child ran it */
        snprintf(err, errlen,
                 "%s: plugin not loaded: it was not probed in "
                 "a child process first",
                 p->path);
        return -EPERM;
    }
    l->handle = dlopen(p->path, RTLD_NOW | RTLD_LOCAL);
    if (!l->handle) {
        snprintf(err, errlen, "%s: cannot load plugin: %s", p->path, dlerror());
        return -ENOENT;
    }
    const pt_plugin *const *d = dlsym(l->handle, "pt_plugin_desc");
    if (!d || !*d || (*d)->abi < 1 || (*d)->abi > PT_PLUGIN_ABI ||
        (!(*d)->on_event && !takes_batches(*d))) {
        snprintf(err, errlen,
                 "%s: not a ptools plugin of ABI 1 to %d (no "
                 "PT_PLUGIN(&desc), or another ABI)",
                 p->path, PT_PLUGIN_ABI);
        return -EINVAL;
    }
    l->desc = *d;
    return 0;
}

/* Load and open plugin p. */
static int load_one(loaded *l, const rn_plugin *p, const char *run_dir,
                    const char *run_name, char *err, size_t errlen)
{
    int rc = load_desc(l, p, err, errlen);
    if (rc < 0) {
        if (rc == -ENOMEM)
            snprintf(err, errlen, "out of memory");
        return rc;
    }
    l->ctx = (pt_plugin_ctx){.size = sizeof l->ctx,
                             .run_dir = run_dir,
                             .run_name = run_name,
                             .sys = &host_sys};
    pt_buf enc = {0}, js = {0};
    rc = encode_options(&p->options, &enc, &js);
    if (rc < 0) {
        snprintf(err, errlen, "%s: plugin %s: its options: %s", l->path,
                 l->desc->name, pt_strerror(rc));
        l->desc = NULL;
        pt_buf_free(&enc);
        pt_buf_free(&js);
        return rc;
    }
    l->ctx.options = enc.data, l->ctx.options_len = enc.len;
    rc = l->desc->open ? l->desc->open(&l->ctx, (char *)js.data) : 0;
    l->ctx.options = NULL, l->ctx.options_len = 0; /* valid during open */
    pt_buf_free(&enc);
    pt_buf_free(&js);
    if (rc != 0) {
        snprintf(err, errlen, "%s: plugin %s failed to open: %s", l->path,
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
        h->json |= h->p[h->n].desc->abi < 3;
        h->wanted |= wants(h->p[h->n].desc);
        h->batching |= takes_batches(h->p[h->n].desc);
        h->singles |= !takes_batches(h->p[h->n].desc);
    }
    /* not zeroed: rn_host_slot() and gather() fill each slot as it is
     * handed out, so a short run touches only the pages it uses (calloc
     * wrote all 54 KiB: 13 page faults at the start of every run) */
    if (h->batching &&
        (!(h->batch = malloc(BATCH_EVENTS * sizeof *h->batch)) ||
         !(h->arena = malloc(BATCH_BYTES)) ||
         !(h->doomed = malloc(BATCH_EVENTS * sizeof *h->doomed)))) {
        snprintf(err, errlen, "out of memory");
        rn_host_close(h);
        return NULL;
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

/*
 * For plugins of ABI < 3: one encoded map as JSON in `js`, "{}" when there
 * is none or it does not convert (a broken result from afar).
 */
static const char *as_json(const void *p, size_t n, pt_buf *js)
{
    pt_buf_reset(js);
    if (p && n && pt_value_to_json(p, n, js) == 0)
        return (const char *)js->data;
    return "{}";
}

/* The JSON members, made from the typed ones, when an old plugin is in. */
static void fill_json(rn_host *h, pt_event *ev)
{
    if (ev->args && !ev->args_json)
        ev->args_json = as_json(ev->args, ev->args_len, &h->args_js);
    if (ev->result && !ev->result_json)
        ev->result_json = as_json(ev->result, ev->result_len, &h->result_js);
}

/*
 * Hand evs[0..n-1] to the plugins that take batches (`batches`), or to
 * the others, one call per event: 0, or -1 when one failed on them.
 */
static int hand(rn_host *h, const pt_event *evs, size_t n, bool batches)
{
    int rc = 0;
    for (int i = 0; i < h->n; i++) {
        loaded *l = &h->p[i];
        if (!l->desc || l->failed || takes_batches(l->desc) != batches)
            continue;
        int bad = batches ? l->desc->on_events(&l->ctx, evs, n) : 0;
        for (size_t k = 0; !batches && k < n && !bad; k++)
            bad = l->desc->on_event(&l->ctx, &evs[k]);
        if (bad) {
            failed(l);
            rc = -1;
        }
    }
    return rc;
}

/* Hand the gathered batch over and start a new one (rn_host_slot()
 * zeroes each slot as it hands it out: the whole batch at once, 72 KiB,
 * went through the cache a second time). */
static int deliver(rn_host *h)
{
    int rc = 0;
    if (h->nbatch) /* (no batch at all while a failed open unwinds) */
        rc = hand(h, h->batch, h->nbatch, true);
    h->nbatch = 0;
    h->arena_len = 0;
    for (size_t i = 0; i < h->ndoomed; i++)
        h->doomed[i].free_fn(h->doomed[i].arg, h->doomed[i].p);
    h->ndoomed = 0;
    return rc;
}

/* The kinds that gather: a task's own events, many per task. */
static bool batchable(pt_event_type t)
{
    return t == PT_EV_TASK_QUEUED || t == PT_EV_TASK_STARTED ||
           t == PT_EV_TASK_FINISHED || t == PT_EV_TASK_RETRIED ||
           t == PT_EV_TASK_PRIORITY;
}

/* Room for n bytes in the arena: copies start 8-aligned, as encoded
 * values must (ptools/value.h). */
static size_t room(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static size_t str_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

/* Does ev point to any string to copy? Most task events do not. */
static bool has_strings(const pt_event *ev)
{
    return ((uintptr_t)ev->error | (uintptr_t)ev->attempts_json |
            (uintptr_t)ev->args_json | (uintptr_t)ev->result_json |
            (uintptr_t)ev->control) != 0;
}

/* The bytes ev points to (not the spec's names, which outlive the run). */
static size_t data_size(const pt_event *ev)
{
    if (!has_strings(ev))
        return room(ev->args ? ev->args_len : 0) +
               room(ev->result ? ev->result_len : 0);
    return room(ev->args ? ev->args_len : 0) +
           room(ev->result ? ev->result_len : 0) + room(str_size(ev->error)) +
           room(str_size(ev->attempts_json)) + room(str_size(ev->args_json)) +
           room(str_size(ev->result_json)) + room(str_size(ev->control));
}

/* A copy of n bytes at p in the arena (room is known), or NULL for NULL. */
static const void *keep(rn_host *h, const void *p, size_t n)
{
    if (!p)
        return NULL;
    char *at = h->arena + h->arena_len;
    memcpy(at, p, n);
    h->arena_len += room(n);
    return at;
}

static const char *keep_str(rn_host *h, const char *s)
{
    return keep(h, s, str_size(s));
}

/*
 * Add ev to the batch, with a copy of what it points to: its request and
 * reply are gone by the time the batch is handed over. An event too big
 * for the arena goes at once, after the batch before it. ev may be the
 * batch's next slot (rn_host_slot()): then it is not copied.
 */
static int gather(rn_host *h, const pt_event *ev)
{
    bool slot = ev == &h->batch[h->nbatch]; /* its args stay: not copied */
    size_t need = data_size(ev) -
                  (slot ? room(ev->args ? ev->args_len : 0) : 0);
    int rc = 0;
    pt_event moved;
    if (h->nbatch == BATCH_EVENTS || h->arena_len + need > BATCH_BYTES) {
        if (slot) { /* out of the way */
            moved = *ev;
            ev = &moved;
            memset(&h->batch[h->nbatch], 0, sizeof *ev);
        }
        rc = deliver(h);
    }
    if (need > BATCH_BYTES)
        return hand(h, ev, 1, true) < 0 ? -1 : rc;
    pt_event *c = &h->batch[h->nbatch++];
    if (c != ev)
        *c = *ev;
    if (!slot)
        c->args = keep(h, c->args, c->args_len);
#if defined(__GNUC__)
    else if (c->args) /* read when the batch goes: fetched meanwhile */
        __builtin_prefetch(c->args);
#endif
    c->result = keep(h, c->result, c->result_len);
    if (!has_strings(c))
        return rc;
    c->error = keep_str(h, c->error);
    c->attempts_json = keep_str(h, c->attempts_json);
    c->args_json = keep_str(h, c->args_json);
    c->result_json = keep_str(h, c->result_json);
    c->control = keep_str(h, c->control);
    return rc;
}

bool rn_host_wants(const rn_host *h, pt_event_type t)
{
    return (h->wanted & PT_EV_MASK(t)) != 0;
}

pt_event *rn_host_slot(rn_host *h, pt_event *own)
{
    if (!h || !h->batching || h->singles || h->json) {
        memset(own, 0, sizeof *own);
        return own;
    }
    if (h->nbatch == BATCH_EVENTS && deliver(h) < 0)
        h->late_failure = true;
    pt_event *ev = &h->batch[h->nbatch];
    memset(ev, 0, sizeof *ev);
    return ev;
}

int rn_host_emit(rn_host *h, pt_event *ev)
{
    if (!h)
        return 0;
    ev->size = sizeof *ev;
    ev->run_name = h->run_name;
    if (h->json)
        fill_json(h, ev);
    int rc = h->singles ? hand(h, ev, 1, false) : 0;
    if (h->late_failure) {
        h->late_failure = false;
        rc = -1;
    }
    if (!h->batching)
        return rc;
    if (batchable(ev->type))
        return gather(h, ev) < 0 ? -1 : rc;
    pt_event alone;
    if (ev == &h->batch[h->nbatch]) { /* a slot, but not a task event */
        alone = *ev;
        memset(ev, 0, sizeof *ev);
        ev = &alone;
    }
    int before = deliver(h); /* the batch comes first */
    return hand(h, ev, 1, true) < 0 || before < 0 ? -1 : rc;
}

void rn_host_free_later(rn_host *h, void (*free_fn)(void *arg, void *p),
                        void *arg, void *p)
{
    if (!p)
        return;
    if (!h || !h->batching) { /* nothing gathered points to it */
        free_fn(arg, p);
        return;
    }
    if (h->ndoomed == BATCH_EVENTS && deliver(h) < 0)
        h->late_failure = true;
    h->doomed[h->ndoomed++] = (later){free_fn, arg, p};
}

int rn_host_deliver(rn_host *h)
{
    return h && h->batching ? deliver(h) : 0;
}

int rn_host_flush(rn_host *h)
{
    int rc = rn_host_deliver(h); /* what is gathered is written too */
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
    int rc = rn_host_deliver(h);
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
    if (h) {
        free(h->p);
        pt_buf_free(&h->args_js);
        pt_buf_free(&h->result_js);
        free(h->batch);
        free(h->arena);
        free(h->doomed);
    }
    free(h);
    return rc;
}
