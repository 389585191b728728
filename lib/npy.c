/*
 * npy.c - NumPy .npy files (see npy.h).
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
#error "npy.c reads and writes little-endian data in place: add byte swaps first"
#endif

#define MAGIC "\x93NUMPY"
#define MAGIC_LEN 6
#define ALIGN 64              /* NumPy's ARRAY_ALIGN: the data offset's multiple */
#define GROWTH_DIGITS 21      /* NumPy's GROWTH_AXIS_MAX_DIGITS */
#define HEADER_MAX (1u << 20) /* a header we accept is ~300 bytes; cap the malloc */
#define SHAPE_STR_MAX (2 + PT_NPY_MAXDIMS * 22) /* "(" + 8 x "<20 digits>, " + ")" */
#define HEAD_MAX 512          /* prefix + dict + padding that we write */

/* NumPy's type codes (after the byte-order character) for dtype.h's types. */
static const struct {
    const char *code;
    pt_dtype type;
} codes[] = {
    {"i1", PT_INT8},   {"i2", PT_INT16},  {"i4", PT_INT32},   {"i8", PT_INT64},
    {"u1", PT_UINT8},  {"u2", PT_UINT16}, {"u4", PT_UINT32},  {"u8", PT_UINT64},
    {"f4", PT_FLOAT32}, {"f8", PT_FLOAT64},
};

/* The keys a header dict must hold, each exactly once. */
static const char *const keys[] = {"descr", "fortran_order", "shape"};
enum { KEY_DESCR, KEY_FORTRAN, KEY_SHAPE, KEY_COUNT };

/* A piece of the header text (not NUL-terminated). */
typedef struct slice {
    const char *s;
    size_t n;
} slice;

/* A cursor over the header text; `base` is the text's offset in the file. */
typedef struct cursor {
    const char *p;
    const char *start;
    const char *end;
    const char *path;
    uint64_t base;
} cursor;

/* What the header dict held besides the shape, which goes to the info. */
typedef struct header {
    slice descr;
    bool fortran;
    bool seen[KEY_COUNT];
} header;

/* ---- shapes and type codes ------------------------------------------------ */

/* Format a shape as Python's repr of a tuple: "()", "(5,)", "(3, 4)". */
static void format_shape(char *buf, size_t size, int ndims, const uint64_t *dims)
{
    size_t n = (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < ndims && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%" PRIu64, i ? ", " : "",
                              dims[i]);
    if (n < size)
        snprintf(buf + n, size - n, ndims == 1 ? ",)" : ")");
}

/* NumPy's code ("f8") of a valid type. */
static const char *type_code(pt_dtype type)
{
    for (size_t i = 0; i < PT_ARRAY_LEN(codes); i++)
        if (codes[i].type == type)
            return codes[i].code;
    return "?";
}

/* The type whose code is `code[0..n)`, or PT_DTYPE_NONE. */
static pt_dtype code_type(const char *code, size_t n)
{
    for (size_t i = 0; i < PT_ARRAY_LEN(codes); i++)
        if (strlen(codes[i].code) == n && memcmp(codes[i].code, code, n) == 0)
            return codes[i].type;
    return PT_DTYPE_NONE;
}

static bool is_order(char ch)
{
    return ch == '<' || ch == '>' || ch == '|' || ch == '=';
}

/*
 * Map a descr ("<f8", "|u1") to its type. Little-endian ('<'), native ('=')
 * and no order at all are fine; '|' (no byte order) and '>' only for 1-byte
 * types, where the order does not matter.
 */
static int descr_type(const char *path, slice d, pt_dtype *type)
{
    bool has_order = d.n > 0 && is_order(d.s[0]);
    char order = has_order ? d.s[0] : '=';
    int shown = d.n > 32 ? 32 : (int)d.n;
    pt_dtype t = code_type(d.s + has_order, d.n - has_order);
    if (t == PT_DTYPE_NONE)
        return pt__err(-EINVAL, "%s: dtype '%.*s' is not supported (only i1 i2 "
                       "i4 i8 u1 u2 u4 u8 f4 f8)", path, shown, d.s);
    if (order == '>' && pt_dtype_size(t) > 1)
        return pt__err(-EINVAL, "%s: big-endian data ('%.*s') is not supported",
                       path, shown, d.s);
    if (order == '|' && pt_dtype_size(t) > 1)
        return pt__err(-EINVAL, "%s: dtype '%.*s' has no byte order ('|' is for "
                       "1-byte types)", path, shown, d.s);
    *type = t;
    return 0;
}

