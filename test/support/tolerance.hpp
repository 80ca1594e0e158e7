// How far the library's float results may lie from the long double oracle: the accuracy promise on the
// variance, carried through the float operations that follow it (first-order error analysis; u = 2^-24 is
// float's unit roundoff). Each bound is per element; a comparison reports the worst |error| / bound.
//
// The promise (README "Accuracy"): the relative error of var is at most 4 * ceil(log2 M) * kappa * u,
// kappa = sqrt(1 + M*mean^2 / sum((x - mean)^2)). The same form, with the condition of a sum
// (sum|v| / |sum v|) in place of kappa, bounds the float sums the library forms: sum(x) for the mean, and
// sum(dy * x), sum(dy) for the gradients.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "support/cases.hpp"
#include "support/oracle.hpp"

namespace varnorm_test {

inline constexpr double kFloatUnit = 0x1p-24;
// Slack for second-order terms and for the library's double-precision steps (sqrt, divide, lane merge).
inline constexpr double kSecondOrder = 1e-12;

// ceil(log2 M), at least 1.
inline double log2_ceil(std::int64_t m) {
  double levels = 0;
  while ((std::int64_t{1} << static_cast<int>(levels)) < m) ++levels;
  return std::max(levels, 1.0);
}

// The promised relative error of var for a plane of M values with condition number kappa.
inline double variance_bound(std::int64_t m, real kappa) {
  return 4.0 * log2_ceil(m) * static_cast<double>(kappa) * kFloatUnit;
}

// max over i of |got[i] - want[i]| / bound[i]; infinite where got is NaN and want is not (or the reverse).
inline double worst_error_ratio(const std::vector<float>& got, const std::vector<real>& want,
                                const std::vector<double>& bound) {
  if (got.size() != want.size() || got.size() != bound.size()) return std::numeric_limits<double>::infinity();
  double worst = 0.0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    // A reference beyond float's range rounds to an IEEE infinity: that, exactly, is the right float.
    const float want_as_float = static_cast<float>(want[i]);
    if (std::isinf(want_as_float)) {
      if (got[i] != want_as_float) return std::numeric_limits<double>::infinity();
      continue;
    }
    const double err = std::fabs(static_cast<double>(static_cast<real>(got[i]) - want[i]));
    if (std::isnan(err)) return std::numeric_limits<double>::infinity();
    if (err == 0.0) continue;
    worst = std::max(worst, err / bound[i]);
  }
  return worst;
}

// Per plane: bounds on the relative error of rstd (as returned in float), the absolute error of the mean,
// and what the gradient bounds need.
struct plane_bounds {
  double rstd_rel = 0;    // relative error of the float rstd
  double mean_abs = 0;    // absolute error of the float mean
  double s_abs = 0;       // absolute error of S = sum(dy * x)
  double sum_dy_abs = 0;  // absolute error of sum(dy)
};

inline std::vector<plane_bounds> plane_error_bounds(const layer_case& c, const oracle_forward_result& fwd) {
  const varnorm_desc& d = c.desc;
  const std::int64_t m = d.h * d.w;
  const double levels = log2_ceil(m);
  std::vector<plane_bounds> out(stats_size(d));
  for (std::int64_t n = 0; n < d.n; ++n) {
    for (std::int64_t ch = 0; ch < d.c; ++ch) {
      const std::size_t plane = static_cast<std::size_t>(n * d.c + ch);
      const oracle_plane& s = fwd.planes[plane];
      double abs_x = 0, abs_dyx = 0, abs_dy = 0;
      for (std::int64_t p = 0; p < m; ++p) {
        const std::size_t i = static_cast<std::size_t>(element_offset(d, n, ch, p));
        abs_x += std::fabs(static_cast<double>(c.x[i]));
        abs_dyx += std::fabs(static_cast<double>(c.dy[i]) * static_cast<double>(c.x[i]));
        abs_dy += std::fabs(static_cast<double>(c.dy[i]));
      }
      plane_bounds& b = out[plane];
      // var + eps is no worse conditioned than var; the square root halves a relative error; then one
      // rounding to float.
      b.rstd_rel = variance_bound(m, s.kappa) / 2 + kFloatUnit + kSecondOrder;
      b.mean_abs = 4.0 * levels * kFloatUnit * abs_x / static_cast<double>(m) +
                   kFloatUnit * std::fabs(static_cast<double>(s.mean));
      b.s_abs = 4.0 * levels * kFloatUnit * abs_dyx;
      b.sum_dy_abs = 4.0 * levels * kFloatUnit * abs_dy;
    }
  }
  return out;
}

struct forward_bounds {
  std::vector<double> y, mean, rstd;
};

