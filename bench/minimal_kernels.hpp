// The least arithmetic a forward or backward of this layer can do, per NCHW plane of `plane` floats, in two
// sweeps (a reduction, then the elementwise output), written once (minimal_kernels.inl) and compiled per
// vector width. Numerically unsafe (one-pass sum of squares, no shift, no merge tree): they are bounds for the
// benchmark, not methods. Non-temporal stores for the vector-aligned body when `stream`.
//   forward:  sum x, sum x^2 (one pass), then y = x * s, s = 1 / sqrt(var + eps)
//   backward: sum dy*x, sum dy (one pass), then dx = a*dy + b*x + c (two FMAs; the layer's b*(x - mean) folded)
#ifndef VARNORM_BENCH_MINIMAL_KERNELS_HPP
#define VARNORM_BENCH_MINIMAL_KERNELS_HPP

#include <cstddef>

#define VARNORM_BENCH_DECLARE_MINIMAL(ns)                                                                       \
  namespace ns {                                                                                                \
  void forward_planes(float* y, const float* x, std::size_t plane, std::size_t planes, bool stream);           \
  void backward_planes(float* dx, const float* x, const float* dy, std::size_t plane, std::size_t planes,      \
                       bool stream);                                                                            \
  }

namespace vnbench {
#if defined(__x86_64__) || defined(_M_X64)
VARNORM_BENCH_DECLARE_MINIMAL(minimal_avx512)
VARNORM_BENCH_DECLARE_MINIMAL(minimal_avx2)
VARNORM_BENCH_DECLARE_MINIMAL(minimal_sse2)
#else
VARNORM_BENCH_DECLARE_MINIMAL(minimal_portable)
#endif
}  // namespace vnbench

#undef VARNORM_BENCH_DECLARE_MINIMAL

#endif  // VARNORM_BENCH_MINIMAL_KERNELS_HPP
