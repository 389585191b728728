/* test_cluster.c - the messages between MPI ranks
 * (runner/cluster/cluster_msg.h) and the launcher detection (cluster.h),
 * without MPI itself. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"
#include "cluster/cluster_msg.h"
#include "harness.h"

static void test_tasks_round_trip(void)
{
    pt_buf b = {0};
    uint8_t args[3][24];
    for (int i = 0; i < 3; i++)
        memset(args[i], 'a' + i, sizeof args[i]);
    rn_msg_begin(&b, RN_MSG_TASKS);
    rn_msg_set_head(&b, INT64_C(123456789012), 5);
    for (int i = 0; i < 3; i++) {
        rn_msg_task t = {100 + i, i,    2 * i, 7, i - 1, (uint32_t)(9 + 5 * i),
                         args[i], i - 5};
        CU_ASSERT_EQUAL(rn_msg_add_task(&b, &t), 0);
    }
    CU_ASSERT_EQUAL(rn_msg_count(&b), 3);
    CU_ASSERT_EQUAL(b.len % 8, 0);
    rn_msg_reader r;
    rn_msg_task t;
    CU_ASSERT_EQUAL_FATAL(rn_msg_open(&r, b.data, b.len, RN_MSG_TASKS), 0);
    CU_ASSERT_EQUAL(r.stamp, INT64_C(123456789012));
    CU_ASSERT_EQUAL(r.flags, 5u);
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL_FATAL(rn_msg_next_task(&r, &t), 1);
        CU_ASSERT_EQUAL(t.id, 100 + i);
        CU_ASSERT_EQUAL(t.set, i);
        CU_ASSERT_EQUAL(t.kernel, 2 * i);
        CU_ASSERT_EQUAL(t.step, 7);
        CU_ASSERT_EQUAL(t.worker, i - 1);
        CU_ASSERT_EQUAL(t.args_len, 9u + 5 * (unsigned)i);
        CU_ASSERT_EQUAL(t.priority, i - 5);
        CU_ASSERT_EQUAL(memcmp(t.args, args[i], t.args_len), 0);
        CU_ASSERT_EQUAL((uintptr_t)t.args % 8, 0); /* maps stay aligned */
    }
    CU_ASSERT_EQUAL(rn_msg_next_task(&r, &t), 0);
    /* the wrong kind of message is refused */
    CU_ASSERT_EQUAL(rn_msg_open(&r, b.data, b.len, RN_MSG_RESULTS), -EBADMSG);
    pt_buf_free(&b);
}

