// Reference VarianceNorm2d, written straight from the formulas in varnorm.h, in long double, with no
// tiling, no SIMD and no threads: what the library's results are compared with. It is NOT part of the
// library and shares none of its code.
//
// Per (sample, channel) plane of M = h*w values:
//   mean = sum(x) / M,  m2 = sum((x - mean)^2),  var = m2 / (M - correction),  rstd = 1 / sqrt(var + eps)
//   y    = alpha * x * rstd (+ beta)
//   S    = sum(dy * x)
//   dx   = alpha*rstd*dy - alpha*rstd^3*(x - mean)*S/(M - correction)
//   dalpha = sum over samples of S*rstd (per (sample, channel) with per-sample affine),  dbeta = sum(dy)
//
// Accuracy: plain two-pass sums in long double. On x86-64 (64-bit significand) the relative error of m2
// for M <= 2^20 is below M * 2^-64 = 2^-44, far under the float tolerances the tests use. The inputs are
// templated so that the finite-difference check can feed doubles that are not floats.
//
// Inputs are read in the descriptor's layout; every descriptor must be one the C API accepts.
#pragma once

#include <varnorm/varnorm.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace varnorm_test {

using real = long double;

// Where element (sample, channel, position) of an n x c x (h*w) tensor lies in the descriptor's layout.
inline std::int64_t element_offset(const varnorm_desc& d, std::int64_t sample, std::int64_t channel,
                                   std::int64_t position) {
  const std::int64_t m = d.h * d.w;
  return d.layout == VARNORM_LAYOUT_NCHW ? (sample * d.c + channel) * m + position
                                         : (sample * m + position) * d.c + channel;
}

// Index of (sample, channel) into alpha, beta, dalpha, dbeta.
inline std::int64_t affine_offset(const varnorm_desc& d, std::int64_t sample, std::int64_t channel) {
  return d.per_sample_affine ? sample * d.c + channel : channel;
}

inline std::size_t tensor_size(const varnorm_desc& d) { return static_cast<std::size_t>(d.n * d.c * d.h * d.w); }
inline std::size_t stats_size(const varnorm_desc& d) { return static_cast<std::size_t>(d.n * d.c); }
inline std::size_t affine_size(const varnorm_desc& d) {
  return static_cast<std::size_t>(d.per_sample_affine ? d.n * d.c : d.c);
}

struct oracle_plane {
  real mean = 0, m2 = 0, var = 0, rstd = 0;
  // kappa = sqrt(1 + M*mean^2/m2): the condition number of the variance of this plane, on which the
  // library's accuracy promise depends (not finite for a constant plane).
  real kappa = 0;
};

template <class T>
oracle_plane oracle_plane_statistics(const varnorm_desc& d, const T* x, std::int64_t sample, std::int64_t channel) {
  const std::int64_t m = d.h * d.w;
  real sum = 0;
  for (std::int64_t p = 0; p < m; ++p) sum += static_cast<real>(x[element_offset(d, sample, channel, p)]);
  oracle_plane s;
  s.mean = sum / static_cast<real>(m);
  for (std::int64_t p = 0; p < m; ++p) {
    const real dev = static_cast<real>(x[element_offset(d, sample, channel, p)]) - s.mean;
    s.m2 += dev * dev;
  }
  s.var = s.m2 / static_cast<real>(m - d.correction);
  s.rstd = 1 / std::sqrt(s.var + static_cast<real>(d.eps));
  s.kappa = std::sqrt(1 + static_cast<real>(m) * s.mean * s.mean / s.m2);
  return s;
}

struct oracle_forward_result {
  std::vector<real> y;               // n*c*h*w, in the descriptor's layout
  std::vector<oracle_plane> planes;  // n*c, index n*C + c
};

// beta may be NULL (no bias).
template <class T>
oracle_forward_result oracle_forward(const varnorm_desc& d, const T* x, const T* alpha, const T* beta) {
  oracle_forward_result r;
  r.y.assign(tensor_size(d), 0);
  r.planes.resize(stats_size(d));
  const std::int64_t m = d.h * d.w;
  for (std::int64_t n = 0; n < d.n; ++n) {
    for (std::int64_t c = 0; c < d.c; ++c) {
      const oracle_plane s = oracle_plane_statistics(d, x, n, c);
      r.planes[static_cast<std::size_t>(n * d.c + c)] = s;
      const std::int64_t a = affine_offset(d, n, c);
      const real shift = beta != nullptr ? static_cast<real>(beta[a]) : 0;
      for (std::int64_t p = 0; p < m; ++p) {
        const std::int64_t i = element_offset(d, n, c, p);
        r.y[static_cast<std::size_t>(i)] = static_cast<real>(alpha[a]) * static_cast<real>(x[i]) * s.rstd + shift;
      }
    }
  }
  return r;
}

struct oracle_backward_result {
  std::vector<real> dx;      // n*c*h*w, in the descriptor's layout
  std::vector<real> dalpha;  // c, or n*c with per-sample affine
  std::vector<real> dbeta;   // as dalpha
  std::vector<real> s;       // n*c: S = sum(dy * x) of each plane
};

template <class T>
oracle_backward_result oracle_backward(const varnorm_desc& d, const T* x, const T* alpha, const T* dy) {
  oracle_backward_result r;
  r.dx.assign(tensor_size(d), 0);
  r.dalpha.assign(affine_size(d), 0);
  r.dbeta.assign(affine_size(d), 0);
  r.s.assign(stats_size(d), 0);
  const std::int64_t m = d.h * d.w;
  const real dof = static_cast<real>(m - d.correction);
  for (std::int64_t n = 0; n < d.n; ++n) {
    for (std::int64_t c = 0; c < d.c; ++c) {
      const oracle_plane st = oracle_plane_statistics(d, x, n, c);
      real s = 0, sum_dy = 0;
      for (std::int64_t p = 0; p < m; ++p) {
        const std::int64_t i = element_offset(d, n, c, p);
        s += static_cast<real>(dy[i]) * static_cast<real>(x[i]);
        sum_dy += static_cast<real>(dy[i]);
      }
      r.s[static_cast<std::size_t>(n * d.c + c)] = s;
      const std::int64_t a = affine_offset(d, n, c);
      const real al = static_cast<real>(alpha[a]);
      for (std::int64_t p = 0; p < m; ++p) {
        const std::int64_t i = element_offset(d, n, c, p);
        r.dx[static_cast<std::size_t>(i)] =
            al * st.rstd * static_cast<real>(dy[i]) -
            al * st.rstd * st.rstd * st.rstd * (static_cast<real>(x[i]) - st.mean) * s / dof;
      }
      r.dalpha[static_cast<std::size_t>(a)] += s * st.rstd;
      r.dbeta[static_cast<std::size_t>(a)] += sum_dy;
    }
  }
  return r;
}

}  // namespace varnorm_test
