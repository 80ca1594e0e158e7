// varnorm_bench: VarianceNorm2d forward and backward, NCHW and NHWC, TWO_PASS / WELFORD / SHIFTED_SUMS / AUTO, 1 and
// all threads, over the shapes below; with the roofline baselines and the peers, all measured in this one run.
//
// Names: <direction>/<layout>/<implementation>/<shape>/threads:<k>/real_time, e.g.
//   forward/NCHW/AUTO/8x64x64x64/threads:1/real_time          varnorm, algorithm AUTO
//   backward/NHWC/WELFORD/1x2x257x256/threads:2/real_time     varnorm backward with saved mean/rstd
//   backward_recompute/NCHW/TWO_PASS/...                      varnorm backward recomputing mean/rstd
//   step/NCHW/AUTO/8x64x64x64/threads:1/real_time             a training step: AUTO forward, then backward from
//                                                               its saved mean/rstd, back to back on the same tensors
//   forward/NHWC/GROUPNORM/8x64x64x64/threads:1/real_time     GroupNorm as NCSN++ runs it: min(C/4, 32) groups,
//                                                               mean subtracted, bias, correction 0 (AUTO)
//   forward/NCHW/AUTO_AFTER_IDLE/4x2x257x256/threads:2/real_time   AUTO, each call timed alone after 2 ms of
//   forward/NCHW/AUTO_AFTER_ARENA/4x2x257x256/threads:2/real_time  sleep (TBB's workers asleep), or right after
//                                                               another task_arena's parallel work
//   forward/NCHW/peer_naive/...   forward/NCHW/peer_onednn/...  peers
//   copy/8x64x64x64/threads:1/real_time   read2write1/...      roofline baselines (no layout: flat arrays)
//   read1/8x64x64x64/threads:1/real_time                        read-only sweep of x (floor of a two-sweep
//                                                               forward: read1 + copy)
//   read2/8x64x64x64/threads:1/real_time                        read-only sweep of x and dy (floor of a
//                                                               two-sweep backward: read2 + read2write1)
//   minimal_forward/8x64x64x64/threads:1/real_time              the least arithmetic of a two-sweep layer
//   minimal_backward/8x64x64x64/threads:1/real_time             (unsafe one-pass sums; baselines.hpp), per
//   minimal_forward_nhwc/8x64x64x64/threads:1/real_time         NCHW plane, or per channel of an NHWC sample
//   minimal_backward_nhwc/8x64x64x64/threads:1/real_time
// Counters: bytes_per_second (compulsory traffic: forward and minimal_forward x + y, backward and
// minimal_backward x + dy + dx, step both; read1: x; read2: x + dy), items_per_second (tensor elements),
// roofline_fraction (baseline time / this benchmark's time, same bytes and threads; the baseline's time comes
// from its own benchmark earlier in this run, or is measured here when filtered out; minimal_forward and
// minimal_backward are measured against copy and read2write1 like the layer, step against their sum).
//
// Environment: VARNORM_BENCH_ISA (e.g. avx2; default auto) forces the library's kernel set;
// VARNORM_BENCH_THREADS (e.g. "1,4") replaces the thread counts 1 and all.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <varnorm/varnorm.h>

#if defined(VARNORM_BENCH_HAVE_TBB)
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#endif

#include "baselines.hpp"
#include "bench_common.hpp"
#include "peers.hpp"

