// The baseline loops for the library's neon64 kernel set: 128-bit vectors (see baseline_kernels.inl).
#define VARNORM_BENCH_KERNEL_SET neon64
#define VARNORM_BENCH_NAMESPACE baseline_neon64
#define VARNORM_BENCH_VECTOR_BYTES 16
#include "baseline_kernels.inl"
