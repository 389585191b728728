/* rundir.c - the run folder, atomic files, manifest (rundir.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ptools/args.h>
#include <ptools/buf.h>
#include <ptools/common.h>
#include <ptools/json.h>
#include <ptools/sys.h>

#include "events/rundir.h"

#define LOCK_TRIES 64    /* a lock file unlinked under us: open it again */
#define NAME_TRIES 10000 /* runs/<name>-<stamp>, -2 ... -10000 */
#define LATEST "runs/latest"
/* The disk space kept for the last manifest (rn_manifest_reserve()). */
#define RESERVE ".ptrun-reserve"
#define RESERVE_MIN ((size_t)16 * 1024)

/*
 * The UTC calendar date and time of `t` (what gmtime_r gives), worked out
 * here: glibc's gmtime_r reads /etc/localtime on its first call (seven
 * system calls on every run's start for a time zone it does not use).
 * Days to civil date: H. Hinnant's algorithm, exact for any time_t.
 */
static void utc_time(time_t t, struct tm *tm)
{
    int64_t secs = (int64_t)t, days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9, y = yoe + era * 400 + (m <= 2);
    *tm = (struct tm){.tm_year = (int)(y - 1900),
                      .tm_mon = (int)(m - 1),
                      .tm_mday = (int)d,
                      .tm_hour = (int)(rem / 3600),
                      .tm_min = (int)(rem / 60 % 60),
                      .tm_sec = (int)(rem % 60)};
}

/* Make the folders above `path` (mkdir -p of its parent), mode 0755. */
static int mkdir_parents(const char *path)
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
    return 0;
}

/* Make the folder `path` itself: 0 when this call made it, -EEXIST, or
 * another -errno. mkdir is atomic: of two runs, only one makes it. The
 * folders above are made only when missing (one mkdir, not one each). */
static int make_leaf(const char *path)
{
    if (mkdir(path, 0755) == 0)
        return 0;
    if (errno != ENOENT)
        return -errno;
    int rc = mkdir_parents(path);
    if (rc == 0 && mkdir(path, 0755) < 0)
        rc = -errno;
    return rc;
}

/* Does `dir` hold nothing but (maybe) its lock file? 1 yes, 0 no, -errno. */
static int holds_nothing(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    struct dirent *e;
    int empty = 1;
    errno = 0;
    while (empty && (e = readdir(d)) != NULL)
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
                strcmp(e->d_name, RN_RUNDIR_LOCK) == 0;
    if (empty && errno)
        empty = -errno;
    closedir(d);
    return empty;
}

/* DIR/.lock as a path: 0 or -ENAMETOOLONG. */
static int lock_path(const char *dir, char *path, size_t size)
{
    int n = snprintf(path, size, "%s/%s", dir, RN_RUNDIR_LOCK);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Open DIR/.lock, creating it when `create`: the fd or -errno. */
static int open_lock(const char *dir, bool create)
{
    char path[4200];
    int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0);
    int fd, rc = lock_path(dir, path, sizeof path);
    if (rc < 0)
        return rc;
    do
        fd = open(path, flags, 0644);
    while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : fd;
}

/*
 * Lock `fd`, open on DIR/.lock, without waiting: 0; -EBUSY when a live run
 * holds it; -ESTALE when the file is no longer DIR/.lock (a run that gave
 * the folder up unlinked it after we opened it): open it again.
 */
static int lock_file(int fd, const char *dir)
{
    char path[4200];
    struct stat mine, now;
    int rc;
    while ((rc = flock(fd, LOCK_EX | LOCK_NB)) < 0 && errno == EINTR)
        ;
    if (rc < 0)
        return errno == EWOULDBLOCK ? -EBUSY : -errno;
    if ((rc = lock_path(dir, path, sizeof path)) < 0)
        return rc;
    if (fstat(fd, &mine) < 0)
        return -errno;
    if (lstat(path, &now) < 0)
        return errno == ENOENT ? -ESTALE : -errno;
    return mine.st_dev == now.st_dev && mine.st_ino == now.st_ino ? 0 : -ESTALE;
}

