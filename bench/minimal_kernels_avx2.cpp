// The minimal kernels with 256-bit vectors (see minimal_kernels.inl).
#define VARNORM_BENCH_MINIMAL_NS minimal_avx2
#define VARNORM_BENCH_VECTOR_BYTES 32
#include "minimal_kernels.inl"
