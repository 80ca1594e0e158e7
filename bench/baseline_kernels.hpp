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
