// A C++17 consumer of the installed (or add_subdirectory'd) libvarnorm: the VarianceNorm2d layer object
// forward and backward, compared value by value with a double-precision reference computed here.
// Exit status 0 only if all values agree.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include <varnorm/varnorm.hpp>

namespace {

constexpr std::int64_t kN = 2, kC = 4, kH = 6, kW = 5, kPlane = kH * kW;

bool close_enough(double got, double expected) {
  return std::fabs(got - expected) <= 1e-5 * (1.0 + std::fabs(expected));
}

}  // namespace

int main() {
  auto layer = varnorm::VarianceNorm2d::espnet(kC);  // NCHW, unbiased variance, no bias
  std::mt19937 bits(7);
  std::uniform_real_distribution<float> value(-1.0f, 2.0f);
  std::vector<float> x(static_cast<std::size_t>(kN * kC * kPlane)), dy(x.size()), y(x.size()), dx(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = value(bits);
    dy[i] = value(bits);
  }
  if (const varnorm::Status s = layer.forward(kN, kH, kW, x, y); !s) {
    std::fprintf(stderr, "forward: %s\n", s.message());
    return 1;
  }
  if (const varnorm::Status s = layer.backward(kN, kH, kW, x, dy, dx); !s) {
    std::fprintf(stderr, "backward: %s\n", s.message());
    return 1;
  }

  // y = a x r with r = (var + eps)^-1/2, var = sum (x - m)^2 / (M - 1). Differentiating:
  // dx = a r dy - a r^3 (sum dy x) (x - m) / (M - 1);  dalpha = sum over n and the plane of dy x r.
  int bad = 0;
  std::vector<double> dalpha(static_cast<std::size_t>(kC), 0.0);
  for (std::int64_t n = 0; n < kN; ++n) {
    for (std::int64_t c = 0; c < kC; ++c) {
      const float* xp = &x[static_cast<std::size_t>((n * kC + c) * kPlane)];
      const std::size_t base = static_cast<std::size_t>((n * kC + c) * kPlane);
      double sum = 0.0, squares = 0.0, dy_x = 0.0;
      for (std::int64_t p = 0; p < kPlane; ++p) sum += xp[p];
      const double m = sum / kPlane;
      for (std::int64_t p = 0; p < kPlane; ++p) squares += (xp[p] - m) * (xp[p] - m);
      const double r = 1.0 / std::sqrt(squares / (kPlane - 1) + layer.options().eps);
      const double a = layer.alpha()[static_cast<std::size_t>(c)];
      for (std::int64_t p = 0; p < kPlane; ++p) dy_x += double(dy[base + std::size_t(p)]) * xp[p];
      dalpha[static_cast<std::size_t>(c)] += dy_x * r;
      for (std::int64_t p = 0; p < kPlane; ++p) {
        const std::size_t i = base + static_cast<std::size_t>(p);
        bad += !close_enough(y[i], a * xp[p] * r);
        bad += !close_enough(dx[i], a * r * dy[i] - a * r * r * r * dy_x * (xp[p] - m) / (kPlane - 1));
      }
    }
  }
  for (std::size_t c = 0; c < dalpha.size(); ++c) bad += !close_enough(layer.alpha_grad()[c], dalpha[c]);
  // The kernel set in use is one this CPU runs, and the last listed one is the portable set.
  bad += !varnorm::isa_supported(varnorm::isa()) + (varnorm::isa_name(varnorm::isa_count() - 1) == nullptr);

  std::printf("C++ consumer: varnorm %s, %s kernels: %s\n", varnorm::version(), varnorm::isa(), bad ? "FAILED" : "ok");
  if (bad) std::fprintf(stderr, "%d values differ from the reference\n", bad);
  return bad ? 1 : 0;
}
