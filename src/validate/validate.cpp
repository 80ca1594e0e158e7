#include "validate/validate.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace varnorm::detail {
namespace {

// Checks are ordered: descriptor fields, shape, required buffers, element count, overlap. The first rule
// broken decides the status.

varnorm_status check_descriptor(const varnorm_desc& d) noexcept {
  const std::int32_t layout = enum_value(d.layout), algorithm = enum_value(d.algorithm);
  if (layout != VARNORM_LAYOUT_NCHW && layout != VARNORM_LAYOUT_NHWC) return VARNORM_ERROR_INVALID_ARGUMENT;
  if (algorithm != VARNORM_ALGORITHM_AUTO && algorithm != VARNORM_ALGORITHM_TWO_PASS &&
      algorithm != VARNORM_ALGORITHM_WELFORD && algorithm != VARNORM_ALGORITHM_SHIFTED_SUMS)
    return VARNORM_ERROR_INVALID_ARGUMENT;
  if (!(d.eps >= 0.0f) || std::isinf(d.eps)) return VARNORM_ERROR_INVALID_ARGUMENT;  // rejects NaN too
  if (d.correction != 0 && d.correction != 1) return VARNORM_ERROR_INVALID_ARGUMENT;
  if (d.per_sample_affine != 0 && d.per_sample_affine != 1) return VARNORM_ERROR_INVALID_ARGUMENT;
  if (d.max_threads < 0) return VARNORM_ERROR_INVALID_ARGUMENT;
  if (d.groups < 0) return VARNORM_ERROR_INVALID_ARGUMENT;
  if (d.center != 0 && d.center != 1) return VARNORM_ERROR_INVALID_ARGUMENT;
  return VARNORM_OK;
}

// a * b, or false when it does not fit below `limit`.
bool multiply_within(std::int64_t a, std::int64_t b, std::int64_t limit, std::int64_t* out) noexcept {
  if (a != 0 && b > limit / a) return false;
  *out = a * b;
  return true;
}

varnorm_status check_shape(const varnorm_desc& d, problem* p) noexcept {
  if (d.n < 0 || d.c < 0 || d.h < 0 || d.w < 0) return VARNORM_ERROR_INVALID_SHAPE;
  // Byte sizes must fit in ptrdiff_t (and so in int64 and size_t) for every pointer we form.
  const std::int64_t limit = static_cast<std::int64_t>(PTRDIFF_MAX / static_cast<std::ptrdiff_t>(sizeof(float)));
  std::int64_t m = 0, nc = 0, total = 0;
  if (!multiply_within(d.h, d.w, limit, &m) || !multiply_within(d.n, d.c, limit, &nc) ||
      !multiply_within(nc, m, limit, &total))
    return VARNORM_ERROR_INVALID_SHAPE;
  if (d.groups > 0 && d.c % d.groups != 0) return VARNORM_ERROR_INVALID_ARGUMENT;
  p->n = d.n;
  p->c = d.c;
  p->m = m;
  p->layout = d.layout;
  p->algorithm = d.algorithm;
  p->eps = d.eps;
  p->correction = d.correction;
  p->per_sample_affine = d.per_sample_affine != 0;
  p->max_threads = d.max_threads;
  p->groups = d.groups > 0 ? d.groups : d.c;
  p->channels_per_group = d.groups > 0 ? d.c / d.groups : 1;
  p->center = d.center != 0;
  return VARNORM_OK;
}

// A buffer of `count` floats is required: it may be NULL only when it would hold nothing.
bool present(const void* ptr, std::int64_t count) noexcept { return ptr != nullptr || count == 0; }

struct byte_range {
  std::uintptr_t begin = 0, end = 0;  // empty when begin == end
};

byte_range range_of(const void* ptr, std::int64_t count) noexcept {
  byte_range r;
  if (ptr == nullptr || count <= 0) return r;
  r.begin = reinterpret_cast<std::uintptr_t>(ptr);
  r.end = r.begin + static_cast<std::uintptr_t>(count) * sizeof(float);
  return r;
}

bool intersect(byte_range a, byte_range b) noexcept {
  return a.begin < a.end && b.begin < b.end && a.begin < b.end && b.begin < a.end;
}

bool same(byte_range a, byte_range b) noexcept { return a.begin == b.begin && a.end == b.end; }

// True when an output intersects an input or another output, other than the exact aliases allowed.
// allowed_alias[i][j]: output i may be exactly input j.
template <int Outputs, int Inputs>
bool overlaps(const byte_range (&out)[Outputs], const byte_range (&in)[Inputs],
              const bool (&allowed_alias)[Outputs][Inputs]) noexcept {
  for (int i = 0; i < Outputs; ++i) {
    for (int j = 0; j < Inputs; ++j)
      if (intersect(out[i], in[j]) && !(allowed_alias[i][j] && same(out[i], in[j]))) return true;
    for (int j = i + 1; j < Outputs; ++j)
      if (intersect(out[i], out[j])) return true;
  }
  return false;
}

varnorm_status check_common(const varnorm_desc* desc, problem* p) noexcept {
  if (desc == nullptr) return VARNORM_ERROR_NULL_POINTER;
  varnorm_status s = check_descriptor(*desc);
  if (s != VARNORM_OK) return s;
  return check_shape(*desc, p);
}

varnorm_status check_element_count(const problem& p) noexcept {
  if (p.planes() > 0 && p.channels_per_group * p.m <= p.correction) return VARNORM_ERROR_TOO_FEW_ELEMENTS;
  return VARNORM_OK;
}

}  // namespace

