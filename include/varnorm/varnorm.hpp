// varnorm C++ API: a thin, noexcept layer over the C API in varnorm.h (same kernels, same results).
#ifndef VARNORM_VARNORM_HPP
#define VARNORM_VARNORM_HPP

#include <varnorm/varnorm.h>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace varnorm {

enum class Layout : int { nchw = VARNORM_LAYOUT_NCHW, nhwc = VARNORM_LAYOUT_NHWC };

enum class Algorithm : int {
  automatic = VARNORM_ALGORITHM_AUTO,
  two_pass = VARNORM_ALGORITHM_TWO_PASS,
  welford = VARNORM_ALGORITHM_WELFORD,
  shifted_sums = VARNORM_ALGORITHM_SHIFTED_SUMS
};

// The outcome of a call. Converts to bool: true on success.
class Status {
 public:
  constexpr Status() noexcept = default;
  constexpr explicit Status(varnorm_status code) noexcept : code_(code) {}
  constexpr varnorm_status code() const noexcept { return code_; }
  constexpr bool ok() const noexcept { return code_ == VARNORM_OK; }
  constexpr explicit operator bool() const noexcept { return ok(); }
  const char* message() const noexcept { return varnorm_status_string(code_); }
  friend constexpr bool operator==(Status a, Status b) noexcept { return a.code_ == b.code_; }
  friend constexpr bool operator!=(Status a, Status b) noexcept { return a.code_ != b.code_; }

 private:
  varnorm_status code_ = VARNORM_OK;
};

struct Shape {
  std::int64_t n = 0, c = 0, h = 0, w = 0;
  Layout layout = Layout::nchw;
};

struct Options {
  Algorithm algorithm = Algorithm::automatic;
  float eps = 1e-5f;
  int correction = 1;              // 1: unbiased (torch.var); 0: population (jnp.var)
  bool per_sample_affine = false;  // alpha, beta hold n*c values (ConditionalVarianceNorm2d)
  int max_threads = 0;             // 0: library default; 1: calling thread only
  int groups = 0;                  // 0: one group per channel; G > 0: G groups of C/G consecutive channels
  bool center = false;             // subtract the mean (GroupNorm, InstanceNorm2d); false: VarianceNorm2d
};

