/*
 * value_impl.h - what the parts of the value codec share (value_enc.c,
 * value_dec.c, value_json.c): the layout of the encoding and its byte
 * helpers. Private to libptools.
 */
#ifndef PT_VALUE_IMPL_H
#define PT_VALUE_IMPL_H

#include <float.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ptools/value.h>

/*
 * Arrays are handed out in place, so the host must store int64 and double
 * exactly as the encoding does: little-endian, IEEE 754 binary64. Headers
 * are still read byte by byte (they are not aligned).
 */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error                                                                         \
    "the value codec hands out arrays in place: it needs a little-endian host"
#endif
_Static_assert(sizeof(double) == 8 && FLT_RADIX == 2 && DBL_MANT_DIG == 53,
               "the value encoding needs IEEE 754 binary64 doubles");

#define SIZED_HDR 5          /* tag, u32 length */
#define CONTAINER_HDR 9      /* tag, u32 count, u32 size */
#define OPEN_SIZE UINT32_MAX /* size of a container not yet ended */
#define MIN_ITEM 1           /* smallest list item: a NULL */
#define MIN_ENTRY 6          /* smallest map entry: an empty key and a NULL */

static inline void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static inline uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

/* Zero bytes needed after `off` to reach a multiple of 8. */
static inline size_t pad8(size_t off)
{
    return (8 - (off & 7)) & 7;
}

/* Whether `n` bytes at `off` lie inside `len` bytes (overflow-safe). */
static inline bool fits(size_t len, size_t off, size_t n)
{
    return off <= len && n <= len - off;
}

static inline bool is_container(pt_vtype t)
{
    return t == PT_V_LIST || t == PT_V_MAP;
}

static inline const char *type_name(pt_vtype t)
{
    return t == PT_V_MAP ? "map" : "list";
}

/* The next item of either kind of container (`key` is set for maps). */
static inline int iter_next(pt_viter *it, pt_vstr *key, pt_val *item)
{
    if (it->type == PT_V_MAP)
        return pt_vmap_next(it, key, item);
    return pt_vlist_next(it, item);
}

/* Parse a length-prefixed, NUL-terminated text (a STR body or a map key);
 * its end goes to *next. 0 or -EBADMSG, with a message (value_dec.c). */
int pt_v_parse_text(const uint8_t *p, size_t len, size_t off, const char *what,
                    pt_vstr *s, size_t *next);

#endif
