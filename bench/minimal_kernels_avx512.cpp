// The minimal kernels with 512-bit vectors (see minimal_kernels.inl).
#define VARNORM_BENCH_MINIMAL_NS minimal_avx512
#define VARNORM_BENCH_VECTOR_BYTES 64
#include "minimal_kernels.inl"
