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

// Per (sample, group): bounds on the relative error of rstd (as returned in float) and the absolute error of
// the mean; per (sample, channel) plane: what the gradient bounds need. With groups 0 a group is a plane.
struct group_bounds {
  double rstd_rel = 0;  // relative error of the float rstd
  double mean_abs = 0;  // absolute error of the float mean
};
struct plane_bounds {
  double s_abs = 0;       // absolute error of S = sum(dy * x)
  double sum_dy_abs = 0;  // absolute error of T = sum(dy)
};

// n*G values, index n*G + g.
inline std::vector<group_bounds> group_error_bounds(const layer_case& c, const oracle_forward_result& fwd) {
  const varnorm_desc& d = c.desc;
  const std::int64_t hw = d.h * d.w, k = group_channels(d), m = k * hw;
  const double levels = log2_ceil(m);
  std::vector<group_bounds> out(stats_size(d));
  for (std::int64_t n = 0; n < d.n; ++n) {
    for (std::int64_t g = 0; g < group_count(d); ++g) {
      const std::size_t gi = stats_offset(d, n, g);
      const oracle_plane& s = fwd.planes[gi];
      double abs_x = 0;
      for (std::int64_t ch = g * k; ch < (g + 1) * k; ++ch)
        for (std::int64_t p = 0; p < hw; ++p)
          abs_x += std::fabs(static_cast<double>(c.x[static_cast<std::size_t>(element_offset(d, n, ch, p))]));
      group_bounds& b = out[gi];
      // var + eps is no worse conditioned than var; the square root halves a relative error; then one
      // rounding to float.
      b.rstd_rel = variance_bound(m, s.kappa) / 2 + kFloatUnit + kSecondOrder;
      b.mean_abs = 4.0 * levels * kFloatUnit * abs_x / static_cast<double>(m) +
                   kFloatUnit * std::fabs(static_cast<double>(s.mean));
    }
  }
  return out;
}

// n*c values, index n*C + c.
inline std::vector<plane_bounds> plane_error_bounds(const layer_case& c) {
  const varnorm_desc& d = c.desc;
  const std::int64_t m = d.h * d.w;
  const double levels = log2_ceil(m);
  std::vector<plane_bounds> out(static_cast<std::size_t>(d.n * d.c));
  for (std::int64_t n = 0; n < d.n; ++n) {
    for (std::int64_t ch = 0; ch < d.c; ++ch) {
      double abs_dyx = 0, abs_dy = 0;
      for (std::int64_t p = 0; p < m; ++p) {
        const std::size_t i = static_cast<std::size_t>(element_offset(d, n, ch, p));
        abs_dyx += std::fabs(static_cast<double>(c.dy[i]) * static_cast<double>(c.x[i]));
        abs_dy += std::fabs(static_cast<double>(c.dy[i]));
      }
      plane_bounds& b = out[static_cast<std::size_t>(n * d.c + ch)];
      b.s_abs = 4.0 * levels * kFloatUnit * abs_dyx;
      b.sum_dy_abs = 4.0 * levels * kFloatUnit * abs_dy;
    }
  }
  return out;
}

struct forward_bounds {
  std::vector<double> y, mean, rstd;
};

// center 0: y = fma(x, fl(alpha * rstd), beta): the scale carries the rstd error and one rounding, the result
// one more. center 1: y = alpha * (x - mean) * rstd + beta, however it is arranged (e.g. fma(x, scale,
// fl(beta - mean * scale))): the rstd error on alpha * (x - mean) * rstd, the mean's error times alpha * rstd,
// and a rounding on each of x * scale, mean * scale (twice: the scale's rounding and the shift's), beta and y.
inline forward_bounds forward_error_bounds(const layer_case& c, const oracle_forward_result& fwd) {
  const varnorm_desc& d = c.desc;
  const std::vector<group_bounds> gb = group_error_bounds(c, fwd);
  forward_bounds b;
  b.y.assign(tensor_size(d), 0);
  b.mean.assign(stats_size(d), 0);
  b.rstd.assign(stats_size(d), 0);
  for (std::size_t gi = 0; gi < stats_size(d); ++gi) {
    b.mean[gi] = gb[gi].mean_abs;
    b.rstd[gi] = gb[gi].rstd_rel * static_cast<double>(fwd.planes[gi].rstd);
  }
  for (std::int64_t n = 0; n < d.n; ++n) {
    for (std::int64_t ch = 0; ch < d.c; ++ch) {
      const std::size_t gi = stats_offset(d, n, group_of(d, ch));
      const oracle_plane& s = fwd.planes[gi];
      const group_bounds& e = gb[gi];
      const std::size_t a = static_cast<std::size_t>(affine_offset(d, n, ch));
      const double alpha = static_cast<double>(c.alpha[a]);
      const double scale = std::fabs(alpha * static_cast<double>(s.rstd));
      const double mean = std::fabs(static_cast<double>(s.mean));
      const double beta = c.beta.empty() ? 0.0 : std::fabs(static_cast<double>(c.beta[a]));
      for (std::int64_t p = 0; p < d.h * d.w; ++p) {
        const std::size_t i = static_cast<std::size_t>(element_offset(d, n, ch, p));
        const double x = static_cast<double>(c.x[i]);
        const double last =
            kFloatUnit * std::fabs(static_cast<double>(fwd.y[i])) + std::numeric_limits<float>::denorm_min();
        if (d.center == 0) {
          b.y[i] = e.rstd_rel * std::fabs(alpha * x * static_cast<double>(s.rstd)) + last;
        } else {
          const double centred = std::fabs(x - static_cast<double>(s.mean));
          b.y[i] = e.rstd_rel * scale * centred + scale * (e.mean_abs + 2 * kFloatUnit * (std::fabs(x) + mean)) +
                   kFloatUnit * beta + last;
        }
      }
    }
  }
  return b;
}

