/* shm.c - typed POSIX shared memory segments (see ptools/shm.h). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ptools/npy.h>
#include <ptools/shm.h>

#include "internal.h"
#include "os.h"

#define SHM_MAGIC "PTOOLSHM"
#define SHM_VERSION 1
#define SHM_ALIGN 64
#define SHM_PATH_MAX (8 + 2 * PT_SHM_NAME_MAX + 2)

/*
 * The header at offset 0 of every segment. Its magic is written last, so a
 * segment whose magic is missing is still being created (or its creator died
 * in the few instructions before that).
 */
struct shm_header {
    char magic[8];
    uint32_t version;
    uint32_t type;
    uint32_t ndims;
    uint32_t prefix_len; /* the prefix is path[8 .. 8 + prefix_len) */
    uint64_t dims[PT_SHM_MAXDIMS];
    uint64_t data_offset;
    uint64_t nbytes;
    int64_t owner_pid;
    uint64_t owner_start;
    char path[SHM_PATH_MAX];
};

#define HEADER_SIZE \
    ((sizeof(struct shm_header) + SHM_ALIGN - 1) / SHM_ALIGN * SHM_ALIGN)

struct pt_shm {
    struct shm_header *hdr; /* the start of the mapping */
    size_t map_size;
    int named;     /* the name is still linked by us */
    pt_shm_view view;
    char path[SHM_PATH_MAX];
};

static int valid_part(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > PT_SHM_NAME_MAX)
        return 0;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789_-") == n;
}

int pt_shm_path(const char *prefix, const char *name, char *buf, size_t size)
{
    if (!valid_part(prefix))
        return pt__err(-EINVAL, "shm prefix '%s' is not [A-Za-z0-9_-]{1,%d}",
                       prefix ? prefix : "(null)", PT_SHM_NAME_MAX);
    if (!valid_part(name))
        return pt__err(-EINVAL, "shm name '%s' is not [A-Za-z0-9_-]{1,%d}",
                       name ? name : "(null)", PT_SHM_NAME_MAX);
    int n = snprintf(buf, size, "/ptools_%s_%s", prefix, name);
    if (n < 0 || (size_t)n >= size)
        return pt__err(-ENAMETOOLONG, "shm name /ptools_%s_%s is too long",
                       prefix, name);
    return 0;
}

/* Describe a type and shape as "float64[3, 4]" for error messages. */
static const char *shape_str(char *buf, size_t size, pt_dtype type, int ndims,
                             const uint64_t *dims)
{
    const char *tn = pt_dtype_name(type);
    int off = snprintf(buf, size, "%s[", tn ? tn : "?");
    for (int i = 0; i < ndims && off > 0 && (size_t)off < size; i++)
        off += snprintf(buf + off, size - (size_t)off, "%s%" PRIu64,
                        i ? ", " : "", dims[i]);
    if (off > 0 && (size_t)off < size)
        snprintf(buf + off, size - (size_t)off, "]");
    return buf;
}

/* Element count and byte size of a shape, refusing overflow. */
static int shape_size(const char *path, pt_dtype type, int ndims,
                      const uint64_t *dims, uint64_t *elems, uint64_t *total)
{
    if (!pt_dtype_size(type))
        return pt__err(-EINVAL, "%s: invalid element type %d", path, type);
    if (ndims < 1 || ndims > PT_SHM_MAXDIMS)
        return pt__err(-EINVAL, "%s: %d dims (must be 1 to %d)", path, ndims,
                       PT_SHM_MAXDIMS);
    uint64_t n = 1;
    for (int i = 0; i < ndims; i++) {
        if (dims[i] == 0)
            return pt__err(-EINVAL, "%s: dim %d is 0", path, i);
        if (n > UINT64_MAX / dims[i])
            return pt__err(-EOVERFLOW, "%s: dims overflow 64 bits", path);
        n *= dims[i];
    }
    uint64_t es = pt_dtype_size(type);
    uint64_t limit = (uint64_t)(SIZE_MAX < INT64_MAX ? SIZE_MAX : INT64_MAX);
    if (n > (limit - HEADER_SIZE) / es)
        return pt__err(-EOVERFLOW, "%s: %" PRIu64 " elements of %" PRIu64
                       " bytes do not fit in memory", path, n, es);
    *elems = n;
    *total = HEADER_SIZE + n * es;
    return 0;
}

