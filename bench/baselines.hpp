// Roofline baselines: the cheapest kernels that move the same compulsory bytes as the layer.
//   forward  (x read, y written)           -> copy:        dst = src
//   backward (x and dy read, dx written)   -> read2write1: dst = a + b
// stream: write with non-temporal stores (vector loop, widest vectors the CPU has); otherwise regular stores
// (copy: glibc's memcpy; read2write1: the same vector loop with regular stores). The benchmark calibrates
// both in the same run and keeps the faster one for each size and thread count (the library streams its
// outputs from 16 MiB on). threads > 1 runs on a oneTBB arena of exactly that many threads, one contiguous
// slice per thread.
#ifndef VARNORM_BENCH_BASELINES_HPP
#define VARNORM_BENCH_BASELINES_HPP

#include <cstddef>

namespace vnbench {

void copy_floats(float* dst, const float* src, std::size_t count, int threads, bool stream);
void read2write1(float* dst, const float* a, const float* b, std::size_t count, int threads, bool stream);

// The vector width the baselines use on this CPU: "avx512", "avx2" or "sse2".
const char* baseline_isa();

}  // namespace vnbench

#endif  // VARNORM_BENCH_BASELINES_HPP
