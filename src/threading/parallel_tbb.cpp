#include <algorithm>
#include <atomic>
#include <chrono>
#include <limits>
#include <memory>
#include <mutex>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#include "threading/parallel.hpp"

namespace varnorm::detail {
namespace {

// Largest arena kept; a larger max_threads gets this many threads, which still honours "at most k".
constexpr int kMaxArenaThreads = 256;

// One arena per requested size, created on first use and kept for the life of the process (never
// destroyed, so no static-destruction order issue with TBB's own globals). A plain array rather than a
// map keeps std:: template instances (weak symbols) out of the archive.
tbb::task_arena* arena_for(int threads) {
  static std::mutex guard;
  static tbb::task_arena* arenas[kMaxArenaThreads + 1] = {};
  threads = std::min(threads, kMaxArenaThreads);
  std::lock_guard<std::mutex> lock(guard);
  tbb::task_arena*& slot = arenas[threads];
  if (slot == nullptr) {
    auto created = std::make_unique<tbb::task_arena>(threads);
    created->initialize();
    slot = created.release();
  }
  return slot;
}

using pool_clock = std::chrono::steady_clock;

// pool_clock ticks at the end of the last call with a thread budget above 1. Relaxed: a stale value only
// changes which schedule a call takes, and every schedule gives the same bits.
std::atomic<pool_clock::rep> last_pool_call_end{std::numeric_limits<pool_clock::rep>::min()};

// `context` carries the caller's floating-point settings; tasks run under them on every thread.
void run_in_current_arena(std::int64_t count, std::int64_t grain, int threads, range_body body, shares how,
                          tbb::task_group_context& context) {
  if (how == shares::fixed) {
    // One index per share, so that no more than `threads` threads take part whatever the arena's size.
    const std::int64_t parts = std::min<std::int64_t>(threads, count);
    auto run = [body, count, parts](const tbb::blocked_range<std::int64_t>& r) {
      for (std::int64_t part = r.begin(); part < r.end(); ++part)
        body.run(body.context, part * count / parts, (part + 1) * count / parts);
    };
    tbb::parallel_for(tbb::blocked_range<std::int64_t>(0, parts, 1), run, tbb::static_partitioner(), context);
    return;
  }
  const tbb::blocked_range<std::int64_t> range(0, count, static_cast<std::size_t>(std::max<std::int64_t>(grain, 1)));
  auto run = [body](const tbb::blocked_range<std::int64_t>& r) { body.run(body.context, r.begin(), r.end()); };
  tbb::parallel_for(range, run, tbb::simple_partitioner(), context);
}

}  // namespace

int thread_budget(int max_threads) noexcept {
  if (max_threads == 1) return 1;
  const int available = tbb::this_task_arena::max_concurrency();
  if (max_threads == 0) return std::max(available, 1);
  return std::min(max_threads, kMaxArenaThreads);
}

bool pool_recently_called() noexcept {
  constexpr pool_clock::duration warm = std::chrono::microseconds(kPoolWarmMicroseconds);
  return last_pool_call_end.load(std::memory_order_relaxed) > (pool_clock::now() - warm).time_since_epoch().count();
}

pool_call_scope::~pool_call_scope() {
  if (active_) last_pool_call_end.store(pool_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
}

void parallel_for(std::int64_t count, std::int64_t grain, thread_use use, range_body body, shares how) noexcept {
  if (count <= 0) return;
  if (use.max_threads == 1 || use.threads <= 1 || count == 1) {
    body.run(body.context, 0, count);
    return;
  }
  // TBB reports failure (out of memory for tasks or threads) by exceptions; none may leave the library.
  // The caller has allocated everything it needs before calling, so such a failure is treated as fatal.
  //
  // The settings (FTZ/DAZ, rounding) are captured here, on the calling thread: inside task_arena::execute
  // the thread already runs under the settings the arena was created with, which belong to whichever thread
  // first asked for that arena.
  tbb::task_group_context context;
  context.capture_fp_settings();
  if (use.max_threads == 0) {
    run_in_current_arena(count, grain, use.threads, body, how, context);
    return;
  }
  const int threads = std::min(use.threads, use.max_threads);
  arena_for(threads)->execute([&] { run_in_current_arena(count, grain, threads, body, how, context); });
}

}  // namespace varnorm::detail
