#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>

#include "dispatch/isa_dispatch.hpp"
#include "exec/execute.hpp"
#include "exec/statistics.hpp"
#include "plan/work_plan.hpp"
#include "threading/parallel.hpp"

namespace varnorm::detail {
namespace {

struct backward_call {
  const problem& p;
  const backward_buffers& b;
  const work_plan& w;
  const kernel_table& k;
};

// What a unit contributes to dalpha and dbeta: S * rstd and sum(dy) per channel, with S = sum(dy * x).
struct unit_terms {
  double dalpha[kMaxGroupChannels];
  double dbeta[kMaxGroupChannels];
};

// Per-tile sums of one unit, merged in tile order. Only the unit's channels are set: zeroing all of both arrays
// would cost a small plane's unit a visible share of its time.
struct unit_sums {
  double dyx[kMaxGroupChannels];
  double dy[kMaxGroupChannels];
  explicit unit_sums(int channels) noexcept {
    for (int ch = 0; ch < channels; ++ch) dyx[ch] = dy[ch] = 0.0;
  }
};

void tile_sums(const backward_call& f, std::int64_t u, std::int64_t t, double* dyx, double* dy) noexcept {
  const tile_block tb = tile_at(f.w, f.p, u, t);
  f.k.block_grad_sums(f.b.x + tb.offset, f.b.dy + tb.offset, tb.shape, dyx, dy);
}

// The statistics backward uses: the saved ones, or recomputed and rounded exactly as forward saves them,
// so that both give the same bits.
void unit_statistics(const backward_call& f, std::int64_t u, const tile_block& first, float* mean,
                     float* rstd) noexcept {
  const std::int64_t sample = unit_at(f.w, u).sample;
  if (f.b.mean != nullptr) {
    for (int ch = 0; ch < first.shape.channels; ++ch) {
      const std::int64_t stat = sample * f.p.c + first.first_channel + ch;
      mean[ch] = f.b.mean[stat];
      rstd[ch] = f.b.rstd[stat];
    }
    return;
  }
  moments total[kMaxGroupChannels], tile[kMaxGroupChannels];
  for (int ch = 0; ch < first.shape.channels; ++ch) total[ch] = moments{};
  for (std::int64_t t = 0; t < f.w.tiles; ++t) {
    const tile_block tb = tile_at(f.w, f.p, u, t);
    f.k.block_moments(f.b.x + tb.offset, tb.shape, f.w.algorithm, tile);
    for (int ch = 0; ch < tb.shape.channels; ++ch) total[ch] = merge_moments(total[ch], tile[ch]);
  }
  for (int ch = 0; ch < first.shape.channels; ++ch) {
    const plane_statistics s = finalize_statistics(total[ch], f.p);
    mean[ch] = s.mean;
    rstd[ch] = s.rstd;
  }
}

// dx = alpha*rstd*dy - alpha*rstd^3*(x - mean)*S/(M - correction) for unit u, given its sums; returns the
// unit's dalpha / dbeta terms. The coefficients of every tile come from here.
struct unit_coefficients {
  float a[kMaxGroupChannels], b[kMaxGroupChannels], mean[kMaxGroupChannels];
};

unit_terms unit_gradients(const backward_call& f, std::int64_t u, const unit_sums& sums,
                          unit_coefficients* coefficients) noexcept {
  const tile_block first = tile_at(f.w, f.p, u, 0);
  const std::int64_t sample = unit_at(f.w, u).sample;
  float mean[kMaxGroupChannels], rstd[kMaxGroupChannels];
  unit_statistics(f, u, first, mean, rstd);
  const double dof = static_cast<double>(f.p.m - f.p.correction);
  unit_terms terms;
  for (int ch = 0; ch < first.shape.channels; ++ch) {
    const double alpha = static_cast<double>(f.b.alpha[f.p.affine_index(sample, first.first_channel + ch)]);
    const double r = static_cast<double>(rstd[ch]);
    coefficients->a[ch] = static_cast<float>(alpha * r);
    coefficients->b[ch] = static_cast<float>(-alpha * r * r * r * sums.dyx[ch] / dof);
    coefficients->mean[ch] = mean[ch];
    terms.dalpha[ch] = sums.dyx[ch] * r;
    terms.dbeta[ch] = sums.dy[ch];
  }
  return terms;
}

void apply_tile(const backward_call& f, std::int64_t u, std::int64_t t, const unit_coefficients& c) noexcept {
  const tile_block tb = tile_at(f.w, f.p, u, t);
  f.k.block_grad_apply(f.b.x + tb.offset, f.b.dy + tb.offset, f.b.dx + tb.offset, tb.shape, c.a, c.b, c.mean,
                       f.w.stream_output);
}

// Channels of unit u (every tile of a unit has the same).
int unit_channels(const backward_call& f, std::int64_t u) noexcept { return tile_at(f.w, f.p, u, 0).shape.channels; }

unit_terms run_unit(const backward_call& f, std::int64_t u) noexcept {
  const int channels = unit_channels(f, u);
  unit_sums sums(channels);
  double dyx[kMaxGroupChannels], dy[kMaxGroupChannels];
  for (std::int64_t t = 0; t < f.w.tiles; ++t) {
    tile_sums(f, u, t, dyx, dy);
    for (int ch = 0; ch < channels; ++ch) {
      sums.dyx[ch] += dyx[ch];
      sums.dy[ch] += dy[ch];
    }
  }
  unit_coefficients c;
  const unit_terms terms = unit_gradients(f, u, sums, &c);
  if (f.b.dx != nullptr)
    for (std::int64_t t = 0; t < f.w.tiles; ++t) apply_tile(f, u, t, c);
  return terms;
}

// dalpha / dbeta of a block of consecutive keys covering at most kMaxGroupChannels channels: per (sample,
// channel) with per-sample affine, else summed over the batch in sample order, in double, and rounded once.
// Each key's units must be added in sample order; keys may interleave.
class block_gradients {
 public:
  // Keys per block: all of a key's channels, and as many whole keys as fit.
  static std::int64_t keys_per_block(const work_plan& w) noexcept { return kMaxGroupChannels / w.group_channels; }

