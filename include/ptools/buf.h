/*
 * ptools/buf.h - a growable byte buffer.
 *
 * Used where a callee hands bytes back to ptools (pfork's `out`, encoded
 * values). Zero-initialise (`pt_buf b = {0};`) or pt_buf_init(), append, and
 * release with pt_buf_free(). `data` is malloc-aligned (suits any scalar).
 */
#ifndef PTOOLS_BUF_H
#define PTOOLS_BUF_H

#include <stddef.h>
#include <stdint.h>

#include <ptools/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_buf {
    uint8_t *data; /* NULL while empty and never grown */
    size_t len;    /* bytes in use */
    size_t cap;    /* bytes allocated */
} pt_buf;

PT_EXTERN void pt_buf_init(pt_buf *b);
PT_EXTERN void pt_buf_free(pt_buf *b);
/* Forget the contents but keep the allocation. */
PT_EXTERN void pt_buf_reset(pt_buf *b);
/* Make room for `extra` more bytes: 0 or -ENOMEM (-EOVERFLOW if absurd). */
PT_EXTERN int pt_buf_reserve(pt_buf *b, size_t extra);
PT_EXTERN int pt_buf_append(pt_buf *b, const void *p, size_t n);
/* Append formatted text (no terminating NUL is counted in len). */
PT_EXTERN int pt_buf_printf(pt_buf *b, const char *fmt, ...) PT_PRINTF(2, 3);

#ifdef __cplusplus
}
#endif
#endif