namespace vnbench {

// N x C x H x W (the same numbers name the NHWC tensor: N x H x W x C in memory).
const Shape4 kShapes[] = {
    {1, 16, 64, 64},     // small: fits L2
    {8, 64, 64, 64},     // NCSN++ batch
    {16, 64, 128, 128},  // large batch (64 MiB per tensor)
    {1, 2, 257, 256},    // audio spectrogram (real/imag channels)
    {4, 2, 257, 256},    // a batch of spectrograms
    {1, 2, 512, 512},    // two large planes: threads split a plane
    {1, 128, 64, 64},    // an NCSN++ inner block
    {8, 256, 16, 16},    // NCSN++'s lowest resolution: many small planes, where per-plane costs show
    {1, 4, 1024, 1024},  // planes larger than L2
    // Score-based speech enhancement (NCSN++ on 256x256 spectrograms): its levels from the top to the bottom.
    {1, 128, 256, 256},  // the top level: 32 MiB per tensor, planes of 256 KiB
    {8, 128, 32, 32},    // a batch at 32x32
    {8, 32, 128, 128},   // a batch at 128x128, few channels
    {1, 256, 8, 8},      // the lowest levels: planes of 64 and 16 values, a call of a few microseconds
    {1, 256, 4, 4},
    {1, 256, 4, 6},  // the lowest level of a 256x384 spectrogram: planes of 24 values, not a whole vector
};

namespace {

enum class Direction { forward, backward, backward_recompute, step };
// The baselines. copy and read2write1 are the rooflines of forward and backward; read1 (one read-only sweep
// of x) and read2 (one of x and dy) are no kernel's roofline: with copy, read1 gives the floor of a forward
// that sweeps x twice; with read2write1, read2 gives the floor of a backward that sweeps x and dy twice.
// minimal_forward and minimal_backward do a layer's two sweeps with the least arithmetic (numerically unsafe)
// over NCHW planes, the _nhwc ones over the channels of NHWC samples: no forward or backward that computes the
// statistics in that layout can beat them on this machine.
enum class Roofline {
  copy,
  read2write1,
  read1,
  read2,
  minimal_forward,
  minimal_backward,
  minimal_forward_nhwc,
  minimal_backward_nhwc
};

const char* direction_name(Direction d) {
  switch (d) {
    case Direction::forward: return "forward";
    case Direction::backward: return "backward";
    case Direction::step: return "step";
    default: return "backward_recompute";
  }
}

Roofline roofline_of(Direction d) { return d == Direction::forward ? Roofline::copy : Roofline::read2write1; }
// What a baseline's roofline_fraction is measured against: the minimal kernels against the layer's roofline,
// the others against themselves.
Roofline reference_of(Roofline r) {
  switch (r) {
    case Roofline::minimal_forward:
    case Roofline::minimal_forward_nhwc: return Roofline::copy;
    case Roofline::minimal_backward:
    case Roofline::minimal_backward_nhwc: return Roofline::read2write1;
    default: return r;
  }
}
const char* roofline_name(Roofline r) {
  switch (r) {
    case Roofline::copy: return "copy";
    case Roofline::read2write1: return "read2write1";
    case Roofline::read1: return "read1";
    case Roofline::read2: return "read2";
    case Roofline::minimal_forward: return "minimal_forward";
    case Roofline::minimal_backward: return "minimal_backward";
    case Roofline::minimal_forward_nhwc: return "minimal_forward_nhwc";
    default: return "minimal_backward_nhwc";
  }
}

// Compulsory traffic: forward reads x and writes y; backward reads x and dy and writes dx; read1 reads x;
// read2 reads x and dy.
std::size_t traffic_bytes(Roofline r, const Shape4& s) {
  std::size_t arrays = 1;
  switch (r) {
    case Roofline::copy:
    case Roofline::minimal_forward:
    case Roofline::minimal_forward_nhwc: arrays = 2; break;
    case Roofline::read2write1:
    case Roofline::minimal_backward:
    case Roofline::minimal_backward_nhwc: arrays = 3; break;
    case Roofline::read1: arrays = 1; break;
    case Roofline::read2: arrays = 2; break;
  }
  return arrays * s.elements() * sizeof(float);
}

const char* layout_name(bool nhwc) { return nhwc ? "NHWC" : "NCHW"; }
std::string threads_name(int k) { return "threads:" + std::to_string(k); }

const char* algorithm_name(varnorm_algorithm a) {
  switch (a) {
    case VARNORM_ALGORITHM_TWO_PASS: return "TWO_PASS";
    case VARNORM_ALGORITHM_WELFORD: return "WELFORD";
    case VARNORM_ALGORITHM_SHIFTED_SUMS: return "SHIFTED_SUMS";
    default: return "AUTO";
  }
}

using Clock = std::chrono::steady_clock;

// Runs the timed loop (one warm-up call first: first touch, JIT, thread arenas) and returns this call's
// wall time per iteration, as UseRealTime measures it.
double timed_loop(benchmark::State& state, const std::function<void()>& body) {
  body();
  const Clock::time_point start = Clock::now();
  for (auto _ : state) {
    body();
    benchmark::ClobberMemory();
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return state.iterations() > 0 ? seconds / static_cast<double>(state.iterations()) : 0.0;
}

// Seconds per iteration of each roofline baseline, keyed "copy/<shape>/threads:k", from the most recent
// run of its benchmark in this process.
std::map<std::string, double>& baseline_seconds() {
  static std::map<std::string, double> table;
  return table;
}

std::string baseline_key(Roofline r, const Shape4& s, int threads) {
  return join_name({roofline_name(r), s.name(), threads_name(threads)});
}

void run_baseline(Roofline r, Tensors& t, int threads, bool stream) {
  const std::size_t count = t.shape.elements();
  switch (r) {
    case Roofline::copy: copy_floats(t.y.get(), t.x.get(), count, threads, stream); break;
    case Roofline::read2write1: read2write1(t.dx.get(), t.x.get(), t.dy.get(), count, threads, stream); break;
    case Roofline::read1: {
      double sum = read_floats(t.x.get(), count, threads);
      benchmark::DoNotOptimize(sum);
      break;
    }
    case Roofline::read2: {
      double sum = read2_floats(t.x.get(), t.dy.get(), count, threads);
      benchmark::DoNotOptimize(sum);
      break;
    }
    case Roofline::minimal_forward:
      minimal_forward(t.y.get(), t.x.get(), t.shape.plane_size(), t.shape.planes(), threads, stream);
      break;
    case Roofline::minimal_backward:
      minimal_backward(t.dx.get(), t.x.get(), t.dy.get(), t.shape.plane_size(), t.shape.planes(), threads, stream);
      break;
    case Roofline::minimal_forward_nhwc:
      minimal_forward_nhwc(t.y.get(), t.x.get(), t.shape.plane_size(), static_cast<std::size_t>(t.shape.c),
                           static_cast<std::size_t>(t.shape.n), threads, stream);
      break;
    case Roofline::minimal_backward_nhwc:
      minimal_backward_nhwc(t.dx.get(), t.x.get(), t.dy.get(), t.shape.plane_size(),
                            static_cast<std::size_t>(t.shape.c), static_cast<std::size_t>(t.shape.n), threads, stream);
      break;
  }
}

// Seconds per call of `body`, over calls adding up to at least `min_seconds` (and at least `min_calls`).
double mean_seconds(const std::function<void()>& body, double min_seconds, int min_calls) {
  int calls = 0;
  double elapsed = 0.0;
  const Clock::time_point start = Clock::now();
  do {
    body();
    benchmark::ClobberMemory();
    ++calls;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  } while (calls < min_calls || elapsed < min_seconds);
  return elapsed / calls;
}

// Whether a baseline writes with non-temporal stores: whichever of regular and non-temporal stores is
// faster for this size and thread count, decided once per run (seven alternating rounds of at least 2 ms
// each, after a warm-up; the best round counts). Non-temporal stores must win by 3%: on a shared machine a
// burst of noise over the first rounds once made them look faster on 2 MiB, where they are 1.15-2.2x
// slower. read1 and read2 store nothing.
bool is_read_only(Roofline r) { return r == Roofline::read1 || r == Roofline::read2; }

bool baseline_streams(Roofline r, Tensors& t, int threads) {
  if (is_read_only(r)) return false;
  static std::map<std::string, bool> choice;
  const std::string key = baseline_key(r, t.shape, threads);
  auto found = choice.find(key);
  if (found != choice.end()) return found->second;
  double best[2] = {1e300, 1e300};
  for (int stream = 0; stream < 2; ++stream) run_baseline(r, t, threads, stream != 0);
  for (int round = 0; round < 7; ++round)
    for (int stream = 0; stream < 2; ++stream) {
      const double seconds = mean_seconds([&] { run_baseline(r, t, threads, stream != 0); }, 0.002, 1);
      if (seconds < best[stream]) best[stream] = seconds;
    }
  return choice[key] = best[1] < 0.97 * best[0];
}

// The baseline's time for the roofline_fraction counter: from this run's baseline benchmark, or (when a
// filter left it out) measured now, on the same buffers and threads.
double baseline_time(Roofline r, Tensors& t, int threads) {
  const std::string key = baseline_key(r, t.shape, threads);
  auto found = baseline_seconds().find(key);
  if (found != baseline_seconds().end()) return found->second;
  const bool stream = baseline_streams(r, t, threads);
  run_baseline(r, t, threads, stream);
  const double seconds = mean_seconds([&] { run_baseline(r, t, threads, stream); }, 0.02, 5);
  baseline_seconds()[key] = seconds;
  return seconds;
}

void set_counters(benchmark::State& state, std::size_t bytes, const Shape4& s, double roofline_seconds,
                  double own_seconds) {
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes) * state.iterations());
  state.SetItemsProcessed(static_cast<std::int64_t>(s.elements()) * state.iterations());
  if (roofline_seconds > 0.0 && own_seconds > 0.0) state.counters["roofline_fraction"] = roofline_seconds / own_seconds;
}

void bench_baseline(benchmark::State& state, Roofline r, Shape4 s, int threads) {
  Tensors& t = tensors_for(s);
  const bool stream = baseline_streams(r, t, threads);
  state.SetLabel(is_read_only(r) ? "read-only" : stream ? "nt-stores" : "regular-stores");
  const double seconds = timed_loop(state, [&] { run_baseline(r, t, threads, stream); });
  baseline_seconds()[baseline_key(r, s, threads)] = seconds;
  const Roofline reference = reference_of(r);
  set_counters(state, traffic_bytes(r, s), s, reference == r ? seconds : baseline_time(reference, t, threads), seconds);
}

// The normalization a benchmark runs: VarianceNorm2d, or GroupNorm(min(C / 4, 32), C) with a bias (NCSN++).
enum class Layer { variance_norm, group_norm };

std::int64_t ncsnpp_groups(const Shape4& s) { return std::max<std::int64_t>(1, std::min<std::int64_t>(s.c / 4, 32)); }

void bench_varnorm(benchmark::State& state, Direction dir, bool nhwc, varnorm_algorithm algorithm, Shape4 s,
                   int threads, Layer layer = Layer::variance_norm) {
  Tensors& t = tensors_for(s);
  varnorm_desc d = varnorm_desc_make(s.n, s.c, s.h, s.w, nhwc ? VARNORM_LAYOUT_NHWC : VARNORM_LAYOUT_NCHW);
  d.algorithm = algorithm;
  d.max_threads = threads;
  const float* beta = nullptr;
  float* dbeta = nullptr;
  if (layer == Layer::group_norm) {
    d.groups = static_cast<std::int32_t>(ncsnpp_groups(s));
    d.center = 1;
    d.correction = 0;
    beta = t.alpha.get();  // any c values
    dbeta = t.dbeta.get();
  }
  // Saved statistics for backward, as a training forward leaves them.
  varnorm_status status = varnorm_forward(&d, t.x.get(), t.alpha.get(), beta, t.y.get(), t.mean.get(), t.rstd.get());
  if (status != VARNORM_OK) {
    state.SkipWithError(varnorm_status_string(status));
    return;
  }
  std::function<void()> body;
  switch (dir) {
    case Direction::forward:
      body = [&] {
        status = varnorm_forward(&d, t.x.get(), t.alpha.get(), beta, t.y.get(), t.mean.get(), t.rstd.get());
      };
      break;
    case Direction::backward:
      body = [&] {
        status = varnorm_backward(&d, t.x.get(), t.alpha.get(), t.dy.get(), t.mean.get(), t.rstd.get(), t.dx.get(),
                                  t.dalpha.get(), dbeta);
      };
      break;
    case Direction::backward_recompute:
      body = [&] {
        status = varnorm_backward(&d, t.x.get(), t.alpha.get(), t.dy.get(), nullptr, nullptr, t.dx.get(),
                                  t.dalpha.get(), dbeta);
      };
      break;
    case Direction::step:
      body = [&] {
        status = varnorm_forward(&d, t.x.get(), t.alpha.get(), beta, t.y.get(), t.mean.get(), t.rstd.get());
        if (status == VARNORM_OK)
          status = varnorm_backward(&d, t.x.get(), t.alpha.get(), t.dy.get(), t.mean.get(), t.rstd.get(), t.dx.get(),
                                    t.dalpha.get(), dbeta);
      };
      break;
  }
  const double seconds = timed_loop(state, body);
  if (status != VARNORM_OK) {
    state.SkipWithError(varnorm_status_string(status));
    return;
  }
  if (dir == Direction::step) {  // the forward's traffic and the backward's; their rooflines one after the other
    set_counters(state, traffic_bytes(Roofline::copy, s) + traffic_bytes(Roofline::read2write1, s), s,
                 baseline_time(Roofline::copy, t, threads) + baseline_time(Roofline::read2write1, t, threads), seconds);
    return;
  }
  const Roofline r = roofline_of(dir);
  set_counters(state, traffic_bytes(r, s), s, baseline_time(r, t, threads), seconds);
}

#if defined(VARNORM_BENCH_HAVE_TBB)
// What happens just before each timed call: a caller that was idle (TBB's workers have gone to sleep), or one
// whose process has just run parallel work in another task_arena (a framework's thread pool).
enum class Situation { after_idle, after_arena };

const char* situation_name(Situation s) { return s == Situation::after_idle ? "AUTO_AFTER_IDLE" : "AUTO_AFTER_ARENA"; }

// Shapes of the situation rows: the smallest call that runs parallel, a batch of spectrograms, an NCSN++ batch.
const Shape4 kSituationShapes[] = {{1, 2, 257, 256}, {4, 2, 257, 256}, {8, 64, 64, 64}};

// Another arena's parallel work: a 2-thread task_arena sweeping 4 MiB, as a framework's pool might.
void other_arena_work() {
  static tbb::task_arena arena(2);
  static std::vector<float> data(std::size_t{1} << 20, 1.0f);
  arena.execute([] {
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, data.size(), 4096),
                      [](const tbb::blocked_range<std::size_t>& r) {
                        for (std::size_t i = r.begin(); i < r.end(); ++i) data[i] = data[i] * 0.5f + 1.0f;
                      });
  });
}

