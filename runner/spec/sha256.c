/* sha256.c - sha256 of strings and files, files remembered (sha256.h). */
#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ptools/sys.h>

#include "spec/sha256.h"

#define MEMO_MAX 64 /* files remembered; more are hashed every time */

/* A file hashed before, and what it was then. */
typedef struct memo {
    char *path;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
    char hex[65];
} memo;

/* The process's files hashed so far (a run hashes its spec and each .so
 * for the probe cache and for every manifest it writes). */
static memo memos[MEMO_MAX];
static int nmemos;

static void to_hex(const uint8_t sum[SHA256_DIGEST_SIZE], char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < SHA256_DIGEST_SIZE; i++) {
        hex[2 * i] = digits[sum[i] >> 4];
        hex[2 * i + 1] = digits[sum[i] & 15];
    }
    hex[64] = '\0';
}

void rn_sha256_text(const char *text, char hex[65])
{
    struct sha256_ctx c;
    uint8_t sum[SHA256_DIGEST_SIZE];
    sha256_init(&c);
    sha256_update(&c, strlen(text), (const uint8_t *)text);
    sha256_digest(&c, sizeof sum, sum);
    to_hex(sum, hex);
}

static bool same_time(struct timespec a, struct timespec b)
{
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* The memo of `path`, if it still describes the file `st` says. */
static const memo *recall(const char *path, const struct stat *st)
{
    for (int i = 0; i < nmemos; i++) {
        const memo *m = &memos[i];
        if (strcmp(m->path, path) == 0)
            return m->dev == st->st_dev && m->ino == st->st_ino &&
                           m->size == st->st_size &&
                           same_time(m->mtime, st->st_mtim) &&
                           same_time(m->ctime, st->st_ctim)
                       ? m
                       : NULL;
    }
    return NULL;
}

/* Remember path's digest with its identity (best effort). */
static void remember(const char *path, const struct stat *st,
                     const char hex[65])
{
    memo *m = NULL;
    for (int i = 0; i < nmemos && !m; i++)
        if (strcmp(memos[i].path, path) == 0)
            m = &memos[i];
    if (!m && nmemos < MEMO_MAX) {
        char *copy = strdup(path);
        if (!copy)
            return;
        m = &memos[nmemos++];
        m->path = copy;
    }
    if (!m)
        return;
    m->dev = st->st_dev;
    m->ino = st->st_ino;
    m->size = st->st_size;
    m->mtime = st->st_mtim;
    m->ctime = st->st_ctim;
    memcpy(m->hex, hex, 65);
}

/* Hash what the open fd holds: 0 or -errno. An 8 KiB buffer, not 64:
 * read() filled a page of stack per 4 KiB of the file (a kernel library's
 * ~15 KiB: 4 page faults before the first fork, copied again after it),
 * for a read call more per 8 KiB. */
static int hash_fd(int fd, char hex[65])
{
    struct sha256_ctx c;
    uint8_t buf[1 << 13], sum[SHA256_DIGEST_SIZE];
    ssize_t n;
    sha256_init(&c);
    while ((n = pt_sys_read_some(fd, buf, sizeof buf)) > 0)
        sha256_update(&c, (size_t)n, buf);
    if (n < 0)
        return (int)n;
    sha256_digest(&c, sizeof sum, sum);
    to_hex(sum, hex);
    return 0;
}

/* Whether the file did not change between `a` and `b`. */
static bool unchanged(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_size == b->st_size &&
           same_time(a->st_mtim, b->st_mtim);
}

int rn_sha256_file(const char *path, char hex[65])
{
    struct stat before, after;
    const memo *m = stat(path, &before) == 0 ? recall(path, &before) : NULL;
    if (m) {
        memcpy(hex, m->hex, 65);
        return 0;
    }
    int fd = pt_sys_open(path, O_RDONLY, 0);
    if (fd < 0)
        return fd;
    int rc = fstat(fd, &before) < 0 ? -errno : hash_fd(fd, hex);
    if (rc == 0 && fstat(fd, &after) == 0 && unchanged(&before, &after))
        remember(path, &after, hex);
    pt_sys_close(fd);
    return rc;
}
