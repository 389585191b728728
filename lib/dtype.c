/* dtype.c - element type names and sizes (see dtype.h). */
#include <string.h>

#include <ptools/dtype.h>

static const struct {
    const char *name;
    size_t size;
} types[PT_DTYPE_COUNT] = {
    [PT_INT8] = {"int8", 1},       [PT_INT16] = {"int16", 2},
    [PT_INT32] = {"int32", 4},     [PT_INT64] = {"int64", 8},
    [PT_UINT8] = {"uint8", 1},     [PT_UINT16] = {"uint16", 2},
    [PT_UINT32] = {"uint32", 4},   [PT_UINT64] = {"uint64", 8},
    [PT_FLOAT32] = {"float32", 4}, [PT_FLOAT64] = {"float64", 8},
};

static int valid(pt_dtype t)
{
    return t > PT_DTYPE_NONE && t < PT_DTYPE_COUNT;
}

size_t pt_dtype_size(pt_dtype t)
{
    return valid(t) ? types[t].size : 0;
}

const char *pt_dtype_name(pt_dtype t)
{
    return valid(t) ? types[t].name : NULL;
}

pt_dtype pt_dtype_parse(const char *name)
{
    for (int t = PT_INT8; name && t < PT_DTYPE_COUNT; t++)
        if (strcmp(types[t].name, name) == 0)
            return (pt_dtype)t;
    return PT_DTYPE_NONE;
}

bool pt_dtype_is_integer(pt_dtype t)
{
    return t >= PT_INT8 && t <= PT_UINT64;
}
