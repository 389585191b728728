/* prefault.c - map fresh memory in one call (see prefault.h). */
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/prefault.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

static size_t page_size(void)
{
    static size_t size;
    if (!size) {
        long n = sysconf(_SC_PAGESIZE);
        size = n > 0 ? (size_t)n : 4096;
    }
    return size;
}

void rn_prefault(void *p, size_t len)
{
    if (!p || !len)
        return;
    size_t page = page_size();
    uintptr_t lo = (uintptr_t)p & ~(uintptr_t)(page - 1);
    uintptr_t hi = ((uintptr_t)p + len + page - 1) & ~(uintptr_t)(page - 1);
    (void)madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE); /* a hint */
}

void *rn_map(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void rn_unmap(void *p, size_t len)
{
    if (p)
        (void)munmap(p, len);
}
