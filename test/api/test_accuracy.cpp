// The accuracy promise of varnorm.h / README "Accuracy": the relative error of var is at most
// 4 * ceil(log2 M) * kappa * 2^-24, kappa = sqrt(1 + M*mean^2 / sum((x - mean)^2)). Checked against the
// long double oracle for M from 2 to 2^20 and |mean|/std from 0 to 1e4, Gaussian, ramp, spiky, outlier-first and
// step planes, both layouts, every algorithm, every kernel set. var is read back from rstd with eps = 0.
// And the promise for data without outliers: y, mean and rstd within 2e-6 of the reference for |mean|/std up to
// 1e6; with groups and the mean subtracted (GroupNorm), y normalized, for |mean|/std of 1e3 and 1e4.
#include <varnorm/varnorm.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "support/cases.hpp"
#include "support/compare.hpp"
#include "support/isa.hpp"
#include "support/oracle.hpp"
#include "support/tolerance.hpp"

using namespace varnorm_test;

namespace {

enum class plane_kind { gaussian, ramp, spiky, outlier_first, steps };

// One plane of M values with mean mean_over_std * std, std an awkward 0.037 so nothing is a power of two.
void fill_plane(const varnorm_desc& d, std::vector<float>& x, std::int64_t sample, std::int64_t channel,
                plane_kind kind, double mean_over_std, std::mt19937_64& rng) {
  const double spread = 0.037, mean = mean_over_std * spread;
  const std::int64_t m = d.h * d.w;
  std::normal_distribution<double> normal(0.0, 1.0);
  for (std::int64_t p = 0; p < m; ++p) {
    double v = 0;
    switch (kind) {
      case plane_kind::gaussian: v = normal(rng); break;
      // A steady trend: the data drifts away from the block's first value, which two-pass shifts by.
      case plane_kind::ramp: v = std::sqrt(12.0) * (static_cast<double>(p) / static_cast<double>(m) - 0.5); break;
      // Mostly the mean, one value in 64 (and the last) far off: a variance carried by few values.
      case plane_kind::spiky: v = (p % 64 == 63 || p == m - 1) ? 8.0 * normal(rng) : 0.0; break;
      // Gaussian after a first value 1000 std away: a method that shifted every segment by the block's first
      // value would cancel about M times more than the promise allows.
      case plane_kind::outlier_first: v = p == 0 ? 1000.0 : normal(rng); break;
      // Two levels, switching every 2048 positions (a whole number of segments on every kernel set), with
      // noise 1e-3 of the step: each segment's shift (the previous segment's mean, for shifted sums) is a
      // whole step away from its values, the worst case of that method's cancellation.
      case plane_kind::steps: v = ((p / 2048) % 2 == 0 ? -1.0 : 1.0) + 1e-3 * normal(rng); break;
    }
    x[static_cast<std::size_t>(element_offset(d, sample, channel, p))] = static_cast<float>(mean + spread * v);
  }
}

// Forward with eps = 0 on every kernel set and every algorithm; each plane's var = 1 / rstd^2 (in double from
// the float rstd) must be within the promise of the oracle's var.
void check_variance_promise(varnorm_desc d, const std::vector<float>& x) {
  d.eps = 0.0f;
  const std::vector<float> alpha(affine_size(d), 1.0f);
  const oracle_forward_result oracle = oracle_forward(d, x.data(), alpha.data(), static_cast<const float*>(nullptr));
  const std::int64_t m = group_channels(d) * d.h * d.w;  // values per statistic
  std::vector<float> y(x.size()), rstd(stats_size(d));
  for (const std::string& isa : supported_isas()) {
    isa_scope scope(isa);
    REQUIRE(scope.ok());
    for (varnorm_algorithm algorithm : kExplicitAlgorithms) {
      d.algorithm = algorithm;
      REQUIRE(varnorm_forward(&d, x.data(), alpha.data(), nullptr, y.data(), nullptr, rstd.data()) == VARNORM_OK);
      for (std::size_t plane = 0; plane < rstd.size(); ++plane) {
        const oracle_plane& o = oracle.planes[plane];
        const double var = 1.0 / (static_cast<double>(rstd[plane]) * static_cast<double>(rstd[plane]));
        const double relative_error = std::fabs(var / static_cast<double>(o.var) - 1.0);
        // rstd is rounded to float (relative error <= u), so var = 1/rstd^2 carries 2u more than the
        // promise; kSecondOrder covers second-order terms and the double-precision steps.
        const double bound = variance_bound(m, o.kappa) + 2 * kFloatUnit + kSecondOrder;
        CAPTURE(isa, algorithm, d.layout, d.groups, d.center, m, plane, static_cast<double>(o.kappa), relative_error,
                bound);
        CHECK(relative_error <= bound);
      }
    }
  }
}

}  // namespace

