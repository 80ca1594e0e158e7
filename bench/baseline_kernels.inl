// The baseline kernels (see baseline_kernels.hpp), compiled once per kernel set of the library: the including
// file defines VARNORM_BENCH_KERNEL_SET (the set's name, as varnorm_isa_name lists it), VARNORM_BENCH_NAMESPACE
// (baseline_<set>) and VARNORM_BENCH_VECTOR_BYTES, and is compiled with that set's flags.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "baseline_kernels.hpp"

#if defined(__SSE2__)
#include <immintrin.h>
#endif

// The set's name as a string.
#define VARNORM_BENCH_QUOTE(set) #set
#define VARNORM_BENCH_NAME(set) VARNORM_BENCH_QUOTE(set)

namespace vnbench::VARNORM_BENCH_NAMESPACE {
namespace {

using vec = float __attribute__((vector_size(VARNORM_BENCH_VECTOR_BYTES)));
constexpr std::size_t W = VARNORM_BENCH_VECTOR_BYTES / sizeof(float);
// Independent accumulators per sum of the minimal kernels: enough to keep their adds and FMAs in flight.
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
void elementwise(float* out, const float* u, const float* v, std::size_t n, float p, float q, float r, bool stream) {
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

// Scalar head until dst is 64-byte aligned (count of floats to do first).
std::size_t head_to_align(const float* dst, std::size_t count) {
  const auto misalign = reinterpret_cast<std::uintptr_t>(dst) % 64;
  const std::size_t head = misalign == 0 ? 0 : (64 - misalign) / sizeof(float);
  return head < count ? head : count;
}

// dst = a (Add false) or a + b: a scalar head up to a 64-byte aligned dst, the vector body (non-temporal stores
// when Stream), a scalar tail.
template <bool Add, bool Stream>
void write_loop(float* dst, const float* a, const float* b, std::size_t count) {
  auto element = [&](std::size_t i) { return Add ? a[i] + b[i] : a[i]; };
  std::size_t i = head_to_align(dst, count);
  for (std::size_t j = 0; j < i; ++j) dst[j] = element(j);
  for (; i + W <= count; i += W) {
    vec v = load(a + i);
    if constexpr (Add) v = v + load(b + i);
    if constexpr (Stream)
      stream_store(dst + i, v);
    else
      store(dst + i, v);
  }
  if constexpr (Stream) stream_fence();
  for (; i < count; ++i) dst[i] = element(i);
}

void write(float* dst, const float* a, const float* b, std::size_t count, bool stream) {
  if (b == nullptr) {
    if (stream)
      write_loop<false, true>(dst, a, b, count);
    else
      write_loop<false, false>(dst, a, b, count);
  } else {
    if (stream)
      write_loop<true, true>(dst, a, b, count);
    else
      write_loop<true, false>(dst, a, b, count);
  }
}

// Read-only sums of Inputs arrays (read1: x; read2: x and dy), at the same offsets: 8 independent accumulators
// per input (enough loads in flight to reach the load ports' throughput), a single-vector loop for the rest, a
// scalar tail; each input's accumulators are added pairwise, their lanes in double, and the inputs' sums added.
template <std::size_t Inputs>
double sum_loop(const float* const (&in)[Inputs], std::size_t count) {
  constexpr std::size_t kAccumulators = 8;
  vec acc[Inputs][kAccumulators] = {};
  std::size_t i = 0;
  for (; i + kAccumulators * W <= count; i += kAccumulators * W)
    for (std::size_t p = 0; p < Inputs; ++p)
      for (std::size_t k = 0; k < kAccumulators; ++k) acc[p][k] += load(in[p] + i + k * W);
  for (; i + W <= count; i += W)
    for (std::size_t p = 0; p < Inputs; ++p) acc[p][0] += load(in[p] + i);
  double total = 0.0;
  for (std::size_t p = 0; p < Inputs; ++p) {
    const vec* a = acc[p];
    const vec s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    for (std::size_t l = 0; l < W; ++l) total += static_cast<double>(s[l]);
  }
  for (; i < count; ++i)
    for (std::size_t p = 0; p < Inputs; ++p) total += static_cast<double>(in[p][i]);
  return total;
}

double sum(const float* a, const float* b, std::size_t count) {
  if (b == nullptr) {
    const float* const in[1] = {a};
    return sum_loop(in, count);
  }
  const float* const in[2] = {a, b};
  return sum_loop(in, count);
}

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

void backward_planes(float* dx, const float* x, const float* dy, std::size_t plane, std::size_t planes, bool stream) {
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

}  // namespace

const baseline_kernels& kernels() {
  static constexpr baseline_kernels kSet = {VARNORM_BENCH_NAME(VARNORM_BENCH_KERNEL_SET), write, sum, forward_planes,
                                            backward_planes};
  return kSet;
}

}  // namespace vnbench::VARNORM_BENCH_NAMESPACE