// y = fma(x, fl(alpha * rstd), beta): the scale carries the rstd error and one rounding, the result one more.
inline forward_bounds forward_error_bounds(const layer_case& c, const oracle_forward_result& fwd) {
  const varnorm_desc& d = c.desc;
  const std::vector<plane_bounds> pb = plane_error_bounds(c, fwd);
  forward_bounds b;
  b.y.assign(tensor_size(d), 0);
  b.mean.assign(stats_size(d), 0);
  b.rstd.assign(stats_size(d), 0);
  for (std::int64_t n = 0; n < d.n; ++n) {
    for (std::int64_t ch = 0; ch < d.c; ++ch) {
      const std::size_t plane = static_cast<std::size_t>(n * d.c + ch);
      const oracle_plane& s = fwd.planes[plane];
      b.mean[plane] = pb[plane].mean_abs;
      b.rstd[plane] = pb[plane].rstd_rel * static_cast<double>(s.rstd);
      const double alpha = static_cast<double>(c.alpha[static_cast<std::size_t>(affine_offset(d, n, ch))]);
      for (std::int64_t p = 0; p < d.h * d.w; ++p) {
        const std::size_t i = static_cast<std::size_t>(element_offset(d, n, ch, p));
        const double product = std::fabs(alpha * static_cast<double>(c.x[i]) * static_cast<double>(s.rstd));
        b.y[i] = pb[plane].rstd_rel * product + kFloatUnit * std::fabs(static_cast<double>(fwd.y[i])) +
                 std::numeric_limits<float>::denorm_min();
      }
    }
  }
  return b;
}

struct backward_bounds {
  std::vector<double> dx, dalpha, dbeta;
};

// dx = fma(fl(-alpha*rstd^3*S/dof), fl(x - mean), fl(alpha*rstd * dy)) with the float rstd and mean;
// dalpha = sum S*rstd and dbeta = sum(dy) in double, rounded once.
inline backward_bounds backward_error_bounds(const layer_case& c, const oracle_forward_result& fwd,
                                             const oracle_backward_result& bwd) {
  const varnorm_desc& d = c.desc;
  const std::int64_t m = d.h * d.w;
  const double dof = static_cast<double>(m - d.correction);
  const std::vector<plane_bounds> pb = plane_error_bounds(c, fwd);
  backward_bounds b;
  b.dx.assign(tensor_size(d), 0);
  b.dalpha.assign(affine_size(d), 0);
  b.dbeta.assign(affine_size(d), 0);
  for (std::int64_t n = 0; n < d.n; ++n) {
    for (std::int64_t ch = 0; ch < d.c; ++ch) {
      const std::size_t plane = static_cast<std::size_t>(n * d.c + ch);
      const plane_bounds& e = pb[plane];
      const double rstd = static_cast<double>(fwd.planes[plane].rstd);
      const double mean = static_cast<double>(fwd.planes[plane].mean);
      const double s = static_cast<double>(bwd.s[plane]);
      const std::size_t a = static_cast<std::size_t>(affine_offset(d, n, ch));
      const double alpha = std::fabs(static_cast<double>(c.alpha[a]));
      const double coeff_a = alpha * rstd;
      const double coeff_b = alpha * rstd * rstd * rstd * std::fabs(s) / dof;
      const double coeff_b_err =
          alpha * rstd * rstd * rstd / dof * (3 * e.rstd_rel * std::fabs(s) + e.s_abs) + kFloatUnit * coeff_b;
      for (std::int64_t p = 0; p < m; ++p) {
        const std::size_t i = static_cast<std::size_t>(element_offset(d, n, ch, p));
        const double centred = std::fabs(static_cast<double>(c.x[i]) - mean);
        const double centred_err = e.mean_abs + kFloatUnit * (centred + e.mean_abs);
        b.dx[i] = (e.rstd_rel + 2 * kFloatUnit) * coeff_a * std::fabs(static_cast<double>(c.dy[i])) +
                  coeff_b_err * centred + (coeff_b + coeff_b_err) * centred_err +
                  kFloatUnit * std::fabs(static_cast<double>(bwd.dx[i])) + std::numeric_limits<float>::denorm_min();
      }
      b.dalpha[a] += e.s_abs * rstd + std::fabs(s) * rstd * e.rstd_rel;
      b.dbeta[a] += e.sum_dy_abs;
    }
  }
  for (std::size_t a = 0; a < affine_size(d); ++a) {
    b.dalpha[a] +=
        kFloatUnit * std::fabs(static_cast<double>(bwd.dalpha[a])) + std::numeric_limits<float>::denorm_min();
    b.dbeta[a] += kFloatUnit * std::fabs(static_cast<double>(bwd.dbeta[a])) + std::numeric_limits<float>::denorm_min();
  }
  return b;
}

}  // namespace varnorm_test
