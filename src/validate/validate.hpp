// Every rule about what a call may pass, in one place. Validation runs before any work, so a call that
// fails writes nothing.
#pragma once

#include <varnorm/varnorm.h>

#include <cstdint>
#include <cstring>

namespace varnorm::detail {

// A validated call: sizes fit in int64 and size_t, enums are known.
struct problem {
  std::int64_t n = 0, c = 0, m = 0;  // m = h * w
  varnorm_layout layout = VARNORM_LAYOUT_NCHW;
  varnorm_algorithm algorithm = VARNORM_ALGORITHM_AUTO;
  float eps = 1e-5f;
  int correction = 1;
  bool per_sample_affine = false;
  int max_threads = 0;

  std::int64_t planes() const noexcept { return n * c; }
  std::int64_t elements() const noexcept { return n * c * m; }
  std::int64_t affine_size() const noexcept { return per_sample_affine ? n * c : c; }
  // Index of (sample, channel) into alpha / beta / dalpha / dbeta.
  std::int64_t affine_index(std::int64_t sample, std::int64_t channel) const noexcept {
    return per_sample_affine ? sample * c + channel : channel;
  }
};

struct forward_buffers {
  const float* x;
  const float* alpha;
  const float* beta;
  float* y;
  float* mean;
  float* rstd;
};

struct backward_buffers {
  const float* x;
  const float* alpha;
  const float* dy;
  const float* mean;
  const float* rstd;
  float* dx;
  float* dalpha;
  float* dbeta;
};

// The integer a C caller stored in an enum field. Loading an enum object that holds a value outside its
// enumerators is undefined behaviour in C++ (and UBSan aborts on it), so untrusted fields are read as bytes.
template <class Enum>
std::int32_t enum_value(const Enum& field) noexcept {
  static_assert(sizeof(Enum) == sizeof(std::int32_t), "C enums of the API are int-sized");
  std::int32_t value;
  std::memcpy(&value, &field, sizeof value);
  return value;
}

varnorm_status validate_forward(const varnorm_desc* desc, const forward_buffers& b, problem* out) noexcept;
varnorm_status validate_backward(const varnorm_desc* desc, const backward_buffers& b, problem* out) noexcept;

}  // namespace varnorm::detail
