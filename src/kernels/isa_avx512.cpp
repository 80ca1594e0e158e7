// The "avx512" kernel set: kernel_source.inl compiled with -mavx512f -mavx512cd -mavx512dq -mavx512bw.
#include "kernels/vector_ops.hpp"

namespace varnorm::detail::avx512 {
using kernel_arch = xsimd::avx512bw;
constexpr int kernel_max_vectors = 8;  // 32 zmm registers
constexpr const char* kernel_name = "avx512";
}  // namespace varnorm::detail::avx512

#define VARNORM_KERNEL_NAMESPACE avx512
#include "kernels/kernel_source.inl"
