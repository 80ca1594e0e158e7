// What the C API promises beyond the numbers: empty batches are no-ops (dalpha/dbeta zeroed), dalpha/dbeta
// are overwritten, mean/rstd are indexed n*C + c (n*G + g with groups) in both layouts, NaN/Inf stays inside its
// plane (its group), a constant plane (group) has variance exactly 0, and the small functions: status strings,
// ISA names and selection, descriptor defaults, version.
#include <varnorm/varnorm.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "support/cases.hpp"
#include "support/compare.hpp"
#include "support/isa.hpp"
#include "support/oracle.hpp"
#include "support/tolerance.hpp"

using namespace varnorm_test;

namespace {

constexpr float kSentinel = -12345.5f;

bool all_equal(const std::vector<float>& v, float value) {
  for (float f : v)
    if (!(f == value)) return false;
  return true;
}

}  // namespace

TEST_CASE("n == 0 or c == 0 succeeds as a no-op: y untouched, dalpha/dbeta zeroed where c > 0", "[semantics]") {
  for (varnorm_layout layout : {VARNORM_LAYOUT_NCHW, VARNORM_LAYOUT_NHWC}) {
    for (bool per_sample : {false, true}) {
      for (auto nc : {std::pair<std::int64_t, std::int64_t>{0, 4}, {3, 0}, {0, 0}}) {
        for (std::int32_t groups : {0, 2}) {
          varnorm_desc d = varnorm_desc_make(nc.first, nc.second, 5, 6, layout);
          d.per_sample_affine = per_sample ? 1 : 0;
          d.groups = groups;  // 2 divides 4 and 0
          d.center = groups != 0 ? 1 : 0;
          CAPTURE(layout, per_sample, d.n, d.c, d.groups);
          std::vector<float> x(16, 1.0f), alpha(16, 1.0f), beta(16, 1.0f), y(16, kSentinel), mean(16, kSentinel),
              rstd(16, kSentinel);
          CHECK(varnorm_forward(&d, x.data(), alpha.data(), beta.data(), y.data(), mean.data(), rstd.data()) ==
                VARNORM_OK);
          CHECK(all_equal(y, kSentinel));
          CHECK(all_equal(mean, kSentinel));
          CHECK(all_equal(rstd, kSentinel));

          std::vector<float> dx(16, kSentinel), dalpha(16, kSentinel), dbeta(16, kSentinel);
          CHECK(varnorm_backward(&d, x.data(), alpha.data(), x.data(), nullptr, nullptr, dx.data(), dalpha.data(),
                                 dbeta.data()) == VARNORM_OK);
          CHECK(all_equal(dx, kSentinel));
          // The gradient of parameters that took part in nothing is zero; only their c (or n*c) values are written.
          const std::size_t written = affine_size(d);
          for (std::size_t i = 0; i < dalpha.size(); ++i) {
            CAPTURE(i);
            CHECK(dalpha[i] == (i < written ? 0.0f : kSentinel));
            CHECK(dbeta[i] == (i < written ? 0.0f : kSentinel));
          }
        }
      }
    }
  }
}

TEST_CASE("dalpha and dbeta are overwritten, not accumulated", "[semantics]") {
  for (bool per_sample : {false, true}) {
    const layer_case c =
        make_case(make_desc(3, 5, 4, 6, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 1, per_sample), true, 77);
    const backward_outputs from_zero = run_backward(c);
    REQUIRE(from_zero.status == VARNORM_OK);
    std::vector<float> dalpha(affine_size(c.desc), 1000.0f), dbeta(affine_size(c.desc), -1000.0f), dx(c.x.size());
    REQUIRE(varnorm_backward(&c.desc, c.x.data(), c.alpha.data(), c.dy.data(), nullptr, nullptr, dx.data(),
                             dalpha.data(), dbeta.data()) == VARNORM_OK);
    CHECK(bitwise_equal(dalpha, from_zero.dalpha));
    CHECK(bitwise_equal(dbeta, from_zero.dbeta));
  }
}

