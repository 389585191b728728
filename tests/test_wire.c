/* test_wire.c - frames over pipes: round trips, limits, hostile streams. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "internal.h"
#include <ptools/sys.h>
#include <ptools/value.h>
#include "wire.h"

/* Payload i of a test stream: len(i) bytes of a pattern that names i. */
static size_t pat_len(int i)
{
    static const size_t lens[] = {0, 1, 7, 8, 9, 15, 16, 17, 100, 1000};
    return lens[i % 10];
}

static void pat_fill(uint8_t *p, size_t n, int i)
{
    for (size_t k = 0; k < n; k++)
        p[k] = (uint8_t)(i * 31 + k);
}

static int pat_check(const uint8_t *p, size_t n, int i)
{
    for (size_t k = 0; k < n; k++)
        if (p[k] != (uint8_t)(i * 31 + k))
            return 0;
    return 1;
}

/* Every frame type, in turn. */
static const int types[4] = {PT__WIRE_TASK, PT__WIRE_RESULT, PT__WIRE_ERROR,
                             PT__WIRE_RESULT_SHM};

/* Write frame i of the test stream to fd. */
static int write_pat(int fd, int i)
{
    uint8_t buf[1000];
    size_t n = pat_len(i);
    pat_fill(buf, n, i);
    return pt__wire_write(fd, types[i % 4], 1000 + i, buf, n);
}

/* Check a frame received as frame i of the test stream. */
static void assert_pat(const pt__wire_hdr *h, const uint8_t *p, int i)
{
    CU_ASSERT_EQUAL(h->type, types[i % 4]);
    CU_ASSERT_EQUAL(h->task_id, 1000 + (uint64_t)i);
    CU_ASSERT_EQUAL(h->len, pat_len(i));
    CU_ASSERT(h->len == 0 || pat_check(p, h->len, i));
}

/* The raw bytes of `n` test frames, written through a pipe (< 64 KiB). */
static void stream_bytes(pt_buf *out, int n)
{
    int fds[2];
    uint8_t chunk[4096];
    CU_ASSERT_EQUAL_FATAL(pt_sys_pipe(fds), 0);
    for (int i = 0; i < n; i++)
        CU_ASSERT_EQUAL_FATAL(write_pat(fds[1], i), 0);
    pt_sys_close(fds[1]);
    ssize_t r;
    while ((r = pt_sys_read_some(fds[0], chunk, sizeof chunk)) > 0)
        CU_ASSERT_EQUAL_FATAL(pt_buf_append(out, chunk, (size_t)r), 0);
    pt_sys_close(fds[0]);
}

