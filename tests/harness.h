/*
 * harness.h - the unit tests' shared runner around CUnit.
 *
 * A test file lists its cases and calls pt_test_main(). Each case runs in a
 * forked child with a timeout (libuv's way): a case that crashes, hangs or
 * leaks a child fails alone, and the others still run. The child's CUnit
 * failures are printed with file and line, then reported to the parent's
 * registry as one failure of that case.
 */
#ifndef PT_TEST_HARNESS_H
#define PT_TEST_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <CUnit/CUnit.h>
#include <ptools/dispatch.h>
#include <ptools/kernel.h>

typedef struct pt_test_case {
    const char *name;
    void (*fn)(void);
    int timeout_s; /* 0: the default, 60 s */
} pt_test_case;

/* Run `cases` (ended by a {NULL} entry) as CUnit suite `suite`. */
int pt_test_main(const char *suite, const pt_test_case *cases, int argc,
                 char **argv);

/* A fresh prefix for shm names, unique per process: "t<pid>_<n>". */
const char *pt_test_prefix(void);

/*
 * This case's scratch directory under $TMPDIR: created empty on first use,
 * the same for later calls, removed with its contents when the case ends.
 */
const char *pt_test_tmpdir(void);

/*
 * A task function for tests of dispatch order: it sleeps arg `ms`, and with
 * arg `mark: 1` first counts its start in memory shared with the workers.
 * pt_test_starts_reset() maps that counter (call it before forking the
 * set) and zeroes it; pt_test_wait_starts() polls `ws` until n marked
 * tasks have started.
 */
int pt_test_nap(pt_ctx *c);
void pt_test_starts_reset(void);
int pt_test_starts(void);
void pt_test_wait_starts(pt_workerset *ws, int n);

/* Compare strings, printing both when they differ. */
#define ASSERT_STR(got, want)                                                  \
    do {                                                                       \
        const char *g_ = (got), *w_ = (want);                                  \
        bool eq_ = g_ && w_ && strcmp(g_, w_) == 0;                            \
        if (!eq_)                                                              \
            fprintf(stderr, "  %s:%d:\n    got  \"%s\"\n    want \"%s\"\n",    \
                    __FILE__, __LINE__, g_ ? g_ : "(null)",                    \
                    w_ ? w_ : "(null)");                                       \
        CU_ASSERT(eq_);                                                        \
    } while (0)

/* Assert that `s` starts with `prefix`, printing both if not. */
#define ASSERT_PREFIX(s, prefix)                                               \
    do {                                                                       \
        const char *s_ = (s), *p_ = (prefix);                                  \
        bool ok_ = strncmp(s_, p_, strlen(p_)) == 0;                           \
        if (!ok_)                                                              \
            fprintf(stderr, "  %s:%d:\n    got  \"%s\"\n    want \"%s...\"\n", \
                    __FILE__, __LINE__, s_, p_);                               \
        CU_ASSERT(ok_);                                                        \
    } while (0)

/* A fast reproducible generator (xorshift64*), the same sequence in every
 * run of a test. */
static inline uint64_t pt_test_rng(void)
{
    static uint64_t state = 0x2545F4914F6CDD1Dull;
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1Dull;
}

#endif
