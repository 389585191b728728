/* wire.c - frames between the runner and its workers (see wire.h). */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include "internal.h"
#include "wire.h"

#define HDR PT__WIRE_HDR_SIZE
#define READER_CHUNK ((size_t)64 << 10) /* a pipe's capacity */

/* Little-endian integers of n bytes; one copy on a little-endian host
 * (every frame goes through here, twice). */
static void put_le(uint8_t *p, uint64_t v, int n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, &v, (size_t)n);
#else
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
#endif
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(&v, p, (size_t)n);
#else
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
#endif
    return v;
}

static size_t pad8(size_t n)
{
    return (8 - (n & 7)) & 7;
}

/* Bytes a frame takes on the wire: header, payload, padding. */
static size_t frame_size(uint32_t len)
{
    return HDR + (size_t)len + pad8(len);
}

static size_t effective_max(size_t max_payload)
{
    if (max_payload == 0)
        return PT__WIRE_MAX_PAYLOAD;
    return max_payload > UINT32_MAX ? UINT32_MAX : max_payload;
}

void pt__wire_hdr_encode(uint8_t out[PT__WIRE_HDR_SIZE], uint8_t type,
                         uint64_t task_id, uint32_t len)
{
    put_le(out, PT__WIRE_MAGIC, 2);
    out[2] = PT__WIRE_VERSION;
    out[3] = type;
    put_le(out + 4, len, 4);
    put_le(out + 8, task_id, 8);
}

int pt__wire_hdr_decode(const uint8_t in[PT__WIRE_HDR_SIZE], size_t max_payload,
                        pt__wire_hdr *hdr)
{
    unsigned magic = (unsigned)get_le(in, 2);
    uint32_t len = (uint32_t)get_le(in + 4, 4);
    size_t max = effective_max(max_payload);
    if (magic != PT__WIRE_MAGIC)
        return pt__err(-EBADMSG, "bad frame magic 0x%04x (expected 0x%04x)",
                       magic, PT__WIRE_MAGIC);
    if (in[2] != PT__WIRE_VERSION)
        return pt__err(-EBADMSG, "frame version %u, expected %u", in[2],
                       PT__WIRE_VERSION);
    if (!pt__wire_type_known(in[3]))
        return pt__err(-EBADMSG, "unknown frame type %u", in[3]);
    if (len > max)
        return pt__err(-EMSGSIZE,
                       "frame of %lu bytes exceeds the %zu-byte "
                       "limit",
                       (unsigned long)len, max);
    hdr->type = in[3];
    hdr->len = len;
    hdr->task_id = get_le(in + 8, 8);
    return 0;
}

/* The padding after a payload must be zero: a cheap sign of sync. The
 * n < 8 bytes of padding end a payload padded to a multiple of 8 bytes, so
 * the 8 bytes ending with them are the payload's: on a little-endian host
 * one load checks them all, as the high bytes of that word. */
static int check_padding(const uint8_t *p, size_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (n == 0)
        return 0;
    uint64_t w;
    memcpy(&w, p + n - 8, 8);
    if ((w >> (8 * (8 - n))) == 0)
        return 0; /* else find the byte to report */
#endif
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return pt__err(-EBADMSG, "frame padding byte %zu is 0x%02x, not 0",
                           i, p[i]);
    return 0;
}

/* ---- writing ------------------------------------------------------------ */

/*
 * Discard the SIGPIPE our write raised while the signal was blocked, so it
 * is not delivered when the caller's mask comes back.
 */
static void drop_sigpipe(void)
{
    sigset_t set, pending;
    struct timespec zero = {0, 0};
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1)
        while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
            ;
}

static int sigpipe_harmless; /* a handler catches it: no masking */

void pt_sys_sigpipe_harmless(bool yes)
{
    sigpipe_harmless = yes;
}

int pt__wire_sigpipe_harmless(void)
{
    return sigpipe_harmless;
}

