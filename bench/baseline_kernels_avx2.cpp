// The baseline loops for the library's avx2 kernel set: 256-bit vectors (see baseline_kernels.inl).
#define VARNORM_BENCH_KERNEL_SET avx2
#define VARNORM_BENCH_NAMESPACE baseline_avx2
#define VARNORM_BENCH_VECTOR_BYTES 32
#include "baseline_kernels.inl"
