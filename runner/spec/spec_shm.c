/*
 * spec_shm.c - check `shm:` (SPEC §4): the prefix and each segment's name,
 * type, dims and init. Absurd sizes fail here, before anything is created:
 * dims whose byte size overflows 64 bits, and segments larger than what
 * /dev/shm can hold (one alone, or all of them together).
 */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include <ptools/npy.h>
#include <ptools/shm.h>

#include "spec/rn_math.h"
#include "spec/spec_check.h"

/* "[2, 3]" into buf. */
static void format_dims(const uint64_t *dims, int ndims, char *buf, size_t size)
{
    size_t off = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndims && off < size; i++)
        off += (size_t)snprintf(buf + off, size - off, "%s%" PRIu64,
                                i ? ", " : "", dims[i]);
    if (off < size)
        snprintf(buf + off, size - off, "]");
}

/* "1125899906842624 bytes (1.0 PiB)" into buf. */
static void format_size(uint64_t bytes, char *buf, size_t size)
{
    static const char *const units[] = {"B",   "KiB", "MiB", "GiB",
                                        "TiB", "PiB", "EiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 6) {
        v /= 1024;
        u++;
    }
    snprintf(buf, size, "%" PRIu64 " bytes (%.1f %s)", bytes, v, units[u]);
}

/* One extent: an integer >= 1. */
static bool get_dim(rn_build *b, const rn_ynode *n, uint64_t *out)
{
    int64_t v;
    if (!rn_get_int(b, n, "dims", 1, INT64_MAX, &v))
        return false;
    *out = (uint64_t)v;
    return true;
}

/* `dims`: one integer (1-d), or a list of 1..PT_SHM_MAXDIMS of them. */
static bool get_dims(rn_build *b, const rn_ynode *n, rn_segment *seg)
{
    bool ok = true;
    if (n->kind == RN_Y_SCALAR) {
        seg->ndims = 1;
        return get_dim(b, n, &seg->dims[0]);
    }
    if (!rn_check_list(b, n, "dims", true))
        return false;
    if (n->n > PT_SHM_MAXDIMS) {
        rn_diag_at(b->d, n, "dims must have 1 to %d items, got %zu",
                   PT_SHM_MAXDIMS, n->n);
        return false;
    }
    seg->ndims = (int)n->n;
    for (size_t i = 0; i < n->n; i++)
        ok &= get_dim(b, n->e[i].val, &seg->dims[i]);
    return ok;
}

/* The segment's size in bytes; false (reported) when it overflows. */
static bool segment_bytes(rn_build *b, const rn_ynode *at,
                          const rn_segment *seg, uint64_t *bytes)
{
    uint64_t v = pt_dtype_size(seg->type);
    char dims[256];
    for (int i = 0; i < seg->ndims; i++)
        if (__builtin_mul_overflow(v, seg->dims[i], &v)) {
            format_dims(seg->dims, seg->ndims, dims, sizeof dims);
            rn_diag_at(b->d, at,
                       "dims %s of %s overflow: segment '%s' "
                       "would be larger than 2^64 bytes",
                       dims, pt_dtype_name(seg->type),
                       seg->name ? seg->name : "");
            return false;
        }
    *bytes = v;
    return true;
}

/* The capacity of /dev/shm in bytes, or 0 when unknown. */
static uint64_t shm_capacity(void)
{
    struct statvfs sv;
    if (statvfs("/dev/shm", &sv) < 0)
        return 0;
    return (uint64_t)sv.f_blocks * (uint64_t)sv.f_frsize;
}

/* A segment larger than /dev/shm fails now, with both sizes. */
static bool check_fits(rn_build *b, const rn_ynode *at, const char *what,
                       uint64_t bytes)
{
    uint64_t cap = shm_capacity();
    char need[64], have[64];
    if (!cap || bytes <= cap)
        return true;
    format_size(bytes, need, sizeof need);
    format_size(cap, have, sizeof have);
    rn_diag_at(b->d, at, "%s %s, more than /dev/shm holds: %s", what, need,
               have);
    return false;
}

