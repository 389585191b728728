/* spec_diag.c - collect, sort and print the problems of a job spec. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec/spec_diag.h"
#include "spec/yaml_tree.h"

/* Store one message; when memory runs out it is only counted. */
static void add(rn_diags *d, rn_pos pos, const char *set, int set_index,
                const char *msg)
{
    if (d->n == d->cap) {
        int ncap = d->cap ? d->cap * 2 : 8;
        rn_diag *v = realloc(d->v, (size_t)ncap * sizeof *v);
        if (!v) {
            d->lost++;
            return;
        }
        d->v = v;
        d->cap = ncap;
    }
    char *m = strdup(msg);
    if (!m) {
        d->lost++;
        return;
    }
    d->v[d->n] = (rn_diag){pos, set, set_index, d->n, m};
    d->n++;
}

void rn_diag_add(rn_diags *d, rn_pos pos, const char *set, int set_index,
                 const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    add(d, pos, set, set_index, msg);
}

void rn_diag_at(rn_diags *d, const rn_ynode *n, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    add(d, n->pos, n->set, n->set_index, msg);
}

int rn_diag_count(const rn_diags *d)
{
    return d->n + d->lost;
}

/* --set problems first, in argument order; then file order. */
static int cmp_diag(const void *pa, const void *pb)
{
    const rn_diag *a = pa, *b = pb;
    if (!a->set != !b->set)
        return a->set ? -1 : 1;
    if (a->set && a->set_index != b->set_index)
        return a->set_index < b->set_index ? -1 : 1;
    if (a->pos.line != b->pos.line)
        return a->pos.line < b->pos.line ? -1 : 1;
    if (a->pos.col != b->pos.col)
        return a->pos.col < b->pos.col ? -1 : 1;
    return (a->seq > b->seq) - (a->seq < b->seq);
}

static bool same_diag(const rn_diag *a, const rn_diag *b)
{
    return a->set == b->set && a->pos.line == b->pos.line &&
           a->pos.col == b->pos.col && strcmp(a->msg, b->msg) == 0;
}

/* Append one formatted line to buf (at *off), never past its end. */
static void put_line(char *buf, size_t size, size_t *off, const char *file,
                     const rn_diag *g)
{
    if (*off >= size)
        return;
    int k;
    const char *sep = *off ? "\n" : "";
    if (g->set)
        k = snprintf(buf + *off, size - *off, "%s--set %s: %s", sep, g->set,
                     g->msg);
    else if (g->pos.line)
        k = snprintf(buf + *off, size - *off, "%s%s:%d:%d: %s", sep, file,
                     g->pos.line, g->pos.col, g->msg);
    else
        k = snprintf(buf + *off, size - *off, "%s%s: %s", sep, file, g->msg);
    *off += k > 0 ? (size_t)k : 0;
}

void rn_diags_format(rn_diags *d, const char *file, char *buf, size_t size)
{
    size_t off = 0;
    int shown = 0, uniq = 0;
    if (!buf || !size)
        return;
    buf[0] = '\0';
    if (d->n)
        qsort(d->v, (size_t)d->n, sizeof *d->v, cmp_diag);
    for (int i = 0; i < d->n; i++) {
        if (i && same_diag(&d->v[i], &d->v[i - 1]))
            continue;
        uniq++;
        if (shown < RN_MAX_ERRORS) {
            put_line(buf, size, &off, file, &d->v[i]);
            shown++;
        }
    }
    if (d->lost) {
        rn_diag g = {{0, 0}, NULL, 0, 0, "out of memory"};
        put_line(buf, size, &off, file, &g);
    }
    if (uniq > shown && off < size)
        snprintf(buf + off, size - off, "\n... and %d more error%s",
                 uniq - shown, uniq - shown == 1 ? "" : "s");
}

void rn_diags_free(rn_diags *d)
{
    for (int i = 0; i < d->n; i++)
        free(d->v[i].msg);
    free(d->v);
    *d = (rn_diags){0};
}
