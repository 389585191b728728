/* heap_lane.c - the heap's FIFO lane (heap.h, heap_lane.h). */
#include <errno.h>
#include <stdlib.h>

#include "heap_lane.h"
#include "internal.h"

#define MIN_LANE 16

static pt__heap_node **at(const pt__heap *h, size_t pos)
{
    return &h->lane[pos & (h->lane_cap - 1)];
}

/* 1 if a comes out before b (as pt__heap_before, inlined here). */
static inline int before(const pt__heap_node *a, const pt__heap_node *b)
{
    return a->prio != b->prio ? a->prio > b->prio : a->seq < b->seq;
}

bool pt__heap_lane_push(pt__heap *h, pt__heap_node *n)
{
    if (h->lane_head != h->lane_tail && !before(*at(h, h->lane_tail - 1), n))
        return false;
    *at(h, h->lane_tail) = n;
    n->index = PT__HEAP_LANE | h->lane_tail++;
    h->lane_live++;
    return true;
}

/* A hole at either end is dropped, so both ends always hold a node. */
void pt__heap_lane_remove(pt__heap *h, pt__heap_node *n)
{
    *at(h, n->index & ~PT__HEAP_LANE) = NULL;
    n->index = SIZE_MAX;
    h->lane_live--;
    while (h->lane_head != h->lane_tail && !*at(h, h->lane_head))
        h->lane_head++;
    while (h->lane_head != h->lane_tail && !*at(h, h->lane_tail - 1))
        h->lane_tail--;
    if (h->lane_head == h->lane_tail) /* empty: start again at 0 */
        h->lane_head = h->lane_tail = 0;
}

/* Squeeze the holes out: the nodes move towards the head, in order. */
static void compact(pt__heap *h)
{
    size_t to = h->lane_head;
    for (size_t p = h->lane_head; p != h->lane_tail; p++) {
        pt__heap_node *n = *at(h, p);
        if (!n)
            continue;
        if (p != to) {
            *at(h, to) = n;
            n->index = PT__HEAP_LANE | to;
        }
        to++;
    }
    h->lane_tail = to;
}

/* A ring of twice the size, or more: nodes keep their positions. */
static int grow(pt__heap *h, size_t need)
{
    size_t cap = h->lane_cap ? h->lane_cap : MIN_LANE;
    while (cap < need) {
        if (cap > SIZE_MAX / 2 / sizeof(*h->lane))
            return pt__err(-ENOMEM, "heap lane of %zu nodes is too large",
                           need);
        cap *= 2;
    }
    pt__heap_node **lane = malloc(cap * sizeof(*lane));
    if (!lane)
        return pt__err(-ENOMEM, "out of memory for a heap lane of %zu nodes",
                       cap);
    for (size_t p = h->lane_head; p != h->lane_tail; p++)
        lane[p & (cap - 1)] = *at(h, p);
    free(h->lane);
    h->lane = lane;
    h->lane_cap = cap;
    return 0;
}

/* Holes are squeezed out only when that frees half the ring: each node
 * is moved a few times at most. */
int pt__heap_lane_room(pt__heap *h, size_t extra)
{
    size_t span = h->lane_tail - h->lane_head;
    if (extra > SIZE_MAX / 4 - span)
        return pt__err(-ENOMEM, "heap lane of %zu + %zu nodes is too large",
                       span, extra);
    if (span + extra <= h->lane_cap)
        return 0;
    if (h->lane_live + extra <= h->lane_cap / 2) {
        compact(h);
        return 0;
    }
    return grow(h, span + extra);
}

int pt__heap_lane_check(const pt__heap *h)
{
    size_t live = 0;
    const pt__heap_node *prev = NULL;
    if (h->lane_tail - h->lane_head > h->lane_cap ||
        (h->lane_cap & (h->lane_cap - 1)))
        return pt__err(-EINVAL, "heap lane [%zu, %zu) in a ring of %zu",
                       h->lane_head, h->lane_tail, h->lane_cap);
    for (size_t p = h->lane_head; p != h->lane_tail; p++) {
        const pt__heap_node *n = *at(h, p);
        if (!n && (p == h->lane_head || p + 1 == h->lane_tail))
            return pt__err(-EINVAL, "heap lane: a hole at its end %zu", p);
        if (!n)
            continue;
        live++;
        if (n->index != (PT__HEAP_LANE | p))
            return pt__err(-EINVAL, "heap lane %zu: node index %zx", p,
                           n->index);
        if (n->seq >= h->next_seq)
            return pt__err(-EINVAL, "heap lane %zu: seq %llu >= next_seq %llu",
                           p, (unsigned long long)n->seq,
                           (unsigned long long)h->next_seq);
        if (prev && !before(prev, n))
            return pt__err(-EINVAL, "heap lane %zu: before the node ahead", p);
        prev = n;
    }
    if (live != h->lane_live)
        return pt__err(-EINVAL, "heap lane holds %zu nodes, counts %zu", live,
                       h->lane_live);
    return 0;
}
