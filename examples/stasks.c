/*
 * stasks.c - Julia PTools' README example in C: server tasks share an
 * int32 segment of 64K and a 100x100 uint8 one, each writes its worker id
 * at offset:ntasks:65536, and keeps a call count between pmaps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <ptools/stasks.h>

static int whoami(pt_ctx *ctx)
{
    int w = pt_worker_index(ctx), n = pt_worker_count(ctx);
    const pt_shm_view *ids = pt_shm_get(ctx, "ids");
    const pt_shm_view *img = pt_shm_get(ctx, "img");
    for (uint64_t i = (uint64_t)w; i < ids->size; i += (uint64_t)n)
        ((int32_t *)ids->data)[i] = w;
    ((uint8_t *)img->data)[w] = (uint8_t)(w + 1);
    int64_t *calls = pt_state_get(ctx, "calls"); /* kept across pmaps */
    if (!calls && (calls = calloc(1, sizeof *calls)))
        pt_state_set(ctx, "calls", calls, free);
    return pt_result_int(ctx, "calls", calls ? ++*calls : -1);
}

static const pt_kernel whoami_kernel = {.abi = PT_KERNEL_ABI,
                                        .name = "whoami",
                                        .doc = "write my id",
                                        .call = whoami};

int main(void)
{
    pt_shm_opts shm[2] = {
        {.prefix = "stasks",
         .name = "ids",
         .type = PT_INT32,
         .ndims = 1,
         .dims = {65536}},
        {.prefix = "stasks",
         .name = "img",
         .type = PT_UINT8,
         .ndims = 2,
         .dims = {100, 100}},
    };
    pt_stasks *h = pt_stasks_start(shm, 2, 4);
    if (!h) {
        fprintf(stderr, "stasks: %s\n", pt_errmsg());
        return 1;
    }
    pt_reply *res[4];
    for (int round = 0; round < 2; round++) {
        if (pt_stasks_pmap(h, &whoami_kernel, NULL, 4, res) != 0)
            return 1;
        for (int i = 0; i < 4; i++) {
            printf("%s%lld", i ? " " : "calls: ",
                   (long long)pt_reply_int(res[i], "calls", -1));
            pt_reply_destroy(res[i]);
        }
        printf("\n");
    }
    const int32_t *ids = pt_stasks_shm(h, "ids")->data;
    printf("ids[0..7] = %d %d %d %d %d %d %d %d\n", ids[0], ids[1], ids[2],
           ids[3], ids[4], ids[5], ids[6], ids[7]);
    return pt_stasks_stop(h) == 0 ? 0 : 1;
}
