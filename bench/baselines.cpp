#include "baselines.hpp"

#include <varnorm/varnorm.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "baseline_kernels.hpp"

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

// The baselines compiled for the best kernel set the library finds this CPU runs: built with the same flags, they
// need the same CPU features and register state, which the library checks.
const baseline_kernels& kernels_for_cpu() {
  const baseline_kernels* const compiled[] = {
#ifdef VARNORM_HAVE_AVX512
      &baseline_avx512::kernels(),
#endif
#ifdef VARNORM_HAVE_AVX2
      &baseline_avx2::kernels(),
#endif
#ifdef VARNORM_HAVE_SSE2
      &baseline_sse2::kernels(),
#endif
#ifdef VARNORM_HAVE_NEON64
      &baseline_neon64::kernels(),
#endif
      &baseline_scalar::kernels()};
  for (int i = 0; i < varnorm_isa_count(); ++i) {
    const char* isa = varnorm_isa_name(i);
    if (varnorm_isa_supported(isa) == 0) continue;
    for (const baseline_kernels* set : compiled)
      if (std::strcmp(set->isa, isa) == 0) return *set;
  }
  return baseline_scalar::kernels();
}

const baseline_kernels& kKernels = kernels_for_cpu();

void copy_slice(float* dst, const float* a, const float*, std::size_t count, bool stream) {
  if (!stream) {
    std::memcpy(dst, a, count * sizeof(float));  // glibc's own best regular copy
    return;
  }
  kKernels.write(dst, a, nullptr, count, stream);
}

void add_slice(float* dst, const float* a, const float* b, std::size_t count, bool stream) {
  kKernels.write(dst, a, b, count, stream);
}

template <std::size_t Inputs>
double sum_slice(const float* const (&in)[Inputs], std::size_t count) {
  return kKernels.sum(in[0], Inputs == 2 ? in[Inputs - 1] : nullptr, count);
}

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

void minimal_forward(float* y, const float* x, std::size_t plane, std::size_t planes, int threads, bool stream) {
  for_slices(
      planes, threads,
      [&](std::size_t begin, std::size_t end, std::size_t) {
        kKernels.forward_planes(y + begin * plane, x + begin * plane, plane, end - begin, stream);
      },
      1);
}

void minimal_backward(float* dx, const float* x, const float* dy, std::size_t plane, std::size_t planes, int threads,
                      bool stream) {
  for_slices(
      planes, threads,
      [&](std::size_t begin, std::size_t end, std::size_t) {
        const std::size_t at = begin * plane;
        kKernels.backward_planes(dx + at, x + at, dy + at, plane, end - begin, stream);
      },
      1);
}

const char* baseline_isa() { return kKernels.isa; }

}  // namespace vnbench
