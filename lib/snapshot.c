/* snapshot.c - a worker's checkpoints: the file format, its atomic write
 * and checked read, and the save/restore of a worker's kernels (see
 * snapshot.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ptools/kernel_lib.h>
#include <ptools/sys.h>

#include "internal.h"
#include "snapshot.h"

static const char MAGIC[8] = {'P', 'T', 'S', 'N', 'A', 'P', 0, 0};

typedef struct file_head {
    char magic[8];
    uint32_t version, nsections;
    uint64_t bytes; /* of sections, after this head */
    uint64_t sum;   /* FNV-1a 64 of those bytes */
} file_head;

typedef struct section_head {
    uint32_t path_len, name_len;
    uint64_t data_len;
} section_head;

_Static_assert(sizeof(file_head) == 32 && sizeof(section_head) == 16,
               "snapshot heads are 32 and 16 bytes");

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * UINT64_C(1099511628211);
    return h;
}

static size_t pad8(size_t n)
{
    return (n + 7) / 8 * 8;
}

static int append_zeros(pt_buf *out, size_t upto)
{
    static const uint8_t zeros[8];
    return out->len < upto ? pt_buf_append(out, zeros, upto - out->len) : 0;
}

/* A section's head, path and name; *at: where its data_len is. */
static int add_head(pt_buf *out, const char *path, size_t plen,
                    const char *name, size_t nlen, size_t *at)
{
    if (plen > UINT32_MAX || nlen > UINT32_MAX)
        return -EFBIG;
    section_head h = {(uint32_t)plen, (uint32_t)nlen, 0};
    *at = out->len + offsetof(section_head, data_len);
    int rc = pt_buf_append(out, &h, sizeof h);
    if (rc == 0)
        rc = pt_buf_append(out, path, plen);
    if (rc == 0)
        rc = pt_buf_append(out, name, nlen);
    return rc == 0 ? append_zeros(out, pad8(out->len)) : rc;
}

/* The data of the section whose head is at `at` ends here: its length. */
static int end_section(pt_buf *out, size_t at, size_t data_start)
{
    uint64_t len = out->len - data_start;
    memcpy(out->data + at, &len, sizeof len);
    return append_zeros(out, pad8(out->len));
}

static int finish(pt_buf *out, uint32_t n)
{
    if (out->len > PT__SNAP_MAX)
        return -EFBIG;
    file_head h = {.version = PT__SNAP_VERSION,
                   .nsections = n,
                   .bytes = out->len - sizeof h};
    memcpy(h.magic, MAGIC, sizeof MAGIC);
    h.sum = fnv1a(out->data + sizeof h, (size_t)h.bytes);
    memcpy(out->data, &h, sizeof h);
    return 0;
}

static int begin(pt_buf *out)
{
    pt_buf_reset(out);
    file_head h;
    memset(&h, 0, sizeof h);
    return pt_buf_append(out, &h, sizeof h);
}

int pt__snap_encode(pt_buf *out, const pt__snap_section *s, int n)
{
    int rc = begin(out);
    for (int i = 0; rc == 0 && i < n; i++) {
        size_t at;
        rc = add_head(out, s[i].path, s[i].path_len, s[i].name, s[i].name_len,
                      &at);
        size_t start = out->len;
        if (rc == 0 && s[i].len > PT__SNAP_MAX)
            rc = -EFBIG;
        if (rc == 0)
            rc = pt_buf_append(out, s[i].data, s[i].len);
        if (rc == 0)
            rc = end_section(out, at, start);
    }
    return rc == 0 ? finish(out, (uint32_t)n) : rc;
}

/* Section i at *off of p[0..len): checked and filled in; -EINVAL if not. */
static int decode_section(const uint8_t *p, size_t len, size_t *off, int i,
                          pt__snap_section *s)
{
    section_head h;
    if (len - *off < sizeof h)
        return pt__err(-EINVAL, "section %d: its head runs past the end", i);
    memcpy(&h, p + *off, sizeof h);
    size_t names = (size_t)h.path_len + h.name_len;
    size_t left = len - *off - sizeof h;
    if (names > left || pad8(*off + sizeof h + names) - *off - sizeof h > left)
        return pt__err(-EINVAL, "section %d: its names run past the end", i);
    size_t data = pad8(*off + sizeof h + names);
    if (h.data_len > len - data || pad8(data + h.data_len) > len)
        return pt__err(-EINVAL,
                       "section %d: %llu bytes of data run past the end", i,
                       (unsigned long long)h.data_len);
    *s = (pt__snap_section){(const char *)p + *off + sizeof h,
                            h.path_len,
                            (const char *)p + *off + sizeof h + h.path_len,
                            h.name_len,
                            p + data,
                            (size_t)h.data_len};
    *off = pad8(data + (size_t)h.data_len);
    return 0;
}

