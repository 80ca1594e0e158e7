#include "plan/work_plan.hpp"

#include <algorithm>

#include "threading/parallel.hpp"

namespace varnorm::detail {
namespace {

// Channels per key, at most `most`, aligned with statistics groups of `per_group` channels: whole groups when
// one fits, else the largest divisor of a group.
std::int64_t aligned_key_channels(std::int64_t most, std::int64_t per_group) noexcept {
  if (per_group <= most) return most / per_group * per_group;
  for (std::int64_t width = most; width > 1; --width)
    if (per_group % width == 0) return width;
  return 1;
}

}  // namespace

work_plan make_work_plan(const problem& p, direction d, const kernel_table& kernels) noexcept {
  work_plan w;
  w.samples = p.n;
  const std::int64_t inputs = d == direction::forward ? 1 : 2;  // x; or x and dy
  if (p.layout == VARNORM_LAYOUT_NCHW) {
    const bool small = p.m > 0 && p.m <= kernels.row_sharing_plane_positions;
    const std::int64_t planes = small ? std::max<std::int64_t>(1, kGroupElements / (inputs * p.m)) : 1;
    w.group_channels = static_cast<int>(
        aligned_key_channels(std::min({p.c, planes, std::int64_t{kPlanesPerGroup}}), p.channels_per_group));
  } else {
    w.group_channels =
        static_cast<int>(aligned_key_channels(std::min<std::int64_t>(p.c, kMaxGroupChannels), p.channels_per_group));
  }
  w.keys = w.group_channels > 0 ? (p.c + w.group_channels - 1) / w.group_channels : 0;
  w.keys_per_span = std::max<std::int64_t>(1, p.channels_per_group / std::max(w.group_channels, 1));
  w.tile_positions = std::max<std::int64_t>(1, kTileElements / std::max(w.group_channels, 1));
  w.tiles = p.m > 0 ? (p.m + w.tile_positions - 1) / w.tile_positions : 0;
  w.group_planes =
      p.layout == VARNORM_LAYOUT_NCHW && p.channels_per_group > 1 && p.channels_per_group * p.m <= kTileElements;
  w.paired_units = p.layout == VARNORM_LAYOUT_NHWC && !w.group_planes && w.unit_tiles() > 1 &&
                   (d == direction::forward || (w.keys_per_span == 1 && 2 * w.group_channels > kMaxGroupChannels));
  const std::int64_t walked_units = w.walks_pairs() ? 2 : 1;
  w.walk_bytes =
      walked_units * w.keys_per_span * w.group_channels * p.m * static_cast<std::int64_t>(sizeof(input_element));
  w.inputs = inputs;
  w.interleaved_pair_output = d == direction::forward && w.walks_pairs() && 2 * w.group_channels < p.c &&
                              w.walk_bytes <= kInterleavedPairMaxBytes;
  // NCHW: a group's planes lie back to back, so a group of keys of one tile each is one block of planes.
  const bool group_of_keys = p.layout == VARNORM_LAYOUT_NCHW && w.tiles == 1 && w.keys_per_span > 1 &&
                             p.channels_per_group <= kMaxGroupChannels;
  w.one_call_units =
      d == direction::forward ? w.unit_tiles() == 1 && p.channels_per_group == 1 : w.unit_tiles() == 1 || group_of_keys;
  w.reversed_output =
      w.unit_tiles() > 1 && w.walk_bytes >= kReversedOutputMinBytes && w.walk_bytes <= kReversedOutputMaxBytes;
  // AUTO: shifted sums, the fewest vector operations per value (three, against five for Welford and for the
  // two-pass), and the fastest or level on every kernel set (bench/README.md, "Statistics algorithms").
  w.algorithm = p.algorithm == VARNORM_ALGORITHM_AUTO ? VARNORM_ALGORITHM_SHIFTED_SUMS : p.algorithm;
  return w;
}

std::int64_t unit_task_count(const work_plan& w) noexcept {
  return w.paired_units ? w.samples * ((w.spans() + 1) / 2) : w.units();
}

unit_range unit_task_range(const work_plan& w, std::int64_t first_task, std::int64_t end_task) noexcept {
  if (!w.paired_units) return {first_task, end_task};
  const std::int64_t spans = w.spans(), per_sample = (spans + 1) / 2;
  // The first unit of task t: its sample's first unit, then two per task before it in that sample.
  auto first_unit = [&](std::int64_t t) { return t / per_sample * spans + t % per_sample * 2; };
  const std::int64_t last = end_task - 1;
  return {first_unit(first_task), std::min(first_unit(last) + 2, (last / per_sample + 1) * spans)};
}

unit_groups groups_of(const work_plan& w, const problem& p, std::int64_t u) noexcept {
  const std::int64_t first_channel = unit_at(w, u).span * w.keys_per_span * w.group_channels;
  const std::int64_t channels = std::min<std::int64_t>(w.keys_per_span * w.group_channels, p.c - first_channel);
  // Without dividing where a group is a channel: two divisions were a visible share of a small unit's backward.
  if (p.channels_per_group == 1) return {first_channel, static_cast<int>(channels)};
  return {first_channel / p.channels_per_group, static_cast<int>(channels / p.channels_per_group)};
}

tile_block tile_at(const work_plan& w, const problem& p, std::int64_t u, std::int64_t t) noexcept {
  const unit_index i = unit_at(w, u);
  const std::int64_t first = (t % w.tiles) * w.tile_positions;
  tile_block b;
  b.key = i.span * w.keys_per_span + t / w.tiles;
  b.shape.positions = std::min(w.tile_positions, p.m - first);
  b.first_channel = b.key * w.group_channels;
  b.shape.channels = key_channels(w, p, b.key);
  if (p.layout == VARNORM_LAYOUT_NCHW) {
    b.offset = (i.sample * p.c + b.first_channel) * p.m + first;
    b.shape.stride = 1;
    b.shape.plane_stride = b.shape.channels > 1 ? p.m : 0;
  } else {
    b.offset = (i.sample * p.m + first) * p.c + b.first_channel;
    b.shape.stride = p.c;
  }
  return b;
}

tile_block one_call_block(const work_plan& w, const problem& p, std::int64_t u) noexcept {
  tile_block b = tile_at(w, p, u, 0);
  if (w.keys_per_span > 1) {
    b.shape.channels = static_cast<int>(p.channels_per_group);  // at most kMaxGroupChannels
    b.shape.plane_stride = p.m;
  }
  return b;
}

tile_block group_planes_block(const work_plan& w, const problem& p, std::int64_t u) noexcept {
  const unit_groups groups = groups_of(w, p, u);
  const std::int64_t group_values = p.channels_per_group * p.m;
  tile_block b;
  b.key = unit_at(w, u).span * w.keys_per_span;
  b.first_channel = groups.first * p.channels_per_group;
  b.offset = unit_at(w, u).sample * p.c * p.m + b.first_channel * p.m;
  b.shape = block_shape{group_values, 1, groups.count, groups.count > 1 ? group_values : 0};
  return b;
}

unit_tile split_task_at(const work_plan& w, const problem& p, std::int64_t i) noexcept {
  const std::int64_t per_sample = w.keys * w.tiles;
  const std::int64_t sample = i / per_sample, rest = i % per_sample;
  const bool nchw = p.layout == VARNORM_LAYOUT_NCHW;
  const std::int64_t key = nchw ? rest / w.tiles : rest % w.keys;
  const std::int64_t tile = nchw ? rest % w.tiles : rest / w.keys;
  const std::int64_t span = key / w.keys_per_span;
  return {span * w.samples + sample, (key % w.keys_per_span) * w.tiles + tile};
}

schedule choose_schedule(const work_plan& w, const problem& p, bool (*pool_warm)() noexcept) noexcept {
  schedule s;
  // The bytes of all the call's arrays: inputs and output.
  const std::int64_t footprint = (w.inputs + 1) * p.elements() * static_cast<std::int64_t>(sizeof(float));
  s.stream_output = footprint >= kStreamFootprintBytes;
  if (p.max_threads == 1 || p.elements() < kParallelMinElements) return s;
  const int budget = thread_budget(p.max_threads);
  if (budget <= 1) return s;
  s.uses_pool = true;
  if (p.elements() < kColdPoolParallelMinElements && !pool_warm()) return s;
  s.threads = static_cast<int>(std::min<std::int64_t>(budget, p.elements() / kValuesPerThread));
  const std::int64_t threads = s.threads;
  s.stream_output = footprint >= kThreadsStreamFootprintBytes;
  // With fewer units than a few per thread, whole units would leave threads idle: spread tiles instead, unless
  // the units divide evenly and fit in L2 (kWholeUnitMaxBytes).
  const bool even_small_units = w.units() % threads == 0 && w.walk_bytes <= kWholeUnitMaxBytes;
  s.split_tiles = w.unit_tiles() > 1 && w.units() < kTasksPerThread * threads && !even_small_units;
  if (footprint <= threads * kFixedSharesBytesPerThread ||
      (s.split_tiles && w.walks_pairs() && footprint <= kFixedSharesMaxBytes))
    s.task_shares = shares::fixed;
  const std::int64_t task_bytes = std::max<std::int64_t>(1, w.inputs * w.walk_bytes);
  const std::int64_t balanced = unit_task_count(w) / (kTasksPerThread * threads);
  s.task_grain = std::max<std::int64_t>(1, std::min(kTaskBytes / task_bytes, balanced));
  return s;
}

}  // namespace varnorm::detail
