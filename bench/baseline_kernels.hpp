// The loops of every baseline (baselines.hpp), written once (baseline_kernels.inl) and compiled once per kernel
// set of the library (baseline_kernels_<isa>.cpp, each with that set's flags), as the library's kernels are.
// baselines.cpp picks the set of the best kernel set the library finds this CPU runs.
//   write:  dst = a, or a + b: the stores of copy and read2write1
//   sum:    the sum of a (and of b): the read-only sweeps read1 and read2
//   forward_planes / backward_planes: the least arithmetic a forward or backward of this layer can do, per NCHW
//     plane of `plane` floats, in two sweeps (a reduction, then the elementwise output). Numerically unsafe
//     (one-pass sums, no shift, no merge tree): bounds for the benchmark, not methods.
//       forward:  sum x, sum x^2 (one pass), then y = x * s, s = 1 / sqrt(var + eps)
//       backward: sum dy*x, sum dy (one pass), then dx = a*dy + b*x + c (two FMAs; the layer's b*(x - mean)
//                 folded)
//   channel_sums / channel_elementwise: the same two sweeps over an NHWC sample (`positions` rows of `channels`
//     floats), one statistic per channel over every position; baselines.cpp composes them, so that threads can
//     share a sample's positions. channel_period: the floats after which channels repeat in vectors (the
//     position granule at which a slice of a sample may begin).
// `stream`: non-temporal stores for the vector-aligned body (a scalar head up to a 64-byte aligned output).
#ifndef VARNORM_BENCH_BASELINE_KERNELS_HPP
#define VARNORM_BENCH_BASELINE_KERNELS_HPP

#include <cstddef>

namespace vnbench {

struct baseline_kernels {
  const char* isa;  // the library's kernel set whose flags compiled these loops (a name varnorm_isa_name lists)
  void (*write)(float* dst, const float* a, const float* b, std::size_t count, bool stream);  // b may be NULL
  double (*sum)(const float* a, const float* b, std::size_t count);                           // b may be NULL
  void (*forward_planes)(float* y, const float* x, std::size_t plane, std::size_t planes, bool stream);
  void (*backward_planes)(float* dx, const float* x, const float* dy, std::size_t plane, std::size_t planes,
                          bool stream);
  std::size_t (*channel_period)(std::size_t channels);  // lcm(channels, floats per vector)
  // dot[c] = sum of a*b, sum[c] = sum of b over the positions of channel c (a == b: squares and sum).
  void (*channel_sums)(const float* a, const float* b, std::size_t positions, std::size_t channels, double* dot,
                       double* sum);
  // out = p[c]*u + (q[c]*v + r[c]), or out = p[c]*u when v is NULL (q and r then unused).
  void (*channel_elementwise)(float* out, const float* u, const float* v, std::size_t positions, std::size_t channels,
                              const float* p, const float* q, const float* r, bool stream);
};

// One per kernel set this build compiles (VARNORM_HAVE_<ISA>, from cmake/VarnormKernels.cmake).
#ifdef VARNORM_HAVE_AVX512
namespace baseline_avx512 {
const baseline_kernels& kernels();
}
#endif
#ifdef VARNORM_HAVE_AVX2
namespace baseline_avx2 {
const baseline_kernels& kernels();
}
#endif
#ifdef VARNORM_HAVE_SSE2
namespace baseline_sse2 {
const baseline_kernels& kernels();
}
#endif
#ifdef VARNORM_HAVE_NEON64
namespace baseline_neon64 {
const baseline_kernels& kernels();
}
#endif
namespace baseline_scalar {
const baseline_kernels& kernels();
}

}  // namespace vnbench

#endif  // VARNORM_BENCH_BASELINE_KERNELS_HPP
