// The C++ API (varnorm.hpp): Status, Shape/Options defaults, forward/backward wrappers giving the C API's
// bits, undersized spans rejected before anything is written, and the VarianceNorm2d layer: espnet()
// (NCHW, correction 1, bias accepted and unused), score_sde_jax() (NHWC, correction 0, bias applied), alpha
// initialised to 1 + N(0, 0.02) from a seed, and backward filling the parameter gradients; Options' groups and
// center, and the GroupNorm and InstanceNorm2d layers (torch.nn's parameters, the C API's bits).
#include <varnorm/varnorm.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "support/cases.hpp"
#include "support/compare.hpp"
#include "support/oracle.hpp"

using namespace varnorm_test;

namespace {

constexpr float kSentinel = -777.25f;

bool all_equal(const std::vector<float>& v, float value) {
  for (float f : v)
    if (!(f == value)) return false;
  return true;
}

}  // namespace

TEST_CASE("C++ Status wraps a varnorm_status: ok, bool, message, comparison", "[cxx]") {
  constexpr varnorm::Status ok;
  static_assert(ok.ok() && ok.code() == VARNORM_OK, "default Status is success");
  const varnorm::Status overlap(VARNORM_ERROR_OVERLAP);
  CHECK(static_cast<bool>(ok));
  CHECK_FALSE(static_cast<bool>(overlap));
  CHECK_FALSE(overlap.ok());
  CHECK(overlap.code() == VARNORM_ERROR_OVERLAP);
  CHECK(std::strcmp(overlap.message(), varnorm_status_string(VARNORM_ERROR_OVERLAP)) == 0);
  CHECK(overlap == varnorm::Status(VARNORM_ERROR_OVERLAP));
  CHECK(overlap != ok);
}

TEST_CASE("C++ Shape and Options default to the C descriptor's defaults", "[cxx]") {
  const varnorm::Shape shape;
  CHECK(shape.n == 0);
  CHECK(shape.c == 0);
  CHECK(shape.h == 0);
  CHECK(shape.w == 0);
  CHECK(shape.layout == varnorm::Layout::nchw);
  const varnorm::Options options;
  const varnorm_desc d = varnorm_desc_make(0, 0, 0, 0, VARNORM_LAYOUT_NCHW);
  CHECK(static_cast<int>(options.algorithm) == static_cast<int>(d.algorithm));
  CHECK(options.eps == d.eps);
  CHECK(options.correction == d.correction);
  CHECK(options.per_sample_affine == (d.per_sample_affine != 0));
  CHECK(options.max_threads == d.max_threads);
  CHECK(options.groups == d.groups);
  CHECK(options.center == (d.center != 0));
}

TEST_CASE("C++ Algorithm names every C algorithm with its value", "[cxx]") {
  CHECK(static_cast<int>(varnorm::Algorithm::automatic) == VARNORM_ALGORITHM_AUTO);
  CHECK(static_cast<int>(varnorm::Algorithm::two_pass) == VARNORM_ALGORITHM_TWO_PASS);
  CHECK(static_cast<int>(varnorm::Algorithm::welford) == VARNORM_ALGORITHM_WELFORD);
  CHECK(static_cast<int>(varnorm::Algorithm::shifted_sums) == VARNORM_ALGORITHM_SHIFTED_SUMS);
}

