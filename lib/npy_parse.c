/*
 * npy_parse.c - the header of NumPy .npy files, checked from memory
 * (npy_impl.h); npy.c reads and writes the files.
 *
 * A file is the magic "\x93NUMPY", a major and a minor version byte, the
 * header's length (2 bytes little-endian in 1.0, 4 bytes in 2.0 and 3.0),
 * the header - a Python dict literal padded with spaces and ended by '\n' -
 * and the raw data. The header is read by a small parser of the few literals
 * NumPy writes (strings, True/False, tuples of integers), never evaluated.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <ptools/npy.h>

#include "internal.h"
#include "npy_impl.h"

#define HEADER_MAX                                                             \
    (1u << 20) /* a header we accept is ~300 bytes; cap the malloc */

/* NumPy's type codes (after the byte-order character) for dtype.h's types. */
static const struct {
    const char *code;
    pt_dtype type;
} codes[] = {
    {"i1", PT_INT8},    {"i2", PT_INT16},  {"i4", PT_INT32},
    {"i8", PT_INT64},   {"u1", PT_UINT8},  {"u2", PT_UINT16},
    {"u4", PT_UINT32},  {"u8", PT_UINT64}, {"f4", PT_FLOAT32},
    {"f8", PT_FLOAT64},
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

/* ---- shapes and type codes ------------------------------------------------
 */

/* Format a shape as Python's repr of a tuple: "()", "(5,)", "(3, 4)". */
void pt__npy_format_shape(char *buf, size_t size, int ndims,
                          const uint64_t *dims)
{
    size_t n = (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < ndims && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%" PRIu64, i ? ", " : "",
                              dims[i]);
    if (n < size)
        snprintf(buf + n, size - n, ndims == 1 ? ",)" : ")");
}

/* NumPy's code ("f8") of a valid type. */
const char *pt__npy_type_code(pt_dtype type)
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
        return pt__err(-EINVAL,
                       "%s: dtype '%.*s' is not supported (only i1 i2 "
                       "i4 i8 u1 u2 u4 u8 f4 f8)",
                       path, shown, d.s);
    if (order == '>' && pt_dtype_size(t) > 1)
        return pt__err(-EINVAL, "%s: big-endian data ('%.*s') is not supported",
                       path, shown, d.s);
    if (order == '|' && pt_dtype_size(t) > 1)
        return pt__err(-EINVAL,
                       "%s: dtype '%.*s' has no byte order ('|' is for "
                       "1-byte types)",
                       path, shown, d.s);
    *type = t;
    return 0;
}

/*
 * Fill info->nbytes with product(dims) * size, refusing a size that does not
 * fit in 64 bits (a shape with a 0 dimension is empty, whatever the others).
 */
int pt__npy_data_size(const char *path, pt_npy_info *info)
{
    uint64_t n = pt_dtype_size(info->type);
    for (int i = 0; i < info->ndims; i++)
        if (info->dims[i] == 0)
            n = 0;
    for (int i = 0; i < info->ndims && n != 0; i++) {
        if (n > UINT64_MAX / info->dims[i]) {
            char shape[SHAPE_STR_MAX];
            pt__npy_format_shape(shape, sizeof shape, info->ndims, info->dims);
            return pt__err(-EINVAL,
                           "%s: shape %s of %s is more than 2^64 bytes", path,
                           shape, pt_dtype_name(info->type));
        }
        n *= info->dims[i];
    }
    info->nbytes = n;
    return 0;
}

/* ---- the header parser ------------------------------------------------------
 */

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
            return pt__err(-EINVAL,
                           "%s: shape has more than %d dimensions "
                           "(PT_NPY_MAXDIMS)",
                           c->path, PT_NPY_MAXDIMS);
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
        return pt__err(-EINVAL,
                       "%s: structured dtypes (descr [...]) are not "
                       "supported",
                       c->path);
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
    while (k < KEY_COUNT &&
           !(strlen(keys[k]) == key.n && memcmp(keys[k], key.s, key.n) == 0))
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
        err = pt__err(-EINVAL,
                      "%s: Fortran-order data (fortran_order True) is "
                      "not supported",
                      path);
    if (!err)
        err = pt__npy_data_size(path, info);
    return err;
}

/* ---- the prefix and header, from memory ------------------------------------
 */

/*
 * Check the prefix (magic, version, header length) in p[0..len), the first
 * len bytes of a file of fsize bytes: where the header starts, its length.
 */
static int parse_prefix(const char *path, const unsigned char *p, size_t len,
                        uint64_t fsize, uint64_t *hstart, uint64_t *hlen)
{
    if (fsize < 10)
        return pt__err(-EINVAL,
                       "%s: file of %" PRIu64 " bytes is too short for "
                       "a .npy file",
                       path, fsize);
    if (len >= MAGIC_LEN && memcmp(p, MAGIC, MAGIC_LEN) != 0)
        return pt__err(-EINVAL, "%s: not a .npy file (bad magic)", path);
    if (len >= 8 && (p[7] != 0 || p[6] < 1 || p[6] > 3))
        return pt__err(-EINVAL,
                       "%s: .npy format version %u.%u is not supported "
                       "(1.0, 2.0 and 3.0 are)",
                       path, p[6], p[7]);
    *hstart = len >= 8 && p[6] == 1 ? 10 : 12;
    if (len < *hstart)
        return pt__err(-EINVAL, "%s: file ends inside its header", path);
    *hlen = (uint64_t)p[8] | (uint64_t)p[9] << 8;
    if (*hstart == 12)
        *hlen |= (uint64_t)p[10] << 16 | (uint64_t)p[11] << 24;
    if (*hstart > fsize || *hlen > fsize - *hstart)
        return pt__err(-EINVAL,
                       "%s: header of %" PRIu64 " bytes runs past the "
                       "end of the file (%" PRIu64 " bytes)",
                       path, *hlen, fsize);
    if (*hlen > HEADER_MAX)
        return pt__err(-EINVAL,
                       "%s: header of %" PRIu64 " bytes is larger than "
                       "the %u this reader accepts",
                       path, *hlen, HEADER_MAX);
    return 0;
}

int pt__npy_head_len(const char *path, const void *head, size_t len,
                     uint64_t fsize, size_t *need)
{
    uint64_t hstart = 0, hlen = 0;
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
        err = pt__err(-EINVAL,
                      "%s: data truncated: the header promises %" PRIu64
                      " bytes after byte %" PRIu64 ", the file has %" PRIu64,
                      path, info.nbytes, info.data_offset,
                      fsize - info.data_offset);
    if (!err)
        *out = info;
    return err;
}
