/*
 * probe_child.c - the child's side of a probe (see probe.h): in the forked
 * child, dlopen the .so (its constructors run here, never in ptrun), check
 * it as a kernel library (each kernel with its declared params), or as a
 * plugin (no thread started, and open it with its options in a scratch
 * folder), and write the encoded report to ptrun over the pipe before
 * leaving with _exit().
 */
#include <dlfcn.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ptools/kernel_lib.h>
#include <ptools/plugin.h>
#include <ptools/sys.h>
#include <ptools/value.h>

#include "spec/kparams.h"
#include "spec/probe_impl.h"

/* Append {"error": msg} to b. */
static int report_error(pt_buf *b, const char *msg)
{
    pt_vmark m;
    int rc = pt_venc_map_begin(b, &m);
    if (rc == 0)
        rc = pt_venc_key(b, &m, "error");
    if (rc == 0)
        rc = pt_venc_str(b, msg);
    return rc == 0 ? pt_venc_map_end(b, &m) : rc;
}

/* One declared param: {name, type, def (null: required), doc}. */
static int report_param(pt_buf *b, const pt_param *p)
{
    pt_vmark m;
    int rc = pt_venc_map_begin(b, &m);
    if (rc == 0 && (rc = pt_venc_key(b, &m, "name")) == 0)
        rc = pt_venc_str(b, p->name);
    if (rc == 0 && (rc = pt_venc_key(b, &m, "type")) == 0)
        rc = pt_venc_int(b, (int64_t)p->type);
    if (rc == 0 && (rc = pt_venc_key(b, &m, "def")) == 0)
        rc = p->def ? pt_venc_str(b, p->def) : pt_venc_null(b);
    if (rc == 0 && (rc = pt_venc_key(b, &m, "doc")) == 0)
        rc = pt_venc_str(b, p->doc ? p->doc : "");
    return rc == 0 ? pt_venc_map_end(b, &m) : rc;
}

/* "params": the kernel's declared params, as they are (ptrun checks
 * them); at most one more than ptrun takes, so that it sees too many. */
static int report_params(pt_buf *b, const pt_vmark *m, const pt_param *p)
{
    pt_vmark l;
    int rc = pt_venc_key(b, m, "params");
    if (rc == 0)
        rc = pt_venc_list_begin(b, &l);
    for (int i = 0; rc == 0 && p[i].name && i <= RN_PARAMS_MAX; i++)
        rc = report_param(b, &p[i]);
    return rc == 0 ? pt_venc_list_end(b, &l) : rc;
}

/* One kernel's {name, abi, doc}, and its params when it declares them. */
static int report_kernel(pt_buf *b, const pt_kernel *k)
{
    pt_vmark m;
    const pt_param *params = pt_kernel_params(k);
    int rc = pt_venc_map_begin(b, &m);
    if (rc == 0 && (rc = pt_venc_key(b, &m, "name")) == 0)
        rc = pt_venc_str(b, k->name);
    if (rc == 0 && (rc = pt_venc_key(b, &m, "abi")) == 0)
        rc = pt_venc_int(b, k->abi);
    if (rc == 0 && (rc = pt_venc_key(b, &m, "doc")) == 0)
        rc = pt_venc_str(b, k->doc ? k->doc : "");
    if (rc == 0 && params)
        rc = report_params(b, &m, params);
    return rc == 0 ? pt_venc_map_end(b, &m) : rc;
}

/* "kernels": every kernel; "missing": per name asked, null or why. */
static int report_lib(pt_buf *b, const pt_kernel_lib *lib,
                      const rn_probe_req *r)
{
    pt_vmark m, l;
    int rc = pt_venc_map_begin(b, &m);
    if (rc == 0 && (rc = pt_venc_key(b, &m, "kernels")) == 0)
        rc = pt_venc_list_begin(b, &l);
    for (int i = 0; rc == 0 && i < pt_kernel_lib_count(lib); i++)
        rc = report_kernel(b, pt_kernel_lib_at(lib, i));
    if (rc == 0)
        rc = pt_venc_list_end(b, &l);
    if (rc == 0 && (rc = pt_venc_key(b, &m, "missing")) == 0)
        rc = pt_venc_list_begin(b, &l);
    for (int i = 0; rc == 0 && i < r->n; i++)
        rc = pt_kernel_lib_find(lib, r->names[i]) ? pt_venc_null(b)
                                                  : pt_venc_str(b, pt_errmsg());
    if (rc == 0)
        rc = pt_venc_list_end(b, &l);
    return rc == 0 ? pt_venc_map_end(b, &m) : rc;
}

/* The report on kernel library r->path, already dlopened once. */
static int report_kernels(pt_buf *b, const rn_probe_req *r)
{
    pt_kernel_lib *lib = pt_kernel_lib_open(r->path); /* the same handle */
    if (!lib)
        return report_error(b, pt_errmsg());
    int rc = report_lib(b, lib, r);
    pt_kernel_lib_close(lib);
    return rc;
}