TEST_CASE("accuracy promise: relative error of var within 4*ceil(log2 M)*kappa*2^-24 for M up to 4097, "
          "|mean|/std up to 1e4, NCHW and NHWC, every algorithm, every ISA",
          "[accuracy]") {
  const double ratios[] = {0.0, 1.0, 1e2, 1e4};
  // Steps need planes of more than 2048 values: see the tests below.
  const plane_kind kinds[] = {plane_kind::gaussian, plane_kind::ramp, plane_kind::spiky, plane_kind::outlier_first};
  std::uint64_t seed = 2000;
  for (std::int64_t m : {2, 3, 5, 17, 100, 1000, 4097}) {
    for (varnorm_layout layout : {VARNORM_LAYOUT_NCHW, VARNORM_LAYOUT_NHWC}) {
      // One sample, a channel per (kind, ratio); NHWC with 16 channels walks them as one interleaved group.
      const varnorm_desc d =
          make_desc(1, 16, m, 1, layout, VARNORM_ALGORITHM_AUTO, layout == VARNORM_LAYOUT_NCHW ? 1 : 0, false, 0.0f);
      std::vector<float> x(tensor_size(d));
      std::mt19937_64 rng(seed++);
      std::int64_t channel = 0;
      for (plane_kind kind : kinds)
        for (double ratio : ratios) fill_plane(d, x, 0, channel++, kind, ratio, rng);
      check_variance_promise(d, x);
    }
  }
}

TEST_CASE("accuracy promise holds for planes spanning several tiles (M = 3 * 2^15 + 5) and NHWC wider than a group, "
          "steps between segments included",
          "[accuracy]") {
  std::mt19937_64 rng(2100);
  {
    const varnorm_desc d =
        make_desc(1, 4, 3 * 32768 + 5, 1, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false, 0.0f);
    std::vector<float> x(tensor_size(d));
    fill_plane(d, x, 0, 0, plane_kind::gaussian, 1e4, rng);
    fill_plane(d, x, 0, 1, plane_kind::ramp, 1e3, rng);
    fill_plane(d, x, 0, 2, plane_kind::spiky, 1e2, rng);
    fill_plane(d, x, 0, 3, plane_kind::steps, 1e3, rng);
    check_variance_promise(d, x);
  }
  {
    // 70 channels: a group of 64 and one of 6, each walked as sub-groups with one channel per lane.
    const varnorm_desc d = make_desc(1, 70, 4500, 1, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, false, 0.0f);
    std::vector<float> x(tensor_size(d));
    for (std::int64_t c = 0; c < d.c; ++c)
      fill_plane(d, x, 0, c, static_cast<plane_kind>(c % 5), c % 2 == 0 ? 1e4 : 10.0, rng);
    check_variance_promise(d, x);
  }
}

TEST_CASE("accuracy promise holds for groups of channels: M = (C/G)*H*W values of every plane kind and offset, "
          "with and without the mean subtracted, NCHW and NHWC, every algorithm, every ISA",
          "[accuracy][groups]") {
  // Each group mixes kinds (an outlier-first plane leads its group) at one |mean|/std; groups of 4 planes of
  // 17 .. 4500 values, and NHWC groups of 65 channels.
  const double ratios[] = {0.0, 1.0, 1e2, 1e4};
  std::uint64_t seed = 2500;
  struct shape {
    std::int64_t c, m;
    std::int32_t groups;
  };
  for (const shape s : {shape{16, 17, 4}, shape{16, 1000, 4}, shape{8, 4500, 2}, shape{130, 300, 2}}) {
    for (varnorm_layout layout : {VARNORM_LAYOUT_NCHW, VARNORM_LAYOUT_NHWC}) {
      for (bool center : {false, true}) {
        const varnorm_desc d =
            with_groups(make_desc(1, s.c, s.m, 1, layout, VARNORM_ALGORITHM_AUTO, 1, false, 0.0f), s.groups, center);
        std::vector<float> x(tensor_size(d));
        std::mt19937_64 rng(seed++);
        const std::int64_t k = group_channels(d);
        for (std::int64_t channel = 0; channel < d.c; ++channel) {
          const std::int64_t g = channel / k;
          const plane_kind kind =
              channel % k == 0 ? plane_kind::outlier_first : static_cast<plane_kind>(channel % 3);  // gaussian..spiky
          fill_plane(d, x, 0, channel, kind, ratios[g % 4], rng);
        }
        check_variance_promise(d, x);
      }
    }
  }
}

