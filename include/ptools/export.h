/*
 * ptools/export.h - the one export macro, printf checking, and the two
 * inlining hints the library, ptrun and its plugins use.
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
/* Kept out of its caller: a rare path split off a hot function, so that
 * the common one saves no registers for it. PT_COLD: and laid out apart. */
#define PT_NOINLINE __attribute__((noinline))
#define PT_COLD __attribute__((noinline, cold))
#else
#define PT_EXTERN
#define PT_PRINTF(f, a)
#define PT_NOINLINE
#define PT_COLD
#endif

#endif
