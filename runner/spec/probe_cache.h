/*
 * probe_cache.h - the reports of probes that passed, kept between runs so
 * that a job whose kernels and plugins have not changed starts without a
 * probe child (probe.h).
 *
 * A report is kept under a key made of everything it depends on: this
 * ptrun (its version, kernel ABI, and its executable's identity), the
 * request (kernels or plugin, the path, the names looked up, the plugin's
 * options) and the sha256 of the library's content, so that a rebuilt
 * .so (any changed byte, whatever its times) is probed again. Only
 * reports of libraries that passed are kept: a refusal is always
 * reported afresh. Files live in $PTRUN_CACHE_DIR/probe/ (default
 * $XDG_CACHE_HOME/ptools, else ~/.cache/ptools), at most 256 of them
 * (the oldest go first); PTRUN_CACHE_DIR=off turns the cache off. A cached
 * report is decoded like a fresh one, never trusted; a cache that cannot be
 * read or written is as if empty.
 */
#ifndef RN_PROBE_CACHE_H
#define RN_PROBE_CACHE_H

#include <ptools/buf.h>

#include "spec/probe_impl.h"

#define RN_CACHE_ENV "PTRUN_CACHE_DIR"

/* The cache key of request r (64 hex digits): 0, or -errno when there is
 * no cache (turned off, no folder for it, the library cannot be read). */
int rn_probe_cache_key(const rn_probe_req *r, char key[65]);

/* The report kept under `key` (the loaded mark, then the encoded report)
 * appended to out: 0, -ENOENT when none, or -errno. */
int rn_probe_cache_get(const char key[65], pt_buf *out);

/* Keep `len` bytes of report under `key` (best effort, atomic). */
void rn_probe_cache_put(const char key[65], const void *data, size_t len);

#endif
