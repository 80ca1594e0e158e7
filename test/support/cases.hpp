// Random layer inputs with fixed seeds, and the library calls on them, shared by the numerical tests.
#pragma once

#include <varnorm/varnorm.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "support/oracle.hpp"

namespace varnorm_test {

struct layer_case {
  varnorm_desc desc;
  std::vector<float> x, alpha, beta, dy;  // beta empty: no bias

  const float* beta_or_null() const { return beta.empty() ? nullptr : beta.data(); }
};

// Plane (n, c) of x is offset + spread * N(0, 1), with |offset| = mean_over_std * spread, the sign and the
// spread (a power of ten from 1e-3 to 1e3) drawn per plane, so that a value landing in the wrong plane or
// statistic shows. alpha = 1 + N(0, 0.1); beta and dy = N(0, 1).
inline layer_case make_case(const varnorm_desc& d, bool with_beta, std::uint64_t seed, double mean_over_std = 1.0) {
  layer_case c;
  c.desc = d;
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_int_distribution<int> decade(-3, 3), sign(0, 1);
  c.x.resize(tensor_size(d));
  for (std::int64_t n = 0; n < d.n; ++n) {
    for (std::int64_t ch = 0; ch < d.c; ++ch) {
      const double spread = std::pow(10.0, decade(rng));
      const double offset = (sign(rng) != 0 ? 1.0 : -1.0) * mean_over_std * spread;
      for (std::int64_t p = 0; p < d.h * d.w; ++p)
        c.x[static_cast<std::size_t>(element_offset(d, n, ch, p))] = static_cast<float>(offset + spread * normal(rng));
    }
  }
  c.alpha.resize(affine_size(d));
  for (float& a : c.alpha) a = static_cast<float>(1.0 + 0.1 * normal(rng));
  if (with_beta) {
    c.beta.resize(affine_size(d));
    for (float& b : c.beta) b = static_cast<float>(normal(rng));
  }
  c.dy.resize(tensor_size(d));
  for (float& g : c.dy) g = static_cast<float>(normal(rng));
  return c;
}

struct forward_outputs {
  varnorm_status status = VARNORM_OK;
  std::vector<float> y, mean, rstd;
};

// Forward with descriptor d into o's buffers (allocated by run_forward).
inline varnorm_status call_forward(const layer_case& c, const varnorm_desc& d, forward_outputs& o) {
  return varnorm_forward(&d, c.x.data(), c.alpha.data(), c.beta_or_null(), o.y.data(), o.mean.data(), o.rstd.data());
}
inline forward_outputs run_forward(const layer_case& c, const varnorm_desc& d) {
  forward_outputs o;
  o.y.assign(tensor_size(d), 0.0f);
  o.mean.assign(stats_size(d), 0.0f);
  o.rstd.assign(stats_size(d), 0.0f);
  o.status = call_forward(c, d, o);
  return o;
}
inline forward_outputs run_forward(const layer_case& c) { return run_forward(c, c.desc); }
// The same call again into `o`'s buffers: nothing allocated between calls, so repeated ones come back to back.
inline varnorm_status rerun_forward(const layer_case& c, forward_outputs& o) { return call_forward(c, c.desc, o); }

struct backward_outputs {
  varnorm_status status = VARNORM_OK;
  std::vector<float> dx, dalpha, dbeta;
};

// Backward with descriptor d into o's buffers (allocated by run_backward); mean and rstd: both saved by forward,
// or both NULL (recomputed).
inline varnorm_status call_backward(const layer_case& c, const varnorm_desc& d, const float* mean, const float* rstd,
                                    backward_outputs& o) {
  return varnorm_backward(&d, c.x.data(), c.alpha.data(), c.dy.data(), mean, rstd, o.dx.data(), o.dalpha.data(),
                          o.dbeta.data());
}
inline backward_outputs run_backward(const layer_case& c, const varnorm_desc& d, const float* mean, const float* rstd) {
  backward_outputs o;
  o.dx.assign(tensor_size(d), 0.0f);
  o.dalpha.assign(affine_size(d), 0.0f);
  o.dbeta.assign(affine_size(d), 0.0f);
  o.status = call_backward(c, d, mean, rstd, o);
  return o;
}
inline backward_outputs run_backward(const layer_case& c, const float* mean = nullptr, const float* rstd = nullptr) {
  return run_backward(c, c.desc, mean, rstd);
}
// The same call again into `o`'s buffers, as rerun_forward.
inline varnorm_status rerun_backward(const layer_case& c, const float* mean, const float* rstd, backward_outputs& o) {
  return call_backward(c, c.desc, mean, rstd, o);
}

inline varnorm_desc make_desc(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w, varnorm_layout layout,
                              varnorm_algorithm algorithm, int correction, bool per_sample_affine, float eps = 1e-5f) {
  varnorm_desc d = varnorm_desc_make(n, c, h, w, layout);
  d.algorithm = algorithm;
  d.correction = correction;
  d.per_sample_affine = per_sample_affine ? 1 : 0;
  d.eps = eps;
  return d;
}

// d with G = groups groups (0: one per channel) and the mean subtracted or not (GroupNorm, InstanceNorm2d).
inline varnorm_desc with_groups(varnorm_desc d, std::int32_t groups, bool center) {
  d.groups = groups;
  d.center = center ? 1 : 0;
  return d;
}

// The same n x c x h x w tensor in the other layout.
inline std::vector<float> relayout(const varnorm_desc& from, const std::vector<float>& v, varnorm_layout to) {
  varnorm_desc target = from;
  target.layout = to;
  std::vector<float> out(v.size());
  for (std::int64_t n = 0; n < from.n; ++n)
    for (std::int64_t c = 0; c < from.c; ++c)
      for (std::int64_t p = 0; p < from.h * from.w; ++p)
        out[static_cast<std::size_t>(element_offset(target, n, c, p))] =
            v[static_cast<std::size_t>(element_offset(from, n, c, p))];
  return out;
}

// Every algorithm a caller can name, and those plus AUTO.
inline const varnorm_algorithm kExplicitAlgorithms[] = {VARNORM_ALGORITHM_TWO_PASS, VARNORM_ALGORITHM_WELFORD,
                                                        VARNORM_ALGORITHM_SHIFTED_SUMS};
inline const varnorm_algorithm kAllAlgorithms[] = {VARNORM_ALGORITHM_TWO_PASS, VARNORM_ALGORITHM_WELFORD,
                                                   VARNORM_ALGORITHM_SHIFTED_SUMS, VARNORM_ALGORITHM_AUTO};

}  // namespace varnorm_test
