// No kernel set reads or writes outside the buffers of a call, whatever the tails: every buffer of a forward
// and backward call is placed against a PROT_NONE guard page, right before it (an overread or overwrite past
// the end faults) or right after it (an underread or underwrite faults), on every kernel set, both layouts,
// both algorithms, sizes that leave partial vectors, rows and channel groups; and the results are the bits
// of the same call on 64-byte aligned buffers. Buffers at every float offset from a 64-byte boundary, each
// tensor at a different one, give the bits of aligned buffers too.
#include <varnorm/varnorm.h>

#include <catch2/catch.hpp>

#include <cstdint>
#include <iterator>
#include <string>
#include <vector>

#include "kernels/buffers.hpp"
#include "support/cases.hpp"
#include "support/compare.hpp"
#include "support/isa.hpp"
#include "support/oracle.hpp"

using namespace varnorm_test;

namespace {

enum class role { x, dy, y, dx, parameter, statistic };

// Every output of forward (with beta, mean and rstd) and of backward with saved and with recomputed
// statistics.
struct layer_results {
  std::vector<float> y, mean, rstd, dx, dalpha, dbeta, dx_recomputed, dalpha_recomputed, dbeta_recomputed;
};

// Runs the layer on copies of the case's buffers, each a Buffer(values, place(role)).
template <class Buffer, class Place>
layer_results run_layer(const layer_case& c, Place place) {
  const varnorm_desc& d = c.desc;
  const std::vector<float> tensor(tensor_size(d), 0.0f), stats(stats_size(d), 0.0f), affine(affine_size(d), 0.0f);
  Buffer x(c.x, place(role::x)), dy(c.dy, place(role::dy)), alpha(c.alpha, place(role::parameter)),
      beta(c.beta, place(role::parameter));
  Buffer y(tensor, place(role::y)), mean(stats, place(role::statistic)), rstd(stats, place(role::statistic));
  Buffer dx(tensor, place(role::dx)), dalpha(affine, place(role::parameter)), dbeta(affine, place(role::parameter));
  REQUIRE(varnorm_forward(&d, x.data(), alpha.data(), beta.data(), y.data(), mean.data(), rstd.data()) == VARNORM_OK);
  REQUIRE(varnorm_backward(&d, x.data(), alpha.data(), dy.data(), mean.data(), rstd.data(), dx.data(), dalpha.data(),
                           dbeta.data()) == VARNORM_OK);
  layer_results r;
  r.y = y.values();
  r.mean = mean.values();
  r.rstd = rstd.values();
  r.dx = dx.values();
  r.dalpha = dalpha.values();
  r.dbeta = dbeta.values();
  REQUIRE(varnorm_backward(&d, x.data(), alpha.data(), dy.data(), nullptr, nullptr, dx.data(), dalpha.data(),
                           dbeta.data()) == VARNORM_OK);
  r.dx_recomputed = dx.values();
  r.dalpha_recomputed = dalpha.values();
  r.dbeta_recomputed = dbeta.values();
  return r;
}

layer_results run_aligned(const layer_case& c) {
  return run_layer<offset_floats>(c, [](role) { return std::size_t{0}; });
}

void check_same_bits(const layer_results& got, const layer_results& want) {
  CHECK(bitwise_equal(got.y, want.y));
  CHECK(bitwise_equal(got.mean, want.mean));
  CHECK(bitwise_equal(got.rstd, want.rstd));
  CHECK(bitwise_equal(got.dx, want.dx));
  CHECK(bitwise_equal(got.dalpha, want.dalpha));
  CHECK(bitwise_equal(got.dbeta, want.dbeta));
  CHECK(bitwise_equal(got.dx_recomputed, want.dx_recomputed));
  CHECK(bitwise_equal(got.dalpha_recomputed, want.dalpha_recomputed));
  CHECK(bitwise_equal(got.dbeta_recomputed, want.dbeta_recomputed));
}

// For each shape (a case with seeds from `seed` on), every supported kernel set and both algorithms: calls
// check(c, aligned) with the case and its results on 64-byte aligned buffers.
template <class Check>
void for_every_isa_and_algorithm(const std::vector<varnorm_desc>& shapes, std::uint64_t seed, Check check) {
  for (const varnorm_desc& shape : shapes) {
    const layer_case base = make_case(shape, true, seed++);
    for (const std::string& isa : supported_isas()) {
      isa_scope scope(isa);
      REQUIRE(scope.ok());
      for (varnorm_algorithm algorithm : kExplicitAlgorithms) {
        layer_case c = base;
        c.desc.algorithm = algorithm;
        CAPTURE(isa, algorithm, shape.layout, shape.n, shape.c, shape.h, shape.w);
        check(c, run_aligned(c));
      }
    }
  }
}

}  // namespace