static void test_header_layout(void)
{
    uint8_t h[16];
    pt__wire_hdr d;
    pt__wire_hdr_encode(h, PT__WIRE_RESULT, 0x0102030405060708ull, 0x0a0b0c);
    CU_ASSERT(memcmp(h,
                     "PT\x01\x03\x0c\x0b\x0a\x00"
                     "\x08\x07\x06\x05\x04\x03\x02\x01",
                     16) == 0);
    CU_ASSERT_EQUAL(pt__wire_hdr_decode(h, 0, &d), 0);
    CU_ASSERT(d.type == PT__WIRE_RESULT && d.len == 0x0a0b0c &&
              d.task_id == 0x0102030405060708ull);
    h[0] = 'X';
    CU_ASSERT_EQUAL(pt__wire_hdr_decode(h, 0, &d), -EBADMSG);
    CU_ASSERT(strstr(pt_errmsg(), "magic") != NULL);
    h[0] = 'P';
    h[2] = 2;
    CU_ASSERT_EQUAL(pt__wire_hdr_decode(h, 0, &d), -EBADMSG);
    CU_ASSERT(strstr(pt_errmsg(), "version") != NULL);
    h[2] = 1;
    h[3] = 0;
    CU_ASSERT_EQUAL(pt__wire_hdr_decode(h, 0, &d), -EBADMSG);
    h[3] = PT__WIRE_TYPE_END;
    CU_ASSERT_EQUAL(pt__wire_hdr_decode(h, 0, &d), -EBADMSG);
    CU_ASSERT(strstr(pt_errmsg(), "type") != NULL);
    /* retired codes (hello, log, shutdown, batch) are unknown types */
    static const uint8_t retired[] = {1, 5, 6, 7};
    for (size_t i = 0; i < sizeof retired; i++) {
        h[3] = retired[i];
        CU_ASSERT_EQUAL(pt__wire_hdr_decode(h, 0, &d), -EBADMSG);
        CU_ASSERT_EQUAL(pt__wire_write(-1, retired[i], 0, "", 0), -EINVAL);
    }
    CU_ASSERT_EQUAL(pt__wire_write(-1, -1, 0, "", 0), -EINVAL);
    h[3] = PT__WIRE_ERROR;
    CU_ASSERT_EQUAL(pt__wire_hdr_decode(h, 0x0a0b0b, &d), -EMSGSIZE);
    CU_ASSERT_EQUAL(pt__wire_hdr_decode(h, 0x0a0b0c, &d), 0);
    /* codes are stable: new types only ever go at the end */
    CU_ASSERT_EQUAL(PT__WIRE_TASK, 2);
    CU_ASSERT_EQUAL(PT__WIRE_RESULT, 3);
    CU_ASSERT_EQUAL(PT__WIRE_ERROR, 4);
    CU_ASSERT_EQUAL(PT__WIRE_RESULT_SHM, 8);
    CU_ASSERT_EQUAL(PT__WIRE_TYPE_END, 9);
    h[3] = PT__WIRE_RESULT_SHM;
    CU_ASSERT_EQUAL(pt__wire_hdr_decode(h, 0, &d), 0);
    CU_ASSERT_EQUAL(d.type, PT__WIRE_RESULT_SHM);
}

static void test_pipe_roundtrip(void)
{
    int fds[2];
    pt_buf p = {0};
    pt__wire_hdr h;
    CU_ASSERT_EQUAL_FATAL(pt_sys_pipe(fds), 0);
    for (int i = 0; i < 20; i++)
        CU_ASSERT_EQUAL(write_pat(fds[1], i), 0);
    pt_sys_close(fds[1]);
    for (int i = 0; i < 20; i++) {
        CU_ASSERT_EQUAL_FATAL(pt__wire_read(fds[0], 0, &h, &p), 0);
        assert_pat(&h, p.data, i);
        CU_ASSERT_EQUAL(p.len, pat_len(i));
    }
    CU_ASSERT_EQUAL(pt__wire_read(fds[0], 0, &h, &p), -EPIPE); /* clean */
    pt_sys_close(fds[0]);
    pt_buf_free(&p);
}

/* Frames are padded to 8 bytes on the wire, with zeros. */
static void test_padding(void)
{
    pt_buf s = {0};
    stream_bytes(&s, 10);
    size_t want = 0;
    for (int i = 0; i < 10; i++)
        want += 16 + (pat_len(i) + 7) / 8 * 8;
    CU_ASSERT_EQUAL(s.len, want);
    /* Frame 1 (at 16) has a 1-byte payload at 32, then 7 zero bytes. */
    CU_ASSERT(s.len >= 40 && memcmp(s.data + 33, "\0\0\0\0\0\0\0", 7) == 0);
    pt_buf_free(&s);
}

/* Fork a child that runs fn(fd) on the pipe's write end and exits. */
static pid_t spawn_writer(int fds[2], void (*fn)(int))
{
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        pt_sys_close(fds[0]);
        fn(fds[1]);
        _exit(0);
    }
    pt_sys_close(fds[1]);
    return pid;
}

