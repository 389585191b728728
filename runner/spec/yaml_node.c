/*
 * yaml_node.c - the nodes of an rn_ynode tree (see yaml_tree.h): make,
 * append, find, free. Reading YAML into them is yaml_tree.c's job.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "spec/yaml_tree.h"

/* Grow *v (of *cap items of `size` bytes) to hold one more: 0 or -ENOMEM. */
int rn_ygrow(void **v, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 4;
    void *p = realloc(*v, ncap * size);
    if (!p)
        return -ENOMEM;
    *v = p;
    *cap = ncap;
    return 0;
}

void rn_ynode_free(rn_ynode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++) {
        free(n->e[i].key);
        rn_ynode_free(n->e[i].val);
    }
    free(n->e);
    free(n->text);
    free(n);
}

rn_ynode *rn_ynode_scalar(const char *text, bool quoted, rn_pos pos)
{
    rn_ynode *n = calloc(1, sizeof *n);
    if (!n || !(n->text = strdup(text))) {
        free(n);
        return NULL;
    }
    n->kind = RN_Y_SCALAR;
    n->quoted = quoted;
    n->pos = pos;
    return n;
}

int rn_ynode_append(rn_ynode *coll, const char *key, rn_pos kpos, rn_ynode *val)
{
    char *k = NULL;
    if (key && !(k = strdup(key)))
        return -ENOMEM;
    if (rn_ygrow((void **)&coll->e, &coll->cap, coll->n, sizeof *coll->e) < 0) {
        free(k);
        return -ENOMEM;
    }
    coll->e[coll->n++] = (rn_yentry){k, kpos, val, false};
    return 0;
}

rn_ynode *rn_ymap_get(const rn_ynode *n, const char *key)
{
    if (!n || n->kind != RN_Y_MAP)
        return NULL;
    for (size_t i = 0; i < n->n; i++)
        if (strcmp(n->e[i].key, key) == 0)
            return n->e[i].val;
    return NULL;
}