TEST_CASE("accuracy promise holds for M = 2^20 with |mean|/std = 1e4 and 1e3, steps included", "[accuracy][large]") {
  // The largest planes of the suite: three of 2^20 values (12 MiB of x).
  const varnorm_desc d = make_desc(1, 3, 1024, 1024, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false, 0.0f);
  std::vector<float> x(tensor_size(d));
  std::mt19937_64 rng(2200);
  fill_plane(d, x, 0, 0, plane_kind::gaussian, 1e4, rng);
  fill_plane(d, x, 0, 1, plane_kind::ramp, 1e3, rng);
  fill_plane(d, x, 0, 2, plane_kind::steps, 1e3, rng);
  check_variance_promise(d, x);
}

// Gaussian data at a large common offset: |x - mean| stays within a few std, so every difference from a nearby
// shift is exact and what is left is roundoff of the deviations themselves. y, mean and rstd must then be as
// accurate as PyTorch's float32 VarianceNorm2d (which sums in double), whatever |mean|/std up to 1e6.
TEST_CASE("large offsets: y, mean and rstd within 2e-6 of the reference for |mean|/std of 1e3, 1e5 and 1e6, "
          "tails and several tiles included, NCHW and NHWC, every algorithm, every ISA",
          "[accuracy]") {
  constexpr double kLimit = 2e-6;
  const double ratios[] = {1e3, 1e5, 1e6};
  std::mt19937_64 rng(2300);
  // Planes with a tail after the last whole row (1000 values), with several tiles and a tail (3 * 2^15 + 5), and
  // NHWC groups walked as channel sub-groups (70 channels).
  struct shape {
    std::int64_t n, c, m;
  };
  for (const shape s : {shape{2, 3, 1000}, shape{1, 3, 3 * 32768 + 5}, shape{1, 70, 1500}}) {
    for (varnorm_layout layout : {VARNORM_LAYOUT_NCHW, VARNORM_LAYOUT_NHWC}) {
      varnorm_desc d = make_desc(s.n, s.c, s.m, 1, layout, VARNORM_ALGORITHM_AUTO, 1, false, 1e-5f);
      std::vector<float> x(tensor_size(d));
      for (std::int64_t sample = 0; sample < d.n; ++sample)
        for (std::int64_t channel = 0; channel < d.c; ++channel)
          fill_plane(d, x, sample, channel, plane_kind::gaussian,
                     (channel % 2 == 0 ? 1 : -1) * ratios[(sample * d.c + channel) % 3], rng);
      const std::vector<float> alpha(affine_size(d), 1.0f);
      const oracle_forward_result oracle =
          oracle_forward(d, x.data(), alpha.data(), static_cast<const float*>(nullptr));
      std::vector<float> y(x.size()), mean(stats_size(d)), rstd(stats_size(d));
      for (const std::string& isa : supported_isas()) {
        isa_scope scope(isa);
        REQUIRE(scope.ok());
        for (varnorm_algorithm algorithm : kExplicitAlgorithms) {
          d.algorithm = algorithm;
          REQUIRE(varnorm_forward(&d, x.data(), alpha.data(), nullptr, y.data(), mean.data(), rstd.data()) ==
                  VARNORM_OK);
          double mean_error = 0, rstd_error = 0, y_error = 0;
          for (std::size_t plane = 0; plane < rstd.size(); ++plane) {
            const oracle_plane& o = oracle.planes[plane];
            mean_error = std::fmax(mean_error, std::fabs(mean[plane] - static_cast<double>(o.mean)) /
                                                   std::fabs(static_cast<double>(o.mean)));
            rstd_error = std::fmax(rstd_error, std::fabs(rstd[plane] / static_cast<double>(o.rstd) - 1.0));
          }
          for (std::size_t i = 0; i < y.size(); ++i)
            y_error = std::fmax(y_error, std::fabs(y[i] / static_cast<double>(oracle.y[i]) - 1.0));
          CAPTURE(isa, algorithm, layout, s.n, s.c, s.m, mean_error, rstd_error, y_error);
          CHECK(mean_error <= kLimit);
          CHECK(rstd_error <= kLimit);
          CHECK(y_error <= kLimit);
        }
      }
    }
  }
}

