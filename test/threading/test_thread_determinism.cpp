// Threads, as README "Threads" promises them: results are bitwise the same for every max_threads (0, 1, 2,
// 3, 4, 8, 16; oversubscribing this machine on purpose) on shapes with many planes, with one large plane, and
// N = 1, C = 2 spectrograms, forward and backward (saved and recomputed statistics), on every kernel set; and
// the same for groups of channels with and without the mean subtracted (GroupNorm, LayerNorm, InstanceNorm2d).
// Every shape here is above the parallel cut-off (131072 elements), and with TBB the tests see a worker
// thread take part in it, so the parallel path is what is compared. With TBB also: max_threads = 0 runs in
// the caller's arena and respects a user arena and a global_control limit, small calls stay on the calling
// thread, so do calls below 1M values after an idle period (seen with max_threads = 0, in a user arena), and
// max_threads = k > 1 never has more than k threads. On x86, the caller's FTZ/DAZ apply in the workers.
#include <varnorm/varnorm.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#ifdef __linux__
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

#ifdef VARNORM_TEST_WITH_TBB
#include <tbb/global_control.h>
#include <tbb/task_arena.h>
#include <tbb/task_scheduler_observer.h>
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define VARNORM_TEST_HAVE_VALGRIND_H 1
#endif
#endif

#include "support/cases.hpp"
#include "support/compare.hpp"
#include "support/fp_env.hpp"
#include "support/isa.hpp"
#include "support/oracle.hpp"
#include "support/same_bits.hpp"

using namespace varnorm_test;