static int check_head(const uint8_t *p, size_t len, file_head *h)
{
    if (len < sizeof *h || memcmp(p, MAGIC, sizeof MAGIC) != 0)
        return pt__err(-EINVAL, "not a ptools snapshot (no PTSNAP magic)");
    memcpy(h, p, sizeof *h);
    if (h->version != PT__SNAP_VERSION)
        return pt__err(-EINVAL, "snapshot version %u (this ptools reads %d)",
                       h->version, PT__SNAP_VERSION);
    if (h->bytes != len - sizeof *h)
        return pt__err(-EINVAL,
                       "truncated or padded: %zu bytes of sections, the head "
                       "says %llu",
                       len - sizeof *h, (unsigned long long)h->bytes);
    if (fnv1a(p + sizeof *h, len - sizeof *h) != h->sum)
        return pt__err(-EINVAL, "checksum mismatch (the file is corrupt)");
    if (h->nsections > len / sizeof(section_head))
        return pt__err(-EINVAL, "%u sections cannot fit in %zu bytes",
                       h->nsections, len);
    return 0;
}

int pt__snap_decode(const void *data, size_t len, pt__snap_section **secs,
                    int *n)
{
    const uint8_t *p = data;
    file_head h;
    *secs = NULL;
    *n = 0;
    int rc = check_head(p, len, &h);
    if (rc < 0)
        return rc;
    pt__snap_section *s = calloc((size_t)h.nsections + 1, sizeof *s);
    if (!s)
        return pt__err(-ENOMEM, "out of memory");
    size_t off = sizeof h;
    for (uint32_t i = 0; rc == 0 && i < h.nsections; i++)
        rc = decode_section(p, len, &off, (int)i, &s[i]);
    if (rc == 0 && off != len)
        rc = pt__err(-EINVAL, "%zu bytes after the last section", len - off);
    if (rc < 0) {
        free(s);
        return rc;
    }
    *secs = s;
    *n = (int)h.nsections;
    return 0;
}

/* fsync the folder holding `path`, so that a rename in it lasts. */
static int sync_dir(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return -ENOMEM;
    int fd = pt_sys_open(dirname(copy), O_RDONLY | O_DIRECTORY, 0);
    free(copy);
    if (fd < 0)
        return fd;
    int rc = pt_sys_fsync(fd);
    pt_sys_close(fd);
    return rc;
}

int pt__snap_write_file(const char *path, const void *data, size_t len)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return pt__err(-ENAMETOOLONG, "%s: name too long", path);
    int fd = pt_sys_open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return pt__err(fd, "%s: %s", tmp, pt_strerror(fd));
    int rc = pt_sys_write_full(fd, data, len);
    if (rc == 0)
        rc = pt_sys_fsync(fd);
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0) {
        unlink(tmp);
        return pt__err(rc, "%s: %s", path, pt_strerror(rc));
    }
    rc = sync_dir(path);
    return rc < 0 ? pt__err(rc, "%s: fsync of its folder: %s", path,
                            pt_strerror(rc))
                  : 0;
}

int pt__snap_read_file(const char *path, pt_buf *out)
{
    pt_buf_reset(out);
    int fd = pt_sys_open(path, O_RDONLY, 0);
    if (fd < 0)
        return fd == -ENOENT ? fd : pt__err(fd, "%s", pt_strerror(fd));
    struct stat st;
    int rc = fstat(fd, &st) < 0 ? -errno : 0;
    if (rc == 0 && (uint64_t)st.st_size > PT__SNAP_MAX + sizeof(file_head))
        rc = pt__err(-EFBIG, "%lld bytes: over the %zu MiB a snapshot may hold",
                     (long long)st.st_size, PT__SNAP_MAX >> 20);
    else if (rc == 0 && (rc = pt_buf_reserve(out, (size_t)st.st_size)) == 0)
        rc = pt_sys_read_full(fd, out->data, (size_t)st.st_size);
    if (rc == -EPIPE) /* it shrank while we read */
        rc = pt__err(-EINVAL, "the file changed while it was read");
    else if (rc < 0 && rc != -EFBIG)
        rc = pt__err(rc, "%s", pt_strerror(rc));
    pt_sys_close(fd);
    if (rc == 0)
        out->len = (size_t)st.st_size;
    return rc;
}

/* ---- a worker's checkpoints ---- */

int pt__snap_init(pt__snap *s, const char *prefix, int index,
                  int64_t interval_ms)
{
    *s = (pt__snap){.last_ns = pt_sys_mono_ns()};
    if (!prefix || interval_ms <= 0) {
        s->started = true; /* nothing to restore */
        return 0;
    }
    s->interval_ns = interval_ms * 1000000;
    return asprintf(&s->path, "%s.%d.snap", prefix, index) < 0 ? -ENOMEM : 0;
}

void pt__snap_free(pt__snap *s)
{
    free(s->path);
    free(s->error);
    pt_buf_free(&s->file);
    pt_buf_free(&s->section);
    *s = (pt__snap){0};
}

bool pt__snap_due(pt__snap *s, bool force)
{
    if (!s->path)
        return false;
    s->tasks += !force;
    return s->tasks > 0 &&
           (force || pt_sys_mono_ns() - s->last_ns >= s->interval_ns);
}

