// The one kernel source, compiled once per kernel set (see isa_*.cpp). The including file defines
// VARNORM_KERNEL_NAMESPACE and, inside that namespace, `kernel_arch` and `kernel_max_vectors`. Everything here has
// internal linkage, so code built with one ISA's flags can never be merged by the linker into another's kernels.
//
// The algorithm is split by concern, each part included here in order:
//   geometry.inl       rows of vectors: how a block's values are laid out in them, loads and stores
//   walk.inl           walk_block: the one walk over a block's rows, tails and channels, for every pass
//   exact.inl          double-precision statistics and sums, for tails and for values float cannot hold
//   segment_merge.inl  the pairwise (binary-counter) merge of a run's 16-row segments
//   statistics.inl     moments of each channel (forward, and backward without saved statistics)
//   elementwise.inl    y = x * scale (+ shift) and dx = a * dy + b * (x - mean), on one engine
//   gradients.inl      sum(dy * x) and sum(dy) of each channel
//   units.inl          a whole unit in one call: the passes above in turn
// No load or store ever touches memory outside the block.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "kernels/kernel_table.hpp"
#include "kernels/vector_ops.hpp"

namespace varnorm::detail::VARNORM_KERNEL_NAMESPACE {
namespace {

// In this order: each part uses the ones before it.
// clang-format off
#include "kernels/geometry.inl"
#include "kernels/walk.inl"
#include "kernels/exact.inl"
#include "kernels/segment_merge.inl"
#include "kernels/statistics.inl"
#include "kernels/elementwise.inl"
#include "kernels/gradients.inl"
#include "kernels/units.inl"
// clang-format on

constexpr kernel_table kTable = {largest_row_sharing_plane(),
                                 block_moments,
                                 finish_statistics,
                                 output_coefficients,
                                 divide_by,
                                 block_scale,
                                 unit_forward,
                                 block_grad_sums,
                                 block_grad_apply,
                                 unit_backward,
                                 ops::stream_fence};

}  // namespace

const kernel_table& kernel_set() noexcept { return kTable; }

}  // namespace varnorm::detail::VARNORM_KERNEL_NAMESPACE
