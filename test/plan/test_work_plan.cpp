// What the work plan promises, seen through the public API: results are bitwise the same for max_threads 0,
// 1 and 2 (shapes above the 131072-element parallel cut-off, both schedules: whole units per thread and
// tiles of few large units spread over threads), backward with saved statistics equals backward with
// recomputed ones bitwise, small NCHW planes taken in groups get the bits each gets alone, and planes cut
// into several 32768-float tiles (NCHW) or NHWC channel groups (64 channels) still match the oracle at the
// tile and group boundaries; AUTO is shifted sums. Saved versus recomputed statistics, tile boundaries and AUTO
// also for groups of channels (GroupNorm, LayerNorm, InstanceNorm2d, grouped VarianceNorm2d).
#include <varnorm/varnorm.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "support/cases.hpp"
#include "support/compare.hpp"
#include "support/isa.hpp"
#include "support/oracle.hpp"
#include "support/same_bits.hpp"
#include "support/tolerance.hpp"

using namespace varnorm_test;

namespace {

// Each above 131072 elements. Many units: whole units per thread (NCHW 15x15: groups of small planes). One or
// three units of several tiles: tiles spread over threads; two such units on two threads: a unit per thread
// (kWholeUnitMaxBytes). NHWC 80 channels: two channel groups per sample, a pair; one pair of 2 MiB spreads its
// tiles in fixed shares (kFixedSharesMaxBytes).
std::vector<varnorm_desc> parallel_shapes() {
  return {make_desc(4, 16, 48, 48, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_TWO_PASS, 1, false),
          make_desc(2, 300, 15, 15, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, true),
          make_desc(1, 2, 300, 300, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_WELFORD, 1, false),
          make_desc(1, 3, 300, 300, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 0, true),
          make_desc(1, 3, 256, 256, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, false),
          make_desc(2, 80, 32, 32, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_TWO_PASS, 0, true),
          make_desc(1, 80, 64, 64, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 1, false)};
}

// The outputs of c assembled plane by plane: each (n, ch) plane of an NCHW tensor with per-sample affine run as
// a 1 x 1 x H x W tensor with its own alpha (and beta); backward recomputes the statistics.
std::pair<forward_outputs, backward_outputs> run_plane_by_plane(const layer_case& c) {
  const varnorm_desc& d = c.desc;
  const std::size_t m = static_cast<std::size_t>(d.h * d.w);
  forward_outputs f;
  f.y.assign(tensor_size(d), 0.0f);
  f.mean.assign(stats_size(d), 0.0f);
  f.rstd.assign(stats_size(d), 0.0f);
  backward_outputs b;
  b.dx.assign(tensor_size(d), 0.0f);
  b.dalpha.assign(affine_size(d), 0.0f);
  b.dbeta.assign(affine_size(d), 0.0f);
  for (std::size_t i = 0; i < stats_size(d); ++i) {  // plane i = n * C + ch, also its affine index
    layer_case plane;
    plane.desc = make_desc(1, 1, d.h, d.w, VARNORM_LAYOUT_NCHW, d.algorithm, d.correction, false, d.eps);
    const auto first = static_cast<std::ptrdiff_t>(i * m), last = static_cast<std::ptrdiff_t>((i + 1) * m);
    plane.x.assign(c.x.begin() + first, c.x.begin() + last);
    plane.dy.assign(c.dy.begin() + first, c.dy.begin() + last);
    plane.alpha = {c.alpha[i]};
    if (!c.beta.empty()) plane.beta = {c.beta[i]};
    const forward_outputs pf = run_forward(plane);
    const backward_outputs pb = run_backward(plane);
    REQUIRE(pf.status == VARNORM_OK);
    REQUIRE(pb.status == VARNORM_OK);
    std::copy(pf.y.begin(), pf.y.end(), f.y.begin() + first);
    f.mean[i] = pf.mean[0];
    f.rstd[i] = pf.rstd[0];
    std::copy(pb.dx.begin(), pb.dx.end(), b.dx.begin() + first);
    b.dalpha[i] = pb.dalpha[0];
    b.dbeta[i] = pb.dbeta[0];
  }
  return {f, b};
}

// Forward and backward of c on every kernel set give every plane the bits it gets alone (run_plane_by_plane).
void check_planes_as_alone(const layer_case& c) {
  for (const std::string& isa : supported_isas()) {
    isa_scope scope(isa);
    REQUIRE(scope.ok());
    CAPTURE(isa);
    const forward_outputs f = run_forward(c);
    const backward_outputs b = run_backward(c);
    REQUIRE(f.status == VARNORM_OK);
    REQUIRE(b.status == VARNORM_OK);
    const auto alone = run_plane_by_plane(c);
    check_same_bits(f, alone.first);
    check_same_bits(b, alone.second);
  }
}

}  // namespace

