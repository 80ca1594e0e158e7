// Every kernel set agrees with the portable scalar kernels and with the long double oracle within the accuracy
// bound (test/support/tolerance.hpp) on shapes that hit every tail and block edge; a plane of 2^20 + 3 values
// keeps the accuracy promise on every kernel set; and every kernel set gives the same bits on one thread and on
// the library's default thread count.
//
// Where the edges are (src/kernels/kernel_source.inl): a contiguous block (an NCHW plane, an NHWC sample with
// C <= 64) is walked in rows of R positions, R * C a multiple of the vector width; rows are accumulated in
// segments of 16 and segments merged pairwise; positions left over from whole rows take the tail path. For
// NCHW (and NHWC with C = 1) R is 4 (scalar), 16 (sse2), 32 (avx2), 128 (avx512), so a segment is 64, 256, 512,
// 2048 positions. NHWC with C = 3 takes 32 positions a row on avx512, C = 16 takes 8, C = 64 takes 2. Channel
// counts whose lane pattern does not repeat within a row (15, 17, 31, 33, 63) and channel groups of a wider C
// (groups of 64: 65, 100, 128, 129) are walked one position a row, channels in sub-groups of up to 8 vectors,
// the last vector partial.
#include <varnorm/varnorm.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "support/cases.hpp"
#include "support/compare.hpp"
#include "support/isa.hpp"
#include "support/oracle.hpp"
#include "support/oracle_checks.hpp"
#include "support/same_bits.hpp"

using namespace varnorm_test;

namespace {

// The sizes the issue names, the row and segment edges of the widest kernel sets on top of them, and the
// lengths where a short block's rows narrow (each halving of the vectors per row: 128/256 on sse2, 256/512 on
// avx2, 512/1024/2048 on avx512 for one channel).
const std::vector<std::int64_t> kPositionCounts = {1,   2,   3,    7,    15,   16,   17,   31,   33,
                                                   63,  65,  127,  128,  129,  255,  256,  257,  511,
                                                   512, 513, 1023, 1024, 1025, 2047, 2048, 2049, 3 * 2048 + 7};
const std::int64_t kChannelCounts[] = {1, 2, 3, 4, 7, 15, 16, 17, 31, 33, 63, 64, 65, 100, 128, 129};

struct variant {
  int correction;
  bool with_beta;
  bool per_sample_affine;
};

// Two variants per shape, between them both corrections (M = 1 value per statistic: population variance only,
// the other is TOO_FEW_ELEMENTS) and with and without beta; per-sample affine on every other shape.
std::vector<variant> variants_for(std::int64_t m, std::size_t shape_index) {
  const bool per_sample = shape_index % 2 == 1;
  if (m == 1) return {{0, true, per_sample}, {0, false, !per_sample}};
  const int first = static_cast<int>(shape_index % 2);
  return {{first, true, per_sample}, {1 - first, false, !per_sample}};
}

// Runs every supported kernel set (the scalar reference first, as supported_isas() lists it) on one case with
// every algorithm: each within the bound of the oracle, each other set within the bounds of scalar's result.
void check_every_isa(const layer_case& base, const oracle_reference& ref, const std::vector<std::string>& isas) {
  for (varnorm_algorithm algorithm : kAllAlgorithms) {
    layer_case c = base;
    c.desc.algorithm = algorithm;
    bool have_scalar = false;
    forward_outputs scalar_f;
    backward_outputs scalar_b;
    for (const std::string& isa : isas) {
      isa_scope scope(isa);
      REQUIRE(scope.ok());
      const varnorm_desc& d = c.desc;
      CAPTURE(isa, algorithm, d.layout, d.n, d.c, d.h, d.w, d.groups, d.center, d.correction, d.per_sample_affine,
              c.beta.size());
      const layer_outputs o = run_checked_against_oracle(c, ref);
      const forward_outputs& f = o.forward;
      const backward_outputs& b = o.backward;
      if (group_channels(d) * d.h * d.w == 1) {
        // A plane of one value is constant: variance exactly 0, so rstd is 1/sqrt(eps) correctly rounded.
        const float expected = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d.eps)));
        for (float r : f.rstd) CHECK(r == expected);
      }
      if (isa == reference_isa()) {
        have_scalar = true;
        scalar_f = f;
        scalar_b = b;
      } else if (have_scalar) {
        check_forward_agrees(f, scalar_f, ref);
        check_backward_agrees(b, scalar_b, ref);
      }
    }
  }
}