/* Write our pid into the lock file we hold, so that a run finding the
 * folder busy can say whose it is. Best effort: the lock is the claim.
 * Written, then cut to its length (never truncated to 0 first: ext4 then
 * writes the file out when it is closed, 80 us at the end of every run). */
static void note_pid(int fd)
{
    char text[32];
    int n = snprintf(text, sizeof text, "%ld\n", (long)getpid());
    if (pt_sys_pwrite_full(fd, text, (size_t)n, 0) < 0 || ftruncate(fd, n) < 0)
        return; /* only the message of a later, refused run loses */
}

/* The pid in a lock file another run holds, or 0 when it cannot be read. */
static long holder_pid(int fd)
{
    char text[32];
    ssize_t n;
    while ((n = pread(fd, text, sizeof text - 1, 0)) < 0 && errno == EINTR)
        ;
    if (n <= 0)
        return 0;
    text[n] = '\0';
    return strtol(text, NULL, 10);
}

/*
 * Lock `dir`, which exists (`made`: this call's mkdir made it). A new run
 * claims it only while it holds nothing else, and creates the lock file
 * only then: the loser of a race never writes into another run's folder
 * (a folder this run made is its own: only the check after locking, which
 * sees what a racer wrote, is needed). 0 (the fd in *out), -EBUSY (the
 * holder's pid in *pid), -EEXIST (not empty), -ESTALE (try again), -errno.
 */
static int lock_dir(const char *dir, bool resume, bool made, int *out,
                    long *pid)
{
    /* a folder this call made has no lock yet: made at once (O_CREAT
     * opens one a racer made first just the same) */
    int rc, fd = open_lock(dir, resume || made);
    if (fd == -ENOENT && !resume) {
        if (!made && (rc = holds_nothing(dir)) <= 0)
            return rc < 0 ? rc : -EEXIST;
        fd = open_lock(dir, true);
    }
    if (fd < 0)
        return fd;
    rc = lock_file(fd, dir);
    if (rc == 0 && !resume && (rc = holds_nothing(dir)) >= 0)
        rc = rc ? 0 : -EEXIST; /* someone wrote in it before we locked */
    if (rc == -EBUSY)
        *pid = holder_pid(fd);
    if (rc < 0) {
        pt_sys_close(fd);
        return rc;
    }
    note_pid(fd);
    *out = fd;
    return 0;
}

/* The message of a claim refused or failed (rc < 0 from lock_dir). */
static void claim_error(const char *dir, bool resume, int rc, long pid,
                        char *err, size_t errlen)
{
    char who[48] = "";
    if (pid > 0)
        snprintf(who, sizeof who, " (pid %ld)", pid);
    if (rc == -EBUSY && resume)
        snprintf(err, errlen,
                 "--resume %s: another ptrun%s is still running in this "
                 "folder; resume it once that run has ended",
                 dir, who);
    else if (rc == -EBUSY)
        snprintf(err, errlen,
                 "%s: another ptrun%s is running in this folder (use "
                 "another --out)",
                 dir, who);
    else if (rc == -EEXIST)
        snprintf(err, errlen,
                 "%s: exists and is not empty (use another --out, or "
                 "--resume %s)",
                 dir, dir);
    else if (rc == -ENOENT && resume)
        snprintf(err, errlen, "--resume %s: no such run folder", dir);
    else if (rc == -ENOTDIR)
        snprintf(err, errlen, "%s: not a folder (a file is in the way)", dir);
    else
        snprintf(err, errlen, "%s: cannot claim the run folder: %s", dir,
                 strerror(-rc));
}

/* Claim the folder `dir` named by --out (made when missing) or --resume. */
static int claim_named(const char *dir, bool resume, rn_claim *c, char *err,
                       size_t errlen)
{
    long pid = 0;
    int rc = -ESTALE;
    for (int i = 0; rc == -ESTALE && i < LOCK_TRIES; i++) {
        rc = resume ? 0 : make_leaf(dir);
        if (rc < 0 && rc != -EEXIST)
            break;
        c->created = !resume && rc == 0;
        rc = lock_dir(dir, resume, c->created, &c->fd, &pid);
        if (rc == -ENOENT && !resume) /* the folder went: make it again */
            rc = -ESTALE;
    }
    if (rc < 0) {
        c->created = false;
        claim_error(dir, resume, rc, pid, err, errlen);
    }
    return rc == -ENOTDIR ? -EEXIST : rc; /* a file in the way: bad usage */
}