TEST_CASE("mean and rstd of plane (n, c) are at index n*C + c in both layouts", "[semantics]") {
  // Plane (n, c) holds mean 100*n + c + 1 and std 1 / (n*C + c + 1) exactly (+-std at alternate positions),
  // so each index has one right answer.
  for (varnorm_layout layout : {VARNORM_LAYOUT_NCHW, VARNORM_LAYOUT_NHWC}) {
    varnorm_desc d = varnorm_desc_make(3, 7, 2, 4, layout);
    d.correction = 0;
    d.eps = 0.0f;
    std::vector<float> x(tensor_size(d)), alpha(7, 1.0f), y(x.size()), mean(21), rstd(21);
    for (std::int64_t n = 0; n < d.n; ++n)
      for (std::int64_t c = 0; c < d.c; ++c)
        for (std::int64_t p = 0; p < d.h * d.w; ++p)
          x[static_cast<std::size_t>(element_offset(d, n, c, p))] =
              static_cast<float>(100 * n + c + 1) + (p % 2 == 0 ? 1.0f : -1.0f) / static_cast<float>(n * d.c + c + 1);
    REQUIRE(varnorm_forward(&d, x.data(), alpha.data(), nullptr, y.data(), mean.data(), rstd.data()) == VARNORM_OK);
    const oracle_forward_result o = oracle_forward(d, x.data(), alpha.data(), static_cast<const float*>(nullptr));
    for (std::int64_t n = 0; n < d.n; ++n) {
      for (std::int64_t c = 0; c < d.c; ++c) {
        const std::size_t i = static_cast<std::size_t>(n * d.c + c);
        CAPTURE(layout, n, c);
        CHECK(std::fabs(static_cast<double>(mean[i]) - static_cast<double>(o.planes[i].mean)) <=
              1e-6 * std::fabs(static_cast<double>(o.planes[i].mean)));
        CHECK(std::fabs(static_cast<double>(rstd[i] / o.planes[i].rstd) - 1) <= 1e-4);
      }
    }
  }
}

TEST_CASE("with groups, mean and rstd of group (n, g) are at index n*G + g in both layouts, with and without "
          "the mean subtracted",
          "[semantics][groups]") {
  // Group (n, g) holds mean 100*n + g + 1 and std 1 / (n*G + g + 1) exactly (+-std at alternate positions of
  // each channel), so each index has one right answer; its channels are consecutive (C/G = 3).
  for (varnorm_layout layout : {VARNORM_LAYOUT_NCHW, VARNORM_LAYOUT_NHWC}) {
    for (bool center : {false, true}) {
      const varnorm_desc d =
          with_groups(make_desc(3, 12, 2, 4, layout, VARNORM_ALGORITHM_AUTO, 0, false, 0.0f), 4, center);
      const std::int64_t groups = 4, k = 3;
      std::vector<float> x(tensor_size(d)), alpha(12, 1.0f), y(x.size()), mean(12), rstd(12);
      for (std::int64_t n = 0; n < d.n; ++n)
        for (std::int64_t c = 0; c < d.c; ++c)
          for (std::int64_t p = 0; p < d.h * d.w; ++p)
            x[static_cast<std::size_t>(element_offset(d, n, c, p))] =
                static_cast<float>(100 * n + c / k + 1) +
                (p % 2 == 0 ? 1.0f : -1.0f) / static_cast<float>(n * groups + c / k + 1);
      REQUIRE(varnorm_forward(&d, x.data(), alpha.data(), nullptr, y.data(), mean.data(), rstd.data()) == VARNORM_OK);
      const oracle_forward_result o = oracle_forward(d, x.data(), alpha.data(), static_cast<const float*>(nullptr));
      REQUIRE(o.planes.size() == 12);
      for (std::int64_t n = 0; n < d.n; ++n) {
        for (std::int64_t g = 0; g < groups; ++g) {
          const std::size_t i = static_cast<std::size_t>(n * groups + g);
          CAPTURE(layout, center, n, g);
          CHECK(std::fabs(static_cast<double>(mean[i]) - static_cast<double>(o.planes[i].mean)) <=
                1e-6 * std::fabs(static_cast<double>(o.planes[i].mean)));
          CHECK(std::fabs(static_cast<double>(rstd[i] / o.planes[i].rstd) - 1) <= 1e-4);
          CHECK(std::fabs(static_cast<double>(o.planes[i].rstd) - static_cast<double>(n * groups + g + 1)) <= 1e-3);
        }
      }
      // With the mean subtracted y is +-1 (alpha 1, the std exact), without it (mean +- std) / std.
      bool y_right = true;
      for (std::int64_t n = 0; n < d.n; ++n)
        for (std::int64_t c = 0; c < d.c; ++c)
          for (std::int64_t p = 0; p < d.h * d.w; ++p) {
            const std::size_t i = static_cast<std::size_t>(element_offset(d, n, c, p));
            y_right &= std::fabs(static_cast<double>(y[i]) - static_cast<double>(o.y[i])) <=
                       1e-4 * std::fabs(static_cast<double>(o.y[i]));
          }
      CHECK(y_right);
    }
  }
}

