/* resume.c - what an interrupted run already did (`ptrun run --resume`). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine_internal.h"
#include "internal.h"
#include "json_mini.h"
#include "rundir.h"

/* What one results.jsonl line says: its task id and whether it was ok. */
typedef struct recorded {
    long long task;
    bool ok;
} recorded;

static int on_leaf(void *arg, const char *key, const jm_leaf *v)
{
    recorded *r = arg;
    if (strcmp(key, "task") == 0 && v->type == JM_NUMBER)
        r->task = strtoll(v->raw, NULL, 10);
    else if (strcmp(key, "status") == 0 && v->type == JM_STRING)
        r->ok = strcmp(v->str, "ok") == 0;
    return 0;
}

/*
 * Mark the tasks DIR/results.jsonl records as ok: they are not run again.
 * A last line without its newline was torn by a kill: it does not count.
 */
int rn_eng_load_done(engine *e)
{
    char path[4200], why[128];
    snprintf(path, sizeof path, "%s/results.jsonl", e->dir);
    FILE *f = fopen(path, "re");
    if (!f)
        return errno == ENOENT ? 0 : -errno;
    e->skip = calloc((size_t)e->plan.ntasks + 1, sizeof *e->skip);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while (e->skip && (n = getline(&line, &cap, f)) > 0) {
        recorded r = {-1, false};
        if (line[n - 1] != '\n' ||
            jm_flatten(line, on_leaf, &r, why, sizeof why) != 0)
            continue;
        if (r.ok && r.task >= 0 && r.task < e->plan.ntasks &&
            !e->skip[r.task]) {
            e->skip[r.task] = true;
            e->skipped++;
        }
    }
    free(line);
    fclose(f);
    return e->skip ? 0 : -ENOMEM;
}

/* What a resumed run's manifest says the first run used. */
typedef struct earlier {
    const rn_spec *spec;
    char resolved[65];
    char *kernels;  /* "name=sha256\n" lines */
    size_t klen;
} earlier;

static int on_manifest_leaf(void *arg, const char *key, const jm_leaf *v)
{
    earlier *m = arg;
    size_t n = strlen(key);
    if (v->type != JM_STRING)
        return 0;
    if (strcmp(key, "resolved_sha256") == 0) {
        snprintf(m->resolved, sizeof m->resolved, "%s", v->str);
    } else if (n > 15 && strncmp(key, "kernels.", 8) == 0 &&
               strcmp(key + n - 7, ".sha256") == 0) {
        size_t add = n - 15 + strlen(v->str) + 3;
        char *k = realloc(m->kernels, m->klen + add);
        if (!k)
            return -1;
        m->kernels = k;
        m->klen += (size_t)snprintf(k + m->klen, add, "%.*s=%s\n",
                                    (int)(n - 15), key + 8, v->str);
    }
    return 0;
}

/* Does the earlier run name kernel `name` with this sha256? */
static bool same_kernel(const earlier *m, const char *name, const char *hex)
{
    char want[400];
    snprintf(want, sizeof want, "%s=%s\n", name, hex);
    return m->kernels && strstr(m->kernels, want) != NULL;
}

/*
 * A resumed run must be the same experiment: the spec after overrides and
 * every kernel .so must hash as the manifest recorded, unless --force.
 */
int rn_eng_check_resume(engine *e, char *err, size_t errlen)
{
    char path[4200], hex[65], why[160];
    snprintf(path, sizeof path, "%s/manifest.json", e->dir);
    FILE *f = fopen(path, "re");
    char *text = NULL;
    size_t cap = 0;
    ssize_t n = f ? getdelim(&text, &cap, '\0', f) : -1;
    if (f)
        fclose(f);
    earlier m = {.spec = e->spec};
    snprintf(path, sizeof path, "%s/results.jsonl", e->dir);
    if (n < 0 && access(path, F_OK) < 0 && errno == ENOENT)
        return 0; /* killed before it began: nothing done, nothing to keep */
    int rc = n > 0 ? jm_flatten(text, on_manifest_leaf, &m, why, sizeof why)
                   : -1;
    free(text);
    if (rc != 0) {
        snprintf(err, errlen, "--resume %s: cannot read its manifest.json "
                 "(%s)", e->dir, n > 0 ? why : "missing");
        free(m.kernels);
        return -EINVAL;
    }
    rn_sha256_text(e->spec->resolved_yaml, hex);
    if (strcmp(hex, m.resolved) != 0)
        snprintf(err, errlen, "--resume %s: the spec (after overrides) "
                 "differs from the run's job.yaml; use --force to resume "
                 "anyway", e->dir);
    for (int i = 0; !err[0] && i < e->spec->nkernels; i++) {
        const rn_kernel *k = &e->spec->kernels[i];
        if (rn_sha256_file(k->path, hex) < 0 || !same_kernel(&m, k->name,
                                                              hex))
            snprintf(err, errlen, "--resume %s: kernel '%s' (%s) is not "
                     "the one the run used (sha256 differs); use --force to "
                     "resume anyway", e->dir, k->name, k->path);
    }
    free(m.kernels);
    return err[0] ? -EINVAL : 0;
}
