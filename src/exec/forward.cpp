#include <algorithm>
#include <cstdint>
#include <memory>
#include <new>

#include "dispatch/isa_dispatch.hpp"
#include "exec/execute.hpp"
#include "exec/statistics.hpp"
#include "plan/work_plan.hpp"
#include "threading/parallel.hpp"

namespace varnorm::detail {
namespace {

struct forward_call {
  const problem& p;
  const forward_buffers& b;
  const work_plan& w;
  const kernel_table& k;
  bool stream_output;  // the schedule's
};

void block_moments(const forward_call& f, const tile_block& tb, moments* out) noexcept {
  f.k.block_moments(f.b.x + tb.offset, tb.shape, f.w.algorithm, out);
}

// The statistics of one unit's groups, as its output needs them.
struct unit_statistics {
  std::int64_t first_group;
  finished_statistics groups;
};

// Writes the reported mean and rstd of groups [first, first + count) of sample `sample`.
void save_statistics(const forward_call& f, std::int64_t sample, std::int64_t first, int count,
                     const finished_statistics& groups) noexcept {
  const std::int64_t first_stat = f.p.statistic_index(sample, first);
  if (f.b.mean != nullptr) std::copy_n(groups.mean, count, f.b.mean + first_stat);
  if (f.b.rstd != nullptr) std::copy_n(groups.rstd, count, f.b.rstd + first_stat);
}

// Statistics of unit u from its groups' moments: writes mean / rstd and returns them for the output.
unit_statistics statistics_of(const forward_call& f, std::int64_t u, const moments* total) noexcept {
  const unit_groups groups = groups_of(f.w, f.p, u);
  unit_statistics s;
  s.first_group = groups.first;
  finalize_statistics(f.k, f.p, total, groups.count, s.groups);
  save_statistics(f, unit_at(f.w, u).sample, groups.first, groups.count, s.groups);
  return s;
}

// Statistics of unit u from its tiles' moments (tile_moments(t, tile block)).
template <class TileMoments>
unit_statistics finish_unit(const forward_call& f, std::int64_t u, TileMoments&& tile_moments) noexcept {
  moments total[kMaxGroupChannels];
  unit_group_moments(
      f.w, f.p, u, tile_moments, [&](const tile_block& tb, moments* out) { block_moments(f, tb, out); }, total);
  return statistics_of(f, u, total);
}

// Centring subtracts the float nearest the mean, exactly for values near it, and folds the rest of the mean into
// the shift: y = (x - center) * scale + (beta - scale * (mean - center)) (the kernel set's output_coefficients).
block_coefficients coefficients_of(const forward_call& f, std::int64_t sample, const tile_block& tb,
                                   const unit_statistics& s) noexcept {
  block_coefficients c;
  const std::int64_t affine = f.p.affine_index(sample, tb.first_channel);
  const float* beta = f.b.beta != nullptr ? f.b.beta + affine : nullptr;
  const finished_statistics& groups = s.groups;
  if (f.p.channels_per_group == 1) {
    const std::int64_t g = tb.first_channel - s.first_group;
    f.k.output_coefficients(f.b.alpha + affine, beta, groups.rstd_exact + g,
                            f.p.center ? groups.mean_exact + g : nullptr, tb.shape.channels, c);
    return c;
  }
  double rstd[kMaxGroupChannels], mean[kMaxGroupChannels];
  for_each_channel_group(f.p, tb, s.first_group, [&](int ch, int g) {
    rstd[ch] = groups.rstd_exact[g];
    mean[ch] = groups.mean_exact[g];
  });
  f.k.output_coefficients(f.b.alpha + affine, beta, rstd, f.p.center ? mean : nullptr, tb.shape.channels, c);
  return c;
}

// y over block tb. A scale beyond float range (eps = 0 and a variance near 1e-77) takes the double path, so
// that y is the correctly rounded product rather than x * inf.
void scale_block(const forward_call& f, const tile_block& tb, const block_coefficients& c) noexcept {
  const float* x = f.b.x + tb.offset;
  float* y = f.b.y + tb.offset;
  if (!c.needs_exact) {
    f.k.block_scale(x, y, tb.shape, c, f.stream_output);
    return;
  }
  for (std::int64_t pos = 0; pos < tb.shape.positions; ++pos) {
    for (int ch = 0; ch < tb.shape.channels; ++ch) {
      const std::int64_t i = tb.shape.element(pos, ch);
      const double centered = static_cast<double>(x[i]) - (c.centered ? static_cast<double>(c.center[ch]) : 0.0);
      y[i] = static_cast<float>(centered * c.scale_exact[ch] + static_cast<double>(c.shift[ch]));
    }
  }
}

// y for one tile.
void scale_tile(const forward_call& f, std::int64_t u, std::int64_t t, const unit_statistics& s) noexcept {
  const tile_block tb = tile_at(f.w, f.p, u, t);
  scale_block(f, tb, coefficients_of(f, unit_at(f.w, u).sample, tb, s));
}

// A unit of one block whose channels are their own statistics groups (work_plan::one_call_units), in one call of
// the kernel set; a scale beyond float range then takes scale_block's exact path.
void run_one_call_unit(const forward_call& f, std::int64_t u) noexcept {
  const tile_block tb = tile_at(f.w, f.p, u, 0);
  const std::int64_t sample = unit_at(f.w, u).sample;
  const std::int64_t affine = f.p.affine_index(sample, tb.first_channel);
  const unit_forward_args args{f.w.algorithm,
                               variance_divisor(f.p),
                               static_cast<double>(f.p.eps),
                               f.b.alpha + affine,
                               f.b.beta != nullptr ? f.b.beta + affine : nullptr,
                               f.p.center,
                               f.stream_output};
  finished_statistics groups;
  block_coefficients c;
  f.k.unit_forward(f.b.x + tb.offset, f.b.y + tb.offset, tb.shape, args, groups, c);
  save_statistics(f, sample, tb.first_channel, tb.shape.channels, groups);  // a group per channel
  if (c.needs_exact) scale_block(f, tb, c);
}

// A whole unit on one thread: no allocation, everything on the stack.
void run_unit(const forward_call& f, std::int64_t u) noexcept {
  if (f.w.one_call_units) {
    run_one_call_unit(f, u);
    return;
  }
  moments scratch[kMaxGroupChannels];
  const unit_statistics s = finish_unit(f, u, [&](std::int64_t, const tile_block& tb) {
    block_moments(f, tb, scratch);
    return scratch;
  });
  for (std::int64_t i = 0; i < f.w.unit_tiles(); ++i) scale_tile(f, u, f.w.output_tile(i), s);
}

// Two NHWC units of one sample on one thread, tile by tile: their channel groups lie side by side in every row,
// so the second finds the rows the first brought into cache, where one after the other each would stream the
// whole tensor from memory (twice). Each unit gets run_unit's arithmetic in run_unit's order: the same bits.
void run_unit_pair(const forward_call& f, std::int64_t first, std::int64_t second) noexcept {
  const std::int64_t units[2] = {first, second};
  const unit_groups groups[2] = {groups_of(f.w, f.p, first), groups_of(f.w, f.p, second)};
  moments total[2][kMaxGroupChannels], scratch[kMaxGroupChannels];
  for (int i = 0; i < 2; ++i)
    for (int g = 0; g < groups[i].count; ++g) total[i][g] = moments{};
  for (std::int64_t t = 0; t < f.w.unit_tiles(); ++t) {
    for (int i = 0; i < 2; ++i) {
      const tile_block tb = tile_at(f.w, f.p, units[i], t);
      block_moments(f, tb, scratch);
      add_tile_moments(f.p, tb, groups[i].first, scratch, total[i]);
    }
  }
  const unit_statistics s[2] = {statistics_of(f, first, total[0]), statistics_of(f, second, total[1])};
  const std::int64_t sample = unit_at(f.w, first).sample;
  for (std::int64_t step = 0; step < f.w.unit_tiles(); ++step) {
    const std::int64_t t = f.w.output_tile(step);
    const tile_block tiles[2] = {tile_at(f.w, f.p, first, t), tile_at(f.w, f.p, second, t)};
    const block_coefficients c[2] = {coefficients_of(f, sample, tiles[0], s[0]),
                                     coefficients_of(f, sample, tiles[1], s[1])};
    // A whole tile of each unit in turn; a streamed one kPairedStreamPositions positions at a time.
    const std::int64_t positions = tiles[0].shape.positions;
    const std::int64_t turn = f.stream_output && f.w.interleaved_pair_output ? kPairedStreamPositions : positions;
    for (std::int64_t from = 0; from < positions; from += turn) {
      const std::int64_t count = std::min(turn, positions - from);
      for (int i = 0; i < 2; ++i) scale_block(f, positions_of(tiles[i], from, count), c[i]);
    }
  }
}

// Units [begin, end) in memory order; with paired_units, consecutive units of one sample two abreast.
void run_units(const forward_call& f, std::int64_t begin, std::int64_t end) noexcept {
  for (std::int64_t i = begin; i < end; ++i) {
    if (f.w.paired_units && next_in_sample(f.w, i, end)) {
      run_unit_pair(f, unit_in_memory_order(f.w, i), unit_in_memory_order(f.w, i + 1));
      ++i;
    } else {
      run_unit(f, unit_in_memory_order(f.w, i));
    }
  }
}

// Few, large units: tiles of all units in parallel, statistics merged per unit in tile order.
bool run_split_tiles(const forward_call& f, const schedule& s) noexcept {
  const thread_use use{f.p.max_threads, s.threads};
  const std::int64_t units = f.w.units(), tiles = f.w.unit_tiles(), width = f.w.group_channels;
  std::unique_ptr<moments[]> stats(new (std::nothrow) moments[static_cast<std::size_t>(units * tiles * width)]);
  std::unique_ptr<unit_statistics[]> statistics(new (std::nothrow) unit_statistics[static_cast<std::size_t>(units)]);
  if (!stats || !statistics) return false;
  auto measure = [&](std::int64_t begin, std::int64_t end) noexcept {
    for (std::int64_t i = begin; i < end; ++i) {
      const unit_tile task = split_task_at(f.w, f.p, i);
      block_moments(f, tile_at(f.w, f.p, task.unit, task.tile), &stats[slot((task.unit * tiles + task.tile) * width)]);
    }
  };
  if (!f.w.group_planes) parallel_for(units * tiles, 1, use, measure, s.task_shares);  // else in finish_unit
  for (std::int64_t u = 0; u < units; ++u)
    statistics[slot(u)] =
        finish_unit(f, u, [&](std::int64_t t, const tile_block&) { return &stats[slot((u * tiles + t) * width)]; });
  auto scale = [&](std::int64_t begin, std::int64_t end) noexcept {
    const streamed_output_fence fence(f.k, f.stream_output);
    for (std::int64_t i = begin; i < end; ++i) {
      const unit_tile task = split_task_at(f.w, f.p, i);
      scale_tile(f, task.unit, task.tile, statistics[slot(task.unit)]);
    }
  };
  parallel_for(units * tiles, 1, use, scale, s.task_shares);
  return true;
}

}  // namespace

varnorm_status execute_forward(const problem& p, const forward_buffers& b) noexcept {
  if (p.planes() == 0) return VARNORM_OK;
  const kernel_table& kernels = active_kernels();
  const work_plan w = make_work_plan(p, direction::forward, kernels);
  const schedule s = choose_schedule(w, p);
  const forward_call f{p, b, w, kernels, s.stream_output};
  const pool_call_scope pool_call(s.uses_pool);
  if (s.threads > 1 && s.split_tiles && run_split_tiles(f, s)) return VARNORM_OK;
  if (s.threads > 1) {
    const thread_use use{p.max_threads, s.threads};
    auto tasks = [&](std::int64_t first_task, std::int64_t end_task) noexcept {
      const streamed_output_fence fence(kernels, f.stream_output);
      const unit_range units = unit_task_range(w, first_task, end_task);
      run_units(f, units.begin, units.end);
    };
    parallel_for(unit_task_count(w), s.task_grain, use, tasks, s.task_shares);
  } else {
    const streamed_output_fence fence(kernels, f.stream_output);
    run_units(f, 0, w.units());
  }
  return VARNORM_OK;
}

}  // namespace varnorm::detail
