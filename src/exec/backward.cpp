#include <algorithm>
#include <cmath>
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
  bool stream_output;  // the schedule's
};

// What a key of one sample contributes to dalpha and dbeta, per channel: S * rstd and sum(dy), with S = sum(dy * x)
// (center 0) or sum(dy * (x - mean)) (center 1).
struct key_terms {
  double dalpha[kMaxGroupChannels];
  double dbeta[kMaxGroupChannels];
};

// The statistics backward uses, per group of a unit: the saved ones, or recomputed and rounded exactly as
// forward saves them, so that both give the same bits.
struct group_statistics {
  std::int64_t first_group;
  int count;
  float mean[kMaxGroupChannels];
  float rstd[kMaxGroupChannels];
  // Per group, so that a group's bits never depend on its neighbours'. Centred sums are taken around the float
  // mean (sum(dy * (x - mean))) where |mean| exceeds the deviation (|mean| * rstd > 1); below that,
  // sum(dy * x) - mean * sum(dy) in double loses at most a bit to cancellation (a shift of 0 keeps those sums'
  // bits in a block that shifts other groups).
  bool shifted[kMaxGroupChannels];
  bool any_shifted;
  // Where |mean| * rstd > 2^5: the exact mean (as forward's centring used it) minus the float mean, which is off
  // by up to half its last place, 2^-25 |mean|: the gradients would see it as a shift of x. It takes a sweep
  // over x to know, worth it only where the shift exceeds 2^-20 of the deviation.
  bool corrected[kMaxGroupChannels];
  bool any_corrected;
  double mean_error[kMaxGroupChannels];
};

// |mean| * rstd: the offset of a group's values in deviations.
double offset_of(float mean, float rstd) noexcept {
  return std::fabs(static_cast<double>(mean)) * static_cast<double>(rstd);
}

// Which groups of s take shifted sums and the mean's correction (a NaN mean or rstd takes both: its outputs are
// NaN anyway). Only centring shifts or corrects; without it the per-group flags are left unset and never read.
void classify_offsets(const problem& p, group_statistics& s) noexcept {
  s.any_shifted = s.any_corrected = false;
  if (!p.center) return;
  for (int g = 0; g < s.count; ++g) {
    const double offset = offset_of(s.mean[g], s.rstd[g]);
    s.shifted[g] = !(offset <= 1.0);
    s.corrected[g] = !(offset <= 0x1p5);
    s.any_shifted |= s.shifted[g];
    s.any_corrected |= s.corrected[g];
  }
}

// Written in place and never inlined: the recomputation's arrays then leave the stack before the sweeps of
// run_unit, and no copy of the statistics sits beside them.
__attribute__((noinline)) void unit_statistics(const backward_call& f, std::int64_t u, group_statistics& s) noexcept {
  const unit_groups groups = groups_of(f.w, f.p, u);
  const std::int64_t sample = unit_at(f.w, u).sample;
  s.first_group = groups.first;
  s.count = groups.count;
  if (f.b.mean != nullptr) {
    for (int g = 0; g < groups.count; ++g) {
      const std::int64_t stat = f.p.statistic_index(sample, groups.first + g);
      s.mean[g] = f.b.mean[stat];
      s.rstd[g] = f.b.rstd[stat];
    }
    classify_offsets(f.p, s);
    if (!s.any_corrected) return;
  }
  // Recomputed (or, with shifted sums, the exact means of saved statistics): the moments forward computes.
  moments total[kMaxGroupChannels], tile[kMaxGroupChannels];
  auto measure = [&](const tile_block& tb, moments* out) {
    f.k.block_moments(f.b.x + tb.offset, tb.shape, f.w.algorithm, out);
  };
  unit_group_moments(
      f.w, f.p, u,
      [&](std::int64_t, const tile_block& tb) {
        measure(tb, tile);
        return tile;
      },
      measure, total);
  finished_statistics finished;
  finalize_statistics(f.k, f.p, total, groups.count, finished);
  const bool saved = f.b.mean != nullptr;
  if (!saved) {
    std::copy_n(finished.mean, groups.count, s.mean);
    std::copy_n(finished.rstd, groups.count, s.rstd);
  }
  for (int g = 0; g < groups.count; ++g) s.mean_error[g] = finished.mean_exact[g] - static_cast<double>(s.mean[g]);
  if (!saved) classify_offsets(f.p, s);
}

