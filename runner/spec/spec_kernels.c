/*
 * spec_kernels.c - the spec's `kernels:`: each kernel's .so found by name
 * or path and loaded in a child (probe.h) to check it holds the kernel.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spec/probe.h"
#include "spec/spec_check.h"

/* The nodes a kernel's problems point at: its path, and its name if given. */
typedef struct kernel_at {
    const rn_ynode *path, *name;
} kernel_at;

/* The kernel's .so: found (its loading is checked by probe_kernels()). */
static void find_kernel_so(rn_build *b, rn_kernel *k, const rn_ynode *path)
{
    char *tried = NULL;
    k->path = rn_find_so(path->text, b->spec->dir, "PTRUN_KERNEL_PATH",
                         b->search ? b->search->kernel_dir : NULL, &tried);
    if (!k->path) {
        if (tried)
            rn_diag_at(b->d, path,
                       "kernel library '%s' not found: no "
                       "%s.so in %s",
                       path->text, path->text, tried);
        else
            rn_oom_at(b, path);
    }
    free(tried);
}

/* One `name: {path, name}` entry of `kernels:`. */
static void build_kernel(rn_build *b, const rn_yentry *e, rn_kernel *k,
                         kernel_at *at)
{
    const rn_ynode *path, *name;
    k->pos = e->kpos;
    if (!(k->name = strdup(e->key))) {
        rn_oom_at(b, e->val);
        return;
    }
    if (!rn_check_map(b, e->val, &rn_kernel_schema))
        return;
    name = rn_ymap_get(e->val, "name");
    if (name && !rn_get_str(b, name, &k->symbol))
        return;
    if (!name && !(k->symbol = strdup(e->key))) {
        rn_oom_at(b, e->val);
        return;
    }
    path = rn_ymap_get(e->val, "path");
    const char *t;
    if (path && rn_get_text(b, path, &t)) {
        *at = (kernel_at){.path = path, .name = name};
        find_kernel_so(b, k, path);
    }
}

/* Kernel k takes the params the probe found for it (moved out of p), or
 * is refused when they are unusable. */
static void take_params(rn_build *b, rn_probe *p, const kernel_at *at,
                        rn_kernel *k)
{
    for (int i = 0; i < p->nkernels; i++) {
        rn_probe_kernel *pk = &p->kernels[i];
        if (strcmp(pk->name, k->symbol) != 0)
            continue;
        if (pk->bad)
            rn_diag_at(b->d, at->name ? at->name : at->path,
                       "kernel library '%s': %s", at->path->text, pk->bad);
        else {
            k->params = pk->params;
            pk->params = (rn_kparams){0};
        }
        return;
    }
}

/* What the probe of a kernel's .so says about kernel k at `at`, whose
 * name was the probe's i_name-th. */
static void kernel_probed(rn_build *b, rn_probe *p, const kernel_at *at,
                          int i_name, rn_kernel *k)
{
    char why[512];
    b->d->runtime += p->how == RN_PROBE_FAILED; /* not the spec's fault */
    if (rn_probe_why(p, why, sizeof why))
        rn_diag_at(b->d, at->path, "kernel library '%s': %s", at->path->text,
                   why);
    else if (p->error)
        rn_diag_at(b->d, at->path, "%s", p->error);
    else if (i_name < p->nmissing && p->missing[i_name])
        rn_diag_at(b->d, at->name ? at->name : at->path, "%s",
                   p->missing[i_name]);
    else
        take_params(b, p, at, k);
}

/*
 * Probe kernels[first].path in a child (probe.h), once for every kernel
 * the spec takes from that .so, and report on each at its own nodes.
 */
static void probe_kernel_so(rn_build *b, const kernel_at *at, int first)
{
    rn_spec *s = b->spec;
    const char *path = s->kernels[first].path;
    const char **names = calloc((size_t)s->nkernels, sizeof *names);
    int *which = calloc((size_t)s->nkernels, sizeof *which), n = 0;
    if (!names || !which) {
        rn_oom_at(b, at[first].path);
        goto out;
    }
    for (int i = first; i < s->nkernels; i++)
        if (s->kernels[i].path && strcmp(s->kernels[i].path, path) == 0) {
            which[n] = i;
            names[n++] = s->kernels[i].symbol;
        }
    rn_probe p;
    rn_probe_kernels(path, names, n, &p);
    for (int j = 0; j < n; j++)
        kernel_probed(b, &p, &at[which[j]], j, &s->kernels[which[j]]);
    rn_probe_free(&p);
out:
    free(names);
    free(which);
}

/* Probe each distinct kernel .so of the spec once. */
static void probe_kernels(rn_build *b, const kernel_at *at)
{
    const rn_spec *s = b->spec;
    for (int i = 0; i < s->nkernels; i++) {
        bool seen = !s->kernels[i].path;
        for (int j = 0; j < i && !seen; j++)
            seen = s->kernels[j].path &&
                   strcmp(s->kernels[j].path, s->kernels[i].path) == 0;
        if (!seen)
            probe_kernel_so(b, at, i);
    }
}

void rn_build_kernels(rn_build *b, const rn_ynode *n)
{
    rn_spec *s = b->spec;
    if (!n)
        return;
    if (n->kind != RN_Y_MAP) {
        rn_wrong_type(b, n, "a mapping of kernel names to {path: ...}");
        b->kernels_bad = true;
        return;
    }
    if (n->n && !(s->kernels = calloc(n->n, sizeof *s->kernels))) {
        b->kernels_bad = !rn_oom_at(b, n);
        return;
    }
    kernel_at *at = n->n ? calloc(n->n, sizeof *at) : NULL;
    if (n->n && !at) {
        b->kernels_bad = !rn_oom_at(b, n);
        return;
    }
    s->nkernels = (int)n->n;
    for (size_t i = 0; i < n->n; i++)
        build_kernel(b, &n->e[i], &s->kernels[i], &at[i]);
    probe_kernels(b, at);
    free(at);
}
