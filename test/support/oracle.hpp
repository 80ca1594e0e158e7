// Reference VarianceNorm2d and its family (GroupNorm, InstanceNorm2d, LayerNorm), written straight from the
// formulas in varnorm.h, in long double, with no tiling, no SIMD and no threads: what the library's results
// are compared with. It is NOT part of the library and shares none of its code.
//
// Per sample n and group g (G groups of C/G consecutive channels; G = C when groups is 0), over the
// M = (C/G)*h*w values of the group:
//   mean = sum(x) / M,  m2 = sum((x - mean)^2),  var = m2 / (M - correction),  rstd = 1 / sqrt(var + eps)
//   y    = alpha[c] * x * rstd (+ beta[c])                  center 0 (VarianceNorm2d)
//   y    = alpha[c] * (x - mean) * rstd (+ beta[c])         center 1
// Backward, with r = rstd, mu = mean, D = M - correction, a_c = alpha of channel c (of the sample with
// per-sample affine), and per channel plane T_c = sum(dy), S_c = sum(dy * x):
//   center 0: B0 = sum over the group's channels of a_c*S_c
//             dx = r*a_c*dy - r^3*B0/D*(x - mu),                 dalpha_c = sum over samples of r*S_c
//   center 1: A = sum of a_c*T_c,  B = sum of a_c*(S_c - mu*T_c)
//             dx = r*a_c*dy - r*A/M - r^3*B/D*(x - mu),          dalpha_c = sum over samples of r*(S_c - mu*T_c)
//   dbeta_c = sum over samples of T_c (per (sample, channel) with per-sample affine, as dalpha).
// (y depends on x through x itself, mu (d mu/dx = 1/M) and r (d r/dx = -r^3*(x - mu)/D: the term of mu in var
// vanishes, as sum(x - mu) = 0.) With G = C and center 0 these are VarianceNorm2d's:
//   dx = alpha*rstd*dy - alpha*rstd^3*(x - mean)*S/(M - correction),  dalpha = sum S*rstd,  dbeta = sum(dy).
// The finite-difference test in test/api/test_oracle_properties.cpp checks them against the forward.
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

// G: the groups of a sample (C when the descriptor's groups is 0), and C/G, the channels of one group.
inline std::int64_t group_count(const varnorm_desc& d) { return d.groups > 0 ? d.groups : d.c; }
inline std::int64_t group_channels(const varnorm_desc& d) { return d.groups > 0 ? d.c / d.groups : 1; }
// The group channel `channel` belongs to.
inline std::int64_t group_of(const varnorm_desc& d, std::int64_t channel) { return channel / group_channels(d); }

inline std::size_t tensor_size(const varnorm_desc& d) { return static_cast<std::size_t>(d.n * d.c * d.h * d.w); }
// mean and rstd: n*G values, index n*G + g.
inline std::size_t stats_size(const varnorm_desc& d) { return static_cast<std::size_t>(d.n * group_count(d)); }
// Index of (sample, group) into mean and rstd.
inline std::size_t stats_offset(const varnorm_desc& d, std::int64_t sample, std::int64_t group) {
  return static_cast<std::size_t>(sample * group_count(d) + group);
}
inline std::size_t affine_size(const varnorm_desc& d) {
  return static_cast<std::size_t>(d.per_sample_affine ? d.n * d.c : d.c);
}

// The statistics of one (sample, group): of one plane when groups is 0.
struct oracle_plane {
  real mean = 0, m2 = 0, var = 0, rstd = 0;
  // kappa = sqrt(1 + M*mean^2/m2): the condition number of the variance of this group, on which the
  // library's accuracy promise depends (not finite for a constant group).
  real kappa = 0;
};

template <class T>
oracle_plane oracle_plane_statistics(const varnorm_desc& d, const T* x, std::int64_t sample, std::int64_t group) {
  const std::int64_t hw = d.h * d.w, k = group_channels(d), first = group * k, m = k * hw;
  real sum = 0;
  for (std::int64_t c = first; c < first + k; ++c)
    for (std::int64_t p = 0; p < hw; ++p) sum += static_cast<real>(x[element_offset(d, sample, c, p)]);
  oracle_plane s;
  s.mean = sum / static_cast<real>(m);
  for (std::int64_t c = first; c < first + k; ++c) {
    for (std::int64_t p = 0; p < hw; ++p) {
      const real dev = static_cast<real>(x[element_offset(d, sample, c, p)]) - s.mean;
      s.m2 += dev * dev;
    }
  }
  s.var = s.m2 / static_cast<real>(m - d.correction);
  s.rstd = 1 / std::sqrt(s.var + static_cast<real>(d.eps));
  s.kappa = std::sqrt(1 + static_cast<real>(m) * s.mean * s.mean / s.m2);
  return s;
}