/* Fill the public view from a mapped, checked header. */
static void fill_view(pt_shm *s)
{
    struct shm_header *h = s->hdr;
    pt_shm_view *v = &s->view;
    v->data = (char *)h + h->data_offset;
    v->type = (pt_dtype)h->type;
    v->ndims = (int)h->ndims;
    v->size = 1;
    for (int i = 0; i < v->ndims; i++) {
        v->dims[i] = h->dims[i];
        v->size *= h->dims[i];
    }
    v->nbytes = h->nbytes;
    v->name = s->path + 8 + h->prefix_len + 1;
}

static pt_shm *handle_new(const char *path)
{
    pt_shm *s = calloc(1, sizeof *s);
    if (!s) {
        pt__err(-ENOMEM, "%s: out of memory", path);
        errno = ENOMEM;
        return NULL;
    }
    snprintf(s->path, sizeof s->path, "%s", path);
    return s;
}

/* Reserve the segment's bytes so a full /dev/shm fails now, not as SIGBUS. */
static int reserve(int fd, const char *path, uint64_t total)
{
    uint64_t avail;
    if (pt__os_shm_free(&avail) == 0 && total > avail)
        return pt__err(-ENOSPC, "%s: segment needs %" PRIu64 " bytes but %s "
                       "has only %" PRIu64 " free", path, total,
                       pt__os_shm_dir(), avail);
    if (ftruncate(fd, (off_t)total) < 0)
        return pt__err(-errno, "%s: ftruncate to %" PRIu64 " bytes: %s", path,
                       total, strerror(errno));
    int rc;
    do
        rc = posix_fallocate(fd, 0, (off_t)total);
    while (rc == EINTR);
    if (rc == ENOSPC)
        return pt__err(-ENOSPC, "%s: segment needs %" PRIu64 " bytes but %s "
                       "could not reserve them (%" PRIu64 " were free)", path,
                       total, pt__os_shm_dir(), avail);
    /* EINVAL/EOPNOTSUPP: a file system without fallocate; go on unreserved. */
    if (rc && rc != EINVAL && rc != EOPNOTSUPP)
        return pt__err(-rc, "%s: posix_fallocate: %s", path, strerror(rc));
    return 0;
}

static void write_header(pt_shm *s, const pt_shm_opts *o, uint64_t nbytes)
{
    struct shm_header *h = s->hdr;
    h->version = SHM_VERSION;
    h->type = (uint32_t)o->type;
    h->ndims = (uint32_t)o->ndims;
    h->prefix_len = (uint32_t)strlen(o->prefix);
    memcpy(h->dims, o->dims, sizeof h->dims[0] * (size_t)o->ndims);
    h->data_offset = HEADER_SIZE;
    h->nbytes = nbytes;
    h->owner_pid = getpid();
    uint64_t start = 0;
    pt__os_proc_start_time(getpid(), &start);
    h->owner_start = start;
    snprintf(h->path, sizeof h->path, "%s", s->path);
    atomic_thread_fence(memory_order_release);
    memcpy(h->magic, SHM_MAGIC, sizeof h->magic);
}

static int reclaim_if_dead(const char *path);

/* shm_open with O_EXCL; a leftover of a dead owner is reclaimed once. */
static int open_new(const char *path)
{
    for (int attempt = 0;; attempt++) {
        int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0)
            return fd;
        int err = errno;
        if (err == EEXIST && attempt == 0 && reclaim_if_dead(path) == 1)
            continue;
        return pt__err(-err, "%s: cannot create: %s%s", path, strerror(err),
                       err == EEXIST ? " (its owner is alive, or it is not a "
                                       "ptools segment)" : "");
    }
}

pt_shm *pt_shm_create(const pt_shm_opts *o)
{
    char path[SHM_PATH_MAX];
    uint64_t elems, total;
    int rc = pt_shm_path(o->prefix, o->name, path, sizeof path);
    if (rc == 0)
        rc = shape_size(path, o->type, o->ndims, o->dims, &elems, &total);
    if (rc < 0)
        goto fail;
    int fd = rc = open_new(path);
    if (rc < 0)
        goto fail;
    rc = reserve(fd, path, total);
    if (rc < 0)
        goto fail_unlink;
    void *base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        rc = pt__err(-errno, "%s: mmap of %" PRIu64 " bytes: %s", path, total,
                     strerror(errno));
        goto fail_unlink;
    }
    pt_shm *s = handle_new(path);
    if (!s) {
        rc = -ENOMEM;
        goto fail_unmap;
    }
    s->hdr = base;
    s->map_size = total;
    write_header(s, o, elems * pt_dtype_size(o->type));
    fill_view(s);
    pt__close(fd);
    s->named = 1;
    if (!o->named)
        pt_shm_unlink(s);
    return s;