// Sums of one tile: sum(dy * x), or sum(dy * (x - mean)) for shifted groups, and sum(dy).
void tile_sums(const backward_call& f, std::int64_t u, std::int64_t t, const group_statistics& s, double* dyx,
               double* dy) noexcept {
  const tile_block tb = tile_at(f.w, f.p, u, t);
  float shift[kMaxGroupChannels];
  if (s.any_shifted)
    for_each_channel_group(f.p, tb, s.first_group, [&](int ch, int g) { shift[ch] = s.shifted[g] ? s.mean[g] : 0.0f; });
  f.k.block_grad_sums(f.b.x + tb.offset, f.b.dy + tb.offset, s.any_shifted ? shift : nullptr, tb.shape, dyx, dy);
}

// With r = rstd, a = alpha, M the group's values, over the group's channels:
//   dx = a r dy + b (x - mean) + k,  b = -r^3 sum(a S) / (M - correction),  k = -r sum(a sum(dy)) / M (center 1)
// The sums are accumulated per group, key by key, as their sums come.
struct unit_gradients {
  group_statistics statistics;
  double b_sum[kMaxGroupChannels];  // sum of -a r^3 S
  double k_sum[kMaxGroupChannels];  // sum of -a r sum(dy)
  float b[kMaxGroupChannels];       // per group, once every key is added (finish)
  float k[kMaxGroupChannels];       // with centring only

  // Statistics of unit u, no sums yet.
  void start(const backward_call& f, std::int64_t u) noexcept {
    unit_statistics(f, u, statistics);
    // -0.0: adding the first term gives that term exactly, the sign of a zero included.
    for (int g = 0; g < statistics.count; ++g) b_sum[g] = k_sum[g] = -0.0;
  }

  // Adds key tb's channel sums (over all its tiles) to the groups, and returns its dalpha / dbeta terms.
  key_terms add_key(const backward_call& f, std::int64_t sample, const tile_block& tb, const double* dyx,
                    const double* dy) noexcept {
    key_terms terms;
    const float* alphas = f.b.alpha + f.p.affine_index(sample, tb.first_channel);
    auto add = [&](int ch, int g, double centred, double& b_total, double& k_total) {
      const double alpha = static_cast<double>(alphas[ch]);
      const double r = static_cast<double>(statistics.rstd[g]);
      b_total += slope_term(alpha, r, centred);
      k_total += constant_term(alpha, r, dy[ch]);
      terms.dalpha[ch] = dalpha_term(centred, r);
      terms.dbeta[ch] = dy[ch];
    };
    if (!f.p.center) {  // nothing to centre: no group is shifted or corrected
      for_each_channel_group(f.p, tb, statistics.first_group,
                             [&](int ch, int g) { add(ch, g, dyx[ch], b_sum[g], k_sum[g]); });
      return terms;
    }
    // A group's totals stay in registers over its channels: added in memory, each waited for the last one's store.
    for_each_group_run(f.p, tb, statistics.first_group, [&](int g, int begin, int end) {
      double b_total = b_sum[g], k_total = k_sum[g];
      for (int ch = begin; ch < end; ++ch) {
        // sum(dy * x), or with center sum(dy * (x - exact mean)) = sum(dy * (x - mean)) - mean_error * sum(dy)
        double centred = dyx[ch];
        if (statistics.corrected[g])
          centred -= statistics.mean_error[g] * dy[ch];
        else if (!statistics.shifted[g])
          centred = centred_sum(centred, statistics.mean[g], dy[ch]);
        add(ch, g, centred, b_total, k_total);
      }
      b_sum[g] = b_total;
      k_sum[g] = k_total;
    });
    return terms;
  }

