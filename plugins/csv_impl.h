/*
 * csv_impl.h - what the two sources of the csv plugin share: its rows and
 * state, the fixed columns, and the cell and row makers of csv.c that
 * csv_read.c uses to turn results.jsonl's lines into rows. Private to the
 * plugin (hidden in csv.so, like everything but its descriptor).
 */
#ifndef PT_CSV_IMPL_H
#define PT_CSV_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ptools/plugin.h>

#include "json_mini.h"

/* The columns every row has, first, in this order. */
#define CSV_NFIXED 12
extern const char *const csv_fixed_columns[CSV_NFIXED];

/* A finished task: its cells as "column\0value\0" pairs. */
typedef struct row {
    int64_t task;
    size_t seq; /* arrival order, to break ties */
    jm_buf cells;
} row;

typedef struct csv {
    char *path, *tmp;
    row *rows;
    size_t nrows, cap;
    bool dirty; /* the file does not show every row yet */
} csv;

/* Append the pair "<prefix><name>\0<value>\0", value being n bytes. */
void csv_put_cell(jm_buf *cells, const char *prefix, const char *name,
                  const char *value, size_t n);

/* A free row at the end of c->rows (not yet counted in c->nrows: the
 * caller does once its cells are in), or NULL when out of memory. */
row *csv_new_row(csv *c);

/*
 * Take the rows of the lines results.jsonl has before this session
 * writes any; a missing file has none, a last line without '\n' is torn.
 * 0, or -errno with ctx->error set.
 */
int csv_read_earlier(pt_plugin_ctx *ctx, csv *c);

#endif