// A non-owning view of a float buffer: pointer and element count. The count is checked against the shape.
template <class T>
class Span {
 public:
  constexpr Span() noexcept = default;
  constexpr Span(T* data, std::size_t size) noexcept : data_(data), size_(size) {}
  template <std::size_t N>
  constexpr Span(T (&array)[N]) noexcept : data_(array), size_(N) {}
  template <class Container, class = decltype(std::declval<Container&>().data())>
  constexpr Span(Container& container) noexcept : data_(container.data()), size_(container.size()) {}
  constexpr T* data() const noexcept { return data_; }
  constexpr std::size_t size() const noexcept { return size_; }

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

namespace detail {

inline varnorm_desc to_desc(const Shape& s, const Options& o) noexcept {
  varnorm_desc d = varnorm_desc_make(s.n, s.c, s.h, s.w, static_cast<varnorm_layout>(s.layout));
  d.algorithm = static_cast<varnorm_algorithm>(o.algorithm);
  d.eps = o.eps;
  d.correction = o.correction;
  d.per_sample_affine = o.per_sample_affine ? 1 : 0;
  d.max_threads = o.max_threads;
  d.groups = o.groups;
  d.center = o.center ? 1 : 0;
  return d;
}

// Element counts a shape needs; 0 when the shape is invalid (the C API then reports why).
struct Extents {
  std::size_t tensor = 0, affine = 0, stats = 0;
};

inline Extents extents_of(const Shape& s, const Options& o) noexcept {
  Extents e;
  if (s.n < 0 || s.c < 0 || s.h < 0 || s.w < 0) return e;
  const auto n = static_cast<std::uint64_t>(s.n), c = static_cast<std::uint64_t>(s.c);
  const auto hw = static_cast<std::uint64_t>(s.h) * static_cast<std::uint64_t>(s.w);
  if (s.h != 0 && hw / static_cast<std::uint64_t>(s.h) != static_cast<std::uint64_t>(s.w)) return e;
  const std::uint64_t nc = n * c;
  if (n != 0 && nc / n != c) return e;
  if (nc != 0 && (nc * hw) / nc != hw) return e;
  // mean and rstd: n*G values (G = C when groups is 0; the C API rejects a negative G or one not dividing C).
  const std::uint64_t groups = o.groups > 0 ? static_cast<std::uint64_t>(o.groups) : c;
  const std::uint64_t ng = n * groups;
  if (n != 0 && ng / n != groups) return e;
  e.tensor = static_cast<std::size_t>(nc * hw);
  e.stats = static_cast<std::size_t>(ng);
  e.affine = static_cast<std::size_t>(o.per_sample_affine ? nc : c);
  return e;
}

// A buffer is acceptable when it is absent (the C API decides whether that is allowed) or large enough.
template <class T>
constexpr bool fits(Span<T> buffer, std::size_t needed) noexcept {
  return buffer.data() == nullptr || buffer.size() >= needed;
}

}  // namespace detail

// y = alpha * x * rstd (+ beta), or alpha * (x - mean) * rstd (+ beta) with options.center; mean and rstd hold
// n*G values. Buffers smaller than the shape needs give invalid_argument.
inline Status forward(const Shape& shape, const Options& options, Span<const float> x, Span<const float> alpha,
                      Span<const float> beta, Span<float> y, Span<float> mean = {}, Span<float> rstd = {}) noexcept {
  const varnorm_desc d = detail::to_desc(shape, options);
  const detail::Extents e = detail::extents_of(shape, options);
  if (!detail::fits(x, e.tensor) || !detail::fits(alpha, e.affine) || !detail::fits(beta, e.affine) ||
      !detail::fits(y, e.tensor) || !detail::fits(mean, e.stats) || !detail::fits(rstd, e.stats))
    return Status(VARNORM_ERROR_INVALID_ARGUMENT);
  return Status(varnorm_forward(&d, x.data(), alpha.data(), beta.data(), y.data(), mean.data(), rstd.data()));
}

// Gradients of forward. mean and rstd: both saved by forward, or both empty (recomputed).
inline Status backward(const Shape& shape, const Options& options, Span<const float> x, Span<const float> alpha,
                       Span<const float> dy, Span<const float> mean, Span<const float> rstd, Span<float> dx,
                       Span<float> dalpha = {}, Span<float> dbeta = {}) noexcept {
  const varnorm_desc d = detail::to_desc(shape, options);
  const detail::Extents e = detail::extents_of(shape, options);
  if (!detail::fits(x, e.tensor) || !detail::fits(alpha, e.affine) || !detail::fits(dy, e.tensor) ||
      !detail::fits(mean, e.stats) || !detail::fits(rstd, e.stats) || !detail::fits(dx, e.tensor) ||
      !detail::fits(dalpha, e.affine) || !detail::fits(dbeta, e.affine))
    return Status(VARNORM_ERROR_INVALID_ARGUMENT);
  return Status(varnorm_backward(&d, x.data(), alpha.data(), dy.data(), mean.data(), rstd.data(), dx.data(),
                                 dalpha.data(), dbeta.data()));
}

inline const char* isa() noexcept { return varnorm_isa(); }
inline Status set_isa(const char* name) noexcept { return Status(varnorm_set_isa(name)); }
// The kernel sets of this build, best first: isa_name(0) ... isa_name(isa_count() - 1); nullptr out of range.
inline int isa_count() noexcept { return varnorm_isa_count(); }
inline const char* isa_name(int index) noexcept { return varnorm_isa_name(index); }
inline bool isa_supported(const char* name) noexcept { return varnorm_isa_supported(name) != 0; }
inline const char* version() noexcept { return varnorm_version(); }

// The layer as a PyTorch model declares it: owns alpha (and beta) and their gradients.
// Construction allocates; forward and backward do not (beyond what the C API does).
class VarianceNorm2d {
 public:
  // ESPnet / score_sde_pytorch: NCHW, correction 1; `bias` is accepted and, as there, unused.
  static VarianceNorm2d espnet(std::int64_t num_features, bool bias = false, std::uint64_t seed = 0) {
    return VarianceNorm2d(num_features, bias, /*apply_bias=*/false, Layout::nchw, /*correction=*/1, seed);
  }
  // score_sde JAX (flax): NHWC, population variance, bias applied when requested.
  static VarianceNorm2d score_sde_jax(std::int64_t num_features, bool bias = true, std::uint64_t seed = 0) {
    return VarianceNorm2d(num_features, bias, /*apply_bias=*/bias, Layout::nhwc, /*correction=*/0, seed);
  }