  void finish(const backward_call& f) noexcept {
    const problem& p = f.p;
    // The sums become b and k in double, in place, a vector of groups at a time: scalar divides one after the
    // other were a visible share of a small plane's backward.
    f.k.divide_by(b_sum, statistics.count, variance_divisor(p), b_sum);
    for (int g = 0; g < statistics.count; ++g) b[g] = static_cast<float>(b_sum[g]);
    if (!p.center) return;  // k is the centring's (and only a centred group is corrected)
    f.k.divide_by(k_sum, statistics.count, static_cast<double>(p.channels_per_group * p.m), k_sum);
    for (int g = 0; g < statistics.count; ++g) {
      const double slope = b_sum[g], constant = k_sum[g];
      // dx's b * (x - exact mean) is taken as b * (x - mean) - b * mean_error.
      k[g] = static_cast<float>(statistics.corrected[g] ? constant - slope * statistics.mean_error[g] : constant);
    }
  }
};

// The per-channel coefficients of block tb, and dx over it. With a group per channel, b, mean and k are the
// groups' own arrays.
void apply_tile(const backward_call& f, std::int64_t u, std::int64_t t, const unit_gradients& ug) noexcept {
  const tile_block tb = tile_at(f.w, f.p, u, t);
  const group_statistics& s = ug.statistics;
  const float* alpha = f.b.alpha + f.p.affine_index(unit_at(f.w, u).sample, tb.first_channel);
  float a[kMaxGroupChannels], b[kMaxGroupChannels], mean[kMaxGroupChannels], k[kMaxGroupChannels];
  for_each_channel_group(f.p, tb, s.first_group, [&](int ch, int g) { a[ch] = dy_scale(alpha[ch], s.rstd[g]); });
  const float *group_b = b, *group_mean = mean, *group_k = k;
  if (f.p.channels_per_group == 1) {
    const std::int64_t first = tb.first_channel - s.first_group;
    group_b = ug.b + first;
    group_mean = s.mean + first;
    group_k = ug.k + first;
  } else {
    for_each_channel_group(f.p, tb, s.first_group, [&](int ch, int g) {
      b[ch] = ug.b[g];
      mean[ch] = s.mean[g];
      k[ch] = f.p.center ? ug.k[g] : 0.0f;  // set by finish only with centring
    });
  }
  f.k.block_grad_apply(f.b.x + tb.offset, f.b.dy + tb.offset, f.b.dx + tb.offset, tb.shape, a, group_b, group_mean,
                       f.p.center ? group_k : nullptr, f.stream_output);
}

// Per-tile sums of one key, added in tile order. Only the key's channels are set: zeroing all of both arrays
// would cost a small plane's unit a visible share of its time.
struct key_sums {
  double dyx[kMaxGroupChannels];
  double dy[kMaxGroupChannels];
  explicit key_sums(int channels) noexcept {
    for (int ch = 0; ch < channels; ++ch) dyx[ch] = dy[ch] = 0.0;
  }
  void add(int channels, const double* tile_dyx, const double* tile_dy) noexcept {
    for (int ch = 0; ch < channels; ++ch) {
      dyx[ch] += tile_dyx[ch];
      dy[ch] += tile_dy[ch];
    }
  }
};

// Unit u's sums key by key (each key's terms go to emit(key, terms)). Never inlined, so that its arrays are off
// the stack while the statistics are recomputed.
template <class Emit>
__attribute__((noinline)) void sum_keys(const backward_call& f, std::int64_t u, unit_gradients& ug,
                                        Emit& emit) noexcept {
  const std::int64_t sample = unit_at(f.w, u).sample;
  double dyx[kMaxGroupChannels], dy[kMaxGroupChannels];
  for (std::int64_t first = 0; first < f.w.unit_tiles(); first += f.w.tiles) {
    const tile_block tb = tile_at(f.w, f.p, u, first);
    key_sums sums(tb.shape.channels);
    for (std::int64_t t = first; t < first + f.w.tiles; ++t) {
      tile_sums(f, u, t, ug.statistics, dyx, dy);
      sums.add(tb.shape.channels, dyx, dy);
    }
    emit(tb.key, ug.add_key(f, sample, tb, sums.dyx, sums.dy));
  }
}

