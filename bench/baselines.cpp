#include "baselines.hpp"

#include "minimal_kernels.hpp"

#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define VARNORM_BENCH_X86 1
#endif

#ifdef VARNORM_BENCH_HAVE_TBB
#include <memory>
#include <mutex>

#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>
#include <tbb/task_arena.h>
#endif

namespace vnbench {
namespace {

// One slice of work on the calling thread. `stream`: non-temporal stores for the aligned body.
using SliceFn = void (*)(float* dst, const float* a, const float* b, std::size_t count, bool stream);

#ifdef VARNORM_BENCH_X86

// Scalar head until dst is 64-byte aligned (count of floats to do first).
inline std::size_t head_to_align(const float* dst, std::size_t count) {
  const auto misalign = reinterpret_cast<std::uintptr_t>(dst) % 64;
  const std::size_t head = misalign == 0 ? 0 : (64 - misalign) / sizeof(float);
  return head < count ? head : count;
}

// dst = a (Inputs 1: copy) or dst = a + b (Inputs 2: read2write1): a scalar head up to a 64-byte aligned dst,
// the vector body (non-temporal stores when `stream`), a scalar tail.
template <std::size_t Inputs>
float element(const float* a, const float* b, std::size_t i) {
  if constexpr (Inputs == 2) return a[i] + b[i];
  return a[i];
}

template <std::size_t Inputs>
__attribute__((target("avx512f"))) void write_avx512(float* dst, const float* a, const float* b, std::size_t count,
                                                     bool stream) {
  std::size_t i = head_to_align(dst, count);
  for (std::size_t j = 0; j < i; ++j) dst[j] = element<Inputs>(a, b, j);
  if (stream) {
    for (; i + 16 <= count; i += 16) {
      __m512 v = _mm512_loadu_ps(a + i);
      if constexpr (Inputs == 2) v = _mm512_add_ps(v, _mm512_loadu_ps(b + i));
      _mm512_stream_ps(dst + i, v);
    }
    _mm_sfence();
  } else {
    for (; i + 16 <= count; i += 16) {
      __m512 v = _mm512_loadu_ps(a + i);
      if constexpr (Inputs == 2) v = _mm512_add_ps(v, _mm512_loadu_ps(b + i));
      _mm512_store_ps(dst + i, v);
    }
  }
  for (; i < count; ++i) dst[i] = element<Inputs>(a, b, i);
}

template <std::size_t Inputs>
__attribute__((target("avx2"))) void write_avx2(float* dst, const float* a, const float* b, std::size_t count,
                                                bool stream) {
  std::size_t i = head_to_align(dst, count);
  for (std::size_t j = 0; j < i; ++j) dst[j] = element<Inputs>(a, b, j);
  if (stream) {
    for (; i + 8 <= count; i += 8) {
      __m256 v = _mm256_loadu_ps(a + i);
      if constexpr (Inputs == 2) v = _mm256_add_ps(v, _mm256_loadu_ps(b + i));
      _mm256_stream_ps(dst + i, v);
    }
    _mm_sfence();
  } else {
    for (; i + 8 <= count; i += 8) {
      __m256 v = _mm256_loadu_ps(a + i);
      if constexpr (Inputs == 2) v = _mm256_add_ps(v, _mm256_loadu_ps(b + i));
      _mm256_store_ps(dst + i, v);
    }
  }
  for (; i < count; ++i) dst[i] = element<Inputs>(a, b, i);
}

template <std::size_t Inputs>
void write_sse2(float* dst, const float* a, const float* b, std::size_t count, bool stream) {
  std::size_t i = head_to_align(dst, count);
  for (std::size_t j = 0; j < i; ++j) dst[j] = element<Inputs>(a, b, j);
  if (stream) {
    for (; i + 4 <= count; i += 4) {
      __m128 v = _mm_loadu_ps(a + i);
      if constexpr (Inputs == 2) v = _mm_add_ps(v, _mm_loadu_ps(b + i));
      _mm_stream_ps(dst + i, v);
    }
    _mm_sfence();
  } else {
    for (; i + 4 <= count; i += 4) {
      __m128 v = _mm_loadu_ps(a + i);
      if constexpr (Inputs == 2) v = _mm_add_ps(v, _mm_loadu_ps(b + i));
      _mm_store_ps(dst + i, v);
    }
  }
  for (; i < count; ++i) dst[i] = element<Inputs>(a, b, i);
}

// Read-only sums of Inputs arrays (read1: x; read2: x and dy), all at the same offsets: 8 independent
// accumulators per input (enough loads in flight to reach the load ports' throughput), a single-vector loop
// for the rest, a scalar tail; each input's accumulators are added in double at the end, and the inputs' sums
// added together. The loops over inputs and accumulators have constant trip counts: the compiler unrolls
// them and keeps the accumulators in registers (16 of them for two inputs: AVX-512 has 32 vector registers,
// AVX2 16 with the loads folded into the adds; SSE2 cannot fold unaligned loads, so with two inputs GCC keeps
// one of its 16 accumulators on the stack).
template <std::size_t Lanes>
double horizontal(const float (&lanes)[Lanes]) {
  double total = 0.0;
  for (float v : lanes) total += static_cast<double>(v);
  return total;
}

template <std::size_t Inputs>
double scalar_tail(const float* const (&in)[Inputs], std::size_t i, std::size_t count) {
  double total = 0.0;
  for (; i < count; ++i)
    for (std::size_t p = 0; p < Inputs; ++p) total += static_cast<double>(in[p][i]);
  return total;
}

template <std::size_t Inputs>
__attribute__((target("avx512f"))) double sum_avx512(const float* const (&in)[Inputs], std::size_t count) {
  __m512 acc[Inputs][8];
  for (std::size_t p = 0; p < Inputs; ++p)
    for (std::size_t k = 0; k < 8; ++k) acc[p][k] = _mm512_setzero_ps();
  std::size_t i = 0;
  for (; i + 128 <= count; i += 128)
    for (std::size_t p = 0; p < Inputs; ++p)
      for (std::size_t k = 0; k < 8; ++k) acc[p][k] = _mm512_add_ps(acc[p][k], _mm512_loadu_ps(in[p] + i + 16 * k));
  for (; i + 16 <= count; i += 16)
    for (std::size_t p = 0; p < Inputs; ++p) acc[p][0] = _mm512_add_ps(acc[p][0], _mm512_loadu_ps(in[p] + i));
  double total = 0.0;
  for (std::size_t p = 0; p < Inputs; ++p) {
    const __m512* a = acc[p];
    const __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a[0], a[1]), _mm512_add_ps(a[2], a[3])),
                                   _mm512_add_ps(_mm512_add_ps(a[4], a[5]), _mm512_add_ps(a[6], a[7])));
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, s);
    total += horizontal(lanes);
  }
  return total + scalar_tail(in, i, count);
}