  // alpha = 1 + N(0, 0.02) drawn from `seed` (the same values on every platform); beta = 0.
  VarianceNorm2d(std::int64_t num_features, bool bias, bool apply_bias, Layout layout, int correction,
                 std::uint64_t seed)
      : num_features_(num_features < 0 ? 0 : num_features),
        bias_(bias),
        apply_bias_(apply_bias),
        layout_(layout),
        alpha_(static_cast<std::size_t>(num_features_)),
        beta_(static_cast<std::size_t>(num_features_), 0.0f),
        alpha_grad_(static_cast<std::size_t>(num_features_), 0.0f),
        beta_grad_(static_cast<std::size_t>(num_features_), 0.0f) {
    options_.correction = correction;
    std::mt19937_64 bits(seed);
    // Box-Muller on raw mt19937_64 output: std::normal_distribution differs between standard libraries.
    const double two_pi = 6.283185307179586476925;
    for (std::size_t i = 0; i < alpha_.size(); i += 2) {
      const double u1 = (static_cast<double>(bits() >> 11) + 1.0) * 0x1.0p-53;  // in (0, 1]
      const double u2 = static_cast<double>(bits() >> 11) * 0x1.0p-53;          // in [0, 1)
      const double r = std::sqrt(-2.0 * std::log(u1));
      alpha_[i] = static_cast<float>(1.0 + 0.02 * r * std::cos(two_pi * u2));
      if (i + 1 < alpha_.size()) alpha_[i + 1] = static_cast<float>(1.0 + 0.02 * r * std::sin(two_pi * u2));
    }
  }

  std::int64_t num_features() const noexcept { return num_features_; }
  bool bias() const noexcept { return bias_; }
  bool applies_bias() const noexcept { return apply_bias_; }
  Layout layout() const noexcept { return layout_; }
  Options& options() noexcept { return options_; }
  const Options& options() const noexcept { return options_; }

  std::vector<float>& alpha() noexcept { return alpha_; }
  std::vector<float>& beta() noexcept { return beta_; }
  const std::vector<float>& alpha_grad() const noexcept { return alpha_grad_; }
  const std::vector<float>& beta_grad() const noexcept { return beta_grad_; }

  Shape shape(std::int64_t n, std::int64_t h, std::int64_t w) const noexcept {
    return Shape{n, num_features_, h, w, layout_};
  }

  // y = layer(x) for an n x num_features x h x w tensor in this layer's layout; mean/rstd optional.
  Status forward(std::int64_t n, std::int64_t h, std::int64_t w, Span<const float> x, Span<float> y,
                 Span<float> mean = {}, Span<float> rstd = {}) const noexcept {
    const Span<const float> beta = apply_bias_ ? Span<const float>(beta_.data(), beta_.size()) : Span<const float>();
    return varnorm::forward(shape(n, h, w), options_, x, Span<const float>(alpha_.data(), alpha_.size()), beta, y, mean,
                            rstd);
  }

  // Writes dx and overwrites alpha_grad() (and beta_grad() when the bias is applied).
  Status backward(std::int64_t n, std::int64_t h, std::int64_t w, Span<const float> x, Span<const float> dy,
                  Span<float> dx, Span<const float> mean = {}, Span<const float> rstd = {}) noexcept {
    Span<float> dbeta = apply_bias_ ? Span<float>(beta_grad_.data(), beta_grad_.size()) : Span<float>();
    return varnorm::backward(shape(n, h, w), options_, x, Span<const float>(alpha_.data(), alpha_.size()), dy, mean,
                             rstd, dx, Span<float>(alpha_grad_.data(), alpha_grad_.size()), dbeta);
  }

 private:
  std::int64_t num_features_;
  bool bias_;
  bool apply_bias_;
  Layout layout_;
  Options options_;
  std::vector<float> alpha_, beta_, alpha_grad_, beta_grad_;
};

namespace detail {

// The descriptor's groups for a layer's group count: a count the C API cannot take (0, negative, beyond int32)
// becomes -1, which forward and backward then report as invalid_argument.
inline int group_field(std::int64_t groups) noexcept {
  return groups > 0 && groups <= INT32_MAX ? static_cast<int>(groups) : -1;
}

// A normalization layer with torch.nn's parameters: weight (ones) and bias (zeros) of C values each when
// affine, none otherwise, and their gradients. Statistics with the mean subtracted and the population variance
// (correction 0), over `groups` groups per sample (0: one per channel).
class CenteredNorm {
 public:
  CenteredNorm(std::int64_t channels, int groups, float eps, bool affine, Layout layout)
      : num_channels_(channels < 0 ? 0 : channels),
        affine_(affine),
        layout_(layout),
        weight_(affine ? static_cast<std::size_t>(num_channels_) : 0, 1.0f),
        bias_(affine ? static_cast<std::size_t>(num_channels_) : 0, 0.0f),
        weight_grad_(affine ? static_cast<std::size_t>(num_channels_) : 0, 0.0f),
        bias_grad_(affine ? static_cast<std::size_t>(num_channels_) : 0, 0.0f),
        ones_(affine ? 0 : static_cast<std::size_t>(num_channels_), 1.0f) {
    options_.eps = eps;
    options_.correction = 0;
    options_.groups = groups;
    options_.center = true;
  }

