// Edge values and their defined results (the table in test/edge/README.md), on every supported kernel set
// and both statistics algorithms.
#include <varnorm/varnorm.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "support/cases.hpp"
#include "support/compare.hpp"
#include "support/fp_env.hpp"
#include "support/isa.hpp"
#include "support/oracle.hpp"
#include "support/tolerance.hpp"

using namespace varnorm_test;

namespace {

constexpr float kMax = std::numeric_limits<float>::max();
constexpr float kDenormMin = std::numeric_limits<float>::denorm_min();
constexpr float kInf = std::numeric_limits<float>::infinity();

// Forward on `c` within the accuracy bound of the long double oracle, element by element.
void require_forward_matches_oracle(const layer_case& c, const forward_outputs& o) {
  const oracle_forward_result fwd = oracle_forward(c.desc, c.x.data(), c.alpha.data(), c.beta_or_null());
  const forward_bounds b = forward_error_bounds(c, fwd);
  CHECK(worst_error_ratio(o.y, fwd.y, b.y) <= 1.0);
  std::vector<real> rstd;
  for (const oracle_plane& p : fwd.planes) rstd.push_back(p.rstd);
  CHECK(worst_error_ratio(o.rstd, rstd, b.rstd) <= 1.0);
}

layer_case plane_case(std::int64_t h, std::int64_t w, varnorm_algorithm algorithm, float eps,
                      const std::vector<float>& x, float alpha = 1.0f) {
  layer_case c;
  c.desc = make_desc(1, 1, h, w, VARNORM_LAYOUT_NCHW, algorithm, 1, false, eps);
  c.desc.max_threads = 1;
  c.x = x;
  c.alpha = {alpha};
  c.dy.assign(x.size(), 1.0f);
  return c;
}

}  // namespace

TEST_CASE("edge: |x| up to 1e30, where x*x overflows float, gives the finite oracle result", "[edge]") {
  for (const std::string& isa : supported_isas()) {
    isa_scope scope(isa);
    REQUIRE(scope.ok());
    for (varnorm_algorithm algorithm : kAllAlgorithms) {
      for (std::int64_t m : {2, 17, 100, 1000}) {
        CAPTURE(isa, algorithm, m);
        layer_case c = make_case(make_desc(2, 3, 1, m, VARNORM_LAYOUT_NCHW, algorithm, 1, false), true, 7);
        // Spread about 1e29 around +-1e30: the squares (1e58) are far beyond float.
        for (float& v : c.x) v = v * 1e29f + (v > 0 ? 1e30f : -1e30f);
        const forward_outputs o = run_forward(c);
        REQUIRE(o.status == VARNORM_OK);
        for (float y : o.y) CHECK(std::isfinite(y));
        require_forward_matches_oracle(c, o);
      }
    }
  }
}

TEST_CASE("edge: subnormal inputs give the IEEE (gradual underflow) result", "[edge]") {
  for (const std::string& isa : supported_isas()) {
    isa_scope scope(isa);
    REQUIRE(scope.ok());
    for (varnorm_algorithm algorithm : kAllAlgorithms) {
      for (float eps : {1e-5f, 1e-30f}) {
        CAPTURE(isa, algorithm, eps);
        std::vector<float> x(40);
        for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(static_cast<int>(i % 7) - 3) * 1e-39f;
        const layer_case c = plane_case(5, 8, algorithm, eps, x);
        const forward_outputs o = run_forward(c);
        REQUIRE(o.status == VARNORM_OK);
        require_forward_matches_oracle(c, o);
      }
    }
  }
}

// The variance of a plane spread over 1e-39 is about 1e-78, far below float's range: with eps = 0 only a
// computation that does not square in float gets rstd (about 1e39) right.
TEST_CASE("edge: subnormal and tiny planes with eps = 0 give the oracle result, not 0 * inf", "[edge]") {
  for (const std::string& isa : supported_isas()) {
    isa_scope scope(isa);
    REQUIRE(scope.ok());
    for (varnorm_algorithm algorithm : kAllAlgorithms) {
      for (float unit : {kDenormMin, 1e-39f, 1e-25f}) {
        CAPTURE(isa, algorithm, unit);
        std::vector<float> x(24);
        for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(static_cast<int>(i % 3) - 1) * unit;
        const layer_case c = plane_case(4, 6, algorithm, 0.0f, x);
        const forward_outputs o = run_forward(c);
        REQUIRE(o.status == VARNORM_OK);
        for (float y : o.y) CHECK(std::isfinite(y));
        require_forward_matches_oracle(c, o);
      }
    }
  }
}

