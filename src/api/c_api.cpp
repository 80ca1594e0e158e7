// The C entry points: validate, then execute. Nothing here computes; nothing below throws.
#include <varnorm/varnorm.h>

#include "dispatch/isa_dispatch.hpp"
#include "exec/execute.hpp"
#include "validate/validate.hpp"

#define VARNORM_STRINGIFY_(x) #x
#define VARNORM_STRINGIFY(x) VARNORM_STRINGIFY_(x)

extern "C" {

varnorm_desc varnorm_desc_make(int64_t n, int64_t c, int64_t h, int64_t w, varnorm_layout layout) {
  varnorm_desc d;
  d.n = n;
  d.c = c;
  d.h = h;
  d.w = w;
  d.layout = layout;
  d.algorithm = VARNORM_ALGORITHM_AUTO;
  d.eps = 1e-5f;
  d.correction = 1;
  d.per_sample_affine = 0;
  d.max_threads = 0;
  d.groups = 0;
  d.center = 0;
  return d;
}

varnorm_status varnorm_forward(const varnorm_desc* desc, const float* x, const float* alpha, const float* beta,
                               float* y, float* mean, float* rstd) {
  const varnorm::detail::forward_buffers b{x, alpha, beta, y, mean, rstd};
  varnorm::detail::problem p;
  const varnorm_status s = varnorm::detail::validate_forward(desc, b, &p);
  if (s != VARNORM_OK) return s;
  return varnorm::detail::execute_forward(p, b);
}

varnorm_status varnorm_backward(const varnorm_desc* desc, const float* x, const float* alpha, const float* dy,
                                const float* mean, const float* rstd, float* dx, float* dalpha, float* dbeta) {
  const varnorm::detail::backward_buffers b{x, alpha, dy, mean, rstd, dx, dalpha, dbeta};
  varnorm::detail::problem p;
  const varnorm_status s = varnorm::detail::validate_backward(desc, b, &p);
  if (s != VARNORM_OK) return s;
  return varnorm::detail::execute_backward(p, b);
}

const char* varnorm_status_string(varnorm_status status) {
  switch (varnorm::detail::enum_value(status)) {
    case VARNORM_OK: return "success";
    case VARNORM_ERROR_NULL_POINTER: return "a required pointer is NULL";
    case VARNORM_ERROR_INVALID_SHAPE: return "invalid shape: a negative dimension or a size that overflows";
    case VARNORM_ERROR_INVALID_ARGUMENT: return "invalid argument";
    case VARNORM_ERROR_TOO_FEW_ELEMENTS: return "too few elements per plane for the variance (h*w <= correction)";
    case VARNORM_ERROR_OVERLAP: return "an output buffer partially overlaps another buffer";
    case VARNORM_ERROR_UNSUPPORTED: return "instruction set not supported by this CPU or build";
  }
  return "unknown status";
}

const char* varnorm_isa(void) { return varnorm::detail::active_isa_name(); }

varnorm_status varnorm_set_isa(const char* name) { return varnorm::detail::select_isa(name); }

int varnorm_isa_count(void) { return varnorm::detail::isa_count(); }

const char* varnorm_isa_name(int index) { return varnorm::detail::isa_name(index); }

int varnorm_isa_supported(const char* name) { return varnorm::detail::isa_supported(name) ? 1 : 0; }

const char* varnorm_version(void) {
  return VARNORM_STRINGIFY(VARNORM_VERSION_MAJOR) "." VARNORM_STRINGIFY(VARNORM_VERSION_MINOR) "." VARNORM_STRINGIFY(
      VARNORM_VERSION_PATCH);
}

}  // extern "C"
