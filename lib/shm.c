/*
 * shm.c - typed POSIX shared memory segments (see ptools/shm.h): their
 * names, headers, creation and attachment, and the reclaiming of dead
 * owners' segments. Their data's guarded mapping is in shm_data.c.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ptools/shm.h>

#include "internal.h"
#include "os.h"
#include "shm_impl.h"

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
                      const uint64_t *dims, uint64_t *elems, uint64_t *nbytes)
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
    if (n > (limit - SHM_OVERHEAD) / es)
        return pt__err(-EOVERFLOW,
                       "%s: %" PRIu64 " elements of %" PRIu64
                       " bytes do not fit in memory",
                       path, n, es);
    *elems = n;
    *nbytes = n * es;
    return 0;
}

/* Fill the public view from the checked header and the data mapping. */
static void fill_view(pt_shm *s)
{
    const struct shm_header *h = &s->hdr;
    pt_shm_view *v = &s->view;
    v->data = s->data;
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

/*
 * Reserve the segment's bytes so a full /dev/shm fails now, not as SIGBUS:
 * check there is room for the `total` it needs, size the file to `size`
 * and allocate its first `alloc` bytes (the rest is pt__shm_populate's).
 */
static int reserve(int fd, const char *path, uint64_t size, uint64_t total,
                   uint64_t alloc)
{
    uint64_t avail = 0;
    int known = pt__os_shm_free(&avail) == 0;
    if (known && total > avail)
        return pt__err(-ENOSPC,
                       "%s: segment needs %" PRIu64 " bytes but %s "
                       "has only %" PRIu64 " free",
                       path, total, pt__os_shm_dir(), avail);
    int rc = pt_sys_ftruncate(fd, (off_t)size);
    if (rc < 0)
        return pt__err(rc, "%s: ftruncate to %" PRIu64 " bytes: %s", path, size,
                       pt_strerror(rc));
    rc = pt_sys_fallocate(fd, 0, (off_t)alloc);
    if (rc == -ENOSPC && known)
        return pt__err(-ENOSPC,
                       "%s: segment needs %" PRIu64 " bytes but %s "
                       "could not reserve them: %s (%" PRIu64 " were free)",
                       path, total, pt__os_shm_dir(), pt_strerror(rc), avail);
    /* EINVAL/EOPNOTSUPP: a file system without fallocate; go on unreserved. */
    if (rc && rc != -EINVAL && rc != -EOPNOTSUPP)
        return pt__err(rc, "%s: posix_fallocate: %s", path, pt_strerror(rc));
    return 0;
}

/* The header of a new segment, in the handle: its data starts where its
 * layout says (s->layout). */
static void build_header(pt_shm *s, const pt_shm_opts *o, uint64_t nbytes)
{
    struct shm_header *h = &s->hdr;
    memcpy(h->magic, SHM_MAGIC, sizeof h->magic);
    h->version = SHM_VERSION;
    h->type = (uint32_t)o->type;
    h->ndims = (uint32_t)o->ndims;
    h->prefix_len = (uint32_t)strlen(o->prefix);
    memcpy(h->dims, o->dims, sizeof h->dims[0] * (size_t)o->ndims);
    h->data_offset = pt__shm_data_offset(s->layout);
    h->nbytes = nbytes;
    h->owner_pid = getpid();
    uint64_t start = 0;
    pt__os_proc_start_time(getpid(), &start);
    h->owner_start = start;
    snprintf(h->path, sizeof h->path, "%s", s->path);
}

/* Write the handle's header into the file, its magic last (see above). */
static int publish_header(const pt_shm *s, int fd)
{
    const size_t m = sizeof s->hdr.magic;
    int rc = pt_sys_pwrite_full(fd, (const char *)&s->hdr + m,
                                sizeof s->hdr - m, (off_t)m);
    if (rc == 0)
        rc = pt_sys_pwrite_full(fd, s->hdr.magic, m, 0);
    if (rc < 0)
        return pt__err(rc, "%s: cannot write its header: %s", s->path,
                       strerror(-rc));
    return 0;
}

static int reclaim_if_dead(const char *path);

/* shm_open with O_EXCL; a leftover of a dead owner is reclaimed once. */
static int open_new(const char *path)
{
    for (int attempt = 0;; attempt++) {
        int fd = pt_sys_shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
        if (fd >= 0)
            return fd;
        int err = -fd;
        if (err == EEXIST && attempt == 0 && reclaim_if_dead(path) == 1)
            continue;
        return pt__err(-err, "%s: cannot create: %s%s", path, strerror(err),
                       err == EEXIST ? " (its owner is alive, or it is not a "
                                       "ptools segment)"
                                     : "");
    }
}

/* A segment without a name: a memfd (the shm_open point of PTOOLS_FAULT
 * too): fd, -ENOSYS where there are none, or another -errno. */
static int open_anon(const char *path)
{
    int fd = pt__fault(PT__FAULT_SHM_OPEN);
    if (fd == 0)
        fd = pt__os_memfd(path + 1);
    if (fd == -EINVAL)
        fd = -ENOSYS; /* a kernel without MFD_ALLOW_SEALING */
    if (fd < 0 && fd != -ENOSYS)
        return pt__err(fd, "%s: cannot create: %s", path, pt_strerror(fd));
    return fd;
}

/*
 * Size, map and publish the new segment open at `fd`, as s->hdr and
 * s->layout say (a SHM_HUGETLB file is sized already, and has no header).
 */
static int make_segment(pt_shm *s, int fd)
{
    const struct shm_header *h = &s->hdr;
    uint64_t len = pt__shm_data_len(s->layout, h->nbytes);
    uint64_t size = h->data_offset + len;
    int rc = 0;
    if (s->layout == SHM_SMALL) /* SHM_THP: a header page, a hole, data */
        rc = reserve(fd, s->path, size, size, size);
    else if (s->layout == SHM_THP)
        rc = reserve(fd, s->path, size, page_size() + len, page_size());
    if (rc == 0)
        rc = pt__shm_map_guarded(s, fd, h->data_offset, (size_t)len,
                                 PROT_READ | PROT_WRITE);
    if (rc == 0 && s->layout == SHM_THP)
        rc = pt__shm_populate(s, fd);
    if (rc == 0 && s->layout != SHM_HUGETLB)
        rc = publish_header(s, fd);
    if (rc < 0)
        pt__shm_unmap_guarded(s);
    return rc;
}

/* The file of a new segment: fd, or -errno with a message. */
static int open_segment(pt_shm *s, const pt_shm_opts *o, uint64_t nbytes)
{
    if (s->layout == SHM_HUGETLB && o->named)
        return pt__err(-EINVAL,
                       "%s: hugepages on needs an unnamed segment "
                       "(reserved huge pages cannot be in %s); use "
                       "hugepages: auto",
                       s->path, pt__os_shm_dir());
    if (s->layout == SHM_HUGETLB) {
        int fd = pt__shm_open_hugetlb(s->path,
                                      pt__shm_data_len(s->layout, nbytes));
        s->anon = fd >= 0;
        return fd;
    }
    /* A segment nobody attaches by name needs none: a memfd cannot leak,
     * nor collide with the segment of another run of the same job. */
    int fd = o->named ? -ENOSYS : open_anon(s->path);
    s->anon = fd >= 0;
    if (fd == -ENOSYS)
        fd = open_new(s->path);
    return fd;
}

pt_shm *pt_shm_create(const pt_shm_opts *o)
{
    char path[SHM_PATH_MAX];
    uint64_t elems, nbytes;
    pt_shm *s = NULL;
    int rc = pt_shm_path(o->prefix, o->name, path, sizeof path);
    if (rc == 0)
        rc = shape_size(path, o->type, o->ndims, o->dims, &elems, &nbytes);
    if (rc == 0 && !(s = handle_new(path)))
        rc = -ENOMEM;
    if (rc == 0 &&
        (o->hugepages < PT_SHM_HUGE_AUTO || o->hugepages > PT_SHM_HUGE_OFF))
        rc = pt__err(-EINVAL,
                     "%s: hugepages %d is not PT_SHM_HUGE_AUTO, ON "
                     "or OFF",
                     path, o->hugepages);
    if (rc < 0)
        goto fail;
    s->asked = o->hugepages;
    s->layout = pt__shm_layout(o->hugepages, nbytes);
    int fd = rc = open_segment(s, o, nbytes);
    if (fd < 0)
        goto fail;
    build_header(s, o, nbytes);
    if ((rc = make_segment(s, fd)) < 0)
        goto fail_unlink;
    pt_sys_close(fd);
    fill_view(s);
    s->named = !s->anon;
    if (!o->named && !s->anon) /* no memfd here: unlink the name at once */
        pt_shm_unlink(s);
    return s;

fail_unlink:
    if (!s->anon)
        shm_unlink(path);
    pt_sys_close(fd);
fail:
    free(s);
    errno = -rc;
    return NULL;
}

/* Check a header read from a file of `file_size` bytes: 0 or -EINVAL. */
static int check_header(const char *path, const struct shm_header *h,
                        uint64_t file_size)
{
    if (memcmp(h->magic, SHM_MAGIC, sizeof h->magic) != 0)
        return pt__err(-EINVAL, "%s: not a ptools segment (bad magic)", path);
    if (h->version != SHM_VERSION)
        return pt__err(-EINVAL,
                       "%s: segment version %" PRIu32 ", this "
                       "library reads %d",
                       path, h->version, SHM_VERSION);
    uint64_t elems, nbytes;
    if (h->data_offset < HEADER_SIZE || h->data_offset > GUARD_UNIT ||
        h->data_offset % page_size() != 0 ||
        shape_size(path, (pt_dtype)h->type, (int)h->ndims, h->dims, &elems,
                   &nbytes) < 0 ||
        h->nbytes != nbytes || h->data_offset + nbytes > file_size ||
        h->prefix_len > PT_SHM_NAME_MAX ||
        memchr(h->path, '\0', sizeof h->path) == NULL)
        return pt__err(-EINVAL, "%s: corrupt segment header", path);
    return 0;
}

/* Read and check the header of the segment open at `fd` into *h, and
 * its file's size into *size (may be NULL). */
static int read_header(int fd, const char *path, struct shm_header *h,
                       uint64_t *size)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return pt__err(-errno, "%s: fstat: %s", path, strerror(errno));
    if ((uint64_t)st.st_size < HEADER_SIZE)
        return pt__err(-EINVAL, "%s: not a ptools segment (%lld bytes)", path,
                       (long long)st.st_size);
    int rc = pt_sys_pread_full(fd, h, sizeof *h, 0);
    if (rc < 0)
        return pt__err(rc == -EPIPE ? -EINVAL : rc,
                       "%s: cannot read its "
                       "header: %s",
                       path, strerror(-rc));
    if (size)
        *size = (uint64_t)st.st_size;
    return check_header(path, h, (uint64_t)st.st_size);
}

