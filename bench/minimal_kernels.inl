// The minimal kernels (see minimal_kernels.hpp), compiled once per vector width: the including file defines
// VARNORM_BENCH_MINIMAL_NS and VARNORM_BENCH_VECTOR_BYTES and is compiled with that width's flags.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "minimal_kernels.hpp"

#if defined(__SSE2__)
#include <immintrin.h>
#endif

namespace vnbench::VARNORM_BENCH_MINIMAL_NS {
namespace {

using vec = float __attribute__((vector_size(VARNORM_BENCH_VECTOR_BYTES)));
constexpr std::size_t W = VARNORM_BENCH_VECTOR_BYTES / sizeof(float);
// Independent accumulators per sum: enough to keep the adds and FMAs of a reduction in flight.
constexpr std::size_t K = 4;

vec load(const float* p) {
  vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

void store(float* p, vec v) { std::memcpy(p, &v, sizeof v); }

// p is vector-aligned.
void stream_store(float* p, vec v) {
#if VARNORM_BENCH_VECTOR_BYTES == 64 && defined(__AVX512F__)
  _mm512_stream_ps(p, v);
#elif VARNORM_BENCH_VECTOR_BYTES == 32 && defined(__AVX__)
  _mm256_stream_ps(p, v);
#elif VARNORM_BENCH_VECTOR_BYTES == 16 && defined(__SSE2__)
  _mm_stream_ps(p, v);
#else
  store(p, v);
#endif
}

void stream_fence() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

float lane_sum(vec v) {
  float total = 0.0f;
  for (std::size_t l = 0; l < W; ++l) total += v[l];
  return total;
}

// sum_k a[k] * b[k] and sum_k b[k] over n floats (a == b: sum of squares and sum), K accumulators each.
void dot_and_sum(const float* a, const float* b, std::size_t n, double& dot, double& sum) {
  vec d[K] = {}, s[K] = {};
  std::size_t i = 0;
  for (; i + K * W <= n; i += K * W)
    for (std::size_t k = 0; k < K; ++k) {
      const vec vb = load(b + i + k * W);
      d[k] += load(a + i + k * W) * vb;
      s[k] += vb;
    }
  float dot_f = 0.0f, sum_f = 0.0f;
  for (std::size_t k = 0; k < K; ++k) {
    dot_f += lane_sum(d[k]);
    sum_f += lane_sum(s[k]);
  }
  for (; i < n; ++i) {
    dot_f += a[i] * b[i];
    sum_f += b[i];
  }
  dot = static_cast<double>(dot_f);
  sum = static_cast<double>(sum_f);
}

// out[i] = p * u[i] + q * v[i] + r (v == nullptr: out[i] = p * u[i]); a scalar head up to a vector-aligned
// out when streaming, the vector body, a scalar tail.
void elementwise(float* out, const float* u, const float* v, std::size_t n, float p, float q, float r,
                 bool stream) {
  std::size_t i = 0;
  auto scalar = [&](std::size_t j) { out[j] = v == nullptr ? p * u[j] : p * u[j] + (q * v[j] + r); };
  if (stream)
    for (; i < n && reinterpret_cast<std::uintptr_t>(out + i) % sizeof(vec) != 0; ++i) scalar(i);
  for (; i + W <= n; i += W) {
    const vec result = v == nullptr ? load(u + i) * p : load(u + i) * p + (load(v + i) * q + r);
    if (stream)
      stream_store(out + i, result);
    else
      store(out + i, result);
  }
  for (; i < n; ++i) scalar(i);
  if (stream) stream_fence();
}

}  // namespace

void forward_planes(float* y, const float* x, std::size_t plane, std::size_t planes, bool stream) {
  const double m = static_cast<double>(plane);
  for (std::size_t p = 0; p < planes; ++p) {
    const float* xp = x + p * plane;
    double squares = 0.0, sum = 0.0;
    dot_and_sum(xp, xp, plane, squares, sum);
    const double var = (squares - sum * sum / m) / (m - 1.0);
    const auto s = static_cast<float>(1.0 / std::sqrt(std::fabs(var) + 1e-5));
    elementwise(y + p * plane, xp, nullptr, plane, s, 0.0f, 0.0f, stream);
  }
}

void backward_planes(float* dx, const float* x, const float* dy, std::size_t plane, std::size_t planes,
                     bool stream) {
  const double m = static_cast<double>(plane);
  for (std::size_t p = 0; p < planes; ++p) {
    const std::size_t at = p * plane;
    double dyx = 0.0, sum_dy = 0.0;
    dot_and_sum(x + at, dy + at, plane, dyx, sum_dy);
    // Stand-ins of the layer's coefficients (a = alpha*rstd, b = -alpha*rstd^3*S/(M-1), c = -b*mean) of the
    // same magnitude: the arithmetic per element is what is measured.
    const auto b = static_cast<float>(-dyx / (m * m));
    const auto c = static_cast<float>(-b * sum_dy / m);
    elementwise(dx + at, dy + at, x + at, plane, 1.0f, b, c, stream);
  }
}

}  // namespace vnbench::VARNORM_BENCH_MINIMAL_NS