TEST_CASE("NaN or Inf in one plane makes exactly that plane's y, mean, rstd and dx NaN, other planes are "
          "bitwise as without it",
          "[semantics][nonfinite]") {
  const float poisons[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                           -std::numeric_limits<float>::infinity()};
  for (const std::string& isa : supported_isas()) {
    isa_scope scope(isa);
    REQUIRE(scope.ok());
    // NHWC with 70 channels: the poisoned channel shares its group (and SIMD vectors) with clean ones.
    for (const varnorm_desc& shape : {make_desc(2, 3, 9, 7, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false),
                                      make_desc(2, 70, 3, 5, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, false),
                                      make_desc(2, 5, 4, 4, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 1, true)}) {
      for (varnorm_algorithm algorithm : kExplicitAlgorithms) {
        layer_case clean = make_case(shape, true, 99);
        clean.desc.algorithm = algorithm;
        const forward_outputs f_clean = run_forward(clean);
        const backward_outputs b_clean = run_backward(clean, f_clean.mean.data(), f_clean.rstd.data());
        REQUIRE(f_clean.status == VARNORM_OK);
        REQUIRE(b_clean.status == VARNORM_OK);
        const std::int64_t bad_n = 1, bad_c = shape.c - 2, m = shape.h * shape.w;
        for (float poison : poisons) {
          for (std::int64_t position : {std::int64_t{0}, m / 2, m - 1}) {
            CAPTURE(isa, algorithm, shape.layout, shape.c, poison, position);
            layer_case dirty = clean;
            dirty.x[static_cast<std::size_t>(element_offset(shape, bad_n, bad_c, position))] = poison;
            const forward_outputs f = run_forward(dirty);
            REQUIRE(f.status == VARNORM_OK);
            for (bool saved : {true, false}) {
              CAPTURE(saved);
              const backward_outputs b =
                  saved ? run_backward(dirty, f.mean.data(), f.rstd.data()) : run_backward(dirty);
              REQUIRE(b.status == VARNORM_OK);
              for (std::int64_t n = 0; n < shape.n; ++n) {
                for (std::int64_t c = 0; c < shape.c; ++c) {
                  const bool poisoned = n == bad_n && c == bad_c;
                  const std::size_t s = static_cast<std::size_t>(n * shape.c + c);
                  CAPTURE(n, c);
                  if (poisoned) {
                    CHECK(std::isnan(f.mean[s]));
                    CHECK(std::isnan(f.rstd[s]));
                  } else {
                    CHECK(std::memcmp(&f.mean[s], &f_clean.mean[s], sizeof(float)) == 0);
                    CHECK(std::memcmp(&f.rstd[s], &f_clean.rstd[s], sizeof(float)) == 0);
                  }
                  bool y_as_expected = true, dx_as_expected = true;
                  for (std::int64_t p = 0; p < m; ++p) {
                    const std::size_t i = static_cast<std::size_t>(element_offset(shape, n, c, p));
                    y_as_expected &= poisoned ? std::isnan(f.y[i]) : std::memcmp(&f.y[i], &f_clean.y[i], 4) == 0;
                    dx_as_expected &= poisoned ? std::isnan(b.dx[i]) : std::memcmp(&b.dx[i], &b_clean.dx[i], 4) == 0;
                  }
                  CHECK(y_as_expected);
                  CHECK(dx_as_expected);
                }
              }
              // dalpha sums S*rstd over the batch: NaN exactly where the poisoned plane contributes.
              for (std::int64_t c = 0; c < shape.c; ++c) {
                for (std::int64_t n = 0; n < (shape.per_sample_affine ? shape.n : 1); ++n) {
                  const std::size_t a = static_cast<std::size_t>(affine_offset(shape, n, c));
                  const bool poisoned = c == bad_c && (!shape.per_sample_affine || n == bad_n);
                  CAPTURE(n, c);
                  if (poisoned)
                    CHECK(std::isnan(b.dalpha[a]));
                  else
                    CHECK(std::memcmp(&b.dalpha[a], &b_clean.dalpha[a], sizeof(float)) == 0);
                }
              }
              // dbeta = sum(dy) stays finite everywhere: bitwise as without the poison in other channels; in
              // the poisoned one the library may re-add dy in double, within the bound on a float sum of the
              // N*M values (4 * ceil(log2(N*M)) * u * sum|dy|).
              for (std::int64_t n = 0; n < (shape.per_sample_affine ? shape.n : 1); ++n) {
                for (std::int64_t c = 0; c < shape.c; ++c) {
                  const std::size_t a = static_cast<std::size_t>(affine_offset(shape, n, c));
                  CAPTURE(n, c);
                  REQUIRE(std::isfinite(b.dbeta[a]));
                  if (c != bad_c || (shape.per_sample_affine && n != bad_n)) {
                    CHECK(std::memcmp(&b.dbeta[a], &b_clean.dbeta[a], sizeof(float)) == 0);
                    continue;
                  }
                  double abs_dy = 0;
                  std::int64_t values = 0;
                  for (std::int64_t k = 0; k < shape.n; ++k) {
                    if (shape.per_sample_affine && k != n) continue;
                    for (std::int64_t p = 0; p < m; ++p, ++values)
                      abs_dy += std::fabs(
                          static_cast<double>(dirty.dy[static_cast<std::size_t>(element_offset(shape, k, c, p))]));
                  }
                  CHECK(std::fabs(static_cast<double>(b.dbeta[a]) - static_cast<double>(b_clean.dbeta[a])) <=
                        4 * log2_ceil(values) * kFloatUnit * abs_dy);
                }
              }
            }
          }
        }
      }
    }
  }
}

