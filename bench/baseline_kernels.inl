// The baseline kernels (see baseline_kernels.hpp), compiled once per kernel set of the library: the including
// file defines VARNORM_BENCH_KERNEL_SET (the set's name, as varnorm_isa_name lists it), VARNORM_BENCH_NAMESPACE
// (baseline_<set>) and VARNORM_BENCH_VECTOR_BYTES, and is compiled with that set's flags.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <type_traits>

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

// NHWC: a sample is `positions` rows of `channels` floats. Its floats repeat their channel with the period
// lcm(channels, W); up to kMaxPeriodVectors vectors of it stay in registers, wider samples (channels a multiple
// of W) are taken kMaxPeriodVectors vectors of channels at a time over every position, others go scalar.
constexpr std::size_t kMaxPeriodVectors = 8;

std::size_t channel_period(std::size_t channels) { return std::lcm(channels, W); }

// f(std::integral_constant<std::size_t, vectors>{}) for 1 <= vectors <= kMaxPeriodVectors: the loops below keep
// that many vectors in registers.
template <class F>
void with_vectors(std::size_t vectors, F&& f) {
  switch (vectors) {
    case 1: return f(std::integral_constant<std::size_t, 1>{});
    case 2: return f(std::integral_constant<std::size_t, 2>{});
    case 3: return f(std::integral_constant<std::size_t, 3>{});
    case 4: return f(std::integral_constant<std::size_t, 4>{});
    case 5: return f(std::integral_constant<std::size_t, 5>{});
    case 6: return f(std::integral_constant<std::size_t, 6>{});
    case 7: return f(std::integral_constant<std::size_t, 7>{});
    default: return f(std::integral_constant<std::size_t, kMaxPeriodVectors>{});
  }
}

// Per float of a row's first Vectors vectors: sum a*b and sum b over `rows` rows `stride` floats apart (a == b:
// sum of squares and sum), with K / Vectors independent sets of accumulators when Vectors < K.
template <std::size_t Vectors>
void strided_dot_and_sum(const float* a, const float* b, std::size_t rows, std::size_t stride, float* dot, float* sum) {
  constexpr std::size_t U = Vectors >= K ? 1 : K / Vectors;
  vec d[U][Vectors] = {}, s[U][Vectors] = {};
  std::size_t r = 0;
  for (; r + U <= rows; r += U)
    for (std::size_t u = 0; u < U; ++u)
      for (std::size_t v = 0; v < Vectors; ++v) {
        const std::size_t at = (r + u) * stride + v * W;
        const vec vb = load(b + at);
        d[u][v] += load(a + at) * vb;
        s[u][v] += vb;
      }
  for (; r < rows; ++r)
    for (std::size_t v = 0; v < Vectors; ++v) {
      const std::size_t at = r * stride + v * W;
      const vec vb = load(b + at);
      d[0][v] += load(a + at) * vb;
      s[0][v] += vb;
    }
  for (std::size_t v = 0; v < Vectors; ++v)
    for (std::size_t l = 0; l < W; ++l) {
      float dot_lane = 0.0f, sum_lane = 0.0f;
      for (std::size_t u = 0; u < U; ++u) {
        dot_lane += d[u][v][l];
        sum_lane += s[u][v][l];
      }
      dot[v * W + l] = dot_lane;
      sum[v * W + l] = sum_lane;
    }
}