#ifdef VARNORM_TEST_HAVE_MXCSR
TEST_CASE("edge: with the caller's FTZ/DAZ set, subnormal inputs read as 0 and no output is subnormal", "[edge]") {
  std::vector<float> x(64);
  for (std::size_t i = 0; i < x.size(); ++i)
    x[i] = i % 2 == 0 ? static_cast<float>(i % 10) * 1e-39f : 1.0f + static_cast<float>(i) * 0.25f;
  if (!flush_to_zero_works()) {
    WARN("FTZ/DAZ not honoured on this machine or emulator (valgrind?): nothing to check");
    return;
  }
  std::vector<float> flushed = x;
  for (float& v : flushed)
    if (std::fpclassify(v) == FP_SUBNORMAL) v = 0.0f;
  for (const std::string& isa : supported_isas()) {
    isa_scope scope(isa);
    REQUIRE(scope.ok());
    for (varnorm_algorithm algorithm : kAllAlgorithms) {
      for (int threads : {1, 2}) {
        CAPTURE(isa, algorithm, threads);
        layer_case c = plane_case(8, 8, algorithm, 1e-5f, x);
        c.desc.max_threads = threads;
        forward_outputs o;
        {
          flush_denormals_scope ftz_daz;
          o = run_forward(c);
        }
        REQUIRE(o.status == VARNORM_OK);
        for (float y : o.y) CHECK(std::fpclassify(y) != FP_SUBNORMAL);
        // As if the caller had passed the flushed values, with results below the normal range flushed.
        layer_case as_flushed = c;
        as_flushed.x = flushed;
        const oracle_forward_result fwd =
            oracle_forward(as_flushed.desc, flushed.data(), c.alpha.data(), static_cast<const float*>(nullptr));
        const forward_bounds b = forward_error_bounds(as_flushed, fwd);
        for (std::size_t i = 0; i < o.y.size(); ++i) {
          CAPTURE(i, o.y[i], static_cast<double>(fwd.y[i]));
          const double want = static_cast<double>(fwd.y[i]);
          if (std::fabs(want) < static_cast<double>(std::numeric_limits<float>::min()) && o.y[i] == 0.0f) continue;
          CHECK(std::fabs(static_cast<double>(o.y[i]) - want) <= b.y[i]);
        }
      }
    }
  }
}
#endif

TEST_CASE("edge: a plane of identical values has variance exactly 0", "[edge]") {
  for (const std::string& isa : supported_isas()) {
    isa_scope scope(isa);
    REQUIRE(scope.ok());
    for (varnorm_algorithm algorithm : kAllAlgorithms) {
      for (varnorm_layout layout : {VARNORM_LAYOUT_NCHW, VARNORM_LAYOUT_NHWC}) {
        for (std::int64_t m : {2, 15, 16, 17, 129, 40000}) {
          for (float value : {0.1f, -1000.5f, 3e20f, kDenormMin}) {
            CAPTURE(isa, algorithm, layout, m, value);
            const float eps = 1e-5f;
            varnorm_desc d = make_desc(1, 3, 1, m, layout, algorithm, 1, false, eps);
            layer_case c = make_case(d, false, 1);
            for (float& v : c.x) v = value;
            const forward_outputs o = run_forward(c);
            REQUIRE(o.status == VARNORM_OK);
            // var = 0 exactly: rstd is 1/sqrt(eps), rounded once.
            const float want = static_cast<float>(1.0 / std::sqrt(static_cast<double>(eps)));
            for (float r : o.rstd) CHECK(r == want);
          }
        }
      }
    }
  }
}

TEST_CASE("edge: eps = 0 and a constant plane give rstd = +inf and y = +-inf, or NaN for 0 * inf", "[edge]") {
  for (const std::string& isa : supported_isas()) {
    isa_scope scope(isa);
    REQUIRE(scope.ok());
    for (varnorm_algorithm algorithm : kAllAlgorithms) {
      for (float value : {2.5f, -2.5f, 0.0f}) {
        for (float alpha : {1.0f, -3.0f, 0.0f}) {
          CAPTURE(isa, algorithm, value, alpha);
          const layer_case c = plane_case(3, 7, algorithm, 0.0f, std::vector<float>(21, value), alpha);
          const forward_outputs o = run_forward(c);
          REQUIRE(o.status == VARNORM_OK);
          CHECK(o.rstd[0] == kInf);
          CHECK(o.mean[0] == value);
          // IEEE: alpha * inf is NaN for alpha = 0, else +-inf; times x: NaN for x = 0.
          const bool nan = value == 0.0f || alpha == 0.0f;
          const bool negative = (value < 0) != (alpha < 0);
          for (float y : o.y) {
            if (nan) {
              CHECK(std::isnan(y));
            } else {
              CHECK(y == (negative ? -kInf : kInf));
            }
          }
        }
      }
    }
  }
}

