// The interface every kernel set (one per ISA) implements. Kernels see one "block": a channel group of
// one unit over a range of spatial positions, and never the whole problem; the work plan decides the blocks.
#pragma once

#include <varnorm/varnorm.h>

#include <cstdint>

#include "core/types.hpp"

namespace varnorm::detail {

// What kernel_table::unit_forward needs beyond the block: the algorithm, finish_statistics' divisor and eps, and
// output_coefficients' arguments for the block's channels.
struct unit_forward_args {
  varnorm_algorithm algorithm;
  double dof;
  double eps;
  const float* alpha;
  const float* beta;  // or NULL
  bool center;        // subtract the mean
  bool stream;        // as block_scale
};

// What kernel_table::unit_backward needs beyond the block: alpha per channel, the saved mean and rstd per
// statistics group (channels_per_group consecutive channels of the block; the block holds whole groups); b's
// divisor (M - correction); with centring, k's divisor (M).
struct unit_backward_args {
  const float* alpha;
  const float* mean;
  const float* rstd;
  int channels_per_group;
  double dof;
  bool center;    // subtract the mean: every group's |mean| * rstd at most 1 (no shifted sums)
  double values;  // M, with center
  bool stream;    // as block_grad_apply
};

struct kernel_table {
  // NCHW planes of at most this many values are walked side by side when a block holds several of them (its
  // plane_stride set), each with the bits it gets alone; larger planes of such a block are walked one by one.
  std::int64_t row_sharing_plane_positions;

  // out[ch] = moments of channel ch over the block. Exact to the accuracy promise whatever the values;
  // non-finite input gives non-finite moments.
  void (*block_moments)(const input_element* x, block_shape block, varnorm_algorithm algorithm, moments* out) noexcept;

  // For groups i < count: out.rstd_exact[i] = 1 / sqrt(m[i].m2 / dof + eps) and out.mean_exact[i] = m[i].mean in
  // double, each operation correctly rounded, and the reported out.mean (reported_mean) and out.rstd rounded to
  // float; a group with a non-finite mean or M2 gets NaN in all four.
  void (*finish_statistics)(const moments* m, int count, double dof, double eps, finished_statistics& out) noexcept;

  // For channels i < count: out.scale_exact[i] = alpha[i] * rstd[i] in double, out.scale[i] its float, out.shift[i]
  // = beta[i] (0 when beta is NULL); with mean (centring): out.center[i] = float(mean[i]) and out.shift[i] =
  // float(shift - scale_exact * (mean[i] - center)). Sets out.shifted (beta or mean given), out.centered (mean
  // given) and out.needs_exact.
  void (*output_coefficients)(const float* alpha, const float* beta, const double* rstd, const double* mean, int count,
                              block_coefficients& out) noexcept;

  // quotients[i] = values[i] / divisor for i < count, correctly rounded; quotients may equal values.
  void (*divide_by)(const double* values, int count, double divisor, double* quotients) noexcept;

  // y = x * c.scale[ch] (+ c.shift[ch] when c.shifted), or, when c.centered, y = (x - c.center[ch]) * c.scale[ch]
  // + c.shift[ch]. y may equal x. `stream`: y will not stay in cache, write it with non-temporal stores where the
  // ISA has them (same values either way), which the caller fences (stream_fence) before another thread may read y.
  void (*block_scale)(const input_element* x, float* y, block_shape block, const block_coefficients& c,
                      bool stream) noexcept;

  // A unit that is one block whose channels are each their own statistics group, forward: block_moments,
  // finish_statistics (into stats), output_coefficients (into c) and, unless c.needs_exact (then y is left to
  // the caller), block_scale, in one call with the arithmetic of those four.
  void (*unit_forward)(const input_element* x, float* y, block_shape block, const unit_forward_args& args,
                       finished_statistics& stats, block_coefficients& c) noexcept;

  // sum_dyx[ch] = sum(dy * (x - shift[ch])) (shift NULL: sum(dy * x)), sum_dy[ch] = sum(dy) over the block.
  void (*block_grad_sums)(const input_element* x, const input_element* dy, const float* shift, block_shape block,
                          double* sum_dyx, double* sum_dy) noexcept;

  // dx = a[ch] * dy + b[ch] * (x - mean[ch]) (+ constant[ch] when it is not NULL). dx may equal x or dy.
  // `stream`: as block_scale.
  void (*block_grad_apply)(const input_element* x, const input_element* dy, float* dx, block_shape block,
                           const float* a, const float* b, const float* mean, const float* constant,
                           bool stream) noexcept;

  // A unit that is one block of whole statistics groups, backward from saved statistics: block_grad_sums
  // (unshifted), per channel S (with centring centred_sum), slope_term, constant_term and dy_scale
  // (core/types.hpp), per group b = the sum of its channels' slope_term (in channel order, from -0) / dof and with
  // centring k = the sum of constant_term / M, each rounded to float, and block_grad_apply; dalpha_terms[ch] =
  // dalpha_term and dbeta_terms[ch] = sum(dy), the channel's share of dalpha and dbeta.
  void (*unit_backward)(const input_element* x, const input_element* dy, float* dx, block_shape block,
                        const unit_backward_args& args, double* dalpha_terms, double* dbeta_terms) noexcept;

  // Makes the calling thread's streaming stores globally visible. Left to the caller, once after a thread's last
  // streamed block of a call or task: a fence holds the thread's next stores until memory has taken every line
  // streamed before it.
  void (*stream_fence)() noexcept;
};

}  // namespace varnorm::detail