/*
 * Point runs/latest at runs/<leaf>: a new link renamed over the old one,
 * so that runs/latest always names some run. True if done; a failure (a
 * real folder named runs/latest, say) is only a warning.
 */
static bool link_latest(const char *leaf)
{
    char tmp[64];
    snprintf(tmp, sizeof tmp, "runs/.latest-%ld", (long)getpid());
    if ((unlink(tmp) == 0 || errno == ENOENT) && symlink(leaf, tmp) == 0 &&
        rename(tmp, LATEST) == 0)
        return true;
    fprintf(stderr, "ptrun: %s: not updated: %s\n", LATEST, strerror(errno));
    if (unlink(tmp) < 0 && errno != ENOENT)
        fprintf(stderr, "ptrun: %s: %s\n", tmp, strerror(errno));
    return false;
}

/* Claim a new runs/<name>-<UTC yyyymmdd-HHMMSS>, or -2, -3... when taken. */
static int claim_fresh(const rn_spec *spec, char *path, size_t size,
                       rn_claim *c, char *err, size_t errlen)
{
    time_t t = time(NULL);
    struct tm tm;
    char base[4096];
    long pid = 0;
    utc_time(t, &tm);
    snprintf(base, sizeof base, "runs/%s-%04d%02d%02d-%02d%02d%02d", spec->name,
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec);
    int rc = -EEXIST;
    for (int n = 1; n <= NAME_TRIES && rc == -EEXIST; n++) {
        int len = n == 1 ? snprintf(path, size, "%s", base)
                         : snprintf(path, size, "%s-%d", base, n);
        rc = len < 0 || (size_t)len >= size ? -ENAMETOOLONG : make_leaf(path);
        if (rc == 0 && (rc = lock_dir(path, false, true, &c->fd, &pid)) < 0 &&
            (rc == -EBUSY || rc == -ESTALE))
            rc = -EEXIST; /* another run took the folder we made: theirs */
    }
    if (rc == -EEXIST)
        snprintf(err, errlen,
                 "%s: this name and its -2 ... -%d are taken "
                 "(use --out)",
                 base, NAME_TRIES);
    else if (rc < 0)
        claim_error(path, false, rc, pid, err, errlen);
    if (rc < 0)
        return rc;
    c->created = c->fresh = true;
    return 0;
}

int rn_rundir_make(const rn_spec *spec, const char *out, bool resume,
                   char *path, size_t size, rn_claim *claim, char *err,
                   size_t errlen)
{
    *claim = (rn_claim){.fd = -1};
    if (!out)
        return claim_fresh(spec, path, size, claim, err, errlen);
    size_t n = strlen(out);
    while (n > 1 && out[n - 1] == '/') /* runs/x/ is runs/x */
        n--;
    if (n >= size) {
        snprintf(err, errlen, "%s: path too long", out);
        return -ENAMETOOLONG;
    }
    snprintf(path, size, "%.*s", (int)n, out);
    return claim_named(path, resume, claim, err, errlen);
}

void rn_rundir_link_latest(const char *path, rn_claim *claim)
{
    if (claim->fd >= 0 && claim->fresh && !claim->linked)
        claim->linked = link_latest(path + strlen("runs/"));
}

/* Remove one entry below a discarded folder (nftw, depth first); the folder
 * and its lock go last. Best effort: what cannot go stays. */
static int discard_entry(const char *path, const struct stat *st, int flag,
                         struct FTW *ftw)
{
    (void)st;
    (void)flag;
    if (ftw->level == 0 ||
        (ftw->level == 1 && strcmp(path + ftw->base, RN_RUNDIR_LOCK) == 0))
        return 0;
    if (remove(path) < 0 && errno != ENOENT)
        fprintf(stderr, "ptrun: %s: %s\n", path, strerror(errno));
    return 0;
}