template <std::size_t Inputs>
__attribute__((target("avx2"))) double sum_avx2(const float* const (&in)[Inputs], std::size_t count) {
  __m256 acc[Inputs][8];
  for (std::size_t p = 0; p < Inputs; ++p)
    for (std::size_t k = 0; k < 8; ++k) acc[p][k] = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 64 <= count; i += 64)
    for (std::size_t p = 0; p < Inputs; ++p)
      for (std::size_t k = 0; k < 8; ++k) acc[p][k] = _mm256_add_ps(acc[p][k], _mm256_loadu_ps(in[p] + i + 8 * k));
  for (; i + 8 <= count; i += 8)
    for (std::size_t p = 0; p < Inputs; ++p) acc[p][0] = _mm256_add_ps(acc[p][0], _mm256_loadu_ps(in[p] + i));
  double total = 0.0;
  for (std::size_t p = 0; p < Inputs; ++p) {
    const __m256* a = acc[p];
    const __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3])),
                                   _mm256_add_ps(_mm256_add_ps(a[4], a[5]), _mm256_add_ps(a[6], a[7])));
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, s);
    total += horizontal(lanes);
  }
  return total + scalar_tail(in, i, count);
}

template <std::size_t Inputs>
double sum_sse2(const float* const (&in)[Inputs], std::size_t count) {
  __m128 acc[Inputs][8];
  for (std::size_t p = 0; p < Inputs; ++p)
    for (std::size_t k = 0; k < 8; ++k) acc[p][k] = _mm_setzero_ps();
  std::size_t i = 0;
  for (; i + 32 <= count; i += 32)
    for (std::size_t p = 0; p < Inputs; ++p)
      for (std::size_t k = 0; k < 8; ++k) acc[p][k] = _mm_add_ps(acc[p][k], _mm_loadu_ps(in[p] + i + 4 * k));
  for (; i + 4 <= count; i += 4)
    for (std::size_t p = 0; p < Inputs; ++p) acc[p][0] = _mm_add_ps(acc[p][0], _mm_loadu_ps(in[p] + i));
  double total = 0.0;
  for (std::size_t p = 0; p < Inputs; ++p) {
    const __m128* a = acc[p];
    const __m128 s = _mm_add_ps(_mm_add_ps(_mm_add_ps(a[0], a[1]), _mm_add_ps(a[2], a[3])),
                                _mm_add_ps(_mm_add_ps(a[4], a[5]), _mm_add_ps(a[6], a[7])));
    alignas(16) float lanes[4];
    _mm_store_ps(lanes, s);
    total += horizontal(lanes);
  }
  return total + scalar_tail(in, i, count);
}

