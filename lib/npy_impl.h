/*
 * npy_impl.h - the .npy reader's parser, from memory (private to libptools;
 * npy_parse.c, used by npy.c). pt_npy_info_read() and pt_npy_load() read a
 * file's first bytes and hand them to these two functions, which are the whole
 * check of a prefix and header; fuzz/fuzz_npy.c calls them on untrusted bytes.
 * `path` only names the file in messages (pt_errmsg()). Both return 0 or
 * -EINVAL.
 */
#ifndef PT_NPY_IMPL_H
#define PT_NPY_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include <ptools/npy.h>

/*
 * head[0..len) are the first bytes of a .npy file of fsize bytes; len covers
 * at least the prefix (min(fsize, 12) bytes always does). Set *need to the
 * length of the prefix and header together, what pt__npy_parse() wants.
 */
int pt__npy_head_len(const char *path, const void *head, size_t len,
                     uint64_t fsize, size_t *need);

/*
 * Check the prefix and header in head[0..len), the first len bytes of a
 * file of fsize bytes (len >= what pt__npy_head_len() said; the whole file
 * is fine), and that the data the header promises fits in the file. `info`
 * is filled only on success.
 */
int pt__npy_parse(const char *path, const void *head, size_t len,
                  uint64_t fsize, pt_npy_info *info);

/* The layout and helpers npy.c shares with the parser (npy_parse.c). */
#define MAGIC "\x93NUMPY"
#define MAGIC_LEN 6
#define SHAPE_STR_MAX                                                          \
    (2 + PT_NPY_MAXDIMS * 22) /* "(" + 8 x "<20 digits>, " + ")" */

/* Format a shape as Python's repr of a tuple: "()", "(5,)", "(3, 4)". */
void pt__npy_format_shape(char *buf, size_t size, int ndims,
                          const uint64_t *dims);
/* NumPy's code ("f8") of a valid type. */
const char *pt__npy_type_code(pt_dtype type);
/* Fill info->nbytes with product(dims) * size: 0, or -EINVAL when that
 * does not fit in 64 bits. */
int pt__npy_data_size(const char *path, pt_npy_info *info);

#endif