/* Remove runs/latest if it still names the folder `path` (runs/<leaf>). */
static void unlink_latest(const char *path)
{
    char target[4096];
    ssize_t n = readlink(LATEST, target, sizeof target - 1);
    if (n < 0)
        return;
    target[n] = '\0';
    if (strcmp(target, path + strlen("runs/")) == 0 && unlink(LATEST) < 0)
        fprintf(stderr, "ptrun: %s: %s\n", LATEST, strerror(errno));
}

void rn_rundir_discard(const char *path, const rn_claim *claim)
{
    char lock[4200];
    if (!claim || claim->fd < 0) /* not ours: touch nothing */
        return;
    if (nftw(path, discard_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
        fprintf(stderr, "ptrun: %s: %s\n", path, strerror(errno));
    if (lock_path(path, lock, sizeof lock) == 0 && unlink(lock) < 0)
        fprintf(stderr, "ptrun: %s: %s\n", lock, strerror(errno));
    if (claim->created && rmdir(path) < 0 && errno != ENOTEMPTY)
        fprintf(stderr, "ptrun: %s: %s\n", path, strerror(errno));
    if (claim->linked)
        unlink_latest(path);
}

void rn_rundir_release(rn_claim *claim)
{
    if (claim->fd >= 0)
        pt_sys_close(claim->fd);
    claim->fd = -1;
}

/* Put `tmp` in the place of `dst`: swapped with it when it exists, and
 * the old file (now `tmp`) unlinked; else renamed. 0 or -errno. */
static int replace(const char *tmp, const char *dst)
{
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dst, RENAME_EXCHANGE) == 0) {
        unlink(tmp);
        return 0;
    }
    return rename(tmp, dst) < 0 ? -errno : 0;
}

int rn_write_atomic(const char *dir, const char *name, const void *data,
                    size_t len)
{
    char tmp[4096], dst[4096];
    snprintf(dst, sizeof dst, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp-%ld", dir, name, (long)getpid());
    int fd = pt_sys_open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return fd;
    int rc = pt_sys_write_full(fd, data, len);
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0)
        rc = replace(tmp, dst);
    if (rc < 0)
        unlink(tmp);
    return rc;
}

/* A time as the manifest gives it: "2026-12-01T10:00:00.000Z" (UTC). */
static void json_time(pt_buf *b, int64_t ns)
{
    time_t t = (time_t)(ns / 1000000000);
    struct tm tm;
    utc_time(t, &tm);
    pt_buf_printf(b, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"",
                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                  tm.tm_min, tm.tm_sec, (int)(ns / 1000000 % 1000));
}

/* {"ok": N, "failed": N, ...}: counts by pt_task_status. */
static void json_counts(pt_buf *b, const int64_t counts[PT_TASK_NSTATUS])
{
    pt_buf_printf(b, "{");
    for (int i = 0; i < PT_TASK_NSTATUS; i++)
        pt_buf_printf(b, "%s\"%s\": %" PRId64, i ? ", " : "",
                      pt_task_status_name((pt_task_status)i), counts[i]);
    pt_buf_printf(b, "}");
}

