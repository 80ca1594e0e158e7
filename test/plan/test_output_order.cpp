// Which units write their output tiles last first (plan/work_plan.hpp, kReversedOutputMinBytes), on the rule
// itself: a unit, or a pair of NHWC units walked abreast, that spans 512 KiB to 2 MiB of each input array, and
// only when it has several tiles; output_tile then visits every tile once, last first. Such units' outputs are
// checked against the oracle at every tile boundary in test_work_plan.cpp. And which forward pairs write a
// streamed output a few positions at a time, the two units in turn (work_plan::interleaved_pair_output); their
// bits are checked against regular stores in test/exec/test_streaming_output.cpp. And which units the kernel set
// computes in one call (work_plan::one_call_units; their bits: test/kernels/test_units.cpp).
#include <catch2/catch.hpp>

#include <cstdint>
#include <set>

#include "dispatch/isa_dispatch.hpp"
#include "plan/work_plan.hpp"

namespace {

using varnorm::detail::direction;
using varnorm::detail::problem;
using varnorm::detail::work_plan;

constexpr auto NCHW = VARNORM_LAYOUT_NCHW;
constexpr auto NHWC = VARNORM_LAYOUT_NHWC;

// n x c x m, G groups (0: one per channel), the mean subtracted with groups.
problem shape(std::int64_t n, std::int64_t c, std::int64_t m, varnorm_layout layout, std::int64_t groups = 0) {
  problem p;
  p.n = n;
  p.c = c;
  p.m = m;
  p.layout = layout;
  p.groups = groups > 0 ? groups : c;
  p.channels_per_group = c / p.groups;
  p.center = groups > 0;
  return p;
}

work_plan plan_of(const problem& p, direction d) {
  return varnorm::detail::make_work_plan(p, d, varnorm::detail::active_kernels());
}

}  // namespace

TEST_CASE("units of 512 KiB to 2 MiB per input array write their output last tile first", "[plan][output_order]") {
  struct expectation {
    problem p;
    bool forward_reversed, backward_reversed;
  };
  const expectation cases[] = {
      {shape(1, 128, 256 * 256, NCHW), false, false},    // planes of 256 KiB stay in L2 anyway
      {shape(1, 128, 256 * 256, NCHW, 32), true, true},  // GroupNorm(32): groups of 4 such planes, 1 MiB
      {shape(1, 2, 512 * 512, NCHW), true, true},        // planes of 1 MiB
      {shape(1, 4, 1024 * 1024, NCHW), false, false},    // planes of 4 MiB: little of them left in L2
      {shape(8, 64, 64 * 64, NHWC), true, true},         // one unit of 1 MiB per sample
      {shape(1, 128, 64 * 64, NHWC), true, true},        // two units of 1 MiB, walked abreast
      {shape(8, 128, 32 * 32, NHWC), true, true},        // two units of 256 KiB abreast
      {shape(1, 128, 256 * 256, NHWC), false, false},    // a pair spans 32 MiB
      {shape(16, 64, 128 * 128, NCHW), false, false},    // planes of one tile: nothing to reorder
      {shape(1, 4, 32769, NCHW, 1), true, true},         // LayerNorm over 4 planes of 2 tiles: 512 KiB + 16 bytes
      {shape(1, 4, 32767, NCHW, 1), false, false}};      // and 16 bytes short of 512 KiB
  for (const expectation& e : cases) {
    CAPTURE(e.p.n, e.p.c, e.p.m, e.p.layout, e.p.groups);
    const work_plan forward = plan_of(e.p, direction::forward), backward = plan_of(e.p, direction::backward);
    CHECK(forward.reversed_output == e.forward_reversed);
    CHECK(backward.reversed_output == e.backward_reversed);
    for (const work_plan& w : {forward, backward}) {
      std::set<std::int64_t> seen;
      for (std::int64_t i = 0; i < w.unit_tiles(); ++i) {
        const std::int64_t t = w.output_tile(i);
        CHECK(t == (w.reversed_output ? w.unit_tiles() - 1 - i : i));
        seen.insert(t);
      }
      CHECK(static_cast<std::int64_t>(seen.size()) == w.unit_tiles());
    }
  }
}

TEST_CASE("forward pairs that cover part of a row and span at most 1 MiB of x write their output in turns",
          "[plan][output_order]") {
  struct expectation {
    problem p;
    bool forward_interleaved;
  };
  const expectation cases[] = {
      {shape(8, 256, 32 * 32, NHWC), true},      // two pairs of 512 KiB, each half a row
      {shape(8, 256, 32 * 32, NHWC, 32), true},  // GroupNorm(32): groups of 8 channels, the same pairs
      {shape(8, 192, 32 * 32, NHWC), true},      // a pair and a unit alone
      {shape(8, 256, 2048, NHWC), true},         // pairs of exactly 1 MiB
      {shape(8, 256, 2049, NHWC), false},        // 512 bytes over
      {shape(8, 128, 32 * 32, NHWC), false},     // the pair covers whole rows
      {shape(1, 256, 128 * 128, NHWC), false},   // pairs of 8 MiB
      {shape(8, 256, 16 * 16, NHWC), false},     // one tile a unit: no pairs
      {shape(8, 256, 32 * 32, NCHW), false}};    // planes
  for (const expectation& e : cases) {
    CAPTURE(e.p.n, e.p.c, e.p.m, e.p.layout, e.p.groups);
    CHECK(plan_of(e.p, direction::forward).interleaved_pair_output == e.forward_interleaved);
    CHECK_FALSE(plan_of(e.p, direction::backward).interleaved_pair_output);
  }
}

TEST_CASE("units of one tile, and backward's NCHW groups of planes of one tile, take one kernel call",
          "[plan][output_order]") {
  struct expectation {
    problem p;
    bool forward, backward;
  };
  problem instance_norm = shape(8, 64, 16 * 16, NHWC);
  instance_norm.center = true;
  const expectation cases[] = {{shape(1, 128, 64 * 64, NCHW), true, true},       // a plane a unit
                               {shape(8, 256, 16 * 16, NCHW), true, true},       // groups of small planes
                               {shape(16, 64, 128 * 128, NCHW), true, true},     // planes of exactly one tile
                               {shape(1, 2, 257 * 256, NCHW), false, false},     // planes of three tiles
                               {shape(8, 64, 8 * 8, NHWC), true, true},          // a sample of 64 channels in one tile
                               {instance_norm, true, true},                      // centred, a group per channel
                               {shape(8, 128, 32 * 32, NHWC), false, false},     // channel groups of two tiles, paired
                               {shape(8, 128, 32 * 32, NCHW, 32), false, true},  // GroupNorm(32): four planes a group
                               {shape(1, 128, 64 * 64, NCHW, 32), false, true},  // four planes of 16 KiB
                               {shape(1, 128, 256 * 256, NCHW, 32), false, false},  // planes of two tiles
                               {shape(1, 256, 16 * 16, NCHW, 2), false, false},     // 128 planes a group: too many
                               {shape(1, 256, 8 * 8, NHWC, 2), false, false},       // an NHWC group of 128 channels
                               {shape(8, 256, 16 * 16, NHWC, 256), true, true}};    // G = C, centred
  for (const expectation& e : cases) {
    CAPTURE(e.p.n, e.p.c, e.p.m, e.p.layout, e.p.groups);
    CHECK(plan_of(e.p, direction::forward).one_call_units == e.forward);
    CHECK(plan_of(e.p, direction::backward).one_call_units == e.backward);
  }
}
