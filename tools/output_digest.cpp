// Prints one line per call: a 64-bit FNV-1a digest of every output of forward and backward, over shapes x
// layouts x algorithms x affine modes x kernel sets x thread counts; then (from 0.3, after all of those, so that
// digests of earlier revisions line up) grouped and centred calls: GroupNorm, LayerNorm, InstanceNorm2d. Two builds
// give the same bits exactly when their outputs are identical: tools/compare_bits.sh diffs them. Uses the public C API
// only, so it builds against older revisions too.
#include <varnorm/varnorm.h>

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct digest {
  std::uint64_t h = 1469598103934665603ull;
  void add(const void* data, std::size_t bytes) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < bytes; ++i) h = (h ^ p[i]) * 1099511628211ull;
  }
  void add(const std::vector<float>& v) { add(v.data(), v.size() * sizeof(float)); }
};

// Deterministic values: a per-plane offset and scale, so DC offsets and wide ranges are covered.
std::vector<float> values(std::size_t count, std::uint64_t seed, float offset) {
  std::vector<float> v(count);
  std::uint64_t s = seed * 6364136223846793005ull + 1442695040888963407ull;
  for (std::size_t i = 0; i < count; ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    const float unit = static_cast<float>(s >> 40) / static_cast<float>(1u << 24) - 0.5f;
    v[i] = offset + unit * (1.0f + static_cast<float>((i / 61) % 5));
  }
  return v;
}

std::vector<std::string> kernel_sets() {
  std::vector<std::string> names;
#if VARNORM_VERSION >= 200
  for (int i = 0; i < varnorm_isa_count(); ++i)
    if (varnorm_isa_supported(varnorm_isa_name(i))) names.emplace_back(varnorm_isa_name(i));
#else
  for (const char* name : {"avx512", "avx2", "sse2", "neon64", "scalar"})
    if (varnorm_set_isa(name) == VARNORM_OK) names.emplace_back(name);
#endif
  return names;
}

struct shape {
  std::int64_t n, c, h, w;
};

// Digests of one call's outputs: forward (y, mean, rstd), backward from the saved statistics and backward
// recomputing them (dx, dalpha, dbeta). False when a call fails.
struct call_digests {
  std::uint64_t forward, backward, recomputed;
};
bool digest_call(const varnorm_desc& d, const std::vector<float>& x, const std::vector<float>& dy,
                 const std::vector<float>& alpha, const std::vector<float>* beta, std::size_t statistics,
                 call_digests* out) {
  std::vector<float> y(x.size()), mean(statistics), rstd(statistics), dx(x.size()), dalpha(alpha.size()),
      dbeta(alpha.size());
  digest f, b, r;
  if (varnorm_forward(&d, x.data(), alpha.data(), beta != nullptr ? beta->data() : nullptr, y.data(), mean.data(),
                      rstd.data()) != VARNORM_OK)
    return false;
  f.add(y);
  f.add(mean);
  f.add(rstd);
  if (varnorm_backward(&d, x.data(), alpha.data(), dy.data(), mean.data(), rstd.data(), dx.data(), dalpha.data(),
                       dbeta.data()) != VARNORM_OK)
    return false;
  b.add(dx);
  b.add(dalpha);
  b.add(dbeta);
  if (varnorm_backward(&d, x.data(), alpha.data(), dy.data(), nullptr, nullptr, dx.data(), dalpha.data(),
                       dbeta.data()) != VARNORM_OK)
    return false;
  r.add(dx);
  r.add(dalpha);
  r.add(dbeta);
  *out = {f.h, b.h, r.h};
  return true;
}

}  // namespace

