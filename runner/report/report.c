/* report.c - `ptrun report DIR`: a run folder as one HTML page (report.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ptools/sys.h>

#include "report/report.h"
#include "report_page.h" /* report_page[]: runner/report_page.html */

#define CHUNK (1 << 16)
#define MANIFEST_MARK "@MANIFEST@"
#define RESULTS_MARK "@RESULTS@"

/*
 * The page being written: bytes gather in buf and reach fd a chunk at a
 * time. The first write error sticks (later bytes are dropped) until
 * sink_flush returns it, so that callers check one result, at the end.
 * `held` counts the bytes of "<!--" that put_json holds back.
 */
typedef struct sink {
    int fd;
    int err;
    int held;
    size_t len;
    char buf[CHUNK];
} sink;

/* Where results.jsonl's copy stands: within a line, and after any line. */
typedef struct lines {
    bool in_line, any;
} lines;

static void put(sink *s, const void *p, size_t n)
{
    if (s->err == 0 && s->len + n > sizeof s->buf) {
        s->err = pt_sys_write_full(s->fd, s->buf, s->len);
        s->len = 0;
    }
    if (s->err)
        return;
    if (n > sizeof s->buf) {
        s->err = pt_sys_write_full(s->fd, p, n);
    } else {
        memcpy(s->buf + s->len, p, n);
        s->len += n;
    }
}

static int sink_flush(sink *s)
{
    if (s->err == 0 && s->len)
        s->err = pt_sys_write_full(s->fd, s->buf, s->len);
    s->len = 0;
    return s->err;
}

/*
 * Copy one byte of JSON into a script element. "</" could end the element
 * and "<!--", followed by "<script", would hide its end: they become "<\/"
 * and "<\u0021--". Both occur only inside JSON strings, where the escapes
 * mean the same. A '<' and what follows it are held until they are known.
 */
static void put_json(sink *s, char c)
{
    static const char open[] = "<!--";
    for (;;) {
        if (s->held == 0 && c != '<') {
            put(s, &c, 1);
            return;
        }
        if (s->held == 1 && c == '/') {
            put(s, "<\\/", 3);
            s->held = 0;
            return;
        }
        if (c == open[s->held]) {
            if (++s->held == 4) {
                put(s, "<\\u0021--", 9);
                s->held = 0;
            }
            return;
        }
        put(s, open, (size_t)s->held); /* a false start, as it was */
        s->held = 0;
    }
}

/* The bytes held by put_json, as they were: their text has ended. */
static void put_json_end(sink *s)
{
    put(s, "<!--", (size_t)s->held);
    s->held = 0;
}

/* put_json for n bytes, copying the runs without a '<' at once. */
static void put_json_run(sink *s, const char *p, size_t n)
{
    while (n) {
        const char *lt = s->held ? p : memchr(p, '<', n);
        size_t plain = lt ? (size_t)(lt - p) : n;
        put(s, p, plain);
        p += plain;
        n -= plain;
        if (n) {
            put_json(s, *p++);
            n--;
        }
    }
}

/*
 * Copy lines of results.jsonl as the items of a JSON array: a comma and a
 * newline between them, blank lines left out.
 */
