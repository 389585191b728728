/* probe_cache.c - the reports of probes that passed, kept between runs
 * (probe_cache.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ptools/common.h>
#include <ptools/kernel.h>
#include <ptools/sys.h>

#include "spec/probe_cache.h"
#include "spec/sha256.h"

#define MAGIC "ptrun probe report 1\n" /* a cache file's first line */
#define FILE_MAX (8u << 20)            /* more is not a report of ours */
#define KEEP_MAX 256 /* reports kept; the oldest go when there are more */

/* The cache's folder into buf: 0, or -ENOENT when there is none. */
static int cache_dir(char *buf, size_t size)
{
    const char *d = getenv(RN_CACHE_ENV), *base;
    int n;
    if (d && strcmp(d, "off") == 0)
        return -ENOENT;
    if (d && *d)
        n = snprintf(buf, size, "%s/probe", d);
    else if ((base = getenv("XDG_CACHE_HOME")) && base[0] == '/')
        n = snprintf(buf, size, "%s/ptools/probe", base);
    else if ((base = getenv("HOME")) && base[0] == '/')
        n = snprintf(buf, size, "%s/.cache/ptools/probe", base);
    else
        return -ENOENT;
    return n > 0 && (size_t)n < size - 80 ? 0 : -ENAMETOOLONG;
}

/* Feed one field to the key: its length, then its bytes (so that no two
 * different lists of fields feed the same bytes). */
static void field(struct sha256_ctx *c, const void *p, size_t n)
{
    uint64_t len = n;
    sha256_update(c, sizeof len, (const uint8_t *)&len);
    sha256_update(c, n, (const uint8_t *)p);
}

static void field_str(struct sha256_ctx *c, const char *s)
{
    field(c, s, strlen(s));
}

/* This ptrun: its version, kernel ABI and executable file (a rebuilt
 * ptrun may check libraries differently). 0 or -errno. */
static int key_self(struct sha256_ctx *c)
{
    struct stat st;
    if (stat("/proc/self/exe", &st) < 0)
        return -errno;
    int64_t id[6] = {(int64_t)st.st_dev,          (int64_t)st.st_ino,
                     (int64_t)st.st_size,         (int64_t)st.st_mtim.tv_sec,
                     (int64_t)st.st_mtim.tv_nsec, PT_KERNEL_ABI};
    field_str(c, MAGIC);
    field_str(c, pt_version());
    field(c, id, sizeof id);
    return 0;
}

int rn_probe_cache_key(const rn_probe_req *r, char key[65])
{
    static const char digits[] = "0123456789abcdef";
    char dir[4096], so[65];
    struct sha256_ctx c;
    uint8_t sum[SHA256_DIGEST_SIZE];
    int rc = cache_dir(dir, sizeof dir);
    if (rc < 0 || (rc = rn_sha256_file(r->path, so)) < 0)
        return rc;
    sha256_init(&c);
    if ((rc = key_self(&c)) < 0)
        return rc;
    field_str(&c, r->plugin ? "plugin" : "kernels");
    field_str(&c, r->path);
    field_str(&c, so);
    for (int i = 0; i < r->n; i++)
        field_str(&c, r->names[i]);
    field(&c, "", 0); /* the end of the names */
    field(&c, r->options ? r->options : "", r->options ? r->options_len : 0);
    sha256_digest(&c, sizeof sum, sum);
    for (int i = 0; i < SHA256_DIGEST_SIZE; i++) {
        key[2 * i] = digits[sum[i] >> 4];
        key[2 * i + 1] = digits[sum[i] & 15];
    }
    key[64] = '\0';
    return 0;
}

/* Read the open cache file into out, after its magic line. */
static int read_entry(int fd, pt_buf *out)
{
    struct stat st;
    size_t m = strlen(MAGIC);
    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size <= m ||
        (size_t)st.st_size > FILE_MAX)
        return -EBADMSG;
    size_t n = (size_t)st.st_size;
    char *data = malloc(n);
    if (!data)
        return -ENOMEM;
    int rc = pt_sys_read_full(fd, data, n);
    if (rc == 0 && memcmp(data, MAGIC, m) != 0)
        rc = -EBADMSG;
    if (rc == 0)
        rc = pt_buf_append(out, data + m, n - m);
    free(data);
    return rc;
}

int rn_probe_cache_get(const char key[65], pt_buf *out)
{
    char path[4200];
    int rc = cache_dir(path, sizeof path);
    if (rc < 0)
        return rc;
    size_t len = strlen(path);
    snprintf(path + len, sizeof path - len, "/%s", key);
    int fd = pt_sys_open(path, O_RDONLY | O_NOFOLLOW, 0);
    if (fd < 0)
        return fd;
    rc = read_entry(fd, out);
    pt_sys_close(fd);
    return rc;
}

/* mkdir -p dir, private to the user (0700). 0 or -errno. */
static int make_dirs(char *dir)
{
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p)
            continue;
        char was = *p;
        *p = '\0';
        int rc = mkdir(dir, 0700) < 0 && errno != EEXIST ? -errno : 0;
        *p = was;
        if (rc < 0 || !was)
            return rc;
    }
}

/* A report's file, for trimming. */
typedef struct entry {
    struct timespec mtime;
    char name[72];
} entry;

static int older_first(const void *a, const void *b)
{
    const struct timespec *x = &((const entry *)a)->mtime,
                          *y = &((const entry *)b)->mtime;
    if (x->tv_sec != y->tv_sec)
        return x->tv_sec < y->tv_sec ? -1 : 1;
    return x->tv_nsec < y->tv_nsec ? -1 : x->tv_nsec > y->tv_nsec;
}

/* The reports in `d` (at most `max`) into e: their count. */
static size_t list_entries(DIR *d, entry *e, size_t max)
{
    struct dirent *de;
    struct stat st;
    size_t n = 0;
    while (n < max && (de = readdir(d))) {
        if (strlen(de->d_name) != 64 ||
            fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        e[n].mtime = st.st_mtim;
        memcpy(e[n].name, de->d_name, 65); /* 64 hex digits and NUL */
        n++;
    }
    return n;
}

/* Past KEEP_MAX reports in `dir`, remove the oldest, down to half. */
static void trim(const char *dir)
{
    DIR *d = opendir(dir);
    entry *e = d ? malloc(4 * KEEP_MAX * sizeof *e) : NULL;
    size_t n = e ? list_entries(d, e, 4 * KEEP_MAX) : 0;
    if (n > KEEP_MAX) {
        qsort(e, n, sizeof *e, older_first);
        for (size_t i = 0; i < n - KEEP_MAX / 2; i++)
            unlinkat(dirfd(d), e[i].name, 0);
    }
    free(e);
    if (d)
        closedir(d);
}

void rn_probe_cache_put(const char key[65], const void *data, size_t len)
{
    char dir[4096], tmp[4200], path[4200];
    if (cache_dir(dir, sizeof dir) < 0 || make_dirs(dir) < 0)
        return;
    snprintf(path, sizeof path, "%s/%s", dir, key);
    snprintf(tmp, sizeof tmp, "%s/.%s.%ld", dir, key, (long)getpid());
    int fd = pt_sys_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return;
    int rc = pt_sys_write_full(fd, MAGIC, strlen(MAGIC));
    if (rc == 0)
        rc = pt_sys_write_full(fd, data, len);
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc < 0 || rename(tmp, path) < 0)
        unlink(tmp);
    else
        trim(dir);
}