struct oracle_forward_result {
  std::vector<real> y;               // n*c*h*w, in the descriptor's layout
  std::vector<oracle_plane> planes;  // n*G statistics, index n*G + g (n*C + c when groups is 0)
};

// beta may be NULL (no bias).
template <class T>
oracle_forward_result oracle_forward(const varnorm_desc& d, const T* x, const T* alpha, const T* beta) {
  oracle_forward_result r;
  r.y.assign(tensor_size(d), 0);
  r.planes.resize(stats_size(d));
  for (std::int64_t n = 0; n < d.n; ++n)
    for (std::int64_t g = 0; g < group_count(d); ++g)
      r.planes[stats_offset(d, n, g)] = oracle_plane_statistics(d, x, n, g);
  const std::int64_t m = d.h * d.w;
  for (std::int64_t n = 0; n < d.n; ++n) {
    for (std::int64_t c = 0; c < d.c; ++c) {
      const oracle_plane& s = r.planes[stats_offset(d, n, group_of(d, c))];
      const std::int64_t a = affine_offset(d, n, c);
      const real shift = beta != nullptr ? static_cast<real>(beta[a]) : 0;
      const real centre = d.center != 0 ? s.mean : 0;
      for (std::int64_t p = 0; p < m; ++p) {
        const std::int64_t i = element_offset(d, n, c, p);
        r.y[static_cast<std::size_t>(i)] =
            static_cast<real>(alpha[a]) * (static_cast<real>(x[i]) - centre) * s.rstd + shift;
      }
    }
  }
  return r;
}

struct oracle_backward_result {
  std::vector<real> dx;      // n*c*h*w, in the descriptor's layout
  std::vector<real> dalpha;  // c, or n*c with per-sample affine
  std::vector<real> dbeta;   // as dalpha
  std::vector<real> s;       // n*c: S = sum(dy * x) of each plane (index n*C + c)
  std::vector<real> t;       // n*c: T = sum(dy) of each plane
  std::vector<real> a, b;    // n*G: the group sums A (center 1; 0 otherwise) and B (B0 with center 0)
};

template <class T>
oracle_backward_result oracle_backward(const varnorm_desc& d, const T* x, const T* alpha, const T* dy) {
  oracle_backward_result r;
  r.dx.assign(tensor_size(d), 0);
  r.dalpha.assign(affine_size(d), 0);
  r.dbeta.assign(affine_size(d), 0);
  r.s.assign(static_cast<std::size_t>(d.n * d.c), 0);
  r.t.assign(static_cast<std::size_t>(d.n * d.c), 0);
  r.a.assign(stats_size(d), 0);
  r.b.assign(stats_size(d), 0);
  const std::int64_t hw = d.h * d.w, k = group_channels(d), m = k * hw;
  const real dof = static_cast<real>(m - d.correction);
  const bool center = d.center != 0;
  for (std::int64_t n = 0; n < d.n; ++n) {
    for (std::int64_t g = 0; g < group_count(d); ++g) {
      const oracle_plane st = oracle_plane_statistics(d, x, n, g);
      const std::size_t gi = stats_offset(d, n, g);
      // Per channel: S_c, T_c; per group: A and B.
      for (std::int64_t c = g * k; c < (g + 1) * k; ++c) {
        real s = 0, sum_dy = 0;
        for (std::int64_t p = 0; p < hw; ++p) {
          const std::int64_t i = element_offset(d, n, c, p);
          s += static_cast<real>(dy[i]) * static_cast<real>(x[i]);
          sum_dy += static_cast<real>(dy[i]);
        }
        const std::size_t plane = static_cast<std::size_t>(n * d.c + c);
        r.s[plane] = s;
        r.t[plane] = sum_dy;
        const std::int64_t a = affine_offset(d, n, c);
        const real al = static_cast<real>(alpha[a]);
        if (center) {
          r.a[gi] += al * sum_dy;
          r.b[gi] += al * (s - st.mean * sum_dy);
        } else {
          r.b[gi] += al * s;
        }
        r.dalpha[static_cast<std::size_t>(a)] += st.rstd * (center ? s - st.mean * sum_dy : s);
        r.dbeta[static_cast<std::size_t>(a)] += sum_dy;
      }
      const real r3 = st.rstd * st.rstd * st.rstd;
      for (std::int64_t c = g * k; c < (g + 1) * k; ++c) {
        const real al = static_cast<real>(alpha[affine_offset(d, n, c)]);
        for (std::int64_t p = 0; p < hw; ++p) {
          const std::int64_t i = element_offset(d, n, c, p);
          const real constant = center ? st.rstd * r.a[gi] / static_cast<real>(m) : 0;  // no 0 * inf
          r.dx[static_cast<std::size_t>(i)] = al * st.rstd * static_cast<real>(dy[i]) - constant -
                                              r3 * r.b[gi] / dof * (static_cast<real>(x[i]) - st.mean);
        }
      }
    }
  }
  return r;
}

}  // namespace varnorm_test