TEST_CASE("with groups, NaN or Inf in one plane makes exactly its group's y, mean, rstd, dx and dalpha NaN, other "
          "groups are bitwise as without it",
          "[semantics][nonfinite][groups]") {
  const float poisons[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                           -std::numeric_limits<float>::infinity()};
  const varnorm_desc shapes[] = {
      with_groups(make_desc(2, 6, 9, 7, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false), 3, true),
      // NHWC: the poisoned group shares SIMD vectors with clean ones; C/G = 128 spans two 64-channel blocks.
      with_groups(make_desc(2, 70, 3, 5, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, false), 0, true),
      with_groups(make_desc(2, 8, 4, 4, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 1, true), 2, false),
      with_groups(make_desc(2, 256, 2, 3, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, false), 2, true),
      with_groups(make_desc(3, 4, 1, 257, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 0, true), 2, true),
      with_groups(make_desc(2, 6, 5, 5, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false), 2, false)};
  for (const std::string& isa : supported_isas()) {
    isa_scope scope(isa);
    REQUIRE(scope.ok());
    for (const varnorm_desc& shape : shapes) {
      for (varnorm_algorithm algorithm : kExplicitAlgorithms) {
        layer_case clean = make_case(shape, true, 98);
        clean.desc.algorithm = algorithm;
        const forward_outputs f_clean = run_forward(clean);
        const backward_outputs b_clean = run_backward(clean, f_clean.mean.data(), f_clean.rstd.data());
        REQUIRE(f_clean.status == VARNORM_OK);
        REQUIRE(b_clean.status == VARNORM_OK);
        const std::int64_t bad_n = 1, bad_c = shape.c - 2, bad_g = group_of(shape, bad_c), m = shape.h * shape.w;
        for (float poison : poisons) {
          for (std::int64_t position : {std::int64_t{0}, m / 2, m - 1}) {
            CAPTURE(isa, algorithm, shape.layout, shape.c, shape.groups, shape.center, poison, position);
            layer_case dirty = clean;
            dirty.x[static_cast<std::size_t>(element_offset(shape, bad_n, bad_c, position))] = poison;
            const forward_outputs f = run_forward(dirty);
            REQUIRE(f.status == VARNORM_OK);
            for (std::int64_t n = 0; n < shape.n; ++n) {
              for (std::int64_t g = 0; g < group_count(shape); ++g) {
                const bool poisoned = n == bad_n && g == bad_g;
                const std::size_t s = stats_offset(shape, n, g);
                CAPTURE(n, g);
                if (poisoned) {
                  CHECK(std::isnan(f.mean[s]));
                  CHECK(std::isnan(f.rstd[s]));
                } else {
                  CHECK(std::memcmp(&f.mean[s], &f_clean.mean[s], sizeof(float)) == 0);
                  CHECK(std::memcmp(&f.rstd[s], &f_clean.rstd[s], sizeof(float)) == 0);
                }
              }
            }
            for (bool saved : {true, false}) {
              CAPTURE(saved);
              const backward_outputs b =
                  saved ? run_backward(dirty, f.mean.data(), f.rstd.data()) : run_backward(dirty);
              REQUIRE(b.status == VARNORM_OK);
              for (std::int64_t n = 0; n < shape.n; ++n) {
                for (std::int64_t c = 0; c < shape.c; ++c) {
                  const bool poisoned = n == bad_n && group_of(shape, c) == bad_g;
                  CAPTURE(n, c);
                  bool y_as_expected = true, dx_as_expected = true;
                  for (std::int64_t p = 0; p < m; ++p) {
                    const std::size_t i = static_cast<std::size_t>(element_offset(shape, n, c, p));
                    y_as_expected &= poisoned ? std::isnan(f.y[i]) : std::memcmp(&f.y[i], &f_clean.y[i], 4) == 0;
                    dx_as_expected &= poisoned ? std::isnan(b.dx[i]) : std::memcmp(&b.dx[i], &b_clean.dx[i], 4) == 0;
                  }
                  CHECK(y_as_expected);
                  CHECK(dx_as_expected);
                }
              }
              // dalpha of a channel of the poisoned group is NaN (for every sample, or the poisoned one with
              // per-sample affine); dbeta = sum(dy) stays finite everywhere, bitwise as without the poison outside
              // the poisoned group, within the bound of a float sum of its N*M values inside it (the library may
              // re-add them in double there).
              for (std::int64_t n = 0; n < (shape.per_sample_affine ? shape.n : 1); ++n) {
                for (std::int64_t c = 0; c < shape.c; ++c) {
                  const std::size_t a = static_cast<std::size_t>(affine_offset(shape, n, c));
                  const bool poisoned = group_of(shape, c) == bad_g && (!shape.per_sample_affine || n == bad_n);
                  CAPTURE(n, c);
                  if (poisoned)
                    CHECK(std::isnan(b.dalpha[a]));
                  else
                    CHECK(std::memcmp(&b.dalpha[a], &b_clean.dalpha[a], sizeof(float)) == 0);
                  REQUIRE(std::isfinite(b.dbeta[a]));
                  if (!poisoned) {
                    CHECK(std::memcmp(&b.dbeta[a], &b_clean.dbeta[a], sizeof(float)) == 0);
                    continue;
                  }
                  double abs_dy = 0;
                  std::int64_t values = 0;
                  for (std::int64_t k = 0; k < shape.n; ++k) {
                    if (shape.per_sample_affine && k != n) continue;
                    for (std::int64_t p = 0; p < m; ++p, ++values)
                      abs_dy += std::fabs(
                          static_cast<double>(dirty.dy[static_cast<std::size_t>(element_offset(shape, k, c, p))]));
                  }
                  CHECK(std::fabs(static_cast<double>(b.dbeta[a]) - static_cast<double>(b_clean.dbeta[a])) <=
                        4 * log2_ceil(values) * kFloatUnit * abs_dy);
                }
              }
            }
          }
        }
      }
    }
  }
}

