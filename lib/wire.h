/*
 * wire.h - frames between the runner and its workers (private).
 *
 * A frame is a 16-byte header, the payload, and 0-7 zero bytes that pad the
 * frame to a multiple of 8, so that every header and payload in a stream
 * stays 8-byte aligned in a reader's buffer (encoded values hand out arrays
 * in place, see value.h). The header, all little-endian:
 *
 *   0  u16 magic 0x5450 ("PT" on the wire)   2  u8 version   3  u8 type
 *   4  u32 payload length (padding excluded) 8  u64 task id
 *
 * Nothing read is trusted: bad magic, version, type or padding is -EBADMSG,
 * a payload over the reader's limit is -EMSGSIZE (refused before anything is
 * allocated), a stream that ends inside a frame is -EPROTO; a peer that is
 * gone is -EPIPE. Each failure leaves a message in pt_errmsg(). After any of
 * these the stream is out of step: treat the peer as crashed.
 */
#ifndef PT_WIRE_H
#define PT_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ptools/buf.h>

#define PT__WIRE_MAGIC 0x5450
#define PT__WIRE_VERSION 1
#define PT__WIRE_HDR_SIZE 16
/* The default payload limit; readers may set another (at most 4 GiB - 1). */
#define PT__WIRE_MAX_PAYLOAD ((size_t)64 << 20)

/*
 * Frame types. Codes are stable and never reused: 1 (hello), 5 (log),
 * 6 (shutdown) and 7 (batch) were frames nobody sent and are refused like
 * any unknown type. New ones go before PT__WIRE_TYPE_END.
 */
typedef enum pt__wire_type {
    PT__WIRE_TASK = 2,   /* runner -> worker: run one task (kernel, args) */
    PT__WIRE_RESULT = 3, /* worker -> runner: a task succeeded (its results) */
    PT__WIRE_ERROR = 4,  /* worker -> runner: a task failed (its message) */
    PT__WIRE_RESULT_SHM = 8, /* worker -> runner: a task succeeded; its
                                results wait in the worker's shared buffer */
    PT__WIRE_TYPE_END        /* one past the last code */
} pt__wire_type;

/* Is `type` one of the frame types above? */
static inline bool pt__wire_type_known(unsigned type)
{
    return type == PT__WIRE_TASK || type == PT__WIRE_RESULT ||
           type == PT__WIRE_ERROR || type == PT__WIRE_RESULT_SHM;
}

typedef struct pt__wire_hdr {
    uint8_t type;     /* a pt__wire_type */
    uint32_t len;     /* payload bytes */
    uint64_t task_id; /* 0 where no task is concerned */
} pt__wire_hdr;

/* Fill the 16 header bytes of a frame. */
void pt__wire_hdr_encode(uint8_t out[PT__WIRE_HDR_SIZE], uint8_t type,
                         uint64_t task_id, uint32_t len);
/* Check and decode 16 header bytes: 0, -EBADMSG, or -EMSGSIZE. */
int pt__wire_hdr_decode(const uint8_t in[PT__WIRE_HDR_SIZE], size_t max_payload,
                        pt__wire_hdr *hdr);

/*
 * Write one frame with writev, looping on short writes and EINTR. For a
 * blocking fd (on a nonblocking one, -EAGAIN may come mid-frame). A reader
 * that is gone yields -EPIPE, never a SIGPIPE death: the signal is blocked
 * in this thread during the write and a SIGPIPE it caused is discarded.
 * -EINVAL for an unknown type, -EMSGSIZE for len >= 4 GiB.
 */
int pt__wire_write(int fd, int type, uint64_t task_id, const void *payload,
                   size_t len);

int pt__wire_sigpipe_harmless(void);

/* The same with a payload in two parts, `head` then `body` (either may be
 * NULL/0): no copy to join them. */
int pt__wire_write2(int fd, int type, uint64_t task_id, const void *head,
                    size_t hlen, const void *body, size_t blen);

/* Append one frame (head + body, padded) to `b`, to write many at once
 * with pt__wire_write_buf(). 0, -EINVAL, -EMSGSIZE or -ENOMEM. */
int pt__wire_append(pt_buf *b, int type, uint64_t task_id, const void *head,
                    size_t hlen, const void *body, size_t blen);

/* Write all of `b` to a blocking fd, as pt__wire_write() does a frame. */
int pt__wire_write_buf(int fd, const pt_buf *b);

/*
 * Read one whole frame from a blocking fd into `payload` (replacing its
 * contents; its data is malloc'd, so 8-aligned). `max_payload` 0 means
 * PT__WIRE_MAX_PAYLOAD. 0, -EPIPE at a clean end of stream (between
 * frames), -EPROTO at an end inside a frame, -EBADMSG, -EMSGSIZE, -errno.
 */
int pt__wire_read(int fd, size_t max_payload, pt__wire_hdr *hdr,
                  pt_buf *payload);

/*
 * An incremental reader for a poll loop: fill it from a nonblocking fd (or
 * feed it bytes), then take the complete frames with next() until it
 * returns 0. Its buffer never grows beyond 16 + max_payload rounded up to 8
 * bytes, and is released when it empties after holding a large frame.
 */
typedef struct pt__wire_reader {
    uint8_t *buf;
    size_t cap;         /* bytes allocated */
    size_t pos;         /* first byte not yet taken by next() */
    size_t end;         /* one past the last byte read */
    size_t max_payload; /* larger frames are refused */
    int err;            /* sticky: once a frame is bad, the stream is dead */
    int short_read;     /* the last fill() got less than it had room for:
                           the fd was (very likely) empty */
} pt__wire_reader;

/* `max_payload` 0 means PT__WIRE_MAX_PAYLOAD; above 4 GiB - 1 is clamped. */
void pt__wire_reader_init(pt__wire_reader *r, size_t max_payload);
void pt__wire_reader_free(pt__wire_reader *r);

/*
 * One read from `fd` into the reader: bytes read, 0 at end of stream (see
 * pt__wire_reader_eof()), -EAGAIN when there is nothing yet, -errno,
 * -EBADMSG/-EMSGSIZE when the buffered frame is bad, or -ENOBUFS when the
 * buffer is full of complete frames (take them with next() first).
 */
ssize_t pt__wire_reader_fill(pt__wire_reader *r, int fd);

/*
 * Copy bytes into the reader as a read would (for tests and fuzzers): the
 * number taken, possibly fewer than n, or a negative code as for fill()
 * (-ENOBUFS: take frames with next(), then feed the rest).
 */
ssize_t pt__wire_reader_feed(pt__wire_reader *r, const void *p, size_t n);

/*
 * Take the next complete frame: 1 with `hdr` and `*payload` set (pointing
 * into the reader, 8-aligned, valid until the next call on the reader), 0
 * when more bytes are needed, or -EBADMSG/-EMSGSIZE for a bad frame, after
 * which every call fails the same way.
 */
int pt__wire_reader_next(pt__wire_reader *r, pt__wire_hdr *hdr,
                         const uint8_t **payload);

/* Bytes buffered and not yet taken by next(). */
size_t pt__wire_reader_pending(const pt__wire_reader *r);

/* At end of stream: 0 if it ended between frames, else -EPROTO. */
int pt__wire_reader_eof(const pt__wire_reader *r);

#endif