// The terms of a group of several keys, from first_key on, key by key. Never inlined: its copy stays off the frame
// of run_unit's own steps.
template <class Emit>
__attribute__((noinline)) void emit_keys_of_group(const backward_call& f, std::int64_t first_key,
                                                  const key_terms& terms, Emit& emit) noexcept {
  for (std::int64_t i = 0; i < f.w.keys_per_span; ++i) {
    key_terms key;
    const std::int64_t first = i * f.w.group_channels;
    std::copy_n(terms.dalpha + first, f.w.group_channels, key.dalpha);
    std::copy_n(terms.dbeta + first, f.w.group_channels, key.dbeta);
    emit(first_key + i, key);
  }
}

// Unit u of one block (work_plan::one_call_units), from saved statistics and with dx: run_unit's steps in one call
// of the kernel set. With centring, only where no group takes shifted sums or the mean's correction
// (classify_offsets); returns whether it ran.
template <class Emit>
bool run_one_call_unit(const backward_call& f, std::int64_t u, Emit& emit) noexcept {
  const tile_block tb = one_call_block(f.w, f.p, u);
  const std::int64_t sample = unit_at(f.w, u).sample;
  const std::int64_t first_group =
      f.p.channels_per_group == 1 ? tb.first_channel : tb.first_channel / f.p.channels_per_group;
  const std::int64_t first_stat = f.p.statistic_index(sample, first_group);
  const float *mean = f.b.mean + first_stat, *rstd = f.b.rstd + first_stat;
  if (f.p.center)
    for (int g = 0; g < tb.shape.channels / f.p.channels_per_group; ++g)
      if (!(offset_of(mean[g], rstd[g]) <= 1.0)) return false;
  const unit_backward_args args{f.b.alpha + f.p.affine_index(sample, tb.first_channel),
                                mean,
                                rstd,
                                static_cast<int>(f.p.channels_per_group),  // the block holds whole groups
                                variance_divisor(f.p),
                                f.p.center,
                                static_cast<double>(f.p.channels_per_group * f.p.m),
                                f.stream_output};
  key_terms terms;
  f.k.unit_backward(f.b.x + tb.offset, f.b.dy + tb.offset, f.b.dx + tb.offset, tb.shape, args, terms.dalpha,
                    terms.dbeta);
  if (f.w.keys_per_span == 1)
    emit(tb.key, terms);
  else
    emit_keys_of_group(f, tb.key, terms, emit);
  return true;
}

// Unit u on one thread: statistics, sums key by key, then dx.
template <class Emit>
void run_unit(const backward_call& f, std::int64_t u, Emit&& emit) noexcept {
  if (f.w.one_call_units && f.b.mean != nullptr && f.b.dx != nullptr && run_one_call_unit(f, u, emit)) return;
  unit_gradients ug;
  ug.start(f, u);
  sum_keys(f, u, ug, emit);
  ug.finish(f);
  if (f.b.dx != nullptr)
    for (std::int64_t i = 0; i < f.w.unit_tiles(); ++i) apply_tile(f, u, f.w.output_tile(i), ug);
}

