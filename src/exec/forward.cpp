#include <cmath>
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
};

// Per-channel output coefficients of one unit: y = x * scale (+ shift).
struct unit_coefficients {
  float scale[kMaxGroupChannels];
  float shift[kMaxGroupChannels];
  double scale_exact[kMaxGroupChannels];
  bool needs_exact;  // some alpha * rstd overflows float although it is finite
};

// Statistics of unit u from its tiles' moments (merged in tile order): writes mean / rstd and returns the
// output coefficients.
template <class TileMoments>
unit_coefficients finish_unit(const forward_call& f, std::int64_t u, TileMoments&& tile_moments) noexcept {
  const tile_block first = tile_at(f.w, f.p, u, 0);
  const int channels = first.shape.channels;
  moments total[kMaxGroupChannels];
  for (int ch = 0; ch < channels; ++ch) total[ch] = moments{};
  for (std::int64_t t = 0; t < f.w.tiles; ++t) {
    const moments* m = tile_moments(t);
    for (int ch = 0; ch < channels; ++ch) total[ch] = merge_moments(total[ch], m[ch]);
  }
  unit_coefficients c;
  c.needs_exact = false;
  const std::int64_t sample = unit_at(f.w, u).sample;
  for (int ch = 0; ch < channels; ++ch) {
    const std::int64_t channel = first.first_channel + ch;
    const plane_statistics s = finalize_statistics(total[ch], f.p);
    const std::int64_t stat = sample * f.p.c + channel;
    if (f.b.mean != nullptr) f.b.mean[stat] = s.mean;
    if (f.b.rstd != nullptr) f.b.rstd[stat] = s.rstd;
    const std::int64_t a = f.p.affine_index(sample, channel);
    c.scale_exact[ch] = static_cast<double>(f.b.alpha[a]) * s.rstd_exact;
    c.scale[ch] = static_cast<float>(c.scale_exact[ch]);
    c.shift[ch] = f.b.beta != nullptr ? f.b.beta[a] : 0.0f;
    if (std::isfinite(c.scale_exact[ch]) && !std::isfinite(c.scale[ch])) c.needs_exact = true;
  }
  return c;
}

// y for one tile. A scale beyond float range (eps = 0 and a variance near 1e-77) takes the double path, so
// that y is the correctly rounded product rather than x * inf.
void scale_tile(const forward_call& f, std::int64_t u, std::int64_t t, const unit_coefficients& c) noexcept {
  const tile_block tb = tile_at(f.w, f.p, u, t);
  const float* x = f.b.x + tb.offset;
  float* y = f.b.y + tb.offset;
  if (!c.needs_exact) {
    f.k.block_scale(x, y, tb.shape, c.scale, f.b.beta != nullptr ? c.shift : nullptr, f.w.stream_output);
    return;
  }
  for (std::int64_t pos = 0; pos < tb.shape.positions; ++pos) {
    for (int ch = 0; ch < tb.shape.channels; ++ch) {
      const std::int64_t i = pos * tb.shape.stride + ch;
      y[i] = static_cast<float>(static_cast<double>(x[i]) * c.scale_exact[ch] + static_cast<double>(c.shift[ch]));
    }
  }
}

void tile_moments(const forward_call& f, std::int64_t u, std::int64_t t, moments* out) noexcept {
  const tile_block tb = tile_at(f.w, f.p, u, t);
  f.k.block_moments(f.b.x + tb.offset, tb.shape, f.w.algorithm, out);
}

// A whole unit on one thread: no allocation, everything on the stack.
void run_unit(const forward_call& f, std::int64_t u) noexcept {
  moments scratch[kMaxGroupChannels];
  const unit_coefficients c = finish_unit(f, u, [&](std::int64_t t) {
    tile_moments(f, u, t, scratch);
    return scratch;
  });
  for (std::int64_t t = 0; t < f.w.tiles; ++t) scale_tile(f, u, t, c);
}

// Few, large units: tiles of all units in parallel, statistics merged per unit in tile order.
bool run_split_tiles(const forward_call& f, int max_threads) noexcept {
  const std::int64_t units = f.w.units(), tiles = f.w.tiles, width = f.w.group_channels;
  std::unique_ptr<moments[]> stats(new (std::nothrow) moments[static_cast<std::size_t>(units * tiles * width)]);
  std::unique_ptr<unit_coefficients[]> coefficients(new (std::nothrow)
                                                        unit_coefficients[static_cast<std::size_t>(units)]);
  if (!stats || !coefficients) return false;
  auto measure = [&](std::int64_t begin, std::int64_t end) noexcept {
    for (std::int64_t i = begin; i < end; ++i) {
      const unit_tile task = split_task_at(f.w, f.p, i);
      tile_moments(f, task.unit, task.tile, &stats[(task.unit * tiles + task.tile) * width]);
    }
  };
  parallel_for(units * tiles, 1, max_threads, measure);
  for (std::int64_t u = 0; u < units; ++u)
    coefficients[u] = finish_unit(f, u, [&](std::int64_t t) { return &stats[(u * tiles + t) * width]; });
  auto scale = [&](std::int64_t begin, std::int64_t end) noexcept {
    for (std::int64_t i = begin; i < end; ++i) {
      const unit_tile task = split_task_at(f.w, f.p, i);
      scale_tile(f, task.unit, task.tile, coefficients[task.unit]);
    }
  };
  parallel_for(units * tiles, 1, max_threads, scale);
  return true;
}

}  // namespace

varnorm_status execute_forward(const problem& p, const forward_buffers& b) noexcept {
  if (p.planes() == 0) return VARNORM_OK;
  const kernel_table& kernels = active_kernels();
  const work_plan w = make_work_plan(p, direction::forward, kernels);
  const forward_call f{p, b, w, kernels};
  const schedule s = choose_schedule(w, p);
  if (s.threads > 1 && s.split_tiles && run_split_tiles(f, p.max_threads)) return VARNORM_OK;
  auto units = [&](std::int64_t begin, std::int64_t end) noexcept {
    for (std::int64_t i = begin; i < end; ++i) run_unit(f, unit_in_memory_order(w, i));
  };
  if (s.threads > 1)
    parallel_for(w.units(), 1, p.max_threads, units);
  else
    units(0, w.units());
  return VARNORM_OK;
}

}  // namespace varnorm::detail
