/*
 * pi - estimates pi by Monte Carlo: the share of random points of the unit
 * square that fall inside the quarter circle x^2 + y^2 <= 1, times 4.
 *
 *   args:    samples  how many points (int >= 1, default 1000000)
 *   results: hits     points inside the quarter circle (int)
 *            samples  points drawn (int)
 *            pi       4 * hits / samples (real)
 *
 * The only randomness is pt_task_seed(), so a task's results depend on the
 * job's seed and the task's id alone, never on which worker ran it or when:
 * xoshiro256** seeded by splitmix64, x and y from the top 53 bits of a draw.
 * Averaging the `pi` of many tasks (of equal `samples`) gives a finer value.
 */
#include <ptools/kernel.h>

/* splitmix64: turns one 64-bit seed into well-mixed generator state. */
static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256** (Blackman and Vigna): fast, with a period of 2^256 - 1. */
static inline uint64_t xoshiro256ss(uint64_t s[4])
{
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

/* A uniform double in [0, 1) from the top 53 bits of a draw. */
static inline double uniform(uint64_t s[4])
{
    return (double)(xoshiro256ss(s) >> 11) * 0x1p-53;
}

static int pi_call(pt_ctx *ctx)
{
    int64_t samples = pt_arg_int(ctx, "samples", 1000000);
    if (samples < 1)
        return pt_fail(ctx, "arg `samples` must be >= 1, not %lld",
                       (long long)samples);
    uint64_t seed = pt_task_seed(ctx), s[4], hits = 0;
    for (int i = 0; i < 4; i++)
        s[i] = splitmix64(&seed);
    for (int64_t i = 0; i < samples; i++) {
        double x = uniform(s), y = uniform(s);
        hits += x * x + y * y <= 1.0;
    }
    int rc = pt_result_int(ctx, "hits", (int64_t)hits);
    if (rc == 0)
        rc = pt_result_int(ctx, "samples", samples);
    if (rc == 0)
        rc = pt_result_real(ctx, "pi", 4.0 * (double)hits / (double)samples);
    return rc;
}

static const pt_kernel pi_kernel = {
    .abi = PT_KERNEL_ABI,
    .name = "pi",
    .doc = "Monte Carlo pi from `samples` points (default 1000000)",
    .call = pi_call,
};

PT_KERNELS(&pi_kernel);
