/* resume.c - what an interrupted run already did (`ptrun run --resume`). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine_internal.h"
#include "json_mini.h"
#include "events/results.h"
#include "events/rundir.h"

/*
 * Mark the tasks whose latest line in DIR/results.jsonl is ok: they are not
 * run again. Lines that are no result of this plan are ignored, and said
 * so; a last line without its newline was torn by a kill: it does not
 * count, silently.
 */
int rn_eng_load_done(engine *e, char *err, size_t errlen)
{
    char path[4200];
    rn_results r;
    snprintf(path, sizeof path, "%s/results.jsonl", e->dir);
    int rc = rn_results_read(&r, path, e->plan.ntasks, 0);
    if (rc == 0 && !(e->skip = calloc((size_t)e->plan.ntasks + 1,
                                      sizeof *e->skip)))
        rc = -ENOMEM;
    for (int64_t t = 0; rc == 0 && t < e->plan.ntasks; t++)
        if (r.latest[t] >= 0 && r.status[t] == PT_TASK_OK) {
            e->skip[t] = true;
            e->skipped++;
        }
    if (rc == 0 && r.ignored)
        fprintf(stderr, "ptrun: --resume %s: %lld line%s of results.jsonl "
                "ignored (first: line %lld: %s)\n", e->dir,
                (long long)r.ignored, r.ignored == 1 ? "" : "s",
                (long long)r.first_ignored, r.why);
    memcpy(e->on_disk, r.counts, sizeof e->on_disk);
    e->results_base = r.end;
    rn_results_free(&r);
    if (rc < 0)
        snprintf(err, errlen, "--resume %s: %s", path, strerror(-rc));
    return rc;
}

/* What a resumed run's manifest says the earlier sessions used and did. */
typedef struct earlier {
    char resolved[65];
    char *kernels;    /* "name=sha256\n" lines */
    size_t klen;
    char *sessions;   /* the items of its "sessions" array */
    pt_buf top;       /* an older manifest's session, from its top level */
    pt_buf counts;    /* ... and its counts */
} earlier;

/* Keep the items of the "sessions" array (its text less the brackets). */
static int take_sessions(earlier *m, const jm_leaf *v)
{
    const char *p = v->raw + 1, *end = v->raw + v->rawlen - 1;
    while (p < end && strchr(" \t\r\n", *p))
        p++;
    while (end > p && strchr(" \t\r\n", end[-1]))
        end--;
    free(m->sessions);
    m->sessions = strndup(p, (size_t)(end - p));
    return m->sessions ? 0 : -ENOMEM;
}

/*
 * A manifest written before "sessions" existed describes its one session
 * at the top level: keep those members, as JSON text.
 */
static int take_top(earlier *m, const char *key, const jm_leaf *v)
{
    static const char *const keys[] = {"command", "start", "end",
                                       "exit_status"};
    pt_buf *b = strncmp(key, "counts.", 7) == 0 ? &m->counts : &m->top;
    const char *name = b == &m->counts ? key + 7 : key;
    bool take = b == &m->counts;
    for (size_t i = 0; !take && i < sizeof keys / sizeof keys[0]; i++)
        take = strcmp(key, keys[i]) == 0;
    if (!take)
        return 0;
    if (b->len && pt_buf_printf(b, ", ") < 0)
        return -ENOMEM;
    rn_json_str(b, name);
    if (pt_buf_printf(b, ": ") < 0)
        return -ENOMEM;
    return pt_buf_append(b, v->raw, v->rawlen) < 0 ? -ENOMEM : 0;
}

/* Keep a kernel's sha256 from "kernels.NAME.sha256". */
static int take_kernel(earlier *m, const char *key, const char *hex)
{
    size_t n = strlen(key), add = n - 15 + strlen(hex) + 3;
    char *k = realloc(m->kernels, m->klen + add);
    if (!k)
        return -ENOMEM;
    m->kernels = k;
    m->klen += (size_t)snprintf(k + m->klen, add, "%.*s=%s\n",
                                (int)(n - 15), key + 8, hex);
    return 0;
}

/* jm_flatten() callback: take what the manifest says of earlier sessions. */
static int on_manifest_leaf(void *arg, const char *key, const jm_leaf *v)
{
    earlier *m = arg;
    size_t n = strlen(key);
    if (strcmp(key, "sessions") == 0)
        return v->type == JM_ARRAY ? take_sessions(m, v) : 0;
    if (v->type != JM_STRING)
        return take_top(m, key, v);
    if (strcmp(key, "resolved_sha256") == 0)
        snprintf(m->resolved, sizeof m->resolved, "%s", v->str);
    else if (n > 15 && strncmp(key, "kernels.", 8) == 0 &&
             strcmp(key + n - 7, ".sha256") == 0)
        return take_kernel(m, key, v->str);
    return take_top(m, key, v);
}