TEST_CASE("a constant plane has variance exactly 0 for both algorithms: rstd = 1/sqrt(eps) and "
          "y = alpha*x/sqrt(eps) correctly rounded",
          "[semantics][constant]") {
  // eps = 2^-40: rstd = 2^20 exactly, so y = alpha * x * 2^20 is exact; any variance the kernels invented
  // from rounding residues (|x| * 2^-24 squared is far above 2^-40 for most of these values) changes rstd.
  // eps = 1e-5: rstd must be the correctly rounded 1/sqrt(1e-5f). Planes of 1 to 40000 values (two tiles),
  // so every path (exact leftovers, whole rows, lane merges, tile merges) is crossed.
  const float values[] = {0.1f, -3.7f, 1e4f + 0.3f, 1e-20f, 0.0f, 7.0e18f};
  for (const std::string& isa : supported_isas()) {
    isa_scope scope(isa);
    REQUIRE(scope.ok());
    for (varnorm_algorithm algorithm : kExplicitAlgorithms) {
      for (std::int64_t m : {1, 2, 7, 16, 33, 1000, 40000}) {
        for (varnorm_layout layout : {VARNORM_LAYOUT_NCHW, VARNORM_LAYOUT_NHWC}) {
          for (float eps : {0x1p-40f, 1e-5f}) {
            const std::int64_t channels = static_cast<std::int64_t>(std::size(values));
            varnorm_desc d = make_desc(1, channels, m, 1, layout, algorithm, m > 1 ? 1 : 0, false, eps);
            std::vector<float> x(tensor_size(d)), alpha(static_cast<std::size_t>(channels)), y(x.size());
            std::vector<float> mean(alpha.size()), rstd(alpha.size());
            for (std::int64_t c = 0; c < channels; ++c) {
              alpha[static_cast<std::size_t>(c)] = 0.75f + 0.125f * static_cast<float>(c);
              for (std::int64_t p = 0; p < m; ++p) x[static_cast<std::size_t>(element_offset(d, 0, c, p))] = values[c];
            }
            REQUIRE(varnorm_forward(&d, x.data(), alpha.data(), nullptr, y.data(), mean.data(), rstd.data()) ==
                    VARNORM_OK);
            const real exact_rstd = 1 / std::sqrt(static_cast<real>(eps));
            for (std::int64_t c = 0; c < channels; ++c) {
              CAPTURE(isa, algorithm, m, layout, eps, values[c]);
              const std::size_t s = static_cast<std::size_t>(c);
              // var == 0 exactly: with eps = 2^-40 any variance above ~1e-18 moves rstd off 2^20.
              CHECK(rstd[s] == static_cast<float>(exact_rstd));
              if (eps != 0x1p-40f) continue;
              bool y_exact = true;
              for (std::int64_t p = 0; p < m; ++p) {
                const std::size_t i = static_cast<std::size_t>(element_offset(d, 0, c, p));
                y_exact &= y[i] == static_cast<float>(static_cast<real>(alpha[s]) * values[c] * exact_rstd);
              }
              CHECK(y_exact);
            }
          }
        }
      }
    }
  }
}