static int remove_one(const char *path, const struct stat *st, int flag,
                      struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

/* What the plugin's own calls reach (plugin.h ctx->sys), as in host.c. */
static const pt_plugin_sys probe_sys = {.size = sizeof probe_sys,
                                        .open = pt_sys_open,
                                        .write = pt_sys_write_full,
                                        .fsync = pt_sys_fsync};

/*
 * Open plugin `d` with r's options in a scratch folder, and close it: its
 * refusal goes to `msg` (empty when it took them). 0 or -errno.
 */
static int try_open(const rn_probe_req *r, const pt_plugin *d, char *msg,
                    size_t size)
{
    pt_buf js = {0};
    const char *tmp = getenv("TMPDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/ptrun-probe-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    msg[0] = '\0';
    int rc = pt_value_to_json(r->options, r->options_len, &js);
    if (rc < 0 || !mkdtemp(dir)) {
        rc = rc < 0 ? rc : -errno;
        pt_buf_free(&js);
        return rc;
    }
    pt_plugin_ctx ctx = {.size = sizeof ctx,
                         .run_dir = dir,
                         .run_name = "probe",
                         .sys = &probe_sys,
                         .options = r->options,
                         .options_len = r->options_len,
                         .checking = 1};
    if (d->open(&ctx, (const char *)js.data) != 0)
        snprintf(msg, size, "plugin %s: %s", d->name ? d->name : "?",
                 ctx.error[0] ? ctx.error : "it refused its options");
    else if (d->close)
        d->close(&ctx);
    pt_buf_free(&js);
    nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* {"options": msg} when the plugin in h refuses r's options, else {}. */
static int report_open(pt_buf *b, const rn_probe_req *r, void *h)
{
    char msg[1024] = "";
    pt_vmark m;
    const pt_plugin *const *d = dlsym(h, "pt_plugin_desc");
    int rc = 0;
    if (r->options && d && *d && (*d)->abi >= 1 && (*d)->abi <= PT_PLUGIN_ABI &&
        ((*d)->on_event || ((*d)->abi >= 4 && (*d)->on_events)) && (*d)->open)
        rc = try_open(r, *d, msg, sizeof msg);
    if (rc < 0)
        snprintf(msg, sizeof msg, "%s: cannot try its options: %s", r->path,
                 pt_strerror(rc));
    if (msg[0] && rc < 0)
        return report_error(b, msg);
    rc = pt_venc_map_begin(b, &m);
    if (rc == 0 && msg[0] && (rc = pt_venc_key(b, &m, "options")) == 0)
        rc = pt_venc_str(b, msg);
    return rc == 0 ? pt_venc_map_end(b, &m) : rc;
}

/* The report on plugin r->path: it loaded (handle h), started no thread,
 * and takes its options (the descriptor is checked where it is used:
 * host.c; a bad one is not opened here). */
static int report_plugin(pt_buf *b, const rn_probe_req *r, void *h)
{
    char msg[1024];
    if (!h) {
        const char *why = dlerror();
        snprintf(msg, sizeof msg, "%s: cannot load plugin: %s", r->path,
                 pt_sys_dl_reason(r->path, why));
        return report_error(b, msg);
    }
    int threads = pt_sys_thread_count();
    if (threads > 1) {
        snprintf(msg, sizeof msg,
                 "%s: loading this plugin started %d "
                 "thread%s; ptrun runs plugins in its own process, which "
                 "must stay single-threaded to fork workers",
                 r->path, threads - 1, threads > 2 ? "s" : "");
        return report_error(b, msg);
    }
    return report_open(b, r, h);
}

/*
 * In the child: killed with ptrun, in a process group of its own, stdin
 * from /dev/null, stdout to stderr, no fd of ptrun's open but `wfd`.
 */
static int child_setup(int null_fd, int wfd, pid_t parent)
{
    pt_sys_parent_death_signal(SIGKILL);
    if (getppid() != parent) /* ptrun died before prctl took effect */
        pt_sys_exit(127);
    setpgid(0, 0); /* the parent does it too: whichever runs first */
    if (dup2(null_fd, STDIN_FILENO) < 0 ||
        dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
        return -errno;
    int keep[] = {wfd};
    return pt_sys_close_all_but(keep, 1);
}

/* The child cannot write to ptrun (`rc`): say so on stderr, and leave. */
static _Noreturn void child_unsent(const rn_probe_req *r, int rc)
{
    fprintf(stderr, "ptrun: probe of %s: cannot send its report: %s\n", r->path,
            pt_strerror(rc));
    fflush(NULL);
    pt_sys_exit(RN_PROBE_EXIT_UNSENT);
}

_Noreturn void rn_probe_child_main(const rn_probe_req *r, int null_fd, int wfd,
                                   pid_t parent, const sigset_t *old)
{
    pt_sys_child_reset_signals(old);
    int rc = child_setup(null_fd, wfd, parent);
    void *h = NULL;
    if (rc == 0) /* its constructors run here */
        h = dlopen(r->path, RTLD_NOW | RTLD_LOCAL);
    char mark = RN_PROBE_LOADED_MARK;
    int sent = pt_sys_write_full(wfd, &mark, 1);
    if (sent < 0)
        child_unsent(r, sent);
    pt_buf b = {0};
    char msg[1024];
    if (rc < 0) {
        snprintf(msg, sizeof msg,
                 "%s: cannot set up the process that "
                 "loads it: %s",
                 r->path, strerror(-rc));
        rc = report_error(&b, msg);
    } else
        rc = r->plugin ? report_plugin(&b, r, h) : report_kernels(&b, r);
    if (rc == 0 && (sent = pt_sys_write_full(wfd, b.data, b.len)) < 0)
        child_unsent(r, sent);
    fflush(NULL); /* what a constructor printed, to stderr */
    pt_sys_exit(rc == 0 ? 0 : 127);
}