TEST_CASE("C++ forward and backward give the same bits as the C API", "[cxx]") {
  for (bool per_sample : {false, true}) {
    const varnorm::Shape shape{3, 5, 6, 7, varnorm::Layout::nhwc};
    varnorm::Options options;
    options.algorithm = varnorm::Algorithm::welford;
    options.eps = 0.01f;
    options.correction = 0;
    options.per_sample_affine = per_sample;
    const layer_case c = make_case(
        make_desc(3, 5, 6, 7, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_WELFORD, 0, per_sample, 0.01f), true, 404);
    const forward_outputs expected = run_forward(c);
    REQUIRE(expected.status == VARNORM_OK);
    std::vector<float> y(c.x.size()), mean(expected.mean.size()), rstd(expected.rstd.size());
    REQUIRE(varnorm::forward(shape, options, c.x, c.alpha, c.beta, y, mean, rstd).ok());
    CHECK(bitwise_equal(y, expected.y));
    CHECK(bitwise_equal(mean, expected.mean));
    CHECK(bitwise_equal(rstd, expected.rstd));

    const backward_outputs expected_grad = run_backward(c, expected.mean.data(), expected.rstd.data());
    REQUIRE(expected_grad.status == VARNORM_OK);
    std::vector<float> dx(c.x.size()), dalpha(c.alpha.size()), dbeta(c.alpha.size());
    REQUIRE(varnorm::backward(shape, options, c.x, c.alpha, c.dy, mean, rstd, dx, dalpha, dbeta).ok());
    CHECK(bitwise_equal(dx, expected_grad.dx));
    CHECK(bitwise_equal(dalpha, expected_grad.dalpha));
    CHECK(bitwise_equal(dbeta, expected_grad.dbeta));
  }
}

TEST_CASE("C++ forward and backward pass groups and center on: the C API's bits with them", "[cxx][groups]") {
  for (bool center : {false, true}) {
    for (int groups : {1, 5}) {
      const varnorm::Shape shape{3, 10, 6, 7, varnorm::Layout::nhwc};
      varnorm::Options options;
      options.algorithm = varnorm::Algorithm::two_pass;
      options.correction = 0;
      options.groups = groups;
      options.center = center;
      const layer_case c =
          make_case(with_groups(make_desc(3, 10, 6, 7, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_TWO_PASS, 0, false),
                                groups, center),
                    true, 405);
      CAPTURE(center, groups);
      const forward_outputs expected = run_forward(c);
      REQUIRE(expected.status == VARNORM_OK);
      REQUIRE(expected.mean.size() == static_cast<std::size_t>(3 * groups));
      std::vector<float> y(c.x.size()), mean(expected.mean.size()), rstd(expected.rstd.size());
      REQUIRE(varnorm::forward(shape, options, c.x, c.alpha, c.beta, y, mean, rstd).ok());
      CHECK(bitwise_equal(y, expected.y));
      CHECK(bitwise_equal(mean, expected.mean));
      CHECK(bitwise_equal(rstd, expected.rstd));
      // Options with groups or center changed give other results: the fields are not ignored.
      varnorm::Options other = options;
      other.center = !center;
      std::vector<float> y_other(c.x.size());
      REQUIRE(varnorm::forward(shape, other, c.x, c.alpha, c.beta, y_other).ok());
      CHECK_FALSE(bitwise_equal(y_other, y));

      const backward_outputs expected_grad = run_backward(c, expected.mean.data(), expected.rstd.data());
      REQUIRE(expected_grad.status == VARNORM_OK);
      std::vector<float> dx(c.x.size()), dalpha(c.alpha.size()), dbeta(c.alpha.size());
      REQUIRE(varnorm::backward(shape, options, c.x, c.alpha, c.dy, mean, rstd, dx, dalpha, dbeta).ok());
      CHECK(bitwise_equal(dx, expected_grad.dx));
      CHECK(bitwise_equal(dalpha, expected_grad.dalpha));
      CHECK(bitwise_equal(dbeta, expected_grad.dbeta));
    }
  }
}