TEST_CASE("a constant group has variance exactly 0 with every algorithm: rstd = 1/sqrt(eps), mean = the value, "
          "y = alpha*x/sqrt(eps) correctly rounded without centring and within roundoff of 0 with it",
          "[semantics][constant][groups]") {
  // As for constant planes above: eps = 2^-40 makes rstd = 2^20 exactly and shows any invented variance; the
  // groups' channels all hold their group's value; groups of 2 and 3 channels, and NHWC groups of 65 channels
  // (across a 64-channel block); groups of 1 to 40000 values per channel (two tiles).
  const float values[] = {0.1f, -3.7f, 1e4f + 0.3f, 1e-20f, 0.0f, 7.0e18f};
  struct config {
    std::int64_t c;
    std::int32_t groups;
  };
  for (const std::string& isa : supported_isas()) {
    isa_scope scope(isa);
    REQUIRE(scope.ok());
    for (varnorm_algorithm algorithm : kExplicitAlgorithms) {
      for (const config cfg : {config{12, 6}, config{18, 6}, config{130, 2}}) {
        for (std::int64_t m : {1, 2, 7, 33, 1000, 40000}) {
          if (cfg.c * m > 600000) continue;
          for (varnorm_layout layout : {VARNORM_LAYOUT_NCHW, VARNORM_LAYOUT_NHWC}) {
            for (bool center : {false, true}) {
              for (float eps : {0x1p-40f, 1e-5f}) {
                const varnorm_desc d =
                    with_groups(make_desc(1, cfg.c, m, 1, layout, algorithm, 1, false, eps), cfg.groups, center);
                const std::int64_t k = group_channels(d);
                std::vector<float> x(tensor_size(d)), alpha(static_cast<std::size_t>(cfg.c)), y(x.size());
                std::vector<float> mean(stats_size(d)), rstd(stats_size(d));
                for (std::int64_t c = 0; c < cfg.c; ++c) {
                  alpha[static_cast<std::size_t>(c)] = 0.75f + 0.125f * static_cast<float>(c % 8);
                  for (std::int64_t p = 0; p < m; ++p)
                    x[static_cast<std::size_t>(element_offset(d, 0, c, p))] =
                        values[static_cast<std::size_t>(c / k) % std::size(values)];
                }
                REQUIRE(varnorm_forward(&d, x.data(), alpha.data(), nullptr, y.data(), mean.data(), rstd.data()) ==
                        VARNORM_OK);
                const real exact_rstd = 1 / std::sqrt(static_cast<real>(eps));
                for (std::int64_t g = 0; g < cfg.groups; ++g) {
                  const float value = values[g % static_cast<std::int64_t>(std::size(values))];
                  CAPTURE(isa, algorithm, cfg.c, cfg.groups, m, layout, center, eps, value);
                  const std::size_t s = static_cast<std::size_t>(g);
                  CHECK(rstd[s] == static_cast<float>(exact_rstd));
                  CHECK(mean[s] == value);
                  if (eps != 0x1p-40f) continue;
                  bool y_right = true;
                  for (std::int64_t c = g * k; c < (g + 1) * k; ++c) {
                    const real product = static_cast<real>(alpha[static_cast<std::size_t>(c)]) * value * exact_rstd;
                    for (std::int64_t p = 0; p < m; ++p) {
                      const float got = y[static_cast<std::size_t>(element_offset(d, 0, c, p))];
                      // Without centring: the exact product, rounded once. With it, y = alpha*(x - mean)*rstd = 0
                      // up to a rounding of the scale alpha*rstd, of the shift -mean*scale and of y itself, each
                      // at most u*|alpha*x*rstd|.
                      y_right &= center ? std::fabs(static_cast<double>(got)) <=
                                              3 * kFloatUnit * std::fabs(static_cast<double>(product))
                                        : got == static_cast<float>(product);
                    }
                  }
                  CHECK(y_right);
                }
              }
            }
          }
        }
      }
    }
  }
}