/* Does `v` fit an element of type t (integral and in range for ints)? */
static bool fill_fits(pt_dtype t, double v)
{
    static const double lo[PT_DTYPE_COUNT] = {
        [PT_INT8] = INT8_MIN,
        [PT_INT16] = INT16_MIN,
        [PT_INT32] = INT32_MIN,
        [PT_INT64] = (double)INT64_MIN,
    };
    static const double hi[PT_DTYPE_COUNT] = {
        [PT_INT8] = INT8_MAX,     [PT_INT16] = INT16_MAX,
        [PT_INT32] = INT32_MAX,   [PT_INT64] = 0x1p63,
        [PT_UINT8] = UINT8_MAX,   [PT_UINT16] = UINT16_MAX,
        [PT_UINT32] = UINT32_MAX, [PT_UINT64] = 0x1p64,
    };
    if (t == PT_FLOAT64)
        return true;
    if (t == PT_FLOAT32)
        return !isfinite(v) || fabs(v) <= FLT_MAX;
    if (!isfinite(v) || !rn_is_integral(v))
        return false;
    /* int64/uint64 maxima are not doubles: their bound is exclusive. */
    bool top_open = t == PT_INT64 || t == PT_UINT64;
    return v >= lo[t] && (top_open ? v < hi[t] : v <= hi[t]);
}

static void get_fill(rn_build *b, const rn_ynode *n, rn_segment *seg)
{
    rn_value v = {.type = RN_NULL};
    if (n->kind == RN_Y_SCALAR)
        rn_yscalar(n, &v);
    if (v.type != RN_INT && v.type != RN_REAL) {
        rn_wrong_type(b, n, "a number");
        return;
    }
    seg->init = RN_INIT_FILL;
    seg->fill = v.type == RN_INT ? (double)v.i : v.r;
    bool fits = fill_fits(seg->type, seg->fill);
    if (v.type == RN_INT && (seg->type == PT_INT64 || seg->type == PT_UINT64))
        fits = seg->type == PT_INT64 || v.i >= 0; /* exact, not as double */
    if (seg->type != PT_DTYPE_NONE && !fits)
        rn_diag_at(b->d, n, "fill %s does not fit %s", n->text,
                   pt_dtype_name(seg->type));
}

/* The .npy file must exist with the segment's type and shape. */
static void get_npy(rn_build *b, const rn_ynode *n, rn_segment *seg,
                    bool shape_ok)
{
    const char *t;
    pt_npy_info info;
    char want[256], got[256];
    if (!rn_get_text(b, n, &t))
        return;
    seg->init = RN_INIT_NPY;
    if (!(seg->npy = rn_resolve_path(t, b->spec->dir))) {
        rn_oom_at(b, n);
        return;
    }
    if (pt_npy_info_read(seg->npy, &info) < 0) {
        rn_diag_at(b->d, n, "%s", pt_errmsg());
        return;
    }
    bool same = info.type == seg->type && info.ndims == seg->ndims &&
                !memcmp(info.dims, seg->dims,
                        sizeof(uint64_t) *
                            (size_t)(info.ndims > 0 ? info.ndims : 0));
    if (!shape_ok || same)
        return;
    format_dims(info.dims, info.ndims, got, sizeof got);
    format_dims(seg->dims, seg->ndims, want, sizeof want);
    rn_diag_at(b->d, n, "%s holds %s %s, but segment '%s' is %s %s", t,
               pt_dtype_name(info.type), got, seg->name ? seg->name : "",
               pt_dtype_name(seg->type), want);
}

/* `init`: exactly one of {fill: number} or {npy: path}. */
static void get_init(rn_build *b, const rn_ynode *n, rn_segment *seg,
                     bool shape_ok)
{
    const rn_ynode *fill, *npy;
    if (!rn_check_map(b, n, &rn_init_schema))
        return;
    fill = rn_ymap_get(n, "fill");
    npy = rn_ymap_get(n, "npy");
    if (!fill == !npy)
        rn_diag_at(b->d, n, "init takes exactly one of fill or npy");
    else if (fill)
        get_fill(b, fill, seg);
    else
        get_npy(b, npy, seg, shape_ok);
}

static void get_type(rn_build *b, const rn_ynode *n, rn_segment *seg)
{
    const char *t, *names[PT_DTYPE_COUNT];
    char hint[256];
    if (!rn_get_text(b, n, &t))
        return;
    if ((seg->type = pt_dtype_parse(t)) != PT_DTYPE_NONE)
        return;
    for (int i = 1; i < PT_DTYPE_COUNT; i++)
        names[i - 1] = pt_dtype_name((pt_dtype)i);
    rn_hint(t, names, PT_DTYPE_COUNT - 1, "types", hint, sizeof hint);
    rn_diag_at(b->d, n, "unknown type '%s' (%s)", t, hint);
}

