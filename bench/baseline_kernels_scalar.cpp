// The baseline loops for the library's scalar kernel set: 128-bit vectors, no ISA flags (see baseline_kernels.inl).
#define VARNORM_BENCH_KERNEL_SET scalar
#define VARNORM_BENCH_NAMESPACE baseline_scalar
#define VARNORM_BENCH_VECTOR_BYTES 16
#include "baseline_kernels.inl"
