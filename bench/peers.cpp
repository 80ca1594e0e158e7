#include "peers.hpp"

#include <cmath>
#include <cstdint>

namespace vnbench {
namespace {

// Plane p of an N x C x H x W tensor: its first element and the distance between its elements.
struct PlaneView {
  std::size_t offset, stride;
};

PlaneView plane_view(const Shape4& s, bool nhwc, std::size_t n, std::size_t c) {
  const std::size_t channels = static_cast<std::size_t>(s.c), hw = s.plane_size();
  if (nhwc) return {n * hw * channels + c, channels};
  return {(n * channels + c) * hw, 1};
}

}  // namespace

void naive_forward(const Shape4& s, bool nhwc, const float* x, const float* alpha, float* y, float* mean, float* rstd,
                   float eps, int correction) {
  const std::size_t channels = static_cast<std::size_t>(s.c), m = s.plane_size();
  for (std::size_t n = 0; n < static_cast<std::size_t>(s.n); ++n) {
    for (std::size_t c = 0; c < channels; ++c) {
      const PlaneView v = plane_view(s, nhwc, n, c);
      const float* xp = x + v.offset;
      float* yp = y + v.offset;
      double sum = 0.0;
      for (std::size_t i = 0; i < m; ++i) sum += xp[i * v.stride];
      const double mu = sum / static_cast<double>(m);
      double squares = 0.0;
      for (std::size_t i = 0; i < m; ++i) {
        const double d = xp[i * v.stride] - mu;
        squares += d * d;
      }
      const double var = squares / static_cast<double>(m - static_cast<std::size_t>(correction));
      const float r = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(eps)));
      const float scale = alpha[c] * r;
      if (v.stride == 1) {
        for (std::size_t i = 0; i < m; ++i) yp[i] = scale * xp[i];
      } else {
        for (std::size_t i = 0; i < m; ++i) yp[i * v.stride] = scale * xp[i * v.stride];
      }
      mean[n * channels + c] = static_cast<float>(mu);
      rstd[n * channels + c] = r;
    }
  }
}

void naive_backward(const Shape4& s, bool nhwc, const float* x, const float* alpha, const float* dy, const float* mean,
                    const float* rstd, float* dx, float* dalpha, int correction) {
  const std::size_t channels = static_cast<std::size_t>(s.c), m = s.plane_size();
  for (std::size_t c = 0; c < channels; ++c) dalpha[c] = 0.0f;
  for (std::size_t n = 0; n < static_cast<std::size_t>(s.n); ++n) {
    for (std::size_t c = 0; c < channels; ++c) {
      const PlaneView v = plane_view(s, nhwc, n, c);
      const float* xp = x + v.offset;
      const float* dyp = dy + v.offset;
      float* dxp = dx + v.offset;
      double sum = 0.0;
      for (std::size_t i = 0; i < m; ++i) sum += static_cast<double>(dyp[i * v.stride]) * xp[i * v.stride];
      const float r = rstd[n * channels + c], mu = mean[n * channels + c];
      const float k1 = alpha[c] * r;
      const float k2 = static_cast<float>(static_cast<double>(alpha[c]) * r * r * r * sum /
                                          static_cast<double>(m - static_cast<std::size_t>(correction)));
      if (v.stride == 1) {
        for (std::size_t i = 0; i < m; ++i) dxp[i] = k1 * dyp[i] - k2 * (xp[i] - mu);
      } else {
        for (std::size_t i = 0; i < m; ++i) dxp[i * v.stride] = k1 * dyp[i * v.stride] - k2 * (xp[i * v.stride] - mu);
      }
      dalpha[c] += static_cast<float>(sum * r);
    }
  }
}

#ifndef VARNORM_BENCH_HAVE_ONEDNN
std::unique_ptr<OnednnPeer> make_onednn_peer(Tensors&) { return nullptr; }
const char* onednn_version() { return nullptr; }
bool onednn_set_threads(int) { return false; }
#endif

}  // namespace vnbench