// Units first and second (one key each, of the same sample) on one thread, tile by tile: the second finds the
// rows the first brought into cache. Each unit gets run_unit's arithmetic in run_unit's order: the same bits.
// Never inlined: the second unit's arrays stay off the stack of every other call.
template <class EmitFirst, class EmitSecond>
__attribute__((noinline)) void run_unit_pair(const backward_call& f, std::int64_t first, std::int64_t second,
                                             EmitFirst& emit_first, EmitSecond& emit_second) noexcept {
  const std::int64_t units[2] = {first, second};
  unit_gradients ug[2];
  for (int i = 0; i < 2; ++i) ug[i].start(f, units[i]);
  const tile_block keys[2] = {tile_at(f.w, f.p, first, 0), tile_at(f.w, f.p, second, 0)};
  key_sums sums[2] = {key_sums(keys[0].shape.channels), key_sums(keys[1].shape.channels)};
  double dyx[kMaxGroupChannels], dy[kMaxGroupChannels];
  for (std::int64_t t = 0; t < f.w.tiles; ++t) {
    for (int i = 0; i < 2; ++i) {
      tile_sums(f, units[i], t, ug[i].statistics, dyx, dy);
      sums[i].add(keys[i].shape.channels, dyx, dy);
    }
  }
  const std::int64_t sample = unit_at(f.w, first).sample;
  emit_first(keys[0].key, ug[0].add_key(f, sample, keys[0], sums[0].dyx, sums[0].dy));
  emit_second(keys[1].key, ug[1].add_key(f, sample, keys[1], sums[1].dyx, sums[1].dy));
  for (int i = 0; i < 2; ++i) ug[i].finish(f);
  if (f.b.dx != nullptr)
    for (std::int64_t step = 0; step < f.w.tiles; ++step)
      for (int i = 0; i < 2; ++i) apply_tile(f, units[i], f.w.output_tile(step), ug[i]);
}

// dalpha / dbeta of a block of consecutive keys: per (sample, channel) with per-sample affine, else summed over the
// batch in sample order, in double and rounded once (blocks of at most kMaxGroupChannels channels), or in float
// in the outputs (blocks of one statistics group of more channels). Each key's terms must be added in sample
// order; keys may interleave.
class block_gradients {
 public:
  block_gradients(const backward_call& f, std::int64_t first_key, std::int64_t keys) noexcept
      : f_(f),
        first_channel_(first_key * f.w.group_channels),
        channels_(std::min<std::int64_t>(keys * f.w.group_channels, f.p.c - first_channel_)) {
    for (std::int64_t ch = 0; ch < std::min<std::int64_t>(channels_, kMaxGroupChannels); ++ch)
      dalpha_[ch] = dbeta_[ch] = 0.0;
  }

  // The terms of key `key` for `sample`: dalpha[ch] and dbeta[ch] for each of its channels.
  void add(std::int64_t key, std::int64_t sample, const double* dalpha_terms, const double* dbeta_terms) noexcept {
    const std::int64_t first = key * f_.w.group_channels;
    const int channels = key_channels(f_.w, f_.p, key);
    if (f_.p.per_sample_affine) {
      for (int ch = 0; ch < channels; ++ch) {
        const std::int64_t i = f_.p.affine_index(sample, first + ch);
        if (f_.b.dalpha != nullptr) f_.b.dalpha[i] = static_cast<float>(dalpha_terms[ch]);
        if (f_.b.dbeta != nullptr) f_.b.dbeta[i] = static_cast<float>(dbeta_terms[ch]);
      }
    } else if (channels_ > kMaxGroupChannels) {
      for (int ch = 0; ch < channels; ++ch) {
        accumulate_in_output(f_.b.dalpha, first + ch, sample, dalpha_terms[ch]);
        accumulate_in_output(f_.b.dbeta, first + ch, sample, dbeta_terms[ch]);
      }
    } else {
      double* dalpha = dalpha_ + (first - first_channel_);
      double* dbeta = dbeta_ + (first - first_channel_);
      for (int ch = 0; ch < channels; ++ch) {
        dalpha[ch] += dalpha_terms[ch];
        dbeta[ch] += dbeta_terms[ch];
      }
    }
  }

  void write() const noexcept {
    if (f_.p.per_sample_affine || channels_ > kMaxGroupChannels) return;
    for (std::int64_t ch = 0; ch < channels_; ++ch) {
      if (f_.b.dalpha != nullptr) f_.b.dalpha[first_channel_ + ch] = static_cast<float>(dalpha_[ch]);
      if (f_.b.dbeta != nullptr) f_.b.dbeta[first_channel_ + ch] = static_cast<float>(dbeta_[ch]);
    }
  }