TEST_CASE("edge: results beyond float range are IEEE infinities, a scale beyond it with y inside is exact", "[edge]") {
  // x = {a, a(1 + 2^-23)}: var (correction 1) = a^2 * 2^-47, so with eps = 0 rstd = 2^23.5 / a.
  const float a = std::ldexp(1.0f, -20);
  const std::vector<float> x = {a, a * (1.0f + std::ldexp(1.0f, -23))};
  for (const std::string& isa : supported_isas()) {
    isa_scope scope(isa);
    REQUIRE(scope.ok());
    for (varnorm_algorithm algorithm : kAllAlgorithms) {
      CAPTURE(isa, algorithm);
      // alpha * rstd = 2^143.5 overflows float, y = x * that = 2^123.5 does not.
      const layer_case inside = plane_case(1, 2, algorithm, 0.0f, x, std::ldexp(1.0f, 100));
      const forward_outputs o = run_forward(inside);
      REQUIRE(o.status == VARNORM_OK);
      for (float y : o.y) CHECK(std::isfinite(y));
      require_forward_matches_oracle(inside, o);
      // alpha 2^110 (and its negative): y = 2^133.5 is beyond float, so +-inf.
      for (float sign : {1.0f, -1.0f}) {
        const layer_case beyond = plane_case(1, 2, algorithm, 0.0f, x, sign * std::ldexp(1.0f, 110));
        const forward_outputs b = run_forward(beyond);
        REQUIRE(b.status == VARNORM_OK);
        for (float y : b.y) CHECK(y == sign * kInf);
      }
      // Largest finite x with a tiny relative spread: the exact y is finite and correct.
      const layer_case top = plane_case(1, 2, algorithm, 0.0f, {kMax, std::nextafter(kMax, 0.0f)}, 1e-30f);
      const forward_outputs t = run_forward(top);
      REQUIRE(t.status == VARNORM_OK);
      require_forward_matches_oracle(top, t);
    }
  }
}

// The same double path for a block of several small NCHW planes (walked as one group of planes) and for groups
// with the mean subtracted: every plane's y at its own place (it once wrote plane c's values at p + c).
TEST_CASE("edge: a scale beyond float range in a group of small planes, or of a centred group, is exact per plane",
          "[edge]") {
  const float a = std::ldexp(1.0f, -20);
  for (const std::string& isa : supported_isas()) {
    isa_scope scope(isa);
    REQUIRE(scope.ok());
    for (int groups : {0, 2}) {
      for (varnorm_layout layout : {VARNORM_LAYOUT_NCHW, VARNORM_LAYOUT_NHWC}) {
        CAPTURE(isa, groups, layout);
        layer_case c;
        c.desc = make_desc(1, 4, 1, 2, layout, VARNORM_ALGORITHM_AUTO, 1, false, 0.0f);
        c.desc.max_threads = 1;
        c.desc.groups = groups;
        c.desc.center = groups > 0 ? 1 : 0;
        c.x.resize(8);
        for (std::int64_t ch = 0; ch < 4; ++ch) {  // x = {b, b(1 + 2^-23)}, b = a * 2^group: rstd 2^23.5 / b
          const float b = std::ldexp(a, static_cast<int>(groups > 0 ? ch / 2 : ch));
          c.x[static_cast<std::size_t>(element_offset(c.desc, 0, ch, 0))] = b;
          c.x[static_cast<std::size_t>(element_offset(c.desc, 0, ch, 1))] = b * (1.0f + std::ldexp(1.0f, -23));
        }
        c.alpha.assign(4, std::ldexp(1.0f, 100));  // alpha * rstd overflows float, y does not
        c.dy.assign(8, 1.0f);
        const forward_outputs o = run_forward(c);
        REQUIRE(o.status == VARNORM_OK);
        for (float y : o.y) CHECK(std::isfinite(y));
        require_forward_matches_oracle(c, o);
      }
    }
  }
}

TEST_CASE("edge: buffers at any float offset give the bits of aligned buffers", "[edge]") {
  const varnorm_desc shapes[] = {make_desc(1, 3, 5, 7, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false),
                                 make_desc(2, 5, 3, 3, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 1, true),
                                 make_desc(1, 67, 2, 9, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, false)};
  for (const std::string& isa : supported_isas()) {
    isa_scope scope(isa);
    REQUIRE(scope.ok());
    for (const varnorm_desc& d : shapes) {
      const layer_case c = make_case(d, true, 3);
      const forward_outputs aligned = run_forward(c);
      REQUIRE(aligned.status == VARNORM_OK);
      const backward_outputs aligned_grad = run_backward(c);
      REQUIRE(aligned_grad.status == VARNORM_OK);
      const std::size_t size = c.x.size();
      for (std::size_t offset = 1; offset < 17; ++offset) {
        CAPTURE(isa, d.c, offset);
        // Every buffer starts `offset` floats into its own allocation.
        std::vector<float> x(size + offset), dy(size + offset), y(size + offset), dx(size + offset);
        std::memcpy(x.data() + offset, c.x.data(), size * sizeof(float));
        std::memcpy(dy.data() + offset, c.dy.data(), size * sizeof(float));
        REQUIRE(varnorm_forward(&d, x.data() + offset, c.alpha.data(), c.beta.data(), y.data() + offset, nullptr,
                                nullptr) == VARNORM_OK);
        CHECK(bitwise_equal(std::vector<float>(y.begin() + static_cast<std::ptrdiff_t>(offset), y.end()), aligned.y));
        REQUIRE(varnorm_backward(&d, x.data() + offset, c.alpha.data(), dy.data() + offset, nullptr, nullptr,
                                 dx.data() + offset, nullptr, nullptr) == VARNORM_OK);
        CHECK(bitwise_equal(std::vector<float>(dx.begin() + static_cast<std::ptrdiff_t>(offset), dx.end()),
                            aligned_grad.dx));
      }
    }
  }
}