int main() {
  const shape shapes[] = {{1, 1, 1, 2},    {2, 3, 5, 7},    {1, 16, 64, 64},  {8, 256, 16, 16}, {4, 32, 8, 8},
                          {2, 12, 1, 257}, {2, 64, 24, 24}, {1, 2, 257, 256}, {1, 2, 512, 512}, {1, 128, 64, 64},
                          {2, 100, 9, 11}, {1, 65, 33, 17}, {3, 8, 45, 45},   {1, 5, 1024, 40}, {2, 7, 16, 16},
                          {1, 4, 31, 33},  {2, 130, 4, 4},  {1, 1, 300, 301}, {3, 3, 8, 8},     {1, 24, 2047, 1},
                          {1100, 64, 5, 7}};
  const varnorm_algorithm algorithms[] = {VARNORM_ALGORITHM_AUTO, VARNORM_ALGORITHM_TWO_PASS, VARNORM_ALGORITHM_WELFORD,
                                          VARNORM_ALGORITHM_SHIFTED_SUMS};
  for (const std::string& isa : kernel_sets()) {
    if (varnorm_set_isa(isa.c_str()) != VARNORM_OK) return 1;
    for (const shape& s : shapes) {
      const std::size_t count = static_cast<std::size_t>(s.n * s.c * s.h * s.w);
      const std::size_t planes = static_cast<std::size_t>(s.n * s.c);
      for (int layout = 0; layout < 2; ++layout) {
        for (varnorm_algorithm algorithm : algorithms) {
          for (int variant = 0; variant < 3; ++variant) {  // 0: ESPnet; 1: JAX with bias; 2: per-sample affine
            for (int threads : {1, 2}) {
              varnorm_desc d = varnorm_desc_make(s.n, s.c, s.h, s.w, static_cast<varnorm_layout>(layout));
              d.algorithm = algorithm;
              d.correction = variant == 1 ? 0 : 1;
              d.per_sample_affine = variant == 2 ? 1 : 0;
              d.max_threads = threads;
              const std::size_t affine = variant == 2 ? planes : static_cast<std::size_t>(s.c);
              const std::uint64_t seed = count * 31 + planes;
              const std::vector<float> x = values(count, seed, variant == 0 ? 0.0f : 300.0f);
              const std::vector<float> dy = values(count, seed + 1, 0.25f);
              const std::vector<float> alpha = values(affine, seed + 2, 1.0f);
              const std::vector<float> beta = values(affine, seed + 3, 0.0f);
              call_digests c;
              if (!digest_call(d, x, dy, alpha, variant == 0 ? nullptr : &beta, planes, &c)) return 1;
              std::printf("%s %" PRId64 "x%" PRId64 "x%" PRId64 "x%" PRId64 " %s alg%d v%d t%d %016" PRIx64
                          " %016" PRIx64 " %016" PRIx64 "\n",
                          isa.c_str(), s.n, s.c, s.h, s.w, layout == 0 ? "NCHW" : "NHWC", static_cast<int>(algorithm),
                          variant, threads, c.forward, c.backward, c.recomputed);
            }
          }
        }
      }
    }
  }
#if VARNORM_VERSION >= 300
  // Groups and centring: {shape, groups, center}, both layouts, every algorithm, GroupNorm-like (correction 0,
  // bias) and per-sample affine, 1 and 2 threads.
  struct grouped {
    shape s;
    int groups, center;
  };
  const grouped modes[] = {{{2, 32, 16, 16}, 8, 1},  {{1, 12, 1, 257}, 3, 1},  {{2, 256, 8, 8}, 1, 1},
                           {{2, 256, 6, 6}, 2, 0},   {{2, 64, 24, 24}, 0, 1},  {{1, 4, 256, 256}, 1, 1},
                           {{3, 8, 45, 45}, 4, 0},   {{1, 130, 33, 17}, 2, 1}, {{4, 6, 1, 1}, 3, 1},
                           {{600, 32, 11, 13}, 8, 1}};
  for (const std::string& isa : kernel_sets()) {
    if (varnorm_set_isa(isa.c_str()) != VARNORM_OK) return 1;
    for (const grouped& g : modes) {
      const shape& s = g.s;
      const std::size_t count = static_cast<std::size_t>(s.n * s.c * s.h * s.w);
      const std::size_t planes = static_cast<std::size_t>(s.n * s.c);
      const std::size_t stats = static_cast<std::size_t>(s.n * (g.groups > 0 ? g.groups : s.c));
      for (int layout = 0; layout < 2; ++layout) {
        for (varnorm_algorithm algorithm : algorithms) {
          for (int variant = 0; variant < 2; ++variant) {  // 0: GroupNorm with bias; 1: per-sample affine
            for (int threads : {1, 2}) {
              varnorm_desc d = varnorm_desc_make(s.n, s.c, s.h, s.w, static_cast<varnorm_layout>(layout));
              d.algorithm = algorithm;
              d.correction = variant == 0 ? 0 : 1;
              d.per_sample_affine = variant;
              d.max_threads = threads;
              d.groups = g.groups;
              d.center = g.center;
              const std::size_t affine = variant == 1 ? planes : static_cast<std::size_t>(s.c);
              const std::uint64_t seed = count * 37 + planes;
              const std::vector<float> x = values(count, seed, variant == 0 ? 40.0f : -3.0f);
              const std::vector<float> dy = values(count, seed + 1, 0.25f);
              const std::vector<float> alpha = values(affine, seed + 2, 1.0f);
              const std::vector<float> beta = values(affine, seed + 3, 0.0f);
              call_digests c;
              if (!digest_call(d, x, dy, alpha, &beta, stats, &c)) return 1;
              std::printf("%s %" PRId64 "x%" PRId64 "x%" PRId64 "x%" PRId64 " %s G%d c%d alg%d v%d t%d %016" PRIx64
                          " %016" PRIx64 " %016" PRIx64 "\n",
                          isa.c_str(), s.n, s.c, s.h, s.w, layout == 0 ? "NCHW" : "NHWC", g.groups, g.center,
                          static_cast<int>(algorithm), variant, threads, c.forward, c.backward, c.recomputed);
            }
          }
        }
      }
    }
  }
#endif
  return 0;
}