/* writev with SIGPIPE blocked: a vanished reader is -EPIPE, not a death. */
static int writev_nosigpipe(int fd, struct iovec *iov, int n)
{
    if (sigpipe_harmless) /* a worker, ptrun: three syscalls saved */
        return pt_sys_writev_full(fd, iov, n);
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    int rc = pt_sys_writev_full(fd, iov, n);
    if (rc == -EPIPE && !sigismember(&old, SIGPIPE))
        drop_sigpipe();
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

static int check_type_len(int type, size_t len)
{
    if (type < 0 || !pt__wire_type_known((unsigned)type))
        return pt__err(-EINVAL, "unknown frame type %d", type);
    if (len > UINT32_MAX)
        return pt__err(-EMSGSIZE,
                       "a payload of %zu bytes exceeds the 4 GiB "
                       "frame limit",
                       len);
    return 0;
}

int pt__wire_write2(int fd, int type, uint64_t task_id, const void *head,
                    size_t hlen, const void *body, size_t blen)
{
    static const uint8_t zeros[8];
    uint8_t h[HDR];
    size_t len = hlen + blen;
    int rc = check_type_len(type, len);
    if (rc < 0)
        return rc;
    pt__wire_hdr_encode(h, (uint8_t)type, task_id, (uint32_t)len);
    struct iovec iov[4] = {
        {h, HDR},
        {(void *)head, hlen},
        {(void *)body, blen},
        {(void *)zeros, pad8(len)},
    };
    rc = writev_nosigpipe(fd, iov, 4);
    if (rc == -EPIPE)
        return pt__err(rc, "the reader of fd %d is gone", fd);
    return rc;
}

int pt__wire_write(int fd, int type, uint64_t task_id, const void *payload,
                   size_t len)
{
    return pt__wire_write2(fd, type, task_id, payload, len, NULL, 0);
}

int pt__wire_append(pt_buf *b, int type, uint64_t task_id, const void *head,
                    size_t hlen, const void *body, size_t blen)
{
    static const uint8_t zeros[8];
    uint8_t h[HDR];
    size_t len = hlen + blen;
    int rc = check_type_len(type, len);
    if (rc < 0 || (rc = pt_buf_reserve(b, HDR + len + pad8(len))) < 0)
        return rc;
    pt__wire_hdr_encode(h, (uint8_t)type, task_id, (uint32_t)len);
    pt_buf_append(b, h, HDR);
    pt_buf_append(b, head, hlen);
    pt_buf_append(b, body, blen);
    pt_buf_append(b, zeros, pad8(len));
    return 0;
}

int pt__wire_write_buf(int fd, const pt_buf *b)
{
    struct iovec iov = {b->data, b->len};
    int rc = b->len ? writev_nosigpipe(fd, &iov, 1) : 0;
    if (rc == -EPIPE)
        return pt__err(rc, "the reader of fd %d is gone", fd);
    return rc;
}

/* ---- blocking read ------------------------------------------------------ */

/* Read n bytes, stopping short only at end of stream; *got says how many. */
static int read_upto(int fd, uint8_t *p, size_t n, size_t *got)
{
    *got = 0;
    while (*got < n) {
        ssize_t r = pt_sys_read_some(fd, p + *got, n - *got);
        if (r < 0)
            return (int)r;
        if (r == 0)
            break;
        *got += (size_t)r;
    }
    return 0;
}

static int read_payload(int fd, const pt__wire_hdr *hdr, pt_buf *payload)
{
    size_t need = frame_size(hdr->len) - HDR, got = 0;
    pt_buf_reset(payload);
    if (need == 0)
        return 0;
    int rc = pt_buf_reserve(payload, need);
    if (rc == 0)
        rc = read_upto(fd, payload->data, need, &got);
    if (rc < 0)
        return rc;
    if (got < need)
        return pt__err(-EPROTO,
                       "stream ended inside a frame: %zu of %zu "
                       "payload bytes",
                       got, need);
    rc = check_padding(payload->data + hdr->len, need - hdr->len);
    if (rc == 0)
        payload->len = hdr->len;
    return rc;
}

int pt__wire_read(int fd, size_t max_payload, pt__wire_hdr *hdr,
                  pt_buf *payload)
{
    uint8_t h[HDR];
    size_t got;
    int rc = read_upto(fd, h, HDR, &got);
    if (rc < 0)
        return rc;
    if (got == 0)
        return pt__err(-EPIPE, "end of stream");
    if (got < HDR)
        return pt__err(-EPROTO,
                       "stream ended inside a frame header: %zu of "
                       "%d bytes",
                       got, HDR);
    rc = pt__wire_hdr_decode(h, max_payload, hdr);
    return rc < 0 ? rc : read_payload(fd, hdr, payload);
}

/* ---- incremental reader ------------------------------------------------- */

void pt__wire_reader_init(pt__wire_reader *r, size_t max_payload)
{
    memset(r, 0, sizeof *r);
    r->max_payload = effective_max(max_payload);
}

void pt__wire_reader_free(pt__wire_reader *r)
{
    free(r->buf);
    pt__wire_reader_init(r, r->max_payload);
}

size_t pt__wire_reader_pending(const pt__wire_reader *r)
{
    return r->end - r->pos;
}

int pt__wire_reader_eof(const pt__wire_reader *r)
{
    size_t n = pt__wire_reader_pending(r);
    if (n)
        return pt__err(-EPROTO,
                       "stream ended inside a frame (%zu bytes "
                       "pending)",
                       n);
    return 0;
}

/*
 * Decode the header of the first pending frame, if all there: *size is the
 * frame's full size, or 0 while the header is incomplete. A bad header
 * kills the reader.
 */
static int peek(pt__wire_reader *r, pt__wire_hdr *hdr, size_t *size)
{
    *size = 0;
    if (r->end - r->pos < HDR)
        return 0;
    int rc = pt__wire_hdr_decode(r->buf + r->pos, r->max_payload, hdr);
    if (rc < 0)
        return r->err = rc;
    *size = frame_size(hdr->len);
    return 0;
}

/* Move pending bytes to the front; release a large buffer once empty. */
static void compact(pt__wire_reader *r)
{
    size_t n = r->end - r->pos;
    if (n == 0 && r->cap > READER_CHUNK) {
        free(r->buf);
        r->buf = NULL;
        r->cap = 0;
    }
    if (n && r->pos)
        memmove(r->buf, r->buf + r->pos, n);
    r->pos = 0;
    r->end = n;
}

/* Grow to hold `size` bytes (a chunk at least), never past the limit. */
static int grow(pt__wire_reader *r, size_t size)
{
    size_t limit = frame_size((uint32_t)r->max_payload);
    size_t cap = READER_CHUNK < limit ? READER_CHUNK : limit;
    if (size > cap)
        cap = size; /* size <= limit: peek() checked the length */
    uint8_t *p = realloc(r->buf, cap);
    if (!p)
        return pt__err(-ENOMEM, "no memory for a %zu-byte frame buffer", cap);
    r->buf = p;
    r->cap = cap;
    return 0;
}

/* Find free space at the end of the buffer for the next read. */
static int make_room(pt__wire_reader *r, uint8_t **p, size_t *n)
{
    pt__wire_hdr hdr;
    size_t size;
    if (r->err)
        return r->err;
    compact(r);
    int rc = peek(r, &hdr, &size);
    if (rc == 0 && r->end == r->cap) {
        if (size && size <= r->end)
            return pt__err(-ENOBUFS, "the frame buffer is full of complete "
                                     "frames: take them first");
        rc = grow(r, size);
    }
    if (rc < 0)
        return rc;
    *p = r->buf + r->end;
    *n = r->cap - r->end;
    return 0;
}

ssize_t pt__wire_reader_fill(pt__wire_reader *r, int fd)
{
    uint8_t *p = NULL;
    size_t n = 0;
    int rc = make_room(r, &p, &n);
    if (rc < 0)
        return rc;
    ssize_t got = pt_sys_read_some(fd, p, n);
    if (got > 0)
        r->end += (size_t)got;
    r->short_read = got >= 0 && (size_t)got < n;
    return got;
}

ssize_t pt__wire_reader_feed(pt__wire_reader *r, const void *p, size_t n)
{
    uint8_t *dst = NULL;
    size_t room = 0;
    int rc = make_room(r, &dst, &room);
    if (rc < 0)
        return rc;
    if (room > n)
        room = n;
    if (room)
        memcpy(dst, p, room);
    r->end += room;
    return (ssize_t)room;
}

int pt__wire_reader_next(pt__wire_reader *r, pt__wire_hdr *hdr,
                         const uint8_t **payload)
{
    size_t size;
    if (r->err)
        return r->err;
    int rc = peek(r, hdr, &size);
    if (rc < 0 || size == 0 || size > r->end - r->pos)
        return rc;
    const uint8_t *p = r->buf + r->pos + HDR;
    rc = check_padding(p + hdr->len, size - HDR - hdr->len);
    if (rc < 0)
        return r->err = rc;
    *payload = p;
    r->pos += size;
    return 1;
}
