// Forward and backward against the long double oracle (test/support/oracle.hpp) on random shapes with fixed
// seeds, on every kernel set this machine has and every algorithm, within the bounds of
// test/support/tolerance.hpp; and the properties the formulas imply: both layouts agree, eps = 0 makes y
// invariant under power-of-two scaling of x, correction 1 and 0 differ by M/(M-1), and the backward formula
// is the derivative of the forward (central differences in long double). Each also for groups of channels
// with and without the mean subtracted (GroupNorm, LayerNorm, InstanceNorm2d).
#include <varnorm/varnorm.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "support/cases.hpp"
#include "support/compare.hpp"
#include "support/isa.hpp"
#include "support/oracle.hpp"
#include "support/oracle_checks.hpp"
#include "support/same_bits.hpp"
#include "support/tolerance.hpp"

using namespace varnorm_test;

namespace {

// Random valid descriptors (fixed seed), plus shapes that reach the kernels' less common paths: NHWC with
// more channels than one group holds (64), channel counts that are not a SIMD width, planes of 1 and 2.
std::vector<varnorm_desc> random_shapes(std::uint64_t seed, int count) {
  std::mt19937_64 rng(seed);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  std::vector<varnorm_desc> out;
  for (int i = 0; i < count; ++i) {
    const int correction = pick(0, 1);
    std::int64_t h = pick(1, 12), w = pick(1, 12);
    if (h * w <= correction) w = 2;
    const auto layout = static_cast<varnorm_layout>(pick(0, 1));
    out.push_back(make_desc(pick(1, 3), pick(1, 20), h, w, layout, VARNORM_ALGORITHM_AUTO, correction, pick(0, 1) != 0,
                            pick(0, 1) != 0 ? 1e-5f : 0.25f));
  }
  out.push_back(make_desc(2, 70, 5, 3, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 1, false));
  out.push_back(make_desc(1, 129, 3, 7, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, true));
  out.push_back(make_desc(1, 3, 33, 17, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false));
  out.push_back(make_desc(2, 3, 33, 17, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, false));
  out.push_back(make_desc(3, 5, 1, 1, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 0, true));
  out.push_back(make_desc(3, 5, 1, 2, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 1, false));
  return out;
}

// Grouped and centred descriptors (GroupNorm, LayerNorm, InstanceNorm2d, and VarianceNorm2d's statistics over
// groups): random shapes and group counts (fixed seed), center alternating, plus the shapes that reach the
// kernels' and the plan's less common paths with groups: G = 1 (LayerNorm), G = C/4, G = 32, C = 12 G = 3,
// planes of 1 x 257, planes 4x4 .. 64x64, NHWC with C > 64 in one group (C = 256, G = 1 and 2; C = 96 G = 1),
// InstanceNorm2d (G = 0, center 1) with C > 64, C/G = 1 through groups = C. Layout as given (tests run both).
std::vector<varnorm_desc> grouped_shapes(std::uint64_t seed, int count) {
  std::mt19937_64 rng(seed);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  std::vector<varnorm_desc> out;
  for (int i = 0; i < count; ++i) {
    const int correction = pick(0, 1);
    const std::int64_t c = pick(1, 40);
    std::vector<int> divisors;
    for (int g = 1; g <= c; ++g)
      if (c % g == 0) divisors.push_back(g);
    const int groups = divisors[static_cast<std::size_t>(pick(0, static_cast<int>(divisors.size()) - 1))];
    std::int64_t h = pick(1, 12), w = pick(1, 12);
    if ((c / groups) * h * w <= correction) w = 2;
    out.push_back(with_groups(make_desc(pick(1, 3), c, h, w, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, correction,
                                        pick(0, 1) != 0, pick(0, 1) != 0 ? 1e-5f : 0.25f),
                              groups, i % 2 == 0));
  }
  struct fixed {
    std::int64_t n, c, h, w;
    std::int32_t groups;
    bool center;
    int correction;
    bool per_sample;
  };
  const fixed shapes[] = {{2, 8, 5, 7, 1, true, 0, false},    // LayerNorm
                          {2, 16, 4, 4, 4, true, 0, true},    // G = C/4
                          {1, 64, 4, 4, 32, true, 1, false},  // G = 32
                          {2, 12, 3, 5, 3, false, 1, false},  // C = 12, G = 3
                          {2, 12, 1, 257, 3, true, 0, true},  // 1 x 257 planes
                          {1, 8, 8, 8, 2, true, 0, false},    // planes 4x4 .. 64x64
                          {2, 4, 16, 16, 1, false, 1, true},  //
                          {1, 8, 32, 32, 4, true, 1, false},  //
                          {1, 4, 64, 64, 2, true, 0, false},  //
                          {1, 256, 3, 3, 1, true, 0, false},  // NHWC: C > 64 and C/G > 64
                          {2, 256, 2, 3, 2, true, 1, true},   //
                          {2, 96, 2, 5, 1, false, 0, false},  //
                          {2, 128, 3, 2, 0, true, 0, false},  // InstanceNorm2d, C > 64
                          {3, 5, 1, 1, 5, true, 0, true},     // InstanceNorm2d through groups = C, planes of one value
                          {2, 6, 1, 1, 2, true, 1, false},    // planes of one value, three to a group
                          {2, 33, 4, 5, 11, false, 1, false}};  // C/G = 3, not a SIMD width
  for (const fixed& f : shapes)
    out.push_back(with_groups(
        make_desc(f.n, f.c, f.h, f.w, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, f.correction, f.per_sample),
        f.groups, f.center));
  return out;
}

// var of each plane from the rstd the library returned with eps = 0, in double.
std::vector<double> variance_from_rstd(const std::vector<float>& rstd) {
  std::vector<double> var(rstd.size());
  for (std::size_t i = 0; i < rstd.size(); ++i)
    var[i] = 1.0 / (static_cast<double>(rstd[i]) * static_cast<double>(rstd[i]));
  return var;
}

}  // namespace

