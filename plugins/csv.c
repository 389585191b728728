/*
 * csv - writes results.csv: one row per finished task, for spreadsheets and
 * data frames.
 *
 *   options: file (string, default "results.csv", relative to the run
 *                  folder unless absolute)
 *
 * Columns: task, step, kernel, workerset, worker, status, error, attempts,
 * seed, queued_ns, start_ns, end_ns, then arg.KEY for each key of the tasks'
 * args and result.KEY for each key of their results, each group in the order
 * the keys first appear. Nested objects give dotted keys (arg.opt.tol); an
 * array is one cell holding its JSON text; a string is its text; null, and
 * a key a task lacks, is an empty cell. Rows go in task id order. Quoting is
 * RFC 4180's: a field with a comma, quote, CR or LF is quoted and its quotes
 * doubled; lines end with "\n".
 *
 * The columns are known only once every task is in, so rows wait in memory
 * and the file is written when the run ends (or at close, if it did not):
 * to FILE.tmp, fsync'd, then renamed over FILE, so there is never half a
 * csv.
 *
 * It holds every task of the run folder, as results.jsonl does once the run
 * ends: at open it takes a row from each line results.jsonl already has
 * (those of the earlier sessions of a resumed run; none in a new folder),
 * and a task's latest row replaces its earlier ones. Lines `--resume`
 * ignores are left out too (not a whole JSON object line, "task" not an
 * integer >= 0, "status" not a status), but for one: the plugin does not
 * know the plan's size, so a line with a task id beyond it, which only a
 * hand edit can put there, still makes a row.
 *
 * This file makes a row of each finished task's event and writes the file;
 * csv_read.c reads the earlier rows back at open (csv_impl.h is what both
 * share).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <ptools/plugin.h>

#include "csv_impl.h"
#include "json_mini.h"
#include "plugin_util.h"

#define FLUSH_BYTES (64 * 1024)

const char *const csv_fixed_columns[] = {
    "task",  "step",     "kernel", "workerset", "worker",   "status",
    "error", "attempts", "seed",   "queued_ns", "start_ns", "end_ns",
};

typedef struct columns {
    const char **names; /* point into csv_fixed_columns and rows' cells */
    size_t n, cap;
} columns;

/* Append the pair "<prefix><name>\0<value>\0", value being n bytes. */
void csv_put_cell(jm_buf *cells, const char *prefix, const char *name,
                  const char *value, size_t n)
{
    jm_buf_str(cells, prefix);
    jm_buf_add(cells, name, strlen(name) + 1);
    jm_buf_add(cells, value, n);
    jm_buf_add(cells, "", 1);
}

static void put_text(jm_buf *cells, const char *name, const char *value)
{
    csv_put_cell(cells, "", name, value ? value : "",
                 value ? strlen(value) : 0);
}

static void put_int(jm_buf *cells, const char *name, int64_t v)
{
    char text[24];
    snprintf(text, sizeof text, "%" PRId64, v);
    put_text(cells, name, text);
}

/* Where a value's leaves go: the prefix of their columns, the dotted key
 * so far, and room for a leaf's JSON text. */
typedef struct vflat {
    jm_buf *cells;
    const char *prefix;
    jm_buf key;
    pt_buf js;
} vflat;

static int put_vmap(vflat *f, const pt_val *map);

/* A leaf that is neither a string nor null: its JSON text (bytes as the
 * JSON writer's {"$bytes": base64}, whose member makes the column). */
static int put_json_vleaf(vflat *f, const pt_val *v)
{
    static const char bytes_head[] = "{\"$bytes\":\"";
    pt_buf_reset(&f->js);
    int rc = pt_venc_val(&f->js, v);
    size_t at = f->js.len;
    if (rc == 0)
        rc = pt_value_to_json(f->js.data, at, &f->js);
    if (rc < 0)
        return rc;
    const char *text = (const char *)f->js.data + at;
    size_t n = f->js.len - at;
    if (v->type == PT_V_BYTES) {
        text += sizeof bytes_head - 1, n -= sizeof bytes_head + 1;
        csv_put_cell(f->cells, f->prefix, f->key.data, "", 0);
        f->cells->len -= 2; /* the name goes on: ".$bytes" */
        jm_buf_add(f->cells, ".$bytes", sizeof ".$bytes");
        jm_buf_add(f->cells, text, n);
        return jm_buf_add(f->cells, "", 1);
    }
    if (n == 4 && memcmp(text, "null", 4) == 0) /* NaN, infinities */
        n = 0;
    csv_put_cell(f->cells, f->prefix, f->key.data, text, n);
    return 0;
}

