// VarianceNorm2d from C++, as score_sde (JAX) declares it: NHWC, population variance, with bias.
#include <cstdio>
#include <vector>

#include <varnorm/varnorm.hpp>

int main() {
  const std::int64_t n = 2, channels = 16, h = 8, w = 8;
  auto layer = varnorm::VarianceNorm2d::score_sde_jax(channels);
  layer.options().max_threads = 1;  // run on the calling thread

  std::vector<float> x(static_cast<std::size_t>(n * h * w * channels)), y(x.size());
  std::vector<float> mean(static_cast<std::size_t>(n * channels)), rstd(mean.size());
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 11) * 0.25f + 1.0f;

  const varnorm::Status status = layer.forward(n, h, w, x, y, mean, rstd);
  if (!status) {
    std::fprintf(stderr, "forward: %s\n", status.message());
    return 1;
  }
  std::printf("varnorm %s, %s kernels\n", varnorm::version(), varnorm::isa());
  std::printf("sample 0, channel 0: mean = %.5f, rstd = %.5f\n", mean[0], rstd[0]);
  return 0;
}