fail_unmap:
    munmap(base, total);
fail_unlink:
    shm_unlink(path);
    pt__close(fd);
fail:
    errno = -rc;
    return NULL;
}

/* Check a mapped header against the file's size: 0 or -EINVAL. */
static int check_header(const char *path, const struct shm_header *h,
                        uint64_t file_size)
{
    if (memcmp(h->magic, SHM_MAGIC, sizeof h->magic) != 0)
        return pt__err(-EINVAL, "%s: not a ptools segment (bad magic)", path);
    atomic_thread_fence(memory_order_acquire);
    if (h->version != SHM_VERSION)
        return pt__err(-EINVAL, "%s: segment version %" PRIu32 ", this "
                       "library reads %d", path, h->version, SHM_VERSION);
    uint64_t elems, total;
    if (h->data_offset != HEADER_SIZE ||
        shape_size(path, (pt_dtype)h->type, (int)h->ndims, h->dims, &elems,
                   &total) < 0 ||
        h->nbytes != elems * pt_dtype_size((pt_dtype)h->type) ||
        total > file_size || h->prefix_len > PT_SHM_NAME_MAX ||
        memchr(h->path, '\0', sizeof h->path) == NULL)
        return pt__err(-EINVAL, "%s: corrupt segment header", path);
    return 0;
}

/* Compare a segment's type and shape with what the caller expects. */
static int check_expect(const pt_shm *s, const pt_shm_opts *e)
{
    const pt_shm_view *v = &s->view;
    int same = e->type == PT_DTYPE_NONE || e->type == v->type;
    if (e->ndims) {
        same = same && e->ndims == v->ndims &&
               memcmp(e->dims, v->dims, sizeof v->dims[0] * (size_t)v->ndims)
                   == 0;
    }
    if (same)
        return 0;
    char have[160], want[160];
    shape_str(have, sizeof have, v->type, v->ndims, v->dims);
    shape_str(want, sizeof want, e->type ? e->type : v->type,
              e->ndims ? e->ndims : v->ndims, e->ndims ? e->dims : v->dims);
    return pt__err(-EINVAL, "%s: segment is %s, expected %s", s->path, have,
                   want);
}

/* Map an open segment whole, check its header, fill *out. */
static int map_existing(int fd, const char *path, int prot, pt_shm *s)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return pt__err(-errno, "%s: fstat: %s", path, strerror(errno));
    if ((uint64_t)st.st_size < HEADER_SIZE)
        return pt__err(-EINVAL, "%s: not a ptools segment (%lld bytes)", path,
                       (long long)st.st_size);
    void *base = mmap(NULL, (size_t)st.st_size, prot, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED)
        return pt__err(-errno, "%s: mmap: %s", path, strerror(errno));
    int rc = check_header(path, base, (uint64_t)st.st_size);
    if (rc < 0) {
        munmap(base, (size_t)st.st_size);
        return rc;
    }
    s->hdr = base;
    s->map_size = (size_t)st.st_size;
    return 0;
}

pt_shm *pt_shm_attach(const char *prefix, const char *name,
                      const pt_shm_opts *expect)
{
    char path[SHM_PATH_MAX];
    pt_shm *s = NULL;
    int rc = pt_shm_path(prefix, name, path, sizeof path);
    if (rc < 0)
        goto fail;
    int fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) {
        rc = pt__err(-errno, "%s: cannot attach: %s", path, strerror(errno));
        goto fail;
    }
    s = handle_new(path);
    rc = s ? map_existing(fd, path, PROT_READ | PROT_WRITE, s) : -ENOMEM;
    pt__close(fd);
    if (rc < 0)
        goto fail;
    fill_view(s);
    if (expect && (rc = check_expect(s, expect)) < 0)
        goto fail;
    return s;

fail:
    if (s)
        pt_shm_detach(s);
    errno = -rc;
    return NULL;
}