TEST_CASE("forward and backward match the long double oracle within the accuracy bound on random shapes, "
          "every layout, correction, affine mode, bias, algorithm and ISA",
          "[oracle]") {
  const auto isas = supported_isas();
  std::uint64_t seed = 100;
  for (const varnorm_desc& shape : random_shapes(1, 24)) {
    layer_case c = make_case(shape, /*with_beta=*/(seed % 2) == 0, seed);
    ++seed;
    const oracle_reference ref = make_reference(c);
    for (const std::string& isa : isas) {
      isa_scope scope(isa);
      REQUIRE(scope.ok());
      for (varnorm_algorithm algorithm : kAllAlgorithms) {
        c.desc.algorithm = algorithm;
        CAPTURE(isa, algorithm, c.desc.n, c.desc.c, c.desc.h, c.desc.w, c.desc.layout, c.desc.correction,
                c.desc.per_sample_affine, c.desc.eps, c.beta.size());
        run_checked_against_oracle(c, ref);
      }
    }
  }
}

TEST_CASE("grouped and centred modes match the long double oracle within the accuracy bound on random shapes and "
          "group counts, both layouts, every algorithm and ISA, saved and recomputed statistics give the same bits",
          "[oracle][groups]") {
  const auto isas = supported_isas();
  std::uint64_t seed = 1100;
  for (const varnorm_desc& shape : grouped_shapes(5, 24)) {
    for (varnorm_layout layout : {VARNORM_LAYOUT_NCHW, VARNORM_LAYOUT_NHWC}) {
      varnorm_desc d = shape;
      d.layout = layout;
      layer_case c = make_case(d, /*with_beta=*/(seed % 3) != 0, seed);
      ++seed;
      const oracle_reference ref = make_reference(c);
      for (const std::string& isa : isas) {
        isa_scope scope(isa);
        REQUIRE(scope.ok());
        for (varnorm_algorithm algorithm : kAllAlgorithms) {
          c.desc.algorithm = algorithm;
          CAPTURE(isa, algorithm, c.desc.n, c.desc.c, c.desc.h, c.desc.w, c.desc.groups, c.desc.center, c.desc.layout,
                  c.desc.correction, c.desc.per_sample_affine, c.desc.eps, c.beta.size());
          const layer_outputs o = run_checked_against_oracle(c, ref);
          const backward_outputs recomputed = run_backward(c);
          REQUIRE(recomputed.status == VARNORM_OK);
          check_same_bits(recomputed, o.backward);
        }
      }
    }
  }
}

