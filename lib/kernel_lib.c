/* kernel_lib.c - dlopen a kernel .so and check its descriptors. */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ptools/kernel_lib.h>
#include <ptools/sys.h>

#include "internal.h"

struct pt_kernel_lib {
    void *handle;
    const pt_kernel *const *kernels;
    int count;
    char *path;
};

/* Check descriptor i; only `abi` is read before it is known to match. */
static int check_kernel(const pt_kernel_lib *lib, int i)
{
    const pt_kernel *k = lib->kernels[i];
    if (k->abi < 1 || k->abi > PT_KERNEL_ABI)
        return pt__err(-EINVAL,
                       "%s: kernel #%d has ABI %u, this ptools "
                       "speaks ABI 1 to %d (rebuild it against this "
                       "<ptools/kernel.h>)",
                       lib->path, i, (unsigned)k->abi, PT_KERNEL_ABI);
    if (!k->name || !k->name[0])
        return pt__err(-EINVAL, "%s: kernel #%d has no name", lib->path, i);
    if (!k->call)
        return pt__err(-EINVAL, "%s: kernel '%s' has no call function",
                       lib->path, k->name);
    for (int j = 0; j < i; j++)
        if (strcmp(lib->kernels[j]->name, k->name) == 0)
            return pt__err(-EINVAL, "%s: two kernels are named '%s'", lib->path,
                           k->name);
    return 0;
}

/* Find and check the pt_kernels array of an open library. */
static int check_lib(pt_kernel_lib *lib)
{
    dlerror();
    lib->kernels = dlsym(lib->handle, "pt_kernels");
    if (!lib->kernels)
        return pt__err(-EINVAL,
                       "%s: exports no pt_kernels array (use "
                       "PT_KERNELS(&k, ...) from <ptools/kernel.h>)",
                       lib->path);
    while (lib->count < PT_KERNEL_LIB_MAX && lib->kernels[lib->count])
        lib->count++;
    if (lib->count == PT_KERNEL_LIB_MAX)
        return pt__err(-EINVAL,
                       "%s: pt_kernels has no NULL end within %d "
                       "entries",
                       lib->path, PT_KERNEL_LIB_MAX);
    if (lib->count == 0)
        return pt__err(-EINVAL, "%s: pt_kernels is empty", lib->path);
    for (int i = 0; i < lib->count; i++) {
        int rc = check_kernel(lib, i);
        if (rc < 0)
            return rc;
    }
    return 0;
}

pt_kernel_lib *pt_kernel_lib_open(const char *path)
{
    int rc = -ENOMEM;
    pt_kernel_lib *lib = calloc(1, sizeof *lib);
    if (!lib || !(lib->path = strdup(path))) {
        pt__err(rc, "%s: out of memory", path);
        goto fail;
    }
    lib->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib->handle) {
        const char *why = dlerror();
        rc = pt__err(-ENOENT, "%s: cannot load: %s", path,
                     pt_sys_dl_reason(path, why));
        goto fail;
    }
    rc = check_lib(lib);
    if (rc < 0)
        goto fail;
    return lib;
fail:
    pt_kernel_lib_close(lib);
    errno = -rc;
    return NULL;
}

void pt_kernel_lib_close(pt_kernel_lib *lib)
{
    if (!lib)
        return;
    if (lib->handle)
        dlclose(lib->handle);
    free(lib->path);
    free(lib);
}

const char *pt_kernel_lib_path(const pt_kernel_lib *lib)
{
    return lib->path;
}

int pt_kernel_lib_count(const pt_kernel_lib *lib)
{
    return lib->count;
}

const pt_kernel *pt_kernel_lib_at(const pt_kernel_lib *lib, int i)
{
    return i >= 0 && i < lib->count ? lib->kernels[i] : NULL;
}

const pt_kernel *pt_kernel_lib_find(const pt_kernel_lib *lib, const char *name)
{
    for (int i = 0; i < lib->count; i++)
        if (strcmp(lib->kernels[i]->name, name) == 0)
            return lib->kernels[i];
    char have[256] = "";
    size_t off = 0;
    for (int i = 0; i < lib->count && off < sizeof have; i++)
        off += (size_t)snprintf(have + off, sizeof have - off, "%s%s",
                                i ? ", " : "", lib->kernels[i]->name);
    pt__err(-ENOENT, "%s: no kernel named '%s' (it has: %s)", lib->path, name,
            have);
    return NULL;
}

const pt_param *pt_kernel_params(const pt_kernel *k)
{
    return k && k->abi >= 2 ? k->params : NULL;
}

pt_kernel_save_fn pt_kernel_save(const pt_kernel *k)
{
    return k && k->abi >= 2 ? k->save : NULL;
}

pt_kernel_restore_fn pt_kernel_restore(const pt_kernel *k)
{
    return k && k->abi >= 2 ? k->restore : NULL;
}

static const char *const param_type_names[PT_PARAM_NTYPES] = {
    [PT_PARAM_ANY] = "any",     [PT_PARAM_INT] = "int",
    [PT_PARAM_REAL] = "real",   [PT_PARAM_BOOL] = "bool",
    [PT_PARAM_STR] = "str",     [PT_PARAM_INTS] = "ints",
    [PT_PARAM_REALS] = "reals",
};

const char *pt_param_type_name(pt_param_type t)
{
    return (unsigned)t < PT_PARAM_NTYPES ? param_type_names[t] : NULL;
}