namespace {

constexpr std::int64_t kParallelCutoff = 131072;  // src/plan/work_plan.hpp kParallelMinElements
const int kThreadCounts[] = {0, 1, 2, 3, 4, 8, 16};

// Everything a forward and the two kinds of backward produce for one case.
struct all_outputs {
  forward_outputs forward;
  backward_outputs saved, recomputed;
};

all_outputs run_all(const layer_case& base, int max_threads) {
  layer_case c = base;
  c.desc.max_threads = max_threads;
  all_outputs o;
  o.forward = run_forward(c);
  o.saved = run_backward(c, o.forward.mean.data(), o.forward.rstd.data());
  o.recomputed = run_backward(c);
  // Again, back to back on the same buffers: a call below 1M values after a pause (here the allocations) finds
  // the pool cold and stays on the calling thread; these find it warm, so the parallel path is what is compared.
  o.forward.status = rerun_forward(c, o.forward);
  o.saved.status = rerun_backward(c, o.forward.mean.data(), o.forward.rstd.data(), o.saved);
  o.recomputed.status = rerun_backward(c, nullptr, nullptr, o.recomputed);
  return o;
}

void require_ok(const all_outputs& o) {
  REQUIRE(o.forward.status == VARNORM_OK);
  REQUIRE(o.saved.status == VARNORM_OK);
  REQUIRE(o.recomputed.status == VARNORM_OK);
}

void check_same_bits(const all_outputs& a, const all_outputs& b) {
  check_same_bits(a.forward, b.forward);
  for (const backward_outputs* pair : {&a.saved, &a.recomputed}) check_same_bits(*pair, b.saved);
  check_same_bits(b.recomputed, b.saved);
}

struct named_case {
  const char* name;
  layer_case c;
};

// Many planes (whole units per thread, or with few NHWC units tiles spread over threads), one plane of 8
// tiles, N = 1 C = 2 large H*W in both layouts, two NHWC channel groups; with and without beta and
// per-sample affine, both algorithms and AUTO, both corrections.
enum large_shape { kManyPlanesNchw, kManyPlanesNhwc, kOnePlane, kSpectrogramNchw, kSpectrogramNhwc, kTwoGroupsNhwc };

named_case large_case(large_shape shape) {
  switch (shape) {
    case kManyPlanesNchw:
      return {"many planes NCHW 8x16x64x64",
              make_case(make_desc(8, 16, 64, 64, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false), true, 101)};
    case kManyPlanesNhwc:
      return {"many planes NHWC 8x16x64x64, per-sample affine",
              make_case(make_desc(8, 16, 64, 64, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_WELFORD, 0, true), true, 102)};
    case kOnePlane:
      return {
          "one plane 1x1x512x512",
          make_case(make_desc(1, 1, 512, 512, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_TWO_PASS, 1, false), false, 103)};
    case kSpectrogramNchw:
      return {
          "N=1 C=2 NCHW 1x2x512x512",
          make_case(make_desc(1, 2, 512, 512, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_WELFORD, 1, false), true, 104)};
    case kSpectrogramNhwc:
      return {
          "N=1 C=2 NHWC 1x2x512x512, per-sample affine",
          make_case(make_desc(1, 2, 512, 512, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, true), true, 105, 30.0)};
    case kTwoGroupsNhwc: break;
  }
  return {"two channel groups NHWC 4x80x24x24",
          make_case(make_desc(4, 80, 24, 24, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_TWO_PASS, 1, false), true, 106)};
}

std::vector<named_case> large_cases() {
  std::vector<named_case> out;
  for (large_shape shape :
       {kManyPlanesNchw, kManyPlanesNhwc, kOnePlane, kSpectrogramNchw, kSpectrogramNhwc, kTwoGroupsNhwc})
    out.push_back(large_case(shape));
  return out;
}

// Smaller, still above the cut-off, for the loop over kernel sets: whole units, and tiles of few units.
std::vector<named_case> kernel_set_cases() {
  return {
      {"many planes NCHW 16x12x32x24",
       make_case(make_desc(16, 12, 32, 24, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, true), true, 111)},
      {"N=1 C=3 NHWC 1x3x256x200",
       make_case(make_desc(1, 3, 256, 200, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_TWO_PASS, 0, false), true, 112)},
      {"N=1 C=2 NCHW 1x2x300x300",
       make_case(make_desc(1, 2, 300, 300, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_WELFORD, 1, false), false, 113)},
  };
}

// Groups of channels with and without the mean subtracted, above the cut-off: many units (GroupNorm NCHW and
// InstanceNorm2d NHWC, whole units per thread), and few large units whose tiles are split over threads
// (LayerNorm over a 4 x 256 x 256 sample: one unit of eight tiles; NHWC with C/G = 128 and 256; grouped
// VarianceNorm2d statistics over 2 planes of 200 x 200).
std::vector<named_case> grouped_cases() {
  return {
      {"GroupNorm NCHW 4x32x40x40 G=8",
       make_case(with_groups(make_desc(4, 32, 40, 40, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 0, false), 8, true),
                 true, 151)},
      {"LayerNorm NCHW 1x4x256x256 G=1",
       make_case(
           with_groups(make_desc(1, 4, 256, 256, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_WELFORD, 0, false), 1, true),
           true, 152, 30.0)},
      {"GroupNorm NHWC 2x256x16x16 G=2, per-sample affine",
       make_case(
           with_groups(make_desc(2, 256, 16, 16, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_TWO_PASS, 0, true), 2, true),
           true, 153)},
      {"LayerNorm NHWC 1x256x24x24 G=1",
       make_case(with_groups(make_desc(1, 256, 24, 24, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 1, false), 1, true),
                 false, 154)},
      {"InstanceNorm2d NHWC 2x80x30x30",
       make_case(with_groups(make_desc(2, 80, 30, 30, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_SHIFTED_SUMS, 0, false), 0,
                             true),
                 true, 155)},
      {"grouped VarianceNorm2d NCHW 1x6x200x200 G=3, center 0",
       make_case(
           with_groups(make_desc(1, 6, 200, 200, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false), 3, false),
           true, 156)},
  };
}

#ifdef VARNORM_TEST_WITH_TBB
// Records the threads that enter an arena: the caller's current one (default), or a given one. Entries of
// threads already inside when observation starts are reported before they take their first task.
class arena_observer : public tbb::task_scheduler_observer {
 public:
  arena_observer() { observe(true); }
  explicit arena_observer(tbb::task_arena& arena) : tbb::task_scheduler_observer(arena) { observe(true); }
  ~arena_observer() override { observe(false); }

  void on_scheduler_entry(bool is_worker) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (is_worker) ++worker_entries_;
    threads_.insert(std::this_thread::get_id());
  }
  int worker_entries() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return worker_entries_;
  }
  std::size_t distinct_threads() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return threads_.size();
  }

 private:
  mutable std::mutex mutex_;
  int worker_entries_ = 0;
  std::set<std::thread::id> threads_;
};