/*
 * Fill info->nbytes with product(dims) * size, refusing a size that does not
 * fit in 64 bits (a shape with a 0 dimension is empty, whatever the others).
 */
static int data_size(const char *path, pt_npy_info *info)
{
    uint64_t n = pt_dtype_size(info->type);
    for (int i = 0; i < info->ndims; i++)
        if (info->dims[i] == 0)
            n = 0;
    for (int i = 0; i < info->ndims && n != 0; i++) {
        if (n > UINT64_MAX / info->dims[i]) {
            char shape[SHAPE_STR_MAX];
            format_shape(shape, sizeof shape, info->ndims, info->dims);
            return pt__err(-EINVAL, "%s: shape %s of %s is more than 2^64 bytes",
                           path, shape, pt_dtype_name(info->type));
        }
        n *= info->dims[i];
    }
    info->nbytes = n;
    return 0;
}

/* ---- the header parser ------------------------------------------------------ */

/* A malformed header: -EINVAL naming the file offset of the problem. */
static int bad_header(const cursor *c, const char *problem)
{
    return pt__err(-EINVAL, "%s: bad .npy header at byte %" PRIu64 ": %s",
                   c->path, c->base + (uint64_t)(c->p - c->start), problem);
}

static void skip_space(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' ||
                             *c->p == '\r' || *c->p == '\f' || *c->p == '\v'))
        c->p++;
}

