// The kernel sets' whole units in one call (src/kernels/units.inl). kernel_table::unit_forward against the four
// calls it stands for (block_moments, finish_statistics, output_coefficients, block_scale), on every kernel set:
// the same statistics, coefficients and y, bit for bit, on blocks of one plane, of a group of planes, of an NHWC
// channel group and of a part of a wider NHWC row, with and without beta and centring; and where a scale
// overflows float, y left untouched for the caller's exact path. kernel_table::unit_backward, which backward
// takes with saved statistics, against backward's steps unit by unit, which it takes when it recomputes them:
// the same dx, dalpha and dbeta, zero gradients included, and with centring beside units whose far mean keeps
// them on backward's steps, and for units of whole statistics groups (GroupNorm) too (other shapes:
// test/plan/test_work_plan.cpp, "[saved]").
#include <varnorm/varnorm.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "dispatch/isa_dispatch.hpp"
#include "support/cases.hpp"
#include "support/isa.hpp"
#include "support/same_bits.hpp"

using namespace varnorm_test;
using varnorm::detail::block_coefficients;
using varnorm::detail::block_shape;
using varnorm::detail::finished_statistics;
using varnorm::detail::kernel_table;
using varnorm::detail::moments;
using varnorm::detail::unit_forward_args;

namespace {

// What the caller sees of a unit: its statistics, coefficients and y (NaN where nothing was written).
struct unit_results {
  finished_statistics stats;
  block_coefficients c;
  std::vector<float> y;
};

unit_results by_four_calls(const kernel_table& k, const std::vector<float>& x, const block_shape& b,
                           const unit_forward_args& a) {
  unit_results r;
  r.y.assign(x.size(), std::nanf(""));
  moments m[varnorm::detail::kMaxGroupChannels];
  k.block_moments(x.data(), b, a.algorithm, m);
  k.finish_statistics(m, b.channels, a.dof, a.eps, r.stats);
  k.output_coefficients(a.alpha, a.beta, r.stats.rstd_exact, a.center ? r.stats.mean_exact : nullptr, b.channels, r.c);
  if (!r.c.needs_exact) k.block_scale(x.data(), r.y.data(), b, r.c, a.stream);
  k.stream_fence();
  return r;
}

unit_results by_one_call(const kernel_table& k, const std::vector<float>& x, const block_shape& b,
                         const unit_forward_args& a) {
  unit_results r;
  r.y.assign(x.size(), std::nanf(""));
  k.unit_forward(x.data(), r.y.data(), b, a, r.stats, r.c);
  k.stream_fence();
  return r;
}

template <class T>
bool same_bits(const T* a, const T* b, int count) {
  return std::memcmp(a, b, static_cast<std::size_t>(count) * sizeof(T)) == 0;
}

void require_same(const unit_results& expected, const unit_results& got, const block_shape& b) {
  const int n = b.channels;
  CHECK(same_bits(expected.stats.rstd_exact, got.stats.rstd_exact, n));
  CHECK(same_bits(expected.stats.mean_exact, got.stats.mean_exact, n));
  CHECK(same_bits(expected.stats.mean, got.stats.mean, n));
  CHECK(same_bits(expected.stats.rstd, got.stats.rstd, n));
  CHECK(same_bits(expected.c.scale, got.c.scale, n));
  CHECK(same_bits(expected.c.shift, got.c.shift, n));
  CHECK(same_bits(expected.c.scale_exact, got.c.scale_exact, n));
  CHECK(expected.c.shifted == got.c.shifted);
  CHECK(expected.c.centered == got.c.centered);
  CHECK(expected.c.needs_exact == got.c.needs_exact);
  if (expected.c.centered) CHECK(same_bits(expected.c.center, got.c.center, n));
  CHECK(same_bits(expected.y.data(), got.y.data(), static_cast<int>(expected.y.size())));  // NaN outside the block
}

// Backward from the statistics forward saved (one call a unit where the plan allows) against backward that
// recomputes them (backward's steps), on kernel set `isa`: the same bits. Returns the first.
backward_outputs saved_against_recomputed(const layer_case& c, const std::string& isa) {
  isa_scope scope(isa);
  REQUIRE(scope.ok());
  const forward_outputs f = run_forward(c);
  REQUIRE(f.status == VARNORM_OK);
  const backward_outputs saved = run_backward(c, f.mean.data(), f.rstd.data()), recomputed = run_backward(c);
  REQUIRE(saved.status == VARNORM_OK);
  REQUIRE(recomputed.status == VARNORM_OK);
  check_same_bits(saved, recomputed);
  return saved;
}

}  // namespace