#if VARNORM_TEST_HAVE_GUARD_PAGES
TEST_CASE("forward and backward never touch memory before or after any buffer: every ISA, both layouts and "
          "algorithms, partial vectors, rows, tiles and channel groups, each buffer against a guard page",
          "[kernels][buffer_bounds]") {
  std::vector<varnorm_desc> shapes = {
      make_desc(2, 3, 1, 17, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false),
      make_desc(1, 2, 3, 11, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 0, true),
      make_desc(2, 1, 5, 13, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false),
      make_desc(1, 3, 1, 1, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 0, false),
      make_desc(1, 1, 1, 129, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false),
      make_desc(1, 2, 1, 2049, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, true),
      // Groups of small planes walked side by side (8, 8 and 1 planes of 21 values; 9 planes of 256).
      make_desc(2, 17, 3, 7, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, true),
      make_desc(1, 9, 16, 16, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 0, false),
      // Two tiles of 2^15 floats, the second of 5.
      make_desc(1, 1, 1, (std::int64_t{1} << 15) + 5, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false),
      make_desc(1, 3, 1, 513, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, false),
      make_desc(2, 2, 1, 1025, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 1, false),
      make_desc(1, 5, 3, 3, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 1, false)};
  // Channel tails and groups of 64, over 17, 33 or 65 positions (segments of 16 rows and a partial one).
  const std::int64_t channel_counts[] = {1, 2, 3, 4, 7, 17, 33, 64, 65, 100, 129};
  for (std::size_t i = 0; i < std::size(channel_counts); ++i) {
    const std::int64_t positions = i % 3 == 0 ? 17 : i % 3 == 1 ? 33 : 65;
    shapes.push_back(make_desc(1 + static_cast<std::int64_t>(i % 2), channel_counts[i], 1, positions,
                               VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, i % 4 == 3));
  }
  for_every_isa_and_algorithm(shapes, 50000, [](const layer_case& c, const layer_results& aligned) {
    for (guard_side side : {guard_side::after, guard_side::before}) {
      CAPTURE(side == guard_side::after);
      check_same_bits(run_layer<guarded_floats>(c, [side](role) { return side; }), aligned);
    }
  });
}
#endif

TEST_CASE("buffers at every float offset 1..15 from a 64-byte boundary, each tensor at a different one, give the "
          "bits of aligned buffers on every ISA",
          "[kernels][buffer_bounds]") {
  const std::vector<varnorm_desc> shapes = {
      make_desc(1, 2, 1, 33, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false),
      make_desc(2, 1, 7, 23, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 0, true),
      // A group of planes shorter than a vector, walked as one span.
      make_desc(2, 9, 3, 5, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, true),
      make_desc(1, 3, 5, 13, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, false),
      make_desc(1, 2, 1, 70, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 1, false),
      make_desc(2, 17, 1, 17, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 1, true),
      make_desc(1, 65, 3, 3, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, false)};
  for_every_isa_and_algorithm(shapes, 60000, [](const layer_case& c, const layer_results& aligned) {
    for (std::size_t k = 1; k < 16; ++k) {
      // Inputs at k, outputs at 7k mod 16 (never 0, never k), parameters and statistics at 3k mod 16.
      auto place = [k](role r) {
        switch (r) {
          case role::x:
          case role::dy: return k;
          case role::y:
          case role::dx: return 7 * k % 16;
          default: return 3 * k % 16;
        }
      };
      CAPTURE(k);
      check_same_bits(run_layer<offset_floats>(c, place), aligned);
    }
  });
}