// Whether a worker can be expected to join a call: valgrind runs one thread at a time, and a call's few
// tasks are usually done before it lets a worker run. There only the absence of workers is checked.
bool worker_participation_observable() {
#ifdef VARNORM_TEST_HAVE_VALGRIND_H
  if (RUNNING_ON_VALGRIND) return false;
#endif
  return tbb::this_task_arena::max_concurrency() >= 2;
}

// Calls `call` until a worker has entered the arena `observer` watches: at least 20 times, and for up to 10 s
// (a worker that is late for one short call, on a loaded machine, is never late for all of them).
template <class Call>
bool until_a_worker_enters(const arena_observer& observer, Call&& call) {
  const auto start = std::chrono::steady_clock::now();
  for (int attempt = 0; observer.worker_entries() == 0; ++attempt) {
    if (attempt >= 20 && std::chrono::steady_clock::now() - start > std::chrono::seconds(10)) return false;
    call();
  }
  return true;
}

// Whether a worker thread joins the caller's current arena while `call` runs.
template <class Call>
bool worker_joins(Call&& call) {
  arena_observer observer;
  return until_a_worker_enters(observer, call);
}
#endif

#ifdef VARNORM_TEST_HAVE_MXCSR
// Every other element of every plane subnormal, the rest normal; plane (0, 0) subnormal throughout, in x and
// dy, with beta 0. DAZ reads subnormal inputs as 0 and FTZ flushes subnormal results, which changes the
// mean of plane (0, 0) (0 instead of about 1e-39), its y (alpha*x*rstd is about 3e-37: normal, or 0) and its
// dx (alpha*rstd*dy, the same): the bits under FTZ/DAZ differ from the IEEE ones.
layer_case with_subnormals(layer_case c) {
  const varnorm_desc& d = c.desc;
  for (std::size_t i = 0; i < c.x.size(); i += 2) c.x[i] = static_cast<float>(static_cast<int>(i % 13) - 6) * 1e-39f;
  for (std::int64_t p = 0; p < d.h * d.w; ++p) {
    const auto i = static_cast<std::size_t>(element_offset(d, 0, 0, p));
    c.x[i] = static_cast<float>(static_cast<int>(p % 7) - 3) * 2e-39f;
    c.dy[i] = static_cast<float>(static_cast<int>(p % 5) - 2) * 3e-39f;
  }
  if (!c.beta.empty()) c.beta[static_cast<std::size_t>(affine_offset(d, 0, 0))] = 0.0f;
  return c;
}
#endif

// Every max_threads of kThreadCounts gives the bits of max_threads 1 on a case above the parallel cut-off.
void check_thread_counts_match_serial(const named_case& nc) {
  CAPTURE(nc.name);
  REQUIRE(static_cast<std::int64_t>(tensor_size(nc.c.desc)) >= kParallelCutoff);
  const all_outputs serial = run_all(nc.c, 1);
  require_ok(serial);
  for (int threads : kThreadCounts) {
    CAPTURE(threads);
    const all_outputs o = run_all(nc.c, threads);
    require_ok(o);
    check_same_bits(o, serial);
  }
}

}  // namespace

TEST_CASE("every max_threads gives the bits of max_threads 1, forward and backward, on large shapes", "[threads]") {
  for (const named_case& nc : large_cases()) check_thread_counts_match_serial(nc);
}

TEST_CASE("every max_threads gives the bits of max_threads 1 on every kernel set", "[threads][isa]") {
  const std::vector<named_case> cases = kernel_set_cases();
  for (const std::string& isa : supported_isas()) {
    isa_scope scope(isa);
    REQUIRE(scope.ok());
    CAPTURE(isa);
    for (const named_case& nc : cases) check_thread_counts_match_serial(nc);
  }
}

TEST_CASE("groups of channels, with and without the mean subtracted: every max_threads gives the bits of "
          "max_threads 1 on every kernel set",
          "[threads][isa][groups]") {
  const std::vector<named_case> cases = grouped_cases();
  for (const std::string& isa : supported_isas()) {
    isa_scope scope(isa);
    REQUIRE(scope.ok());
    CAPTURE(isa);
    for (const named_case& nc : cases) check_thread_counts_match_serial(nc);
  }
}