// AUTO forward or backward (saved statistics), each call timed on its own after the situation is set up;
// a fixed number of calls, since every one is preceded by 2 ms of sleep or another arena's work.
void bench_situation(benchmark::State& state, Direction dir, Situation situation, Shape4 s, int threads) {
  Tensors& t = tensors_for(s);
  varnorm_desc d = varnorm_desc_make(s.n, s.c, s.h, s.w, VARNORM_LAYOUT_NCHW);
  d.max_threads = threads;
  varnorm_status status = varnorm_forward(&d, t.x.get(), t.alpha.get(), nullptr, t.y.get(), t.mean.get(), t.rstd.get());
  double seconds = 0.0;
  for (auto _ : state) {
    state.PauseTiming();
    if (situation == Situation::after_idle)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    else
      other_arena_work();
    state.ResumeTiming();
    const Clock::time_point start = Clock::now();
    status = dir == Direction::forward
                 ? varnorm_forward(&d, t.x.get(), t.alpha.get(), nullptr, t.y.get(), t.mean.get(), t.rstd.get())
                 : varnorm_backward(&d, t.x.get(), t.alpha.get(), t.dy.get(), t.mean.get(), t.rstd.get(), t.dx.get(),
                                    t.dalpha.get(), nullptr);
    seconds += std::chrono::duration<double>(Clock::now() - start).count();
  }
  if (status != VARNORM_OK) {
    state.SkipWithError(varnorm_status_string(status));
    return;
  }
  const Roofline r = roofline_of(dir);
  set_counters(state, traffic_bytes(r, s), s, baseline_time(r, t, threads),
               seconds / static_cast<double>(state.iterations()));
}
#endif