// Grouped shapes for the large-offset tests: groups of 4 planes with a tail (1000 values each), LayerNorm over
// planes of several tiles and a tail, groups of 3 planes of 1 x 257, InstanceNorm2d (G = 0), and NHWC groups of
// 65 channels (wider than 64).
struct offset_shape {
  std::int64_t n, c, m;
  std::int32_t groups;
};
constexpr offset_shape kOffsetShapes[] = {
    {2, 8, 1000, 2}, {1, 3, 32768 + 5, 1}, {2, 12, 257, 3}, {2, 6, 700, 0}, {1, 130, 500, 2}};

// A centred descriptor of shape s in `layout`, and x: Gaussian groups around +-offset(sample, group) (the sign
// alternating from group to group).
template <class Offset>
varnorm_desc offset_groups(const offset_shape& s, varnorm_layout layout, Offset&& offset, std::vector<float>& x,
                           std::mt19937_64& rng) {
  const varnorm_desc d =
      with_groups(make_desc(s.n, s.c, s.m, 1, layout, VARNORM_ALGORITHM_AUTO, 0, false, 1e-5f), s.groups, true);
  const std::int64_t k = group_channels(d);
  x.assign(tensor_size(d), 0.0f);
  for (std::int64_t sample = 0; sample < d.n; ++sample)
    for (std::int64_t channel = 0; channel < d.c; ++channel) {
      const std::int64_t g = channel / k;
      fill_plane(d, x, sample, channel, plane_kind::gaussian, (g % 2 == 0 ? 1 : -1) * offset(sample, g), rng);
    }
  return d;
}

// GroupNorm (and LayerNorm, InstanceNorm2d) at a large common offset: Gaussian data around an offset shared by
// every channel of a group, so that x - mean is small against x. With the mean subtracted y is O(1) while x is
// |mean|/std times larger: y must come from an accurate x - mean, not from a float mean (whose rounding alone is
// 2^-24 * |mean|, 6e-4 std at 1e4). y (normalized by the group's largest |y|), mean and rstd within 2e-6 of the
// reference.
TEST_CASE("large offsets with groups and the mean subtracted: y, mean and rstd within 2e-6 (normalized) of the "
          "reference for |mean|/std of 1e3 and 1e4, NCHW and NHWC, every algorithm, every ISA",
          "[accuracy][groups]") {
  constexpr double kLimit = 2e-6;
  const double ratios[] = {1e3, 1e4};
  std::mt19937_64 rng(2400);
  for (const offset_shape& s : kOffsetShapes) {
    for (varnorm_layout layout : {VARNORM_LAYOUT_NCHW, VARNORM_LAYOUT_NHWC}) {
      std::vector<float> x;
      varnorm_desc d = offset_groups(
          s, layout,
          [&](std::int64_t sample, std::int64_t g) {
            return ratios[(sample * (s.groups > 0 ? s.groups : s.c) + g) % 2];
          },
          x, rng);
      const std::int64_t k = group_channels(d);
      const std::vector<float> alpha(affine_size(d), 1.0f);
      const oracle_forward_result oracle =
          oracle_forward(d, x.data(), alpha.data(), static_cast<const float*>(nullptr));
      std::vector<float> y(x.size()), mean(stats_size(d)), rstd(stats_size(d));
      for (const std::string& isa : supported_isas()) {
        isa_scope scope(isa);
        REQUIRE(scope.ok());
        for (varnorm_algorithm algorithm : kExplicitAlgorithms) {
          d.algorithm = algorithm;
          REQUIRE(varnorm_forward(&d, x.data(), alpha.data(), nullptr, y.data(), mean.data(), rstd.data()) ==
                  VARNORM_OK);
          double mean_error = 0, rstd_error = 0, y_error = 0;
          for (std::int64_t sample = 0; sample < d.n; ++sample) {
            for (std::int64_t g = 0; g < group_count(d); ++g) {
              const std::size_t gi = stats_offset(d, sample, g);
              const oracle_plane& o = oracle.planes[gi];
              mean_error = std::fmax(mean_error, std::fabs(mean[gi] - static_cast<double>(o.mean)) /
                                                     std::fabs(static_cast<double>(o.mean)));
              rstd_error = std::fmax(rstd_error, std::fabs(rstd[gi] / static_cast<double>(o.rstd) - 1.0));
              double diff = 0, scale = 0;
              for (std::int64_t channel = g * k; channel < (g + 1) * k; ++channel)
                for (std::int64_t p = 0; p < d.h * d.w; ++p) {
                  const std::size_t i = static_cast<std::size_t>(element_offset(d, sample, channel, p));
                  diff = std::fmax(diff, std::fabs(y[i] - static_cast<double>(oracle.y[i])));
                  scale = std::fmax(scale, std::fabs(static_cast<double>(oracle.y[i])));
                }
              y_error = std::fmax(y_error, diff / scale);
            }
          }
          CAPTURE(isa, algorithm, layout, s.n, s.c, s.m, s.groups, mean_error, rstd_error, y_error);
          CHECK(mean_error <= kLimit);
          CHECK(rstd_error <= kLimit);
          CHECK(y_error <= kLimit);
        }
      }
    }
  }
}