TEST_CASE("NCHW planes taken in groups give every plane the bits it gets alone", "[plan][plane_groups]") {
  // Planes up to the largest that a kernel set walks side by side (2047 values on avx512, 511 on avx2, 255 on
  // sse2, 63 on scalar), whose own rows are 1, 2 or 4 vectors, and past it; C = 2, 5, 9, 17: groups of up to 8
  // planes with remainders, and shared rows of 1 to 8 planes.
  const std::pair<std::int64_t, std::int64_t> planes[] = {
      {1, 1},   {1, 5},   {4, 4},   {1, 17},  {5, 7},   {8, 8},    {15, 17}, {16, 16},  {1, 300},
      {1, 511}, {1, 512}, {1, 513}, {24, 24}, {32, 32}, {1, 1000}, {45, 45}, {1, 2047}, {1, 2048}};
  const std::int64_t channel_counts[] = {2, 5, 9, 17};
  std::uint64_t seed = 71;
  for (std::size_t i = 0; i < std::size(planes); ++i) {
    const auto [h, w] = planes[i];
    const int correction = h * w == 1 ? 0 : static_cast<int>(i % 2);
    for (varnorm_algorithm algorithm : kExplicitAlgorithms) {
      const varnorm_desc d = make_desc(1 + static_cast<std::int64_t>(i % 2), channel_counts[i % 4], h, w,
                                       VARNORM_LAYOUT_NCHW, algorithm, correction, true);
      const layer_case c = make_case(d, i % 2 == 0, seed++, i % 3 == 0 ? 30.0 : 1.0);
      CAPTURE(algorithm, d.n, d.c, h, w);
      check_planes_as_alone(c);
    }
  }
}

TEST_CASE("planes summed twice or by the segment merges beside planes summed once keep the bits they get alone",
          "[plan][plane_groups]") {
  // Shifted sums take a plane's statistics about the mean of its first row; a plane with a trend or a far first
  // value is summed again about its mean, alone, and a plane holding NaN or Inf falls back to the segment merges
  // of the whole run. Each plane must still get its own bits: planes of 1024 to 2047 values share rows (avx512),
  // larger ones do not.
  const std::pair<std::int64_t, std::int64_t> planes[] = {{32, 32}, {45, 45}, {1, 2047}, {64, 64}};
  std::uint64_t seed = 91;
  for (const auto& [h, w] : planes) {
    for (varnorm_algorithm algorithm : {VARNORM_ALGORITHM_AUTO, VARNORM_ALGORITHM_SHIFTED_SUMS}) {
      layer_case c = make_case(make_desc(1, 7, h, w, VARNORM_LAYOUT_NCHW, algorithm, 1, true), true, seed++);
      const std::int64_t m = h * w;
      for (std::int64_t p = 0; p < m; ++p) {
        c.x[static_cast<std::size_t>(0 * m + p)] = 3.0f * static_cast<float>(p) / static_cast<float>(m);  // trend
        if (p > 0) c.x[static_cast<std::size_t>(2 * m + p)] = 0.001f * static_cast<float>(p % 7);         // far first
      }
      c.x[static_cast<std::size_t>(2 * m)] = 1000.0f;
      // Each beside a plane that keeps its sums, in rows shared by two planes (avx512).
      c.x[static_cast<std::size_t>(1 * m + 3)] = std::numeric_limits<float>::infinity();
      c.x[static_cast<std::size_t>(4 * m + m / 2)] = std::numeric_limits<float>::quiet_NaN();
      CAPTURE(algorithm, h, w);
      check_planes_as_alone(c);
    }
  }
}

