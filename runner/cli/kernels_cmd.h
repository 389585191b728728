/*
 * kernels_cmd.h - `ptrun kernels [NAME|LIB.so]...` (SPEC §5).
 *
 * Bare, it lists the shipped kernels (the .so files of the kernel folder
 * that specs fall back to: name, ABI, doc). Given names or paths, it finds
 * each .so as a spec's `kernels:` does (a bare name in $PTRUN_KERNEL_PATH,
 * then the shipped folder) and prints each kernel it holds with its params
 * table. Every library is loaded in a child (probe.h), never in ptrun.
 */
#ifndef RN_KERNELS_CMD_H
#define RN_KERNELS_CMD_H

#include <stdio.h>

#include "spec/spec.h"

/* Print to out (problems to err): exit status 0, 2 (a name not found)
 * or 3 (a library that cannot be loaded or is refused). */
int rn_kernels_cmd(const char *const *args, int n, const rn_search *s,
                   FILE *out, FILE *err);

#endif