enum class Isa { sse2, avx2, avx512 };

Isa detect() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return Isa::avx512;
  if (__builtin_cpu_supports("avx2")) return Isa::avx2;
  return Isa::sse2;
}

const Isa kIsa = detect();

void copy_slice(float* dst, const float* a, const float* b, std::size_t count, bool stream) {
  if (!stream) {
    std::memcpy(dst, a, count * sizeof(float));  // glibc's own best regular copy
    return;
  }
  switch (kIsa) {
    case Isa::avx512: write_avx512<1>(dst, a, b, count, stream); break;
    case Isa::avx2: write_avx2<1>(dst, a, b, count, stream); break;
    default: write_sse2<1>(dst, a, b, count, stream); break;
  }
}

void add_slice(float* dst, const float* a, const float* b, std::size_t count, bool stream) {
  switch (kIsa) {
    case Isa::avx512: write_avx512<2>(dst, a, b, count, stream); break;
    case Isa::avx2: write_avx2<2>(dst, a, b, count, stream); break;
    default: write_sse2<2>(dst, a, b, count, stream); break;
  }
}

template <std::size_t Inputs>
double sum_slice(const float* const (&in)[Inputs], std::size_t count) {
  switch (kIsa) {
    case Isa::avx512: return sum_avx512(in, count);
    case Isa::avx2: return sum_avx2(in, count);
    default: return sum_sse2(in, count);
  }
}

#else  // portable fallback: the compiler vectorizes what it can

void copy_slice(float* dst, const float* a, const float*, std::size_t count, bool) {
  std::memcpy(dst, a, count * sizeof(float));
}

void add_slice(float* dst, const float* a, const float* b, std::size_t count, bool) {
  for (std::size_t i = 0; i < count; ++i) dst[i] = a[i] + b[i];
}

// 8 independent accumulators per input: without -ffast-math the compiler keeps the order of one
// accumulator's adds, so this is what gives the loop its parallelism.
template <std::size_t Inputs>
double sum_slice(const float* const (&in)[Inputs], std::size_t count) {
  float acc[Inputs][8] = {};
  std::size_t i = 0;
  for (; i + 8 <= count; i += 8)
    for (std::size_t p = 0; p < Inputs; ++p)
      for (std::size_t k = 0; k < 8; ++k) acc[p][k] += in[p][i + k];
  double total = 0.0;
  for (std::size_t p = 0; p < Inputs; ++p)
    for (float v : acc[p]) total += static_cast<double>(v);
  for (; i < count; ++i)
    for (std::size_t p = 0; p < Inputs; ++p) total += static_cast<double>(in[p][i]);
  return total;
}

#endif

#ifdef VARNORM_BENCH_HAVE_TBB
// One arena per thread count, created on first use and never destroyed (as the library's: no static
// destruction order issue with TBB's globals at exit).
tbb::task_arena& arena_for(int threads) {
  static std::mutex guard;
  static std::vector<tbb::task_arena*> arenas;
  std::lock_guard<std::mutex> lock(guard);
  if (arenas.size() <= static_cast<std::size_t>(threads)) arenas.resize(static_cast<std::size_t>(threads) + 1);
  tbb::task_arena*& slot = arenas[static_cast<std::size_t>(threads)];
  if (slot == nullptr) {
    auto created = std::make_unique<tbb::task_arena>(threads);
    created->initialize();
    slot = created.release();
  }
  return *slot;
}
#endif