static void reap(pid_t pid)
{
    int st;
    CU_ASSERT_EQUAL(pt_sys_waitpid(pid, &st, 0), pid);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

#define BIG ((size_t)1 << 20)

static void write_big(int fd)
{
    uint8_t *p = malloc(BIG);
    pat_fill(p, BIG, 7);
    if (pt__wire_write(fd, PT__WIRE_RESULT, 77, p, BIG) < 0)
        _exit(1);
    if (write_pat(fd, 3) < 0)
        _exit(1);
    free(p);
}

static void test_big_payload(void)
{
    int fds[2];
    pt_buf p = {0};
    pt__wire_hdr h;
    CU_ASSERT_EQUAL_FATAL(pt_sys_pipe(fds), 0);
    pid_t pid = spawn_writer(fds, write_big);
    CU_ASSERT_EQUAL_FATAL(pt__wire_read(fds[0], 0, &h, &p), 0);
    CU_ASSERT(h.type == PT__WIRE_RESULT && h.task_id == 77 && h.len == BIG);
    CU_ASSERT(p.len == BIG && pat_check(p.data, BIG, 7));
    CU_ASSERT_EQUAL(pt__wire_read(fds[0], BIG - 1, &h, &p), 0);
    assert_pat(&h, p.data, 3);
    CU_ASSERT_EQUAL(pt__wire_read(fds[0], 0, &h, &p), -EPIPE);
    reap(pid);
    pt_sys_close(fds[0]);
    pt_buf_free(&p);
}

static void on_alarm(int sig)
{
    (void)sig;
}

/* Big frames written under a storm of signals: short writes and EINTR. */
static void write_interrupted(int fd)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm; /* no SA_RESTART: writes are interrupted */
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval every = {{0, 2000}, {0, 2000}};
    setitimer(ITIMER_REAL, &every, NULL);
    uint8_t *p = malloc(BIG);
    pat_fill(p, BIG, 7);
    for (uint64_t i = 0; i < 6; i++)
        if (pt__wire_write(fd, PT__WIRE_RESULT, i, p, BIG - i) < 0)
            _exit(1);
    free(p);
}

static void test_write_interrupted(void)
{
    int fds[2];
    pt_buf p = {0};
    pt__wire_hdr h;
    CU_ASSERT_EQUAL_FATAL(pt_sys_pipe(fds), 0);
    pid_t pid = spawn_writer(fds, write_interrupted);
    for (uint64_t i = 0; i < 6; i++) {
        usleep(2000); /* let the writer block on a full pipe */
        CU_ASSERT_EQUAL_FATAL(pt__wire_read(fds[0], 0, &h, &p), 0);
        CU_ASSERT(h.task_id == i && p.len == BIG - i);
        CU_ASSERT(pat_check(p.data, p.len, 7));
    }
    CU_ASSERT_EQUAL(pt__wire_read(fds[0], 0, &h, &p), -EPIPE);
    reap(pid);
    pt_sys_close(fds[0]);
    pt_buf_free(&p);
}

static void write_truncated(int fd)
{
    uint8_t h[16], body[50] = {0};
    pt__wire_hdr_encode(h, PT__WIRE_TASK, 1, 100);
    pt_sys_write_full(fd, h, 16);
    pt_sys_write_full(fd, body, sizeof body);
}

static void write_half_header(int fd)
{
    pt_sys_write_full(fd, "PT\x01", 3);
}

static void test_truncated(void)
{
    int fds[2];
    pt_buf p = {0};
    pt__wire_hdr h;
    CU_ASSERT_EQUAL_FATAL(pt_sys_pipe(fds), 0);
    pid_t pid = spawn_writer(fds, write_truncated);
    CU_ASSERT_EQUAL(pt__wire_read(fds[0], 0, &h, &p), -EPROTO);
    CU_ASSERT(strstr(pt_errmsg(), "50 of 104") != NULL);
    reap(pid);
    pt_sys_close(fds[0]);
    CU_ASSERT_EQUAL_FATAL(pt_sys_pipe(fds), 0);
    pid = spawn_writer(fds, write_half_header);
    CU_ASSERT_EQUAL(pt__wire_read(fds[0], 0, &h, &p), -EPROTO);
    reap(pid);
    pt_sys_close(fds[0]);
    pt_buf_free(&p);
}