/* Consume `ch` after optional spaces if it is next: true if it was. */
static bool accept(cursor *c, char ch)
{
    skip_space(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

/* Consume `ch` after optional spaces, or fail saying what was expected. */
static int expect(cursor *c, char ch, const char *expected)
{
    return accept(c, ch) ? 0 : bad_header(c, expected);
}

/* Consume the word `w` if it is next and not the start of a longer name. */
static bool accept_word(cursor *c, const char *w)
{
    size_t n = strlen(w);
    skip_space(c);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0)
        return false;
    if (c->p + n < c->end) {
        char next = c->p[n];
        if ((next >= 'a' && next <= 'z') || (next >= 'A' && next <= 'Z') ||
            (next >= '0' && next <= '9') || next == '_')
            return false;
    }
    c->p += n;
    return true;
}

/* A string in single or double quotes, without escapes (NumPy writes none). */
static int parse_string(cursor *c, slice *out)
{
    skip_space(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return bad_header(c, "expected a quoted string");
    char quote = *c->p++;
    const char *s = c->p;
    while (c->p < c->end && *c->p != quote && *c->p != '\\' && *c->p != '\n')
        c->p++;
    if (c->p >= c->end || *c->p != quote)
        return bad_header(c, "expected the string's closing quote (escapes are "
                             "not supported)");
    out->s = s;
    out->n = (size_t)(c->p - s);
    c->p++;
    return 0;
}

static int parse_bool(cursor *c, bool *out)
{
    if (accept_word(c, "True"))
        *out = true;
    else if (accept_word(c, "False"))
        *out = false;
    else
        return bad_header(c, "expected True or False");
    return 0;
}

/* A non-negative integer that fits in 64 bits ("3L" of Python 2 too). */
static int parse_dim(cursor *c, uint64_t *out)
{
    skip_space(c);
    const char *s = c->p;
    uint64_t v = 0;
    for (; c->p < c->end && *c->p >= '0' && *c->p <= '9'; c->p++) {
        unsigned d = (unsigned)(*c->p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return bad_header(c, "dimension does not fit in 64 bits");
        v = v * 10 + d;
    }
    if (c->p == s)
        return bad_header(c, "expected a dimension (a non-negative integer)");
    if (c->p < c->end && *c->p == 'L')
        c->p++;
    *out = v;
    return 0;
}

/* A shape tuple: "()", "(5,)", "(3, 4)"; "(5)" is an int, not a tuple. */
static int parse_shape(cursor *c, pt_npy_info *info)
{
    int err = expect(c, '(', "expected '(' opening the shape");
    int n = 0;
    bool comma = false;
    while (!err && !accept(c, ')')) {
        if (n == PT_NPY_MAXDIMS)
            return pt__err(-EINVAL, "%s: shape has more than %d dimensions "
                           "(PT_NPY_MAXDIMS)", c->path, PT_NPY_MAXDIMS);
        err = parse_dim(c, &info->dims[n++]);
        comma = !err && accept(c, ',');
        if (!err && !comma) {
            err = expect(c, ')', "expected ',' or ')' in the shape");
            break;
        }
    }
    if (!err && n == 1 && !comma)
        err = bad_header(c, "shape (n) is not a tuple: a 1-d shape is (n,)");
    info->ndims = n;
    return err;
}

/* The descr string; a list there is a structured dtype, refused by name. */
static int parse_descr(cursor *c, slice *descr)
{
    skip_space(c);
    if (c->p < c->end && *c->p == '[')
        return pt__err(-EINVAL, "%s: structured dtypes (descr [...]) are not "
                       "supported", c->path);
    return parse_string(c, descr);
}

/* One "key: value" of the dict. */
static int parse_item(cursor *c, header *h, pt_npy_info *info)
{
    slice key;
    int err = parse_string(c, &key);
    if (!err)
        err = expect(c, ':', "expected ':' after the key");
    if (err)
        return err;
    int k = 0;
    while (k < KEY_COUNT && !(strlen(keys[k]) == key.n &&
                              memcmp(keys[k], key.s, key.n) == 0))
        k++;
    if (k == KEY_COUNT)
        return pt__err(-EINVAL, "%s: unexpected key '%.*s' in the .npy header",
                       c->path, key.n > 32 ? 32 : (int)key.n, key.s);
    if (h->seen[k])
        return pt__err(-EINVAL, "%s: key '%s' appears twice in the .npy header",
                       c->path, keys[k]);
    h->seen[k] = true;
    if (k == KEY_DESCR)
        return parse_descr(c, &h->descr);
    if (k == KEY_FORTRAN)
        return parse_bool(c, &h->fortran);
    return parse_shape(c, info);
}

/* The whole dict: keys in any order, optional trailing comma, then spaces. */
static int parse_dict(cursor *c, header *h, pt_npy_info *info)
{
    int err = expect(c, '{', "expected '{' opening the header dict");
    while (!err && !accept(c, '}')) {
        err = parse_item(c, h, info);
        if (!err && !accept(c, ',')) {
            err = expect(c, '}', "expected ',' or '}' after a value");
            break;
        }
    }
    skip_space(c);
    if (!err && c->p != c->end)
        err = bad_header(c, "expected only spaces after the closing '}'");
    for (int k = 0; !err && k < KEY_COUNT; k++)
        if (!h->seen[k])
            err = pt__err(-EINVAL, "%s: the .npy header has no '%s' key",
                          c->path, keys[k]);
    return err;
}

/* Parse the header text at file offset `base` and check what it says. */
static int parse_header(const char *path, const char *text, size_t len,
                        uint64_t base, pt_npy_info *info)
{
    cursor c = {text, text, text + len, path, base};
    header h = {{NULL, 0}, false, {false}};
    int err = parse_dict(&c, &h, info);
    if (!err)
        err = descr_type(path, h.descr, &info->type);
    if (!err && h.fortran)
        err = pt__err(-EINVAL, "%s: Fortran-order data (fortran_order True) is "
                      "not supported", path);
    if (!err)
        err = data_size(path, info);
    return err;
}

/* ---- the prefix and header, from memory ------------------------------------ */

/*
 * Check the prefix (magic, version, header length) in p[0..len), the first
 * len bytes of a file of fsize bytes: where the header starts, its length.
 */
static int parse_prefix(const char *path, const unsigned char *p, size_t len,
                        uint64_t fsize, uint64_t *hstart, uint64_t *hlen)
{
    if (fsize < 10)
        return pt__err(-EINVAL, "%s: file of %" PRIu64 " bytes is too short for "
                       "a .npy file", path, fsize);
    if (len >= MAGIC_LEN && memcmp(p, MAGIC, MAGIC_LEN) != 0)
        return pt__err(-EINVAL, "%s: not a .npy file (bad magic)", path);
    if (len >= 8 && (p[7] != 0 || p[6] < 1 || p[6] > 3))
        return pt__err(-EINVAL, "%s: .npy format version %u.%u is not supported "
                       "(1.0, 2.0 and 3.0 are)", path, p[6], p[7]);
    *hstart = len >= 8 && p[6] == 1 ? 10 : 12;
    if (len < *hstart)
        return pt__err(-EINVAL, "%s: file ends inside its header", path);
    *hlen = (uint64_t)p[8] | (uint64_t)p[9] << 8;
    if (*hstart == 12)
        *hlen |= (uint64_t)p[10] << 16 | (uint64_t)p[11] << 24;
    if (*hstart > fsize || *hlen > fsize - *hstart)
        return pt__err(-EINVAL, "%s: header of %" PRIu64 " bytes runs past the "
                       "end of the file (%" PRIu64 " bytes)", path, *hlen, fsize);
    if (*hlen > HEADER_MAX)
        return pt__err(-EINVAL, "%s: header of %" PRIu64 " bytes is larger than "
                       "the %u this reader accepts", path, *hlen, HEADER_MAX);
    return 0;
}

int pt__npy_head_len(const char *path, const void *head, size_t len,
                     uint64_t fsize, size_t *need)
{
    uint64_t hstart, hlen;
    int err = parse_prefix(path, head, len, fsize, &hstart, &hlen);
    if (!err)
        *need = (size_t)(hstart + hlen);
    return err;
}

int pt__npy_parse(const char *path, const void *head, size_t len,
                  uint64_t fsize, pt_npy_info *out)
{
    pt_npy_info info = {0};
    uint64_t hstart = 0, hlen = 0;
    int err = parse_prefix(path, head, len, fsize, &hstart, &hlen);
    if (!err && len < hstart + hlen)
        err = pt__err(-EINVAL, "%s: file ends inside its header", path);
    if (!err)
        err = parse_header(path, (const char *)head + hstart, (size_t)hlen,
                           hstart, &info);
    info.data_offset = hstart + hlen;
    if (!err && info.nbytes > fsize - info.data_offset)
        err = pt__err(-EINVAL, "%s: data truncated: the header promises %" PRIu64
                      " bytes after byte %" PRIu64 ", the file has %" PRIu64,
                      path, info.nbytes, info.data_offset,
                      fsize - info.data_offset);
    if (!err)
        *out = info;
    return err;
}

/* ---- reading ------------------------------------------------------------- */

/*
 * Read exactly n bytes of `what` at offset `off`; the end of the file there
 * is a bad file.
 */
static int read_exact(int fd, const char *path, void *p, size_t n,
                      uint64_t off, const char *what)
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
static int read_info(int fd, const char *path, uint64_t fsize, pt_npy_info *info)
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
        return pt__err(-EINVAL, "%s: dims is NULL for %d dimensions", path, ndims);
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
        format_shape(got, sizeof got, info->ndims, info->dims);
        format_shape(want, sizeof want, ndims, dims);
        return pt__err(-EINVAL, "%s: shape %s does not match the expected %s",
                       path, got, want);
    }
    if (nbytes != info->nbytes)
        return pt__err(-EINVAL, "%s: data is %" PRIu64 " bytes but the "
                       "destination holds %" PRIu64, path, info->nbytes, nbytes);
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
    format_shape(shape, sizeof shape, info->ndims, info->dims);
    size_t n = (size_t)snprintf(dict, sizeof dict, "{'descr': '%c%s', "
                                "'fortran_order': False, 'shape': %s, }",
                                pt_dtype_size(info->type) == 1 ? '|' : '<',
                                type_code(info->type), shape);
    if (info->ndims > 0)
        n += GROWTH_DIGITS - (size_t)snprintf(NULL, 0, "%" PRIu64, info->dims[0]);
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
    err = data_size(path, info);
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
