// Runs `calls` forward or backward calls of one shape on one thread under callgrind, collecting only those calls
// (a first call before them is not counted), so that tools/count_instructions.sh can divide the instructions by
// the calls. Uses the public C API only, so it builds against older revisions too.
// Usage: instruction_count N C H W nchw|nhwc forward|backward GROUPS CALLS
#include <valgrind/callgrind.h>
#include <varnorm/varnorm.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 9) {
    std::fprintf(stderr, "usage: %s N C H W nchw|nhwc forward|backward GROUPS CALLS\n", argv[0]);
    return 2;
  }
  const std::int64_t n = std::atoll(argv[1]), c = std::atoll(argv[2]), h = std::atoll(argv[3]), w = std::atoll(argv[4]);
  const bool nhwc = std::strcmp(argv[5], "nhwc") == 0, backward = std::strcmp(argv[6], "backward") == 0;
  const int groups = std::atoi(argv[7]), calls = std::atoi(argv[8]);
  varnorm_desc d = varnorm_desc_make(n, c, h, w, nhwc ? VARNORM_LAYOUT_NHWC : VARNORM_LAYOUT_NCHW);
  d.max_threads = 1;
  if (groups > 0) {  // GroupNorm as NCSN++ runs it
    d.groups = groups;
    d.center = 1;
    d.correction = 0;
  }
  const std::size_t count = static_cast<std::size_t>(n * c * h * w);
  const std::size_t stats = static_cast<std::size_t>(n * (groups > 0 ? groups : c));
  // Arrays on 64-byte boundaries, so that the counts do not depend on where the allocator put them.
  constexpr std::size_t kAlign = 64 / sizeof(float);
  std::vector<float> storage(3 * (count + kAlign) + kAlign);
  float* arrays[3];
  for (int i = 0; i < 3; ++i) {
    float* from = storage.data() + i * (count + kAlign);
    arrays[i] = from + (kAlign - reinterpret_cast<std::uintptr_t>(from) / sizeof(float) % kAlign) % kAlign;
  }
  float *x = arrays[0], *dy = arrays[1], *out = arrays[2];
  std::vector<float> alpha(static_cast<std::size_t>(c), 1.5f), dalpha(alpha.size()), mean(stats), rstd(stats);
  // Values of mean about 0.5 and deviation about 2, from a fixed linear congruential sequence.
  std::uint64_t state = 1;
  auto next = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<float>(static_cast<double>(state >> 40) / 16777216.0 * 6.9 - 2.95);
  };
  for (std::size_t i = 0; i < count; ++i) {
    x[i] = next();
    dy[i] = next();
  }
  if (varnorm_set_isa("avx2") != VARNORM_OK) {  // valgrind does not run AVX-512
    std::fprintf(stderr, "instruction_count: the avx2 kernel set is not available\n");
    return 1;
  }
  auto call = [&] {
    return backward ? varnorm_backward(&d, x, alpha.data(), dy, mean.data(), rstd.data(), out, dalpha.data(), nullptr)
                    : varnorm_forward(&d, x, alpha.data(), nullptr, out, mean.data(), rstd.data());
  };
  // The statistics the backward reads, and a first call whose one-time costs are not counted.
  if (varnorm_forward(&d, x, alpha.data(), nullptr, out, mean.data(), rstd.data()) != VARNORM_OK ||
      call() != VARNORM_OK) {
    std::fprintf(stderr, "instruction_count: the call failed\n");
    return 1;
  }
  CALLGRIND_TOGGLE_COLLECT;
  for (int i = 0; i < calls; ++i) call();
  CALLGRIND_TOGGLE_COLLECT;
  return 0;
}
