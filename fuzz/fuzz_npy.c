/*
 * fuzz_npy.c - libFuzzer target over the .npy reader (npy_parse.c). The
 * input is a whole .npy file.
 *
 *  1. pt__npy_parse() reads it from memory, the parser every reader uses.
 *     On success the info must describe the input: a known type, 0..8
 *     dims, nbytes = product(dims) * size, the data inside the input, and
 *     pt__npy_head_len() must say the header ends at the data. Parsing only
 *     the head (a buffer of exactly that many bytes) must give the same.
 *  2. The same bytes as a file (a memfd, opened by its /proc/self/fd path):
 *     pt_npy_info_read() must give the same result, info and message, and
 *     on success pt_npy_load() with the info's type and shape must read
 *     exactly the input's data bytes.
 *
 * A broken promise aborts, for the fuzzer. With $FUZZ_VERBOSE set, each
 * input's outcome is printed (the message, or the info).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <ptools/common.h>
#include <ptools/npy.h>
#include <ptools/sys.h>

#include "internal.h"
#include "npy_impl.h"

#define NAME "fuzz.npy"
#define MSG_MAX 1024

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int g_fd = -1;   /* the memfd the file reader opens */
static char g_path[64]; /* its /proc/self/fd path */
static bool g_verbose;

/* A broken promise: say which and abort, for the fuzzer. */
static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_npy: %s%s%s\n", what, detail ? ": " : "",
            detail ? detail : "");
    abort();
}

/* The memfd and its path, once. */
static void setup(void)
{
    g_fd = memfd_create("fuzz_npy", MFD_CLOEXEC);
    if (g_fd < 0)
        fail("memfd_create", strerror(errno));
    snprintf(g_path, sizeof g_path, "/proc/self/fd/%d", g_fd);
    g_verbose = getenv("FUZZ_VERBOSE") != NULL;
}

/* Make the memfd hold exactly the input. */
static void put_file(const uint8_t *data, size_t size)
{
    if (ftruncate(g_fd, 0) < 0)
        fail("ftruncate", strerror(errno));
    if (pt_sys_pwrite_full(g_fd, data, size, 0) < 0)
        fail("pwrite", strerror(errno));
}

/* Two infos say the same (every member). */
static bool same_info(const pt_npy_info *a, const pt_npy_info *b)
{
    return a->type == b->type && a->ndims == b->ndims &&
           memcmp(a->dims, b->dims, sizeof a->dims) == 0 &&
           a->nbytes == b->nbytes && a->data_offset == b->data_offset;
}

/* What a parsed info promises about an input of `size` bytes. */
static void check_info(const pt_npy_info *info, size_t size)
{
    uint64_t n = 0;
    if (!pt_dtype_name(info->type))
        fail("pt__npy_parse: a type that is not one", NULL);
    if (info->ndims < 0 || info->ndims > PT_NPY_MAXDIMS)
        fail("pt__npy_parse: ndims out of range", NULL);
    n = pt_dtype_size(info->type);
    for (int i = 0; i < info->ndims; i++)
        n = info->dims[i] == 0 ? 0 : n;
    for (int i = 0; i < info->ndims && n; i++) {
        if (n > UINT64_MAX / info->dims[i])
            fail("pt__npy_parse: accepted a size past 2^64", NULL);
        n *= info->dims[i];
    }
    if (n != info->nbytes)
        fail("pt__npy_parse: nbytes is not product(dims) * size", NULL);
    if (info->data_offset < 10 || info->data_offset > size ||
        info->nbytes > size - info->data_offset)
        fail("pt__npy_parse: the data is not inside the file", NULL);
    for (int i = info->ndims; i < PT_NPY_MAXDIMS; i++)
        if (info->dims[i])
            fail("pt__npy_parse: a dim set past ndims", NULL);
}

/* Parsing only the head, in a buffer of exactly its size, gives the same. */
static void check_head(const uint8_t *data, size_t size,
                       const pt_npy_info *info)
{
    size_t need = 0;
    pt_npy_info again;
    if (pt__npy_head_len(NAME, data, size < 12 ? size : 12, size, &need) < 0)
        fail("pt__npy_head_len refused what pt__npy_parse took", pt_errmsg());
    if (need != info->data_offset)
        fail("pt__npy_head_len: the head does not end at the data", NULL);
    uint8_t *head = malloc(need);
    if (!head)
        fail("malloc", NULL);
    memcpy(head, data, need);
    if (pt__npy_parse(NAME, head, need, size, &again) < 0)
        fail("pt__npy_parse refused the head alone", pt_errmsg());
    if (!same_info(info, &again))
        fail("pt__npy_parse: the head alone gives another info", NULL);
    free(head);
}

/* pt_npy_load() of the info's type and shape reads exactly the data. */
static void check_load(const uint8_t *data, const pt_npy_info *info)
{
    void *dst = malloc(info->nbytes ? info->nbytes : 1);
    if (!dst)
        fail("malloc", NULL);
    if (pt_npy_load(g_path, info->type, info->ndims, info->dims, dst,
                    info->nbytes) < 0)
        fail("pt_npy_load refused what pt__npy_parse took", pt_errmsg());
    if (memcmp(dst, data + info->data_offset, info->nbytes) != 0)
        fail("pt_npy_load: the data differs from the file's", NULL);
    free(dst);
}

/* The file reader must say what the memory parser said, to the letter. */
static void check_file(const uint8_t *data, size_t size, int rc,
                       const pt_npy_info *info, const char *msg)
{
    pt_npy_info finfo;
    char fmsg[MSG_MAX], want[MSG_MAX];
    put_file(data, size);
    int frc = pt_npy_info_read(g_path, &finfo);
    if (frc != rc)
        fail("pt_npy_info_read and pt__npy_parse disagree", pt_errmsg());
    if (rc < 0) {
        /* The messages name the file: NAME in one, g_path in the other. */
        snprintf(fmsg, sizeof fmsg, "%s", pt_errmsg());
        const char *at = strstr(msg, NAME);
        if (!at)
            fail("pt__npy_parse: the message does not name the file", msg);
        snprintf(want, sizeof want, "%.*s%s%s", (int)(at - msg), msg, g_path,
                 at + strlen(NAME));
        if (strcmp(fmsg, want) != 0)
            fail("pt_npy_info_read says another thing", fmsg);
        return;
    }
    if (!same_info(info, &finfo))
        fail("pt_npy_info_read gives another info", NULL);
    check_load(data, info);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pt_npy_info info;
    char msg[MSG_MAX] = "";
    if (g_fd < 0)
        setup();
    memset(&info, 0, sizeof info);
    int rc = pt__npy_parse(NAME, data, size, size, &info);
    if (rc < 0 && rc != -EINVAL)
        fail("pt__npy_parse: an error other than -EINVAL", pt_errmsg());
    if (rc < 0)
        snprintf(msg, sizeof msg, "%s", pt_errmsg());
    if (g_verbose)
        fprintf(stderr, "%s\n", rc < 0 ? msg : "ok");
    if (rc == 0) {
        check_info(&info, size);
        check_head(data, size, &info);
    }
    check_file(data, size, rc, &info, msg);
    return 0;
}