/* One entry under the key in f->key: a cell, or a nested map's cells. */
static int put_vleaf(vflat *f, const pt_val *v)
{
    char num[24];
    switch (v->type) {
    case PT_V_STR:
        csv_put_cell(f->cells, f->prefix, f->key.data, v->u.str.ptr,
                     v->u.str.len);
        return 0;
    case PT_V_NULL:
        csv_put_cell(f->cells, f->prefix, f->key.data, "", 0);
        return 0;
    case PT_V_INT:
        csv_put_cell(f->cells, f->prefix, f->key.data, num,
                     (size_t)snprintf(num, sizeof num, "%" PRId64, v->u.i));
        return 0;
    case PT_V_MAP:
        if (v->u.c.count)
            return put_vmap(f, v);
        csv_put_cell(f->cells, f->prefix, f->key.data, "{}", 2);
        return 0;
    default: return put_json_vleaf(f, v);
    }
}

/* A map's entries, their keys joined to f->key with '.' (as jm_flatten
 * joins the keys of nested JSON objects). */
static int put_vmap(vflat *f, const pt_val *map)
{
    size_t keylen = f->key.len;
    pt_viter it;
    pt_vstr key;
    pt_val v;
    int rc = pt_viter_init(&it, map);
    while (rc == 0 && (rc = pt_vmap_next(&it, &key, &v)) == 1) {
        if (keylen)
            jm_buf_add(&f->key, ".", 1);
        jm_buf_add(&f->key, key.ptr, key.len);
        rc = f->key.oom ? -ENOMEM : put_vleaf(f, &v);
        jm_buf_cut(&f->key, keylen);
    }
    return rc;
}

/*
 * The cells of a task's args or result ("arg.", "result."), walked in the
 * encoded map: one per leaf (nested maps give dotted names; a list or
 * array is one cell holding its JSON text).
 */
static int put_object(pt_plugin_ctx *ctx, const pt_event *ev, jm_buf *cells,
                      const char *prefix, const void *p, size_t n)
{
    vflat f = {.cells = cells, .prefix = prefix};
    pt_val map;
    size_t next;
    if (!p || !n)
        return 0;
    int rc = pt_value_check(p, n, PT_V_MAX_DEPTH);
    if (rc == 0)
        rc = pt_vdec(p, n, 0, &map, &next);
    if (rc == 0 && map.type != PT_V_MAP)
        rc = -EINVAL;
    if (rc == 0)
        rc = jm_buf_add(&f.key, "", 0) < 0 ? -ENOMEM : put_vmap(&f, &map);
    jm_buf_free(&f.key);
    pt_buf_free(&f.js);
    if (rc >= 0)
        return 0;
    snprintf(ctx->error, sizeof ctx->error, "task %" PRId64 ": %s: %s",
             ev->task, prefix[0] == 'a' ? "args" : "result",
             rc == -EBADMSG  ? pt_errmsg()
             : rc == -EINVAL ? "not a map"
                             : strerror(-rc));
    return rc == -ENOMEM ? -ENOMEM : -EINVAL;
}

/* A free row at the end of c->rows, or NULL when out of memory. */
row *csv_new_row(csv *c)
{
    if (c->nrows == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        row *p = realloc(c->rows, cap * sizeof *p);
        if (!p)
            return NULL;
        c->rows = p;
        c->cap = cap;
    }
    c->rows[c->nrows] = (row){.seq = c->nrows};
    return &c->rows[c->nrows];
}

/* The fixed columns' cells; a missing worker stays an empty cell. */
static void put_fixed(jm_buf *cells, const pt_event *ev)
{
    char seed[24];
    snprintf(seed, sizeof seed, "%" PRIu64, ev->seed);
    put_int(cells, "task", ev->task);
    put_text(cells, "step", ev->step_name);
    put_text(cells, "kernel", ev->kernel);
    put_text(cells, "workerset", ev->workerset);
    if (ev->worker >= 0)
        put_int(cells, "worker", ev->worker);
    put_text(cells, "status", pt_task_status_name(ev->status));
    put_text(cells, "error", ev->error);
    put_int(cells, "attempts", ev->attempts);
    put_text(cells, "seed", seed);
    put_int(cells, "queued_ns", ev->queued_ns);
    put_int(cells, "start_ns", ev->start_ns);
    put_int(cells, "end_ns", ev->end_ns);
}

