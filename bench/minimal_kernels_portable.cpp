// The minimal kernels with 128-bit vectors (see minimal_kernels.inl).
#define VARNORM_BENCH_MINIMAL_NS minimal_portable
#define VARNORM_BENCH_VECTOR_BYTES 16
#include "minimal_kernels.inl"
