// The tasks threads share over a call's units (plan/work_plan.hpp, unit_task_count and unit_task_range), on the
// rule itself: in memory order they cover every unit once, consecutive tasks are adjacent, and with pairs no
// task parts two units that run_units walks abreast (a sample's units 2k and 2k + 1), which a split into single
// units did and which the public API cannot show but in time.
#include <catch2/catch.hpp>

#include <cstdint>

#include "plan/work_plan.hpp"

namespace {

using varnorm::detail::next_in_sample;
using varnorm::detail::unit_range;
using varnorm::detail::unit_task_count;
using varnorm::detail::unit_task_range;
using varnorm::detail::work_plan;

// A plan of `samples` samples with `spans` units each (one key per span).
work_plan units_of(std::int64_t samples, std::int64_t spans) {
  work_plan w;
  w.samples = samples;
  w.keys = spans;
  w.keys_per_span = 1;
  return w;
}

}  // namespace

TEST_CASE("tasks over units cover every unit once in memory order and never part a pair", "[plan][threads]") {
  for (std::int64_t samples : {1, 2, 3, 8}) {
    for (std::int64_t spans : {1, 2, 3, 4, 5}) {
      work_plan w = units_of(samples, spans);
      for (bool pairs : {false, true}) {
        w.paired_units = pairs;
        CAPTURE(samples, spans, pairs);
        const std::int64_t tasks = unit_task_count(w);
        std::int64_t next = 0;
        for (std::int64_t t = 0; t < tasks; ++t) {
          const unit_range r = unit_task_range(w, t, t + 1);
          CHECK(r.begin == next);
          REQUIRE(r.end > r.begin);
          next = r.end;
          if (!pairs) {
            CHECK(r.end - r.begin == 1);
          } else if (r.end - r.begin == 2) {
            CHECK(r.begin % spans % 2 == 0);  // a pair starts at an even unit of its sample
            CHECK(next_in_sample(w, r.begin, r.end));
          } else {
            CHECK(r.end - r.begin == 1);
            CHECK(r.begin % spans == spans - 1);  // alone only as the last unit of a sample of odd units
          }
        }
        CHECK(next == w.units());
        // A range of tasks is the units of its first task up to those of its last.
        for (std::int64_t first = 0; first < tasks; ++first) {
          for (std::int64_t end = first + 1; end <= tasks; ++end) {
            const unit_range r = unit_task_range(w, first, end);
            CHECK(r.begin == unit_task_range(w, first, first + 1).begin);
            CHECK(r.end == unit_task_range(w, end - 1, end).end);
          }
        }
      }
    }
  }
}
