#include "baselines.hpp"

#include <varnorm/varnorm.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
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

// The minimal layer's per-channel coefficients from its sums over m values (dot: sum x^2 forward, sum dy*x
// backward; sum: sum x, sum dy): forward p = 1 / sqrt(var + eps); backward p = 1 and the planes' stand-ins q, r.
void minimal_coefficients(bool backward, const double* dot, const double* sum, std::size_t channels, double m, float* p,
                          float* q, float* r) {
  for (std::size_t c = 0; c < channels; ++c) {
    if (!backward) {
      const double var = (dot[c] - sum[c] * sum[c] / m) / (m - 1.0);
      p[c] = static_cast<float>(1.0 / std::sqrt(std::fabs(var) + 1e-5));
      continue;
    }
    const double b = -dot[c] / (m * m);
    p[c] = 1.0f;
    q[c] = static_cast<float>(b);
    r[c] = static_cast<float>(-b * sum[c] / m);
  }
}

// Each thread's sums and coefficients, grown on first use (no allocation once warm).
struct channel_scratch {
  std::vector<double> dot, sum;
  std::vector<float> p, q, r;
  void fit(std::size_t channels) {
    if (dot.size() >= channels) return;
    dot.resize(channels);
    sum.resize(channels);
    p.resize(channels);
    q.resize(channels);
    r.resize(channels);
  }
};

channel_scratch& scratch_for_thread(std::size_t channels) {
  static thread_local channel_scratch scratch;
  scratch.fit(channels);
  return scratch;
}

