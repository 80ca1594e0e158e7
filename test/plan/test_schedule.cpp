// The schedule rule of plan/work_plan.hpp, on the rule itself (the pool's warmth is passed in, so no timing
// decides the outcome): calls below the parallel cut-off and max_threads = 1 stay on the calling thread without
// asking whether the pool is warm; above it, calls below kColdPoolParallelMinElements use threads only when the
// pool is warm, larger ones always, for max_threads 0 and k > 1 alike; a call takes at most a thread per
// kValuesPerThread values, in fixed shares while its arrays span at most kFixedSharesBytesPerThread a thread;
// threads take small units in chunks of up to kTaskBytes, at least kTasksPerThread chunks each; few units spread
// their tiles over threads unless they divide evenly among them and fit in L2, also in fixed shares for NHWC pairs
// when the call's arrays span at most kFixedSharesMaxBytes; the output streams from kStreamFootprintBytes of arrays on
// one thread and from kThreadsStreamFootprintBytes on several. And the clock behind the warmth: a call with a thread
// budget keeps the pool warm for kPoolWarmMicroseconds after it ends, a call without one does not.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <thread>

#include "dispatch/isa_dispatch.hpp"
#include "plan/work_plan.hpp"
#include "threading/parallel.hpp"

namespace {

using varnorm::detail::choose_schedule;
using varnorm::detail::direction;
using varnorm::detail::problem;
using varnorm::detail::schedule;

int warmth_queries = 0;
bool warm_pool() noexcept {
  ++warmth_queries;
  return true;
}
bool cold_pool() noexcept {
  ++warmth_queries;
  return false;
}

// NCHW VarianceNorm2d of n x c planes of m values, with max_threads.
problem planes(std::int64_t n, std::int64_t c, std::int64_t m, int max_threads) {
  problem p;
  p.n = n;
  p.c = c;
  p.m = m;
  p.groups = c;
  p.max_threads = max_threads;
  return p;
}

// NHWC VarianceNorm2d of n samples of m positions of c channels, with max_threads.
problem samples(std::int64_t n, std::int64_t c, std::int64_t m, int max_threads) {
  problem p = planes(n, c, m, max_threads);
  p.layout = VARNORM_LAYOUT_NHWC;
  return p;
}

schedule schedule_of(const problem& p, bool (*pool_warm)() noexcept) {
  const auto w = varnorm::detail::make_work_plan(p, direction::forward, varnorm::detail::active_kernels());
  return choose_schedule(w, p, pool_warm);
}

// Whether the pool counts as warm at some point of `tries` reads right after `note` ran: a read may come late
// when this thread is preempted, never early.
template <class Note>
bool warm_right_after(Note&& note, int tries = 100) {
  for (int i = 0; i < tries; ++i) {
    note();
    if (varnorm::detail::pool_recently_called()) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("calls below the cut-off and max_threads 1 stay serial without reading the pool's warmth", "[plan]") {
  warmth_queries = 0;
  const problem small = planes(1, 2, varnorm::detail::kParallelMinElements / 2 - 1, 0);
  const problem one_thread = planes(8, 64, 64 * 64, 1);
  for (const problem& p : {small, one_thread}) {
    const schedule s = schedule_of(p, warm_pool);
    CHECK(s.threads == 1);
    CHECK_FALSE(s.uses_pool);
  }
  CHECK(warmth_queries == 0);
}

TEST_CASE("calls below 1M values use threads only when the pool is warm, larger ones always", "[plan][threads]") {
  for (int max_threads : {0, 2}) {
    CAPTURE(max_threads);
    const int budget = varnorm::detail::thread_budget(max_threads);
    // 4x2x257x256 = 526336 values: above the cut-off, below kColdPoolParallelMinElements; 8x2x257x256 above both.
    const problem mid = planes(4, 2, 257 * 256, max_threads), large = planes(8, 2, 257 * 256, max_threads);
    REQUIRE(mid.elements() >= varnorm::detail::kParallelMinElements);
    REQUIRE(mid.elements() < varnorm::detail::kColdPoolParallelMinElements);
    REQUIRE(large.elements() >= varnorm::detail::kColdPoolParallelMinElements);
    if (budget <= 1) {
      WARN("one thread here (one core, or a build without TBB): every call is serial");
      CHECK(schedule_of(mid, warm_pool).threads == 1);
      CHECK(schedule_of(large, warm_pool).threads == 1);
      continue;
    }
    const schedule cold = schedule_of(mid, cold_pool);
    CHECK(cold.threads == 1);
    CHECK(cold.uses_pool);  // its end still warms the pool, so the next call of a stream goes parallel
    // Up to a thread per kValuesPerThread values: 16 for mid, 32 for large.
    const auto threads_for = [budget](const problem& p) {
      return static_cast<int>(std::min<std::int64_t>(budget, p.elements() / varnorm::detail::kValuesPerThread));
    };
    const schedule warm = schedule_of(mid, warm_pool);
    CHECK(warm.threads == threads_for(mid));
    CHECK(warm.uses_pool);
    CHECK(schedule_of(large, cold_pool).threads == threads_for(large));
    CHECK(schedule_of(large, warm_pool).threads == threads_for(large));
  }
}

TEST_CASE("threads take small units in chunks of up to 64 KiB, still several chunks per thread", "[plan][threads]") {
  if (varnorm::detail::thread_budget(2) <= 1) {
    WARN("one thread here (a build without TBB): every call is serial");
    return;
  }
  // Planes of up to 1024 values grouped (kGroupBytes: 4 planes of 32x32 a unit forward, 2 backward), whatever
  // the kernel set here groups.
  varnorm::detail::kernel_table kernels = varnorm::detail::active_kernels();
  kernels.row_sharing_plane_positions = 1024;
  struct expectation {
    problem p;
    direction d;
    std::int64_t grain;
  };
  const expectation cases[] = {
      {planes(8, 128, 64 * 64, 2), direction::forward, 4},    // 1024 planes of 16 KiB: 4 make 64 KiB
      {planes(8, 128, 64 * 64, 2), direction::backward, 2},   // the same reading x and dy
      {planes(1, 48, 48 * 64, 2), direction::forward, 5},     // planes of 12 KiB: 5 fit in 64 KiB
      {planes(8, 64, 128 * 128, 2), direction::forward, 1},   // planes of 64 KiB: one a task
      {planes(8, 128, 32 * 32, 2), direction::forward, 4},    // groups of 4 planes of 4 KiB
      {planes(8, 128, 32 * 32, 2), direction::backward, 4},   // groups of 2 planes of 4 KiB, x and dy
      {planes(1, 128, 64 * 64, 16), direction::forward, 2}};  // 16 threads: 4 chunks each of 2 planes
  for (const expectation& e : cases) {
    CAPTURE(e.p.n, e.p.c, e.p.m, e.p.max_threads, e.d == direction::forward);
    const auto w = varnorm::detail::make_work_plan(e.p, e.d, kernels);
    const schedule s = choose_schedule(w, e.p, warm_pool);
    REQUIRE(s.threads == e.p.max_threads);
    REQUIRE_FALSE(s.split_tiles);
    CHECK(s.task_grain == e.grain);
    CHECK(varnorm::detail::unit_task_count(w) / s.task_grain >= varnorm::detail::kTasksPerThread * s.threads);
  }
}

TEST_CASE("a call takes a thread per 32768 values at most, in fixed shares up to 1 MiB of arrays a thread",
          "[plan][threads]") {
  if (varnorm::detail::thread_budget(2) <= 1) {
    WARN("one thread here (a build without TBB): every call is serial");
    return;
  }
  using varnorm::detail::shares;
  struct expectation {
    problem p;
    direction d;
    int threads;
    shares task_shares;
  };
  const expectation cases[] = {
      {planes(1, 2, 257 * 256, 16), direction::forward, 4, shares::fixed},       // 131584 values, 1 MiB of x and y
      {planes(1, 5, 32 * 1024, 16), direction::forward, 5, shares::fixed},       // exactly 5 x 32768 values
      {planes(1, 5, 32 * 1024 - 1, 16), direction::forward, 4, shares::fixed},   // five fewer
      {planes(1, 128, 64 * 64, 16), direction::forward, 16, shares::fixed},      // 4 MiB on 16 threads
      {planes(8, 64, 64 * 64, 16), direction::forward, 16, shares::fixed},       // 16 MiB: 1 MiB a thread
      {planes(8, 64, 64 * 64, 16), direction::backward, 16, shares::balanced},   // x, dy and dx: 24 MiB
      {planes(8, 32, 128 * 128, 16), direction::forward, 16, shares::balanced},  // 32 MiB
      {planes(1, 2, 257 * 256, 2), direction::forward, 2, shares::fixed},        // 1 MiB on 2 threads
      {planes(1, 2, 257 * 256, 2), direction::backward, 2, shares::fixed},       // 1.5 MiB
      {planes(2, 2, 257 * 256, 2), direction::forward, 2, shares::balanced},     // just over 2 MiB
      {planes(8, 128, 32 * 32, 2), direction::forward, 2, shares::balanced}};    // 8 MiB on 2 threads
  for (const expectation& e : cases) {
    CAPTURE(e.p.n, e.p.c, e.p.m, e.p.max_threads, e.d == direction::forward);
    const auto w = varnorm::detail::make_work_plan(e.p, e.d, varnorm::detail::active_kernels());
    const schedule s = choose_schedule(w, e.p, warm_pool);
    CHECK(s.threads == e.threads);
    CHECK((s.task_shares == shares::fixed) == (e.task_shares == shares::fixed));
  }
}

TEST_CASE("few units spread their tiles over threads, unless they divide evenly and fit in L2", "[plan][threads]") {
  if (varnorm::detail::thread_budget(2) <= 1) {
    WARN("one thread here (a build without TBB): every call is serial");
    return;
  }
  using varnorm::detail::shares;
  // Forward arrays (x and y) of one sample of 128 channels spanning kFixedSharesMaxBytes with this many positions.
  const std::int64_t fixed_most = varnorm::detail::kFixedSharesMaxBytes / (2 * 128 * 4);
  struct expectation {
    problem p;
    int threads;
    bool split;
    shares task_shares;
  };
  const expectation cases[] = {
      {planes(1, 2, 257 * 256, 2), 2, false, shares::fixed},      // two units of 257 KiB on two threads: one each
      {planes(2, 2, 257 * 256, 2), 2, false, shares::balanced},   // four: two each
      {planes(1, 2, 512 * 512, 2), 2, false, shares::balanced},   // units of 1 MiB
      {planes(1, 3, 512 * 512, 2), 2, true, shares::balanced},    // three units on two threads (planes)
      {planes(1, 4, 1024 * 1024, 2), 2, true, shares::balanced},  // units of 4 MiB
      {planes(1, 2, 257 * 256, 16), 4, true, shares::fixed},      // two units on four threads (1 MiB)
      {planes(8, 2, 257 * 256, 2), 2, false, shares::balanced},   // sixteen units: whole units whatever their size
      {samples(1, 128, 64 * 64, 2), 2, true, shares::fixed},      // one NHWC pair of 1 MiB units, 4 MiB in all
      {samples(1, 128, fixed_most, 2), 2, true, shares::fixed},   // 8 MiB in all
      {samples(1, 128, fixed_most + 1, 2), 2, true, shares::balanced},  // more
      {samples(1, 2, 512 * 1024, 2), 2, true, shares::balanced}};       // one NHWC unit of two channels: no pair
  for (const expectation& e : cases) {
    CAPTURE(e.p.n, e.p.c, e.p.m, e.p.max_threads);
    const auto w = varnorm::detail::make_work_plan(e.p, direction::forward, varnorm::detail::active_kernels());
    const schedule s = choose_schedule(w, e.p, warm_pool);
    REQUIRE(s.threads == e.threads);
    CHECK(s.split_tiles == e.split);
    CHECK((s.task_shares == shares::fixed) == (e.task_shares == shares::fixed));
  }
}

TEST_CASE("the output streams from 12 MiB of arrays on one thread, from 48 MiB on several", "[plan][threads]") {
  // Forward: x and y; backward: x, dy and dx. Single planes of 1.5 Mi and 6 Mi values (12 and 48 MiB forward), and
  // of 1 Mi values backward (12 MiB), give the edges.
  struct expectation {
    problem p;
    direction d;
    bool one_thread, several;
  };
  const std::int64_t mega = 1024 * 1024;
  const expectation cases[] = {{planes(1, 4, mega, 1), direction::forward, true, false},   // 32 MiB
                               {planes(1, 3, mega, 1), direction::backward, true, false},  // 36 MiB
                               {planes(1, 2, mega, 1), direction::forward, true, false},   // 16 MiB
                               {planes(1, 1, mega, 1), direction::forward, false, false},  // 8 MiB
                               {planes(1, 1, 3 * mega / 2, 1), direction::forward, true, false},
                               {planes(1, 1, 3 * mega / 2 - 1, 1), direction::forward, false, false},
                               {planes(1, 1, mega, 1), direction::backward, true, false},
                               {planes(1, 1, mega - 1, 1), direction::backward, false, false},
                               {planes(1, 1, 6 * mega, 1), direction::forward, true, true},
                               {planes(1, 1, 6 * mega - 1, 1), direction::forward, true, false}};
  const bool threads = varnorm::detail::thread_budget(2) > 1;
  if (!threads) WARN("one thread here (a build without TBB): only the one-thread rule is checked");
  for (const expectation& e : cases) {
    for (int max_threads : {1, 2}) {
      CAPTURE(e.p.c, e.p.m, e.d == direction::forward, max_threads);
      problem p = e.p;
      p.max_threads = max_threads;
      const auto w = varnorm::detail::make_work_plan(p, e.d, varnorm::detail::active_kernels());
      const schedule s = choose_schedule(w, p, warm_pool);
      CHECK(s.stream_output == (s.threads > 1 ? e.several : e.one_thread));
      if (threads && max_threads == 2) CHECK(s.threads == 2);
    }
  }
}

#ifdef VARNORM_TEST_WITH_TBB
TEST_CASE("the pool is warm right after a call with a thread budget, and cold after an idle period", "[threads][tbb]") {
  const auto idle = std::chrono::microseconds(4 * varnorm::detail::kPoolWarmMicroseconds);
  std::this_thread::sleep_for(idle);
  CHECK_FALSE(varnorm::detail::pool_recently_called());
  // A call without a thread budget leaves the pool cold.
  { const varnorm::detail::pool_call_scope serial_call(false); }
  CHECK_FALSE(varnorm::detail::pool_recently_called());
  CHECK(warm_right_after([] { const varnorm::detail::pool_call_scope threaded_call(true); }));
  std::this_thread::sleep_for(idle);
  CHECK_FALSE(varnorm::detail::pool_recently_called());
}
#endif
