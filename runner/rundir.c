/* rundir.c - the run folder, atomic files, sha256, manifest (rundir.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ptools/buf.h>
#include <ptools/common.h>

#include "internal.h"
#include "json_mini.h"
#include "rundir.h"

/* mkdir -p, mode 0755. */
static int mkdirs(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return -ENAMETOOLONG;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static int is_empty_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return -errno;
    struct dirent *e;
    int empty = 1;
    while (empty && (e = readdir(d)) != NULL)
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(d);
    return empty;
}

int rn_rundir_make(const rn_spec *spec, const char *out, bool resume,
                   char *path, size_t size, bool *created, char *err,
                   size_t errlen)
{
    if (out) {
        snprintf(path, size, "%s", out);
    } else {
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        snprintf(path, size, "runs/%s-%04d%02d%02d-%02d%02d%02d", spec->name,
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec);
    }
    struct stat st;
    int exists = stat(path, &st) == 0;
    if (resume && !exists) {
        snprintf(err, errlen, "--resume %s: no such run folder", path);
        return -ENOENT;
    }
    if (!resume && exists && is_empty_dir(path) != 1) {
        snprintf(err, errlen, "%s: exists and is not empty (use another "
                 "--out, or --resume %s)", path, path);
        return -EEXIST;
    }
    *created = !exists;
    int rc = mkdirs(path);
    if (rc < 0)
        snprintf(err, errlen, "%s: cannot create the run folder: %s", path,
                 strerror(-rc));
    return rc;
}

static const char *discard_root;

static int discard_entry(const char *path, const struct stat *st, int flag,
                         struct FTW *ftw)
{
    (void)st;
    (void)flag;
    if (ftw->level > 0 || discard_root)
        remove(path);
    return 0;
}

void rn_rundir_discard(const char *path, bool created)
{
    discard_root = created ? path : NULL;
    nftw(path, discard_entry, 16, FTW_DEPTH | FTW_PHYS);
    discard_root = NULL;
}

int rn_write_atomic(const char *dir, const char *name, const void *data,
                    size_t len)
{
    char tmp[4096], dst[4096];
    snprintf(dst, sizeof dst, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp-%ld", dir, name, (long)getpid());
    int fd = pt__open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return fd;
    int rc = pt__write_full(fd, data, len);
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, dst) < 0)
        rc = -errno;
    if (rc < 0)
        unlink(tmp);
    return rc;
}

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

int rn_sha256_file(const char *path, char hex[65])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct sha256_ctx c;
    uint8_t buf[1 << 16], sum[SHA256_DIGEST_SIZE];
    ssize_t n;
    sha256_init(&c);
    while ((n = pt__read_some(fd, buf, sizeof buf)) > 0)
        sha256_update(&c, (size_t)n, buf);
    close(fd);
    if (n < 0)
        return (int)n;
    sha256_digest(&c, sizeof sum, sum);
    to_hex(sum, hex);
    return 0;
}

void rn_json_str(pt_buf *b, const char *text)
{
    jm_buf q = {0};
    jm_buf_quote(&q, text ? text : "");
    if (!q.oom)
        pt_buf_append(b, q.data, q.len);
    jm_buf_free(&q);
}

static void json_time(pt_buf *b, const char *key, int64_t ns)
{
    time_t t = (time_t)(ns / 1000000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    pt_buf_printf(b, "  \"%s\": \"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\",\n",
                  key, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec,
                  (int)(ns / 1000000 % 1000));
}

/* "path": {"path": ..., "sha256": ...} entries for every loaded file. */
static int json_files(pt_buf *b, const rn_spec *s, char *err, size_t errlen)
{
    char hex[65];
    pt_buf_printf(b, "  \"kernels\": {");
    for (int i = 0; i < s->nkernels; i++) {
        if (rn_sha256_file(s->kernels[i].path, hex) < 0)
            goto fail;
        pt_buf_printf(b, "%s\n    ", i ? "," : "");
        rn_json_str(b, s->kernels[i].name);
        pt_buf_printf(b, ": {\"path\": ");
        rn_json_str(b, s->kernels[i].path);
        pt_buf_printf(b, ", \"symbol\": ");
        rn_json_str(b, s->kernels[i].symbol);
        pt_buf_printf(b, ", \"sha256\": \"%s\"}", hex);
    }
    pt_buf_printf(b, "\n  },\n  \"plugins\": [");
    for (int i = 0; i < s->nplugins; i++) {
        if (rn_sha256_file(s->plugins[i].path, hex) < 0)
            goto fail;
        pt_buf_printf(b, "%s\n    {\"path\": ", i ? "," : "");
        rn_json_str(b, s->plugins[i].path);
        pt_buf_printf(b, ", \"sha256\": \"%s\"}", hex);
    }
    pt_buf_printf(b, "\n  ],\n");
    return 0;
fail:
    snprintf(err, errlen, "cannot hash a kernel or plugin: %s",
             strerror(errno));
    return -EIO;
}

int rn_manifest_write(const char *dir, const rn_manifest *m, char *err,
                      size_t errlen)
{
    static const char *const names[] = {"ok", "failed", "crashed", "timeout",
                                        "cancelled"};
    const rn_spec *s = m->spec;
    char hex[65], host[256] = "";
    pt_buf b = {0};
    gethostname(host, sizeof host - 1);
    if (rn_sha256_file(s->file, hex) < 0) {
        snprintf(err, errlen, "%s: cannot hash the spec: %s", s->file,
                 strerror(errno));
        return -EIO;
    }
    pt_buf_printf(&b, "{\n  \"ptrun\": \"%s\",\n  \"name\": ", pt_version());
    rn_json_str(&b, s->name);
    pt_buf_printf(&b, ",\n  \"spec\": {\"path\": ");
    rn_json_str(&b, s->file);
    pt_buf_printf(&b, ", \"sha256\": \"%s\"},\n  \"resolved_sha256\": ", hex);
    rn_sha256_text(s->resolved_yaml, hex);
    pt_buf_printf(&b, "\"%s\",\n  \"command\": ", hex);
    rn_json_str(&b, m->argv_line);
    pt_buf_printf(&b, ",\n  \"seed\": %" PRIu64 ",\n  \"host\": ", s->seed);
    rn_json_str(&b, host);
    pt_buf_printf(&b, ",\n");
    int rc = json_files(&b, s, err, errlen);
    json_time(&b, "start", m->start_ns);
    if (m->finished)
        json_time(&b, "end", m->end_ns);
    pt_buf_printf(&b, "  \"tasks\": %" PRId64 ",\n  \"skipped\": %" PRId64
                  ",\n  \"counts\": {", m->tasks, m->skipped);
    for (int i = 0; i < 5; i++)
        pt_buf_printf(&b, "%s\"%s\": %" PRId64, i ? ", " : "", names[i],
                      m->counts[i]);
    pt_buf_printf(&b, "},\n  \"finished\": %s,\n  \"interrupted\": %s,\n"
                  "  \"exit_status\": %d", m->finished ? "true" : "false",
                  m->interrupted ? "true" : "false", m->exit_status);
    if (m->summary_json)
        pt_buf_printf(&b, ",\n  \"summary\": %s", m->summary_json);
    pt_buf_printf(&b, "\n}\n");
    if (rc == 0 && (rc = rn_write_atomic(dir, "manifest.json", b.data,
                                         b.len)) < 0)
        snprintf(err, errlen, "%s/manifest.json: %s", dir, strerror(-rc));
    pt_buf_free(&b);
    return rc;
}
