/*
 * csv_read.c - the csv plugin's reading back (see csv.c): at open, a row
 * for each result line results.jsonl already holds (the earlier sessions
 * of a resumed run), read with jansson and flattened into the same cells
 * csv.c makes of a finished task's event.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <ptools/json_read.h>
#include <ptools/plugin.h>

#include "csv_impl.h"
#include "json_mini.h"
#include "plugin_util.h"

/* Append v as compact JSON text (csv cells hold arrays so). */
static void put_json(jm_buf *b, const json_t *v)
{
    const char *k;
    json_t *x;
    size_t i = 0;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        jm_buf_lit(b, "{");
        json_object_foreach((json_t *)v, k, x)
        {
            if (i++)
                jm_buf_lit(b, ",");
            jm_buf_quote(b, k);
            jm_buf_lit(b, ":");
            put_json(b, x);
        }
        jm_buf_lit(b, "}");
        break;
    case JSON_ARRAY:
        jm_buf_lit(b, "[");
        json_array_foreach(v, i, x)
        {
            if (i)
                jm_buf_lit(b, ",");
            put_json(b, x);
        }
        jm_buf_lit(b, "]");
        break;
    case JSON_STRING: jm_buf_quote(b, json_string_value(v)); break;
    case JSON_INTEGER: jm_buf_int(b, json_integer_value(v)); break;
    case JSON_REAL: jm_buf_real(b, json_real_value(v)); break;
    case JSON_TRUE: jm_buf_lit(b, "true"); break;
    case JSON_FALSE: jm_buf_lit(b, "false"); break;
    default: jm_buf_lit(b, "null"); break;
    }
}

/* One leaf's cell: a string is its text, null empty, the rest JSON text. */
static void put_leaf(jm_buf *cells, const char *prefix, const char *key,
                     const json_t *v)
{
    if (json_is_string(v)) {
        csv_put_cell(cells, prefix, key, json_string_value(v),
                     json_string_length(v));
        return;
    }
    jm_buf_str(cells, prefix);
    jm_buf_add(cells, key, strlen(key) + 1);
    if (!json_is_null(v))
        put_json(cells, v);
    jm_buf_add(cells, "", 1);
}

/*
 * A cell for each leaf of object o: a scalar, an array or an empty object;
 * the keys of nested objects are joined with '.' after `key`.
 */
static void put_flat(jm_buf *cells, const char *prefix, jm_buf *key,
                     const json_t *o)
{
    size_t keylen = key->len;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        if (keylen)
            jm_buf_lit(key, ".");
        jm_buf_str(key, k);
        if (key->oom)
            cells->oom = true;
        else if (json_is_object(v) && json_object_size(v))
            put_flat(cells, prefix, key, v);
        else
            put_leaf(cells, prefix, key->data, v);
        jm_buf_cut(key, keylen);
    }
}

/* The cells of object o, flattened, each column named prefix + key. */
static void put_object_cells(jm_buf *cells, const char *prefix, const json_t *o)
{
    jm_buf key = {0};
    put_flat(cells, prefix, &key, o);
    jm_buf_free(&key);
}

/* Is this line a result (as --resume reads it, but for the plan's size)? */
static bool is_result(const json_t *line)
{
    json_t *task = json_object_get(line, "task");
    return json_is_integer(task) && json_integer_value(task) >= 0 &&
           pt_task_status_parse(
               json_string_value(json_object_get(line, "status"))) >= 0;
}

/* A line's members as the cells put_fixed() and put_object() give. */
static void put_line_cells(jm_buf *cells, const json_t *line)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)line, key, v)
    {
        if (strcmp(key, "args") == 0 && json_is_object(v))
            put_object_cells(cells, "arg.", v);
        else if (strcmp(key, "result") == 0 && json_is_object(v))
            put_object_cells(cells, "result.", v);
        for (size_t i = 0; i < CSV_NFIXED; i++)
            if (strcmp(key, csv_fixed_columns[i]) == 0)
                put_leaf(cells, "", key, v);
    } /* priority, signal, earlier_attempts...: not csv columns */
}

/* Keep a row for one whole line of results.jsonl, if it is a result. */
static int add_line(csv *c, const char *line, size_t n)
{
    json_error_t je;
    json_t *root = pt_json_loadb(line, n, JSON_REJECT_DUPLICATES, &je);
    row *r = is_result(root) ? csv_new_row(c) : NULL;
    int rc = 0;
    if (r) {
        r->task = json_integer_value(json_object_get(root, "task"));
        put_line_cells(&r->cells, root);
        if (r->cells.oom) {
            jm_buf_free(&r->cells);
            rc = -ENOMEM;
        } else {
            c->nrows++;
        }
    } else if (is_result(root)) {
        rc = -ENOMEM;
    }
    json_decref(root); /* not a result (or no JSON object): no row */
    return rc;
}

int csv_read_earlier(pt_plugin_ctx *ctx, csv *c)
{
    char *path = run_path(ctx, "results.jsonl", ""), *line = NULL;
    FILE *f = path ? fopen(path, "re") : NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    if (!path || (!f && errno != ENOENT))
        rc = path ? sys_error(ctx, "open", path) : -ENOMEM;
    while (f && rc == 0 && (n = getline(&line, &cap, f)) > 0 &&
           line[n - 1] == '\n')
        rc = strlen(line) == (size_t)n ? add_line(c, line, (size_t)n) : 0;
    if (rc == 0 && f && ferror(f))
        rc = sys_error(ctx, "read", path);
    if (rc == -ENOMEM)
        snprintf(ctx->error, sizeof ctx->error, "out of memory");
    if (f)
        fclose(f);
    free(line);
    free(path);
    return rc;
}
