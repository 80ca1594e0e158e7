// Calls whose arrays span 12 MiB and more (48 MiB on several threads) write their output with non-temporal stores
// (src/plan/work_plan.hpp, kStreamFootprintBytes). That path must give the same bits as the regular one, at any
// alignment of the output and in place, on one thread and on two (each task fences its own stores): a sample of
// a large tensor must come out exactly as the same data run alone, small enough for regular stores.
#include <varnorm/varnorm.h>

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <random>
#include <tuple>
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

std::vector<float> normal_floats(std::size_t count, unsigned seed, float mean, float stddev) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> value(mean, stddev);
  std::vector<float> out(count);
  for (float& v : out) v = value(rng);
  return out;
}

std::vector<float> forward_of(const varnorm_desc& d, const std::vector<float>& x, const std::vector<float>& alpha,
                              const std::vector<float>& beta) {
  std::vector<float> y(x.size());
  REQUIRE(varnorm_forward(&d, x.data(), alpha.data(), beta.data(), y.data(), nullptr, nullptr) == VARNORM_OK);
  return y;
}

}  // namespace

TEST_CASE("forward with streaming stores gives the bits of regular stores, at every y alignment and in place",
          "[exec][streaming]") {
  // 6 samples of 512 x 512 positions x 4 channels: x and y of 24 MiB each stream (48 MiB: on two threads too),
  // one sample's (8 MiB in all) do not. With 128 channels (8192 positions) NHWC rows hold two 64-channel units,
  // streamed row by row. With 192 channels (9 samples of 1000 positions: 13.8 MB on one thread) a pair of units
  // covers two thirds of a row and writes its output in turns (work_plan::interleaved_pair_output), its last
  // turn of each tile short, and a third unit goes alone.
  const auto [samples, c, h, w] =
      GENERATE(std::make_tuple(std::int64_t{6}, std::int64_t{4}, std::int64_t{512}, std::int64_t{512}),
               std::make_tuple(std::int64_t{6}, std::int64_t{128}, std::int64_t{64}, std::int64_t{128}),
               std::make_tuple(std::int64_t{9}, std::int64_t{192}, std::int64_t{25}, std::int64_t{40}));
  const std::size_t per_sample = static_cast<std::size_t>(c * h * w);
  const std::vector<float> x = normal_floats(per_sample * samples, 7, 3.0f, 2.0f);
  std::vector<float> alpha(static_cast<std::size_t>(c)), beta(alpha.size());
  for (std::size_t i = 0; i < alpha.size(); ++i) {
    alpha[i] = 0.5f + 0.25f * static_cast<float>(i);
    beta[i] = 0.1f * static_cast<float>(i);
  }

  for (const std::string& isa : supported_isas()) {
    isa_scope scope(isa);
    for (varnorm_layout layout : {VARNORM_LAYOUT_NCHW, VARNORM_LAYOUT_NHWC}) {
      CAPTURE(isa, layout, c);
      varnorm_desc large = varnorm_desc_make(samples, c, h, w, layout);
      varnorm_desc single = varnorm_desc_make(1, c, h, w, layout);
      single.max_threads = 1;

      std::vector<float> expected;
      for (std::int64_t n = 0; n < samples; ++n) {
        const std::vector<float> one(
            x.begin() + static_cast<std::ptrdiff_t>(per_sample * static_cast<std::size_t>(n)),
            x.begin() + static_cast<std::ptrdiff_t>(per_sample * static_cast<std::size_t>(n + 1)));
        const std::vector<float> y = forward_of(single, one, alpha, beta);
        expected.insert(expected.end(), y.begin(), y.end());
      }

      for (int threads : {1, 2}) {
        CAPTURE(threads);
        large.max_threads = threads;
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
}

TEST_CASE("backward with streaming stores gives the bits of regular stores, at every dx alignment and in place",
          "[exec][streaming]") {
  // 8 samples of 512 x 256 positions x 4 channels: x, dy and dx of 16 MiB each stream (48 MiB: on two threads
  // too); one sample's (6 MiB in all) do not. Per-sample affine: each sample's dalpha is its own, so it can be
  // compared too. With 128 channels (4096 positions) NHWC rows hold two 64-channel units, streamed row by row.
  const std::int64_t samples = 8;
  const auto [c, h, w] = GENERATE(std::make_tuple(std::int64_t{4}, std::int64_t{512}, std::int64_t{256}),
                                  std::make_tuple(std::int64_t{128}, std::int64_t{64}, std::int64_t{64}));
  const std::size_t per_sample = static_cast<std::size_t>(c * h * w);
  const std::vector<float> x = normal_floats(per_sample * samples, 8, 3.0f, 2.0f);
  const std::vector<float> dy = normal_floats(x.size(), 9, 0.0f, 2.0f);
  std::vector<float> alpha(static_cast<std::size_t>(samples * c));
  for (std::size_t i = 0; i < alpha.size(); ++i) alpha[i] = 0.5f + 0.125f * static_cast<float>(i);

  for (const std::string& isa : supported_isas()) {
    isa_scope scope(isa);
    for (varnorm_layout layout : {VARNORM_LAYOUT_NCHW, VARNORM_LAYOUT_NHWC}) {
      CAPTURE(isa, layout);
      CAPTURE(c);
      varnorm_desc large = varnorm_desc_make(samples, c, h, w, layout);
      large.max_threads = 1;
      large.per_sample_affine = 1;
      varnorm_desc single = large;
      single.n = 1;

      std::vector<float> expected_dx, expected_dalpha;
      for (std::int64_t n = 0; n < samples; ++n) {
        const auto at = static_cast<std::ptrdiff_t>(per_sample * static_cast<std::size_t>(n));
        const std::vector<float> xs(x.begin() + at, x.begin() + at + static_cast<std::ptrdiff_t>(per_sample));
        const std::vector<float> dys(dy.begin() + at, dy.begin() + at + static_cast<std::ptrdiff_t>(per_sample));
        std::vector<float> dx(per_sample), dalpha(static_cast<std::size_t>(c));
        REQUIRE(varnorm_backward(&single, xs.data(), alpha.data() + n * c, dys.data(), nullptr, nullptr, dx.data(),
                                 dalpha.data(), nullptr) == VARNORM_OK);
        expected_dx.insert(expected_dx.end(), dx.begin(), dx.end());
        expected_dalpha.insert(expected_dalpha.end(), dalpha.begin(), dalpha.end());
      }

      for (int threads : {1, 2}) {
        CAPTURE(threads);
        large.max_threads = threads;
        for (std::size_t offset : {0u, 1u, 3u, 8u}) {
          CAPTURE(offset);
          offset_buffer dx(x.size(), offset);
          std::vector<float> dalpha(alpha.size());
          REQUIRE(varnorm_backward(&large, x.data(), alpha.data(), dy.data(), nullptr, nullptr, dx.data(),
                                   dalpha.data(), nullptr) == VARNORM_OK);
          CHECK(std::memcmp(dx.data(), expected_dx.data(), x.size() * sizeof(float)) == 0);
          CHECK(bitwise_equal(dalpha, expected_dalpha));
        }

        std::vector<float> in_place = dy;
        std::vector<float> dalpha(alpha.size());
        REQUIRE(varnorm_backward(&large, x.data(), alpha.data(), in_place.data(), nullptr, nullptr, in_place.data(),
                                 dalpha.data(), nullptr) == VARNORM_OK);
        CHECK(bitwise_equal(in_place, expected_dx));
      }
    }
  }
}
