/* workerset.c - remotecalls on a worker set: a .so kernel and a function. */
#include <stdio.h>
#include <ptools/workerset.h>

/* Workers are forked from us, so a plain function can be the callee. */
static int square(pt_ctx *ctx)
{
    int64_t x = pt_arg_int(ctx, "x", 0);
    return pt_result_int(ctx, "y", x * x);
}

int main(int argc, char **argv)
{
    const char *pi_so = argc > 1 ? argv[1] : "build/kernels/pi.so";
    pt_kernel_ref pi = {.name = "pi", .path = pi_so};
    pt_workerset_opts o = {.kernels = &pi, .nkernels = 1, .seed = 42};
    pt_workerset *ws = pt_workerset_create(2, PT_WS_FF, &o);
    if (!ws) {
        fprintf(stderr, "workerset: %s\n", pt_errmsg());
        return 1;
    }
    pt_future *f[4];
    pt_args *a = pt_args_create();
    pt_args_int(a, "samples", 1000000);
    for (int i = 0; i < 4; i++) /* four pi tasks, first free worker */
        f[i] = pt_remotecall(ws, "pi", a);
    pt_args_destroy(a); /* the requests keep what they need */
    for (int i = 0; i < 4; i++) {
        pt_reply *r = pt_future_fetch(f[i]);
        printf("pi task %d on worker %d: %s, pi ~ %.4f\n", i,
               pt_reply_worker(r), pt_task_status_name(pt_reply_status(r)),
               pt_reply_real(r, "pi", 0));
        pt_reply_destroy(r);
    }
    pt_args *b = pt_args_create();
    pt_args_int(b, "x", 12);
    pt_reply *r = pt_future_fetch(pt_remotecall_fn(ws, square, b));
    printf("square(12) = %lld\n", (long long)pt_reply_int(r, "y", -1));
    pt_reply_destroy(r);
    pt_args_destroy(b);
    return pt_workerset_destroy(ws) == 0 ? 0 : 1;
}