void bench_naive(benchmark::State& state, Direction dir, bool nhwc, Shape4 s) {
  Tensors& t = tensors_for(s);
  const float eps = 1e-5f;
  const int correction = 1;
  naive_forward(s, nhwc, t.x.get(), t.alpha.get(), t.y.get(), t.mean.get(), t.rstd.get(), eps, correction);
  std::function<void()> body;
  if (dir == Direction::forward)
    body = [&] {
      naive_forward(s, nhwc, t.x.get(), t.alpha.get(), t.y.get(), t.mean.get(), t.rstd.get(), eps, correction);
    };
  else
    body = [&] {
      naive_backward(s, nhwc, t.x.get(), t.alpha.get(), t.dy.get(), t.mean.get(), t.rstd.get(), t.dx.get(),
                     t.dalpha.get(), correction);
    };
  const double seconds = timed_loop(state, body);
  const Roofline r = roofline_of(dir);
  set_counters(state, traffic_bytes(r, s), s, baseline_time(r, t, 1), seconds);
}

void bench_onednn(benchmark::State& state, Direction dir, Shape4 s, int threads) {
  Tensors& t = tensors_for(s);
  if (!onednn_set_threads(threads)) {
    state.SkipWithError("oneDNN's thread count cannot be set");
    return;
  }
  std::unique_ptr<OnednnPeer> peer = make_onednn_peer(t);
  if (!peer) {
    state.SkipWithError("oneDNN could not create the primitive");
    return;
  }
  OnednnPeer* p = peer.get();
  const double seconds =
      dir == Direction::forward ? timed_loop(state, [p] { p->forward(); }) : timed_loop(state, [p] { p->backward(); });
  const Roofline r = roofline_of(dir);
  set_counters(state, traffic_bytes(r, s), s, baseline_time(r, t, threads), seconds);
}

