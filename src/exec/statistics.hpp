// From the moments of a plane to what the layer outputs. The same rule serves forward and backward.
#pragma once

#include <cmath>
#include <limits>

#include "core/types.hpp"

namespace varnorm::detail {

struct plane_statistics {
  float mean;
  float rstd;
  double rstd_exact;  // before rounding: alpha * rstd may fit in float where rstd alone does not
};

// var = M2 / (M - correction), rstd = 1 / sqrt(var + eps), in double with exact sqrt and divide, rounded
// once. A plane holding NaN or Inf has non-finite moments and gets NaN mean and rstd, so that every output
// of that plane is NaN (as in PyTorch) and nothing leaks into other planes.
inline plane_statistics finalize_statistics(const moments& m, const problem& p) noexcept {
  if (!std::isfinite(m.mean) || !std::isfinite(m.m2)) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    return {nan, nan, static_cast<double>(nan)};
  }
  const double var = m.m2 / (m.count - static_cast<double>(p.correction));
  const double rstd = 1.0 / std::sqrt(var + static_cast<double>(p.eps));
  return {static_cast<float>(reported_mean(m)), static_cast<float>(rstd), rstd};
}

}  // namespace varnorm::detail
