#include "bench_common.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <new>
#include <sstream>
#include <thread>

#ifdef VARNORM_BENCH_HAVE_TBB
#include <tbb/info.h>
#endif

namespace vnbench {

std::string Shape4::name() const {
  return std::to_string(n) + "x" + std::to_string(c) + "x" + std::to_string(h) + "x" + std::to_string(w);
}

void AlignedFree::operator()(float* p) const noexcept { std::free(p); }

FloatArray make_floats(std::size_t count) {
  const std::size_t bytes = ((std::max<std::size_t>(count, 1) * sizeof(float) + 63) / 64) * 64;
  void* p = std::aligned_alloc(64, bytes);
  if (p == nullptr) throw std::bad_alloc();
  return FloatArray(static_cast<float*>(p));
}

namespace {

// xorshift64*: fast, and the same values on every platform.
struct Random {
  std::uint64_t state;
  float uniform(float lo, float hi) noexcept {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    const std::uint64_t bits = state * 0x2545F4914F6CDD1DULL;
    const float unit = static_cast<float>(bits >> 40) * 0x1.0p-24f;  // [0, 1)
    return lo + (hi - lo) * unit;
  }
};

void fill(float* p, std::size_t count, std::uint64_t seed, float lo, float hi) {
  Random r{seed * 0x9E3779B97F4A7C15ULL + 1};
  for (std::size_t i = 0; i < count; ++i) p[i] = r.uniform(lo, hi);
}

}  // namespace

Tensors& tensors_for(const Shape4& shape) {
  static std::map<std::string, Tensors> cache;
  Tensors& t = cache[shape.name()];
  if (t.x) return t;
  t.shape = shape;
  const std::size_t count = shape.elements(), planes = shape.planes(), channels = static_cast<std::size_t>(shape.c);
  t.x = make_floats(count);
  t.y = make_floats(count);
  t.dy = make_floats(count);
  t.dx = make_floats(count);
  t.alpha = make_floats(channels);
  t.dalpha = make_floats(channels);
  t.dbeta = make_floats(channels);
  t.mean = make_floats(planes);
  t.rstd = make_floats(planes);
  fill(t.x.get(), count, 1, -1.0f, 3.0f);
  fill(t.dy.get(), count, 2, -1.0f, 3.0f);
  fill(t.y.get(), count, 3, -1.0f, 1.0f);  // touch every output page before timing
  fill(t.dx.get(), count, 4, -1.0f, 1.0f);
  fill(t.alpha.get(), channels, 5, 0.95f, 1.05f);
  std::fill(t.mean.get(), t.mean.get() + planes, 0.0f);
  std::fill(t.rstd.get(), t.rstd.get() + planes, 1.0f);
  return t;
}

std::vector<int> thread_counts() {
  std::vector<int> counts;
  if (const char* env = std::getenv("VARNORM_BENCH_THREADS"); env != nullptr && *env != '\0') {
    std::stringstream list(env);
    std::string item;
    while (std::getline(list, item, ',')) {
      const int k = std::atoi(item.c_str());
      if (k >= 1 && std::find(counts.begin(), counts.end(), k) == counts.end()) counts.push_back(k);
    }
  }
#ifdef VARNORM_BENCH_HAVE_TBB
  if (counts.empty()) {
    counts.push_back(1);
    const int all = std::max(tbb::info::default_concurrency(), 1);  // honours the process's CPU affinity
    if (all > 1) counts.push_back(all);
  }
#else
  counts = {1};  // the library runs serially without TBB
#endif
  return counts;
}

int pinned_cpu() {
  static const int cpu = [] {
    const char* env = std::getenv("VARNORM_BENCH_CPU");
    if (env == nullptr || *env == '\0') return -1;
    char* end = nullptr;
    const long value = std::strtol(env, &end, 10);
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    const bool usable = *end == '\0' && value >= 0 && value < CPU_SETSIZE &&
                        sched_getaffinity(0, sizeof allowed, &allowed) == 0 &&
                        CPU_ISSET(static_cast<int>(value), &allowed);
    return usable ? static_cast<int>(value) : -2;
  }();
  return cpu;
}

OneCpuScope::OneCpuScope(int threads) noexcept {
  if (threads != 1 || pinned_cpu() < 0 || sched_getaffinity(0, sizeof saved_, &saved_) != 0) return;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(pinned_cpu(), &one);
  pinned_ = sched_setaffinity(0, sizeof one, &one) == 0;
}

OneCpuScope::~OneCpuScope() {
  if (pinned_) sched_setaffinity(0, sizeof saved_, &saved_);
}

std::string join_name(std::initializer_list<std::string> parts) {
  std::string name;
  for (const std::string& part : parts) {
    if (!name.empty()) name += '/';
    name += part;
  }
  return name;
}

}  // namespace vnbench