TEST_CASE("C++ forward and backward size mean and rstd as n*G with groups: n*G floats suffice, fewer are "
          "invalid_argument and nothing is written",
          "[cxx][groups]") {
  const varnorm::Shape shape{2, 6, 4, 5, varnorm::Layout::nchw};
  varnorm::Options options;
  options.groups = 3;
  options.center = true;
  const std::size_t tensor = 240, stats = 6, affine = 6;  // stats: n*G, where n*C would be 12
  std::vector<float> x(tensor), dy(tensor, 0.5f), alpha(affine, 1.0f), beta(affine, 0.0f);
  for (std::size_t i = 0; i < tensor; ++i) x[i] = static_cast<float>(i % 7) - 2.5f;
  for (std::size_t size : {stats, stats - 1}) {
    CAPTURE(size);
    const bool fits = size == stats;
    std::vector<float> y(tensor, kSentinel), mean(size, kSentinel), rstd(size, kSentinel);
    CHECK(varnorm::forward(shape, options, x, alpha, beta, y, mean, rstd).code() ==
          (fits ? VARNORM_OK : VARNORM_ERROR_INVALID_ARGUMENT));
    CHECK(all_equal(y, kSentinel) != fits);
    std::vector<float> dx(tensor, kSentinel), dalpha(affine, kSentinel), dbeta(affine, kSentinel);
    const std::vector<float> saved_mean(size, 0.0f), saved_rstd(size, 1.0f);
    CHECK(varnorm::backward(shape, options, x, alpha, dy, saved_mean, saved_rstd, dx, dalpha, dbeta).code() ==
          (fits ? VARNORM_OK : VARNORM_ERROR_INVALID_ARGUMENT));
    CHECK(all_equal(dx, kSentinel) != fits);
    CHECK(all_equal(dalpha, kSentinel) != fits);
  }
  // groups not dividing c, or negative: the C API's invalid_argument, nothing written.
  for (int groups : {4, -1}) {
    CAPTURE(groups);
    options.groups = groups;
    std::vector<float> y(tensor, kSentinel), mean(12, kSentinel), rstd(12, kSentinel);
    CHECK(varnorm::forward(shape, options, x, alpha, beta, y, mean, rstd).code() == VARNORM_ERROR_INVALID_ARGUMENT);
    CHECK(all_equal(y, kSentinel));
    CHECK(all_equal(mean, kSentinel));
  }
}

TEST_CASE("C++ forward and backward reject every undersized span with invalid_argument and write nothing", "[cxx]") {
  const varnorm::Shape shape{2, 3, 4, 5, varnorm::Layout::nchw};
  const varnorm::Options options;
  const std::size_t tensor = 120, stats = 6, affine = 3;
  std::vector<float> x(tensor, 1.5f), dy(tensor, 0.5f), alpha(affine, 1.0f), beta(affine, 0.0f);
  for (int shrink = 0; shrink < 6; ++shrink) {
    std::vector<float> y(tensor, kSentinel), mean(stats, kSentinel), rstd(stats, kSentinel);
    const varnorm::Span<const float> xs(x.data(), tensor - (shrink == 0)), as(alpha.data(), affine - (shrink == 1)),
        bs(beta.data(), affine - (shrink == 2));
    const varnorm::Span<float> ys(y.data(), tensor - (shrink == 3)), ms(mean.data(), stats - (shrink == 4)),
        rs(rstd.data(), stats - (shrink == 5));
    CAPTURE(shrink);
    CHECK(varnorm::forward(shape, options, xs, as, bs, ys, ms, rs).code() == VARNORM_ERROR_INVALID_ARGUMENT);
    CHECK(all_equal(y, kSentinel));
    CHECK(all_equal(mean, kSentinel));
    CHECK(all_equal(rstd, kSentinel));
  }
  std::vector<float> saved_mean(stats, 0.0f), saved_rstd(stats, 1.0f);
  for (int shrink = 0; shrink < 8; ++shrink) {
    std::vector<float> dx(tensor, kSentinel), dalpha(affine, kSentinel), dbeta(affine, kSentinel);
    const varnorm::Span<const float> xs(x.data(), tensor - (shrink == 0)), as(alpha.data(), affine - (shrink == 1)),
        gs(dy.data(), tensor - (shrink == 2)), ms(saved_mean.data(), stats - (shrink == 3)),
        rs(saved_rstd.data(), stats - (shrink == 4));
    const varnorm::Span<float> dxs(dx.data(), tensor - (shrink == 5)), das(dalpha.data(), affine - (shrink == 6)),
        dbs(dbeta.data(), affine - (shrink == 7));
    CAPTURE(shrink);
    CHECK(varnorm::backward(shape, options, xs, as, gs, ms, rs, dxs, das, dbs).code() ==
          VARNORM_ERROR_INVALID_ARGUMENT);
    CHECK(all_equal(dx, kSentinel));
    CHECK(all_equal(dalpha, kSentinel));
    CHECK(all_equal(dbeta, kSentinel));
  }
}

