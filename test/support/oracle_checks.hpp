// The oracle results and accuracy bounds of one layer case, and the two comparisons the numerical tests
// make: a call's outputs against the long double oracle (within the bounds of support/tolerance.hpp), and
// one call's outputs against another's (each within the bound of the oracle, so within the sum of the two
// bounds of each other): one kernel set against another, or NHWC against NCHW.
#pragma once

#include <catch2/catch.hpp>

#include <vector>

#include "support/cases.hpp"
#include "support/oracle.hpp"
#include "support/tolerance.hpp"

namespace varnorm_test {

struct oracle_reference {
  oracle_forward_result fwd;
  oracle_backward_result bwd;
  forward_bounds fb;
  backward_bounds bb;
  std::vector<real> mean, rstd;  // per plane, as the library returns them
};

inline oracle_reference make_reference(const layer_case& c) {
  oracle_reference r;
  r.fwd = oracle_forward(c.desc, c.x.data(), c.alpha.data(), c.beta_or_null());
  // A constant plane (here: M = 1) has kappa = inf, which would make every bound of its plane infinite. Its
  // variance is promised exact (README: a constant plane has variance exactly 0), so any finite kappa gives
  // a bound the library must meet; 1 is the smallest kappa there is.
  for (oracle_plane& p : r.fwd.planes)
    if (p.m2 == 0) p.kappa = 1;
  r.bwd = oracle_backward(c.desc, c.x.data(), c.alpha.data(), c.dy.data());
  r.fb = forward_error_bounds(c, r.fwd);
  r.bb = backward_error_bounds(c, r.fwd, r.bwd);
  for (const oracle_plane& p : r.fwd.planes) {
    r.mean.push_back(p.mean);
    r.rstd.push_back(p.rstd);
  }
  return r;
}

inline std::vector<real> as_real(const std::vector<float>& v) { return std::vector<real>(v.begin(), v.end()); }

inline std::vector<double> twice(const std::vector<double>& bound) {
  std::vector<double> out(bound.size());
  for (std::size_t i = 0; i < bound.size(); ++i) out[i] = 2 * bound[i];
  return out;
}

// Forward outputs within the accuracy bound of the oracle.
inline void check_forward_matches_oracle(const forward_outputs& f, const oracle_reference& r) {
  CHECK(worst_error_ratio(f.y, r.fwd.y, r.fb.y) <= 1.0);
  CHECK(worst_error_ratio(f.mean, r.mean, r.fb.mean) <= 1.0);
  CHECK(worst_error_ratio(f.rstd, r.rstd, r.fb.rstd) <= 1.0);
}

// Backward outputs (computed with the statistics that forward returned) within the bound of the oracle.
inline void check_backward_matches_oracle(const backward_outputs& b, const oracle_reference& r) {
  CHECK(worst_error_ratio(b.dx, r.bwd.dx, r.bb.dx) <= 1.0);
  CHECK(worst_error_ratio(b.dalpha, r.bwd.dalpha, r.bb.dalpha) <= 1.0);
  CHECK(worst_error_ratio(b.dbeta, r.bwd.dbeta, r.bb.dbeta) <= 1.0);
}

// Forward, then backward with the statistics forward returned, each required to succeed and checked against
// the oracle.
struct layer_outputs {
  forward_outputs forward;
  backward_outputs backward;
};
inline layer_outputs run_checked_against_oracle(const layer_case& c, const oracle_reference& r) {
  layer_outputs o;
  o.forward = run_forward(c);
  REQUIRE(o.forward.status == VARNORM_OK);
  o.backward = run_backward(c, o.forward.mean.data(), o.forward.rstd.data());
  REQUIRE(o.backward.status == VARNORM_OK);
  check_forward_matches_oracle(o.forward, r);
  check_backward_matches_oracle(o.backward, r);
  return o;
}

// Forward outputs of one call within the sum of both bounds of another's.
inline void check_forward_agrees(const forward_outputs& f, const forward_outputs& reference,
                                 const oracle_reference& r) {
  CHECK(worst_error_ratio(f.y, as_real(reference.y), twice(r.fb.y)) <= 1.0);
  CHECK(worst_error_ratio(f.mean, as_real(reference.mean), twice(r.fb.mean)) <= 1.0);
  CHECK(worst_error_ratio(f.rstd, as_real(reference.rstd), twice(r.fb.rstd)) <= 1.0);
}

inline void check_backward_agrees(const backward_outputs& b, const backward_outputs& reference,
                                  const oracle_reference& r) {
  CHECK(worst_error_ratio(b.dx, as_real(reference.dx), twice(r.bb.dx)) <= 1.0);
  CHECK(worst_error_ratio(b.dalpha, as_real(reference.dalpha), twice(r.bb.dalpha)) <= 1.0);
  CHECK(worst_error_ratio(b.dbeta, as_real(reference.dbeta), twice(r.bb.dbeta)) <= 1.0);
}

}  // namespace varnorm_test
