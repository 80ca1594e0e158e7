// threading/parallel.hpp's parallel_for. With TBB: fixed shares are exactly min(threads, count) equal contiguous
// ranges, run by at most that many threads, in the library's arena (max_threads k) and in the caller's
// (max_threads 0) alike; balanced shares cover every index once in ranges of at most the grain. In every build:
// one thread, or max_threads 1, runs the whole range on the calling thread.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "threading/parallel.hpp"

namespace {

using varnorm::detail::parallel_for;
using varnorm::detail::shares;
using varnorm::detail::thread_use;

// The ranges parallel_for handed out, and the threads that ran them.
struct recorded_calls {
  std::mutex guard;
  std::vector<std::pair<std::int64_t, std::int64_t>> ranges;
  std::set<std::thread::id> threads;

  void operator()(std::int64_t begin, std::int64_t end) noexcept {
    // Long enough that the other threads of the arena come for work, were there any left.
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    const std::lock_guard<std::mutex> lock(guard);
    ranges.emplace_back(begin, end);
    threads.insert(std::this_thread::get_id());
  }

  std::vector<std::pair<std::int64_t, std::int64_t>> sorted_ranges() {
    std::sort(ranges.begin(), ranges.end());
    return ranges;
  }
};

#ifdef VARNORM_TEST_WITH_TBB
// Every index of [0, count) in exactly one range.
bool covers_once(std::vector<std::pair<std::int64_t, std::int64_t>> ranges, std::int64_t count) {
  std::sort(ranges.begin(), ranges.end());
  std::int64_t next = 0;
  for (const auto& r : ranges) {
    if (r.first != next || r.second <= r.first) return false;
    next = r.second;
  }
  return next == count;
}
#endif

}  // namespace

#ifdef VARNORM_TEST_WITH_TBB
TEST_CASE("fixed shares are min(threads, count) equal contiguous ranges on at most that many threads", "[threads]") {
  for (int max_threads : {0, 3, 8}) {
    for (std::int64_t count : {1000, 7, 2}) {
      CAPTURE(max_threads, count);
      recorded_calls calls;
      parallel_for(count, 1, thread_use{max_threads, 3}, calls, shares::fixed);
      const std::int64_t parts = std::min<std::int64_t>(3, count);
      const auto ranges = calls.sorted_ranges();
      REQUIRE(static_cast<std::int64_t>(ranges.size()) == parts);
      for (std::int64_t part = 0; part < parts; ++part) {
        CHECK(ranges[static_cast<std::size_t>(part)].first == part * count / parts);
        CHECK(ranges[static_cast<std::size_t>(part)].second == (part + 1) * count / parts);
      }
      CHECK(static_cast<std::int64_t>(calls.threads.size()) <= parts);
    }
  }
}

TEST_CASE("balanced shares cover every index once, in ranges of at most the grain", "[threads]") {
  for (int max_threads : {0, 2, 8}) {
    CAPTURE(max_threads);
    recorded_calls calls;
    parallel_for(100, 10, thread_use{max_threads, 8}, calls);
    CHECK(covers_once(calls.ranges, 100));
    for (const auto& r : calls.ranges) CHECK(r.second - r.first <= 10);
  }
}

#endif

TEST_CASE("one thread, or max_threads 1, runs the whole range on the calling thread", "[threads]") {
  for (const thread_use use : {thread_use{1, 8}, thread_use{0, 1}, thread_use{8, 1}}) {
    for (const shares how : {shares::balanced, shares::fixed}) {
      CAPTURE(use.max_threads, use.threads, how == shares::fixed);
      recorded_calls calls;
      parallel_for(100, 10, use, calls, how);
      REQUIRE(calls.ranges.size() == 1);
      CHECK(calls.ranges[0] == std::make_pair(std::int64_t{0}, std::int64_t{100}));
      CHECK(*calls.threads.begin() == std::this_thread::get_id());
    }
  }
}
