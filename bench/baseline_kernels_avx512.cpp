// The baseline kernels with 512-bit vectors (see baseline_kernels.inl).
#define VARNORM_BENCH_KERNEL_NS baseline_avx512
#define VARNORM_BENCH_ISA_NAME "avx512"
#define VARNORM_BENCH_VECTOR_BYTES 64
#include "baseline_kernels.inl"
