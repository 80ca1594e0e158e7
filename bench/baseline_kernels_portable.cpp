// The baseline kernels with 128-bit vectors (see baseline_kernels.inl).
#define VARNORM_BENCH_KERNEL_NS baseline_portable
#define VARNORM_BENCH_ISA_NAME "portable"
#define VARNORM_BENCH_VECTOR_BYTES 16
#include "baseline_kernels.inl"
