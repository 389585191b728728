/*
 * no_symbol.so - a shared object that exports no `pt_kernels` (only a
 * function): loading it as a kernel library must fail, naming the symbol.
 */
#include <ptools/kernel.h>

PT_EXTERN int not_a_kernel(int x);

PT_EXTERN int not_a_kernel(int x)
{
    return x + 1;
}