  block_gradients(const backward_call& f, std::int64_t first_key, std::int64_t keys) noexcept
      : f_(f),
        first_channel_(first_key * f.w.group_channels),
        channels_(std::min<std::int64_t>(keys * f.w.group_channels, f.p.c - first_channel_)) {}

  void add(std::int64_t key, std::int64_t sample, const unit_terms& t) noexcept {
    const std::int64_t first = key * f_.w.group_channels;
    const int channels = static_cast<int>(std::min<std::int64_t>(f_.w.group_channels, f_.p.c - first));
    for (int ch = 0; ch < channels; ++ch) {
      const std::int64_t channel = first + ch;
      if (f_.p.per_sample_affine) {
        const std::int64_t i = f_.p.affine_index(sample, channel);
        if (f_.b.dalpha != nullptr) f_.b.dalpha[i] = static_cast<float>(t.dalpha[ch]);
        if (f_.b.dbeta != nullptr) f_.b.dbeta[i] = static_cast<float>(t.dbeta[ch]);
      } else {
        dalpha_[channel - first_channel_] += t.dalpha[ch];
        dbeta_[channel - first_channel_] += t.dbeta[ch];
      }
    }
  }

  void write() const noexcept {
    if (f_.p.per_sample_affine) return;
    for (std::int64_t ch = 0; ch < channels_; ++ch) {
      if (f_.b.dalpha != nullptr) f_.b.dalpha[first_channel_ + ch] = static_cast<float>(dalpha_[ch]);
      if (f_.b.dbeta != nullptr) f_.b.dbeta[first_channel_ + ch] = static_cast<float>(dbeta_[ch]);
    }
  }