/* A header claiming 80 MB is refused before anything is allocated. */
static void test_oversize(void)
{
    int fds[2];
    uint8_t h[16];
    pt_buf p = {0};
    pt__wire_hdr d;
    pt__wire_hdr_encode(h, PT__WIRE_RESULT, 5, 80000000);
    CU_ASSERT_EQUAL_FATAL(pt_sys_pipe(fds), 0);
    CU_ASSERT_EQUAL(pt_sys_write_full(fds[1], h, 16), 0);
    CU_ASSERT_EQUAL(pt__wire_read(fds[0], 0, &d, &p), -EMSGSIZE);
    CU_ASSERT(strstr(pt_errmsg(), "frame of 80000000 bytes exceeds the "
                                  "67108864-byte limit") != NULL);
    CU_ASSERT(p.data == NULL && p.cap == 0);
    pt__wire_reader r;
    pt__wire_reader_init(&r, 0);
    CU_ASSERT_EQUAL(pt__wire_reader_feed(&r, h, 16), 16);
    CU_ASSERT_EQUAL(pt__wire_reader_next(&r, &d, &(const uint8_t *){0}),
                    -EMSGSIZE);
    CU_ASSERT(r.cap <= 64 * 1024);
    CU_ASSERT_EQUAL(pt__wire_reader_feed(&r, h, 16), -EMSGSIZE); /* sticky */
    CU_ASSERT_EQUAL(pt__wire_reader_fill(&r, fds[0]), -EMSGSIZE);
    pt__wire_reader_free(&r);
    /* Writers refuse what no frame can carry. */
    CU_ASSERT_EQUAL(
        pt__wire_write(fds[1], PT__WIRE_TASK, 0, h, (size_t)UINT32_MAX + 1),
        -EMSGSIZE);
    CU_ASSERT_EQUAL(pt__wire_write(fds[1], 0, 0, h, 1), -EINVAL);
    CU_ASSERT_EQUAL(pt__wire_write(fds[1], PT__WIRE_TYPE_END, 0, h, 1),
                    -EINVAL);
    pt_sys_close(fds[0]);
    pt_sys_close(fds[1]);
}

/* A frame with damage at byte `at` fails both readers with -EBADMSG. */
static void assert_damaged(size_t at, uint8_t byte)
{
    pt_buf s = {0}, p = {0};
    int fds[2];
    pt__wire_hdr h;
    const uint8_t *pl;
    stream_bytes(&s, 2); /* frames of 0 and 1 bytes: 16 + 24 bytes */
    s.data[at] = byte;
    CU_ASSERT_EQUAL_FATAL(pt_sys_pipe(fds), 0);
    CU_ASSERT_EQUAL(pt_sys_write_full(fds[1], s.data, s.len), 0);
    pt_sys_close(fds[1]);
    CU_ASSERT_EQUAL(pt__wire_read(fds[0], 0, &h, &p), 0);
    CU_ASSERT_EQUAL(pt__wire_read(fds[0], 0, &h, &p), -EBADMSG);
    pt_sys_close(fds[0]);
    pt__wire_reader r;
    pt__wire_reader_init(&r, 0);
    CU_ASSERT_EQUAL(pt__wire_reader_feed(&r, s.data, s.len), (ssize_t)s.len);
    CU_ASSERT_EQUAL(pt__wire_reader_next(&r, &h, &pl), 1);
    CU_ASSERT_EQUAL(pt__wire_reader_next(&r, &h, &pl), -EBADMSG);
    CU_ASSERT_EQUAL(pt__wire_reader_next(&r, &h, &pl), -EBADMSG);
    pt__wire_reader_free(&r);
    pt_buf_free(&s);
    pt_buf_free(&p);
}

static void test_bad_frames(void)
{
    assert_damaged(16 + 0, 'Q');    /* magic */
    assert_damaged(16 + 1, 'Q');    /* magic */
    assert_damaged(16 + 2, 9);      /* version */
    assert_damaged(16 + 3, 0);      /* type */
    assert_damaged(16 + 3, 200);    /* type */
    assert_damaged(16 + 16 + 1, 1); /* padding after the 1-byte payload */
    CU_ASSERT(strstr(pt_errmsg(), "padding") != NULL);
}

