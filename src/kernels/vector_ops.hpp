// The handful of vector operations the kernels are written in, for an xsimd architecture or for plain
// floats (the portable "scalar" kernel set). Each kernel translation unit picks one `kernel_arch`.
#pragma once

#include <cmath>
#include <cstring>
#include <type_traits>
#include <utility>

#ifndef VARNORM_KERNEL_SCALAR
#include <xsimd/xsimd.hpp>
#endif

namespace varnorm::detail {

// Internal linkage, and with it vector_ops<scalar_arch>: every kernel set finishes its last groups with it, and
// each set's copy must stay its own (compiled with that set's flags).
namespace {
struct scalar_arch {};
}  // namespace

template <class Arch>
struct vector_ops;

template <>
struct vector_ops<scalar_arch> {
  using vec = float;
  using dvec = double;  // doubles, for finishing statistics
  static constexpr int width = 1;
  static constexpr int double_width = 1;
  static vec load(const float* p) noexcept { return *p; }
  static void store(float* p, vec v) noexcept { *p = v; }
  static vec splat(float v) noexcept { return v; }
  // No fused multiply-add: the portable set must not depend on FMA hardware (nor call libm's fma).
  static vec fma(vec a, vec b, vec c) noexcept { return a * b + c; }
  static constexpr bool has_streaming_store = false;
  static void stream(float* p, vec v) noexcept { *p = v; }
  static void stream_fence() noexcept {}
  static dvec load(const double* p) noexcept { return *p; }
  static void store(double* p, dvec v) noexcept { *p = v; }
  static dvec splat(double v) noexcept { return v; }
  static dvec sqrt(dvec v) noexcept { return std::sqrt(v); }
  static dvec load_widened(const float* p) noexcept { return *p; }
  static double reduce_add(dvec v) noexcept { return v; }
  template <class Lane>
  static dvec from_lanes(Lane&& lane) noexcept {
    return lane(0);
  }
  using dmask = bool;
  static dmask finite(dvec v) noexcept { return std::isfinite(v); }
  static dvec select(dmask m, dvec a, dvec b) noexcept { return m ? a : b; }
  static bool any(dmask m) noexcept { return m; }
  static void store_narrowed(float* p, dvec v) noexcept { *p = static_cast<float>(v); }
  static vec first_lanes(int count, vec a, vec b) noexcept { return count > 0 ? a : b; }
  static void transpose(vec*) noexcept {}
};

#ifndef VARNORM_KERNEL_SCALAR
namespace {  // internal linkage: each kernel set's object keeps its own copy
// Lane numbers, compared against a count for lane masks.
alignas(64) constexpr float kLaneIndices[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
}  // namespace

template <class Arch>
struct vector_ops {
  using vec = xsimd::batch<float, Arch>;
  using dvec = xsimd::batch<double, Arch>;  // doubles, for finishing statistics
  static constexpr int width = static_cast<int>(vec::size);
  static constexpr int double_width = static_cast<int>(dvec::size);
#if XSIMD_WITH_AVX512F
  static constexpr bool is_avx512 = std::is_base_of<xsimd::avx512f, Arch>::value;
#else
  static constexpr bool is_avx512 = false;
#endif
#if XSIMD_WITH_AVX
  static constexpr bool is_avx = std::is_base_of<xsimd::avx, Arch>::value;
#else
  static constexpr bool is_avx = false;
#endif
  static vec load(const float* p) noexcept { return vec::load_unaligned(p); }
  static void store(float* p, vec v) noexcept { v.store_unaligned(p); }
  static vec splat(float v) noexcept { return vec(v); }
  static dvec load(const double* p) noexcept { return dvec::load_unaligned(p); }
  static void store(double* p, dvec v) noexcept { v.store_unaligned(p); }
  static dvec splat(double v) noexcept { return dvec(v); }
  // double_width floats, each widened to double (exactly); store_narrowed rounds each double to float as a
  // scalar conversion does. Instructions for every architecture: xsimd 8.1's load_as goes through a store and a
  // reload on AVX and AVX-512, and GCC 12 folds a vectorized narrowing followed by a widening into nothing, which
  // would drop the rounding of a centring's float mean.
  static dvec load_widened(const float* p) noexcept {
    if constexpr (is_avx512) {
#if XSIMD_WITH_AVX512F
      // Masked, as in sqrt: the unmasked conversion starts from _mm512_undefined_pd.
      return dvec(_mm512_maskz_cvtps_pd(0xFF, _mm256_loadu_ps(p)));
#endif
    } else if constexpr (is_avx) {
#if XSIMD_WITH_AVX
      return dvec(_mm256_cvtps_pd(_mm_loadu_ps(p)));
#endif
    } else {
#if XSIMD_WITH_SSE2
      return dvec(_mm_cvtps_pd(_mm_loadl_pi(_mm_setzero_ps(), reinterpret_cast<const __m64*>(p))));
#elif XSIMD_WITH_NEON64
      return dvec(vcvt_f64_f32(vld1_f32(p)));
#endif
    }
  }
  static void store_narrowed(float* p, dvec v) noexcept {
    if constexpr (is_avx512) {
#if XSIMD_WITH_AVX512F
      _mm256_storeu_ps(p, _mm512_maskz_cvtpd_ps(0xFF, v));
#endif
    } else if constexpr (is_avx) {
#if XSIMD_WITH_AVX
      _mm_storeu_ps(p, _mm256_cvtpd_ps(v));
#endif
    } else {
#if XSIMD_WITH_SSE2
      _mm_storel_pi(reinterpret_cast<__m64*>(p), _mm_cvtpd_ps(v));
#elif XSIMD_WITH_NEON64
      vst1_f32(p, vcvt_f32_f64(v));
#endif
    }
  }
  // The sum of the lanes, as a tree in the order xsimd's hadd takes them on this architecture.
  static double reduce_add(dvec v) noexcept {
#if XSIMD_WITH_AVX512F
    // xsimd's AVX-512 hadd calls _mm512_extractf64x4_pd, which GCC 12 defines over _mm512_undefined_pd and then
    // reports as maybe uninitialized; masked extracts take their inactive lanes from an operand.
    if constexpr (is_avx512) {
      const __m256d zero = _mm256_setzero_pd();
      const __m256d halves =
          _mm256_add_pd(_mm512_mask_extractf64x4_pd(zero, 0xF, v, 1), _mm512_mask_extractf64x4_pd(zero, 0xF, v, 0));
      return xsimd::hadd(xsimd::batch<double, xsimd::avx2>(halves));
    }
#endif
    return xsimd::hadd(v);
  }
  // Lane l is lane(l): values that are not adjacent in memory, without a store and a reload.
  template <class Lane>
  static dvec from_lanes(Lane&& lane) noexcept {
    return from_lanes(lane, std::make_integer_sequence<int, double_width>{});
  }
  template <class Lane, int... L>
  static dvec from_lanes(Lane&& lane, std::integer_sequence<int, L...>) noexcept {
    return dvec(typename dvec::register_type{lane(L)...});  // GCC and Clang vector types take lane lists
  }
  using dmask = typename dvec::batch_bool_type;
  static dmask finite(dvec v) noexcept { return xsimd::isfinite(v); }
  static dvec select(dmask m, dvec a, dvec b) noexcept { return xsimd::select(m, a, b); }
  static bool any(dmask m) noexcept { return xsimd::any(m); }
  // Correctly rounded, as the scalar sqrt and divide are: the same bits either way.
  static dvec sqrt(dvec v) noexcept {
#if XSIMD_WITH_AVX512F
    // _mm512_sqrt_pd (xsimd's) starts from _mm512_undefined_pd, which GCC 12 reports as maybe uninitialized.
    if constexpr (is_avx512) return dvec(_mm512_maskz_sqrt_pd(0xFF, v));
#endif
    return xsimd::sqrt(v);
  }
  // Lanes [0, count) from a, the others from b.
  static vec first_lanes(int count, vec a, vec b) noexcept {
    static_assert(width <= 16, "kLaneIndices holds one vector");
    return xsimd::select(vec::load_aligned(kLaneIndices) < splat(static_cast<float>(count)), a, b);
  }
  // Lanes 0, 1 (zip_lo) or 2, 3 (zip_hi) of each 128-bit lane of a and b, interleaved.
  static vec zip_lo(vec a, vec b) noexcept {
#if XSIMD_WITH_AVX512F
    // _mm512_unpacklo_ps (xsimd's) starts from _mm512_undefined_ps, which GCC 12 reports as maybe uninitialized.
    if constexpr (is_avx512) return vec(_mm512_mask_unpacklo_ps(a, 0xFFFF, a, b));
#endif
    return xsimd::zip_lo(a, b);
  }
  static vec zip_hi(vec a, vec b) noexcept {
#if XSIMD_WITH_AVX512F
    if constexpr (is_avx512) return vec(_mm512_mask_unpackhi_ps(a, 0xFFFF, a, b));
#endif
    return xsimd::zip_hi(a, b);
  }
  // Transposes the W x W floats of rows[0, W): lane j of rows[i] and lane i of rows[j] trade places.
  static void transpose(vec* rows) noexcept {
    // Each 128-bit lane of four rows as a 4x4 block (the zips stay within 128-bit lanes).
    for (int q = 0; q < width; q += 4) {
      vec* r = rows + q;
      const vec t0 = zip_lo(r[0], r[2]), t1 = zip_hi(r[0], r[2]);
      const vec t2 = zip_lo(r[1], r[3]), t3 = zip_hi(r[1], r[3]);
      r[0] = zip_lo(t0, t2);
      r[1] = zip_hi(t0, t2);
      r[2] = zip_lo(t1, t3);
      r[3] = zip_hi(t1, t3);
    }
    // Then the 128-bit blocks: block b of row 4a + k trades places with block a of row 4b + k.
    if constexpr (is_avx512) {
#if XSIMD_WITH_AVX512F
      // Masked shuffles, as in zip_lo: the unmasked ones start from _mm512_undefined_ps.
      for (int k = 0; k < 4; ++k) {
        const __m512 t0 = _mm512_mask_shuffle_f32x4(rows[k], 0xFFFF, rows[k], rows[4 + k], 0x44);
        const __m512 t1 = _mm512_mask_shuffle_f32x4(rows[k], 0xFFFF, rows[k], rows[4 + k], 0xEE);
        const __m512 t2 = _mm512_mask_shuffle_f32x4(rows[8 + k], 0xFFFF, rows[8 + k], rows[12 + k], 0x44);
        const __m512 t3 = _mm512_mask_shuffle_f32x4(rows[8 + k], 0xFFFF, rows[8 + k], rows[12 + k], 0xEE);
        rows[k] = _mm512_mask_shuffle_f32x4(t0, 0xFFFF, t0, t2, 0x88);
        rows[4 + k] = _mm512_mask_shuffle_f32x4(t0, 0xFFFF, t0, t2, 0xDD);
        rows[8 + k] = _mm512_mask_shuffle_f32x4(t1, 0xFFFF, t1, t3, 0x88);
        rows[12 + k] = _mm512_mask_shuffle_f32x4(t1, 0xFFFF, t1, t3, 0xDD);
      }
#endif
    } else if constexpr (is_avx) {
#if XSIMD_WITH_AVX
      for (int k = 0; k < 4; ++k) {
        const __m256 low = _mm256_permute2f128_ps(rows[k], rows[4 + k], 0x20);
        rows[4 + k] = _mm256_permute2f128_ps(rows[k], rows[4 + k], 0x31);
        rows[k] = low;
      }
#endif
    }
    static_assert(width == 4 || width == 8 || width == 16, "a vector of one, two or four 128-bit lanes");
  }
  static vec fma(vec a, vec b, vec c) noexcept {
#if XSIMD_WITH_AVX512F
    // xsimd 8.1 has no AVX-512 fma kernel and falls back to a * b + c (two roundings, two instructions).
    if constexpr (is_avx512) return vec(_mm512_fmadd_ps(a, b, c));
#endif
    return xsimd::fma(a, b, c);
  }

  // Non-temporal stores of a full vector to a vector-aligned address: output that will not fit in cache
  // goes straight to memory instead of being read in first (write-allocate) and evicting useful lines.
#if XSIMD_WITH_SSE2
  static constexpr bool has_streaming_store = true;
  static void stream(float* p, vec v) noexcept {
    if constexpr (is_avx512) {
#if XSIMD_WITH_AVX512F
      _mm512_stream_ps(p, v);
#endif
    } else if constexpr (is_avx) {
#if XSIMD_WITH_AVX
      _mm256_stream_ps(p, v);
#endif
    } else {
      _mm_stream_ps(p, v);
    }
  }
  // Streaming stores are weakly ordered: fence before another thread may read the output.
  static void stream_fence() noexcept { _mm_sfence(); }
#else
  static constexpr bool has_streaming_store = false;
  static void stream(float* p, vec v) noexcept { store(p, v); }
  static void stream_fence() noexcept {}
#endif
};
#endif

}  // namespace varnorm::detail