int pt_shm_detach(pt_shm *s)
{
    int rc = 0;
    if (!s)
        return 0;
    if (s->hdr && munmap(s->hdr, s->map_size) < 0)
        rc = pt__err(-errno, "%s: munmap: %s", s->path, strerror(errno));
    free(s);
    return rc;
}

int pt_shm_unlink(pt_shm *s)
{
    if (shm_unlink(s->path) < 0 && errno != ENOENT)
        return pt__err(-errno, "%s: shm_unlink: %s", s->path,
                       strerror(errno));
    s->named = 0;
    return 0;
}

const pt_shm_view *pt_shm_view_of(const pt_shm *s)
{
    return &s->view;
}

/* Is the process recorded in a header gone (dead, or its pid reused)? */
static int owner_dead(const struct shm_header *h)
{
    uint64_t start;
    int rc = pt__os_proc_start_time((pid_t)h->owner_pid, &start);
    if (rc == -ESRCH)
        return 1;
    return rc == 0 && h->owner_start != 0 && start != h->owner_start;
}

/*
 * Unlink the segment at `path` when it is a ptools segment whose owner is
 * dead; `prefix` (may be NULL) must then match its prefix exactly. Returns 1
 * when removed, 0 when left alone, -errno on failure.
 */
static int reclaim(const char *path, const char *prefix)
{
    int fd = shm_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return errno == ENOENT || errno == EACCES ? 0 : -errno;
    pt_shm s = {0};
    int rc = map_existing(fd, path, PROT_READ, &s);
    pt__close(fd);
    if (rc < 0)
        return 0; /* not ours to judge: leave it */
    const struct shm_header *h = s.hdr;
    int match = !prefix || (strlen(prefix) == h->prefix_len &&
                            strncmp(h->path + 8, prefix, h->prefix_len) == 0);
    int dead = match && strcmp(h->path, path) == 0 && owner_dead(h);
    munmap(s.hdr, s.map_size);
    if (!dead)
        return 0;
    if (shm_unlink(path) < 0)
        return errno == ENOENT ? 0 : -errno;
    return 1;
}

static int reclaim_if_dead(const char *path)
{
    return reclaim(path, NULL);
}

int pt_shm_clean(const char *prefix)
{
    if (prefix && !valid_part(prefix))
        return pt__err(-EINVAL, "shm prefix '%s' is not [A-Za-z0-9_-]{1,%d}",
                       prefix, PT_SHM_NAME_MAX);
    const char *dir = pt__os_shm_dir();
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d)
        return pt__err(dir ? -errno : -ENOSYS, "cannot list %s: %s",
                       dir ? dir : "shared memory", strerror(errno));
    int removed = 0, rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "ptools_", 7) != 0 || len >= SHM_PATH_MAX - 1)
            continue;
        char path[SHM_PATH_MAX];
        path[0] = '/';
        memcpy(path + 1, e->d_name, len + 1);
        int r = reclaim(path, prefix);
        if (r > 0)
            removed++;
        else if (r < 0 && rc == 0)
            rc = pt__err(r, "%s: cannot remove: %s", path, strerror(-r));
    }
    closedir(d);
    return rc < 0 ? rc : removed;
}

/* Store `value` converted to type T in every element of a view. */
#define FILL_AS(T, v, value)                                                  \
    do {                                                                      \
        T x = (T)(value), *p = (v)->data;                                     \
        for (uint64_t i = 0; i < (v)->size; i++)                              \
            p[i] = x;                                                         \
    } while (0)

/* Can `value` be stored in type t without overflow (C leaves it undefined)? */
static int fits(pt_dtype t, double value)
{
    static const double lim[PT_DTYPE_COUNT][2] = {
        [PT_INT8] = {INT8_MIN, INT8_MAX},     [PT_INT16] = {INT16_MIN, INT16_MAX},
        [PT_INT32] = {INT32_MIN, INT32_MAX},  [PT_INT64] = {-0x1p63, 0x1p63},
        [PT_UINT8] = {0, UINT8_MAX},          [PT_UINT16] = {0, UINT16_MAX},
        [PT_UINT32] = {0, UINT32_MAX},        [PT_UINT64] = {0, 0x1p64},
        [PT_FLOAT32] = {-FLT_MAX, FLT_MAX},   [PT_FLOAT64] = {-DBL_MAX, DBL_MAX},
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