 private:
  static void accumulate_in_output(float* out, std::int64_t channel, std::int64_t sample, double term) noexcept {
    if (out == nullptr) return;
    out[channel] = static_cast<float>(sample == 0 ? term : static_cast<double>(out[channel]) + term);
  }

  const backward_call& f_;
  std::int64_t first_channel_;
  std::int64_t channels_;
  double dalpha_[kMaxGroupChannels];
  double dbeta_[kMaxGroupChannels];
};

// dalpha / dbeta block by block, from span `from` on: add_terms(g, first_span, end_span) adds the terms of the
// keys of spans [first_span, end_span) to g, each key's in sample order; then g writes them. A block is as many
// whole spans as kMaxGroupChannels channels hold, or one span.
template <class AddTerms>
void reduce_span_blocks(const backward_call& f, AddTerms&& add_terms, std::int64_t from = 0) noexcept {
  const std::int64_t span_channels = f.w.keys_per_span * f.w.group_channels;
  const std::int64_t block = std::max<std::int64_t>(1, kMaxGroupChannels / span_channels);
  for (std::int64_t first = from; first < f.w.spans(); first += block) {
    const std::int64_t end = std::min(first + block, f.w.spans());
    block_gradients g(f, first * f.w.keys_per_span, (end - first) * f.w.keys_per_span);
    add_terms(g, first, end);
    g.write();
  }
}

