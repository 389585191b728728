/*
 * shm_huge.c - huge pages for shared memory segments (see ptools/shm.h):
 * the layout a segment gets, reserved huge pages (hugepages: on), the
 * allocation of transparent ones (auto), and what the system says of them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <ptools/shm.h>
#include <ptools/sys.h>

#include "internal.h"
#include "os.h"
#include "shm_impl.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

int pt__shm_layout(int asked, uint64_t nbytes)
{
    if (asked == PT_SHM_HUGE_ON)
        return SHM_HUGETLB;
    return asked == PT_SHM_HUGE_AUTO && nbytes >= GUARD_UNIT ? SHM_THP
                                                             : SHM_SMALL;
}

uint64_t pt__shm_data_offset(int layout)
{
    if (layout == SHM_HUGETLB)
        return 0;
    if (layout == SHM_THP)
        return GUARD_UNIT;
    return round_up(HEADER_SIZE, page_size());
}

uint64_t pt__shm_data_len(int layout, uint64_t nbytes)
{
    return round_up(nbytes, layout == SHM_SMALL ? page_size() : GUARD_UNIT);
}

/* Are `need` reserved huge pages free? 0, or -ENOSPC saying how to get
 * them (-errno when the system cannot tell). */
static int check_reserved(const char *path, uint64_t need)
{
    uint64_t total = 0, avail = 0;
    int rc = pt__os_huge_pages(&total, &avail);
    if (rc < 0)
        return pt__err(rc == -ENOENT ? -ENOSYS : rc,
                       "%s: hugepages on: this "
                       "system has no 2 MiB huge pages (%s)",
                       path, pt_strerror(rc));
    if (total == 0)
        return pt__err(-ENOSPC,
                       "%s: hugepages on: the segment needs %" PRIu64
                       " huge pages of 2 MiB, but none are reserved "
                       "(HugePages_Total is 0); reserve them as root with "
                       "`echo %" PRIu64 " > /proc/sys/vm/nr_hugepages`, or use "
                       "hugepages: auto",
                       path, need, need);
    if (avail < need)
        return pt__err(-ENOSPC,
                       "%s: hugepages on: the segment needs %" PRIu64
                       " huge pages of 2 MiB, but only %" PRIu64
                       " of the %" PRIu64
                       " reserved are free; reserve more as root with "
                       "`echo %" PRIu64 " > /proc/sys/vm/nr_hugepages`",
                       path, need, avail, total, total + need - avail);
    return 0;
}

int pt__shm_open_hugetlb(const char *path, uint64_t len)
{
    uint64_t need = len / GUARD_UNIT;
    int rc = check_reserved(path, need);
    if (rc < 0)
        return rc;
    int fd = pt__fault(PT__FAULT_SHM_OPEN);
    if (fd == 0)
        fd = pt__os_memfd_huge(path + 1);
    if (fd < 0)
        return pt__err(fd == -EINVAL ? -ENOSYS : fd,
                       "%s: hugepages on: "
                       "cannot create a file in huge pages: %s",
                       path, pt_strerror(fd));
    rc = pt_sys_ftruncate(fd, (off_t)len);
    if (rc == 0)
        rc = pt_sys_fallocate(fd, 0, (off_t)len); /* takes the pages now */
    if (rc == -ENOSPC) {
        if ((rc = check_reserved(path, need)) == 0) /* else it says why */
            rc = pt__err(-ENOSPC,
                         "%s: hugepages on: %" PRIu64 " huge pages "
                         "of 2 MiB could not be taken (others took them "
                         "first?)",
                         path, need);
    } else if (rc < 0) {
        rc = pt__err(
            rc, "%s: hugepages on: cannot size it to %" PRIu64 " bytes: %s",
            path, len, pt_strerror(rc));
    }
    if (rc < 0) {
        pt_sys_close(fd);
        return rc;
    }
    return fd;
}

int pt__shm_populate(pt_shm *s, int fd)
{
    pt__os_thp thp;
    int rc = pt__fault(PT__FAULT_FALLOCATE), touched = 0;
    if (rc == 0 && pt__os_thp_shmem(!s->anon, &thp) == 0 && thp.effective) {
        touched = madvise(s->data, s->data_len, MADV_POPULATE_WRITE) == 0;
        if (!touched && errno != EINVAL) /* EINVAL: a kernel before 5.14 */
            rc = errno == EFAULT || errno == ENOMEM ? -ENOSPC : -errno;
    }
    if (rc == 0 && !touched) /* small pages anyway: fallocate is faster */
        rc = pt_sys_fallocate(fd, (off_t)s->hdr.data_offset,
                              (off_t)s->data_len);
    if (rc < 0)
        return pt__err(rc, "%s: cannot allocate its %zu bytes: %s", s->path,
                       s->data_len, pt_strerror(rc));
    return 0;
}

int pt_shm_hugepages(const pt_shm *s, pt_shm_huge_info *out)
{
    *out = (pt_shm_huge_info){.hugepages = s->asked};
    out->eligible = s->layout != SHM_SMALL;
    if (s->layout == SHM_HUGETLB) {
        out->huge = true;
        return 0;
    }
    if (s->asked != PT_SHM_HUGE_AUTO)
        return 0;
    pt__os_thp thp;
    int rc = pt__os_thp_shmem(!s->anon, &thp);
    if (rc < 0)
        return rc;
    snprintf(out->setting, sizeof out->setting, "%s", thp.setting);
    out->huge = out->eligible && thp.effective;
    if (!thp.effective)
        snprintf(out->enable, sizeof out->enable, "%s", thp.enable);
    return 0;
}