TEST_CASE("VarianceNorm2d::espnet is NCHW with correction 1 and accepts bias without applying it", "[cxx][layer]") {
  varnorm::VarianceNorm2d plain = varnorm::VarianceNorm2d::espnet(6, /*bias=*/false, /*seed=*/3);
  varnorm::VarianceNorm2d biased = varnorm::VarianceNorm2d::espnet(6, /*bias=*/true, /*seed=*/3);
  CHECK(biased.bias());
  CHECK_FALSE(biased.applies_bias());
  CHECK(biased.layout() == varnorm::Layout::nchw);
  CHECK(biased.options().correction == 1);
  for (float& b : biased.beta()) b = 2.5f;  // a beta that would show if it were added

  const layer_case c =
      make_case(make_desc(2, 6, 5, 4, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false), false, 8);
  std::vector<float> y_plain(c.x.size()), y_biased(c.x.size());
  REQUIRE(plain.forward(2, 5, 4, c.x, y_plain).ok());
  REQUIRE(biased.forward(2, 5, 4, c.x, y_biased).ok());
  CHECK(bitwise_equal(y_plain, y_biased));

  // The C API with the layer's alpha, no beta, NCHW, correction 1.
  layer_case as_c = c;
  as_c.alpha = biased.alpha();
  const forward_outputs expected = run_forward(as_c);
  REQUIRE(expected.status == VARNORM_OK);
  CHECK(bitwise_equal(y_biased, expected.y));
}

TEST_CASE("VarianceNorm2d::score_sde_jax is NHWC with correction 0 and applies the bias", "[cxx][layer]") {
  varnorm::VarianceNorm2d layer = varnorm::VarianceNorm2d::score_sde_jax(5, /*bias=*/true, /*seed=*/11);
  CHECK(layer.applies_bias());
  CHECK(layer.layout() == varnorm::Layout::nhwc);
  CHECK(layer.options().correction == 0);
  for (std::size_t i = 0; i < layer.beta().size(); ++i) layer.beta()[i] = 0.5f + static_cast<float>(i);

  layer_case c = make_case(make_desc(2, 5, 3, 4, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, false), true, 12);
  c.alpha = layer.alpha();
  c.beta = layer.beta();
  std::vector<float> y(c.x.size());
  REQUIRE(layer.forward(2, 3, 4, c.x, y).ok());
  const forward_outputs expected = run_forward(c);
  REQUIRE(expected.status == VARNORM_OK);
  CHECK(bitwise_equal(y, expected.y));

  // backward overwrites alpha_grad and beta_grad with the C API's dalpha and dbeta.
  std::vector<float> dx(c.x.size());
  REQUIRE(layer.backward(2, 3, 4, c.x, c.dy, dx).ok());
  const backward_outputs grad = run_backward(c);
  REQUIRE(grad.status == VARNORM_OK);
  CHECK(bitwise_equal(dx, grad.dx));
  CHECK(bitwise_equal(layer.alpha_grad(), grad.dalpha));
  CHECK(bitwise_equal(layer.beta_grad(), grad.dbeta));
}

TEST_CASE("VarianceNorm2d backward fills alpha_grad (and leaves beta_grad alone when the bias is not applied)",
          "[cxx][layer]") {
  varnorm::VarianceNorm2d layer = varnorm::VarianceNorm2d::espnet(4, /*bias=*/true, /*seed=*/5);
  layer_case c = make_case(make_desc(3, 4, 6, 2, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 1, false), false, 21);
  c.alpha = layer.alpha();
  std::vector<float> y(c.x.size()), mean(12), rstd(12), dx(c.x.size());
  REQUIRE(layer.forward(3, 6, 2, c.x, y, mean, rstd).ok());
  REQUIRE(layer.backward(3, 6, 2, c.x, c.dy, dx, mean, rstd).ok());
  const backward_outputs grad = run_backward(c);
  REQUIRE(grad.status == VARNORM_OK);
  CHECK(bitwise_equal(dx, grad.dx));
  CHECK(bitwise_equal(layer.alpha_grad(), grad.dalpha));
  CHECK_FALSE(all_equal(layer.alpha_grad(), 0.0f));
  CHECK(all_equal(layer.beta_grad(), 0.0f));
}

