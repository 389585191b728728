/* results.c - results.jsonl read strictly and compacted (results.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ptools/args.h>
#include <ptools/buf.h>
#include <ptools/sys.h>

#include "json_mini.h"
#include "events/results.h"

#define SINK_FLUSH (64 * 1024)

/* The fields of one line that make it a result, while it is read. */
typedef struct fields {
    int64_t ntasks;
    int64_t task; /* -1: no "task"; -2: not a task id of the plan */
    int status;   /* -1: no "status"; -2: not a status word */
} fields;

/* The pt_task_status a JSON string names, or -2 (one table: lib's). */
static int status_of(const jm_leaf *v)
{
    for (int s = 0; v->type == JM_STRING && s < RN_NSTATUS; s++)
        if (strcmp(v->str, pt_task_status_name((pt_task_status)s)) == 0)
            return s;
    return -2;
}

/* jm_flatten() callback: take "task" and "status" (the last, if twice). */
static int on_field(void *arg, const char *key, const jm_leaf *v)
{
    fields *f = arg;
    int64_t id;
    if (strcmp(key, "task") == 0) {
        id = jm_leaf_index(v, f->ntasks);
        f->task = id >= 0 ? id : -2;
    } else if (strcmp(key, "status") == 0) {
        f->status = status_of(v);
    }
    return 0;
}

/* Say why a status is not one: "ok, failed, ... or cancelled". */
static void bad_status(char *why, size_t size)
{
    size_t n = (size_t)snprintf(why, size, "\"status\" is not ");
    for (int s = 0; s < RN_NSTATUS && n < size; s++)
        n += (size_t)snprintf(why + n, size - n, "%s%s",
                              s == 0                ? ""
                              : s == RN_NSTATUS - 1 ? " or "
                                                    : ", ",
                              pt_task_status_name((pt_task_status)s));
}

/*
 * Read the whole line `line` (n bytes with its '\n'): 0 with its task and
 * status, or -1 with why it is no result of this plan.
 */
static int parse_line(const char *line, size_t n, fields *f, char *why,
                      size_t size)
{
    char err[120];
    f->task = f->status = -1;
    if (strlen(line) != n) {
        snprintf(why, size, "not a JSON object (a NUL byte)");
        return -1;
    }
    if (jm_flatten(line, on_field, f, err, sizeof err) != 0) {
        snprintf(why, size, "not a JSON object (%s)", err);
        return -1;
    }
    if (f->task < 0)
        snprintf(why, size,
                 f->task == -1 ? "no \"task\""
                               : "\"task\" is not a task id of this plan");
    else if (f->status == -1)
        snprintf(why, size, "no \"status\"");
    else if (f->status < 0)
        bad_status(why, size);
    return f->task < 0 || f->status < 0 ? -1 : 0;
}

/* Account for the whole line at `off`. */
static void take_line(rn_results *r, const char *line, size_t n, int64_t off,
                      int64_t base)
{
    fields f = {.ntasks = r->ntasks};
    char why[sizeof r->why];
    r->lines++;
    if (parse_line(line, n, &f, why, sizeof why) < 0) {
        if (r->ignored++ == 0) {
            r->first_ignored = r->lines;
            memcpy(r->why, why, sizeof why);
        }
        return;
    }
    r->latest[f.task] = off;
    r->status[f.task] = (unsigned char)f.status;
    if (off >= base)
        r->since[f.status]++;
}

/* Read the lines of f into r; a last line without '\n' is left out. */
static int read_lines(rn_results *r, FILE *f, int64_t base)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0 && line[n - 1] == '\n') {
        take_line(r, line, (size_t)n, r->end, base);
        r->end += n;
    }
    int rc = ferror(f) ? -EIO : 0;
    free(line);
    for (int64_t t = 0; t < r->ntasks; t++)
        if (r->latest[t] >= 0)
            r->counts[r->status[t]]++;
    return rc;
}

int rn_results_read(rn_results *r, const char *path, int64_t ntasks,
                    int64_t base)
{
    *r = (rn_results){.ntasks = ntasks};
    r->latest = malloc(((size_t)ntasks + 1) * sizeof *r->latest);
    r->status = calloc((size_t)ntasks + 1, sizeof *r->status);
    if (!r->latest || !r->status)
        return -ENOMEM;
    for (int64_t t = 0; t < ntasks; t++)
        r->latest[t] = -1;
    FILE *f = fopen(path, "re");
    if (!f)
        return errno == ENOENT ? 0 : -errno;
    int rc = read_lines(r, f, base);
    fclose(f);
    return rc;
}

bool rn_results_compacted(const rn_results *r)
{
    int64_t kept = 0;
    for (int s = 0; s < RN_NSTATUS; s++)
        kept += r->counts[s];
    return kept == r->lines;
}

/* Release what rn_results_read() took (again: harmless). */
void rn_results_free(rn_results *r)
{
    free(r->latest);
    free(r->status);
    r->latest = NULL;
    r->status = NULL;
}

/* ---- compaction ---- */

/* An output file and what is gathered for it. */
typedef struct sink {
    int fd;
    pt_buf buf;
} sink;

