// The caller's floating-point environment as audio hosts set it: FTZ/DAZ on x86 (MXCSR). Where MXCSR
// exists, VARNORM_TEST_HAVE_MXCSR is defined.
#pragma once

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>

#include <limits>

#define VARNORM_TEST_HAVE_MXCSR 1

namespace varnorm_test {

// Sets FTZ (bit 15) and DAZ (bit 6) on the calling thread for the object's lifetime.
class flush_denormals_scope {
 public:
  flush_denormals_scope() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040u); }
  ~flush_denormals_scope() { _mm_setcsr(saved_); }
  flush_denormals_scope(const flush_denormals_scope&) = delete;
  flush_denormals_scope& operator=(const flush_denormals_scope&) = delete;

 private:
  unsigned saved_;
};

// Whether FTZ takes effect here: valgrind, for one, ignores MXCSR's FTZ/DAZ bits, so tests of them have
// nothing to check there.
inline bool flush_to_zero_works() {
  volatile float smallest_normal = std::numeric_limits<float>::min(), half = 0.5f, product = 1.0f;
  {
    flush_denormals_scope ftz_daz;
    product = smallest_normal * half;
  }
  return product == 0.0f;
}

}  // namespace varnorm_test
#endif
