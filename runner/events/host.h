/*
 * host.h - ptrun's side of the plugin ABI: load plugin .so files, hand
 * them every event, close them. A plugin that fails is reported once on
 * stderr and dropped; the run goes on (its other outputs stay valid).
 * Only a plugin whose spec check probed it in a child (rn_plugin.probed,
 * probe.h) is loaded: user code never runs here before a child survived it.
 * The default jsonl is not loaded: plugins/jsonl.c is compiled into ptrun
 * (rn_jsonl_builtin), which saves a dlopen of it and libptools.so at every
 * start; jsonl.so stays, for a spec that lists `{name: jsonl}`.
 */
#ifndef RN_HOST_H
#define RN_HOST_H

#include <ptools/plugin.h>

#include "spec/spec.h"

typedef struct rn_host rn_host;

/* The jsonl plugin's descriptor, built in (plugins/jsonl.c, compiled with
 * PT_PLUGIN_BUILTIN=rn_jsonl_builtin). */
extern const pt_plugin *const rn_jsonl_builtin;

/* Load and open the spec's plugins. NULL with a message in err. */
rn_host *rn_host_open(const rn_spec *spec, const char *run_dir, char *err,
                      size_t errlen);
/*
 * Send one event to every plugin (ev->size and run_name are filled in):
 * 0, or -1 when a plugin failed on it or on the batch it ended (it is
 * reported and dropped). Plugins that take batches (ABI 4 on_events) get
 * task events later, gathered, with copies of what they point to: see
 * rn_host_deliver().
 */
int rn_host_emit(rn_host *h, pt_event *ev);
/*
 * Where to build a task event for rn_host_emit(), zeroed: the batch's next
 * slot when every plugin takes batches (so the event is not copied there),
 * else `own`. Set its members one by one (assigning a whole struct would
 * zero it again), and emit it before any other call to the host; after
 * the emit, it and what it points to stay valid until the next call.
 * Its `args` are not copied either: the caller frees them only through
 * rn_host_free_later().
 */
pt_event *rn_host_slot(rn_host *h, pt_event *own);
/* Does some loaded plugin take events of type t (plugin ABI 5 `events`)?
 * No need to make one otherwise. */
bool rn_host_wants(const rn_host *h, pt_event_type t);
/*
 * Free p with free_fn(arg, p) (or recycle it) once no gathered event can
 * point to it: after the batch is handed over (at once when no plugin
 * takes batches, or h is NULL). Never fails: a full list hands the batch
 * over first.
 */
void rn_host_free_later(rn_host *h, void (*free_fn)(void *arg, void *p),
                        void *arg, void *p);
/*
 * Hand the gathered task events to the plugins that take batches. Any
 * other event does it first, and so do flush and close; call it before
 * waiting idle, so that plugins see a started task while it runs. 0, or
 * -1 when one failed (reported and dropped).
 */
int rn_host_deliver(rn_host *h);
/* Deliver the batch, then have every plugin write what it buffers
 * (plugin ABI 2 flush): 0, or -1 when one failed (reported and
 * dropped). */
int rn_host_flush(rn_host *h);
/* Close every plugin: 0, or -1 if one failed (reported on stderr). */
int rn_host_close(rn_host *h);

#endif
