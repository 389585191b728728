/* buf.c - the growable byte buffer of buf.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ptools/buf.h>

void pt_buf_init(pt_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void pt_buf_free(pt_buf *b)
{
    free(b->data);
    pt_buf_init(b);
}

void pt_buf_reset(pt_buf *b)
{
    b->len = 0;
}

int pt_buf_reserve(pt_buf *b, size_t extra)
{
    if (extra > SIZE_MAX / 2 - b->len)
        return -EOVERFLOW;
    size_t need = b->len + extra;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return -ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int pt_buf_append(pt_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    int rc = pt_buf_reserve(b, n);
    if (rc < 0)
        return rc;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int pt_buf_printf(pt_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    int rc = pt_buf_reserve(b, (size_t)n + 1);
    if (rc < 0)
        return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}
