/*
 * ptools/export.h - the one export macro, and printf checking.
 *
 * libptools is built with hidden visibility: PT_EXTERN marks what it
 * exports. Kernels and plugins mark their descriptor with it too (through
 * PT_KERNELS and PT_PLUGIN). Apart from that this header declares nothing,
 * so that kernel.h can include it and still show a kernel no function of
 * the library.
 */
#ifndef PTOOLS_EXPORT_H
#define PTOOLS_EXPORT_H

#if defined(__GNUC__)
#define PT_EXTERN __attribute__((visibility("default")))
#define PT_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define PT_EXTERN
#define PT_PRINTF(f, a)
#endif

#endif
