// The sse2 kernel set: kernel_source.inl compiled with the flags cmake/VarnormKernels.cmake gives it.
#include "kernels/vector_ops.hpp"

namespace varnorm::detail::sse2 {
using kernel_arch = xsimd::sse2;
constexpr int kernel_max_vectors = 4;  // 16 xmm registers
}  // namespace varnorm::detail::sse2

#define VARNORM_KERNEL_NAMESPACE sse2
#include "kernels/kernel_source.inl"