TEST_CASE("varnorm_status_string is never NULL or empty, for every status and an unknown value", "[semantics]") {
  // 7 is within the enum's value range (0..7) but names no status.
  for (int s = VARNORM_OK; s <= 7; ++s) {
    const char* text = varnorm_status_string(static_cast<varnorm_status>(s));
    CAPTURE(s);
    REQUIRE(text != nullptr);
    CHECK(std::strlen(text) > 0);
  }
  // Statuses are told apart by their strings.
  CHECK(std::string(varnorm_status_string(VARNORM_OK)) != varnorm_status_string(VARNORM_ERROR_OVERLAP));
}

TEST_CASE("varnorm_isa names a listed kernel set, set_isa of the reference set, NULL and \"auto\" are OK, an "
          "unknown name is INVALID_ARGUMENT and changes nothing",
          "[semantics][isa]") {
  std::vector<std::string> listed;
  for (int i = 0; i < varnorm_isa_count(); ++i) listed.emplace_back(varnorm_isa_name(i));
  const std::string reference = reference_isa();
  auto active = [] { return std::string(varnorm_isa()); };
  REQUIRE(varnorm_set_isa("auto") == VARNORM_OK);
  const std::string best = active();
  CHECK(std::find(listed.begin(), listed.end(), best) != listed.end());

  REQUIRE(varnorm_set_isa(reference.c_str()) == VARNORM_OK);
  CHECK(active() == reference);
  CHECK(varnorm_set_isa("foo") == VARNORM_ERROR_INVALID_ARGUMENT);
  CHECK(varnorm_set_isa("") == VARNORM_ERROR_INVALID_ARGUMENT);
  CHECK(varnorm_set_isa("AVX2") == VARNORM_ERROR_INVALID_ARGUMENT);
  CHECK(active() == reference);
  CHECK(varnorm_set_isa(nullptr) == VARNORM_OK);
  CHECK(active() == best);

  for (const std::string& name : listed) {
    const varnorm_status s = varnorm_set_isa(name.c_str());
    CAPTURE(name, s);
    CHECK(s == (varnorm_isa_supported(name.c_str()) ? VARNORM_OK : VARNORM_ERROR_UNSUPPORTED));
    if (s == VARNORM_OK) CHECK(active() == name);
  }
  CHECK(varnorm_set_isa("auto") == VARNORM_OK);
  CHECK(active() == best);
  select_default_isa();
}