// Each shape keeps its groups and center; variants as for the others.
void check_shapes(const std::vector<varnorm_desc>& shapes, std::uint64_t seed) {
  const std::vector<std::string> isas = supported_isas();
  REQUIRE(!isas.empty());
  if (isas.front() != reference_isa())
    WARN("VARNORM_TEST_ISAS excludes scalar: kernel sets are compared with the oracle only");
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    const varnorm_desc& s = shapes[i];
    for (const variant& v : variants_for(group_channels(s) * s.h * s.w, i)) {
      const varnorm_desc d = with_groups(
          make_desc(s.n, s.c, s.h, s.w, s.layout, VARNORM_ALGORITHM_AUTO, v.correction, v.per_sample_affine), s.groups,
          s.center != 0);
      // A DC offset of 30 standard deviations on every third shape: kappa well above 1.
      const layer_case c = make_case(d, v.with_beta, seed++, i % 3 == 0 ? 30.0 : 1.0);
      check_every_isa(c, make_reference(c), isas);
    }
  }
}

}  // namespace

TEST_CASE("NCHW: every ISA agrees with the scalar kernels and the oracle within the accuracy bound for planes of "
          "M = 1, 2, 3, 7, 15, 16, 17, 31, 33, 63, 65 and at every row and segment edge",
          "[kernels][isa_agreement]") {
  std::vector<varnorm_desc> shapes;
  std::int64_t n = 1;
  for (std::int64_t m : kPositionCounts) {
    shapes.push_back(make_desc(n, 1, 1, m, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 0, false));
    shapes.push_back(make_desc(3 - n, 3, m, 1, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 0, false));
    n = 3 - n;
  }
  // Planes given as h x w: only M = h * w may matter.
  for (auto hw : {std::pair<std::int64_t, std::int64_t>{3, 5}, {4, 4}, {3, 11}, {7, 9}, {5, 13}, {8, 16}, {3, 683}})
    shapes.push_back(make_desc(2, 2, hw.first, hw.second, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 0, false));
  check_shapes(shapes, 10000);
}

TEST_CASE("NHWC: every ISA agrees with the scalar kernels and the oracle within the accuracy bound for C = 1, 2, 3, "
          "4, 7, 15, 16, 17, 31, 33, 63, 64, 65, 100, 128, 129 and for every tail and row edge of small C",
          "[kernels][isa_agreement]") {
  std::vector<varnorm_desc> shapes;
  std::int64_t n = 1;
  // Channel tails and channel groups, over one position, a segment and a bit, and many rows of C = 64.
  for (std::int64_t c : kChannelCounts) {
    for (std::int64_t m : {1, 17, 130}) {
      shapes.push_back(make_desc(n, c, 1, m, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, false));
      n = 3 - n;
    }
  }
  // Few channels several positions to a vector (audio): positions over every tail and row edge.
  for (std::int64_t c : {1, 2, 3, 4, 5}) {
    for (std::int64_t m : kPositionCounts) {
      shapes.push_back(make_desc(n, c, 1, m, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, false));
      n = 3 - n;
    }
  }
  shapes.push_back(make_desc(2, 3, 5, 13, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, false));
  shapes.push_back(make_desc(1, 65, 7, 9, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, false));
  check_shapes(shapes, 20000);
}

TEST_CASE("groups of channels, with and without the mean subtracted: every ISA agrees with the scalar kernels and "
          "the oracle within the accuracy bound on NCHW planes at row and segment edges and NHWC channel groups "
          "wider than 64",
          "[kernels][isa_agreement][groups]") {
  std::vector<varnorm_desc> shapes;
  std::int64_t n = 1;
  bool center = true;
  auto add = [&](std::int64_t c, std::int64_t h, std::int64_t w, varnorm_layout layout, std::int32_t groups) {
    shapes.push_back(with_groups(make_desc(n, c, h, w, layout, VARNORM_ALGORITHM_AUTO, 0, false), groups, center));
    n = 3 - n;
    center = !center;
  };
  // NCHW: groups of 2 and 4 planes over every row and segment edge; planes 4x4 .. 64x64; 1 x 257.
  for (std::int64_t m : {1, 2, 3, 15, 16, 17, 63, 65, 127, 129, 255, 257, 511, 513, 1023, 2047, 2049, 3 * 2048 + 7}) {
    add(4, 1, m, VARNORM_LAYOUT_NCHW, 2);
    add(4, m, 1, VARNORM_LAYOUT_NCHW, 1);
  }
  for (std::int64_t side : {4, 8, 16, 32, 64}) {
    add(8, side, side, VARNORM_LAYOUT_NCHW, 2);
    add(8, side, side, VARNORM_LAYOUT_NHWC, 4);
  }
  add(12, 1, 257, VARNORM_LAYOUT_NCHW, 3);
  add(12, 1, 257, VARNORM_LAYOUT_NHWC, 3);
  add(32, 3, 5, VARNORM_LAYOUT_NCHW, 32);
  add(9, 7, 9, VARNORM_LAYOUT_NCHW, 0);
  // NHWC: groups within a 64-channel block, across block edges (C/G = 13, 43, 25), and wider than one (C/G =
  // 65, 128, 129, 256), over one position, a segment and a bit, and a few rows.
  const std::pair<std::int64_t, std::int32_t> nhwc[] = {{64, 1},  {64, 16}, {65, 5},  {65, 1},  {100, 4}, {128, 1},
                                                        {129, 3}, {129, 1}, {256, 2}, {256, 1}, {3, 1},   {16, 4},
                                                        {17, 1},  {33, 11}, {80, 0},  {72, 24}};
  for (const auto& [c, groups] : nhwc)
    for (std::int64_t m : {1, 17, 130}) add(c, 1, m, VARNORM_LAYOUT_NHWC, groups);
  check_shapes(shapes, 50000);
}

