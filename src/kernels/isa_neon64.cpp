// The neon64 kernel set: kernel_source.inl compiled with the flags cmake/VarnormKernels.cmake gives it.
#include "kernels/vector_ops.hpp"

namespace varnorm::detail::neon64 {
using kernel_arch = xsimd::neon64;
constexpr int kernel_max_vectors = 8;  // 32 NEON registers
}  // namespace varnorm::detail::neon64

#define VARNORM_KERNEL_NAMESPACE neon64
#include "kernels/kernel_source.inl"
