/*
 * shm_impl.h - what the two halves of shared memory segments share (shm.c:
 * names, headers, creation and attachment; shm_data.c: the guarded data
 * mapping and what fills it). Private to libptools.
 */
#ifndef PT_SHM_IMPL_H
#define PT_SHM_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <ptools/shm.h>

#define SHM_MAGIC "PTOOLSHM"
#define SHM_VERSION 2 /* 1: the data right after the header, all mapped */
#define SHM_ALIGN 64
#define SHM_PATH_MAX (8 + 2 * PT_SHM_NAME_MAX + 2)

/*
 * Guard pages (see shm.h): each side of a data mapping gets the mapping's own
 * size in PROT_NONE address space, rounded up to GUARD_UNIT and kept within
 * [GUARD_UNIT, GUARD_MAX]. A stray write 1 MiB past a small segment, or a
 * whole segment's length past a big one (a strided loop over the wrong
 * dims), faults instead of reaching the next mapping. Guards are whole 2 MiB
 * steps so that a 2 MiB-aligned data mapping stays aligned (huge pages); a
 * 32-bit process, short of address space, gets the minimum only.
 */
#define GUARD_UNIT ((size_t)2 << 20)
#if SIZE_MAX > UINT32_MAX
#define GUARD_MAX ((size_t)1 << 30)
#else
#define GUARD_MAX GUARD_UNIT
#endif
/* What a segment may need beyond its data: guards, alignment, header. */
#define SHM_OVERHEAD (2 * GUARD_MAX + 4 * GUARD_UNIT)

/*
 * How a segment's data is laid out and backed (pt_shm.layout), see shm.h:
 * SHM_SMALL, data_offset one page and the file ending at the data's last
 * page (hugepages off, or data under 2 MiB); SHM_THP, data_offset 2 MiB and
 * the data rounded up to 2 MiB, mapped with MADV_HUGEPAGE (hugepages auto):
 * an attacher knows it by that data_offset, no format change; SHM_HUGETLB,
 * an unnamed file in reserved huge pages (hugepages on), the data at offset
 * 0 and no header in the file at all: nothing reads an unnamed segment's
 * header, and it would cost a whole huge page, as hugetlbfs has no write(2).
 */
enum { SHM_SMALL, SHM_THP, SHM_HUGETLB };

/*
 * The header at offset 0 of every segment; the data starts at data_offset,
 * a multiple of the page size, and the file ends at the data's last page.
 * The header is read and written with pread/pwrite, never mapped, so no
 * stray store can reach it. Its magic is written last, so a segment whose
 * magic is missing is still being created (or its creator died in the few
 * instructions before that).
 */
struct shm_header {
    char magic[8];
    uint32_t version;
    uint32_t type;
    uint32_t ndims;
    uint32_t prefix_len; /* the prefix is path[8 .. 8 + prefix_len) */
    uint64_t dims[PT_SHM_MAXDIMS];
    uint64_t data_offset;
    uint64_t nbytes;
    int64_t owner_pid;
    uint64_t owner_start;
    char path[SHM_PATH_MAX];
};

#define HEADER_SIZE                                                            \
    ((sizeof(struct shm_header) + SHM_ALIGN - 1) / SHM_ALIGN * SHM_ALIGN)

struct pt_shm {
    struct shm_header hdr; /* a checked copy of the segment's header */
    char *data;            /* the data mapping, or NULL */
    size_t data_len;       /* its length: the data's bytes up to a page end */
    size_t guard;          /* PROT_NONE bytes on each side of it */
    int named;             /* the name is still linked by us */
    int anon;              /* made without a name (a memfd): never linked */
    int layout;            /* SHM_SMALL, SHM_THP or SHM_HUGETLB */
    int asked;             /* pt_shm_opts.hugepages (attach: from layout) */
    pt_shm_view view;
    char path[SHM_PATH_MAX];
};

static inline size_t page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
}

/* n rounded up to a multiple of `unit` (a power of two). */
static inline uint64_t round_up(uint64_t n, uint64_t unit)
{
    return (n + unit - 1) & ~(unit - 1);
}

/* The layout for data of `nbytes` with pt_shm_opts.hugepages `asked`. */
int pt__shm_layout(int asked, uint64_t nbytes);
/* Where a layout puts the data in the file, and how long it maps it. */
uint64_t pt__shm_data_offset(int layout);
uint64_t pt__shm_data_len(int layout, uint64_t nbytes);
/* An unnamed file in enough free reserved huge pages for `len` bytes of
 * data, sized and allocated: fd or -errno, with a message. */
int pt__shm_open_hugetlb(const char *path, uint64_t len);
/*
 * Allocate the data of a new SHM_THP segment (mapped and advised) by
 * touching it, so that the fault path, which heeds MADV_HUGEPAGE, picks
 * huge pages where fallocate would take small ones: 0 or -errno.
 */
int pt__shm_populate(pt_shm *s, int fd);

/*
 * Map `len` bytes of `fd` from `offset` (page multiples both) between two
 * PROT_NONE guards, into s->data: 0 or -errno, with a message.
 */
int pt__shm_map_guarded(pt_shm *s, int fd, uint64_t offset, size_t len,
                        int prot);
/* Undo pt__shm_map_guarded: the data and both guards, in one call. */
int pt__shm_unmap_guarded(pt_shm *s);

#endif