TEST_CASE("forward and backward give the same bits for max_threads 0, 1 and 2 on shapes that run in parallel",
          "[plan][threads]") {
  for (const varnorm_desc& shape : parallel_shapes()) {
    REQUIRE(tensor_size(shape) > 131072);
    const layer_case base = make_case(shape, true, 31);
    for (const std::string& isa : supported_isas()) {
      isa_scope scope(isa);
      REQUIRE(scope.ok());
      layer_case serial = base;
      serial.desc.max_threads = 1;
      const forward_outputs f1 = run_forward(serial);
      const backward_outputs b1 = run_backward(serial, f1.mean.data(), f1.rstd.data());
      REQUIRE(f1.status == VARNORM_OK);
      REQUIRE(b1.status == VARNORM_OK);
      for (int threads : {0, 2}) {
        CAPTURE(isa, threads, shape.n, shape.c, shape.h, shape.w, shape.layout);
        layer_case c = base;
        c.desc.max_threads = threads;
        // Each call a second time on its buffers, back to back: the first may find the pool cold and stay on
        // the calling thread (calls below 1M values), the second finds it warm.
        forward_outputs f = run_forward(c);
        REQUIRE(f.status == VARNORM_OK);
        check_same_bits(f, f1);
        REQUIRE(rerun_forward(c, f) == VARNORM_OK);
        check_same_bits(f, f1);
        for (bool saved : {true, false}) {
          CAPTURE(saved);
          const float* mean = saved ? f.mean.data() : nullptr;
          const float* rstd = saved ? f.rstd.data() : nullptr;
          backward_outputs b = run_backward(c, mean, rstd);
          REQUIRE(b.status == VARNORM_OK);
          check_same_bits(b, b1);
          REQUIRE(rerun_backward(c, mean, rstd, b) == VARNORM_OK);
          check_same_bits(b, b1);
        }
      }
    }
  }
}

TEST_CASE("backward with the statistics saved by forward equals backward with recomputed statistics, bitwise",
          "[plan][saved]") {
  std::vector<varnorm_desc> shapes = {
      make_desc(3, 7, 5, 9, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false),
      make_desc(2, 70, 6, 5, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_WELFORD, 0, true),
      make_desc(1, 1, 40000, 1, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_TWO_PASS, 1, false),
      // Groups of channels, with and without the mean subtracted.
      with_groups(make_desc(3, 8, 5, 9, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 0, false), 2, true),
      with_groups(make_desc(2, 12, 1, 257, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_WELFORD, 0, true), 3, true),
      with_groups(make_desc(2, 256, 3, 4, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, false), 2, true),
      with_groups(make_desc(2, 70, 6, 5, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, false), 0, true),
      with_groups(make_desc(1, 2, 20000, 1, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_SHIFTED_SUMS, 1, false), 1, true),
      with_groups(make_desc(3, 6, 7, 7, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_TWO_PASS, 1, true), 3, false)};
  std::uint64_t seed = 51;
  for (const varnorm_desc& shape : shapes) {
    const layer_case c = make_case(shape, false, seed++, 30.0);
    for (const std::string& isa : supported_isas()) {
      isa_scope scope(isa);
      REQUIRE(scope.ok());
      CAPTURE(isa, shape.n, shape.c, shape.h, shape.w, shape.groups, shape.center, shape.layout);
      const forward_outputs f = run_forward(c);
      REQUIRE(f.status == VARNORM_OK);
      const backward_outputs saved = run_backward(c, f.mean.data(), f.rstd.data());
      const backward_outputs recomputed = run_backward(c);
      REQUIRE(saved.status == VARNORM_OK);
      REQUIRE(recomputed.status == VARNORM_OK);
      check_same_bits(saved, recomputed);
    }
  }
}

TEST_CASE("AUTO computes the statistics by shifted sums on every kernel set: bitwise the SHIFTED_SUMS results",
          "[plan][auto]") {
  // Shapes whose planes span several segments, so that the algorithms' results differ in their last bits.
  const varnorm_desc shapes[] = {
      make_desc(2, 3, 40, 50, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false),
      make_desc(2, 70, 30, 20, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, true),
      with_groups(make_desc(2, 8, 40, 50, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 0, false), 2, true),
      with_groups(make_desc(1, 130, 30, 20, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 1, false), 1, true)};
  std::uint64_t seed = 61;
  bool welford_differs = false;
  for (const varnorm_desc& shape : shapes) {
    const layer_case c = make_case(shape, true, seed++, 30.0);
    varnorm_desc explicit_desc = shape;
    explicit_desc.algorithm = VARNORM_ALGORITHM_SHIFTED_SUMS;
    varnorm_desc welford = shape;
    welford.algorithm = VARNORM_ALGORITHM_WELFORD;
    for (const std::string& isa : supported_isas()) {
      isa_scope scope(isa);
      REQUIRE(scope.ok());
      CAPTURE(isa, shape.layout);
      const forward_outputs automatic = run_forward(c);
      REQUIRE(automatic.status == VARNORM_OK);
      check_same_bits(automatic, run_forward(c, explicit_desc));
      check_same_bits(run_backward(c), run_backward(c, explicit_desc, nullptr, nullptr));
      const forward_outputs other = run_forward(c, welford);
      welford_differs = welford_differs || other.rstd != automatic.rstd || other.mean != automatic.mean;
    }
  }
  // The check can tell the algorithms apart: Welford's float statistics differ somewhere.
  CHECK(welford_differs);
}