double minimum(const std::vector<double>& values) {
  return values.empty() ? 0.0 : *std::min_element(values.begin(), values.end());
}

// A benchmark of `threads` threads; a one-thread one on VARNORM_BENCH_CPU's CPU when that is set.
template <class F>
void add(const std::string& name, int threads, F fn) {
  benchmark::RegisterBenchmark(name.c_str(),
                               [threads, fn](benchmark::State& state) {
                                 const OneCpuScope pin(threads);
                                 fn(state);
                               })
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond)
      ->ComputeStatistics("min", minimum);  // with repetitions: the least disturbed one (report --stat min)
}

void register_all() {
  const std::vector<int> thread_list = thread_counts();
  const bool have_onednn = onednn_version() != nullptr;
  const Direction directions[] = {Direction::forward, Direction::backward, Direction::backward_recompute};
  const varnorm_algorithm algorithms[] = {VARNORM_ALGORITHM_TWO_PASS, VARNORM_ALGORITHM_WELFORD,
                                          VARNORM_ALGORITHM_SHIFTED_SUMS, VARNORM_ALGORITHM_AUTO};
  // Baselines first within each shape and thread count, so that (without random interleaving) the kernels
  // after them find the baseline's time of this run.
  for (const Shape4& s : kShapes) {
    const std::string shape = s.name();
    for (int k : thread_list) {
      const std::string threads = threads_name(k);
      for (Roofline r :
           {Roofline::copy, Roofline::read2write1, Roofline::read1, Roofline::read2, Roofline::minimal_forward,
            Roofline::minimal_backward, Roofline::minimal_forward_nhwc, Roofline::minimal_backward_nhwc})
        add(join_name({roofline_name(r), shape, threads}), k,
            [r, s, k](benchmark::State& st) { bench_baseline(st, r, s, k); });
      for (Direction dir : directions)
        for (bool nhwc : {false, true})
          for (varnorm_algorithm a : algorithms)
            add(join_name({direction_name(dir), layout_name(nhwc), algorithm_name(a), shape, threads}), k,
                [dir, nhwc, a, s, k](benchmark::State& st) { bench_varnorm(st, dir, nhwc, a, s, k); });
      for (bool nhwc : {false, true})
        add(join_name({direction_name(Direction::step), layout_name(nhwc), "AUTO", shape, threads}), k,
            [nhwc, s, k](benchmark::State& st) {
              bench_varnorm(st, Direction::step, nhwc, VARNORM_ALGORITHM_AUTO, s, k);
            });
      for (Direction dir : {Direction::forward, Direction::backward})
        for (bool nhwc : {false, true})
          add(join_name({direction_name(dir), layout_name(nhwc), "GROUPNORM", shape, threads}), k,
              [dir, nhwc, s, k](benchmark::State& st) {
                bench_varnorm(st, dir, nhwc, VARNORM_ALGORITHM_AUTO, s, k, Layer::group_norm);
              });
      if (k == 1)  // the hand-written loops are single-threaded
        for (Direction dir : {Direction::forward, Direction::backward})
          for (bool nhwc : {false, true})
            add(join_name({direction_name(dir), layout_name(nhwc), "peer_naive", shape, threads}), k,
                [dir, nhwc, s](benchmark::State& st) { bench_naive(st, dir, nhwc, s); });
      if (have_onednn && onednn_set_threads(k))
        for (Direction dir : {Direction::forward, Direction::backward})
          add(join_name({direction_name(dir), "NCHW", "peer_onednn", shape, threads}), k,
              [dir, s, k](benchmark::State& st) { bench_onednn(st, dir, s, k); });
    }
  }
#if defined(VARNORM_BENCH_HAVE_TBB)
  for (const Shape4& s : kSituationShapes)
    for (int k : thread_list)
      for (Direction dir : {Direction::forward, Direction::backward})
        for (Situation situation : {Situation::after_idle, Situation::after_arena})
          benchmark::RegisterBenchmark(
              join_name({direction_name(dir), "NCHW", situation_name(situation), s.name(), threads_name(k)}).c_str(),
              [dir, situation, s, k](benchmark::State& st) { bench_situation(st, dir, situation, s, k); })
              ->UseRealTime()
              ->Unit(benchmark::kMicrosecond)
              ->Iterations(40)
              ->ComputeStatistics("min", minimum);
#endif
}

}  // namespace
}  // namespace vnbench