static void put_lines(sink *s, lines *st, const char *p, size_t n)
{
    while (n) {
        if (!st->in_line) {
            while (n && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
                p++, n--;
            if (!n)
                return;
            put(s, st->any ? ",\n" : "\n", st->any ? 2 : 1);
            st->any = st->in_line = true;
        }
        const char *nl = memchr(p, '\n', n);
        size_t len = nl ? (size_t)(nl - p) : n;
        put_json_run(s, p, len);
        if (nl) {
            put_json_end(s);
            st->in_line = false;
            len++;
        }
        p += len;
        n -= len;
    }
}

/*
 * Copy fd from where it stands, through put_lines when `st` is given, else
 * put_json_run: its first `limit` bytes, or up to its end when limit < 0.
 * 0, or -errno of a read (-EIO when the file is shorter than `limit`).
 */
static int copy_json(sink *s, int fd, off_t limit, lines *st)
{
    char *buf = malloc(CHUNK);
    if (!buf)
        return -ENOMEM;
    int rc = 0;
    off_t done = 0;
    while (limit < 0 || done < limit) {
        size_t want = CHUNK;
        if (limit >= 0 && limit - done < (off_t)want)
            want = (size_t)(limit - done);
        ssize_t n = pt_sys_read_some(fd, buf, want);
        if (n < 0)
            rc = (int)n;
        else if (n == 0 && limit >= 0)
            rc = -EIO; /* cut while we read it */
        if (n <= 0)
            break;
        if (st)
            put_lines(s, st, buf, (size_t)n);
        else
            put_json_run(s, buf, (size_t)n);
        done += n;
    }
    put_json_end(s);
    free(buf);
    return rc;
}

/*
 * The length of fd's text up to its last newline, into *len (0 if there is
 * none). A last line without one is being written, or was cut short: the
 * report leaves it out.
 */
static int whole_lines(int fd, off_t *len)
{
    char buf[4096];
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    off_t end = st.st_size;
    *len = 0;
    while (end > 0) {
        size_t n = end < (off_t)sizeof buf ? (size_t)end : sizeof buf;
        ssize_t got = pread(fd, buf, n, end - (off_t)n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return -errno;
        if ((size_t)got != n)
            return -EIO; /* cut while we read it */
        const char *nl = memrchr(buf, '\n', n);
        if (nl) {
            *len = end - (off_t)n + (nl - buf) + 1;
            return 0;
        }
        end -= (off_t)n;
    }
    return 0;
}

/*
 * The page: the template with manifest.json and results.jsonl in place of
 * its markers. A read error is returned, *bad naming its file; a write
 * error waits in s->err.
 */
static int fill(sink *s, int mfd, int rfd, off_t rlen, const char **bad)
{
    const char *page = (const char *)report_page;
    const char *m = strstr(page, MANIFEST_MARK);
    const char *r = m ? strstr(m, RESULTS_MARK) : NULL;
    lines st = {false, false};
    *bad = "the page template";
    if (!r)
        return -EINVAL; /* report_page.html lost a marker */
    put(s, page, (size_t)(m - page));
    *bad = "manifest.json";
    int rc = copy_json(s, mfd, -1, NULL);
    m += sizeof MANIFEST_MARK - 1;
    put(s, m, (size_t)(r - m));
    if (rc == 0) {
        *bad = "results.jsonl";
        rc = copy_json(s, rfd, rlen, &st);
    }
    r += sizeof RESULTS_MARK - 1;
    put(s, r, strlen(r));
    return rc;
}

/* Write the page to path.tmp, then rename it to path. */
static int write_report(const char *dir, const char *path, int mfd, int rfd,
                        off_t rlen, char *err, size_t errlen)
{
    char tmp[PATH_MAX];
    const char *bad = NULL;
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        snprintf(err, errlen, "%s: file name too long", path);
        return -ENAMETOOLONG;
    }
    sink *s = malloc(sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    *s = (sink){.fd = pt_sys_open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644)};
    int rc = s->fd < 0 ? s->fd : 0;
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(-rc));
        goto fail_free;
    }
    rc = fill(s, mfd, rfd, rlen, &bad);
    if (rc < 0) {
        snprintf(err, errlen, "%s/%s: %s", dir, bad, strerror(-rc));
    } else {
        rc = sink_flush(s);
        if (rc == 0)
            rc = pt_sys_fsync(s->fd);
        if (rc < 0)
            snprintf(err, errlen, "%s: %s", tmp, strerror(-rc));
    }
    if (close(s->fd) < 0 && rc == 0) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", tmp, strerror(-rc));
    }
    if (rc == 0 && rename(tmp, path) < 0) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
    }
    if (rc < 0)
        unlink(tmp);
fail_free:
    free(s);
    return rc;
}

/* A missing folder or file: `dir` is no run folder (-EINVAL). */
static int input_error(const char *path, int rc, char *err, size_t errlen)
{
    bool absent = rc == -ENOENT || rc == -ENOTDIR;
    snprintf(err, errlen, "%s: %s%s", path, strerror(-rc),
             absent ? " (is it a run folder?)" : "");
    return absent ? -EINVAL : rc;
}

/* Open dir/name for reading into *fd. */
static int open_input(const char *dir, const char *name, int *fd, char *err,
                      size_t errlen)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return input_error(dir, -ENAMETOOLONG, err, errlen);
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    return *fd < 0 ? input_error(path, -errno, err, errlen) : 0;
}

static int check_dir(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    if (stat(dir, &st) < 0)
        return input_error(dir, -errno, err, errlen);
    return S_ISDIR(st.st_mode) ? 0 : input_error(dir, -ENOTDIR, err, errlen);
}

int rn_report(const char *dir, const char *out, char *path, size_t size,
              char *err, size_t errlen)
{
    int mfd = -1, rfd = -1;
    off_t rlen = 0;
    int rc = check_dir(dir, err, errlen);
    if (rc == 0)
        rc = open_input(dir, "manifest.json", &mfd, err, errlen);
    if (rc == 0)
        rc = open_input(dir, "results.jsonl", &rfd, err, errlen);
    if (rc == 0 && (rc = whole_lines(rfd, &rlen)) < 0)
        snprintf(err, errlen, "%s/results.jsonl: %s", dir, strerror(-rc));
    if (rc == 0 &&
        (out ? snprintf(path, size, "%s", out)
             : snprintf(path, size, "%s/report.html", dir)) >= (int)size) {
        snprintf(err, errlen, "%s: file name too long", out ? out : dir);
        rc = -ENAMETOOLONG;
    }
    if (rc == 0)
        rc = write_report(dir, path, mfd, rfd, rlen, err, errlen);
    if (rfd >= 0)
        close(rfd);
    if (mfd >= 0)
        close(mfd);
    return rc;
}