TEST_CASE("VarianceNorm2d alpha is 1 + N(0, 0.02): reproducible from the seed, different across seeds, "
          "with the right sample mean and spread",
          "[cxx][layer]") {
  auto a = varnorm::VarianceNorm2d::espnet(4096, false, 1);
  auto b = varnorm::VarianceNorm2d::score_sde_jax(4096, true, 1);
  auto other = varnorm::VarianceNorm2d::espnet(4096, false, 2);
  CHECK(a.num_features() == 4096);
  CHECK(bitwise_equal(a.alpha(), b.alpha()));
  const std::vector<float>& alpha = a.alpha();
  const std::vector<float>& alpha_other = other.alpha();
  std::size_t same = 0;
  for (std::size_t i = 0; i < alpha.size(); ++i) same += alpha[i] == alpha_other[i];
  CHECK(same < 10);

  double sum = 0, sum_sq = 0;
  for (float v : alpha) sum += static_cast<double>(v);
  const double n = static_cast<double>(alpha.size()), mean = sum / n;
  for (float v : alpha) sum_sq += (static_cast<double>(v) - mean) * (static_cast<double>(v) - mean);
  const double std_dev = std::sqrt(sum_sq / (n - 1));
  // Standard errors for 4096 draws: of the mean 0.02/64, of the std about 0.02/sqrt(2*4096); 4 of each.
  CHECK(std::fabs(mean - 1.0) <= 4 * 0.02 / std::sqrt(n));
  CHECK(std::fabs(std_dev - 0.02) <= 4 * 0.02 / std::sqrt(2 * n));
  CHECK(all_equal(a.beta(), 0.0f));
}

namespace {

// Per (sample, group): mean and population variance of y, in double.
struct group_moments {
  double mean = 0, var = 0;
};
std::vector<group_moments> moments_of(const varnorm_desc& d, const std::vector<float>& y) {
  std::vector<group_moments> out(stats_size(d));
  const std::int64_t k = group_channels(d), hw = d.h * d.w;
  for (std::int64_t n = 0; n < d.n; ++n) {
    for (std::int64_t g = 0; g < group_count(d); ++g) {
      double sum = 0, sum_sq = 0;
      for (std::int64_t c = g * k; c < (g + 1) * k; ++c)
        for (std::int64_t p = 0; p < hw; ++p) sum += y[static_cast<std::size_t>(element_offset(d, n, c, p))];
      const double count = static_cast<double>(k * hw), mean = sum / count;
      for (std::int64_t c = g * k; c < (g + 1) * k; ++c)
        for (std::int64_t p = 0; p < hw; ++p) {
          const double dev = y[static_cast<std::size_t>(element_offset(d, n, c, p))] - mean;
          sum_sq += dev * dev;
        }
      out[stats_offset(d, n, g)] = {mean, sum_sq / count};
    }
  }
  return out;
}

// y = layer(x) with weight 1 and bias 0 (d: correction 0, center 1): every group of y has mean 0 and population
// variance var/(var + eps), var that of x (the long double oracle's).
void check_standardized(const varnorm_desc& d, const std::vector<float>& x, const std::vector<float>& y) {
  const std::vector<float> ones(static_cast<std::size_t>(d.c), 1.0f);
  const oracle_forward_result o = oracle_forward(d, x.data(), ones.data(), static_cast<const float*>(nullptr));
  const std::vector<group_moments> got = moments_of(d, y);
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double var = static_cast<double>(o.planes[i].var);
    const double expected = var / (var + static_cast<double>(d.eps));
    CAPTURE(i, got[i].mean, got[i].var, expected);
    CHECK(std::fabs(got[i].mean) <= 1e-5);
    CHECK(std::fabs(got[i].var / expected - 1.0) <= 1e-4);
  }
}

}  // namespace