/*
 * Keep a finished task's row. When its args or result are not a JSON
 * object, the error is reported and the row keeps its fixed cells only.
 */
static int add_task(pt_plugin_ctx *ctx, csv *c, const pt_event *ev)
{
    row *r = csv_new_row(c);
    if (!r)
        goto oom;
    r->task = ev->task;
    put_fixed(&r->cells, ev);
    size_t fixed = r->cells.len;
    int rc = put_object(ctx, ev, &r->cells, "arg.", ev->args, ev->args_len);
    if (rc == 0)
        rc = put_object(ctx, ev, &r->cells, "result.", ev->result,
                        ev->result_len);
    if (r->cells.oom) {
        jm_buf_free(&r->cells);
        goto oom;
    }
    if (rc != 0)
        jm_buf_cut(&r->cells, fixed);
    c->nrows++;
    c->dirty = true;
    return rc;
oom:
    snprintf(ctx->error, sizeof ctx->error, "task %" PRId64 ": out of memory",
             ev->task);
    return -ENOMEM;
}

/* A row's cells, in turn: name, then value, then the next name. */
static const char *cell_value(const char *name)
{
    return name + strlen(name) + 1;
}

static const char *next_cell(const char *name)
{
    const char *value = cell_value(name);
    return value + strlen(value) + 1;
}

/* The value of column `name` in r, "" when r has none. */
static const char *find_cell(const row *r, const char *name)
{
    const char *end = r->cells.data + r->cells.len;
    for (const char *p = r->cells.data; p < end; p = next_cell(p))
        if (strcmp(p, name) == 0)
            return cell_value(p);
    return "";
}

/*
 * Add a column unless it is there already: a linear search, as columns are
 * few. -1 when out of memory.
 */
static int add_column(columns *cols, const char *name)
{
    for (size_t i = 0; i < cols->n; i++)
        if (strcmp(cols->names[i], name) == 0)
            return 0;
    if (cols->n == cols->cap) {
        size_t cap = cols->cap ? 2 * cols->cap : 32;
        const char **p = realloc(cols->names, cap * sizeof *p);
        if (!p)
            return -1;
        cols->names = p;
        cols->cap = cap;
    }
    cols->names[cols->n++] = name;
    return 0;
}

/* The fixed columns, then arg.* and result.* in the order rows show them. */
static int collect_columns(const csv *c, columns *cols)
{
    static const char *const prefixes[] = {"arg.", "result."};
    for (size_t i = 0; i < CSV_NFIXED; i++)
        if (add_column(cols, csv_fixed_columns[i]) < 0)
            return -1;
    for (size_t k = 0; k < 2; k++) {
        size_t n = strlen(prefixes[k]);
        for (size_t i = 0; i < c->nrows; i++) {
            const row *r = &c->rows[i];
            const char *end = r->cells.data + r->cells.len;
            for (const char *p = r->cells.data; p < end; p = next_cell(p))
                if (strncmp(p, prefixes[k], n) == 0 && add_column(cols, p) < 0)
                    return -1;
        }
    }
    return 0;
}

/* Append one field, quoted as RFC 4180 says when it must be. */
static void add_field(jm_buf *out, const char *s)
{
    if (!s[strcspn(s, ",\"\r\n")]) {
        jm_buf_str(out, s);
        return;
    }
    jm_buf_add(out, "\"", 1);
    for (const char *q; (q = strchr(s, '"')); s = q + 1) {
        jm_buf_add(out, s, (size_t)(q - s) + 1);
        jm_buf_add(out, "\"", 1);
    }
    jm_buf_str(out, s);
    jm_buf_add(out, "\"", 1);
}

/* Append a row's line, or the header's when r is NULL. */
static void add_record(jm_buf *out, const columns *cols, const row *r)
{
    for (size_t i = 0; i < cols->n; i++) {
        if (i > 0)
            jm_buf_add(out, ",", 1);
        add_field(out, r ? find_cell(r, cols->names[i]) : cols->names[i]);
    }
    jm_buf_add(out, "\n", 1);
}

/* Write out what gathered in `out` and empty it. */
static int flush_out(const pt_plugin_ctx *ctx, int fd, jm_buf *out)
{
    if (out->oom) {
        errno = ENOMEM;
        return -1;
    }
    int rc = host_write_all(ctx, fd, out->data, out->len);
    jm_buf_cut(out, 0);
    return rc;
}

