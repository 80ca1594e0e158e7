// The baseline loops for the library's avx512 kernel set: 512-bit vectors (see baseline_kernels.inl).
#define VARNORM_BENCH_KERNEL_SET avx512
#define VARNORM_BENCH_NAMESPACE baseline_avx512
#define VARNORM_BENCH_VECTOR_BYTES 64
#include "baseline_kernels.inl"
