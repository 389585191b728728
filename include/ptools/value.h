/*
 * ptools/value.h - typed values, encoded once: the codec of task args and
 * results, from the spec (or a caller) to a worker and back to a plugin.
 *
 * Task arguments and results travel between processes (and, later, between
 * machines over MPI) as one encoded value: null, bool, int64, double, string,
 * bytes, int64 array, double array, list, or map with string keys. The
 * encoder appends to a pt_buf; the decoder is zero-copy and bounds-checked on
 * every input, trusted or not, and never recurses deeper than a limit.
 * Functions return 0 or -errno; bad encodings are -EBADMSG with a message in
 * pt_errmsg() naming the offset and the fault.
 *
 * Layout (every value opens with a one-byte tag; all integers and doubles
 * are little-endian, doubles as IEEE 754 binary64 bits):
 *
 *   NULL  01
 *   BOOL  02 b                        b is 00 or 01
 *   INT   03 i64
 *   REAL  04 f64
 *   STR   05 u32 n, n bytes, 00       no NUL among the n bytes
 *   BYTES 06 u32 n, n bytes
 *   INTS  07 u32 n, 00 pad, n x i64   the pad aligns the elements (below)
 *   REALS 08 u32 n, 00 pad, n x f64
 *   LIST  09 u32 count, u32 size, count values
 *   MAP   0A u32 count, u32 size, count x (key, value)
 *         a key is a STR without its tag: u32 n, n bytes, 00
 *
 * A container's `size` is the byte length of what follows its 9-byte header,
 * so a reader skips a whole container in O(1).
 *
 * Strings are meant to be UTF-8 (not enforced; the JSON writer replaces
 * invalid sequences). They may not contain NUL: the encoder refuses them
 * (-EINVAL), so a decoded string can be handed to C as it lies in the buffer
 * thanks to its stored terminator. Binary data goes in BYTES.
 *
 * Map keys are unique: the encoder refuses a duplicate (-EEXIST), at a cost
 * linear in the map's size per key, so maps are for named fields and bulk
 * data goes in arrays. The decoder does not check uniqueness (that would be
 * quadratic on untrusted input); lookups return the first match.
 *
 * Alignment rule: the elements of INTS and REALS start at the first offset
 * after their count that is a multiple of 8, counted from the start of the
 * encoded buffer (offset 0 of the pt_buf for the encoder, `base` for the
 * decoder); the pad bytes are zero. A decoder base must therefore be 8-byte
 * aligned (malloc'd memory is), and then arrays are handed out as
 * `const int64_t *` / `const double *` pointing into the buffer (zero copy).
 * An encoded value may be moved only by a multiple of 8 bytes; to place it
 * elsewhere, re-encode it with pt_venc_val(). Zero copy needs a
 * little-endian host with IEEE doubles: lib/value_impl.h asserts both at
 * compile time.
 */
#ifndef PTOOLS_VALUE_H
#define PTOOLS_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ptools/buf.h>
#include <ptools/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Type tags, as stored in the encoding (stable: new ones go at the end). */
typedef enum pt_vtype {
    PT_V_NULL = 1,
    PT_V_BOOL,
    PT_V_INT,
    PT_V_REAL,
    PT_V_STR,
    PT_V_BYTES,
    PT_V_INTS,
    PT_V_REALS,
    PT_V_LIST,
    PT_V_MAP,
    PT_V_TYPE_END /* one past the last valid tag */
} pt_vtype;

/* A sensible nesting limit for pt_value_check(), and its hard ceiling. */
#define PT_V_MAX_DEPTH 32
#define PT_V_DEPTH_CAP 256

/* ---- encoder: append one value to `b`; on failure `b` is unchanged ---- */

PT_EXTERN int pt_venc_null(pt_buf *b);
PT_EXTERN int pt_venc_bool(pt_buf *b, bool v);
PT_EXTERN int pt_venc_int(pt_buf *b, int64_t v);
PT_EXTERN int pt_venc_real(pt_buf *b, double v);
/* -EINVAL if the string holds a NUL byte (strn), -EOVERFLOW past 4 GiB. */
PT_EXTERN int pt_venc_str(pt_buf *b, const char *s);
PT_EXTERN int pt_venc_strn(pt_buf *b, const char *s, size_t n);
PT_EXTERN int pt_venc_bytes(pt_buf *b, const void *p, size_t n);
PT_EXTERN int pt_venc_ints(pt_buf *b, const int64_t *p, size_t n);
PT_EXTERN int pt_venc_reals(pt_buf *b, const double *p, size_t n);

/*
 * Containers: begin() writes a header and fills the mark; append the items
 * (for a map: pt_venc_key() then exactly one value, per entry); end()
 * counts the items and patches count and size in place. Nested containers
 * must be ended innermost first. Until it is ended, a container's size
 * reads 0xFFFFFFFF, so a buffer with an open container never checks. end()
 * returns -EINVAL if the mark is not an open container of its kind or the
 * items do not parse (a key without a value, a value without a key, an
 * inner container left open) and -EOVERFLOW past 4 GiB or 2^32 items.
 */