// Calls fn(begin, end, part) for `threads` equal contiguous slices of [0, count), boundaries on multiples of
// `granule` (16 floats: 64 bytes; 1 for whole planes), one slice per thread of the arena; threads <= 1:
// fn(0, count, 0) on the caller.
template <class Fn>
void for_slices(std::size_t count, int threads, const Fn& fn, std::size_t granule = 16) {
#ifdef VARNORM_BENCH_HAVE_TBB
  if (threads > 1) {
    const auto parts = static_cast<std::size_t>(threads);
    arena_for(threads).execute([&] {
      tbb::parallel_for(
          std::size_t{0}, parts,
          [&](std::size_t p) {
            const std::size_t begin = (count * p / parts) / granule * granule;
            const std::size_t end = p + 1 == parts ? count : (count * (p + 1) / parts) / granule * granule;
            if (end > begin) fn(begin, end, p);
          },
          tbb::static_partitioner());
    });
    return;
  }
#else
  (void)threads;
#endif
  fn(std::size_t{0}, count, std::size_t{0});
}

// The sum of Inputs arrays over [0, count) (read-only: the inputs' sums added), one slice per thread.
template <std::size_t Inputs>
double read_sweep(const float* const (&in)[Inputs], std::size_t count, int threads) {
  if (threads <= 1) return sum_slice(in, count);
  std::vector<double> partial(static_cast<std::size_t>(threads), 0.0);
  for_slices(count, threads, [&](std::size_t begin, std::size_t end, std::size_t p) {
    const float* slice[Inputs];
    for (std::size_t q = 0; q < Inputs; ++q) slice[q] = in[q] + begin;
    partial[p] = sum_slice(slice, end - begin);
  });
  double total = 0.0;
  for (double v : partial) total += v;
  return total;
}

void run(SliceFn fn, float* dst, const float* a, const float* b, std::size_t count, int threads, bool stream) {
  for_slices(count, threads, [&](std::size_t begin, std::size_t end, std::size_t) {
    fn(dst + begin, a + begin, b == nullptr ? nullptr : b + begin, end - begin, stream);
  });
}

}  // namespace

void copy_floats(float* dst, const float* src, std::size_t count, int threads, bool stream) {
  run(copy_slice, dst, src, nullptr, count, threads, stream);
}

void read2write1(float* dst, const float* a, const float* b, std::size_t count, int threads, bool stream) {
  run(add_slice, dst, a, b, count, threads, stream);
}

double read_floats(const float* src, std::size_t count, int threads) {
  const float* const in[1] = {src};
  return read_sweep(in, count, threads);
}

double read2_floats(const float* a, const float* b, std::size_t count, int threads) {
  const float* const in[2] = {a, b};
  return read_sweep(in, count, threads);
}

namespace {

using MinimalForward = void (*)(float*, const float*, std::size_t, std::size_t, bool);
using MinimalBackward = void (*)(float*, const float*, const float*, std::size_t, std::size_t, bool);

#ifdef VARNORM_BENCH_X86
MinimalForward minimal_forward_for_cpu() {
  switch (kIsa) {
    case Isa::avx512: return minimal_avx512::forward_planes;
    case Isa::avx2: return minimal_avx2::forward_planes;
    default: return minimal_sse2::forward_planes;
  }
}
MinimalBackward minimal_backward_for_cpu() {
  switch (kIsa) {
    case Isa::avx512: return minimal_avx512::backward_planes;
    case Isa::avx2: return minimal_avx2::backward_planes;
    default: return minimal_sse2::backward_planes;
  }
}
#else
MinimalForward minimal_forward_for_cpu() { return minimal_portable::forward_planes; }
MinimalBackward minimal_backward_for_cpu() { return minimal_portable::backward_planes; }
#endif

}  // namespace

void minimal_forward(float* y, const float* x, std::size_t plane, std::size_t planes, int threads, bool stream) {
  static const MinimalForward kernel = minimal_forward_for_cpu();
  for_slices(
      planes, threads,
      [&](std::size_t begin, std::size_t end, std::size_t) {
        kernel(y + begin * plane, x + begin * plane, plane, end - begin, stream);
      },
      1);
}

void minimal_backward(float* dx, const float* x, const float* dy, std::size_t plane, std::size_t planes,
                      int threads, bool stream) {
  static const MinimalBackward kernel = minimal_backward_for_cpu();
  for_slices(
      planes, threads,
      [&](std::size_t begin, std::size_t end, std::size_t) {
        const std::size_t at = begin * plane;
        kernel(dx + at, x + at, dy + at, plane, end - begin, stream);
      },
      1);
}

const char* baseline_isa() {
#ifdef VARNORM_BENCH_X86
  switch (kIsa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "sse2";
  }
#else
  return "portable";
#endif
}

}  // namespace vnbench