#ifdef VARNORM_TEST_WITH_TBB
TEST_CASE("max_threads 0 runs large calls in the caller's arena, where a worker thread takes part", "[threads][tbb]") {
  if (!worker_participation_observable()) {
    WARN("a single thread at a time here (one core, or valgrind): no worker can be seen taking part");
    return;
  }
  std::vector<named_case> cases = large_cases();
  for (const named_case& nc : kernel_set_cases()) cases.push_back(nc);
  for (const named_case& nc : grouped_cases()) cases.push_back(nc);
  for (named_case& nc : cases) {
    CAPTURE(nc.name);
    nc.c.desc.max_threads = 0;
    forward_outputs f = run_forward(nc.c);
    backward_outputs saved = run_backward(nc.c, f.mean.data(), f.rstd.data()), recomputed = run_backward(nc.c);
    REQUIRE(f.status == VARNORM_OK);
    // Calls back to back, as a pool that has just run a call counts as warm (plan/work_plan.hpp).
    CHECK(worker_joins([&] { REQUIRE(rerun_forward(nc.c, f) == VARNORM_OK); }));
    CHECK(worker_joins([&] { REQUIRE(rerun_backward(nc.c, f.mean.data(), f.rstd.data(), saved) == VARNORM_OK); }));
    CHECK(worker_joins([&] { REQUIRE(rerun_backward(nc.c, nullptr, nullptr, recomputed) == VARNORM_OK); }));
  }
}

TEST_CASE("max_threads 0 inside a user's task_arena(2) runs in that arena, on at most 2 threads, same bits",
          "[threads][tbb]") {
  const named_case cases[] = {large_case(kManyPlanesNchw), large_case(kSpectrogramNchw)};
  for (const named_case& nc : cases) {
    CAPTURE(nc.name);
    const all_outputs serial = run_all(nc.c, 1);
    require_ok(serial);
    tbb::task_arena arena(2);
    arena.initialize();
    arena_observer observer(arena);
    all_outputs o;
    arena.execute([&] { o = run_all(nc.c, 0); });
    require_ok(o);
    check_same_bits(o, serial);
    // A worker joins the user's arena when calls come back to back: the call runs there, not in an arena of
    // the library's; and its bits are still those of one thread.
    layer_case c = nc.c;
    c.desc.max_threads = 0;
    auto in_user_arena = [&] { arena.execute([&] { REQUIRE(rerun_forward(c, o.forward) == VARNORM_OK); }); };
    if (worker_participation_observable())
      CHECK(until_a_worker_enters(observer, in_user_arena));
    else
      in_user_arena();
    check_same_bits(o.forward, serial.forward);
    CHECK(observer.distinct_threads() <= 2);
  }
}

TEST_CASE("max_threads 0 under global_control(max_allowed_parallelism, 1) stays on the calling thread, same bits",
          "[threads][tbb]") {
  const named_case nc = large_case(kManyPlanesNchw);
  const all_outputs serial = run_all(nc.c, 1);
  require_ok(serial);
  {
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, 1);
    // Workers still inside the caller's arena from earlier calls leave it once recalled.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    arena_observer observer;
    for (int i = 0; i < 3; ++i) {
      const all_outputs o = run_all(nc.c, 0);
      require_ok(o);
      check_same_bits(o, serial);
    }
    CHECK(observer.worker_entries() == 0);
  }
  // Without the limit the same observation does see a worker: the check above could fail.
  if (worker_participation_observable()) {
    layer_case c = nc.c;
    c.desc.max_threads = 0;
    forward_outputs f = run_forward(c);
    CHECK(worker_joins([&] { REQUIRE(rerun_forward(c, f) == VARNORM_OK); }));
  }
}

