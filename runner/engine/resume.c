/* resume.c - what an interrupted run already did (`ptrun run --resume`). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <ptools/json.h>

#include "engine/engine_internal.h"
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
    for (int64_t t = 0; rc == 0 && t < e->plan.ntasks; t++)
        if (r.latest[t] >= 0 && r.status[t] == PT_TASK_OK) {
            e->tflags[t] |= TF_SKIP;
            e->skipped++;
        }
    if (rc == 0 && r.ignored)
        fprintf(stderr,
                "ptrun: --resume %s: %lld line%s of results.jsonl "
                "ignored (first: line %lld: %s)\n",
                e->dir, (long long)r.ignored, r.ignored == 1 ? "" : "s",
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
    char *kernels; /* "name=sha256\n" lines */
    size_t klen;
    char *sessions; /* the items of its "sessions" array */
    pt_buf top;     /* an older manifest's session, from its top level */
    pt_buf counts;  /* ... and its counts */
} earlier;

/* Append `v` as JSON text (", " and ": " between members, in order). */
static int put_json(pt_buf *b, const json_t *v)
{
    char *text = json_dumps(v, JSON_ENCODE_ANY);
    int rc = text ? pt_buf_append(b, text, strlen(text)) : -ENOMEM;
    free(text);
    return rc;
}

/* Keep the items of the "sessions" array, as JSON text, one a line. */
static int take_sessions(earlier *m, const json_t *v)
{
    pt_buf b = {0};
    size_t i;
    json_t *item;
    int rc = 0;
    json_array_foreach(v, i, item)
    {
        if (rc == 0 && i)
            rc = pt_buf_append(&b, ",\n    ", 6);
        if (rc == 0)
            rc = put_json(&b, item);
    }
    if (rc == 0)
        rc = pt_buf_append(&b, "", 1);
    if (rc < 0) {
        pt_buf_free(&b);
        return -ENOMEM;
    }
    free(m->sessions);
    m->sessions = (char *)b.data;
    return 0;
}

/* Append `"name": value` to b, after ", " unless it is the first. */
static int take_member(pt_buf *b, const char *name, const json_t *v)
{
    int rc = b->len ? pt_buf_append(b, ", ", 2) : 0;
    if (rc == 0)
        rc = pt_json_cstr(b, name);
    if (rc == 0)
        rc = pt_buf_append(b, ": ", 2);
    return rc ? rc : put_json(b, v);
}

/*
 * A manifest written before "sessions" existed describes its one session
 * at the top level: keep those members, as JSON text.
 */
static int take_top(earlier *m, const char *key, const json_t *v)
{
    static const char *const keys[] = {"command", "start", "end",
                                       "exit_status"};
    const char *name;
    json_t *n;
    int rc = 0;
    if (strcmp(key, "counts") == 0 && json_is_object(v)) {
        json_object_foreach((json_t *)v, name, n)
        {
            if (rc == 0)
                rc = take_member(&m->counts, name, n);
        }
        return rc;
    }
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(key, keys[i]) == 0)
            return take_member(&m->top, key, v);
    return 0;
}

/* Keep the sha256 of each kernel of "kernels": {NAME: {"sha256": H}}. */
static int take_kernels(earlier *m, const json_t *kernels)
{
    const char *name;
    json_t *k;
    json_object_foreach((json_t *)kernels, name, k)
    {
        const char *hex = json_string_value(json_object_get(k, "sha256"));
        size_t add = strlen(name) + (hex ? strlen(hex) : 0) + 3;
        char *p = hex ? realloc(m->kernels, m->klen + add) : m->kernels;
        if (!p)
            return -ENOMEM;
        m->kernels = p;
        if (hex)
            m->klen += (size_t)snprintf(p + m->klen, add, "%s=%s\n", name, hex);
    }
    return 0;
}

/* Take what the manifest says of earlier sessions: 0 or -ENOMEM. */
static int take_manifest(earlier *m, const json_t *root)
{
    const char *key;
    json_t *v;
    int rc = 0;
    json_object_foreach((json_t *)root, key, v)
    {
        if (rc)
            break;
        if (strcmp(key, "sessions") == 0)
            rc = json_is_array(v) ? take_sessions(m, v) : 0;
        else if (strcmp(key, "resolved_sha256") == 0 && json_is_string(v))
            snprintf(m->resolved, sizeof m->resolved, "%s",
                     json_string_value(v));
        else if (strcmp(key, "kernels") == 0 && json_is_object(v))
            rc = take_kernels(m, v);
        else
            rc = take_top(m, key, v);
    }
    return rc < 0 ? -ENOMEM : 0;
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

/*
 * Read DIR/manifest.json into m: 0, or non-zero with why in `why`. It is
 * ours: strict JSON, and a key twice is damage.
 */
static int read_manifest(const engine *e, earlier *m, char *why, size_t size)
{
    char path[4200];
    json_error_t je;
    snprintf(path, sizeof path, "%s/manifest.json", e->dir);
    FILE *f = fopen(path, "re");
    char *text = NULL;
    size_t cap = 0;
    ssize_t n = f ? getdelim(&text, &cap, '\0', f) : -1;
    json_t *root = n > 0 ? json_loadb(text, (size_t)n, JSON_REJECT_DUPLICATES,
                                      &je)
                         : NULL;
    int rc = json_is_object(root) ? take_manifest(m, root) : -1;
    if (n <= 0)
        snprintf(why, size, "%s", f ? "empty" : strerror(errno));
    else if (!root)
        snprintf(why, size, "bad JSON at offset %d: %.100s", je.position,
                 je.text);
    else if (rc < 0 && !json_is_object(root))
        snprintf(why, size, "bad JSON at offset 0: expected an object");
    else if (rc == -ENOMEM || (rc == 0 && (rc = keep_sessions(m)) < 0))
        snprintf(why, size, "out of memory");
    json_decref(root);
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
        snprintf(err, errlen,
                 "--resume %s: the spec (after overrides) "
                 "differs from the run's job.yaml; use --force to resume "
                 "anyway",
                 e->dir);
    for (int i = 0; !err[0] && i < e->spec->nkernels; i++) {
        const rn_kernel *k = &e->spec->kernels[i];
        if (rn_sha256_file(k->path, hex) < 0 || !same_kernel(m, k->name, hex))
            snprintf(err, errlen,
                     "--resume %s: kernel '%s' (%s) is not "
                     "the one the run used (sha256 differs); use --force to "
                     "resume anyway",
                     e->dir, k->name, k->path);
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
        fprintf(stderr,
                "ptrun: --resume %s: cannot read its manifest.json "
                "(%s): its earlier sessions are not kept\n",
                e->dir, why);
        rc = 0;
    } else if (rc != 0) {
        snprintf(err, errlen,
                 "--resume %s: cannot read its manifest.json "
                 "(%s)",
                 e->dir, why);
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