TEST_CASE("kernels: unit_forward gives the statistics, coefficients and y of the four calls it stands for",
          "[kernels][unit_forward]") {
  struct block_case {
    const char* what;
    block_shape b;
    std::int64_t size;  // floats of the buffer
  };
  const block_case blocks[] = {{"a 64x64 plane", {4096, 1, 1, 0}, 4096},
                               {"a plane with a tail", {1000, 1, 1, 0}, 1000},
                               {"16 planes of 16x16", {256, 1, 16, 256}, 16 * 256},
                               {"4 planes of 32x32", {1024, 1, 4, 1024}, 4 * 1024},
                               {"3 planes of 7 values", {7, 1, 3, 7}, 21},
                               {"an NHWC sample of 64 channels", {37, 64, 64, 0}, 37 * 64},
                               {"channels 0-4 of an NHWC sample of 7", {200, 7, 5, 0}, 200 * 7}};
  std::mt19937 rng(29);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const std::string& isa : supported_isas()) {
    isa_scope scope(isa);
    REQUIRE(scope.ok());
    const kernel_table& k = varnorm::detail::active_kernels();
    for (const block_case& bc : blocks) {
      std::vector<float> x(static_cast<std::size_t>(bc.size)), alpha(64), beta(64);
      for (std::size_t i = 0; i < x.size(); ++i) x[i] = 3.0f + 0.5f * normal(rng) + 1e-3f * static_cast<float>(i % 17);
      for (std::size_t ch = 0; ch < alpha.size(); ++ch) {
        alpha[ch] = 1.0f + 0.1f * normal(rng);
        beta[ch] = normal(rng);
      }
      for (int variant = 0; variant < 4; ++variant) {
        CAPTURE(isa, bc.what, variant);
        const bool with_beta = variant % 2 == 1, center = variant >= 2;
        const varnorm_algorithm algorithm = variant == 1 ? VARNORM_ALGORITHM_WELFORD : VARNORM_ALGORITHM_SHIFTED_SUMS;
        const unit_forward_args args{algorithm,
                                     static_cast<double>(bc.b.positions - (center ? 0 : 1)),
                                     1e-5,
                                     alpha.data(),
                                     with_beta ? beta.data() : nullptr,
                                     center,
                                     variant == 3};
        require_same(by_four_calls(k, x, bc.b, args), by_one_call(k, x, bc.b, args), bc.b);
      }
    }
  }
}

TEST_CASE("kernels: unit_forward leaves y to the caller where a scale overflows float", "[kernels][unit_forward]") {
  // x = {a, a(1 + 2^-23)}: var (correction 1) = a^2 * 2^-47, so with eps = 0 rstd = 2^23.5 / a; alpha 2^100 makes
  // alpha * rstd = 2^143.5, beyond float.
  const float a = std::ldexp(1.0f, -20);
  const std::vector<float> x = {a, a * (1.0f + std::ldexp(1.0f, -23))};
  const float alpha = std::ldexp(1.0f, 100);
  const block_shape b{2, 1, 1, 0};
  for (const std::string& isa : supported_isas()) {
    isa_scope scope(isa);
    REQUIRE(scope.ok());
    CAPTURE(isa);
    const kernel_table& k = varnorm::detail::active_kernels();
    const unit_forward_args args{VARNORM_ALGORITHM_SHIFTED_SUMS, 1.0, 0.0, &alpha, nullptr, false, false};
    const unit_results expected = by_four_calls(k, x, b, args), got = by_one_call(k, x, b, args);
    CHECK(got.c.needs_exact);
    require_same(expected, got, b);
    for (float y : got.y) CHECK(std::isnan(y));  // untouched
  }
}

