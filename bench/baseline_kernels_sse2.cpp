// The baseline loops for the library's sse2 kernel set: 128-bit vectors (see baseline_kernels.inl).
#define VARNORM_BENCH_KERNEL_SET sse2
#define VARNORM_BENCH_NAMESPACE baseline_sse2
#define VARNORM_BENCH_VECTOR_BYTES 16
#include "baseline_kernels.inl"