TEST_CASE("calls below the parallel cut-off stay on the calling thread for any max_threads", "[threads][tbb]") {
  // 1x16x64x64 = 65536 elements, and 2x3x100x200 = 120000 just below 131072.
  const named_case cases[] = {
      {"1x16x64x64 NCHW",
       make_case(make_desc(1, 16, 64, 64, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false), true, 121)},
      {"2x3x100x200 NHWC",
       make_case(make_desc(2, 3, 100, 200, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_WELFORD, 0, true), true, 122)},
  };
  for (const named_case& nc : cases) {
    CAPTURE(nc.name);
    REQUIRE(static_cast<std::int64_t>(tensor_size(nc.c.desc)) < kParallelCutoff);
    const all_outputs serial = run_all(nc.c, 1);
    require_ok(serial);
    // The caller's arena is a fresh one of this test's: the implicit arena may still hold workers of earlier
    // tests of this process (the sanitizer stage runs them all in one), which its observer would count.
    tbb::task_arena arena(2);
    arena.initialize();
    arena_observer observer(arena);
    for (int threads : {0, 8}) {
      CAPTURE(threads);
      for (int i = 0; i < 5; ++i) {
        all_outputs o;
        arena.execute([&] { o = run_all(nc.c, threads); });
        require_ok(o);
        check_same_bits(o, serial);
      }
    }
    // No worker entered the caller's arena: max_threads 0 published no work there (the user-arena test
    // above shows such an observer seeing a worker when it does).
    CHECK(observer.worker_entries() == 0);
  }
}

TEST_CASE("max_threads 0 after an idle period keeps a call below 1M values on the calling thread, same bits",
          "[threads][tbb]") {
  // 4x2x257x256 = 526336 values: above the parallel cut-off, below the cold-pool one (plan/work_plan.hpp).
  const named_case nc{
      "4x2x257x256 NCHW",
      make_case(make_desc(4, 2, 257, 256, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false), true, 131)};
  const all_outputs serial = run_all(nc.c, 1);
  require_ok(serial);
  layer_case c = nc.c;
  c.desc.max_threads = 0;
  tbb::task_arena arena(2);
  arena.initialize();
  arena_observer observer(arena);
  for (int i = 0; i < 10; ++i) {
    // Longer than the library counts its pool warm after a call (200 us), so each call finds it cold.
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    forward_outputs f;
    arena.execute([&] { f = run_forward(c); });
    REQUIRE(f.status == VARNORM_OK);
    check_same_bits(f, serial.forward);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    backward_outputs b;
    arena.execute([&] { b = run_backward(c, serial.forward.mean.data(), serial.forward.rstd.data()); });
    REQUIRE(b.status == VARNORM_OK);
    check_same_bits(b, serial.saved);
  }
  // No worker entered: the calls published no work. Back to back, the same calls do run on a worker, so the
  // check above could fail.
  CHECK(observer.worker_entries() == 0);
  forward_outputs f = run_forward(c);
  if (worker_participation_observable())
    CHECK(until_a_worker_enters(observer, [&] { arena.execute([&] { REQUIRE(rerun_forward(c, f) == VARNORM_OK); }); }));
}

#ifdef __linux__
// Threads of this process, from /proc/self/task.
int process_threads() {
  int count = 0;
  if (DIR* tasks = opendir("/proc/self/task")) {
    while (const dirent* entry = readdir(tasks))
      if (entry->d_name[0] != '.') ++count;
    closedir(tasks);
  }
  return count;
}

TEST_CASE("max_threads k > 1 runs on at most k threads, even where TBB may start more", "[threads][tbb]") {
  // The library's arenas cannot be observed from outside, but TBB starts a worker thread only when an
  // arena asks for one. So a fresh process that makes calls with max_threads = k only has at most k
  // threads; global_control lifts TBB's own cap (the core count), so a library arena one slot too large
  // would show. Each k runs in a child forked while this process has one thread (TBB not started): workers
  // started for one k could still be on their way back to TBB's pool when the next k asks for more.
  if (process_threads() != 1) {
    WARN("threads exist already (other tests ran in this process first): run this test on its own, as ctest does");
    return;
  }
  const named_case nc = large_case(kManyPlanesNchw);
  for (int k : {2, 3, 4}) {
    CAPTURE(k);
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      tbb::global_control allow(tbb::global_control::max_allowed_parallelism, 32);
      bool ok = true;
      for (int i = 0; i < 10; ++i) ok = ok && run_all(nc.c, k).recomputed.status == VARNORM_OK;
      _exit(ok ? std::min(process_threads(), 100) : 101);
    }
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    const int threads = WEXITSTATUS(status);
    REQUIRE(threads != 101);
    CHECK(threads <= k);
  }
}
#endif
#endif