bool run_parallel(const backward_call& f, const schedule& s) noexcept {
  const thread_use use{f.p.max_threads, s.threads};
  const std::int64_t units = f.w.units(), tiles = f.w.unit_tiles(), width = f.w.group_channels;
  // Terms per (key, sample), key-major: the key's dalpha terms, then its dbeta terms, width values each.
  std::unique_ptr<double[]> terms(
      new (std::nothrow) double[static_cast<std::size_t>(2 * f.w.keys * f.w.samples * width)]);
  if (!terms) return false;
  auto terms_of = [&](std::int64_t key, std::int64_t sample) {
    return &terms[slot(2 * (key * f.w.samples + sample) * width)];
  };
  auto store = [&](std::int64_t u) {
    return [&f, &terms_of, width, u](std::int64_t key, const key_terms& t) {
      double* stored = terms_of(key, unit_at(f.w, u).sample);
      const int channels = key_channels(f.w, f.p, key);
      std::copy_n(t.dalpha, channels, stored);
      std::copy_n(t.dbeta, channels, stored + width);
    };
  };
  if (!s.split_tiles) {
    // Units in memory order (terms are summed per key afterwards, in sample order); with paired_units,
    // consecutive units of one sample two abreast.
    auto body = [&](std::int64_t first_task, std::int64_t end_task) noexcept {
      const streamed_output_fence fence(f.k, f.stream_output);
      const unit_range range = unit_task_range(f.w, first_task, end_task);
      for (std::int64_t i = range.begin, end = range.end; i < end; ++i) {
        const std::int64_t u = unit_in_memory_order(f.w, i);
        if (f.w.paired_units && next_in_sample(f.w, i, end)) {
          const std::int64_t next = unit_in_memory_order(f.w, ++i);
          auto first = store(u), second = store(next);
          run_unit_pair(f, u, next, first, second);
        } else {
          run_unit(f, u, store(u));
        }
      }
    };
    parallel_for(unit_task_count(f.w), s.task_grain, use, body, s.task_shares);
  } else {
    const std::size_t cells = static_cast<std::size_t>(units * tiles * width);
    std::unique_ptr<double[]> dyx(new (std::nothrow) double[cells]), dy(new (std::nothrow) double[cells]);
    std::unique_ptr<unit_gradients[]> gradients(new (std::nothrow) unit_gradients[static_cast<std::size_t>(units)]);
    if (!dyx || !dy || !gradients) return false;
    for (std::int64_t u = 0; u < units; ++u) gradients[slot(u)].start(f, u);
    auto sums_body = [&](std::int64_t begin, std::int64_t end) noexcept {
      for (std::int64_t i = begin; i < end; ++i) {
        const unit_tile task = split_task_at(f.w, f.p, i);
        const std::int64_t cell = (task.unit * tiles + task.tile) * width;
        tile_sums(f, task.unit, task.tile, gradients[slot(task.unit)].statistics, &dyx[slot(cell)], &dy[slot(cell)]);
      }
    };
    parallel_for(units * tiles, 1, use, sums_body, s.task_shares);
    // Merged in tile order, key by key, as run_unit does.
    for (std::int64_t u = 0; u < units; ++u) {
      for (std::int64_t first = 0; first < tiles; first += f.w.tiles) {
        const tile_block tb = tile_at(f.w, f.p, u, first);
        key_sums sums(tb.shape.channels);
        for (std::int64_t t = first; t < first + f.w.tiles; ++t)
          sums.add(tb.shape.channels, &dyx[slot((u * tiles + t) * width)], &dy[slot((u * tiles + t) * width)]);
        store(u)(tb.key, gradients[slot(u)].add_key(f, unit_at(f.w, u).sample, tb, sums.dyx, sums.dy));
      }
      gradients[slot(u)].finish(f);
    }
    if (f.b.dx != nullptr) {
      auto apply_body = [&](std::int64_t begin, std::int64_t end) noexcept {
        const streamed_output_fence fence(f.k, f.stream_output);
        for (std::int64_t i = begin; i < end; ++i) {
          const unit_tile task = split_task_at(f.w, f.p, i);
          apply_tile(f, task.unit, task.tile, gradients[slot(task.unit)]);
        }
      };
      parallel_for(units * tiles, 1, use, apply_body, s.task_shares);
    }
  }
  reduce_span_blocks(f, [&](block_gradients& g, std::int64_t first, std::int64_t end) {
    for (std::int64_t key = first * f.w.keys_per_span; key < end * f.w.keys_per_span; ++key) {
      for (std::int64_t sample = 0; sample < f.w.samples; ++sample) {
        const double* stored = terms_of(key, sample);
        g.add(key, sample, stored, stored + width);
      }
    }
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
  const schedule s = choose_schedule(w, p);
  const backward_call f{p, b, w, kernels, s.stream_output};
  const pool_call_scope pool_call(s.uses_pool);
  if (s.threads > 1 && run_parallel(f, s)) return VARNORM_OK;
  const streamed_output_fence fence(kernels, f.stream_output);
  // Serial: blocks of spans, each walked sample by sample, so that consecutive units of an NCHW block are
  // adjacent planes in memory (hardware prefetchers follow them); every key still gets its terms in sample order,
  // and they are summed as they come, so no buffer is needed. With paired_units, spans of one key each go two
  // by two, each with its own block.
  std::int64_t paired = 0;
  if (w.paired_units) {
    for (; paired + 1 < w.spans(); paired += 2) {
      block_gradients first(f, paired, 1), second(f, paired + 1, 1);
      for (std::int64_t sample = 0; sample < w.samples; ++sample) {
        auto add_first = [&](std::int64_t key, const key_terms& t) { first.add(key, sample, t.dalpha, t.dbeta); };
        auto add_second = [&](std::int64_t key, const key_terms& t) { second.add(key, sample, t.dalpha, t.dbeta); };
        run_unit_pair(f, paired * w.samples + sample, (paired + 1) * w.samples + sample, add_first, add_second);
      }
      first.write();
      second.write();
    }
  }
  reduce_span_blocks(
      f,
      [&](block_gradients& g, std::int64_t first, std::int64_t end) {
        for (std::int64_t sample = 0; sample < w.samples; ++sample)
          for (std::int64_t span = first; span < end; ++span)
            run_unit(f, span * w.samples + sample,
                     [&](std::int64_t key, const key_terms& t) { g.add(key, sample, t.dalpha, t.dbeta); });
      },
      paired);
  return VARNORM_OK;
}

}  // namespace varnorm::detail
