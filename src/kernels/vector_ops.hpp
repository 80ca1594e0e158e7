// The handful of vector operations the kernels are written in, for an xsimd architecture or for plain
// floats (the portable "scalar" kernel set). Each kernel translation unit picks one `kernel_arch`.
#pragma once

#include <cstring>
#include <type_traits>

#ifndef VARNORM_KERNEL_SCALAR
#include <xsimd/xsimd.hpp>
#endif

namespace varnorm::detail {

struct scalar_arch {};

template <class Arch>
struct vector_ops;

template <>
struct vector_ops<scalar_arch> {
  using vec = float;
  static constexpr int width = 1;
  static vec load(const float* p) noexcept { return *p; }
  static void store(float* p, vec v) noexcept { *p = v; }
  static vec splat(float v) noexcept { return v; }
  // No fused multiply-add: the portable set must not depend on FMA hardware (nor call libm's fma).
  static vec fma(vec a, vec b, vec c) noexcept { return a * b + c; }
};

#ifndef VARNORM_KERNEL_SCALAR
template <class Arch>
struct vector_ops {
  using vec = xsimd::batch<float, Arch>;
  static constexpr int width = static_cast<int>(vec::size);
  static vec load(const float* p) noexcept { return vec::load_unaligned(p); }
  static void store(float* p, vec v) noexcept { v.store_unaligned(p); }
  static vec splat(float v) noexcept { return vec(v); }
  static vec fma(vec a, vec b, vec c) noexcept {
#if XSIMD_WITH_AVX512F
    // xsimd 8.1 has no AVX-512 fma kernel and falls back to a * b + c (two roundings, two instructions).
    if constexpr (std::is_base_of<xsimd::avx512f, Arch>::value) return vec(_mm512_fmadd_ps(a, b, c));
#endif
    return xsimd::fma(a, b, c);
  }
};
#endif

}  // namespace varnorm::detail