/* Keep `why` (printf; it may quote the error it replaces) as the error
 * of s; return its text. */
static const char *fail(pt__snap *s, const char *fmt, ...) PT_PRINTF(2, 3);
static const char *fail(pt__snap *s, const char *fmt, ...)
{
    va_list ap;
    char *text;
    va_start(ap, fmt);
    if (vasprintf(&text, fmt, ap) < 0)
        text = NULL;
    va_end(ap);
    free(s->error);
    s->error = text;
    return text ? text : "out of memory";
}

/* Append kernel k's section (its save) to s->file. */
static const char *save_one(pt__snap *s, pt__worker_env *env,
                            const pt__snap_kernel *sk)
{
    pt_buf *out = &s->file;
    size_t at;
    int rc = add_head(out, sk->path, strlen(sk->path), sk->k->name,
                      strlen(sk->k->name), &at);
    size_t start = out->len;
    if (rc < 0)
        return fail(s, "checkpoint: %s", pt_strerror(rc));
    pt_ctx c;
    pt__ctx_begin(&c, env, NULL, 0, NULL);
    rc = pt_kernel_save(sk->k)(&c, out);
    const char *why = NULL;
    if (rc == -EFBIG || out->len > PT__SNAP_MAX)
        why = fail(s,
                   "checkpoint: kernel '%s': the snapshot is over %zu MiB "
                   "(the most one may hold)",
                   sk->k->name, PT__SNAP_MAX >> 20);
    else if (rc != 0)
        why = fail(s, "checkpoint: kernel '%s': save failed%s%s (code %d)",
                   sk->k->name, c.error ? ": " : "", c.error ? c.error : "",
                   rc);
    pt__ctx_clear(&c);
    if (!why && (rc = end_section(out, at, start)) < 0)
        why = fail(s, "checkpoint: %s", pt_strerror(rc));
    return why;
}

const char *pt__snap_take(pt__snap *s, pt__worker_env *env,
                          const pt__snap_kernel *ks, int n)
{
    s->last_ns = pt_sys_mono_ns();
    s->tasks = 0;
    if (n == 0)
        return NULL; /* no kernel here keeps state: nothing to write */
    int rc = begin(&s->file);
    if (rc < 0)
        return fail(s, "checkpoint: %s", pt_strerror(rc));
    for (int i = 0; i < n; i++) {
        const char *why = save_one(s, env, &ks[i]);
        if (why)
            return why;
    }
    if ((rc = finish(&s->file, (uint32_t)n)) < 0 ||
        (rc = pt__snap_write_file(s->path, s->file.data, s->file.len)) < 0)
        return fail(s, "checkpoint: %s",
                    rc == -EFBIG ? "the snapshot is over 256 MiB"
                                 : pt_errmsg());
    return NULL;
}

/* Restore section sec: load its kernel, then call its restore. */
static const char *restore_one(pt__snap *s, pt__worker_env *env,
                               const pt__snap_section *sec,
                               pt__snap_load_fn load, void *arg)
{
    char *path = strndup(sec->path, sec->path_len);
    char *name = strndup(sec->name, sec->name_len);
    const char *why = NULL;
    const pt_kernel *k = NULL;
    if (!path || !name)
        why = fail(s, "out of memory");
    else if (!(k = load(arg, path, name, &why)))
        why = fail(s, "kernel '%s' of %s: cannot be loaded: %s", name, path,
                   why);
    else if (!pt_kernel_restore(k))
        why = fail(s, "kernel '%s' of %s has no restore", name, path);
    if (!why) {
        pt_ctx c;
        pt__ctx_begin(&c, env, NULL, 0, NULL);
        int rc = pt_kernel_restore(k)(&c, sec->data, sec->len);
        if (rc != 0)
            why = fail(s, "kernel '%s' of %s: restore failed%s%s (code %d)",
                       name, path, c.error ? ": " : "", c.error ? c.error : "",
                       rc);
        pt__ctx_clear(&c);
    }
    free(path);
    free(name);
    return why;
}

const char *pt__snap_restore(pt__snap *s, pt__worker_env *env,
                             pt__snap_load_fn load, void *arg)
{
    if (s->started)
        return s->error;
    s->started = true;
    pt__snap_section *secs = NULL;
    int n = 0, rc = pt__snap_read_file(s->path, &s->file);
    if (rc == -ENOENT)
        return NULL; /* no predecessor kept state: start empty */
    if (rc == 0)
        rc = pt__snap_decode(s->file.data, s->file.len, &secs, &n);
    const char *why = rc < 0 ? fail(s, "%s", pt_errmsg()) : NULL;
    for (int i = 0; !why && i < n; i++)
        why = restore_one(s, env, &secs[i], load, arg);
    free(secs);
    pt_buf_free(&s->file);
    if (why)
        why = fail(s, "cannot restore the snapshot %s: %s", s->path, why);
    s->last_ns = pt_sys_mono_ns();
    return why;
}
