/*
 * heap_lane.h - the heap's lane (heap.h): a FIFO ring of nodes in order,
 * for pushes that come after every node already in it. Private to heap.c.
 */
#ifndef PT_HEAP_LANE_H
#define PT_HEAP_LANE_H

#include <stdbool.h>

#include "heap.h"

/* The lane's first node (the best in it), or NULL when it is empty. */
static inline pt__heap_node *pt__heap_lane_first(const pt__heap *h)
{
    return h->lane_head != h->lane_tail
               ? h->lane[h->lane_head & (h->lane_cap - 1)]
               : NULL;
}

/* Put n, its key set, at the end of the lane if it comes after the last
 * there (or the lane is empty): false if it does not. The ring has room
 * (pt__heap_lane_room). */
bool pt__heap_lane_push(pt__heap *h, pt__heap_node *n);
/* Take n, which is in the lane, out of it. */
void pt__heap_lane_remove(pt__heap *h, pt__heap_node *n);
/* Make room in the ring for `extra` more: 0 or -ENOMEM. */
int pt__heap_lane_room(pt__heap *h, size_t extra);
/* pt__heap_check() of the lane. */
int pt__heap_lane_check(const pt__heap *h);

#endif
