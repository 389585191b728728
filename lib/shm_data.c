/*
 * shm_data.c - the data of a shared memory segment (see ptools/shm.h):
 * mapped between guard pages, filled with a value, loaded from and saved
 * to .npy files. shm.c names, creates and attaches segments.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include <ptools/npy.h>
#include <ptools/shm.h>

#include "internal.h"
#include "os.h"
#include "shm_impl.h"

/* Guard bytes held by this process's mappings (pt__shm_guard_bytes). */
static _Atomic size_t guard_total;

size_t pt__shm_guard_bytes(void)
{
    return atomic_load(&guard_total);
}

/* Unmap [p, p + len), if anything: 0 or -errno. */
static int unmap_span(void *p, size_t len)
{
    if (len && munmap(p, len) < 0)
        return -errno;
    return 0;
}

/* Unmap what lies in [res, res + span) around [keep, keep + len). */
static int trim(char *res, size_t span, char *keep, size_t len)
{
    int rc = unmap_span(res, (size_t)(keep - res));
    if (rc == 0)
        rc = unmap_span(keep + len, (size_t)(res + span - keep - len));
    return rc;
}

/* Guard bytes on each side of a data mapping of `len` bytes. */
static size_t guard_for(size_t len)
{
    uint64_t g = round_up(len, GUARD_UNIT);
    if (g < GUARD_UNIT)
        return GUARD_UNIT;
    return g > GUARD_MAX ? GUARD_MAX : (size_t)g;
}

/*
 * Where in the reservation `res` the data goes: past the low guard, at an
 * address congruent to its file offset modulo `align`, so that a big
 * segment's 2 MiB file pages can be mapped as huge pages.
 */
static char *place_data(char *res, size_t guard, uint64_t offset, size_t align)
{
    uintptr_t lo = (uintptr_t)res + guard;
    return (char *)(lo + (((uintptr_t)offset - lo) & (align - 1)));
}

/*
 * Map `len` bytes of `fd` from `offset` (page multiples both) between two
 * PROT_NONE guards: reserve the whole range anonymously (address space, no
 * memory), map the data over its middle with MAP_FIXED, and give back what
 * alignment left over, so that one munmap of the range undoes it all.
 */
int pt__shm_map_guarded(pt_shm *s, int fd, uint64_t offset, size_t len,
                        int prot)
{
    size_t guard = guard_for(len);
    size_t align = len >= GUARD_UNIT ? GUARD_UNIT : page_size();
    size_t span = guard + (align - page_size()) + len + guard;
    char *res = pt_sys_mmap(NULL, span, PROT_NONE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (res == MAP_FAILED)
        return pt__err(-errno,
                       "%s: cannot reserve %zu bytes of address "
                       "space (%zu of data and guards): %s",
                       s->path, span, len, strerror(errno));
    char *data = place_data(res, guard, offset, align);
    int rc = 0;
    if (pt_sys_mmap(data, len, prot, MAP_SHARED | MAP_FIXED, fd,
                    (off_t)offset) == MAP_FAILED)
        rc = pt__err(-errno, "%s: mmap of %zu bytes: %s", s->path, len,
                     strerror(errno));
    if (rc == 0 && (rc = trim(res, span, data - guard, len + 2 * guard)) < 0)
        rc = pt__err(rc, "%s: munmap: %s", s->path, strerror(-rc));
    if (rc < 0) {
        munmap(res, span); /* what is left of it: the error is rc's */
        return rc;
    }
    s->data = data;
    s->data_len = len;
    s->guard = guard;
    if (s->layout == SHM_THP)
        pt__os_advise_huge(data, len); /* kept by fork: workers get it */
    atomic_fetch_add(&guard_total, 2 * guard);
    return 0;
}

/* Undo pt__shm_map_guarded: the data and both guards, in one call. */
int pt__shm_unmap_guarded(pt_shm *s)
{
    if (!s->data)
        return 0;
    if (munmap(s->data - s->guard, s->data_len + 2 * s->guard) < 0)
        return pt__err(-errno, "%s: munmap: %s", s->path, strerror(errno));
    atomic_fetch_sub(&guard_total, 2 * s->guard);
    s->data = NULL;
    return 0;
}

/* Store `value` converted to type T in every element of a view. */
#define FILL_AS(T, v, value)                                                   \
    do {                                                                       \
        T x = (T)(value), *p = (v)->data;                                      \
        for (uint64_t i = 0; i < (v)->size; i++)                               \
            p[i] = x;                                                          \
    } while (0)

/* Can `value` be stored in type t without overflow (C leaves it undefined)? */
static int fits(pt_dtype t, double value)
{
    static const double lim[PT_DTYPE_COUNT][2] = {
        [PT_INT8] = {INT8_MIN, INT8_MAX},
        [PT_INT16] = {INT16_MIN, INT16_MAX},
        [PT_INT32] = {INT32_MIN, INT32_MAX},
        [PT_INT64] = {-0x1p63, 0x1p63},
        [PT_UINT8] = {0, UINT8_MAX},
        [PT_UINT16] = {0, UINT16_MAX},
        [PT_UINT32] = {0, UINT32_MAX},
        [PT_UINT64] = {0, 0x1p64},
        [PT_FLOAT32] = {-FLT_MAX, FLT_MAX},
        [PT_FLOAT64] = {-DBL_MAX, DBL_MAX},
    };
    if (isnan(value))
        return t == PT_FLOAT32 || t == PT_FLOAT64;
    if (isinf(value))
        return t == PT_FLOAT32 || t == PT_FLOAT64;
    int top_open = t == PT_INT64 || t == PT_UINT64; /* 2^63, 2^64 excluded */
    return value >= lim[t][0] &&
           (top_open ? value < lim[t][1] : value <= lim[t][1]);
}

int pt_shm_fill(pt_shm *s, double value)
{
    const pt_shm_view *v = &s->view;
    if (!fits(v->type, value))
        return pt__err(-ERANGE, "%s: %g does not fit in %s", s->path, value,
                       pt_dtype_name(v->type));
    switch (v->type) {
    case PT_INT8: FILL_AS(int8_t, v, value); break;
    case PT_INT16: FILL_AS(int16_t, v, value); break;
    case PT_INT32: FILL_AS(int32_t, v, value); break;
    case PT_INT64: FILL_AS(int64_t, v, value); break;
    case PT_UINT8: FILL_AS(uint8_t, v, value); break;
    case PT_UINT16: FILL_AS(uint16_t, v, value); break;
    case PT_UINT32: FILL_AS(uint32_t, v, value); break;
    case PT_UINT64: FILL_AS(uint64_t, v, value); break;
    case PT_FLOAT32: FILL_AS(float, v, value); break;
    case PT_FLOAT64: FILL_AS(double, v, value); break;
    default: return pt__err(-EINVAL, "%s: invalid type", s->path);
    }
    return 0;
}

int pt_shm_load_npy(pt_shm *s, const char *path)
{
    const pt_shm_view *v = &s->view;
    return pt_npy_load(path, v->type, v->ndims, v->dims, v->data, v->nbytes);
}

int pt_shm_save_npy(const pt_shm *s, const char *path)
{
    const pt_shm_view *v = &s->view;
    return pt_npy_save(path, v->type, v->ndims, v->dims, v->data);
}