/* "path": {"path": ..., "sha256": ...} entries for every loaded file. */
static int json_files(pt_buf *b, const rn_spec *s, char *err, size_t errlen)
{
    char hex[65];
    pt_buf_printf(b, "  \"kernels\": {");
    const char *path = NULL;
    int rc = 0;
    for (int i = 0; i < s->nkernels; i++) {
        if ((rc = rn_sha256_file(path = s->kernels[i].path, hex)) < 0)
            goto fail;
        pt_buf_printf(b, "%s\n    ", i ? "," : "");
        pt_json_cstr(b, s->kernels[i].name);
        pt_buf_printf(b, ": {\"path\": ");
        pt_json_cstr(b, s->kernels[i].path);
        pt_buf_printf(b, ", \"symbol\": ");
        pt_json_cstr(b, s->kernels[i].symbol);
        pt_buf_printf(b, ", \"sha256\": \"%s\"}", hex);
    }
    pt_buf_printf(b, "\n  },\n  \"plugins\": [");
    for (int i = 0, n = 0; i < s->nplugins; i++) {
        if (s->plugins[i].builtin) /* ptrun's own code: "ptrun" says it */
            continue;
        if ((rc = rn_sha256_file(path = s->plugins[i].path, hex)) < 0)
            goto fail;
        pt_buf_printf(b, "%s\n    {\"path\": ", n++ ? "," : "");
        pt_json_cstr(b, s->plugins[i].path);
        pt_buf_printf(b, ", \"sha256\": \"%s\"}", hex);
    }
    pt_buf_printf(b, "\n  ],\n");
    return 0;
fail: /* the call's own errno: errno itself may be another call's */
    snprintf(err, errlen, "%s: cannot hash it: %s", path, strerror(-rc));
    return -EIO;
}

/* What the manifest opens with: version, spec, command, seed, host. */
static int json_head(pt_buf *b, const rn_manifest *m, char *err, size_t errlen)
{
    const rn_spec *s = m->spec;
    char hex[65];
    static char host[256]; /* asked once: the manifest is written twice */
    if (!host[0])
        gethostname(host, sizeof host - 1);
    int rc = rn_sha256_file(s->file, hex);
    if (rc < 0) {
        snprintf(err, errlen, "%s: cannot hash the spec: %s", s->file,
                 strerror(-rc));
        return -EIO;
    }
    pt_buf_printf(b, "{\n  \"ptrun\": \"%s\",\n  \"name\": ", pt_version());
    pt_json_cstr(b, s->name);
    pt_buf_printf(b, ",\n  \"spec\": {\"path\": ");
    pt_json_cstr(b, s->file);
    pt_buf_printf(b, ", \"sha256\": \"%s\"},\n  \"resolved_sha256\": ", hex);
    rn_sha256_text(s->resolved_yaml, hex);
    pt_buf_printf(b, "\"%s\",\n  \"command\": ", hex);
    pt_json_cstr(b, m->argv_line);
    pt_buf_printf(b, ",\n  \"seed\": %" PRIu64 ",\n  \"host\": ", s->seed);
    pt_json_cstr(b, host);
    pt_buf_printf(b, ",\n");
    return 0;
}

/* A string, or null when there is none. */
static void json_str_or_null(pt_buf *b, const char *s)
{
    if (s)
        pt_json_cstr(b, s);
    else
        pt_buf_printf(b, "null");
}

/* Times, counts and how the run stands, for the folder as a whole. */
static void json_state(pt_buf *b, const rn_manifest *m)
{
    pt_buf_printf(b, "  \"start\": ");
    json_time(b, m->start_ns);
    if (m->finished) {
        pt_buf_printf(b, ",\n  \"end\": ");
        json_time(b, m->end_ns);
    }
    pt_buf_printf(b,
                  ",\n  \"tasks\": %" PRId64 ",\n  \"skipped\": %" PRId64
                  ",\n  \"counts\": ",
                  m->tasks, m->skipped);
    json_counts(b, m->counts);
    pt_buf_printf(b,
                  ",\n  \"results_lost\": %" PRId64 ",\n  \"compacted\": "
                  "%s,\n  \"finished\": %s,\n  \"interrupted\": %s,\n"
                  "  \"exit_status\": %d,\n",
                  m->results_lost, m->compacted ? "true" : "false",
                  m->finished ? "true" : "false",
                  m->interrupted ? "true" : "false", m->exit_status);
    pt_buf_printf(b, "  \"halted\": ");
    json_str_or_null(b, m->halted);
    pt_buf_printf(b, ",\n");
}

