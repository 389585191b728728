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

#include <jansson.h>

#include <ptools/json_read.h>
#include "events/results.h"

#define SINK_FLUSH (64 * 1024)

/* Say why a status is not one: "ok, failed, ... or cancelled". */
static void bad_status(char *why, size_t size)
{
    size_t n = (size_t)snprintf(why, size, "\"status\" is not ");
    for (int s = 0; s < PT_TASK_NSTATUS && n < size; s++)
        n += (size_t)snprintf(why + n, size - n, "%s%s",
                              s == 0                     ? ""
                              : s == PT_TASK_NSTATUS - 1 ? " or "
                                                         : ", ",
                              pt_task_status_name((pt_task_status)s));
}

/* Say why a line is not valid JSON, or not an object. */
static void bad_json(const json_error_t *je, char *why, size_t size)
{
    snprintf(why, size, "not a JSON object (bad JSON at offset %d: %s)",
             je ? je->position : 0, je ? je->text : "expected an object");
}

/* The task a line's "task" names: -1 when absent, -2 when no task id. */
static int64_t task_of(const json_t *v, int64_t ntasks)
{
    json_int_t id = json_integer_value(v);
    if (!v)
        return -1;
    return json_is_integer(v) && id >= 0 && id < ntasks ? id : -2;
}

/* The status a line's "status" names: -1 when absent, -2 when no word. */
static int status_of(const json_t *v)
{
    int s = pt_task_status_parse(json_string_value(v));
    return !v ? -1 : s >= 0 ? s : -2;
}

int rn_results_parse_line(const char *line, size_t n, int64_t ntasks,
                          int64_t *task, int *status, char *why, size_t size)
{
    json_error_t je;
    json_t *root = NULL;
    *task = *status = -1;
    if (strlen(line) != n) {
        snprintf(why, size, "not a JSON object (a NUL byte)");
        return -1;
    }
    /* Our own lines: a key twice is damage, not a second opinion. */
    root = pt_json_loadb(line, n, JSON_REJECT_DUPLICATES, &je);
    if (!root || !json_is_object(root)) {
        bad_json(root ? NULL : &je, why, size);
        json_decref(root);
        return -1;
    }
    *task = task_of(json_object_get(root, "task"), ntasks);
    *status = status_of(json_object_get(root, "status"));
    json_decref(root);
    if (*task < 0)
        snprintf(why, size,
                 *task == -1 ? "no \"task\""
                             : "\"task\" is not a task id of this plan");
    else if (*status == -1)
        snprintf(why, size, "no \"status\"");
    else if (*status < 0)
        bad_status(why, size);
    return *task < 0 || *status < 0 ? -1 : 0;
}

/* Account for the whole line at `off`. */
static void take_line(rn_results *r, const char *line, size_t n, int64_t off,
                      int64_t base)
{
    int64_t task;
    int status;
    char why[sizeof r->why];
    r->lines++;
    if (rn_results_parse_line(line, n, r->ntasks, &task, &status, why,
                              sizeof why) < 0) {
        if (r->ignored++ == 0) {
            r->first_ignored = r->lines;
            memcpy(r->why, why, sizeof why);
        }
        return;
    }
    r->latest[task] = off;
    r->status[task] = (unsigned char)status;
    if (off >= base)
        r->since[status]++;
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
    for (int s = 0; s < PT_TASK_NSTATUS; s++)
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
