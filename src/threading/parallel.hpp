// The only door to threads. Built with oneTBB (VARNORM_WITH_TBB) or serial; nothing else in the library
// includes TBB.
#pragma once

#include <cstdint>

namespace varnorm::detail {

// Threads a call with this max_threads may use: 1 without TBB or for max_threads == 1; for 0 the
// concurrency of the caller's current task arena; for k, at most k.
int thread_budget(int max_threads) noexcept;

// TBB's workers spin for a while after their last task and then sleep; waking a sleeping one costs the caller
// tens of microseconds, and it often joins too late to take a share. The library keeps, process-wide, when its
// last call with a thread budget above 1 ended (a steady_clock read, through the vDSO where the kernel offers
// one), and counts the pool as warm for this long after.
inline constexpr std::int64_t kPoolWarmMicroseconds = 200;
bool pool_recently_called() noexcept;

// Notes, when it goes out of scope, the end of a call with a thread budget above 1 (`active`).
class pool_call_scope {
 public:
  explicit pool_call_scope(bool active) noexcept : active_(active) {}
  pool_call_scope(const pool_call_scope&) = delete;
  pool_call_scope& operator=(const pool_call_scope&) = delete;
  ~pool_call_scope();

 private:
  bool active_;
};

// A borrowed callable: body(begin, end) for a sub-range of [0, count).
struct range_body {
  void* context;
  void (*run)(void* context, std::int64_t begin, std::int64_t end) noexcept;
};

// How parallel_for shares [0, count) among threads. balanced: ranges are taken as threads come (a late or slow
// thread takes less). fixed: [0, count) is cut into `threads` equal contiguous shares, one per thread of the
// arena (TBB's static partitioner), the same on every call, so that over two passes and successive calls the same
// thread touches the same data.
enum class shares { balanced, fixed };

// The threads of one call: max_threads as the caller gave it (0: the caller's current arena; k > 1: a reused
// arena of the library's), and how many of them the schedule uses (at most thread_budget(max_threads)).
struct thread_use {
  int max_threads = 1;
  int threads = 1;
};

// Calls body over [0, count), on up to `use.threads` threads, with the caller's floating-point settings
// (FTZ/DAZ, rounding) in every worker: balanced shares in ranges of at most `grain` indices, fixed shares one range
// per thread. With max_threads k > 1 the call runs in an arena of `use.threads`; with 0, in the caller's arena, where
// fixed shares keep it to `use.threads` threads. Returns only when all ranges are done. Which thread runs which
// range must not matter to the caller.
void parallel_for(std::int64_t count, std::int64_t grain, thread_use use, range_body body,
                  shares how = shares::balanced) noexcept;

template <class F>
void parallel_for(std::int64_t count, std::int64_t grain, thread_use use, F& f,
                  shares how = shares::balanced) noexcept {
  range_body body{&f, [](void* c, std::int64_t b, std::int64_t e) noexcept { (*static_cast<F*>(c))(b, e); }};
  parallel_for(count, grain, use, body, how);
}

}  // namespace varnorm::detail