TEST_CASE("planes cut into several tiles or NHWC channel groups match the oracle at every boundary", "[plan][tiles]") {
  // NCHW planes of 2^15 - 1, 2^15, 2^15 + 1, 2 * 2^15 + 3 and 4 * 2^15 + 3 floats (tiles of 2^15); NHWC with 64,
  // 65 and 129 channels (groups of 64), whose tiles then hold 512 positions, over 1100 positions. The plane of
  // 4 * 2^15 + 3 floats, the group of 4 planes below and the NHWC pairs of units (65 channels and more) span
  // 512 KiB or more: their output tiles are written last first (kReversedOutputMinBytes).
  std::vector<varnorm_desc> shapes;
  for (std::int64_t m : {32767, 32768, 32769, 65539, 131075})
    shapes.push_back(make_desc(1, 1, m, 1, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false));
  for (std::int64_t channels : {64, 65, 129})
    shapes.push_back(make_desc(1, channels, 1100, 1, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, false));
  // Groups of channels whose statistics span several tiles or channel groups: NCHW groups of 2 and 3 planes of
  // 2^15 - 1 and 2^15 + 1 floats, NHWC groups of 129 and 65 channels over 1100 positions; with and without
  // the mean subtracted.
  shapes.push_back(
      with_groups(make_desc(1, 4, 32767, 1, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false), 2, true));
  shapes.push_back(
      with_groups(make_desc(1, 3, 32769, 1, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false), 1, false));
  shapes.push_back(
      with_groups(make_desc(1, 4, 32769, 1, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false), 1, true));
  shapes.push_back(
      with_groups(make_desc(1, 129, 1100, 1, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, false), 1, true));
  shapes.push_back(
      with_groups(make_desc(1, 130, 1100, 1, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, false), 2, false));
  std::uint64_t seed = 61;
  for (const varnorm_desc& shape : shapes) {
    layer_case c = make_case(shape, true, seed++, 10.0);
    const oracle_forward_result fwd = oracle_forward(c.desc, c.x.data(), c.alpha.data(), c.beta_or_null());
    const oracle_backward_result bwd = oracle_backward(c.desc, c.x.data(), c.alpha.data(), c.dy.data());
    const forward_bounds fb = forward_error_bounds(c, fwd);
    const backward_bounds bb = backward_error_bounds(c, fwd, bwd);
    std::vector<real> mean(fwd.planes.size()), rstd(fwd.planes.size());
    for (std::size_t i = 0; i < rstd.size(); ++i) {
      mean[i] = fwd.planes[i].mean;
      rstd[i] = fwd.planes[i].rstd;
    }
    for (const std::string& isa : supported_isas()) {
      isa_scope scope(isa);
      REQUIRE(scope.ok());
      for (varnorm_algorithm algorithm : kExplicitAlgorithms) {
        c.desc.algorithm = algorithm;
        CAPTURE(isa, algorithm, shape.c, shape.h, shape.groups, shape.center, shape.layout);
        const forward_outputs f = run_forward(c);
        REQUIRE(f.status == VARNORM_OK);
        CHECK(worst_error_ratio(f.y, fwd.y, fb.y) <= 1.0);
        CHECK(worst_error_ratio(f.mean, mean, fb.mean) <= 1.0);
        CHECK(worst_error_ratio(f.rstd, rstd, fb.rstd) <= 1.0);
        const backward_outputs b = run_backward(c, f.mean.data(), f.rstd.data());
        REQUIRE(b.status == VARNORM_OK);
        CHECK(worst_error_ratio(b.dx, bwd.dx, bb.dx) <= 1.0);
        CHECK(worst_error_ratio(b.dalpha, bwd.dalpha, bb.dalpha) <= 1.0);
        CHECK(worst_error_ratio(b.dbeta, bwd.dbeta, bb.dbeta) <= 1.0);
      }
    }
  }
}