/* "sessions": the earlier ones as they were, then this one. */
static void json_sessions(pt_buf *b, const rn_manifest *m)
{
    pt_buf_printf(b, "  \"sessions\": [\n    ");
    if (m->sessions && m->sessions[0])
        pt_buf_printf(b, "%s,\n    ", m->sessions);
    pt_buf_printf(b, "{\"command\": ");
    pt_json_cstr(b, m->argv_line);
    pt_buf_printf(b, ", \"start\": ");
    json_time(b, m->start_ns);
    pt_buf_printf(b, ", \"end\": ");
    if (m->finished)
        json_time(b, m->end_ns);
    else
        pt_buf_printf(b, "null");
    pt_buf_printf(b, ", \"counts\": ");
    json_counts(b, m->session_counts);
    pt_buf_printf(
        b, ", \"results_lost\": %" PRId64 ", \"halted\": ", m->results_lost);
    json_str_or_null(b, m->halted);
    pt_buf_printf(b, ", \"exit_status\": ");
    if (m->finished)
        pt_buf_printf(b, "%d}\n  ]", m->exit_status);
    else
        pt_buf_printf(b, "null}\n  ]");
}

/*
 * Keep disk space for the folder's last manifest (best effort: a disk
 * already full gets what it has): blocks allocated past
 * the end of an empty file (FALLOC_FL_KEEP_SIZE), which the last manifest
 * is written into (write_reserved()). Where that cannot be, the file
 * holds `len` zeros, given back by unlinking it before the last write.
 */
void rn_manifest_reserve(const char *dir)
{
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    size_t len = stat(path, &st) == 0 && (size_t)st.st_size > RESERVE_MIN / 4
                     ? 4 * (size_t)st.st_size
                     : RESERVE_MIN;
    snprintf(path, sizeof path, "%s/%s", dir, RESERVE);
    int fd = pt_sys_open(path, O_WRONLY | O_CREAT | O_NOFOLLOW, 0644);
    if (fd < 0)
        return;
    if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)len) < 0 &&
        posix_fallocate(fd, 0, (off_t)len) != 0) {
        /* no room, or no fallocate here: the last write takes its chance */
    }
    pt_sys_close(fd);
}

/* Give the reserved space back, for the last manifest to use. */
static void release_space(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, RESERVE);
    unlink(path);
}

/*
 * Write the last manifest into the space kept for it, then put it in
 * place of manifest.json: 0, or -errno when it cannot be (no reserve, one
 * of zeros, a short write). Unlinking the reserve instead would give its
 * blocks back to the file system, which cost a run's start-up 0.25 ms on
 * ext4 mounted with `discard`.
 */
static int write_reserved(const char *dir, const void *data, size_t len)
{
    char path[4200], dst[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, RESERVE);
    snprintf(dst, sizeof dst, "%s/manifest.json", dir);
    int fd = pt_sys_open(path, O_WRONLY | O_NOFOLLOW, 0);
    if (fd < 0)
        return fd;
    int rc = fstat(fd, &st) < 0 ? -errno
             : st.st_size != 0  ? -EEXIST
                                : pt_sys_write_full(fd, data, len);
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    return rc == 0 ? replace(path, dst) : rc;
}

int rn_manifest_write(const char *dir, const rn_manifest *m, char *err,
                      size_t errlen)
{
    pt_buf b = {0};
    int rc = json_head(&b, m, err, errlen);
    if (rc == 0)
        rc = json_files(&b, m->spec, err, errlen);
    json_state(&b, m);
    json_sessions(&b, m);
    if (m->hugepages && m->hugepages[0])
        pt_buf_printf(&b, ",\n  \"hugepages\": [%s\n  ]", m->hugepages);
    if (m->summary_json)
        pt_buf_printf(&b, ",\n  \"summary\": %s", m->summary_json);
    pt_buf_printf(&b, "\n}\n");
    bool reserve = rc == 0 && m->finished && !m->no_reserve;
    bool done = reserve && write_reserved(dir, b.data, b.len) == 0;
    if (reserve && !done)
        release_space(dir);
    if (rc == 0 && !done &&
        (rc = rn_write_atomic(dir, "manifest.json", b.data, b.len)) < 0)
        snprintf(err, errlen, "%s/manifest.json: %s", dir, strerror(-rc));
    pt_buf_free(&b);
    return rc;
}