TEST_CASE("GroupNorm is torch.nn.GroupNorm: weight ones, bias zeros, the mean subtracted, population variance, "
          "the C API's bits with groups G, center 1, correction 0",
          "[cxx][layer][groups]") {
  varnorm::GroupNorm layer(2, 6);
  CHECK(layer.num_groups() == 2);
  CHECK(layer.num_channels() == 6);
  CHECK(layer.affine());
  CHECK(layer.layout() == varnorm::Layout::nchw);
  CHECK(layer.options().groups == 2);
  CHECK(layer.options().center);
  CHECK(layer.options().correction == 0);
  CHECK(layer.options().eps == 1e-5f);
  CHECK(layer.weight() == std::vector<float>(6, 1.0f));
  CHECK(layer.bias() == std::vector<float>(6, 0.0f));
  CHECK(layer.weight_grad() == std::vector<float>(6, 0.0f));
  CHECK(layer.bias_grad() == std::vector<float>(6, 0.0f));
  static_assert(noexcept(layer.forward(1, 1, 1, {}, {})), "forward is noexcept");
  static_assert(noexcept(layer.backward(1, 1, 1, {}, {}, {})), "backward is noexcept");

  const varnorm_desc d =
      with_groups(make_desc(2, 6, 5, 4, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 0, false), 2, true);
  layer_case c = make_case(d, true, 31);
  // With the initial parameters each group of y has mean 0 and variance var/(var + eps), var the population
  // variance (an unbiased one would make it smaller by (M - 1)/M = 0.975, M = 40).
  std::vector<float> y0(c.x.size());
  REQUIRE(layer.forward(2, 5, 4, c.x, y0).ok());
  check_standardized(d, c.x, y0);

  layer.weight() = c.alpha;
  layer.bias() = c.beta;
  std::vector<float> y(c.x.size()), mean(4), rstd(4);
  REQUIRE(layer.forward(2, 5, 4, c.x, y, mean, rstd).ok());
  const forward_outputs expected = run_forward(c);
  REQUIRE(expected.status == VARNORM_OK);
  CHECK(bitwise_equal(y, expected.y));
  CHECK(bitwise_equal(mean, expected.mean));
  CHECK(bitwise_equal(rstd, expected.rstd));

  // backward overwrites weight_grad and bias_grad with the C API's dalpha and dbeta.
  std::vector<float> dx(c.x.size());
  REQUIRE(layer.backward(2, 5, 4, c.x, c.dy, dx, mean, rstd).ok());
  const backward_outputs grad = run_backward(c);
  REQUIRE(grad.status == VARNORM_OK);
  CHECK(bitwise_equal(dx, grad.dx));
  CHECK(bitwise_equal(layer.weight_grad(), grad.dalpha));
  CHECK(bitwise_equal(layer.bias_grad(), grad.dbeta));
  CHECK_FALSE(all_equal(layer.weight_grad(), 0.0f));

  // NHWC, another eps: the C API's bits for that layout and eps.
  varnorm::GroupNorm nhwc(3, 6, 0.5f, true, varnorm::Layout::nhwc);
  CHECK(nhwc.layout() == varnorm::Layout::nhwc);
  CHECK(nhwc.options().eps == 0.5f);
  layer_case cn = make_case(
      with_groups(make_desc(2, 6, 5, 4, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, false, 0.5f), 3, true), true,
      32);
  cn.alpha = nhwc.weight();
  cn.beta = nhwc.bias();
  std::vector<float> yn(cn.x.size());
  REQUIRE(nhwc.forward(2, 5, 4, cn.x, yn).ok());
  const forward_outputs expected_nhwc = run_forward(cn);
  REQUIRE(expected_nhwc.status == VARNORM_OK);
  CHECK(bitwise_equal(yn, expected_nhwc.y));
}

