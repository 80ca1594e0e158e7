// What the work plan promises, seen through the public API: results are bitwise the same for max_threads 0,
// 1 and 2 (shapes above the 131072-element parallel cut-off, both schedules: whole units per thread and
// tiles of few large units spread over threads), backward with saved statistics equals backward with
// recomputed ones bitwise, and planes cut into several 32768-float tiles (NCHW) or NHWC channel groups (64
// channels) still match the oracle at the tile and group boundaries; AUTO is shifted sums.
#include <varnorm/varnorm.h>

#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include "support/cases.hpp"
#include "support/compare.hpp"
#include "support/same_bits.hpp"
#include "support/isa.hpp"
#include "support/oracle.hpp"
#include "support/tolerance.hpp"

using namespace varnorm_test;

namespace {

// Each above 131072 elements. Many units: whole units per thread. One or two units of several tiles:
// tiles spread over threads. NHWC 80 channels: two channel groups per sample.
std::vector<varnorm_desc> parallel_shapes() {
  return {make_desc(4, 16, 48, 48, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_TWO_PASS, 1, false),
          make_desc(1, 2, 300, 300, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_WELFORD, 1, false),
          make_desc(1, 3, 256, 256, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, false),
          make_desc(2, 80, 32, 32, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_TWO_PASS, 0, true)};
}

}  // namespace

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
        const forward_outputs f = run_forward(c);
        REQUIRE(f.status == VARNORM_OK);
        check_same_bits(f, f1);
        for (bool saved : {true, false}) {
          CAPTURE(saved);
          const backward_outputs b = saved ? run_backward(c, f.mean.data(), f.rstd.data()) : run_backward(c);
          REQUIRE(b.status == VARNORM_OK);
          check_same_bits(b, b1);
        }
      }
    }
  }
}

TEST_CASE("backward with the statistics saved by forward equals backward with recomputed statistics, bitwise",
          "[plan][saved]") {
  std::vector<varnorm_desc> shapes = {make_desc(3, 7, 5, 9, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false),
                                      make_desc(2, 70, 6, 5, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_WELFORD, 0, true),
                                      make_desc(1, 1, 40000, 1, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_TWO_PASS, 1, false)};
  std::uint64_t seed = 51;
  for (const varnorm_desc& shape : shapes) {
    const layer_case c = make_case(shape, false, seed++, 30.0);
    for (const std::string& isa : supported_isas()) {
      isa_scope scope(isa);
      REQUIRE(scope.ok());
      CAPTURE(isa, shape.n, shape.c, shape.h, shape.w, shape.layout);
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
  const varnorm_desc shapes[] = {make_desc(2, 3, 40, 50, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false),
                                 make_desc(2, 70, 30, 20, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, true)};
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

TEST_CASE("planes cut into several tiles or NHWC channel groups match the oracle at every boundary",
          "[plan][tiles]") {
  // NCHW planes of 2^15 - 1, 2^15, 2^15 + 1 and 2 * 2^15 + 3 floats (tiles of 2^15); NHWC with 64, 65 and
  // 129 channels (groups of 64), whose tiles then hold 512 positions, over 1100 positions.
  std::vector<varnorm_desc> shapes;
  for (std::int64_t m : {32767, 32768, 32769, 65539})
    shapes.push_back(make_desc(1, 1, m, 1, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false));
  for (std::int64_t channels : {64, 65, 129})
    shapes.push_back(make_desc(1, channels, 1100, 1, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, false));
  std::uint64_t seed = 61;
  for (const varnorm_desc& shape : shapes) {
    layer_case c = make_case(shape, true, seed++, 10.0);
    const oracle_forward_result fwd = oracle_forward(c.desc, c.x.data(), c.alpha.data(), c.beta_or_null());
    const oracle_backward_result bwd = oracle_backward(c.desc, c.x.data(), c.alpha.data(), c.dy.data());
    const forward_bounds fb = forward_error_bounds(c, fwd);
    const backward_bounds bb = backward_error_bounds(c, fwd, bwd);
    std::vector<real> rstd(fwd.planes.size());
    for (std::size_t i = 0; i < rstd.size(); ++i) rstd[i] = fwd.planes[i].rstd;
    for (const std::string& isa : supported_isas()) {
      isa_scope scope(isa);
      REQUIRE(scope.ok());
      for (varnorm_algorithm algorithm : kExplicitAlgorithms) {
        c.desc.algorithm = algorithm;
        CAPTURE(isa, algorithm, shape.c, shape.h, shape.layout);
        const forward_outputs f = run_forward(c);
        REQUIRE(f.status == VARNORM_OK);
        CHECK(worst_error_ratio(f.y, fwd.y, fb.y) <= 1.0);
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
