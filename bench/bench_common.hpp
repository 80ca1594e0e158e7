// Shared pieces of varnorm_bench: shapes, aligned random buffers, thread counts, benchmark names.
#ifndef VARNORM_BENCH_COMMON_HPP
#define VARNORM_BENCH_COMMON_HPP

#include <sched.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace vnbench {

struct Shape4 {
  std::int64_t n, c, h, w;
  std::size_t elements() const noexcept { return static_cast<std::size_t>(n * c * h * w); }
  std::size_t planes() const noexcept { return static_cast<std::size_t>(n * c); }
  std::size_t plane_size() const noexcept { return static_cast<std::size_t>(h * w); }
  std::string name() const;  // "8x64x64x64" (N x C x H x W, whatever the layout)
};

// A 64-byte aligned float array.
struct AlignedFree {
  void operator()(float* p) const noexcept;
};
using FloatArray = std::unique_ptr<float[], AlignedFree>;
FloatArray make_floats(std::size_t count);

// The tensors of one shape, allocated and filled on first use and kept for the whole run (about 620 MB for
// all shapes), shared by every benchmark of that shape, so repetitions interleaved in random order cost no
// allocation. x and dy hold random values (uniform in [-1, 3): nonzero mean and variance); y and dx are
// outputs (pages touched); alpha has c values (1 + small noise); mean/rstd (n*c) are filled by whoever
// needs them.
struct Tensors {
  Shape4 shape{};
  FloatArray x, y, dy, dx;
  FloatArray alpha, dalpha, dbeta, mean, rstd;
};
Tensors& tensors_for(const Shape4& shape);

// Thread counts benchmarked: 1 and all hardware threads this process may use, or the list in the
// environment variable VARNORM_BENCH_THREADS (e.g. "1,4"). Without TBB only 1 (the library runs serially).
std::vector<int> thread_counts();

// The CPU that one-thread benchmarks run on, from the environment variable VARNORM_BENCH_CPU: -1 when it is
// unset, -2 when it names no CPU this process may use. Pinned, one-thread ratios compare work done on one CPU
// (a virtual machine's CPUs can differ in speed: bench/README.md, "Running").
int pinned_cpu();

// While it lives, a one-thread benchmark's thread runs on pinned_cpu() alone (when set); any other thread count
// keeps the thread's CPUs. Nothing multi-threaded may start under the pin: TBB's workers would inherit it.
class OneCpuScope {
 public:
  explicit OneCpuScope(int threads) noexcept;
  ~OneCpuScope();
  OneCpuScope(const OneCpuScope&) = delete;
  OneCpuScope& operator=(const OneCpuScope&) = delete;

 private:
  bool pinned_ = false;
  cpu_set_t saved_{};
};

// "forward/NCHW/AUTO/8x64x64x64/threads:1" and friends; parts joined by '/'.
std::string join_name(std::initializer_list<std::string> parts);

}  // namespace vnbench

#endif  // VARNORM_BENCH_COMMON_HPP