struct backward_bounds {
  std::vector<double> dx, dalpha, dbeta;
};

// dx = fma(fl(-r^3*B/D), fl(x - mean), fl(alpha*r*dy) - fl(r*A/M)) with the float rstd r and mean (A = 0 with
// center 0; with groups 0 and center 0, B = alpha*S). A and B are sums over the group's channels, in double,
// of the per-channel sums T and S (and S - mean*T with center 1), each with its float-sum error.
// dalpha = sum r*S (r*(S - mean*T) with center 1) and dbeta = sum(dy) in double, rounded once.
inline backward_bounds backward_error_bounds(const layer_case& c, const oracle_forward_result& fwd,
                                             const oracle_backward_result& bwd) {
  const varnorm_desc& d = c.desc;
  const std::int64_t hw = d.h * d.w, k = group_channels(d), m = k * hw;
  const double dof = static_cast<double>(m - d.correction);
  const bool center = d.center != 0;
  const std::vector<group_bounds> gb = group_error_bounds(c, fwd);
  const std::vector<plane_bounds> pb = plane_error_bounds(c);
  backward_bounds b;
  b.dx.assign(tensor_size(d), 0);
  b.dalpha.assign(affine_size(d), 0);
  b.dbeta.assign(affine_size(d), 0);
  for (std::int64_t n = 0; n < d.n; ++n) {
    for (std::int64_t g = 0; g < group_count(d); ++g) {
      const std::size_t gi = stats_offset(d, n, g);
      const group_bounds& e = gb[gi];
      const double rstd = static_cast<double>(fwd.planes[gi].rstd);
      const double mean = static_cast<double>(fwd.planes[gi].mean);
      // Errors of the group sums A and B.
      double a_err = 0, b_err = 0;
      for (std::int64_t ch = g * k; ch < (g + 1) * k; ++ch) {
        const std::size_t plane = static_cast<std::size_t>(n * d.c + ch);
        const double alpha = std::fabs(static_cast<double>(c.alpha[static_cast<std::size_t>(affine_offset(d, n, ch))]));
        a_err += alpha * pb[plane].sum_dy_abs;
        b_err += center ? alpha * (pb[plane].s_abs + std::fabs(mean) * pb[plane].sum_dy_abs +
                                   std::fabs(static_cast<double>(bwd.t[plane])) * e.mean_abs)
                        : alpha * pb[plane].s_abs;
      }
      const double group_a = std::fabs(static_cast<double>(bwd.a[gi])),
                   group_b = std::fabs(static_cast<double>(bwd.b[gi]));
      const double coeff_b = rstd * rstd * rstd * group_b / dof;
      const double coeff_b_err = rstd * rstd * rstd / dof * (3 * e.rstd_rel * group_b + b_err) + kFloatUnit * coeff_b;
      const double coeff_c = center ? rstd * group_a / static_cast<double>(m) : 0;
      const double coeff_c_err =
          center ? rstd / static_cast<double>(m) * (e.rstd_rel * group_a + a_err) + 2 * kFloatUnit * coeff_c : 0;
      for (std::int64_t ch = g * k; ch < (g + 1) * k; ++ch) {
        const std::size_t plane = static_cast<std::size_t>(n * d.c + ch);
        const plane_bounds& pe = pb[plane];
        const std::size_t a = static_cast<std::size_t>(affine_offset(d, n, ch));
        const double alpha = std::fabs(static_cast<double>(c.alpha[a]));
        const double coeff_a = alpha * rstd;
        for (std::int64_t p = 0; p < hw; ++p) {
          const std::size_t i = static_cast<std::size_t>(element_offset(d, n, ch, p));
          const double centred = std::fabs(static_cast<double>(c.x[i]) - mean);
          const double centred_err = e.mean_abs + kFloatUnit * (centred + e.mean_abs);
          b.dx[i] = (e.rstd_rel + 2 * kFloatUnit) * coeff_a * std::fabs(static_cast<double>(c.dy[i])) + coeff_c_err +
                    coeff_b_err * centred + (coeff_b + coeff_b_err) * centred_err +
                    kFloatUnit * std::fabs(static_cast<double>(bwd.dx[i])) + std::numeric_limits<float>::denorm_min();
        }
        const double s = static_cast<double>(bwd.s[plane]), t = static_cast<double>(bwd.t[plane]);
        if (center)
          b.dalpha[a] += (pe.s_abs + std::fabs(mean) * pe.sum_dy_abs + std::fabs(t) * e.mean_abs) * rstd +
                         std::fabs(s - mean * t) * rstd * e.rstd_rel;
        else
          b.dalpha[a] += pe.s_abs * rstd + std::fabs(s) * rstd * e.rstd_rel;
        b.dbeta[a] += pe.sum_dy_abs;
      }
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