/* The same frames, whether fed whole, byte by byte or in random chunks. */
static void feed_and_check(const pt_buf *s, int nframes, size_t max_chunk)
{
    pt__wire_reader r;
    pt__wire_hdr h;
    const uint8_t *pl;
    int got = 0, rc;
    pt__wire_reader_init(&r, 0);
    for (size_t off = 0; off < s->len;) {
        size_t n = max_chunk == 1 ? 1 : 1 + pt_test_rng() % max_chunk;
        if (n > s->len - off)
            n = s->len - off;
        ssize_t k = pt__wire_reader_feed(&r, s->data + off, n);
        CU_ASSERT_FATAL(k > 0);
        off += (size_t)k;
        while ((rc = pt__wire_reader_next(&r, &h, &pl)) == 1) {
            CU_ASSERT_EQUAL((uintptr_t)pl % 8, 0);
            assert_pat(&h, pl, got++);
        }
        CU_ASSERT_EQUAL_FATAL(rc, 0);
    }
    CU_ASSERT_EQUAL(got, nframes);
    CU_ASSERT_EQUAL(pt__wire_reader_pending(&r), 0);
    CU_ASSERT_EQUAL(pt__wire_reader_eof(&r), 0);
    pt__wire_reader_free(&r);
}

static void test_reader_bytewise(void)
{
    pt_buf s = {0};
    stream_bytes(&s, 40);
    feed_and_check(&s, 40, 1);
    feed_and_check(&s, 40, 50);
    feed_and_check(&s, 40, s.len);
    pt_buf_free(&s);
}

static void test_reader_eof_midframe(void)
{
    pt_buf s = {0};
    pt__wire_reader r;
    pt__wire_hdr h;
    const uint8_t *pl;
    stream_bytes(&s, 3);
    pt__wire_reader_init(&r, 0);
    CU_ASSERT_EQUAL(pt__wire_reader_feed(&r, s.data, s.len - 1),
                    (ssize_t)s.len - 1);
    CU_ASSERT_EQUAL(pt__wire_reader_next(&r, &h, &pl), 1);
    CU_ASSERT_EQUAL(pt__wire_reader_next(&r, &h, &pl), 1);
    CU_ASSERT_EQUAL(pt__wire_reader_next(&r, &h, &pl), 0);
    CU_ASSERT_EQUAL(pt__wire_reader_eof(&r), -EPROTO);
    pt__wire_reader_free(&r);
    pt_buf_free(&s);
}

/* A small limit bounds the buffer; a full buffer asks to be drained. */
static void test_reader_limit(void)
{
    pt_buf s = {0};
    pt__wire_reader r;
    pt__wire_hdr h;
    const uint8_t *pl;
    int got = 0;
    stream_bytes(&s, 9); /* payloads up to 100 bytes */
    pt__wire_reader_init(&r, 100);
    size_t off = 0;
    while (off < s.len) {
        ssize_t k = pt__wire_reader_feed(&r, s.data + off, s.len - off);
        CU_ASSERT(r.cap <= 16 + 104);
        if (k == -ENOBUFS) {
            while (pt__wire_reader_next(&r, &h, &pl) == 1)
                assert_pat(&h, pl, got++);
            continue;
        }
        CU_ASSERT_FATAL(k > 0);
        off += (size_t)k;
    }
    while (pt__wire_reader_next(&r, &h, &pl) == 1)
        assert_pat(&h, pl, got++);
    CU_ASSERT_EQUAL(got, 9);
    pt__wire_reader_free(&r);
    pt_buf_reset(&s);
    stream_bytes(&s, 10); /* frame 9 has 1000 bytes: over the limit */
    pt__wire_reader_init(&r, 100);
    int rc = 0;
    for (off = 0; off < s.len && rc >= 0;) {
        ssize_t k = pt__wire_reader_feed(&r, s.data + off, s.len - off);
        off += k > 0 ? (size_t)k : 0;
        while ((rc = pt__wire_reader_next(&r, &h, &pl)) == 1)
            ;
        CU_ASSERT(r.cap <= 16 + 104);
    }
    CU_ASSERT_EQUAL(rc, -EMSGSIZE);
    pt__wire_reader_free(&r);
    pt_buf_free(&s);
}