#ifdef VARNORM_TEST_HAVE_MXCSR
TEST_CASE("the caller's FTZ/DAZ apply in the worker threads: parallel results equal the serial ones under FTZ/DAZ",
          "[threads][ftz]") {
  if (!flush_to_zero_works()) {
    WARN("FTZ/DAZ not honoured on this machine or emulator (valgrind?): nothing to check");
    return;
  }
  const named_case cases[] = {
      {"N=1 C=2 NCHW 1x2x512x512",
       with_subnormals(
           make_case(make_desc(1, 2, 512, 512, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false), true, 131))},
      {"many planes NHWC 8x16x64x64",
       with_subnormals(
           make_case(make_desc(8, 16, 64, 64, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_TWO_PASS, 0, false), false, 132))},
      {"many planes NCHW 8x16x64x64",
       with_subnormals(
           make_case(make_desc(8, 16, 64, 64, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_WELFORD, 1, true), true, 133))},
  };
  for (const named_case& nc : cases) {
    CAPTURE(nc.name);
    const all_outputs ieee = run_all(nc.c, 1);
    require_ok(ieee);
    all_outputs flushed;
    {
      flush_denormals_scope ftz_daz;
      flushed = run_all(nc.c, 1);
    }
    require_ok(flushed);
    // The data is such that FTZ/DAZ changes the results: comparing with the flushed bits can fail.
    REQUIRE_FALSE(bitwise_equal(flushed.forward.y, ieee.forward.y));
    REQUIRE_FALSE(bitwise_equal(flushed.forward.mean, ieee.forward.mean));
    REQUIRE_FALSE(bitwise_equal(flushed.saved.dx, ieee.saved.dx));
    // Each thread count without, with, and again without FTZ/DAZ: whichever setting a call of that
    // max_threads first ran under, every call gets its own caller's settings, in both directions.
    for (int threads : {0, 2, 3, 4, 8}) {
      CAPTURE(threads);
      for (bool ftz : {false, true, false}) {
        CAPTURE(ftz);
        all_outputs o;
        if (ftz) {
          flush_denormals_scope ftz_daz;
          o = run_all(nc.c, threads);
        } else {
          o = run_all(nc.c, threads);
        }
        require_ok(o);
        check_same_bits(o, ftz ? flushed : ieee);
      }
    }
  }
}
#endif

#ifdef VARNORM_TEST_HAVE_MXCSR
TEST_CASE("concurrent callers with different FTZ/DAZ settings each get results under their own settings",
          "[threads][ftz]") {
  if (!flush_to_zero_works()) {
    WARN("FTZ/DAZ not honoured on this machine or emulator (valgrind?): nothing to check");
    return;
  }
  const layer_case c = with_subnormals(
      make_case(make_desc(1, 2, 512, 512, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false), true, 141));
  const forward_outputs ieee = run_forward(c);
  forward_outputs flushed;
  {
    flush_denormals_scope ftz_daz;
    flushed = run_forward(c);
  }
  REQUIRE(ieee.status == VARNORM_OK);
  REQUIRE(flushed.status == VARNORM_OK);
  REQUIRE_FALSE(bitwise_equal(flushed.y, ieee.y));
  for (int threads : {0, 2, 4}) {
    CAPTURE(threads);
    // An audio thread with FTZ/DAZ and another thread without, calling at the same time.
    std::atomic<int> wrong[2] = {{0}, {0}};
    auto caller = [&](bool ftz) {
      layer_case mine = c;
      mine.desc.max_threads = threads;
      const unsigned saved = _mm_getcsr();
      if (ftz) _mm_setcsr(saved | 0x8040u);
      for (int i = 0; i < 8; ++i) {
        const forward_outputs o = run_forward(mine);
        if (o.status != VARNORM_OK || !bitwise_equal(o.y, ftz ? flushed.y : ieee.y) ||
            !bitwise_equal(o.mean, ftz ? flushed.mean : ieee.mean))
          ++wrong[ftz ? 1 : 0];
      }
      _mm_setcsr(saved);
    };
    std::thread plain(caller, false), audio(caller, true);
    plain.join();
    audio.join();
    CHECK(wrong[0] == 0);
    CHECK(wrong[1] == 0);
  }
}
#endif
