/*
 * npy.c - NumPy .npy files (see npy.h): read and written; their header is
 * checked by npy_parse.c.
 *
 * A file is the magic "\x93NUMPY", a major and a minor version byte, the
 * header's length (2 bytes little-endian in 1.0, 4 bytes in 2.0 and 3.0),
 * the header - a Python dict literal padded with spaces and ended by '\n' -
 * and the raw data. The header is read by a small parser of the few literals
 * NumPy writes (strings, True/False, tuples of integers), never evaluated.
 * Data is read and written in place, so this file assumes a little-endian
 * host.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ptools/npy.h>

#include "internal.h"
#include "npy_impl.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error                                                                         \
    "npy.c reads and writes little-endian data in place: add byte swaps first"
#endif

#define ALIGN 64         /* NumPy's ARRAY_ALIGN: the data offset's multiple */
#define GROWTH_DIGITS 21 /* NumPy's GROWTH_AXIS_MAX_DIGITS */
#define HEAD_MAX 512     /* prefix + dict + padding that we write */

/* ---- reading ------------------------------------------------------------- */

/*
 * Read exactly n bytes of `what` at offset `off`; the end of the file there
 * is a bad file.
 */
static int read_exact(int fd, const char *path, void *p, size_t n, uint64_t off,
                      const char *what)
{
    int err = pt_sys_pread_full(fd, p, n, (off_t)off);
    if (err == -EPIPE)
        return pt__err(-EINVAL, "%s: file ends inside its %s", path, what);
    if (err < 0)
        return pt__err(err, "%s: cannot read the %s: %s", path, what,
                       strerror(-err));
    return 0;
}

/* Open a regular file for reading: the fd and its size, or -errno. */
static int open_npy(const char *path, uint64_t *size)
{
    struct stat st;
    /* O_NONBLOCK: a FIFO without a writer must not hang the open. */
    int err = 0, fd = pt_sys_open(path, O_RDONLY | O_NONBLOCK, 0);
    if (fd < 0)
        return pt__err(fd, "%s: cannot open: %s", path, pt_strerror(fd));
    if (fstat(fd, &st) < 0)
        err = pt__err(-errno, "%s: cannot stat: %s", path, strerror(errno));
    else if (S_ISDIR(st.st_mode))
        err = pt__err(-EISDIR, "%s: is a directory, not a .npy file", path);
    else if (!S_ISREG(st.st_mode))
        err = pt__err(-EINVAL, "%s: not a regular file", path);
    if (!err && (err = pt_sys_set_nonblock(fd, 0)) < 0)
        pt__err(err, "%s: fcntl: %s", path, strerror(-err));
    if (err)
        goto fail_close;
    *size = (uint64_t)st.st_size;
    return fd;
fail_close:
    pt_sys_close(fd);
    return err;
}

/*
 * Read the prefix and header of the file open at `fd` and check them with
 * pt__npy_parse() (the one parser, also fuzzed from memory). `info` is
 * filled only on success.
 */
static int read_info(int fd, const char *path, uint64_t fsize,
                     pt_npy_info *info)
{
    unsigned char pre[12], *head;
    size_t n = fsize < sizeof pre ? (size_t)fsize : sizeof pre, need = 0;
    int err = read_exact(fd, path, pre, n, 0, "header");
    if (!err)
        err = pt__npy_head_len(path, pre, n, fsize, &need);
    if (err)
        return err;
    if (!(head = malloc(need > n ? need : n)))
        return pt__err(-ENOMEM, "%s: no memory for the header", path);
    memcpy(head, pre, n);
    if (need > n)
        err = read_exact(fd, path, head + n, need - n, n, "header");
    if (!err)
        err = pt__npy_parse(path, head, need > n ? need : n, fsize, info);
    free(head);
    return err;
}

int pt_npy_info_read(const char *path, pt_npy_info *info)
{
    if (!path || !info)
        return pt__err(-EINVAL, "pt_npy_info_read: path and info are required");
    uint64_t fsize;
    int fd = open_npy(path, &fsize);
    if (fd < 0)
        return fd;
    int err = read_info(fd, path, fsize, info);
    pt_sys_close(fd);
    return err;
}