/* Compare a segment's type and shape with what the caller expects. */
static int check_expect(const pt_shm *s, const pt_shm_opts *e)
{
    const pt_shm_view *v = &s->view;
    int same = e->type == PT_DTYPE_NONE || e->type == v->type;
    if (e->ndims) {
        same = same && e->ndims == v->ndims &&
               memcmp(e->dims, v->dims, sizeof v->dims[0] * (size_t)v->ndims) ==
                   0;
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

/*
 * Read the header of the segment open at `fd` and map its data, guarded;
 * a segment made for huge pages (its data 2 MiB in) is mapped as its
 * creator mapped it, advised, when its file holds the whole length.
 */
static int attach_fd(pt_shm *s, int fd)
{
    uint64_t size = 0;
    int rc = read_header(fd, s->path, &s->hdr, &size);
    if (rc < 0)
        return rc;
    const struct shm_header *h = &s->hdr;
    s->layout = pt__shm_layout(PT_SHM_HUGE_AUTO, h->nbytes);
    if (h->data_offset != pt__shm_data_offset(s->layout) ||
        h->data_offset + pt__shm_data_len(s->layout, h->nbytes) > size)
        s->layout = SHM_SMALL;
    s->asked = s->layout == SHM_THP ? PT_SHM_HUGE_AUTO : PT_SHM_HUGE_OFF;
    return pt__shm_map_guarded(s, fd, h->data_offset,
                               (size_t)pt__shm_data_len(s->layout, h->nbytes),
                               PROT_READ | PROT_WRITE);
}

pt_shm *pt_shm_attach(const char *prefix, const char *name,
                      const pt_shm_opts *expect)
{
    char path[SHM_PATH_MAX];
    pt_shm *s = NULL;
    int rc = pt_shm_path(prefix, name, path, sizeof path);
    if (rc < 0)
        goto fail;
    int fd = pt_sys_shm_open(path, O_RDWR, 0);
    if (fd < 0) {
        rc = pt__err(fd, "%s: cannot attach: %s", path, pt_strerror(fd));
        goto fail;
    }
    s = handle_new(path);
    rc = s ? attach_fd(s, fd) : -ENOMEM;
    pt_sys_close(fd);
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
    if (!s)
        return 0;
    int rc = pt__shm_unmap_guarded(s);
    free(s);
    return rc;
}

int pt_shm_unlink(pt_shm *s)
{
    if (s->anon) /* never had a name: the path may be another's now */
        return 0;
    if (shm_unlink(s->path) < 0 && errno != ENOENT)
        return pt__err(-errno, "%s: shm_unlink: %s", s->path, strerror(errno));
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
 * dead; `prefix` (may be NULL) must then match its prefix exactly. Only its
 * header is read: nothing is mapped. Returns 1 when removed, 0 when left
 * alone, -errno on failure.
 */
static int reclaim(const char *path, const char *prefix)
{
    int fd = pt_sys_shm_open(path, O_RDONLY, 0);
    if (fd < 0)
        return fd == -ENOENT || fd == -EACCES ? 0 : fd;
    struct shm_header h;
    int rc = read_header(fd, path, &h, NULL);
    pt_sys_close(fd);
    if (rc < 0)
        return 0; /* not ours to judge: leave it */
    int match = !prefix || (strlen(prefix) == h.prefix_len &&
                            strncmp(h.path + 8, prefix, h.prefix_len) == 0);
    if (!match || strcmp(h.path, path) != 0 || !owner_dead(&h))
        return 0;
    if (shm_unlink(path) < 0)
        return errno == ENOENT ? 0 : -errno;
    return 1;
}

static int reclaim_if_dead(const char *path)
{
    return reclaim(path, NULL);
}

/*
 * Can /dev/shm entry `name` be a segment of `prefix` (any when NULL)? Its
 * name says so ("ptools_<prefix>_..."): other runs' segments are not even
 * opened.
 */
static int may_be_of(const char *name, const char *prefix)
{
    size_t n = prefix ? strlen(prefix) : 0;
    if (strncmp(name, "ptools_", 7) != 0)
        return 0;
    return !prefix || (strncmp(name + 7, prefix, n) == 0 && name[7 + n] == '_');
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
        if (!may_be_of(e->d_name, prefix) || len >= SHM_PATH_MAX - 1)
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
