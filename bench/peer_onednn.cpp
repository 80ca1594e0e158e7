// The oneDNN peer: layer normalization over the N*C rows (H*W columns each) of an NCHW tensor.
#include <cstdio>
#include <string>

#include <oneapi/dnnl/dnnl.hpp>

#if defined(VARNORM_BENCH_HAVE_OPENMP) && DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
#include <omp.h>
#define VARNORM_BENCH_ONEDNN_OMP 1
#endif

#include "peers.hpp"

namespace vnbench {
namespace {

class OnednnLayerNorm final : public OnednnPeer {
 public:
  explicit OnednnLayerNorm(Tensors& t)
      : rows_(static_cast<dnnl::memory::dim>(t.shape.planes())),
        cols_(static_cast<dnnl::memory::dim>(t.shape.plane_size())),
        engine_(dnnl::engine::kind::cpu, 0),
        stream_(engine_),
        scale_(make_floats(t.shape.plane_size())),
        diff_scale_(make_floats(t.shape.plane_size())) {
    using dnnl::memory;
    using tag = memory::format_tag;
    using dt = memory::data_type;
    const memory::desc data({rows_, cols_}, dt::f32, tag::ab);
    const memory::desc stats({rows_}, dt::f32, tag::a);
    const memory::desc scale({cols_}, dt::f32, tag::a);
    const auto flags = dnnl::normalization_flags::use_scale;
    const float eps = 1e-5f;
    for (std::size_t i = 0; i < t.shape.plane_size(); ++i) scale_[i] = 1.0f;

    const dnnl::layer_normalization_forward::primitive_desc fwd_pd(
        dnnl::layer_normalization_forward::desc(dnnl::prop_kind::forward_training, data, eps, flags), engine_);
    const dnnl::layer_normalization_backward::primitive_desc bwd_pd(
        dnnl::layer_normalization_backward::desc(dnnl::prop_kind::backward, data, data, eps, flags), engine_, fwd_pd);
    forward_ = dnnl::layer_normalization_forward(fwd_pd);
    backward_ = dnnl::layer_normalization_backward(bwd_pd);

    src_ = memory(data, engine_, t.x.get());
    dst_ = memory(data, engine_, t.y.get());
    diff_dst_ = memory(data, engine_, t.dy.get());
    diff_src_ = memory(data, engine_, t.dx.get());
    mean_ = memory(stats, engine_);  // oneDNN allocates these
    variance_ = memory(stats, engine_);
    scale_mem_ = memory(scale, engine_, scale_.get());
    diff_scale_mem_ = memory(scale, engine_, diff_scale_.get());
    // Scratchpads are owned by the primitives (default attribute). A first forward makes the statistics.
    forward();
  }

  void forward() override {
    forward_.execute(stream_, {{DNNL_ARG_SRC, src_},
                               {DNNL_ARG_DST, dst_},
                               {DNNL_ARG_MEAN, mean_},
                               {DNNL_ARG_VARIANCE, variance_},
                               {DNNL_ARG_SCALE, scale_mem_}});
    stream_.wait();
  }

  void backward() override {
    backward_.execute(stream_, {{DNNL_ARG_SRC, src_},
                                {DNNL_ARG_DIFF_DST, diff_dst_},
                                {DNNL_ARG_MEAN, mean_},
                                {DNNL_ARG_VARIANCE, variance_},
                                {DNNL_ARG_SCALE, scale_mem_},
                                {DNNL_ARG_DIFF_SRC, diff_src_},
                                {DNNL_ARG_DIFF_SCALE, diff_scale_mem_}});
    stream_.wait();
  }

 private:
  dnnl::memory::dim rows_, cols_;
  dnnl::engine engine_;
  dnnl::stream stream_;
  FloatArray scale_, diff_scale_;
  dnnl::layer_normalization_forward forward_;
  dnnl::layer_normalization_backward backward_;
  dnnl::memory src_, dst_, diff_dst_, diff_src_, mean_, variance_, scale_mem_, diff_scale_mem_;
};

}  // namespace

std::unique_ptr<OnednnPeer> make_onednn_peer(Tensors& t) {
  try {
    return std::make_unique<OnednnLayerNorm>(t);
  } catch (const dnnl::error& e) {
    std::fprintf(stderr, "oneDNN peer unavailable for %s: %s\n", t.shape.name().c_str(), e.what());
    return nullptr;
  }
}

const char* onednn_version() {
  static const std::string version = [] {
    const dnnl_version_t* v = dnnl_version();
    return std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
  }();
  return version.c_str();
}

bool onednn_set_threads(int threads) {
#if defined(VARNORM_BENCH_ONEDNN_OMP)
  omp_set_num_threads(threads);  // the calling thread's OpenMP team size, which oneDNN's parallel regions use
  return true;
#elif DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_SEQ
  return threads == 1;
#else
  (void)threads;
  return false;
#endif
}

}  // namespace vnbench