static void test_results_round_trip(void)
{
    pt_buf b = {0};
    uint8_t map[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    rn_msg_begin(&b, RN_MSG_RESULTS);
    rn_msg_result a = {5,    0,    1,    0,   -1, 0,
                       1000, 2000, NULL, map, 9,  RN_RES_DONE};
    rn_msg_result c = {6,    2,    0,
                       9,    -1,   4242,
                       3000, 3500, "worker killed by signal 9",
                       NULL, 0,    RN_RES_DONE};
    rn_msg_result st = {
        .id = 7, .worker = 1, .start_ns = 4000, .kind = RN_RES_STARTED};
    rn_msg_result back = {.id = 8, .worker = -1, .kind = RN_RES_BACK};
    CU_ASSERT_EQUAL(rn_msg_add_result(&b, &a), 0);
    CU_ASSERT_EQUAL(rn_msg_add_result(&b, &c), 0);
    CU_ASSERT_EQUAL(rn_msg_add_result(&b, &st), 0);
    CU_ASSERT_EQUAL(rn_msg_add_result(&b, &back), 0);
    rn_msg_reader r;
    rn_msg_result x;
    CU_ASSERT_EQUAL_FATAL(rn_msg_open(&r, b.data, b.len, RN_MSG_RESULTS), 0);
    CU_ASSERT_EQUAL_FATAL(rn_msg_next_result(&r, &x), 1);
    CU_ASSERT_EQUAL(x.id, 5);
    CU_ASSERT_EQUAL(x.worker, 1);
    CU_ASSERT_PTR_NULL(x.error);
    CU_ASSERT_EQUAL(x.results_len, 9);
    CU_ASSERT_EQUAL(memcmp(x.results, map, 9), 0);
    CU_ASSERT_EQUAL(x.start_ns, 1000);
    CU_ASSERT_EQUAL_FATAL(rn_msg_next_result(&r, &x), 1);
    CU_ASSERT_EQUAL(x.status, 2);
    CU_ASSERT_EQUAL(x.signal, 9);
    CU_ASSERT_EQUAL(x.max_rss_kb, 4242);
    CU_ASSERT_STRING_EQUAL(x.error, "worker killed by signal 9");
    CU_ASSERT_PTR_NULL(x.results);
    CU_ASSERT_EQUAL(x.kind, RN_RES_DONE);
    CU_ASSERT_EQUAL_FATAL(rn_msg_next_result(&r, &x), 1);
    CU_ASSERT_EQUAL(x.kind, RN_RES_STARTED);
    CU_ASSERT_EQUAL(x.id, 7);
    CU_ASSERT_EQUAL(x.start_ns, 4000);
    CU_ASSERT_EQUAL_FATAL(rn_msg_next_result(&r, &x), 1);
    CU_ASSERT_EQUAL(x.kind, RN_RES_BACK);
    CU_ASSERT_EQUAL(x.id, 8);
    CU_ASSERT_EQUAL(rn_msg_next_result(&r, &x), 0);
    pt_buf_free(&b);
}

/* Every truncation, and every corrupted byte of the heads, is refused or
 * read within bounds: never a read past the message. */
static void test_malformed(void)
{
    pt_buf b = {0};
    uint8_t args[40] = {0};
    rn_msg_begin(&b, RN_MSG_TASKS);
    rn_msg_task t = {1, 0, 0, 0, -1, sizeof args, args, 0};
    rn_msg_add_task(&b, &t);
    rn_msg_add_task(&b, &t);
    uint64_t *copy = malloc(b.len + 64);
    CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
    for (size_t len = 0; len < b.len; len++) {
        memcpy(copy, b.data, len);
        rn_msg_reader r;
        rn_msg_task x;
        int rc = rn_msg_open(&r, copy, len, RN_MSG_TASKS), n = 0;
        while (rc == 0 && (rc = rn_msg_next_task(&r, &x)) == 1)
            rc = 0, n++;
        CU_ASSERT_TRUE(rc == -EBADMSG); /* short: never a clean end */
    }
    for (size_t i = 0; i < b.len; i++) {
        memcpy(copy, b.data, b.len);
        ((uint8_t *)copy)[i] ^= 0xa5;
        rn_msg_reader r;
        rn_msg_task x;
        int rc = rn_msg_open(&r, copy, b.len, RN_MSG_TASKS);
        while (rc == 0 && (rc = rn_msg_next_task(&r, &x)) == 1) {
            rc = 0;
            CU_ASSERT_TRUE(x.args + x.args_len <= (uint8_t *)copy + b.len);
        }
        CU_ASSERT_TRUE(rc == 0 || rc == -EBADMSG);
    }
    /* an error text without its NUL */
    pt_buf_reset(&b);
    rn_msg_begin(&b, RN_MSG_RESULTS);
    rn_msg_result res = {1, 1, 0, 0, -1, 0, 0, 0, "oops", NULL, 0, RN_RES_DONE};
    rn_msg_add_result(&b, &res);
    memcpy(copy, b.data, b.len);
    ((uint8_t *)copy)[24 + 64 + 4] = 'x'; /* the NUL after "oops" */
    rn_msg_reader r;
    rn_msg_result x;
    CU_ASSERT_EQUAL(rn_msg_open(&r, copy, b.len, RN_MSG_RESULTS), 0);
    CU_ASSERT_EQUAL(rn_msg_next_result(&r, &x), -EBADMSG);
    free(copy);
    pt_buf_free(&b);
}

/* A take: the ids asked back and how many more of the agent's choice;
 * anything malformed is refused. */
static void test_take(void)
{
    pt_buf b = {0};
    int64_t ids[3] = {4, 9, 70000000000};
    CU_ASSERT_EQUAL_FATAL(rn_msg_take(&b, 77, 2, ids, 3), 0);
    int64_t any = -1;
    const int64_t *got = NULL;
    uint32_t n = 0;
    CU_ASSERT_EQUAL_FATAL(rn_msg_read_take(b.data, b.len, &any, &got, &n), 0);
    CU_ASSERT_EQUAL(any, 2);
    CU_ASSERT_EQUAL_FATAL(n, 3u);
    CU_ASSERT_EQUAL(memcmp(got, ids, sizeof ids), 0);
    for (size_t len = 0; len < b.len; len++) /* every truncation */
        CU_ASSERT_EQUAL(rn_msg_read_take(b.data, len, &any, &got, &n),
                        -EBADMSG);
    CU_ASSERT_EQUAL_FATAL(rn_msg_take(&b, 77, 0, NULL, 0), 0);
    CU_ASSERT_EQUAL(rn_msg_read_take(b.data, b.len, &any, &got, &n), 0);
    CU_ASSERT_EQUAL(n, 0u);
    CU_ASSERT_EQUAL(any, 0);
    CU_ASSERT_EQUAL_FATAL(rn_msg_take(&b, 77, -1, NULL, 0), 0);
    CU_ASSERT_EQUAL(rn_msg_read_take(b.data, b.len, &any, &got, &n), -EBADMSG);
    rn_msg_begin(&b, RN_MSG_RESULTS); /* not a take */
    pt_buf_append(&b, ids, 8);
    CU_ASSERT_EQUAL(rn_msg_read_take(b.data, b.len, &any, &got, &n), -EBADMSG);
    pt_buf_free(&b);
}

static void test_launcher_env(void)
{
    int rank, size;
    unsetenv("OMPI_COMM_WORLD_RANK");
    unsetenv("OMPI_COMM_WORLD_SIZE");
    unsetenv("PMI_RANK");
    unsetenv("PMI_SIZE");
    unsetenv("PMIX_RANK");
    unsetenv("PMIX_SIZE");
    CU_ASSERT_FALSE(rn_cluster_launched(&rank, &size));
    setenv("SLURM_PROCID", "0", 1); /* a batch script's shell: not MPI */
    setenv("SLURM_NTASKS", "4", 1);
    CU_ASSERT_FALSE(rn_cluster_launched(&rank, &size));
    setenv("OMPI_COMM_WORLD_RANK", "2", 1);
    setenv("OMPI_COMM_WORLD_SIZE", "3", 1);
    CU_ASSERT_TRUE(rn_cluster_launched(&rank, &size));
    CU_ASSERT_EQUAL(rank, 2);
    CU_ASSERT_EQUAL(size, 3);
    setenv("OMPI_COMM_WORLD_SIZE", "1", 1); /* mpirun -n 1: one machine */
    CU_ASSERT_FALSE(rn_cluster_launched(&rank, &size));
    setenv("OMPI_COMM_WORLD_SIZE", "3x", 1);
    CU_ASSERT_FALSE(rn_cluster_launched(&rank, &size));
    unsetenv("OMPI_COMM_WORLD_RANK");
    unsetenv("OMPI_COMM_WORLD_SIZE");
    setenv("PMI_RANK", "1", 1); /* MPICH's Hydra */
    setenv("PMI_SIZE", "2", 1);
    CU_ASSERT_TRUE(rn_cluster_launched(&rank, &size));
    CU_ASSERT_EQUAL(rank, 1);
}

static void test_node_share_env(void)
{
    int local = -1;
    char prefix[128];
    unsetenv("OMPI_COMM_WORLD_LOCAL_RANK");
    unsetenv("MPI_LOCALRANKID");
    unsetenv("PMI_LOCAL_RANK");
    unsetenv("PMIX_NAMESPACE");
    unsetenv("OMPI_MCA_ess_base_jobid");
    unsetenv("PMI_KVSNAME");
    CU_ASSERT_FALSE(rn_cluster_node_share(&local, prefix, sizeof prefix, "pi"));
    setenv("OMPI_COMM_WORLD_LOCAL_RANK", "1", 1);
    CU_ASSERT_FALSE(rn_cluster_node_share(&local, prefix, sizeof prefix, "pi"));
    setenv("PMIX_NAMESPACE", "slurm.pmix.42.0", 1); /* kept: [A-Za-z0-9] */
    CU_ASSERT_TRUE(rn_cluster_node_share(&local, prefix, sizeof prefix, "pi"));
    CU_ASSERT_EQUAL(local, 1);
    CU_ASSERT_STRING_EQUAL(prefix, "pi_jslurmpmix420");
    CU_ASSERT_FALSE(rn_cluster_node_share(&local, prefix, 8, "pi")); /* short */
    setenv("OMPI_COMM_WORLD_LOCAL_RANK", "x", 1);
    CU_ASSERT_FALSE(rn_cluster_node_share(&local, prefix, sizeof prefix, "pi"));
}

int main(int argc, char **argv)
{
    static const pt_test_case cases[] = {
        {"tasks round trip", test_tasks_round_trip, 0},
        {"results round trip", test_results_round_trip, 0},
        {"malformed messages", test_malformed, 0},
        {"takes", test_take, 0},
        {"launcher environment", test_launcher_env, 0},
        {"node-shared segment names", test_node_share_env, 0},
        {NULL, NULL, 0},
    };
    return pt_test_main("cluster", cases, argc, argv);
}