// Backward of the same layers at a large common offset, from saved and from recomputed statistics: the saved
// mean is a float, off from the group's mean by up to half its last place (2^-25 |mean|, 3e-4 std at 1e4), which
// sum(dy * (x - mean)) would otherwise see as a shift of every x. dx and dalpha (normalized by their largest
// |value|) within 2e-5 and 1e-5 of the reference, as for data near 0.
TEST_CASE("large offsets with groups and the mean subtracted: dx, dalpha and dbeta within 2e-5 and 1e-5 "
          "(normalized) of the reference for |mean|/std of 1e3 and 1e4, every algorithm, every ISA",
          "[accuracy][groups]") {
  std::mt19937_64 rng(2401);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const offset_shape& s : kOffsetShapes) {
    for (varnorm_layout layout : {VARNORM_LAYOUT_NCHW, VARNORM_LAYOUT_NHWC}) {
      for (double ratio : {1e3, 1e4}) {
        std::vector<float> x;
        varnorm_desc d = offset_groups(
            s, layout, [&](std::int64_t, std::int64_t) { return ratio; }, x, rng);
        std::vector<float> dy(tensor_size(d)), alpha(affine_size(d));
        for (float& v : dy) v = normal(rng);
        for (float& v : alpha) v = 1.0f + 0.25f * normal(rng);
        const oracle_backward_result oracle = oracle_backward(d, x.data(), alpha.data(), dy.data());
        const auto rounded = [](const std::vector<real>& values) {
          return std::vector<float>(values.begin(), values.end());
        };
        const std::vector<float> dx_ref = rounded(oracle.dx), dalpha_ref = rounded(oracle.dalpha),
                                 dbeta_ref = rounded(oracle.dbeta);
        std::vector<float> y(x.size()), mean(stats_size(d)), rstd(stats_size(d)), dx(x.size()), dalpha(alpha.size()),
            dbeta(alpha.size());
        for (const std::string& isa : supported_isas()) {
          isa_scope scope(isa);
          REQUIRE(scope.ok());
          for (varnorm_algorithm algorithm : kExplicitAlgorithms) {
            d.algorithm = algorithm;
            REQUIRE(varnorm_forward(&d, x.data(), alpha.data(), nullptr, y.data(), mean.data(), rstd.data()) ==
                    VARNORM_OK);
            for (bool saved : {true, false}) {
              REQUIRE(varnorm_backward(&d, x.data(), alpha.data(), dy.data(), saved ? mean.data() : nullptr,
                                       saved ? rstd.data() : nullptr, dx.data(), dalpha.data(),
                                       dbeta.data()) == VARNORM_OK);
              CAPTURE(isa, algorithm, layout, s.n, s.c, s.m, s.groups, ratio, saved);
              CHECK(normalized_max_error(dx, dx_ref) <= 2e-5);
              CHECK(normalized_max_error(dalpha, dalpha_ref) <= 1e-5);
              CHECK(normalized_max_error(dbeta, dbeta_ref) <= 1e-5);
            }
          }
        }
      }
    }
  }
}
