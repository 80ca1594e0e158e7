// Peers measured in the same run as varnorm, each a real implementation of comparable work.
#ifndef VARNORM_BENCH_PEERS_HPP
#define VARNORM_BENCH_PEERS_HPP

#include <cstddef>
#include <memory>

#include "bench_common.hpp"

namespace vnbench {

// VarianceNorm2d written by hand, the way a user would: for each (n, c) plane a loop for the mean, a loop for
// the variance (double accumulators), then y = alpha * x / sqrt(var + eps). NHWC runs the same loops with
// stride C. Backward (saved mean/rstd): a loop for S = sum(dy*x), then the dx loop. One thread.
void naive_forward(const Shape4& s, bool nhwc, const float* x, const float* alpha, float* y, float* mean, float* rstd,
                   float eps, int correction);
void naive_backward(const Shape4& s, bool nhwc, const float* x, const float* alpha, const float* dy, const float* mean,
                    const float* rstd, float* dx, float* dalpha, int correction);

// oneDNN layer normalization over rows of H*W (an NCHW tensor viewed as N*C rows), forward_training with a
// scale (the layer-norm scale has H*W values), and backward (diff_src and diff_scale) from the saved
// statistics. Primitives are created once, in make_onednn_peer. Unlike VarianceNorm2d it subtracts the mean.
class OnednnPeer {
 public:
  virtual ~OnednnPeer() = default;
  virtual void forward() = 0;   // t.x -> t.y, mean and variance kept for backward
  virtual void backward() = 0;  // t.x, t.dy -> t.dx, diff_scale
};

// nullptr when this build has no oneDNN. The peer reads and writes the buffers of `t` (NCHW view).
std::unique_ptr<OnednnPeer> make_onednn_peer(Tensors& t);

// oneDNN's version ("2.6.3"), or nullptr when this build has no oneDNN.
const char* onednn_version();

// Makes oneDNN run on `threads` threads. False when its threading runtime cannot be told (then the peer is
// only benchmarked where that does not matter: a sequential oneDNN at threads:1).
bool onednn_set_threads(int threads);

}  // namespace vnbench

#endif  // VARNORM_BENCH_PEERS_HPP
