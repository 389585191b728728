/*
 * ptools/json_read.h - reading results.jsonl lines with jansson, for ptrun
 * (runner/events/results.c), the shipped plugins (csv.c reads lines back)
 * and any program that reads a run folder. Needs jansson (-ljansson).
 *
 * A line's "seed" is a uint64_t, often past INT64_MAX, which jansson
 * refuses ("too big integer"). pt_json_loadb() reads such an integer as a
 * string of its exact digits instead, so that nothing is lost and a
 * "task" that big is no task id. Header-only: the plugins link libptools
 * and jansson, not ptrun.
 */
#ifndef PTOOLS_JSON_READ_H
#define PTOOLS_JSON_READ_H

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* Big integers one text may hold; past that it is refused, as jansson does. */
#define PT_JSON_MAX_BIG 16

/*
 * Quote the integer that ends at `end` in text (n bytes): the new text
 * (n + 2 bytes, malloc'd), or NULL when there is none there or no memory.
 */
static inline char *pt_json__quote_int(const char *text, size_t n, size_t end)
{
    size_t start = end;
    while (start > 0 && text[start - 1] >= '0' && text[start - 1] <= '9')
        start--;
    if (start > 0 && text[start - 1] == '-')
        start--;
    if (start == end || end > n)
        return NULL;
    char *q = malloc(n + 2);
    if (!q)
        return NULL;
    memcpy(q, text, start);
    q[start] = '"';
    memcpy(q + start + 1, text + start, end - start);
    q[end + 1] = '"';
    memcpy(q + end + 2, text + end, n - end);
    return q;
}

/*
 * json_loadb(), but an integer beyond json_int_t reads as a string of its
 * digits (at most PT_JSON_MAX_BIG of them). NULL with *je set when the text is
 * no JSON (or memory ran out).
 */
static inline json_t *pt_json_loadb(const char *text, size_t n, size_t flags,
                                    json_error_t *je)
{
    json_t *root = json_loadb(text, n, flags, je);
    char *copy = NULL;
    int i;
    for (i = 0; !root && i < PT_JSON_MAX_BIG &&
                json_error_code(je) == json_error_numeric_overflow;
         i++) {
        char *q = pt_json__quote_int(copy ? copy : text, n,
                                     (size_t)je->position);
        if (!q)
            break;
        free(copy);
        copy = q;
        n += 2;
        root = json_loadb(copy, n, flags, je);
    }
    free(copy);
    if (!root && je->position >= 2 * i) /* where the caller's text has it */
        je->position -= 2 * i;
    return root;
}

#endif
