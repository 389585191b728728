/*
 * prefault.h - map fresh memory in one call instead of a page fault per
 * page. A fault costs ~13 us on a paravirtualized VM; Linux's
 * MADV_POPULATE_WRITE (5.14) maps a range at ~1 us a page. Memory the
 * runner fills as a run goes on (a byte per task, latency samples) is
 * prefaulted a chunk at a time.
 */
#ifndef RN_PREFAULT_H
#define RN_PREFAULT_H

#include <stddef.h>

/* Map every page holding a byte of [p, p + len) (allocated memory) for
 * writing; contents are kept. A hint: without the call (older kernels,
 * no memory) the pages fault as they are touched, as before. */
void rn_prefault(void *p, size_t len);

/* A fresh private anonymous mapping of `len` bytes, mapped as it is
 * prefaulted (not at once), or NULL; freed by rn_unmap(). */
void *rn_map(size_t len);
void rn_unmap(void *p, size_t len);

#endif