static void write_slowly(int fd)
{
    uint8_t *p = malloc(BIG);
    pat_fill(p, BIG, 7);
    for (int i = 0; i < 10; i++) {
        if (write_pat(fd, i) < 0)
            _exit(1);
        if (i == 4)
            usleep(20000);
    }
    if (pt__wire_write(fd, PT__WIRE_RESULT, 77, p, BIG) < 0)
        _exit(1);
    free(p);
}

/* A poll loop on a nonblocking pipe, the way the runner reads workers. */
static void test_reader_nonblocking(void)
{
    int fds[2], got = 0, eagain = 0, big = 0;
    pt__wire_reader r;
    pt__wire_hdr h;
    const uint8_t *pl;
    CU_ASSERT_EQUAL_FATAL(pt_sys_pipe(fds), 0);
    CU_ASSERT_EQUAL(pt_sys_set_nonblock(fds[0], 1), 0);
    pid_t pid = spawn_writer(fds, write_slowly);
    pt__wire_reader_init(&r, 0);
    for (;;) {
        struct pollfd pfd = {fds[0], POLLIN, 0};
        poll(&pfd, 1, 1000);
        ssize_t n = pt__wire_reader_fill(&r, fds[0]);
        if (n == -EAGAIN) {
            eagain++;
            continue;
        }
        CU_ASSERT_FATAL(n >= 0);
        if (n == 0)
            break;
        while (pt__wire_reader_next(&r, &h, &pl) == 1) {
            CU_ASSERT_EQUAL((uintptr_t)pl % 8, 0);
            if (h.len == BIG)
                big += pat_check(pl, BIG, 7);
            else
                assert_pat(&h, pl, got++);
        }
        CU_ASSERT(r.cap <= 16 + PT__WIRE_MAX_PAYLOAD);
    }
    CU_ASSERT_EQUAL(pt__wire_reader_eof(&r), 0);
    CU_ASSERT(got == 10 && big == 1);
    (void)eagain;
    pt__wire_reader_free(&r);
    reap(pid);
    pt_sys_close(fds[0]);
}

/* Random bytes and damaged streams never crash the reader. */
static void test_reader_garbage(void)
{
    pt_buf s = {0};
    stream_bytes(&s, 30);
    int frames = 0;
    for (int round = 0; round < 2000; round++) {
        pt__wire_reader r;
        pt__wire_hdr h;
        const uint8_t *pl;
        size_t n = round % 2 ? s.len : 1 + pt_test_rng() % 512;
        uint8_t *g = malloc(n);
        if (round % 2) {
            memcpy(g, s.data, n);
            for (int k = 1 + (int)(pt_test_rng() % 4); k > 0; k--)
                g[pt_test_rng() % n] = (uint8_t)pt_test_rng();
        } else {
            for (size_t i = 0; i < n; i++)
                g[i] = (uint8_t)pt_test_rng();
            if (n >= 4)
                memcpy(g, "PT\x01\x02", 4); /* a plausible start */
        }
        pt__wire_reader_init(&r, 1 + pt_test_rng() % 2048);
        int rc = 0;
        for (size_t off = 0; off < n && rc >= 0;) {
            ssize_t k = pt__wire_reader_feed(&r, g + off,
                                             1 + pt_test_rng() % (n - off));
            if (k < 0 && k != -ENOBUFS)
                break;
            off += k > 0 ? (size_t)k : 0;
            while ((rc = pt__wire_reader_next(&r, &h, &pl)) == 1) {
                CU_ASSERT(h.len <= r.max_payload);
                frames++;
            }
            CU_ASSERT(rc == 0 || rc == -EBADMSG || rc == -EMSGSIZE);
        }
        pt__wire_reader_free(&r);
        free(g);
    }
    CU_ASSERT(frames > 1000);
    pt_buf_free(&s);
}