TEST_CASE("a plane of 2^20 + 3 values (NCHW) and three of 2^18 + 1 (NHWC) with |mean|/std = 1e3 keep the accuracy "
          "promise on every ISA, with the same bits on one thread and the default thread count",
          "[kernels][isa_agreement][large]") {
  const std::vector<std::string> isas = supported_isas();
  // eps = 0: rstd is then 1/sqrt(var), and its bound is the promise on var carried through the square root.
  const varnorm_desc shapes[] = {
      make_desc(1, 1, 1, (std::int64_t{1} << 20) + 3, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false, 0.0f),
      make_desc(1, 3, 1, (std::int64_t{1} << 18) + 1, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, false, 0.0f)};
  std::uint64_t seed = 30000;
  for (const varnorm_desc& d : shapes) {
    const varnorm_layout layout = d.layout;
    const layer_case base = make_case(d, layout == VARNORM_LAYOUT_NHWC, seed++, 1e3);
    const oracle_reference ref = make_reference(base);
    for (const oracle_plane& p : ref.fwd.planes) REQUIRE(static_cast<double>(p.kappa) > 900.0);
    for (const std::string& isa : isas) {
      isa_scope scope(isa);
      REQUIRE(scope.ok());
      for (varnorm_algorithm algorithm : kExplicitAlgorithms) {
        CAPTURE(isa, algorithm, layout);
        layer_case c = base;
        c.desc.algorithm = algorithm;
        c.desc.max_threads = 1;
        const layer_outputs serial = run_checked_against_oracle(c, ref);

        c.desc.max_threads = 0;
        const forward_outputs f0 = run_forward(c);
        REQUIRE(f0.status == VARNORM_OK);
        check_same_bits(f0, serial.forward);
        const backward_outputs b0 = run_backward(c, f0.mean.data(), f0.rstd.data());
        REQUIRE(b0.status == VARNORM_OK);
        check_same_bits(b0, serial.backward);
      }
    }
  }
}

TEST_CASE("every ISA gives the same bits with max_threads 1 and 0 on tail shapes large enough to run in parallel",
          "[kernels][isa_agreement][threads]") {
  // Each above the 131072-element parallel cut-off: two NCHW planes of 2^16 + 3 (tiles spread over threads),
  // 8 x 17 planes of 31 x 33 (whole planes per thread), NHWC C = 65 (two channel groups, two tiles each) and
  // C = 3 (one sample, five tiles).
  const varnorm_desc shapes[] = {
      make_desc(1, 2, 1, (std::int64_t{1} << 16) + 3, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false),
      make_desc(8, 17, 31, 33, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, true),
      make_desc(2, 65, 33, 31, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, false),
      make_desc(1, 3, 211, 211, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, true)};
  std::uint64_t seed = 40000;
  for (const varnorm_desc& shape : shapes) {
    REQUIRE(tensor_size(shape) > 131072);
    const layer_case base = make_case(shape, true, seed++, 10.0);
    for (const std::string& isa : supported_isas()) {
      isa_scope scope(isa);
      REQUIRE(scope.ok());
      for (varnorm_algorithm algorithm : kAllAlgorithms) {
        CAPTURE(isa, algorithm, shape.layout, shape.n, shape.c, shape.h, shape.w);
        layer_case one = base, any = base;
        one.desc.algorithm = any.desc.algorithm = algorithm;
        one.desc.max_threads = 1;
        any.desc.max_threads = 0;
        const forward_outputs f1 = run_forward(one), f0 = run_forward(any);
        REQUIRE(f1.status == VARNORM_OK);
        REQUIRE(f0.status == VARNORM_OK);
        check_same_bits(f0, f1);
        const backward_outputs b1 = run_backward(one), b0 = run_backward(any);
        REQUIRE(b1.status == VARNORM_OK);
        REQUIRE(b0.status == VARNORM_OK);
        check_same_bits(b0, b1);
      }
    }
  }
}
