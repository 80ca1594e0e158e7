// The avx512 kernel set: kernel_source.inl compiled with the flags cmake/VarnormKernels.cmake gives it.
#include "kernels/vector_ops.hpp"

namespace varnorm::detail::avx512 {
using kernel_arch = xsimd::avx512bw;
constexpr int kernel_max_vectors = 8;  // 32 zmm registers
}  // namespace varnorm::detail::avx512

#define VARNORM_KERNEL_NAMESPACE avx512
#include "kernels/kernel_source.inl"