/*
 * The earlier sessions in m->sessions: its "sessions" items, or else the
 * one an older manifest describes at its top level. 0 or -ENOMEM.
 */
static int keep_sessions(earlier *m)
{
    pt_buf b = {0};
    if (m->sessions || !m->top.len)
        return 0;
    pt_buf_printf(&b, "{");
    pt_buf_append(&b, m->top.data, m->top.len);
    pt_buf_printf(&b, ", \"counts\": {");
    pt_buf_append(&b, m->counts.data, m->counts.len);
    if (pt_buf_printf(&b, "}}") < 0 || pt_buf_append(&b, "", 1) < 0) {
        pt_buf_free(&b);
        return -ENOMEM;
    }
    m->sessions = (char *)b.data;
    return 0;
}

static void free_earlier(earlier *m)
{
    free(m->kernels);
    free(m->sessions);
    pt_buf_free(&m->top);
    pt_buf_free(&m->counts);
}

/* Does the earlier run name kernel `name` with this sha256? */
static bool same_kernel(const earlier *m, const char *name, const char *hex)
{
    char want[400];
    snprintf(want, sizeof want, "%s=%s\n", name, hex);
    return m->kernels && strstr(m->kernels, want) != NULL;
}

/* Read DIR/manifest.json into m: 0, or non-zero with why in `why`. */
static int read_manifest(const engine *e, earlier *m, char *why,
                         size_t size)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/manifest.json", e->dir);
    FILE *f = fopen(path, "re");
    char *text = NULL;
    size_t cap = 0;
    ssize_t n = f ? getdelim(&text, &cap, '\0', f) : -1;
    int rc = n > 0 ? jm_flatten(text, on_manifest_leaf, m, why, size) : -1;
    if (n <= 0)
        snprintf(why, size, "%s", f ? "empty" : strerror(errno));
    else if (rc == -ENOMEM || (rc == 0 && (rc = keep_sessions(m)) < 0))
        snprintf(why, size, "out of memory");
    if (f)
        fclose(f);
    free(text);
    return rc;
}

/*
 * A resumed run must be the same experiment: the spec after overrides and
 * every kernel .so must hash as the manifest recorded.
 */
static int same_experiment(const engine *e, const earlier *m, char *err,
                           size_t errlen)
{
    char hex[65];
    rn_sha256_text(e->spec->resolved_yaml, hex);
    if (strcmp(hex, m->resolved) != 0)
        snprintf(err, errlen, "--resume %s: the spec (after overrides) "
                 "differs from the run's job.yaml; use --force to resume "
                 "anyway", e->dir);
    for (int i = 0; !err[0] && i < e->spec->nkernels; i++) {
        const rn_kernel *k = &e->spec->kernels[i];
        if (rn_sha256_file(k->path, hex) < 0 || !same_kernel(m, k->name,
                                                             hex))
            snprintf(err, errlen, "--resume %s: kernel '%s' (%s) is not "
                     "the one the run used (sha256 differs); use --force to "
                     "resume anyway", e->dir, k->name, k->path);
    }
    return err[0] ? -EINVAL : 0;
}

/*
 * Read the earlier sessions from DIR/manifest.json, and check the spec and
 * kernels against it unless --force. Under --force an unreadable manifest
 * only costs the earlier sessions (said on stderr).
 */
int rn_eng_check_resume(engine *e, char *err, size_t errlen)
{
    char why[160] = "", path[4200];
    earlier m = {.resolved = ""};
    int rc = read_manifest(e, &m, why, sizeof why);
    snprintf(path, sizeof path, "%s/manifest.json", e->dir);
    if (rc != 0 && access(path, F_OK) < 0 && errno == ENOENT) {
        snprintf(path, sizeof path, "%s/results.jsonl", e->dir);
        if (access(path, F_OK) < 0 && errno == ENOENT) {
            free_earlier(&m); /* killed before it began: nothing done */
            return 0;
        }
    }
    if (rc != 0 && e->opts->force) {
        fprintf(stderr, "ptrun: --resume %s: cannot read its manifest.json "
                "(%s): its earlier sessions are not kept\n", e->dir, why);
        rc = 0;
    } else if (rc != 0) {
        snprintf(err, errlen, "--resume %s: cannot read its manifest.json "
                 "(%s)", e->dir, why);
        rc = -EINVAL;
    } else {
        e->sessions = m.sessions;
        m.sessions = NULL;
        if (!e->opts->force)
            rc = same_experiment(e, &m, err, errlen);
    }
    free_earlier(&m);
    return rc;
}