TEST_CASE("varnorm_desc_make fills the shape and the documented defaults", "[semantics]") {
  const varnorm_desc d = varnorm_desc_make(2, 3, 4, 5, VARNORM_LAYOUT_NHWC);
  CHECK(d.n == 2);
  CHECK(d.c == 3);
  CHECK(d.h == 4);
  CHECK(d.w == 5);
  CHECK(d.layout == VARNORM_LAYOUT_NHWC);
  CHECK(d.algorithm == VARNORM_ALGORITHM_AUTO);
  CHECK(d.eps == 1e-5f);
  CHECK(d.correction == 1);
  CHECK(d.per_sample_affine == 0);
  CHECK(d.max_threads == 0);
  CHECK(d.groups == 0);
  CHECK(d.center == 0);
}

TEST_CASE("varnorm_version matches the VARNORM_VERSION_* macros", "[semantics]") {
  char expected[32];
  std::snprintf(expected, sizeof expected, "%d.%d.%d", VARNORM_VERSION_MAJOR, VARNORM_VERSION_MINOR,
                VARNORM_VERSION_PATCH);
  CHECK(std::string(varnorm_version()) == expected);
  CHECK(VARNORM_VERSION == VARNORM_VERSION_MAJOR * 10000 + VARNORM_VERSION_MINOR * 100 + VARNORM_VERSION_PATCH);
}