/* `hugepages`: auto, on or off; on needs an unnamed segment. */
static void get_hugepages(rn_build *b, const rn_ynode *n, rn_segment *seg)
{
    static const char *const names[] = {"auto", "on", "off"};
    static const int values[] = {PT_SHM_HUGE_AUTO, PT_SHM_HUGE_ON,
                                 PT_SHM_HUGE_OFF};
    const char *t;
    if (!rn_get_text(b, n, &t))
        return;
    for (size_t i = 0; i < 3; i++)
        if (strcmp(t, names[i]) == 0) {
            seg->hugepages = values[i];
            if (seg->hugepages == PT_SHM_HUGE_ON && seg->named)
                rn_diag_at(b->d, n,
                           "hugepages: on needs an unnamed segment "
                           "(reserved huge pages cannot be in /dev/shm): "
                           "drop named: true, or use hugepages: auto");
            return;
        }
    rn_diag_at(b->d, n, "hugepages must be auto, on or off, got '%s'", t);
}

/*
 * One segment; its size in bytes goes to *bytes (0 when unknown or when it
 * was already reported too large).
 */
static void build_segment(rn_build *b, const rn_ynode *n, rn_segment *seg,
                          uint64_t *bytes)
{
    const rn_ynode *v, *dims;
    bool shape_ok = false;
    seg->pos = n->pos;
    *bytes = 0;
    if (!rn_check_map(b, n, &rn_segment_schema))
        return;
    if ((v = rn_ymap_get(n, "name")))
        rn_get_name(b, v, &seg->name);
    if ((v = rn_ymap_get(n, "type")))
        get_type(b, v, seg);
    if ((dims = rn_ymap_get(n, "dims")) && get_dims(b, dims, seg) &&
        seg->type != PT_DTYPE_NONE && segment_bytes(b, dims, seg, bytes)) {
        shape_ok = true;
        char what[160];
        snprintf(what, sizeof what, "segment '%s' needs",
                 seg->name ? seg->name : "");
        if (!check_fits(b, dims, what, *bytes))
            *bytes = 0;
    }
    if ((v = rn_ymap_get(n, "init")))
        get_init(b, v, seg, shape_ok);
    if ((v = rn_ymap_get(n, "save")))
        rn_get_bool(b, v, &seg->save);
    if ((v = rn_ymap_get(n, "named")))
        rn_get_bool(b, v, &seg->named);
    if ((v = rn_ymap_get(n, "hugepages")))
        get_hugepages(b, v, seg);
}

static const char *segment_name(const rn_spec *s, int i)
{
    return s->segments[i].name;
}

static void build_segments(rn_build *b, const rn_ynode *n)
{
    rn_spec *s = b->spec;
    uint64_t total = 0, one;
    bool overflow = false;
    if (!rn_check_list(b, n, "segments", false) || !n->n)
        return;
    if (!(s->segments = calloc(n->n, sizeof *s->segments))) {
        rn_oom_at(b, n);
        return;
    }
    s->nsegments = (int)n->n;
    for (size_t i = 0; i < n->n; i++) {
        build_segment(b, n->e[i].val, &s->segments[i], &one);
        overflow |= __builtin_add_overflow(total, one, &total);
    }
    rn_check_unique(b, n, "segment", segment_name);
    if (n->n > 1 && !overflow)
        check_fits(b, n, "the segments need", total);
}

void rn_build_shm(rn_build *b, const rn_ynode *n)
{
    rn_spec *s = b->spec;
    const rn_ynode *v;
    if (n && !rn_check_map(b, n, &rn_shm_schema))
        return;
    if ((v = rn_ymap_get(n, "prefix")))
        rn_get_name(b, v, &s->shm_prefix);
    else if (s->name && !(s->shm_prefix = strdup(s->name)))
        rn_diag_add(b->d, (rn_pos){0, 0}, NULL, 0, "out of memory");
    if ((v = rn_ymap_get(n, "segments")))
        build_segments(b, v);
}