int main(int argc, char** argv) {
  const char* isa = std::getenv("VARNORM_BENCH_ISA");
  if (isa == nullptr || *isa == '\0') isa = "auto";
  const varnorm_status status = varnorm_set_isa(isa);
  if (status != VARNORM_OK) {
    std::fprintf(stderr, "varnorm_bench: VARNORM_BENCH_ISA=%s: %s\n", isa, varnorm_status_string(status));
    return 2;
  }
  if (vnbench::pinned_cpu() == -2) {
    std::fprintf(stderr, "varnorm_bench: VARNORM_BENCH_CPU=%s names no CPU this process may use\n",
                 std::getenv("VARNORM_BENCH_CPU"));
    return 2;
  }
  const std::string wrong = vnbench::check_minimal_kernels();
  if (!wrong.empty()) {
    std::fprintf(stderr, "varnorm_bench: %s\n", wrong.c_str());
    return 2;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  std::string threads;
  for (int k : vnbench::thread_counts()) threads += (threads.empty() ? "" : ",") + std::to_string(k);
  benchmark::AddCustomContext("varnorm_version", varnorm_version());
  benchmark::AddCustomContext("varnorm_isa", varnorm_isa());
  benchmark::AddCustomContext("baseline_isa", vnbench::baseline_isa());
  benchmark::AddCustomContext("threads", threads);
  benchmark::AddCustomContext("one_thread_cpu",
                              vnbench::pinned_cpu() >= 0 ? std::to_string(vnbench::pinned_cpu()) : "any");
  const char* onednn = vnbench::onednn_version();
  benchmark::AddCustomContext("onednn", onednn != nullptr ? onednn : "absent");
  std::string shapes;
  for (const vnbench::Shape4& s : vnbench::kShapes) shapes += (shapes.empty() ? "" : ",") + s.name();
  benchmark::AddCustomContext("shapes", shapes);  // the report lists shapes in this order
  benchmark::AddCustomContext(
      "traffic", "forward, minimal_forward(_nhwc): x read + y written; backward, "
                 "minimal_backward(_nhwc): x, dy read + dx written; step: both; read1: x read; read2: x, dy read");
  if (onednn == nullptr) std::fprintf(stderr, "varnorm_bench: built without oneDNN, its peer is skipped\n");

  vnbench::register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
