// The avx2 kernel set: kernel_source.inl compiled with the flags cmake/VarnormKernels.cmake gives it.
#include "kernels/vector_ops.hpp"

namespace varnorm::detail::avx2 {
using kernel_arch = xsimd::fma3<xsimd::avx2>;
constexpr int kernel_max_vectors = 4;  // 16 ymm registers
}  // namespace varnorm::detail::avx2

#define VARNORM_KERNEL_NAMESPACE avx2
#include "kernels/kernel_source.inl"