TEST_CASE("NCHW and NHWC of the same data agree within the accuracy bound, statistics at the same index",
          "[oracle][layout]") {
  const auto isas = supported_isas();
  std::uint64_t seed = 300;
  std::vector<varnorm_desc> shapes = random_shapes(2, 10);
  for (const varnorm_desc& grouped : grouped_shapes(6, 6)) shapes.push_back(grouped);
  for (const varnorm_desc& shape : shapes) {
    varnorm_desc nchw_desc = shape;
    nchw_desc.layout = VARNORM_LAYOUT_NCHW;
    const layer_case nchw = make_case(nchw_desc, true, seed++);
    layer_case nhwc = nchw;
    nhwc.desc.layout = VARNORM_LAYOUT_NHWC;
    nhwc.x = relayout(nchw.desc, nchw.x, VARNORM_LAYOUT_NHWC);
    nhwc.dy = relayout(nchw.desc, nchw.dy, VARNORM_LAYOUT_NHWC);
    // Both are compared with one oracle (in NCHW order), so their difference is within the sum of the bounds.
    const oracle_reference ref = make_reference(nchw);
    for (const std::string& isa : isas) {
      isa_scope scope(isa);
      REQUIRE(scope.ok());
      CAPTURE(isa, shape.n, shape.c, shape.h, shape.w, shape.groups, shape.center, shape.correction,
              shape.per_sample_affine);
      const forward_outputs a = run_forward(nchw);
      forward_outputs b = run_forward(nhwc);
      REQUIRE(a.status == VARNORM_OK);
      REQUIRE(b.status == VARNORM_OK);
      b.y = relayout(nhwc.desc, b.y, VARNORM_LAYOUT_NCHW);  // mean and rstd have the same index in both
      check_forward_agrees(b, a, ref);

      const backward_outputs ga = run_backward(nchw, a.mean.data(), a.rstd.data());
      backward_outputs gb = run_backward(nhwc, b.mean.data(), b.rstd.data());
      REQUIRE(ga.status == VARNORM_OK);
      REQUIRE(gb.status == VARNORM_OK);
      gb.dx = relayout(nhwc.desc, gb.dx, VARNORM_LAYOUT_NCHW);
      check_backward_agrees(gb, ga, ref);
    }
  }
}

