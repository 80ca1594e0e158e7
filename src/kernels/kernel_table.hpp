// The interface every kernel set (one per ISA) implements. Kernels see one "block": a channel group of
// one unit over a range of spatial positions, and never the whole problem; the work plan decides the blocks.
#pragma once

#include <varnorm/varnorm.h>

#include <cstdint>

namespace varnorm::detail {

// Most channels one block covers: per-channel results of a block fit in fixed arrays on the stack.
inline constexpr int kMaxGroupChannels = 64;

// Most positions one block covers: bounds the kernels' stack use (their pairwise merge has one level per
// doubling of the block, 1.5 KiB each on avx512). The work plan's tiles (32768 floats) stay within it.
inline constexpr std::int64_t kMaxBlockPositions = std::int64_t{1} << 15;

// Count, mean and sum of squared deviations (M2) of a set of values. A plain aggregate: arrays of it are
// left uninitialised on hot paths; `moments{}` is the empty set.
struct moments {
  double count;
  double mean;
  double m2;
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
  return r;
}

}  // namespace

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
};

struct kernel_table {
  const char* name;  // as varnorm_isa() reports it

  // NCHW planes of at most this many values are walked side by side when a block holds several of them (its
  // plane_stride set), each with the bits it gets alone; larger planes of such a block are walked one by one.
  std::int64_t row_sharing_plane_floats;

  // out[ch] = moments of channel ch over the block. Exact to the accuracy promise whatever the values;
  // non-finite input gives non-finite moments.
  void (*block_moments)(const float* x, block_shape block, varnorm_algorithm algorithm, moments* out) noexcept;

  // y = x * scale[ch] (+ shift[ch] when shift is not NULL). y may equal x. `stream`: y will not stay in
  // cache, write it with non-temporal stores where the ISA has them (same values either way).
  void (*block_scale)(const float* x, float* y, block_shape block, const float* scale, const float* shift,
                      bool stream) noexcept;

  // sum_dyx[ch] = sum(dy * x), sum_dy[ch] = sum(dy) over the block.
  void (*block_grad_sums)(const float* x, const float* dy, block_shape block, double* sum_dyx,
                          double* sum_dy) noexcept;

  // dx = a[ch] * dy + b[ch] * (x - mean[ch]). dx may equal x or dy. `stream`: as block_scale.
  void (*block_grad_apply)(const float* x, const float* dy, float* dx, block_shape block, const float* a,
                           const float* b, const float* mean, bool stream) noexcept;
};

}  // namespace varnorm::detail
