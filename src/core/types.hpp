// The types every room speaks: a validated call (problem and its buffers), the moments of a set of values, and
// the block a kernel walks, with the limits that size them.
#pragma once

#include <varnorm/varnorm.h>

#include <cstdint>

namespace varnorm::detail {

// A validated call: sizes fit in int64 and size_t, enums are known.
struct problem {
  std::int64_t n = 0, c = 0, m = 0;  // m = h * w
  varnorm_layout layout = VARNORM_LAYOUT_NCHW;
  varnorm_algorithm algorithm = VARNORM_ALGORITHM_AUTO;
  float eps = 1e-5f;
  int correction = 1;
  bool per_sample_affine = false;
  int max_threads = 0;
  std::int64_t groups = 0;              // G: statistics per sample (C when the descriptor's groups is 0)
  std::int64_t channels_per_group = 1;  // C / G, consecutive channels of a group
  bool center = false;                  // the mean is subtracted from x

  std::int64_t planes() const noexcept { return n * c; }
  std::int64_t statistics() const noexcept { return n * groups; }  // mean / rstd values (statistic_index)
  std::int64_t elements() const noexcept { return n * c * m; }
  std::int64_t affine_size() const noexcept { return per_sample_affine ? n * c : c; }
  // Index of (sample, channel) into alpha / beta / dalpha / dbeta.
  std::int64_t affine_index(std::int64_t sample, std::int64_t channel) const noexcept {
    return per_sample_affine ? sample * c + channel : channel;
  }
  // Index of (sample, group) into mean / rstd.
  std::int64_t statistic_index(std::int64_t sample, std::int64_t group) const noexcept {
    return sample * groups + group;
  }
};

struct forward_buffers {
  const float* x;
  const float* alpha;
  const float* beta;
  float* y;
  float* mean;
  float* rstd;
};

struct backward_buffers {
  const float* x;
  const float* alpha;
  const float* dy;
  const float* mean;
  const float* rstd;
  float* dx;
  float* dalpha;
  float* dbeta;
};

// The element type of the inputs the kernels read (x, dy); statistics and outputs are float.
using input_element = float;

// Most channels one block covers: per-channel results of a block fit in fixed arrays on the stack.
inline constexpr int kMaxGroupChannels = 64;

// Most positions one block covers: bounds the kernels' stack use (their pairwise merge has one level per
// doubling of the block). The work plan's tiles stay within it.
inline constexpr std::int64_t kMaxBlockPositions = std::int64_t{1} << 15;

// Count, mean and sum of squared deviations (M2) of a set of values, and their plain sum. A plain aggregate:
// arrays of it are left uninitialised on hot paths; `moments{}` is the empty set.
// `mean` is accurate to a small multiple of roundoff times the standard deviation (it comes from values minus
// a nearby shift), which is what merges need: a merge's M2 term is (mean_b - mean_a)^2 * count_a * count_b /
// count. `sum` is accurate relative to |sum| (a plain sum), which is what the reported mean needs when
// |mean| is far below the deviation (centred data); see reported_mean.
struct moments {
  double count;
  double mean;
  double m2;
  double sum;
};

namespace {  // internal linkage: each kernel set's copy is compiled with its ISA's flags and must stay its own

// Chan et al.'s pairwise update: the moments of the union of two disjoint sets.
inline moments merge_moments(const moments& a, const moments& b) noexcept {
  if (a.count == 0.0) return b;
  if (b.count == 0.0) return a;
  const double count = a.count + b.count;
  const double delta = b.mean - a.mean;
  moments r;
  r.count = count;
  r.mean = a.mean + delta * (b.count / count);
  r.m2 = a.m2 + b.m2 + delta * delta * (a.count * b.count / count);
  r.sum = a.sum + b.sum;
  return r;
}

// The mean a call reports: from the plain sum, except where M2 is exactly 0. Then every value equals the
// shifted mean exactly, while a plain float sum of 3 copies of x may round.
inline double reported_mean(const moments& m) noexcept { return m.m2 == 0.0 ? m.mean : m.sum / m.count; }

// Backward's per-channel terms, with a = alpha, r = rstd, S = sum(dy * (x - mean)) (or sum(dy * x) uncentred):
// dx = a r dy + b (x - mean) + k with b = sum(-a r^3 S) / (M - correction) and k = sum(-a r sum(dy)) / M over a
// group's channels; dalpha gains S r.
inline double slope_term(double alpha, double rstd, double centred) noexcept {
  return -alpha * rstd * rstd * rstd * centred;
}
inline double constant_term(double alpha, double rstd, double sum_dy) noexcept { return -alpha * rstd * sum_dy; }
inline double dalpha_term(double centred, double rstd) noexcept { return centred * rstd; }
// S about the float mean from the unshifted sums, sum(dy * x) - mean * sum(dy), for a group whose |mean| * rstd is
// at most 1: cancellation loses at most a bit there.
inline double centred_sum(double sum_dyx, float mean, double sum_dy) noexcept {
  return sum_dyx - static_cast<double>(mean) * sum_dy;
}
inline float dy_scale(float alpha, float rstd) noexcept {
  return static_cast<float>(static_cast<double>(alpha) * static_cast<double>(rstd));
}

}  // namespace

// The statistics of a unit's groups, finished from their moments.
struct finished_statistics {
  double rstd_exact[kMaxGroupChannels];  // before rounding: alpha * rstd may fit in float where rstd alone does not
  double mean_exact[kMaxGroupChannels];  // accurate to roundoff times the deviation: what the output subtracts
  float mean[kMaxGroupChannels];         // reported: reported_mean, rounded
  float rstd[kMaxGroupChannels];
};

// Per-channel output coefficients of one block: y = x * scale (+ shift), or (x - center) * scale + shift.
struct block_coefficients {
  float scale[kMaxGroupChannels];
  float shift[kMaxGroupChannels];  // 0 where not shifted
  float center[kMaxGroupChannels];
  double scale_exact[kMaxGroupChannels];
  bool shifted;      // y adds shift: a beta, or what centring leaves of the mean
  bool centered;     // y subtracts center
  bool needs_exact;  // some alpha * rstd overflows float although it is finite
};

// Element (p, ch) of a block is x[p * stride + ch], for p < positions and ch < channels; with a plane stride,
// x[ch * plane_stride + p] (stride 1).
// NCHW: a plane (or a tile of it) is a block with stride 1 and one channel; a group of small planes of one
// sample is a block with stride 1, one channel per plane and plane_stride H*W.
// NHWC: a channel group of one sample is a block with stride C.
struct block_shape {
  std::int64_t positions = 0;
  std::int64_t stride = 1;
  int channels = 1;
  std::int64_t plane_stride = 0;  // 0: the channels of a position are adjacent

  // Offset of element (position, channel) from the block's first element.
  std::int64_t element(std::int64_t position, int channel) const noexcept {
    return plane_stride != 0 ? channel * plane_stride + position : position * stride + channel;
  }
};

}  // namespace varnorm::detail
