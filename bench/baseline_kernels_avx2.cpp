// The baseline kernels with 256-bit vectors (see baseline_kernels.inl).
#define VARNORM_BENCH_KERNEL_NS baseline_avx2
#define VARNORM_BENCH_ISA_NAME "avx2"
#define VARNORM_BENCH_VECTOR_BYTES 32
#include "baseline_kernels.inl"
