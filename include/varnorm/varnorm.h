/* varnorm: VarianceNorm2d and its family (GroupNorm, InstanceNorm2d, LayerNorm; NCSN++ / score-based models)
 * on CPUs.
 *
 * For each sample n and group g (G groups of C/G consecutive channels; by default G = C, one channel each), over
 * the M = (C/G)*H*W values of that group:
 *   mean = sum(x) / M
 *   var  = sum((x - mean)^2) / (M - correction)
 *   rstd = 1 / sqrt(var + eps)
 *   y    = alpha[c] * x * rstd (+ beta[c])             center = 0 (VarianceNorm2d): the mean is NOT subtracted
 *   y    = alpha[c] * (x - mean) * rstd (+ beta[c])    center = 1 (GroupNorm, InstanceNorm2d, LayerNorm)
 * torch.nn.GroupNorm(G, C, eps) is groups = G, center = 1, correction = 0; InstanceNorm2d is groups = 0 (or C),
 * center = 1, correction = 0; LayerNorm over (C, H, W) is groups = 1, center = 1, correction = 0.
 *
 * Every function is thread-safe, never throws and never calls exit. Calls with max_threads = 1, and
 * calls below 131072 elements, perform no heap allocation, take no locks, make no system calls and use at
 * most 40 KiB of the calling thread's stack (optimized builds).
 * A parallel call whose scratch buffers cannot be allocated takes a path without them; only a failure inside
 * oneTBB itself (out of memory for its tasks or threads) ends the process, through std::terminate. */
#ifndef VARNORM_VARNORM_H
#define VARNORM_VARNORM_H

#include <stdint.h>

#define VARNORM_VERSION_MAJOR 0
#define VARNORM_VERSION_MINOR 3
#define VARNORM_VERSION_PATCH 0
/* MAJOR * 10000 + MINOR * 100 + PATCH, for compile-time checks. */
#define VARNORM_VERSION (VARNORM_VERSION_MAJOR * 10000 + VARNORM_VERSION_MINOR * 100 + VARNORM_VERSION_PATCH)

