/*
 * ptools/kernel_lib.h - load a kernel shared object and look inside.
 *
 * pt_kernel_lib_open() dlopens a .so (RTLD_NOW | RTLD_LOCAL) and checks its
 * `pt_kernels` array: every descriptor must speak PT_KERNEL_ABI, have a name
 * and a call, and names must be unique. Anything else is refused, with the
 * file and the problem in pt_errmsg(). Workers load kernels the same way.
 */
#ifndef PTOOLS_KERNEL_LIB_H
#define PTOOLS_KERNEL_LIB_H

#include <ptools/common.h>
#include <ptools/kernel.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The most kernels one .so may export. */
#define PT_KERNEL_LIB_MAX 1024

typedef struct pt_kernel_lib pt_kernel_lib;

/* NULL + errno (ENOENT: cannot load, EINVAL: not a valid kernel library). */
PT_EXTERN pt_kernel_lib *pt_kernel_lib_open(const char *path);
PT_EXTERN void pt_kernel_lib_close(pt_kernel_lib *lib);
PT_EXTERN const char *pt_kernel_lib_path(const pt_kernel_lib *lib);
PT_EXTERN int pt_kernel_lib_count(const pt_kernel_lib *lib);
PT_EXTERN const pt_kernel *pt_kernel_lib_at(const pt_kernel_lib *lib, int i);
/* The kernel called `name`, or NULL (with the kernels it has in pt_errmsg). */
PT_EXTERN const pt_kernel *pt_kernel_lib_find(const pt_kernel_lib *lib,
                                              const char *name);

/*
 * The members of ABI 2, read only from a descriptor that has them: NULL
 * for a kernel built for ABI 1 (whose descriptor ends before them).
 */
typedef int (*pt_kernel_save_fn)(pt_ctx *, pt_buf *);
typedef int (*pt_kernel_restore_fn)(pt_ctx *, const void *, size_t);
PT_EXTERN const pt_param *pt_kernel_params(const pt_kernel *k);
PT_EXTERN pt_kernel_save_fn pt_kernel_save(const pt_kernel *k);
PT_EXTERN pt_kernel_restore_fn pt_kernel_restore(const pt_kernel *k);
/* "int", "real", ... "any" (the YAML words), or NULL for no such type. */
PT_EXTERN const char *pt_param_type_name(pt_param_type t);

#ifdef __cplusplus
}
#endif
#endif
