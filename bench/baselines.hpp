// Roofline baselines: the cheapest kernels that move the same compulsory bytes as the layer.
//   forward  (x read, y written)           -> copy:        dst = src
//   backward (x and dy read, dx written)   -> read2write1: dst = a + b
// and, for the floors of two-sweep kernels (a reduction sweep, then the output sweep):
//   forward:  one read-only sweep of x           -> read1: sum of src (returned, so it is not optimized away)
//   backward: one read-only sweep of x and dy    -> read2: sum of a + sum of b (returned likewise)
// and the least arithmetic a layer's two sweeps can do (baseline_kernels.hpp), on the NCHW planes of the shape or
// over the channels of its NHWC samples:
//   forward:  minimal_forward, minimal_forward_nhwc (sum x, sum x^2; then y = x * s)
//   backward: minimal_backward, minimal_backward_nhwc (sum dy*x, sum dy; then dx = a*dy + b*x + c)
// The loops are baseline_kernels.inl's, compiled per kernel set; the set of the best one the CPU runs is used.
// stream: write with non-temporal stores; otherwise regular stores (copy: glibc's memcpy; read2write1: the same
// vector loop with regular stores). The benchmark calibrates both in the same run and keeps the faster one for
// each size and thread count (the library streams its output when all its arrays span 12 MiB or more on one thread).
// threads > 1 runs on a oneTBB arena of exactly that many threads, one contiguous slice per thread. read1 and
// read2 store nothing: a vector loop with 8 independent accumulators per input.
#ifndef VARNORM_BENCH_BASELINES_HPP
#define VARNORM_BENCH_BASELINES_HPP

#include <cstddef>
#include <string>

namespace vnbench {

void copy_floats(float* dst, const float* src, std::size_t count, int threads, bool stream);
void read2write1(float* dst, const float* a, const float* b, std::size_t count, int threads, bool stream);
// Read-only sweep: the sum of src[0..count) (8 independent vector accumulators per thread, widest vectors the
// CPU has; float sums within a slice, the slices' sums added in double).
double read_floats(const float* src, std::size_t count, int threads);
// Read-only sweep of two arrays: sum of a[0..count) + sum of b[0..count), the same loops, slices and arenas as
// read_floats (8 accumulators per input).
double read2_floats(const float* a, const float* b, std::size_t count, int threads);

// The minimal kernels over `planes` planes of `plane` floats; threads > 1: whole planes, one contiguous range
// of planes per thread.
void minimal_forward(float* y, const float* x, std::size_t plane, std::size_t planes, int threads, bool stream);
void minimal_backward(float* dx, const float* x, const float* dy, std::size_t plane, std::size_t planes, int threads,
                      bool stream);

// The same two sweeps over `samples` NHWC samples of `positions` positions of `channels` floats, one statistic per
// channel over a sample's positions; threads > 1: whole samples per thread when there are at least as many as
// threads, otherwise each sample's positions shared.
void minimal_forward_nhwc(float* y, const float* x, std::size_t positions, std::size_t channels, std::size_t samples,
                          int threads, bool stream);
void minimal_backward_nhwc(float* dx, const float* x, const float* dy, std::size_t positions, std::size_t channels,
                           std::size_t samples, int threads, bool stream);

// Runs the minimal kernels of both layouts on small tensors whose channels differ, on one thread and two, with
// and without non-temporal stores, against the same formulas in double: empty when they agree, else what is
// wrong.
std::string check_minimal_kernels();

// The library's kernel set whose flags compiled the baselines this CPU runs (a name varnorm_isa_name lists).
const char* baseline_isa();

}  // namespace vnbench

#endif  // VARNORM_BENCH_BASELINES_HPP