TEST_CASE("with eps = 0, scaling x by a power of two leaves y bitwise unchanged and scales mean and rstd exactly",
          "[oracle][scaling]") {
  const auto isas = supported_isas();
  std::uint64_t seed = 500;
  std::vector<varnorm_desc> shapes = random_shapes(3, 8);
  for (const varnorm_desc& grouped : grouped_shapes(7, 8)) shapes.push_back(grouped);
  for (varnorm_desc shape : shapes) {
    shape.eps = 0.0f;
    const layer_case base = make_case(shape, (seed % 2) == 0, seed);
    ++seed;
    for (const std::string& isa : isas) {
      isa_scope scope(isa);
      REQUIRE(scope.ok());
      for (varnorm_algorithm algorithm : kAllAlgorithms) {
        layer_case c = base;
        c.desc.algorithm = algorithm;
        const forward_outputs reference = run_forward(c);
        REQUIRE(reference.status == VARNORM_OK);
        // Exponents that keep every value and square within float's normal range for spreads 1e-3 .. 1e3.
        for (int exponent : {-20, -1, 1, 7, 30}) {
          CAPTURE(isa, algorithm, exponent, shape.n, shape.c, shape.h, shape.w, shape.groups, shape.center,
                  shape.layout);
          layer_case scaled = c;
          for (float& v : scaled.x) v = std::ldexp(v, exponent);
          const forward_outputs f = run_forward(scaled);
          REQUIRE(f.status == VARNORM_OK);
          CHECK(bitwise_equal(f.y, reference.y));
          std::vector<float> mean_back(f.mean.size()), rstd_back(f.rstd.size());
          for (std::size_t i = 0; i < f.mean.size(); ++i) {
            mean_back[i] = std::ldexp(f.mean[i], -exponent);
            rstd_back[i] = std::ldexp(f.rstd[i], exponent);
          }
          CHECK(bitwise_equal(mean_back, reference.mean));
          CHECK(bitwise_equal(rstd_back, reference.rstd));
        }
      }
    }
  }
}

TEST_CASE("correction 1 gives var0 * M / (M - 1): both match the oracle and their ratio is exact up to rstd's rounding",
          "[oracle][correction]") {
  const auto isas = supported_isas();
  std::uint64_t seed = 700;
  std::vector<varnorm_desc> shapes = random_shapes(4, 10);
  for (const varnorm_desc& grouped : grouped_shapes(8, 8)) shapes.push_back(grouped);
  for (varnorm_desc shape : shapes) {
    const std::int64_t m = group_channels(shape) * shape.h * shape.w;  // values per statistic
    if (m < 2) continue;
    shape.eps = 0.0f;
    shape.correction = 0;
    const layer_case c0 = make_case(shape, false, seed++);
    layer_case c1 = c0;
    c1.desc.correction = 1;
    const oracle_forward_result o0 = oracle_forward(c0.desc, c0.x.data(), c0.alpha.data(), c0.beta_or_null());
    const oracle_forward_result o1 = oracle_forward(c1.desc, c1.x.data(), c1.alpha.data(), c1.beta_or_null());
    for (std::size_t i = 0; i < o0.planes.size(); ++i) {
      const real expected = o0.planes[i].var * static_cast<real>(m) / static_cast<real>(m - 1);
      CHECK(std::fabs(static_cast<double>(o1.planes[i].var / expected - 1)) <= 1e-15);
    }
    for (const std::string& isa : isas) {
      isa_scope scope(isa);
      REQUIRE(scope.ok());
      for (varnorm_algorithm algorithm : kAllAlgorithms) {
        CAPTURE(isa, algorithm, shape.n, shape.c, shape.h, shape.w, shape.groups, shape.center, shape.layout);
        layer_case a = c0, b = c1;
        a.desc.algorithm = b.desc.algorithm = algorithm;
        const forward_outputs f0 = run_forward(a);
        const forward_outputs f1 = run_forward(b);
        REQUIRE(f0.status == VARNORM_OK);
        REQUIRE(f1.status == VARNORM_OK);
        const std::vector<double> var0 = variance_from_rstd(f0.rstd), var1 = variance_from_rstd(f1.rstd);
        for (std::size_t i = 0; i < var0.size(); ++i) {
          CAPTURE(i);
          // Each var from a float rstd: the promise plus 2u for rstd's rounding (var = 1 / rstd^2).
          const double bound = variance_bound(m, o0.planes[i].kappa) + 2 * kFloatUnit + kSecondOrder;
          CHECK(std::fabs(var0[i] / static_cast<double>(o0.planes[i].var) - 1) <= bound);
          CHECK(std::fabs(var1[i] / static_cast<double>(o1.planes[i].var) - 1) <= bound);
          // The sum of squares is the same in both calls; only the divisor differs, so the ratio carries just
          // the two rstd roundings (2u each on var).
          const double ratio = var1[i] / var0[i] * static_cast<double>(m - 1) / static_cast<double>(m);
          CHECK(std::fabs(ratio - 1) <= 4 * kFloatUnit + kSecondOrder);
        }
      }
    }
  }
}