TEST_CASE("kernels: unit_backward gives dx, dalpha and dbeta of backward's steps, zero gradients included",
          "[kernels][unit_backward]") {
  // NCHW groups of small planes and an NHWC sample of one tile: one call a unit. Per-sample affine writes each
  // unit's dalpha and dbeta terms as they are; planes whose dy is all -0 or all +0 give +0 sums.
  const varnorm_desc shapes[] = {make_desc(2, 3, 8, 8, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, true),
                                 make_desc(2, 5, 4, 6, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, true)};
  for (const varnorm_desc& shape : shapes) {
    layer_case c = make_case(shape, false, 77);
    for (std::int64_t p = 0; p < shape.h * shape.w; ++p) {
      c.dy[static_cast<std::size_t>(element_offset(shape, 0, 1, p))] = -0.0f;
      c.dy[static_cast<std::size_t>(element_offset(shape, 1, 2, p))] = 0.0f;
    }
    for (const std::string& isa : supported_isas()) {
      CAPTURE(isa, shape.layout);
      const backward_outputs saved = saved_against_recomputed(c, isa);
      CHECK_FALSE(std::signbit(saved.dbeta[1]));  // sample 0, channel 1 (per-sample affine: n * C + c): +0
    }
  }
}

TEST_CASE("kernels: centred unit_backward gives backward's steps' bits, beside units whose far mean keeps them there",
          "[kernels][unit_backward]") {
  // InstanceNorm2d (a group per channel, mean subtracted): NCHW groups of small planes and one NHWC sample of one
  // tile a unit. Means within a deviation take the one call; a channel 1e4 away (shifted sums) and one 1e6 away
  // (the mean's correction too) send their unit to backward's steps. Both must give the recomputed path's bits.
  const varnorm_desc shapes[] = {
      with_groups(make_desc(2, 6, 8, 8, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 0, false), 0, true),
      with_groups(make_desc(2, 5, 4, 6, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, true), 0, true),
      with_groups(make_desc(3, 70, 3, 3, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 1, false), 0, true)};
  for (const varnorm_desc& shape : shapes) {
    layer_case c = make_case(shape, true, 78, 0.3);
    for (std::int64_t p = 0; p < shape.h * shape.w; ++p) {
      c.x[static_cast<std::size_t>(element_offset(shape, 0, 1, p))] += 1e4f;
      c.x[static_cast<std::size_t>(element_offset(shape, 1, 2, p))] += 1e6f;
      c.dy[static_cast<std::size_t>(element_offset(shape, 1, 3, p))] = -0.0f;
    }
    for (const std::string& isa : supported_isas()) {
      CAPTURE(isa, shape.layout, shape.c);
      saved_against_recomputed(c, isa);
    }
  }
}

TEST_CASE("kernels: unit_backward of whole statistics groups gives backward's steps' bits",
          "[kernels][unit_backward]") {
  // GroupNorm: NCHW groups of four planes of 1600 values (a key a plane: the group's planes one block), a key of
  // several groups of small planes, and an NHWC sample of one tile in groups of three channels; with and without
  // centring. A group 1e4 away and one 1e6 away keep their units on backward's steps (with centring).
  const varnorm_desc shapes[] = {
      with_groups(make_desc(2, 8, 40, 40, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 0, false), 2, true),
      with_groups(make_desc(2, 8, 40, 40, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, true), 2, false),
      with_groups(make_desc(2, 12, 6, 6, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 0, false), 3, true),
      with_groups(make_desc(2, 12, 5, 7, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, true), 4, true)};
  for (const varnorm_desc& shape : shapes) {
    layer_case c = make_case(shape, true, 79, 0.3);
    for (std::int64_t p = 0; p < shape.h * shape.w; ++p) {
      c.x[static_cast<std::size_t>(element_offset(shape, 0, 1, p))] += 1e4f;
      c.x[static_cast<std::size_t>(element_offset(shape, 1, 5, p))] += 1e6f;
      c.dy[static_cast<std::size_t>(element_offset(shape, 1, 2, p))] = -0.0f;
    }
    for (const std::string& isa : supported_isas()) {
      CAPTURE(isa, shape.layout, shape.c, shape.groups, shape.center);
      saved_against_recomputed(c, isa);
    }
  }
}
