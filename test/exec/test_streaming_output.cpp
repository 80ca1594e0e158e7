// Outputs of 16 MiB and more are written with non-temporal stores (src/plan/work_plan.hpp,
// kStreamOutputBytes). That path must give the same bits as the regular one, at any alignment of y and in
// place: a sample (or plane) of a large tensor must come out exactly as the same data run alone, small
// enough for regular stores.
#include <varnorm/varnorm.h>

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "support/compare.hpp"
#include "support/isa.hpp"

using namespace varnorm_test;

namespace {

// A float buffer whose data starts `offset` floats past a 64-byte boundary.
class offset_buffer {
 public:
  offset_buffer(std::size_t size, std::size_t offset) : storage_(size + offset + 16), offset_(offset) {
    const auto address = reinterpret_cast<std::uintptr_t>(storage_.data());
    skip_ = ((64 - address % 64) % 64) / sizeof(float) + offset_;
  }
  float* data() { return storage_.data() + skip_; }

 private:
  std::vector<float> storage_;
  std::size_t offset_, skip_ = 0;
};

std::vector<float> forward_of(const varnorm_desc& d, const std::vector<float>& x, const std::vector<float>& alpha,
                              const std::vector<float>& beta) {
  std::vector<float> y(x.size());
  REQUIRE(varnorm_forward(&d, x.data(), alpha.data(), beta.data(), y.data(), nullptr, nullptr) == VARNORM_OK);
  return y;
}

}  // namespace

TEST_CASE("forward with streaming stores gives the bits of regular stores, at every y alignment and in place",
          "[exec][streaming]") {
  // 3 samples of 512 x 1024 positions x 4 channels: 24 MiB streams, one sample (8 MiB) does not.
  const std::int64_t samples = 3, c = 4, h = 512, w = 1024;
  const std::size_t per_sample = static_cast<std::size_t>(c * h * w);
  std::mt19937 rng(7);
  std::normal_distribution<float> value(3.0f, 2.0f);
  std::vector<float> x(per_sample * samples), alpha(static_cast<std::size_t>(c)), beta(alpha.size());
  for (float& v : x) v = value(rng);
  for (std::size_t i = 0; i < alpha.size(); ++i) {
    alpha[i] = 0.5f + 0.25f * static_cast<float>(i);
    beta[i] = 0.1f * static_cast<float>(i);
  }

  for (const std::string& isa : supported_isas()) {
    isa_scope scope(isa);
    for (varnorm_layout layout : {VARNORM_LAYOUT_NCHW, VARNORM_LAYOUT_NHWC}) {
      CAPTURE(isa, layout);
      varnorm_desc large = varnorm_desc_make(samples, c, h, w, layout);
      large.max_threads = 1;
      varnorm_desc single = varnorm_desc_make(1, c, h, w, layout);
      single.max_threads = 1;

      std::vector<float> expected;
      for (std::int64_t n = 0; n < samples; ++n) {
        const std::vector<float> one(x.begin() + static_cast<std::ptrdiff_t>(per_sample * n),
                                     x.begin() + static_cast<std::ptrdiff_t>(per_sample * (n + 1)));
        const std::vector<float> y = forward_of(single, one, alpha, beta);
        expected.insert(expected.end(), y.begin(), y.end());
      }

      for (std::size_t offset : {0u, 1u, 3u, 8u}) {
        CAPTURE(offset);
        offset_buffer y(x.size(), offset);
        REQUIRE(varnorm_forward(&large, x.data(), alpha.data(), beta.data(), y.data(), nullptr, nullptr) ==
                VARNORM_OK);
        CHECK(std::memcmp(y.data(), expected.data(), x.size() * sizeof(float)) == 0);
      }

      std::vector<float> in_place = x;
      REQUIRE(varnorm_forward(&large, in_place.data(), alpha.data(), beta.data(), in_place.data(), nullptr,
                              nullptr) == VARNORM_OK);
      CHECK(bitwise_equal(in_place, expected));
    }
  }
}
