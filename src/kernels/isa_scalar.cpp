// The scalar kernel set: kernel_source.inl over plain floats, compiled for the baseline target. Always
// available, so every other set can be checked against it.
#define VARNORM_KERNEL_SCALAR
#include "kernels/vector_ops.hpp"

namespace varnorm::detail::scalar {
using kernel_arch = scalar_arch;
constexpr int kernel_max_vectors = 4;  // independent accumulation chains to hide add latency
}  // namespace varnorm::detail::scalar

#define VARNORM_KERNEL_NAMESPACE scalar
#include "kernels/kernel_source.inl"