/* Write out what is gathered for s: 0 or -errno. */
static int sink_flush(sink *s)
{
    int rc = pt_sys_write_full(s->fd, s->buf.data, s->buf.len);
    pt_buf_reset(&s->buf);
    return rc;
}

/* Gather n bytes for s; write when enough has gathered. */
static int sink_add(sink *s, const char *p, size_t n)
{
    if (pt_buf_append(&s->buf, p, n) < 0)
        return -ENOMEM;
    return s->buf.len >= SINK_FLUSH ? sink_flush(s) : 0;
}

/* qsort() order of file offsets: ascending. */
static int by_offset(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The offsets of the lines that stay, ascending (n of them); NULL: ENOMEM. */
static int64_t *kept_offsets(const rn_results *r, size_t *n)
{
    int64_t *k = malloc(((size_t)r->ntasks + 1) * sizeof *k);
    *n = 0;
    for (int64_t t = 0; k && t < r->ntasks; t++)
        if (r->latest[t] >= 0)
            k[(*n)++] = r->latest[t];
    if (k)
        qsort(k, *n, sizeof *k, by_offset);
    return k;
}

/*
 * Send each whole line of `in` to `keep` (its offset is the next of
 * `kept`) or to `move`. -EAGAIN if there are more than r->end bytes of
 * them: a line written since r was read would be lost.
 */
static int route_lines(const rn_results *r, FILE *in, sink *keep, sink *move)
{
    size_t nkept, k = 0;
    int64_t *kept = kept_offsets(r, &nkept), off = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = kept ? 0 : -ENOMEM;
    while (rc == 0 && (n = getline(&line, &cap, in)) > 0 &&
           line[n - 1] == '\n') {
        bool stays = k < nkept && kept[k] == off;
        k += stays;
        rc = off + n > r->end ? -EAGAIN
                              : sink_add(stays ? keep : move, line, (size_t)n);
        off += n;
    }
    if (rc == 0 && (ferror(in) || off != r->end))
        rc = ferror(in) ? -EIO : -EAGAIN;
    free(line);
    free(kept);
    return rc;
}

/*
 * Open history.jsonl for appending: *size is its size now, to cut back
 * to. A kill in an earlier compaction may have cut its last line: the
 * lines moved now begin on a line of their own. fd or -errno.
 */
static int open_history(const char *path, off_t *size, sink *s)
{
    struct stat st;
    char last = '\n';
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int rc = fstat(fd, &st) < 0 ? -errno : 0;
    if (rc == 0 && st.st_size > 0)
        rc = pt_sys_pread_full(fd, &last, 1, st.st_size - 1);
    if (rc == 0 && last != '\n' && sink_add(s, "\n", 1) < 0)
        rc = -ENOMEM;
    if (rc < 0) {
        pt_sys_close(fd);
        return rc;
    }
    *size = st.st_size;
    return fd;
}

/* Write out, fsync and close the new results file: 0 or -errno. */
static int close_new(sink *s)
{
    int rc = sink_flush(s);
    if (rc == 0 && fsync(s->fd) < 0)
        rc = -errno;
    if (close(s->fd) < 0 && rc == 0 && errno != EINTR)
        rc = -errno;
    s->fd = -1;
    return rc;
}

/* Both files written: history.jsonl made durable, then the rename. */
static int commit(sink *keep, sink *move, const char *tmp, const char *dst)
{
    int rc = close_new(keep);
    if (rc == 0)
        rc = sink_flush(move);
    if (rc == 0 && fsync(move->fd) < 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, dst) < 0)
        rc = -errno;
    return rc;
}

int rn_results_compact(const rn_results *r, const char *dir)
{
    char src[4200], tmp[4200], hist[4200];
    snprintf(src, sizeof src, "%s/results.jsonl", dir);
    snprintf(tmp, sizeof tmp, "%s/.results.jsonl.tmp-%ld", dir, (long)getpid());
    snprintf(hist, sizeof hist, "%s/history.jsonl", dir);
    sink keep = {.fd = -1}, move = {.fd = -1};
    off_t hist_size = 0;
    FILE *in = fopen(src, "re");
    int rc = in ? 0 : -errno;
    if (rc == 0 &&
        (keep.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) <
            0)
        rc = -errno;
    bool made_tmp = keep.fd >= 0;
    if (rc == 0 && (move.fd = open_history(hist, &hist_size, &move)) < 0)
        rc = move.fd;
    if (rc == 0)
        rc = route_lines(r, in, &keep, &move);
    if (rc == 0)
        rc = commit(&keep, &move, tmp, src);
    if (rc < 0 && move.fd >= 0 && ftruncate(move.fd, hist_size) < 0) {
        /* the moved lines stay in results.jsonl too: a duplicate, no loss */
    }
    if (rc < 0 && made_tmp)
        unlink(tmp);
    if (keep.fd >= 0)
        pt_sys_close(keep.fd);
    if (move.fd >= 0)
        pt_sys_close(move.fd);
    if (in)
        fclose(in);
    pt_buf_free(&keep.buf);
    pt_buf_free(&move.buf);
    return rc;
}
