/*
 * exec - runs a program: the GNU Parallel of ptools.
 *
 *   args:    cmd      list of strings: the argv, run with execvp (no shell,
 *                     never re-split); `{key}` in an element is replaced by
 *                     the task's arg `key` as text, `{{` `}}` are braces
 *            shell    or one string, run as /bin/sh -c (with `{key}` too)
 *            env      map of strings added to the environment ({key} too)
 *            cwd      directory to run in ({key} too)
 *            stdin    string written to its stdin (else /dev/null)
 *            capture  text (default) | json | none
 *   results: exit_code (int); text: stdout (string, the trailing newline
 *            cut); json: each member of the one JSON object it printed;
 *            none: stdout goes to output.log like a kernel's prints
 *
 * Exit code != 0 fails the task ("exit code 3", and the runner adds the
 * last lines of its stderr, which goes to output.log); a program killed by a
 * signal takes its worker down with the same signal, so the task ends `crashed`
 * with it. The program runs in its own process group and dies with its worker
 * (a timeout kills both).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec.h"

extern char **environ;

/* Strings this call allocated, freed together at its end. */
typedef struct owned {
    char **v;
    size_t n, cap;
} owned;

static char *keep(owned *o, char *s)
{
    if (s && o->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 16;
        char **v = realloc(o->v, cap * sizeof *v);
        if (!v) {
            free(s);
            return NULL;
        }
        o->v = v;
        o->cap = cap;
    }
    if (s)
        o->v[o->n++] = s;
    return s;
}

static void owned_free(owned *o)
{
    for (size_t i = 0; i < o->n; i++)
        free(o->v[i]);
    free(o->v);
}

/* `{key}` at *pp (just after the brace) as the arg's text, appended. */
static int placeholder(pt_ctx *ctx, const char **pp, exec_buf *b,
                       const char *where)
{
    const char *p = *pp, *end = strchr(p, '}');
    if (!end)
        return pt_fail(ctx, "%s: `{` without its `}` (write `{{` for a brace)",
                       where);
    char key[256];
    size_t n = (size_t)(end - p);
    if (n == 0 || n >= sizeof key)
        return pt_fail(ctx, "%s: `{%.*s}` is not an arg name", where,
                       (int)(n > 40 ? 40 : n), p);
    memcpy(key, p, n);
    key[n] = '\0';
    if (pt_arg_type(ctx, key) == PT_ARG_NONE)
        return pt_fail(ctx, "%s: `{%s}` names no arg of this task", where, key);
    const char *text = pt_arg_text(ctx, key);
    if (!text)
        return pt_fail(ctx, "%s: arg `%s` is null", where, key);
    *pp = end + 1;
    return exec_buf_add(b, text, strlen(text)) < 0 ? -1 : 0;
}

/* `tmpl` with every `{key}` replaced: a new string, or NULL (failed). */
static char *subst(pt_ctx *ctx, owned *o, const char *tmpl, const char *where)
{
    exec_buf b = {0};
    const char *p = tmpl;
    int rc = exec_buf_add(&b, "", 0);
    while (rc == 0 && *p) {
        size_t run = strcspn(p, "{}");
        rc = exec_buf_add(&b, p, run);
        p += run;
        if (rc < 0 || !*p)
            break;
        if (p[0] == p[1]) { /* {{ or }} */
            rc = exec_buf_add(&b, p, 1);
            p += 2;
        } else if (*p == '}') {
            rc = pt_fail(ctx, "%s: a lone `}` (write `}}` for a brace)", where);
        } else {
            p++;
            rc = placeholder(ctx, &p, &b, where);
        }
    }
    if (rc < 0) {
        exec_buf_free(&b);
        return NULL;
    }
    return keep(o, b.p);
}

/* The argv: `cmd` substituted, or /bin/sh -c `shell`. */
static char **make_argv(pt_ctx *ctx, owned *o)
{
    size_t n = 0;
    const char *shell = pt_arg_str(ctx, "shell", NULL);
    const char *const *cmd = pt_arg_strs(ctx, "cmd", &n);
    if (!cmd == !shell) {
        pt_fail(ctx, cmd ? "give `cmd` or `shell`, not both"
                         : "no program: give `cmd` (a list) or `shell`");
        return NULL;
    }
    if (cmd && n == 0) {
        pt_fail(ctx, "`cmd` is empty");
        return NULL;
    }
    char **argv = (char **)keep(o, calloc(shell ? 4 : n + 1, sizeof *argv));
    if (!argv)
        return pt_fail(ctx, "exec: out of memory"), NULL;
    if (shell) {
        argv[0] = "/bin/sh";
        argv[1] = "-c";
        argv[2] = subst(ctx, o, shell, "shell");
        return argv[2] ? argv : NULL;
    }
    for (size_t i = 0; i < n; i++) {
        char where[32];
        snprintf(where, sizeof where, "cmd[%zu]", i);
        if (!(argv[i] = subst(ctx, o, cmd[i], where)))
            return NULL;
    }
    return argv;
}

/* Is `entry` (KEY=VALUE) one of the n keys set by `env`? */
static bool overridden(const char *entry, const char *const *env, size_t n)
{
    size_t klen = strcspn(entry, "=");
    for (size_t i = 0; i < n; i++)
        if (strlen(env[2 * i]) == klen && !memcmp(entry, env[2 * i], klen))
            return true;
    return false;
}