varnorm_status validate_forward(const varnorm_desc* desc, const forward_buffers& b, problem* out) noexcept {
  problem p;
  varnorm_status s = check_common(desc, &p);
  if (s != VARNORM_OK) return s;
  if (!present(b.x, p.elements()) || !present(b.alpha, p.affine_size()) || !present(b.y, p.elements()))
    return VARNORM_ERROR_NULL_POINTER;
  s = check_element_count(p);
  if (s != VARNORM_OK) return s;
  const byte_range outputs[3] = {range_of(b.y, p.elements()), range_of(b.mean, p.statistics()),
                                 range_of(b.rstd, p.statistics())};
  const byte_range inputs[3] = {range_of(b.x, p.elements()), range_of(b.alpha, p.affine_size()),
                                range_of(b.beta, p.affine_size())};
  const bool allowed[3][3] = {{true, false, false}, {false, false, false}, {false, false, false}};  // y == x
  if (overlaps(outputs, inputs, allowed)) return VARNORM_ERROR_OVERLAP;
  *out = p;
  return VARNORM_OK;
}

varnorm_status validate_backward(const varnorm_desc* desc, const backward_buffers& b, problem* out) noexcept {
  problem p;
  varnorm_status s = check_common(desc, &p);
  if (s != VARNORM_OK) return s;
  if ((b.mean == nullptr) != (b.rstd == nullptr)) return VARNORM_ERROR_INVALID_ARGUMENT;
  if (!present(b.x, p.elements()) || !present(b.alpha, p.affine_size()) || !present(b.dy, p.elements()))
    return VARNORM_ERROR_NULL_POINTER;
  s = check_element_count(p);
  if (s != VARNORM_OK) return s;
  const byte_range outputs[3] = {range_of(b.dx, p.elements()), range_of(b.dalpha, p.affine_size()),
                                 range_of(b.dbeta, p.affine_size())};
  const byte_range inputs[5] = {range_of(b.x, p.elements()), range_of(b.alpha, p.affine_size()),
                                range_of(b.dy, p.elements()), range_of(b.mean, p.statistics()),
                                range_of(b.rstd, p.statistics())};
  // dx == x or dx == dy.
  const bool allowed[3][5] = {{true, false, true, false, false}, {}, {}};
  if (overlaps(outputs, inputs, allowed)) return VARNORM_ERROR_OVERLAP;
  *out = p;
  return VARNORM_OK;
}

}  // namespace varnorm::detail
