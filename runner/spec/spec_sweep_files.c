/*
 * spec_sweep_files.c - the sweep generators that read the file system:
 * {glob: PATTERN} (glob(3), sorted byte-wise whatever the locale) and
 * {lines: FILE}, both relative to the spec's folder. Their values are
 * strings, read once when the spec is loaded; no match, an empty file or
 * one that cannot be read is an error at the generator's node.
 */
#include <errno.h>
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec/spec_sweep.h"

/* A growing RN_LIST of strings. */
static int push(rn_value *list, size_t *cap, const char *s, size_t len,
                rn_pos pos)
{
    if (list->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        rn_value *items = realloc(list->items, ncap * sizeof *items);
        if (!items)
            return -ENOMEM;
        list->items = items;
        *cap = ncap;
    }
    char *copy = strndup(s, len);
    if (!copy)
        return -ENOMEM;
    list->items[list->n++] = (rn_value){.type = RN_STR, .pos = pos, .s = copy};
    return 0;
}

/* dir with glob's metacharacters escaped, a '/', then pattern. */
static char *under_dir(const char *dir, const char *pattern)
{
    size_t len = strlen(dir), k = 0;
    char *p = malloc(2 * len + strlen(pattern) + 2);
    if (!p)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (strchr("*?[]\\", dir[i]))
            p[k++] = '\\';
        p[k++] = dir[i];
    }
    if (k && p[k - 1] != '/')
        p[k++] = '/';
    strcpy(p + k, pattern);
    return p;
}

static int by_bytes(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The matches of gl as ax's values, without the `skip` bytes of dir. */
static void take_matches(rn_build *b, const rn_ynode *n, rn_sweep_axis *ax,
                         glob_t *gl, size_t skip)
{
    size_t cap = 0;
    qsort(gl->gl_pathv, gl->gl_pathc, sizeof *gl->gl_pathv, by_bytes);
    ax->values = (rn_value){.type = RN_LIST, .pos = n->pos};
    for (size_t i = 0; i < gl->gl_pathc; i++) {
        const char *path = gl->gl_pathv[i];
        path += strlen(path) >= skip ? skip : 0;
        if (push(&ax->values, &cap, path, strlen(path), n->pos) < 0) {
            rn_oom_at(b, n);
            return;
        }
    }
    ax->n = ax->values.n;
}

/* The folder the path of node n is relative to (malloc'd), or NULL. */
static char *base_dir(rn_build *b, const rn_ynode *n, const rn_ynode *dir)
{
    const char *text;
    char *path;
    if (dir && !rn_get_text(b, dir, &text))
        return NULL;
    path = dir ? rn_resolve_path(text, b->spec->dir) : strdup(b->spec->dir);
    if (!path)
        rn_oom_at(b, n);
    return path;
}

void rn_axis_glob(rn_build *b, const rn_ynode *n, const rn_ynode *d,
                  rn_sweep_axis *ax)
{
    const char *pattern;
    glob_t gl = {0};
    if (!rn_get_text(b, n, &pattern))
        return;
    bool rel = pattern[0] != '/';
    char *dir = base_dir(b, n, d);
    char *full = !dir ? NULL : rel ? under_dir(dir, pattern) : strdup(pattern);
    if (!full) {
        if (dir)
            rn_oom_at(b, n);
        free(dir);
        return;
    }
    int rc = glob(full, GLOB_NOSORT, NULL, &gl);
    size_t skip = rel ? strlen(dir) + (dir[strlen(dir) - 1] != '/') : 0;
    if (rc == GLOB_NOMATCH)
        rn_diag_at(b->d, n, "glob '%s' matches no file (in %s)", pattern,
                   rel ? dir : "/");
    else if (rc == GLOB_NOSPACE)
        rn_oom_at(b, n);
    else if (rc != 0)
        rn_diag_at(b->d, n, "glob '%s': a folder could not be read", pattern);
    else if (gl.gl_pathc > (size_t)RN_MAX_TASKS)
        rn_diag_at(b->d, n,
                   "glob '%s' matches %zu files, more than %" PRId64
                   " (RN_MAX_TASKS)",
                   pattern, gl.gl_pathc, RN_MAX_TASKS);
    else
        take_matches(b, n, ax, &gl, skip);
    globfree(&gl);
    free(full);
    free(dir);
}

/* Each non-empty line of f (newline and a CR before it trimmed). */
static int read_lines(FILE *f, rn_value *list, rn_pos pos)
{
    char *line = NULL;
    size_t size = 0, cap = 0;
    ssize_t len;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &size, f)) >= 0) {
        if (len && line[len - 1] == '\n')
            len--;
        if (len && line[len - 1] == '\r')
            len--;
        if (len && list->n >= (size_t)RN_MAX_TASKS)
            rc = -E2BIG;
        else if (len)
            rc = push(list, &cap, line, (size_t)len, pos);
    }
    if (rc == 0 && ferror(f))
        rc = -EIO;
    free(line);
    return rc;
}

void rn_axis_lines(rn_build *b, const rn_ynode *n, const rn_ynode *d,
                   rn_sweep_axis *ax)
{
    const char *file;
    char *dir;
    if (!rn_get_text(b, n, &file) || !(dir = base_dir(b, n, d)))
        return;
    char *path = rn_resolve_path(file, dir);
    free(dir);
    FILE *f = path ? fopen(path, "rbe") : NULL;
    int rc = !path ? -ENOMEM : !f ? -errno : 0;
    ax->values = (rn_value){.type = RN_LIST, .pos = n->pos};
    if (f)
        rc = read_lines(f, &ax->values, n->pos);
    ax->n = rc == 0 ? ax->values.n : 0;
    if (rc == -ENOMEM)
        rn_oom_at(b, n);
    else if (rc == -E2BIG)
        rn_diag_at(b->d, n,
                   "lines: '%s' has more than %" PRId64
                   " non-empty lines (RN_MAX_TASKS)",
                   file, RN_MAX_TASKS);
    else if (rc < 0)
        rn_diag_at(b->d, n, "lines: cannot read '%s' (%s): %s", file, path,
                   strerror(-rc));
    else if (!ax->n)
        rn_diag_at(b->d, n, "lines: '%s' has no non-empty line", file);
    if (f)
        fclose(f);
    free(path);
}
