// Catch2 checks that two calls' outputs are bitwise equal, each output its own check (a failure names it).
#pragma once

#include <catch2/catch.hpp>

#include "support/cases.hpp"
#include "support/compare.hpp"

namespace varnorm_test {

inline void check_same_bits(const forward_outputs& a, const forward_outputs& b) {
  CHECK(bitwise_equal(a.y, b.y));
  CHECK(bitwise_equal(a.mean, b.mean));
  CHECK(bitwise_equal(a.rstd, b.rstd));
}

inline void check_same_bits(const backward_outputs& a, const backward_outputs& b) {
  CHECK(bitwise_equal(a.dx, b.dx));
  CHECK(bitwise_equal(a.dalpha, b.dalpha));
  CHECK(bitwise_equal(a.dbeta, b.dbeta));
}

}  // namespace varnorm_test