/* Write the header and the rows to fd, 64 KiB at a time. */
static int write_rows(const pt_plugin_ctx *ctx, int fd, const csv *c,
                      const columns *cols)
{
    jm_buf out = {0};
    int rc = 0;
    add_record(&out, cols, NULL);
    for (size_t i = 0; i < c->nrows && rc == 0; i++) {
        add_record(&out, cols, &c->rows[i]);
        if (out.len >= FLUSH_BYTES)
            rc = flush_out(ctx, fd, &out);
    }
    if (rc == 0)
        rc = flush_out(ctx, fd, &out);
    jm_buf_free(&out);
    return rc;
}

static int by_task(const void *a, const void *b)
{
    const row *x = a, *y = b;
    if (x->task != y->task)
        return x->task < y->task ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Sorted by task, keep the latest row of each (the one that came last). */
static void keep_latest(csv *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->nrows; i++) {
        if (i + 1 < c->nrows && c->rows[i + 1].task == c->rows[i].task)
            jm_buf_free(&c->rows[i].cells);
        else
            c->rows[n++] = c->rows[i];
    }
    c->nrows = n;
}

/* Write the whole csv to c->tmp, then rename it to c->path. */
static int write_csv(pt_plugin_ctx *ctx, csv *c)
{
    columns cols = {0};
    int rc = 0, fd;
    if (c->nrows > 0)
        qsort(c->rows, c->nrows, sizeof *c->rows, by_task);
    keep_latest(c);
    if (collect_columns(c, &cols) < 0) {
        errno = ENOMEM;
        rc = sys_error(ctx, "write", c->path);
        goto out;
    }
    fd = host_open(ctx, c->tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        rc = sys_error(ctx, "create", c->tmp);
        goto out;
    }
    if (write_rows(ctx, fd, c, &cols) < 0 || host_fsync(ctx, fd) < 0) {
        rc = sys_error(ctx, "write", c->tmp);
        close(fd);
        goto out_unlink;
    }
    if (close(fd) < 0 && errno != EINTR) {
        rc = sys_error(ctx, "write", c->tmp);
        goto out_unlink;
    }
    if (rename(c->tmp, c->path) < 0) {
        rc = sys_error(ctx, "rename to", c->path);
        goto out_unlink;
    }
    c->dirty = false;
    goto out;
out_unlink:
    unlink(c->tmp);
out:
    free(cols.names);
    return rc;
}

static void free_csv(csv *c)
{
    for (size_t i = 0; i < c->nrows; i++)
        jm_buf_free(&c->rows[i].cells);
    free(c->rows);
    free(c->path);
    free(c->tmp);
    free(c);
}

static int csv_open(pt_plugin_ctx *ctx, const char *options)
{
    csv *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(ctx->error, sizeof ctx->error, "out of memory");
        return -ENOMEM;
    }
    int rc = read_file_options(ctx, options, "results.csv", &c->path, &c->tmp);
    if (rc == 0 && !only_checking(ctx))
        rc = csv_read_earlier(ctx, c);
    if (rc < 0 || only_checking(ctx)) { /* a check writes nothing */
        free_csv(c);
        return rc;
    }
    c->dirty = true; /* a run without tasks still gets its header */
    ctx->data = c;
    return 0;
}

static int csv_event(pt_plugin_ctx *ctx, const pt_event *ev)
{
    csv *c = ctx->data;
    switch (ev->type) {
    case PT_EV_TASK_FINISHED: return add_task(ctx, c, ev);
    case PT_EV_RUN_END: return c->dirty ? write_csv(ctx, c) : 0;
    default: return 0;
    }
}

/* Write the file if the run did not end properly, then free everything. */
static int csv_close(pt_plugin_ctx *ctx)
{
    csv *c = ctx->data;
    if (!c)
        return 0;
    int rc = c->dirty ? write_csv(ctx, c) : 0;
    free_csv(c);
    ctx->data = NULL;
    return rc;
}

static const pt_plugin csv_plugin = {
    .abi = PT_PLUGIN_ABI,
    .name = "csv",
    .doc = "writes results.csv, one row per finished task, args and results "
           "as columns",
    .open = csv_open,
    .on_event = csv_event,
    .close = csv_close,
    .events = PT_EV_MASK(PT_EV_TASK_FINISHED) | PT_EV_MASK(PT_EV_RUN_END),
};

PT_PLUGIN(&csv_plugin);