TEST_CASE("GroupNorm without affine has no parameters and uses alpha 1, no bias, a group count that does not divide "
          "the channels, or is not positive, is invalid_argument and writes nothing",
          "[cxx][layer][groups]") {
  varnorm::GroupNorm plain(1, 4, 1e-5f, /*affine=*/false);
  CHECK_FALSE(plain.affine());
  CHECK(plain.weight().empty());
  CHECK(plain.bias().empty());
  layer_case c = make_case(
      with_groups(make_desc(3, 4, 3, 3, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 0, false), 1, true), false, 33);
  c.alpha.assign(4, 1.0f);
  std::vector<float> y(c.x.size()), dx(c.x.size());
  REQUIRE(plain.forward(3, 3, 3, c.x, y).ok());
  const forward_outputs expected = run_forward(c);
  REQUIRE(expected.status == VARNORM_OK);
  CHECK(bitwise_equal(y, expected.y));
  REQUIRE(plain.backward(3, 3, 3, c.x, c.dy, dx).ok());
  const backward_outputs grad = run_backward(c);
  REQUIRE(grad.status == VARNORM_OK);
  CHECK(bitwise_equal(dx, grad.dx));
  CHECK(plain.weight_grad().empty());
  CHECK(plain.bias_grad().empty());

  for (std::int64_t groups : {std::int64_t{3}, std::int64_t{0}, std::int64_t{-2}, std::int64_t{1} << 33}) {
    CAPTURE(groups);
    varnorm::GroupNorm bad(groups, 4);
    CHECK(bad.num_groups() == groups);
    std::vector<float> out(c.x.size(), kSentinel), grad_out(c.x.size(), kSentinel);
    CHECK(bad.forward(3, 3, 3, c.x, out).code() == VARNORM_ERROR_INVALID_ARGUMENT);
    CHECK(all_equal(out, kSentinel));
    CHECK(bad.backward(3, 3, 3, c.x, c.dy, grad_out).code() == VARNORM_ERROR_INVALID_ARGUMENT);
    CHECK(all_equal(grad_out, kSentinel));
    CHECK(all_equal(bad.weight_grad(), 0.0f));
  }
}

TEST_CASE("InstanceNorm2d is torch.nn.InstanceNorm2d without running statistics: each plane normalized with its "
          "mean subtracted, population variance, no parameters by default",
          "[cxx][layer][groups]") {
  varnorm::InstanceNorm2d layer(5);
  CHECK(layer.num_features() == 5);
  CHECK_FALSE(layer.affine());
  CHECK(layer.weight().empty());
  CHECK(layer.options().groups == 0);
  CHECK(layer.options().center);
  CHECK(layer.options().correction == 0);
  CHECK(layer.options().eps == 1e-5f);
  CHECK(layer.layout() == varnorm::Layout::nchw);

  const varnorm_desc d =
      with_groups(make_desc(2, 5, 4, 6, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 0, false), 0, true);
  layer_case c = make_case(d, false, 34);
  c.alpha.assign(5, 1.0f);
  std::vector<float> y(c.x.size()), mean(10), rstd(10);
  REQUIRE(layer.forward(2, 4, 6, c.x, y, mean, rstd).ok());
  const forward_outputs expected = run_forward(c);
  REQUIRE(expected.status == VARNORM_OK);
  CHECK(bitwise_equal(y, expected.y));
  CHECK(bitwise_equal(mean, expected.mean));
  CHECK(bitwise_equal(rstd, expected.rstd));
  check_standardized(d, c.x, y);

  // Affine, NHWC: weight ones and bias zeros, applied and differentiated.
  varnorm::InstanceNorm2d affine(5, 1e-3f, /*affine=*/true, varnorm::Layout::nhwc);
  CHECK(affine.weight() == std::vector<float>(5, 1.0f));
  CHECK(affine.bias() == std::vector<float>(5, 0.0f));
  layer_case ca = make_case(
      with_groups(make_desc(2, 5, 4, 6, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, false, 1e-3f), 0, true), true,
      35);
  affine.weight() = ca.alpha;
  affine.bias() = ca.beta;
  std::vector<float> ya(ca.x.size()), dxa(ca.x.size());
  REQUIRE(affine.forward(2, 4, 6, ca.x, ya).ok());
  const forward_outputs expected_affine = run_forward(ca);
  REQUIRE(expected_affine.status == VARNORM_OK);
  CHECK(bitwise_equal(ya, expected_affine.y));
  REQUIRE(affine.backward(2, 4, 6, ca.x, ca.dy, dxa).ok());
  const backward_outputs grad = run_backward(ca);
  REQUIRE(grad.status == VARNORM_OK);
  CHECK(bitwise_equal(dxa, grad.dx));
  CHECK(bitwise_equal(affine.weight_grad(), grad.dalpha));
  CHECK(bitwise_equal(affine.bias_grad(), grad.dbeta));
}
