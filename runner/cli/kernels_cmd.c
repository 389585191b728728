/*
 * kernels_cmd.c - `ptrun kernels` (kernels_cmd.h): the shipped kernels, or
 * the kernels of the libraries named, each with its declared params.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ptools/kernel_lib.h>

#include "cli/kernels_cmd.h"
#include "spec/probe.h"
#include "spec/spec_internal.h"

#define EXIT_USAGE 2
#define EXIT_RUNTIME 3

/* How a param's default reads in the table. */
static const char *default_words(const rn_param *p)
{
    if (!p->def)
        return "required";
    return strcmp(p->def, "~") == 0 ? "optional" : p->def;
}

/* The params table of kernel k, indented under it. */
static void print_params(const rn_probe_kernel *k, FILE *out)
{
    const rn_kparams *kp = &k->params;
    int wname = 1, wdef = 1;
    if (!kp->declared) {
        fprintf(out, "    (declares no params: its args are not checked)\n");
        return;
    }
    for (int i = 0; i < kp->n; i++) {
        int a = (int)strlen(kp->v[i].name),
            d = (int)strlen(default_words(&kp->v[i]));
        wname = a > wname ? a : wname;
        wdef = d > wdef ? d : wdef;
    }
    for (int i = 0; i < kp->n; i++) {
        const rn_param *p = &kp->v[i];
        fprintf(out, "    %-*s  %-5s  %-*s  %s\n", wname, p->name,
                pt_param_type_name((pt_param_type)p->type), wdef,
                default_words(p), p->doc);
    }
    if (kp->rest)
        fprintf(out, "    %s\n",
                kp->n ? "(takes other args too)" : "(takes any args)");
    else if (!kp->n)
        fprintf(out, "    (takes no args)\n");
}

/*
 * Probe library `path` and print its kernels (with their params when
 * `params`): 0, or EXIT_RUNTIME when it cannot be loaded or is refused.
 */
static int show_library(const char *path, bool params, FILE *out, FILE *err)
{
    rn_probe p;
    char why[512];
    int status = 0;
    rn_probe_kernels(path, NULL, 0, &p);
    if (rn_probe_why(&p, why, sizeof why))
        fprintf(err, "ptrun: kernel library '%s': %s\n", path, why);
    else if (p.error)
        fprintf(err, "ptrun: %s\n", p.error);
    if (p.how != RN_PROBE_REPORTED || p.error) {
        rn_probe_free(&p);
        return EXIT_RUNTIME;
    }
    if (params)
        fprintf(out, "%s\n", path);
    for (int i = 0; i < p.nkernels; i++) {
        const rn_probe_kernel *k = &p.kernels[i];
        fprintf(out, "  %-16s abi %u  %s\n", k->name, k->abi, k->doc);
        if (k->bad) {
            fprintf(err, "ptrun: kernel library '%s': %s\n", path, k->bad);
            status = EXIT_RUNTIME;
        } else if (params)
            print_params(k, out);
    }
    rn_probe_free(&p);
    return status;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_so(const char *name)
{
    size_t len = strlen(name);
    return len > 3 && strcmp(name + len - 3, ".so") == 0;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* The .so files of `dir` as full paths, sorted: 0 or -errno. */
static int list_dir(const char *dir, char ***out, size_t *count)
{
    char **v = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    while (rc == 0 && (e = readdir(d))) {
        if (!is_so(e->d_name))
            continue;
        char **grown = n < cap ? v
                               : realloc(v, (cap = 2 * cap + 8) * sizeof *v);
        if (!grown)
            rc = -ENOMEM;
        else if (asprintf(&(v = grown)[n], "%s/%s", dir, e->d_name) < 0)
            rc = -ENOMEM;
        else
            n++;
    }
    closedir(d);
    if (rc < 0) {
        free_list(v, n);
        return rc;
    }
    if (n)
        qsort(v, n, sizeof *v, by_name);
    *out = v;
    *count = n;
    return 0;
}

/* Bare `ptrun kernels`: every .so of the shipped kernel folder. */
static int show_shipped(const rn_search *s, FILE *out, FILE *err)
{
    const char *dir = s->kernel_dir ? s->kernel_dir : ".";
    char **v = NULL;
    size_t n = 0;
    int status = 0, rc = list_dir(dir, &v, &n);
    if (rc < 0) {
        fprintf(err, "ptrun: kernels: %s: %s\n", dir, strerror(-rc));
        return EXIT_RUNTIME;
    }
    fprintf(out, "shipped kernels (%s):\n", dir);
    for (size_t i = 0; i < n; i++) {
        rc = show_library(v[i], false, out, err);
        status = rc > status ? rc : status;
    }
    free_list(v, n);
    fprintf(out, "ptrun kernels NAME shows a kernel's params.\n");
    return status;
}

/* `ptrun kernels NAME|LIB.so`: found as a spec finds it, then shown. */
static int show_named(const char *given, const rn_search *s, FILE *out,
                      FILE *err)
{
    char *tried = NULL;
    char *path = rn_find_so(given, ".", "PTRUN_KERNEL_PATH", s->kernel_dir,
                            &tried);
    if (!path) {
        int status = tried ? EXIT_USAGE : EXIT_RUNTIME;
        if (tried)
            fprintf(err,
                    "ptrun: kernel library '%s' not found: no %s.so in %s\n",
                    given, given, tried);
        else
            fprintf(err, "ptrun: %s: %s\n", given, strerror(errno));
        free(tried);
        return status;
    }
    int status = show_library(path, true, out, err);
    free(path);
    return status;
}

int rn_kernels_cmd(const char *const *args, int n, const rn_search *s,
                   FILE *out, FILE *err)
{
    int status = 0;
    if (n == 0)
        return show_shipped(s, out, err);
    for (int i = 0; i < n; i++) {
        int rc = show_named(args[i], s, out, err);
        status = rc > status ? rc : status;
    }
    return status;
}