/*
 * Check the arguments that describe an array: a type (PT_DTYPE_NONE only
 * where `any_type`), 0..PT_NPY_MAXDIMS dims, and dims when there are some.
 */
static int check_array_args(const char *path, pt_dtype type, bool any_type,
                            int ndims, const uint64_t *dims)
{
    if (!path)
        return pt__err(-EINVAL, "npy: path is NULL");
    if (!(any_type && type == PT_DTYPE_NONE) && !pt_dtype_name(type))
        return pt__err(-EINVAL, "%s: invalid element type %d", path, (int)type);
    if (ndims < 0 || ndims > PT_NPY_MAXDIMS)
        return pt__err(-EINVAL, "%s: ndims %d is outside 0..%d", path, ndims,
                       PT_NPY_MAXDIMS);
    if (ndims > 0 && !dims)
        return pt__err(-EINVAL, "%s: dims is NULL for %d dimensions", path,
                       ndims);
    return 0;
}

/* Check the file's header against what the caller expects to load. */
static int check_expected(const char *path, const pt_npy_info *info,
                          pt_dtype type, int ndims, const uint64_t *dims,
                          uint64_t nbytes)
{
    if (type != PT_DTYPE_NONE && type != info->type)
        return pt__err(-EINVAL, "%s: type %s does not match the expected %s",
                       path, pt_dtype_name(info->type), pt_dtype_name(type));
    if (ndims != info->ndims ||
        (ndims > 0 && memcmp(dims, info->dims, (size_t)ndims * sizeof *dims))) {
        char got[SHAPE_STR_MAX], want[SHAPE_STR_MAX];
        pt__npy_format_shape(got, sizeof got, info->ndims, info->dims);
        pt__npy_format_shape(want, sizeof want, ndims, dims);
        return pt__err(-EINVAL, "%s: shape %s does not match the expected %s",
                       path, got, want);
    }
    if (nbytes != info->nbytes)
        return pt__err(-EINVAL,
                       "%s: data is %" PRIu64 " bytes but the "
                       "destination holds %" PRIu64,
                       path, info->nbytes, nbytes);
    return 0;
}

int pt_npy_load(const char *path, pt_dtype type, int ndims,
                const uint64_t *dims, void *dst, uint64_t nbytes)
{
    int err = check_array_args(path, type, true, ndims, dims);
    if (err)
        return err;
    if (!dst && nbytes > 0)
        return pt__err(-EINVAL, "%s: dst is NULL", path);
    uint64_t fsize;
    int fd = open_npy(path, &fsize);
    if (fd < 0)
        return fd;
    pt_npy_info info;
    err = read_info(fd, path, fsize, &info);
    if (!err)
        err = check_expected(path, &info, type, ndims, dims, nbytes);
    if (!err) /* straight into dst */
        err = read_exact(fd, path, dst, info.nbytes, info.data_offset, "data");
    pt_sys_close(fd);
    return err;
}

/* ---- writing ------------------------------------------------------------- */

/*
 * The prefix and header that np.save writes for `info`, byte for byte: the
 * dict with sorted keys, room for the first axis to grow to 21 digits, then
 * spaces and '\n' up to a multiple of 64 bytes; version 2.0 only if the
 * header passes 65535 bytes (which 8 dimensions never do). Returns its length.
 */