 private:
  const backward_call& f_;
  std::int64_t first_channel_;
  std::int64_t channels_;
  double dalpha_[kMaxGroupChannels] = {};
  double dbeta_[kMaxGroupChannels] = {};
};

// dalpha / dbeta block by block: add_terms(g, first_key, end_key) adds the terms of keys [first_key, end_key) to
// g, each key's in sample order; then g writes them.
template <class AddTerms>
void reduce_key_blocks(const backward_call& f, AddTerms&& add_terms) noexcept {
  const std::int64_t block = block_gradients::keys_per_block(f.w);
  for (std::int64_t first = 0; first < f.w.keys; first += block) {
    const std::int64_t end = std::min(first + block, f.w.keys);
    block_gradients g(f, first, end - first);
    add_terms(g, first, end);
    g.write();
  }
}

bool run_parallel(const backward_call& f, const schedule& s, int max_threads) noexcept {
  const std::int64_t units = f.w.units(), tiles = f.w.tiles, width = f.w.group_channels;
  std::unique_ptr<unit_terms[]> terms(new (std::nothrow) unit_terms[static_cast<std::size_t>(units)]);
  if (!terms) return false;
  if (!s.split_tiles) {
    // Units in memory order (terms are summed per key afterwards, in sample order).
    auto body = [&](std::int64_t begin, std::int64_t end) noexcept {
      for (std::int64_t i = begin; i < end; ++i) {
        const std::int64_t u = unit_in_memory_order(f.w, i);
        terms[u] = run_unit(f, u);
      }
    };
    parallel_for(units, 1, max_threads, body);
  } else {
    const std::size_t cells = static_cast<std::size_t>(units * tiles * width);
    std::unique_ptr<double[]> dyx(new (std::nothrow) double[cells]), dy(new (std::nothrow) double[cells]);
    std::unique_ptr<unit_coefficients[]> coefficients(new (std::nothrow)
                                                          unit_coefficients[static_cast<std::size_t>(units)]);
    if (!dyx || !dy || !coefficients) return false;
    auto sums_body = [&](std::int64_t begin, std::int64_t end) noexcept {
      for (std::int64_t i = begin; i < end; ++i) {
        const unit_tile task = split_task_at(f.w, f.p, i);
        const std::int64_t cell = (task.unit * tiles + task.tile) * width;
        tile_sums(f, task.unit, task.tile, &dyx[cell], &dy[cell]);
      }
    };
    parallel_for(units * tiles, 1, max_threads, sums_body);
    // Merged in tile order, as run_unit does.
    for (std::int64_t u = 0; u < units; ++u) {
      const int channels = unit_channels(f, u);
      unit_sums sums(channels);
      for (std::int64_t t = 0; t < tiles; ++t) {
        for (int ch = 0; ch < channels; ++ch) {
          sums.dyx[ch] += dyx[(u * tiles + t) * width + ch];
          sums.dy[ch] += dy[(u * tiles + t) * width + ch];
        }
      }
      terms[u] = unit_gradients(f, u, sums, &coefficients[u]);
    }
    if (f.b.dx != nullptr) {
      auto apply_body = [&](std::int64_t begin, std::int64_t end) noexcept {
        for (std::int64_t i = begin; i < end; ++i) {
          const unit_tile task = split_task_at(f.w, f.p, i);
          apply_tile(f, task.unit, task.tile, coefficients[task.unit]);
        }
      };
      parallel_for(units * tiles, 1, max_threads, apply_body);
    }
  }
  reduce_key_blocks(f, [&](block_gradients& g, std::int64_t first, std::int64_t end) {
    for (std::int64_t key = first; key < end; ++key)
      for (std::int64_t sample = 0; sample < f.w.samples; ++sample)
        g.add(key, sample, terms[key * f.w.samples + sample]);
  });
  return true;
}

}  // namespace

varnorm_status execute_backward(const problem& p, const backward_buffers& b) noexcept {
  const std::int64_t affine = p.affine_size();
  if (p.planes() == 0) {
    if (b.dalpha != nullptr && affine > 0) std::memset(b.dalpha, 0, static_cast<std::size_t>(affine) * sizeof(float));
    if (b.dbeta != nullptr && affine > 0) std::memset(b.dbeta, 0, static_cast<std::size_t>(affine) * sizeof(float));
    return VARNORM_OK;
  }
  const kernel_table& kernels = active_kernels();
  const work_plan w = make_work_plan(p, direction::backward, kernels);
  const backward_call f{p, b, w, kernels};
  const schedule s = choose_schedule(w, p);
  if (s.threads > 1 && run_parallel(f, s, p.max_threads)) return VARNORM_OK;
  // Serial: blocks of keys, each walked sample by sample, so that consecutive units of an NCHW block are adjacent
  // planes in memory (hardware prefetchers follow them); every key still gets its terms in sample order, and
  // they are summed as they come, so no buffer is needed.
  reduce_key_blocks(f, [&](block_gradients& g, std::int64_t first, std::int64_t end) {
    for (std::int64_t sample = 0; sample < w.samples; ++sample)
      for (std::int64_t key = first; key < end; ++key) g.add(key, sample, run_unit(f, key * w.samples + sample));
  });
  return VARNORM_OK;
}

}  // namespace varnorm::detail