  std::int64_t num_channels() const noexcept { return num_channels_; }
  bool affine() const noexcept { return affine_; }
  Layout layout() const noexcept { return layout_; }
  Options& options() noexcept { return options_; }
  const Options& options() const noexcept { return options_; }

  // C values each when affine; empty otherwise (as torch.nn's None).
  std::vector<float>& weight() noexcept { return weight_; }
  std::vector<float>& bias() noexcept { return bias_; }
  const std::vector<float>& weight() const noexcept { return weight_; }
  const std::vector<float>& bias() const noexcept { return bias_; }
  const std::vector<float>& weight_grad() const noexcept { return weight_grad_; }
  const std::vector<float>& bias_grad() const noexcept { return bias_grad_; }

  Shape shape(std::int64_t n, std::int64_t h, std::int64_t w) const noexcept {
    return Shape{n, num_channels_, h, w, layout_};
  }

  // y = layer(x) for an n x num_channels x h x w tensor in this layer's layout; mean/rstd (n*G values each)
  // optional.
  Status forward(std::int64_t n, std::int64_t h, std::int64_t w, Span<const float> x, Span<float> y,
                 Span<float> mean = {}, Span<float> rstd = {}) const noexcept {
    const Span<const float> beta = affine_ ? Span<const float>(bias_.data(), bias_.size()) : Span<const float>();
    return varnorm::forward(shape(n, h, w), options_, x, scale(), beta, y, mean, rstd);
  }

  // Writes dx and, when affine, overwrites weight_grad() and bias_grad().
  Status backward(std::int64_t n, std::int64_t h, std::int64_t w, Span<const float> x, Span<const float> dy,
                  Span<float> dx, Span<const float> mean = {}, Span<const float> rstd = {}) noexcept {
    Span<float> dalpha, dbeta;
    if (affine_) {
      dalpha = Span<float>(weight_grad_.data(), weight_grad_.size());
      dbeta = Span<float>(bias_grad_.data(), bias_grad_.size());
    }
    return varnorm::backward(shape(n, h, w), options_, x, scale(), dy, mean, rstd, dx, dalpha, dbeta);
  }

 private:
  Span<const float> scale() const noexcept {
    const std::vector<float>& alpha = affine_ ? weight_ : ones_;
    return Span<const float>(alpha.data(), alpha.size());
  }

  std::int64_t num_channels_;
  bool affine_;
  Layout layout_;
  Options options_;
  std::vector<float> weight_, bias_, weight_grad_, bias_grad_;
  std::vector<float> ones_;  // alpha when not affine: the C API requires one
};

}  // namespace detail

// torch.nn.GroupNorm(num_groups, num_channels, eps, affine): G groups of C/G consecutive channels, the mean
// subtracted, population variance. num_groups must divide num_channels (else forward and backward return
// invalid_argument, as do num_groups <= 0). Construction allocates; forward and backward do not.
class GroupNorm : public detail::CenteredNorm {
 public:
  GroupNorm(std::int64_t num_groups, std::int64_t num_channels, float eps = 1e-5f, bool affine = true,
            Layout layout = Layout::nchw)
      : CenteredNorm(num_channels, detail::group_field(num_groups), eps, affine, layout), num_groups_(num_groups) {}

  std::int64_t num_groups() const noexcept { return num_groups_; }

 private:
  std::int64_t num_groups_;
};

// torch.nn.InstanceNorm2d(num_features, eps, affine) without running statistics: each (sample, channel)
// plane normalized on its own, the mean subtracted, population variance.
class InstanceNorm2d : public detail::CenteredNorm {
 public:
  explicit InstanceNorm2d(std::int64_t num_features, float eps = 1e-5f, bool affine = false,
                          Layout layout = Layout::nchw)
      : CenteredNorm(num_features, /*groups=*/0, eps, affine, layout) {}

  std::int64_t num_features() const noexcept { return num_channels(); }
};

}  // namespace varnorm

#endif  // VARNORM_VARNORM_HPP