static size_t format_header(const pt_npy_info *info, char *buf)
{
    char shape[SHAPE_STR_MAX], dict[HEAD_MAX / 2];
    pt__npy_format_shape(shape, sizeof shape, info->ndims, info->dims);
    size_t n = (size_t)snprintf(dict, sizeof dict,
                                "{'descr': '%c%s', "
                                "'fortran_order': False, 'shape': %s, }",
                                pt_dtype_size(info->type) == 1 ? '|' : '<',
                                pt__npy_type_code(info->type), shape);
    if (info->ndims > 0)
        n += GROWTH_DIGITS -
             (size_t)snprintf(NULL, 0, "%" PRIu64, info->dims[0]);
    size_t lenbytes = 2, text = n + 1; /* + '\n' */
    size_t pad = ALIGN - (MAGIC_LEN + 2 + lenbytes + text) % ALIGN;
    if (text + pad > 0xffff) {
        lenbytes = 4;
        pad = ALIGN - (MAGIC_LEN + 2 + lenbytes + text) % ALIGN;
    }
    size_t hlen = text + pad, off = MAGIC_LEN + 2 + lenbytes;
    memcpy(buf, MAGIC, MAGIC_LEN);
    buf[MAGIC_LEN] = lenbytes == 2 ? 1 : 2;
    buf[MAGIC_LEN + 1] = 0;
    for (size_t i = 0; i < lenbytes; i++)
        buf[MAGIC_LEN + 2 + i] = (char)(hlen >> (8 * i) & 0xff);
    memset(buf + off, ' ', hlen - 1);
    memcpy(buf + off, dict, strlen(dict));
    buf[off + hlen - 1] = '\n';
    return off + hlen;
}

/*
 * Create "<path>.tmp-<pid>-<n>" exclusively, beside `path` so that rename()
 * stays in one filesystem; mode 0666 less the umask, as np.save's files get.
 */
static int create_temp(const char *path, char *tmp, size_t size)
{
    static atomic_uint counter;
    for (int tries = 0; tries < 100; tries++) {
        unsigned n = atomic_fetch_add(&counter, 1);
        int len = snprintf(tmp, size, "%s.tmp-%ld-%u", path, (long)getpid(), n);
        if (len < 0 || (size_t)len >= size)
            return pt__err(-ENAMETOOLONG, "%s: path too long", path);
        int fd = pt_sys_open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd >= 0)
            return fd;
        if (fd != -EEXIST)
            return pt__err(fd, "%s: cannot create the temporary file %s: %s",
                           path, tmp, pt_strerror(fd));
    }
    return pt__err(-EEXIST, "%s: no free temporary file name", path);
}

/*
 * Write head and data to `fd`, sync them to disk (so that after a crash the
 * renamed file is never empty) and close it: 0 or -errno, fd closed always.
 */
static int write_close(int fd, const char *tmp, const void *head, size_t hlen,
                       const void *data, uint64_t nbytes)
{
    int err = pt_sys_write_full(fd, head, hlen);
    if (!err)
        err = pt_sys_write_full(fd, data, nbytes);
    if (!err)
        err = pt_sys_fsync(fd);
    if (close(fd) < 0 && !err) /* not retried: the fd is gone either way */
        err = -errno;
    if (err)
        pt__err(err, "%s: cannot write: %s", tmp, strerror(-err));
    return err;
}

/*
 * Validate the arguments of pt_npy_save and describe the array in `info`.
 */
static int save_info(const char *path, pt_dtype type, int ndims,
                     const uint64_t *dims, const void *data, pt_npy_info *info)
{
    int err = check_array_args(path, type, false, ndims, dims);
    if (err)
        return err;
    *info = (pt_npy_info){.type = type, .ndims = ndims};
    if (ndims > 0)
        memcpy(info->dims, dims, (size_t)ndims * sizeof *dims);
    err = pt__npy_data_size(path, info);
    if (!err && !data && info->nbytes > 0)
        err = pt__err(-EINVAL, "%s: data is NULL", path);
    return err;
}

int pt_npy_save(const char *path, pt_dtype type, int ndims,
                const uint64_t *dims, const void *data)
{
    pt_npy_info info;
    int err = save_info(path, type, ndims, dims, data, &info);
    if (err)
        return err;
    char head[HEAD_MAX], tmp[PATH_MAX];
    size_t hlen = format_header(&info, head);
    int fd = create_temp(path, tmp, sizeof tmp);
    if (fd < 0)
        return fd;
    err = write_close(fd, tmp, head, hlen, data, info.nbytes);
    if (err)
        goto fail_unlink;
    if (rename(tmp, path) < 0) {
        err = pt__err(-errno, "%s: cannot rename %s over it: %s", path, tmp,
                      strerror(errno));
        goto fail_unlink;
    }
    return 0;
fail_unlink:
    unlink(tmp);
    return err;
}
