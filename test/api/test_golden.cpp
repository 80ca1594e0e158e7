// Every reference case, both algorithms, every kernel set this machine has, max_threads 1, 2 and 0.
#include <varnorm/varnorm.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>

#include "support/cases.hpp"
#include "support/compare.hpp"
#include "support/golden.hpp"
#include "support/isa.hpp"

using namespace varnorm_test;

namespace {

varnorm_desc desc_for(const golden_case& g, varnorm_algorithm algorithm, int max_threads) {
  varnorm_desc d = varnorm_desc_make(g.n, g.c, g.h, g.w, static_cast<varnorm_layout>(g.layout));
  d.algorithm = algorithm;
  d.eps = static_cast<float>(g.eps);
  d.correction = g.correction;
  d.per_sample_affine = g.per_sample_affine ? 1 : 0;
  d.max_threads = max_threads;
  d.groups = g.groups;
  d.center = g.center;
  return d;
}

// An output buffer of `size` values (as the file has) followed by a guard of n*c sentinel values, so that a
// call writing past its output (say n*C statistics where there are n*G) fails a check instead of corrupting
// the heap.
constexpr std::uint32_t kGuardBits = 0x7fc0deadu;  // a quiet NaN with a payload no computation produces

struct guarded {
  std::size_t size;
  std::vector<float> buffer;

  guarded(std::size_t size_, const golden_case& g) : size(size_), buffer(size_ + static_cast<std::size_t>(g.n * g.c)) {
    float sentinel;
    std::memcpy(&sentinel, &kGuardBits, sizeof sentinel);
    std::fill(buffer.begin(), buffer.end(), sentinel);
  }
  float* data() { return buffer.data(); }
  const float* data() const { return buffer.data(); }
  std::vector<float> values() const { return {buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(size)}; }
  bool guard_intact() const {
    for (std::size_t i = size; i < buffer.size(); ++i) {
      std::uint32_t bits;
      std::memcpy(&bits, &buffer[i], sizeof bits);
      if (bits != kGuardBits) return false;
    }
    return true;
  }
};

}  // namespace

TEST_CASE("golden: forward and backward match PyTorch float64 on every case, algorithm, ISA and thread count",
          "[golden]") {
  const auto isas = supported_isas();
  const std::string name = GENERATE(from_range(golden_case_names()));
  const golden_case g = read_golden(name);
  REQUIRE(g.mean.size() == static_cast<std::size_t>(g.n * g.group_count()));
  REQUIRE(g.dalpha.size() == g.alpha.size());
  for (varnorm_algorithm algorithm : kAllAlgorithms) {
    for (const std::string& isa : isas) {
      isa_scope scope(isa);
      REQUIRE(scope.ok());
      for (int threads : {1, 2, 0}) {
        CAPTURE(name, g.groups, g.center, algorithm, isa, threads);
        const varnorm_desc d = desc_for(g, algorithm, threads);
        guarded y(g.y.size(), g), mean(g.mean.size(), g), rstd(g.rstd.size(), g);
        REQUIRE(varnorm_forward(&d, g.x.data(), g.alpha.data(), g.has_beta ? g.beta.data() : nullptr, y.data(),
                                mean.data(), rstd.data()) == VARNORM_OK);
        CHECK(y.guard_intact());
        CHECK(mean.guard_intact());
        CHECK(rstd.guard_intact());
        CHECK(normalized_max_error(y.values(), g.y) <= 2e-6);
        CHECK(normalized_max_error(mean.values(), g.mean) <= 2e-6);
        CHECK(normalized_max_error(rstd.values(), g.rstd) <= 2e-6);

        guarded dx(g.dx.size(), g), dalpha(g.dalpha.size(), g), dbeta(g.alpha.size(), g);
        REQUIRE(varnorm_backward(&d, g.x.data(), g.alpha.data(), g.dy.data(), mean.data(), rstd.data(), dx.data(),
                                 dalpha.data(), dbeta.data()) == VARNORM_OK);
        CHECK(dx.guard_intact());
        CHECK(dalpha.guard_intact());
        CHECK(dbeta.guard_intact());
        CHECK(normalized_max_error(dx.values(), g.dx) <= 2e-5);
        CHECK(normalized_max_error(dalpha.values(), g.dalpha) <= 5e-6);
        if (g.has_beta) CHECK(normalized_max_error(dbeta.values(), g.dbeta) <= 5e-6);

        // Recomputing the statistics gives the same bits as passing the saved ones.
        guarded dx2(g.dx.size(), g), dalpha2(g.dalpha.size(), g), dbeta2(g.alpha.size(), g);
        REQUIRE(varnorm_backward(&d, g.x.data(), g.alpha.data(), g.dy.data(), nullptr, nullptr, dx2.data(),
                                 dalpha2.data(), dbeta2.data()) == VARNORM_OK);
        CHECK(bitwise_equal(dx.buffer, dx2.buffer));
        CHECK(bitwise_equal(dalpha.buffer, dalpha2.buffer));
        CHECK(bitwise_equal(dbeta.buffer, dbeta2.buffer));
      }
    }
  }
}

TEST_CASE("golden: every .vng file in test/data/golden is a listed case", "[golden]") {
  std::vector<std::string> listed = golden_case_names();
  std::sort(listed.begin(), listed.end());
  CHECK(std::adjacent_find(listed.begin(), listed.end()) == listed.end());
  CHECK(golden_files_on_disk() == listed);
}