// The minimal layer over NHWC samples: forward sums x^2 and x per channel, then y = p*x; backward sums dy*x and
// dy, then dx = p*dy + (q*x + r). Whole samples per thread when there are at least as many as threads;
// otherwise the threads share each sample's positions (partial sums added in thread order, then each thread
// writes its slice).
void minimal_nhwc(bool backward, float* out, const float* x, const float* dy, std::size_t positions,
                  std::size_t channels, std::size_t samples, int threads, bool stream) {
  const float* summed = backward ? dy : x;        // sum: of x (forward) or dy; dot: x times it
  const float* scaled = backward ? dy : x;        // u of out = p*u + (q*v + r)
  const float* shifted = backward ? x : nullptr;  // v
  const std::size_t sample = positions * channels;
  const auto m = static_cast<double>(positions);
  if (threads <= 1 || samples >= static_cast<std::size_t>(threads)) {
    for_slices(
        samples, threads,
        [&](std::size_t begin, std::size_t end, std::size_t) {
          channel_scratch& own = scratch_for_thread(channels);
          for (std::size_t n = begin; n < end; ++n) {
            const std::size_t at = n * sample;
            kKernels.channel_sums(x + at, summed + at, positions, channels, own.dot.data(), own.sum.data());
            minimal_coefficients(backward, own.dot.data(), own.sum.data(), channels, m, own.p.data(), own.q.data(),
                                 own.r.data());
            kKernels.channel_elementwise(out + at, scaled + at, shifted == nullptr ? nullptr : shifted + at, positions,
                                         channels, own.p.data(), own.q.data(), own.r.data(), stream);
          }
        },
        1);
    return;
  }
  const auto parts = static_cast<std::size_t>(threads);
  const std::size_t granule = kKernels.channel_period(channels) / channels;  // slices begin on a period
  static thread_local std::vector<double> partial_sums;  // the caller's; the workers write through `partial`
  partial_sums.resize(2 * parts * channels);
  double* const partial = partial_sums.data();
  channel_scratch& own = scratch_for_thread(channels);
  for (std::size_t n = 0; n < samples; ++n) {
    const std::size_t at = n * sample;
    std::fill(partial, partial + 2 * parts * channels, 0.0);
    for_slices(
        positions, threads,
        [&](std::size_t begin, std::size_t end, std::size_t part) {
          const std::size_t first = at + begin * channels;
          double* dot = partial + 2 * part * channels;
          kKernels.channel_sums(x + first, summed + first, end - begin, channels, dot, dot + channels);
        },
        granule);
    for (std::size_t c = 0; c < channels; ++c) {
      own.dot[c] = own.sum[c] = 0.0;
      for (std::size_t part = 0; part < parts; ++part) {
        own.dot[c] += partial[2 * part * channels + c];
        own.sum[c] += partial[(2 * part + 1) * channels + c];
      }
    }
    minimal_coefficients(backward, own.dot.data(), own.sum.data(), channels, m, own.p.data(), own.q.data(),
                         own.r.data());
    for_slices(
        positions, threads,
        [&](std::size_t begin, std::size_t end, std::size_t) {
          const std::size_t first = at + begin * channels;
          kKernels.channel_elementwise(out + first, scaled + first, shifted == nullptr ? nullptr : shifted + first,
                                       end - begin, channels, own.p.data(), own.q.data(), own.r.data(), stream);
        },
        granule);
  }
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

void minimal_forward_nhwc(float* y, const float* x, std::size_t positions, std::size_t channels, std::size_t samples,
                          int threads, bool stream) {
  minimal_nhwc(false, y, x, nullptr, positions, channels, samples, threads, stream);
}

void minimal_backward_nhwc(float* dx, const float* x, const float* dy, std::size_t positions, std::size_t channels,
                           std::size_t samples, int threads, bool stream) {
  minimal_nhwc(true, dx, x, dy, positions, channels, samples, threads, stream);
}

std::string check_minimal_kernels() {
  struct Case {
    std::size_t n, c, h, w;
  };
  // Periods of one vector and of several, channels taken in blocks (C = 256), no vector period (C = 12 and 3
  // with 16-float vectors), tails, and one sample shared by two threads.
  const Case cases[] = {{2, 12, 5, 7}, {1, 256, 3, 3}, {2, 2, 9, 9},   {1, 128, 4, 5}, {1, 3, 17, 1},
                        {1, 48, 6, 5}, {3, 64, 4, 4},  {1, 16, 33, 3}, {1, 4, 40, 41}};
  for (const Case& k : cases)
    for (bool nhwc : {false, true})
      for (int threads : {1, 2}) {
        const std::size_t positions = k.h * k.w, count = k.n * k.c * positions;
        std::vector<float> x(count), dy(count), out(count);
        // Channel c: values of scale c + 1 around c, so that a channel mixed up with another shows.
        for (std::size_t i = 0; i < count; ++i) {
          const std::size_t c = nhwc ? i % k.c : i / positions % k.c;
          const double u = static_cast<double>((i * 2654435761u) % 1024) / 512.0 - 1.0;
          x[i] = static_cast<float>(static_cast<double>(c) + 0.25 * static_cast<double>(c + 1) * u);
          dy[i] = static_cast<float>(0.5 * u * u - 0.1 * static_cast<double>(c % 5));
        }
        const std::string where = std::string(nhwc ? "NHWC " : "NCHW ") + std::to_string(k.n) + "x" +
                                  std::to_string(k.c) + "x" + std::to_string(k.h) + "x" + std::to_string(k.w) + " on " +
                                  std::to_string(threads) + " thread(s)";
        for (int run = 0; run < 4; ++run) {
          const bool backward = run / 2 == 1, stream = run % 2 == 1;
          if (nhwc && backward)
            minimal_backward_nhwc(out.data(), x.data(), dy.data(), positions, k.c, k.n, threads, stream);
          else if (nhwc)
            minimal_forward_nhwc(out.data(), x.data(), positions, k.c, k.n, threads, stream);
          else if (backward)
            minimal_backward(out.data(), x.data(), dy.data(), positions, k.n * k.c, threads, stream);
          else
            minimal_forward(out.data(), x.data(), positions, k.n * k.c, threads, stream);
          for (std::size_t n = 0; n < k.n; ++n)
            for (std::size_t c = 0; c < k.c; ++c) {
              auto index = [&](std::size_t p) {
                return nhwc ? (n * positions + p) * k.c + c : (n * k.c + c) * positions + p;
              };
              double dot = 0.0, sum = 0.0;
              for (std::size_t p = 0; p < positions; ++p) {
                const double xv = x[index(p)], bv = backward ? dy[index(p)] : xv;
                dot += xv * bv;
                sum += bv;
              }
              const auto m = static_cast<double>(positions);
              float p_c = 0.0f, q_c = 0.0f, r_c = 0.0f;
              minimal_coefficients(backward, &dot, &sum, 1, m, &p_c, &q_c, &r_c);
              for (std::size_t p = 0; p < positions; ++p) {
                const double xv = x[index(p)], dyv = dy[index(p)];
                const double expected = backward ? dyv + q_c * xv + r_c : p_c * xv;
                const double scale =
                    backward ? std::fabs(dyv) + std::fabs(q_c * xv) + std::fabs(r_c) : std::fabs(expected);
                if (std::fabs(out[index(p)] - expected) > 1e-3 * scale + 1e-6)
                  return std::string(backward ? "minimal_backward" : "minimal_forward") + (nhwc ? "_nhwc" : "") +
                         " is wrong on " + where + " at sample " + std::to_string(n) + ", channel " +
                         std::to_string(c) + ", position " + std::to_string(p) + ": " + std::to_string(out[index(p)]) +
                         " against " + std::to_string(expected);
              }
            }
        }
      }
  return {};
}

const char* baseline_isa() { return kKernels.isa; }

}  // namespace vnbench
