// From the moments of a plane or group to what the layer outputs. The same rule serves forward and backward.
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/types.hpp"
#include "kernels/kernel_table.hpp"
#include "plan/work_plan.hpp"

namespace varnorm::detail {

// The divisor of a group's M2: its values less the correction.
inline double variance_divisor(const problem& p) noexcept {
  return static_cast<double>(p.channels_per_group * p.m - p.correction);
}

// The statistics of `count` groups from their moments: var = M2 / (M - correction), rstd = 1 / sqrt(var + eps),
// in double with exact sqrt and divide (the kernel set's finish_statistics, a vector of groups at a time), rounded
// once. A group holding NaN or Inf has non-finite moments and gets NaN mean and rstd, so that every output of that
// group is NaN (as in PyTorch) and nothing leaks into other groups.
inline void finalize_statistics(const kernel_table& k, const problem& p, const moments* m, int count,
                                finished_statistics& out) noexcept {
  k.finish_statistics(m, count, variance_divisor(p), static_cast<double>(p.eps), out);
}

// Calls fn(g, begin, end) for each run [begin, end) of block tb's channels that lie in one group g (counted from
// group first_group), in channel order; without a division per channel (a visible share of a small plane's time).
template <class F>
void for_each_group_run(const problem& p, const tile_block& tb, std::int64_t first_group, F&& fn) noexcept {
  const std::int64_t per_group = p.channels_per_group;
  int g = static_cast<int>(tb.first_channel / per_group - first_group);
  std::int64_t end = per_group - tb.first_channel % per_group;  // of the first run, which may start mid-group
  for (int begin = 0; begin < tb.shape.channels; ++g) {
    const int stop = static_cast<int>(std::min<std::int64_t>(end, tb.shape.channels));
    fn(g, begin, stop);
    begin = stop;
    end = stop + per_group;
  }
}

// Calls fn(ch, g) for channels ch of block tb, g being the channel's group as above; with a group per channel as a
// plain loop the compiler can vectorize.
template <class F>
void for_each_channel_group(const problem& p, const tile_block& tb, std::int64_t first_group, F&& fn) noexcept {
  if (p.channels_per_group == 1) {
    const int first = static_cast<int>(tb.first_channel - first_group);
    for (int ch = 0; ch < tb.shape.channels; ++ch) fn(ch, first + ch);
    return;
  }
  for_each_group_run(p, tb, first_group, [&](int g, int begin, int end) {
    for (int ch = begin; ch < end; ++ch) fn(ch, g);
  });
}

// Adds tile block tb's per-channel moments m to the group moments `total` of its unit (whose first group is
// first_group), in channel order.
inline void add_tile_moments(const problem& p, const tile_block& tb, std::int64_t first_group, const moments* m,
                             moments* total) noexcept {
  for_each_channel_group(p, tb, first_group, [&](int ch, int g) { total[g] = merge_moments(total[g], m[ch]); });
}

// The moments of unit u's statistics groups: with group_planes, measure(block, total) over group_planes_block;
// else from its tiles' per-channel moments (tile_moments(t, tile_at(w, p, u, t))), folded in tile order
// (add_tile_moments), the same order for every schedule.
template <class TileMoments, class Measure>
void unit_group_moments(const work_plan& w, const problem& p, std::int64_t u, TileMoments&& tile_moments,
                        Measure&& measure, moments* total) noexcept {
  if (w.group_planes) {
    measure(group_planes_block(w, p, u), total);
    return;
  }
  const unit_groups groups = groups_of(w, p, u);
  for (int g = 0; g < groups.count; ++g) total[g] = moments{};
  for (std::int64_t t = 0; t < w.unit_tiles(); ++t) {
    const tile_block tb = tile_at(w, p, u, t);
    add_tile_moments(p, tb, groups.first, tile_moments(t, tb), total);
  }
}

}  // namespace varnorm::detail