void channel_sums(const float* a, const float* b, std::size_t positions, std::size_t channels, double* dot,
                  double* sum) {
  for (std::size_t c = 0; c < channels; ++c) dot[c] = sum[c] = 0.0;
  const std::size_t count = positions * channels;
  const std::size_t period = channel_period(channels);
  float lane_dot[kMaxPeriodVectors * W], lane_sum[kMaxPeriodVectors * W];
  // Adds the lanes of `vectors` vectors whose first float is channel `first` of a position.
  auto fold = [&](std::size_t first, std::size_t vectors) {
    for (std::size_t i = 0; i < vectors * W; ++i) {
      const std::size_t c = (first + i) % channels;
      dot[c] += static_cast<double>(lane_dot[i]);
      sum[c] += static_cast<double>(lane_sum[i]);
    }
  };
  std::size_t done = 0;
  if (period / W <= kMaxPeriodVectors) {
    const std::size_t rows = count / period;
    with_vectors(period / W,
                 [&](auto vectors) { strided_dot_and_sum<vectors>(a, b, rows, period, lane_dot, lane_sum); });
    fold(0, period / W);
    done = rows * period;
  } else if (channels % W == 0) {
    for (std::size_t first = 0; first < channels; first += kMaxPeriodVectors * W) {
      const std::size_t vectors = std::min(kMaxPeriodVectors, (channels - first) / W);
      with_vectors(vectors, [&](auto block) {
        strided_dot_and_sum<block>(a + first, b + first, positions, channels, lane_dot, lane_sum);
      });
      fold(first, vectors);
    }
    done = count;
  }
  for (std::size_t i = done; i < count; ++i) {
    dot[i % channels] += static_cast<double>(a[i] * b[i]);
    sum[i % channels] += static_cast<double>(b[i]);
  }
}

// out = p * u + (q * v + r) (v == nullptr: out = p * u), p, q, r each Vectors vectors of a period's coefficients;
// `rows` periods of Vectors vectors, back to back.
template <std::size_t Vectors>
void period_elementwise(float* out, const float* u, const float* v, std::size_t rows, const vec* p, const vec* q,
                        const vec* r, bool stream) {
  for (std::size_t row = 0; row < rows; ++row)
    for (std::size_t k = 0; k < Vectors; ++k) {
      const std::size_t at = (row * Vectors + k) * W;
      const vec result = v == nullptr ? load(u + at) * p[k] : load(u + at) * p[k] + (load(v + at) * q[k] + r[k]);
      if (stream)
        stream_store(out + at, result);
      else
        store(out + at, result);
    }
}

void channel_elementwise(float* out, const float* u, const float* v, std::size_t positions, std::size_t channels,
                         const float* p, const float* q, const float* r, bool stream) {
  const std::size_t count = positions * channels;
  const std::size_t period = channel_period(channels);
  stream = stream && reinterpret_cast<std::uintptr_t>(out) % sizeof(vec) == 0;
  std::size_t done = 0;
  if (period / W <= kMaxPeriodVectors) {
    vec pv[kMaxPeriodVectors], qv[kMaxPeriodVectors], rv[kMaxPeriodVectors];
    for (std::size_t i = 0; i < period; ++i) {
      const std::size_t c = i % channels;
      pv[i / W][i % W] = p[c];
      qv[i / W][i % W] = v == nullptr ? 0.0f : q[c];
      rv[i / W][i % W] = v == nullptr ? 0.0f : r[c];
    }
    const std::size_t rows = count / period;
    with_vectors(period / W, [&](auto vectors) { period_elementwise<vectors>(out, u, v, rows, pv, qv, rv, stream); });
    done = rows * period;
  } else if (channels % W == 0) {
    // Coefficients from the arrays (L1) a vector at a time.
    for (std::size_t position = 0; position < positions; ++position)
      for (std::size_t c = 0; c < channels; c += W) {
        const std::size_t at = position * channels + c;
        const vec result = v == nullptr ? load(u + at) * load(p + c)
                                        : load(u + at) * load(p + c) + (load(v + at) * load(q + c) + load(r + c));
        if (stream)
          stream_store(out + at, result);
        else
          store(out + at, result);
      }
    done = count;
  }
  for (std::size_t i = done; i < count; ++i) {
    const std::size_t c = i % channels;
    out[i] = v == nullptr ? p[c] * u[i] : p[c] * u[i] + (q[c] * v[i] + r[c]);
  }
  if (stream) stream_fence();
}

}  // namespace

const baseline_kernels& kernels() {
  static constexpr baseline_kernels kSet = {VARNORM_BENCH_NAME(VARNORM_BENCH_KERNEL_SET),
                                            write,
                                            sum,
                                            forward_planes,
                                            backward_planes,
                                            channel_period,
                                            channel_sums,
                                            channel_elementwise};
  return kSet;
}

}  // namespace vnbench::VARNORM_BENCH_NAMESPACE