TEST_CASE("the backward formula is the derivative of the forward: oracle backward equals central differences",
          "[oracle][gradient]") {
  // Loss = sum(dy * y); its derivatives by x, alpha and beta are dx, dalpha and dbeta. Inputs are doubles
  // near 1 and the step a power of two, so x +- h is exact; the central difference is then within
  // h^2 * (third derivative) ~ 1e-10 of the derivative.
  const double h = 0x1p-16;
  std::uint64_t seed = 900;
  for (varnorm_desc d :
       {make_desc(2, 3, 3, 4, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false),
        make_desc(2, 3, 4, 2, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, false, 0.1f),
        make_desc(3, 2, 2, 3, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 0, true),
        make_desc(2, 2, 1, 2, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 1, true, 0.5f),
        // Groups and centring: GroupNorm, LayerNorm, InstanceNorm2d, grouped VarianceNorm2d.
        with_groups(make_desc(2, 4, 2, 3, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 0, false), 2, true),
        with_groups(make_desc(2, 6, 3, 1, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 1, true, 0.1f), 3, true),
        with_groups(make_desc(1, 3, 2, 2, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false), 1, true),
        with_groups(make_desc(2, 3, 2, 2, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, true), 0, true),
        with_groups(make_desc(2, 4, 3, 2, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false), 2, false),
        with_groups(make_desc(2, 6, 1, 2, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, true, 0.5f), 1, false)}) {
    std::mt19937_64 rng(seed++);
    std::normal_distribution<double> normal(0.0, 1.0);
    std::vector<double> x(tensor_size(d)), dy(tensor_size(d)), alpha(affine_size(d)), beta(affine_size(d));
    for (double& v : x) v = 0.5 + normal(rng);
    for (double& v : dy) v = normal(rng);
    for (double& v : alpha) v = 1.0 + 0.1 * normal(rng);
    for (double& v : beta) v = normal(rng);
    auto loss = [&] {
      const oracle_forward_result f = oracle_forward(d, x.data(), alpha.data(), beta.data());
      real sum = 0;
      for (std::size_t i = 0; i < x.size(); ++i) sum += static_cast<real>(dy[i]) * f.y[i];
      return sum;
    };
    auto central_difference = [&](double& v) {
      const double saved = v;
      v = saved + h;
      const real up = loss();
      v = saved - h;
      const real down = loss();
      v = saved;
      return static_cast<double>((up - down) / (2 * static_cast<real>(h)));
    };
    const oracle_backward_result g = oracle_backward(d, x.data(), alpha.data(), dy.data());
    CAPTURE(d.n, d.c, d.h, d.w, d.groups, d.center, d.layout, d.correction, d.per_sample_affine, d.eps);
    double scale = 0;
    for (real v : g.dx) scale = std::max(scale, std::fabs(static_cast<double>(v)));
    for (std::size_t i = 0; i < x.size(); ++i) {
      CAPTURE(i);
      CHECK(std::fabs(central_difference(x[i]) - static_cast<double>(g.dx[i])) <= 1e-8 * scale);
    }
    for (std::size_t i = 0; i < alpha.size(); ++i) {
      CAPTURE(i);
      CHECK(std::fabs(central_difference(alpha[i]) - static_cast<double>(g.dalpha[i])) <=
            1e-8 * std::max(1.0, std::fabs(static_cast<double>(g.dalpha[i]))));
      CHECK(std::fabs(central_difference(beta[i]) - static_cast<double>(g.dbeta[i])) <=
            1e-8 * std::max(1.0, std::fabs(static_cast<double>(g.dbeta[i]))));
    }
  }
}