/* The child's environment: ours, with `env` added (or replacing). */
static char **make_envp(pt_ctx *ctx, owned *o)
{
    size_t n = 0, have = 0, k = 0;
    pt_arg_kind kind = pt_arg_type(ctx, "env");
    if (kind == PT_ARG_NONE || kind == PT_ARG_NULL)
        return environ;
    const char *const *env = pt_arg_strmap(ctx, "env", &n);
    if (!env)
        return NULL; /* not a map of strings: the task failed */
    while (environ[have])
        have++;
    char **envp = (char **)keep(o, calloc(have + n + 1, sizeof *envp));
    if (!envp)
        return pt_fail(ctx, "exec: out of memory"), NULL;
    for (size_t i = 0; i < have; i++)
        if (!overridden(environ[i], env, n))
            envp[k++] = environ[i];
    for (size_t i = 0; i < n; i++) {
        char where[300], *v, *kv;
        snprintf(where, sizeof where, "env.%.256s", env[2 * i]);
        if (!(v = subst(ctx, o, env[2 * i + 1], where)))
            return NULL;
        if (asprintf(&kv, "%s=%s", env[2 * i], v) < 0 || !keep(o, kv))
            return pt_fail(ctx, "exec: out of memory"), NULL;
        envp[k++] = kv;
    }
    return envp;
}

/*
 * Die of the program's signal, so the runner records the task `crashed`
 * with it. No core file of the worker: the program's own (if any) is the
 * one that tells something.
 */
static void die_like(pt_ctx *ctx, int sig, const char *prog)
{
    char msg[256];
    int n = snprintf(msg, sizeof msg,
                     "exec: `%.160s` was killed by signal %d (%s)\n", prog, sig,
                     strsignal(sig));
    struct rlimit none = {0, 0};
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigset_t set;
    if (n > 0 && write(2, msg, (size_t)n) < 0) {
        /* output.log only: nothing to do */
    }
    setrlimit(RLIMIT_CORE, &none);
    sigaction(sig, &dfl, NULL);
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
    /* A signal whose default is to be ignored cannot end a program. */
    pt_fail(ctx, "the program was killed by signal %d", sig);
}

/* What the captured stdout becomes. */
static int set_output(pt_ctx *ctx, const char *capture, exec_buf *out)
{
    const char *text = out->p ? out->p : "";
    if (strcmp(capture, "json") == 0)
        return exec_json_results(ctx, text, out->len);
    if (memchr(text, '\0', out->len))
        return pt_fail(ctx, "stdout holds a NUL byte: not text (use "
                            "`capture: none`, or print JSON)");
    if (out->len && text[out->len - 1] == '\n')
        out->p[--out->len] = '\0';
    return pt_result_str(ctx, "stdout", text) < 0 ? -1 : 0;
}

/* The outcome of a program that ran: results, or why the task fails. */
static int report(pt_ctx *ctx, const char *capture, exec_outcome *o,
                  const char *prog)
{
    if (o->too_much)
        return pt_fail(ctx,
                       "stdout passed %u MB: the program was killed "
                       "(use `capture: none` for large output)",
                       EXEC_STDOUT_MAX >> 20);
    if (WIFSIGNALED(o->status)) {
        die_like(ctx, WTERMSIG(o->status), prog);
        return -1;
    }
    int code = WEXITSTATUS(o->status);
    pt_result_int(ctx, "exit_code", code);
    if (code != 0) /* the runner adds the last lines of its stderr */
        return pt_fail(ctx, "exit code %d", code);
    return strcmp(capture, "none") == 0 ? 0 : set_output(ctx, capture, &o->out);
}

static int exec_call(pt_ctx *ctx)
{
    owned o = {0};
    exec_outcome out = {0};
    int rc = -1;
    const char *capture = pt_arg_str(ctx, "capture", "text");
    if (strcmp(capture, "text") && strcmp(capture, "json") &&
        strcmp(capture, "none")) {
        return pt_fail(ctx,
                       "arg `capture` must be text, json or none, not "
                       "\"%.40s\"",
                       capture);
    }
    const char *cwd = pt_arg_str(ctx, "cwd", NULL);
    exec_job job = {.argv = make_argv(ctx, &o),
                    .envp = make_envp(ctx, &o),
                    .cwd = cwd ? subst(ctx, &o, cwd, "cwd") : NULL,
                    .stdin_ = pt_arg_str(ctx, "stdin", NULL),
                    .capture = strcmp(capture, "none") != 0};
    if (job.argv && job.envp && (job.cwd || !cwd) &&
        exec_run(ctx, &job, &out) == 0)
        rc = report(ctx, capture, &out, job.argv[0]);
    exec_buf_free(&out.out);
    owned_free(&o);
    return rc;
}

static const pt_param exec_params[] = {
    {"cmd", PT_PARAM_ANY, "~", "the program and its args (a list of strings)"},
    {"shell", PT_PARAM_STR, "~", "or one string for /bin/sh -c"},
    {"env", PT_PARAM_ANY, "~", "variables added (a map of strings)"},
    {"cwd", PT_PARAM_STR, "~", "directory to run in"},
    {"stdin", PT_PARAM_STR, "~", "text for its stdin (default: /dev/null)"},
    {"capture", PT_PARAM_STR, "text", "stdout as: text, json or none"},
    {PT_PARAM_REST, PT_PARAM_ANY, "~", "any arg, for `{key}` placeholders"},
    {NULL, PT_PARAM_ANY, NULL, NULL},
};

static const pt_kernel exec_kernel = {
    .abi = PT_KERNEL_ABI,
    .name = "exec",
    .doc = "runs a program (`cmd` list or `shell`), `{key}` from the args",
    .call = exec_call,
    .params = exec_params,
};

PT_KERNELS(&exec_kernel);