#ifdef __cplusplus
extern "C" {
#endif

typedef enum varnorm_layout { VARNORM_LAYOUT_NCHW = 0, VARNORM_LAYOUT_NHWC = 1 } varnorm_layout;

/* How the statistics are computed: in 16-value segments per vector lane, merged pairwise, or (SHIFTED_SUMS, on
   planes of 1024 values or more) added in double about one shift, the mean of the plane's first row, and once
   more about the plane's mean where that shift lies too far for the promise.
   Every algorithm keeps the same accuracy promise (README.md, "Accuracy"); they differ in speed and in the last
   bits. */
typedef enum varnorm_algorithm {
  VARNORM_ALGORITHM_AUTO = 0,        /* SHIFTED_SUMS, the fastest on every kernel set measured */
  VARNORM_ALGORITHM_TWO_PASS = 1,    /* mean, then squared deviations, over each cache-resident segment */
  VARNORM_ALGORITHM_WELFORD = 2,     /* Welford's running update */
  VARNORM_ALGORITHM_SHIFTED_SUMS = 3 /* sums and sums of squares of x minus a nearby mean */
} varnorm_algorithm;

typedef enum varnorm_status {
  VARNORM_OK = 0,
  VARNORM_ERROR_NULL_POINTER = 1,     /* desc, or a required buffer, is NULL */
  VARNORM_ERROR_INVALID_SHAPE = 2,    /* a negative dimension, or n*c*h*w (or its byte size) overflows */
  VARNORM_ERROR_INVALID_ARGUMENT = 3, /* unknown enum value, eps negative/NaN/inf, correction not 0 or 1,
                                         per_sample_affine not 0 or 1, max_threads < 0, mean without rstd,
                                         unknown ISA name, groups < 0 or not dividing c, center not 0 or 1 */
  VARNORM_ERROR_TOO_FEW_ELEMENTS = 4, /* n*c > 0 and (c/G)*h*w <= correction: the variance is undefined */
  VARNORM_ERROR_OVERLAP = 5,          /* an output partially overlaps an input or another output */
  VARNORM_ERROR_UNSUPPORTED = 6       /* a known ISA that this CPU or build lacks */
} varnorm_status;

typedef struct varnorm_desc {
  int64_t n, c, h, w;
  varnorm_layout layout;
  varnorm_algorithm algorithm; /* how the statistics are computed (see varnorm_algorithm) */
  float eps;                   /* default 1e-5 */
  int32_t correction;          /* 1 (default): unbiased, as torch.var; 0: population, as jnp.var */
  int32_t per_sample_affine;   /* 0 (default): alpha, beta have c values; 1: n*c values, index n*c + ch */
  int32_t max_threads;         /* 0 (default): library default; 1: the calling thread only; k: at most k */
  /* Since 0.3. groups: 0 (default) one group per channel; G > 0: G groups of C/G consecutive channels (C % G != 0
   * is VARNORM_ERROR_INVALID_ARGUMENT). center: 0 (default) the mean is not subtracted (VarianceNorm2d); 1: it is
   * (GroupNorm, InstanceNorm2d, LayerNorm). */
  int32_t groups;
  int32_t center;
} varnorm_desc;

/* A descriptor with the defaults above (AUTO, eps 1e-5, correction 1, per-channel affine, max_threads 0,
 * groups 0, center 0: VarianceNorm2d). */
varnorm_desc varnorm_desc_make(int64_t n, int64_t c, int64_t h, int64_t w, varnorm_layout layout);

/* y = alpha * x * rstd (+ beta), or alpha * (x - mean) * rstd (+ beta) with center = 1. mean and rstd, when
 * given, receive the statistics (n*G values each, index n*G + g in both layouts; G = C when groups is 0).
 * y == x is allowed. */
varnorm_status varnorm_forward(const varnorm_desc* desc, const float* x, const float* alpha,
                               const float* beta /* NULL: no bias */, float* y, float* mean /* NULL or n*c */,
                               float* rstd /* NULL or n*c */);

/* Gradients of varnorm_forward for the upstream gradient dy. mean and rstd are both given (as saved by
 * varnorm_forward) or both NULL (recomputed from x). dalpha and dbeta are overwritten, not accumulated.
 * dx == dy or dx == x is allowed. */
varnorm_status varnorm_backward(const varnorm_desc* desc, const float* x, const float* alpha, const float* dy,
                                const float* mean, const float* rstd /* n*G each; both NULL: recomputed */,
                                float* dx /* NULL: skipped */, float* dalpha /* NULL: skipped */,
                                float* dbeta /* NULL: skipped */);

const char* varnorm_status_string(varnorm_status status); /* never NULL or empty */

/* Kernel set in use: "avx512", "avx2", "sse2", "neon64" or "scalar", always one varnorm_isa_name lists. */
const char* varnorm_isa(void);

/* "auto" or NULL: the best kernel set this CPU supports, the first of varnorm_isa_name's list that
 * varnorm_isa_supported accepts. A name: that set, or VARNORM_ERROR_UNSUPPORTED when varnorm_isa_supported
 * rejects it (also for a set this build left out); an unknown name is VARNORM_ERROR_INVALID_ARGUMENT. Either
 * error keeps the set in use. Forcing one is meant for tests and benchmarks; it applies to every thread of
 * the process. */
varnorm_status varnorm_set_isa(const char* name);

/* How many kernel sets this build has (at least 1), whether or not this CPU can run them. Since 0.2. */
int varnorm_isa_count(void);

/* The name of kernel set `index` (0 <= index < varnorm_isa_count()), best first; the last is "scalar", the
 * portable set every CPU runs. NULL for any other index. The strings are static. Since 0.2. */
const char* varnorm_isa_name(int index);

/* 1 when this CPU and OS can run kernel set `name`, so that varnorm_set_isa(name) succeeds; 0 for a set they
 * cannot run, a set this build left out, an unknown name, "auto" and NULL. Since 0.2. */
int varnorm_isa_supported(const char* name);

/* The library's version as "MAJOR.MINOR.PATCH"; may differ from VARNORM_VERSION if headers and library
 * come from different releases. */
const char* varnorm_version(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* VARNORM_VARNORM_H */