typedef struct pt_vmark {
    size_t off; /* offset of the container's tag in the buffer */
} pt_vmark;

PT_EXTERN int pt_venc_list_begin(pt_buf *b, pt_vmark *m);
PT_EXTERN int pt_venc_list_end(pt_buf *b, const pt_vmark *m);
PT_EXTERN int pt_venc_map_begin(pt_buf *b, pt_vmark *m);
/*
 * The next entry's key: -EEXIST if the map has it already, -EINVAL if `m` is
 * not an open map or its last entry lacks a value.
 */
PT_EXTERN int pt_venc_key(pt_buf *b, const pt_vmark *m, const char *key);
PT_EXTERN int pt_venc_map_end(pt_buf *b, const pt_vmark *m);

/* ---- decoder: views into the encoded bytes, valid while they are ---- */

typedef struct pt_vstr {
    const char *ptr; /* ptr[len] == '\0' and no NUL before it */
    size_t len;
} pt_vstr;

typedef struct pt_val {
    pt_vtype type;
    union {
        bool b;
        int64_t i;
        double r;
        pt_vstr str;
        struct {
            const uint8_t *ptr;
            size_t len;
        } bytes;
        struct {
            const int64_t *ptr; /* 8-aligned when the base is */
            size_t n;
        } ints;
        struct {
            const double *ptr;
            size_t n;
        } reals;
        struct {
            const uint8_t *base; /* the buffer's start (alignment origin) */
            size_t off;          /* first item */
            size_t end;          /* one past the last item */
            size_t count;        /* items (map: entries) */
        } c;                     /* LIST and MAP */
    } u;
} pt_val;

/*
 * Decode the one value at `off` of the `len` bytes at `base` into `v` and set
 * `*next` to the offset just after it. Checks the value itself (bounds, tag,
 * terminator, padding, alignment) but not a container's items: they are
 * checked as they are iterated. -EBADMSG on a bad encoding, -EINVAL for an
 * array in a base that is not 8-aligned.
 */
PT_EXTERN int pt_vdec(const void *base, size_t len, size_t off, pt_val *v,
                      size_t *next);

/* Iteration over a LIST's items or a MAP's entries. */
typedef struct pt_viter {
    const uint8_t *base;
    size_t off, end, left;
    pt_vtype type;
    int err; /* sticky: a bad item ends the iteration for good */
} pt_viter;

/* -EINVAL if `v` is not a LIST or a MAP. */
PT_EXTERN int pt_viter_init(pt_viter *it, const pt_val *v);
/* 1 and the next item, 0 at the end, or -EBADMSG / -EINVAL (not a list). */
PT_EXTERN int pt_vlist_next(pt_viter *it, pt_val *item);
/* 1 and the next entry, 0 at the end, or -EBADMSG / -EINVAL (not a map). */
PT_EXTERN int pt_vmap_next(pt_viter *it, pt_vstr *key, pt_val *val);
/* The first value under `key`: 0, -ENOENT, -EBADMSG, -EINVAL (not a map). */
PT_EXTERN int pt_vmap_get(const pt_val *map, const char *key, pt_val *out);

/*
 * Validate a whole buffer in one pass: exactly one value filling all `len`
 * bytes, containers nested at most `max_depth` deep (a top-level list is
 * depth 1; clamped to PT_V_DEPTH_CAP), counts consistent with sizes. Once it
 * returns 0, no decode or iteration of this buffer can fail. -EBADMSG on any
 * fault, -EINVAL if `base` is not 8-aligned.
 */
PT_EXTERN int pt_value_check(const void *base, size_t len, int max_depth);

/*
 * Re-encode a decoded value (deeply) at the end of `b`, re-aligning its
 * arrays; the way to copy a value between buffers. -EBADMSG if its items are
 * bad or nested deeper than PT_V_DEPTH_CAP.
 */
PT_EXTERN int pt_venc_val(pt_buf *b, const pt_val *v);

/*
 * A double as the shortest of %.15g/%.16g/%.17g that reads back exactly
 * ("1e+23", "0.1", "2"; "inf", "nan"), for JSON and for messages. Returns
 * snprintf's count; 32 bytes always suffice.
 */
PT_EXTERN int pt_real_text(char *s, size_t size, double d);

/*
 * Append the buffer's value to `out` as compact JSON (after checking it like
 * pt_value_check() with the depth cap; on failure `out` is unchanged).
 * Strings are escaped per RFC 8259 (\" \\ \b \f \n \r \t, other control
 * characters as \u00XX); each byte of invalid UTF-8 becomes U+FFFD. Doubles
 * are printed in the shortest of %.15g/%.16g/%.17g that reads back exactly,
 * with ".0" added when that looks like an integer (so a real stays a real);
 * NaN and infinities print as null. Bytes print as {"$bytes":"<base64>"}
 * (RFC 4648, padded); arrays and lists as arrays, maps as objects in their
 * stored order. Numbers assume the C locale (ptools never calls setlocale).
 * A NUL follows the text in `out` (not counted in out->len).
 */
PT_EXTERN int pt_value_to_json(const void *base, size_t len, pt_buf *out);

#ifdef __cplusplus
}
#endif
#endif