/* A write to a pipe without a reader: -EPIPE, and the process lives. */
static void test_sigpipe(void)
{
    int fds[2];
    sigset_t pending;
    CU_ASSERT_EQUAL_FATAL(pt_sys_pipe(fds), 0);
    pt_sys_close(fds[0]);
    signal(SIGPIPE, SIG_DFL);
    CU_ASSERT_EQUAL(pt__wire_write(fds[1], PT__WIRE_RESULT, 0, "x", 1), -EPIPE);
    sigpending(&pending);
    CU_ASSERT_EQUAL(sigismember(&pending, SIGPIPE), 0);
    signal(SIGPIPE, SIG_IGN);
    CU_ASSERT_EQUAL(pt__wire_write(fds[1], PT__WIRE_RESULT, 0, "x", 1), -EPIPE);
    pt_sys_close(fds[1]);
}

/* An encoded value travels as a payload and is used in place. */
static void test_value_payload(void)
{
    int fds[2];
    pt_buf v = {0}, json = {0};
    pt_vmark m;
    int64_t ints[3] = {1, 2, 3};
    CU_ASSERT_EQUAL(pt_venc_map_begin(&v, &m), 0);
    CU_ASSERT_EQUAL(pt_venc_key(&v, &m, "n"), 0);
    CU_ASSERT_EQUAL(pt_venc_ints(&v, ints, 3), 0);
    CU_ASSERT_EQUAL(pt_venc_map_end(&v, &m), 0);
    CU_ASSERT_EQUAL_FATAL(pt_sys_pipe(fds), 0);
    CU_ASSERT_EQUAL(pt__wire_write(fds[1], PT__WIRE_TASK, 9, "abc", 3), 0);
    CU_ASSERT_EQUAL(pt__wire_write(fds[1], PT__WIRE_TASK, 10, v.data, v.len),
                    0);
    pt_sys_close(fds[1]);
    pt__wire_reader r;
    pt__wire_hdr h;
    const uint8_t *pl;
    pt__wire_reader_init(&r, 0);
    while (pt__wire_reader_fill(&r, fds[0]) > 0)
        ;
    CU_ASSERT_EQUAL(pt__wire_reader_next(&r, &h, &pl), 1);
    CU_ASSERT_EQUAL(pt__wire_reader_next(&r, &h, &pl), 1);
    CU_ASSERT_EQUAL(h.task_id, 10);
    CU_ASSERT_EQUAL(pt_value_check(pl, h.len, 4), 0);
    CU_ASSERT_EQUAL(pt_value_to_json(pl, h.len, &json), 0);
    CU_ASSERT_STRING_EQUAL((char *)json.data, "{\"n\":[1,2,3]}");
    pt__wire_reader_free(&r);
    pt_sys_close(fds[0]);
    pt_buf_free(&v);
    pt_buf_free(&json);
}

static const pt_test_case cases[] = {
    {"header_layout", test_header_layout, 0},
    {"pipe_roundtrip", test_pipe_roundtrip, 0},
    {"padding", test_padding, 0},
    {"big_payload", test_big_payload, 0},
    {"write_interrupted", test_write_interrupted, 0},
    {"truncated", test_truncated, 0},
    {"oversize", test_oversize, 0},
    {"bad_frames", test_bad_frames, 0},
    {"reader_bytewise", test_reader_bytewise, 0},
    {"reader_eof_midframe", test_reader_eof_midframe, 0},
    {"reader_limit", test_reader_limit, 0},
    {"reader_nonblocking", test_reader_nonblocking, 0},
    {"reader_garbage", test_reader_garbage, 0},
    {"sigpipe", test_sigpipe, 0},
    {"value_payload", test_value_payload, 0},
    {NULL, NULL, 0},
};

int main(int argc, char **argv)
{
    return pt_test_main("wire", cases, argc, argv);
}
