// PyTorch operators over libvarnorm. TORCH_LIBRARY(varnorm) declares them, so Python (torch.ops.varnorm.*) and
// TorchScript call the same kernels. The Autograd kernel of variance_norm is a torch::autograd::Function whose
// backward is the library's fused varnorm_backward on the mean/rstd its forward saved.
//
// Errors are c10 exceptions, which PyTorch turns into Python exceptions:
//   TORCH_CHECK_TYPE  -> TypeError   (not a float32 CPU dense tensor)
//   TORCH_CHECK_VALUE -> ValueError  (rank, channel count, alpha shape, eps, correction)
//   TORCH_CHECK       -> RuntimeError (a status from the library, with varnorm_status_string's text)
//   TORCH_CHECK_NOT_IMPLEMENTED -> NotImplementedError, a RuntimeError (forward-mode AD)
// Inside TorchScript every one of them surfaces as a RuntimeError with the same message.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/csrc/autograd/autograd_not_implemented_fallback.h>
#include <torch/library.h>

#include <varnorm/varnorm.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <tuple>

namespace varnorm_torch {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr const char* kOpName = "varnorm::variance_norm";

// The dtype as Python spells it, so messages read like the user's code.
std::string python_dtype_name(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return "torch.float32";
    case at::kDouble: return "torch.float64";
    case at::kHalf: return "torch.float16";
    case at::kBFloat16: return "torch.bfloat16";
    case at::kByte: return "torch.uint8";
    case at::kChar: return "torch.int8";
    case at::kShort: return "torch.int16";
    case at::kInt: return "torch.int32";
    case at::kLong: return "torch.int64";
    case at::kBool: return "torch.bool";
    case at::kComplexFloat: return "torch.complex64";
    case at::kComplexDouble: return "torch.complex128";
    default: return std::string("torch.") + c10::toString(type);
  }
}

void check_float32_cpu_dense(const at::Tensor& t, const char* what) {
  TORCH_CHECK_TYPE(t.defined(), kOpName, ": ", what, " is an undefined tensor");
  TORCH_CHECK_TYPE(t.device().is_cpu(), kOpName, ": ", what, " is on device '", t.device(),
                   "'; varnorm computes on the CPU only (move the tensor with .cpu(), or keep PyTorch's own module "
                   "for ",
                   t.device().type(), " tensors)");
  TORCH_CHECK_TYPE(t.layout() == at::kStrided, kOpName, ": ", what, " has layout ", t.layout(),
                   "; varnorm needs a dense (strided) tensor");
  TORCH_CHECK_TYPE(t.scalar_type() == at::kFloat, kOpName, ": ", what, " has dtype ",
                   python_dtype_name(t.scalar_type()),
                   "; varnorm supports torch.float32 only (convert with .float(), or keep PyTorch's own module "
                   "for other dtypes)");
}

// The problem an input and an alpha describe, after every argument check.
struct problem_shape {
  int64_t n, c, h, w;
  bool per_sample_affine;  // alpha is [N, C] (one row per sample) rather than [C]
};

problem_shape check_arguments(const at::Tensor& input, const at::Tensor& alpha, double eps, int64_t correction) {
  check_float32_cpu_dense(input, "input");
  check_float32_cpu_dense(alpha, "alpha");
  TORCH_CHECK_VALUE(input.dim() == 4, kOpName, ": input must be 4-D (N, C, H, W), got a ", input.dim(),
                    "-D tensor of shape ", input.sizes());
  const problem_shape s{input.size(0), input.size(1), input.size(2), input.size(3), alpha.dim() == 2};
  if (alpha.dim() == 1) {
    TORCH_CHECK_VALUE(alpha.size(0) == s.c, kOpName, ": the input has ", s.c, " channels (shape ", input.sizes(),
                      ") but alpha has ", alpha.size(0),
                      " values: the module was built for num_features = ", alpha.size(0));
  } else if (alpha.dim() == 2) {
    TORCH_CHECK_VALUE(alpha.size(1) == s.c, kOpName, ": the input has ", s.c, " channels (shape ", input.sizes(),
                      ") but the per-sample alpha has ", alpha.size(1), " values per sample (shape ", alpha.sizes(),
                      "): the module was built for num_features = ", alpha.size(1));
    TORCH_CHECK_VALUE(alpha.size(0) == s.n, kOpName, ": the input has ", s.n, " samples (shape ", input.sizes(),
                      ") but the per-sample alpha has ", alpha.size(0), " rows (shape ", alpha.sizes(),
                      "): give one class label per sample");
  } else {
    TORCH_CHECK_VALUE(false, kOpName, ": alpha must be [C] (per channel) or [N, C] (per sample), got shape ",
                      alpha.sizes());
  }
  const float eps_float = static_cast<float>(eps);
  TORCH_CHECK_VALUE(std::isfinite(eps_float) && eps_float >= 0.0f, kOpName,
                    ": eps must be finite and non-negative in float32, got ", eps);
  TORCH_CHECK_VALUE(correction == 0 || correction == 1, kOpName,
                    ": correction must be 0 (population variance) or 1 (unbiased, as torch.var), got ", correction);
  return s;
}

// How a 4-D tensor is handed to the library: NCHW-contiguous as NCHW, channels_last-contiguous as NHWC, both
// without a copy. Other strides are copied to the format PyTorch suggests for them (channels_last for a slice of
// a channels_last tensor, NCHW otherwise), so that outputs keep the input's memory format.
struct memory_plan {
  at::MemoryFormat format;
  varnorm_layout layout;
};

memory_plan memory_plan_for(const at::Tensor& input) {
  if (input.is_contiguous(at::MemoryFormat::Contiguous)) return {at::MemoryFormat::Contiguous, VARNORM_LAYOUT_NCHW};
  if (input.is_contiguous(at::MemoryFormat::ChannelsLast) ||
      input.suggest_memory_format() == at::MemoryFormat::ChannelsLast)
    return {at::MemoryFormat::ChannelsLast, VARNORM_LAYOUT_NHWC};
  return {at::MemoryFormat::Contiguous, VARNORM_LAYOUT_NCHW};
}

varnorm_desc make_desc(const problem_shape& s, varnorm_layout layout, double eps, int64_t correction) {
  varnorm_desc desc = varnorm_desc_make(s.n, s.c, s.h, s.w, layout);
  desc.eps = static_cast<float>(eps);
  desc.correction = static_cast<int32_t>(correction);
  desc.per_sample_affine = s.per_sample_affine ? 1 : 0;
  // PyTorch's intra-op thread count (torch.set_num_threads), so one knob governs both libraries.
  desc.max_threads = static_cast<int32_t>(at::get_num_threads());
  return desc;
}

void check_status(varnorm_status status, const char* function, const at::Tensor& input) {
  TORCH_CHECK(status == VARNORM_OK, kOpName, ": ", function, " failed: ", varnorm_status_string(status),
              " (input shape ", input.sizes(), ")");
}

at::Tensor empty_float32(at::IntArrayRef sizes, at::MemoryFormat format = at::MemoryFormat::Contiguous) {
  return at::empty(sizes, at::TensorOptions().dtype(at::kFloat).device(at::kCPU).memory_format(format));
}

// y, and the mean and rstd of every plane ([N, C]) when `with_statistics`.
std::tuple<at::Tensor, at::Tensor, at::Tensor> run_forward(const at::Tensor& input, const at::Tensor& alpha, double eps,
                                                           int64_t correction, bool with_statistics) {
  const problem_shape s = check_arguments(input, alpha, eps, correction);
  const memory_plan plan = memory_plan_for(input);
  const at::Tensor x = input.contiguous(plan.format);
  const at::Tensor a = alpha.contiguous();
  at::Tensor y = empty_float32(x.sizes(), plan.format);
  at::Tensor mean, rstd;
  if (with_statistics) {
    mean = empty_float32({s.n, s.c});
    rstd = empty_float32({s.n, s.c});
  }
  const varnorm_desc desc = make_desc(s, plan.layout, eps, correction);
  const varnorm_status status = varnorm_forward(&desc, x.data_ptr<float>(), a.data_ptr<float>(), nullptr,
                                                y.data_ptr<float>(), with_statistics ? mean.data_ptr<float>() : nullptr,
                                                with_statistics ? rstd.data_ptr<float>() : nullptr);
  check_status(status, "varnorm_forward", input);
  return {y, mean, rstd};
}

// --- CPU kernels (registered for CompositeExplicitAutograd, so that any other device reaches the checks above
// and gets a TypeError instead of the dispatcher's "could not run" message).

at::Tensor variance_norm(const at::Tensor& input, const at::Tensor& alpha, double eps, int64_t correction) {
  return std::get<0>(run_forward(input, alpha, eps, correction, /*with_statistics=*/false));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> variance_norm_forward(const at::Tensor& input, const at::Tensor& alpha,
                                                                     double eps, int64_t correction) {
  return run_forward(input, alpha, eps, correction, /*with_statistics=*/true);
}

std::tuple<at::Tensor, at::Tensor> variance_norm_backward(const at::Tensor& grad_output, const at::Tensor& input,
                                                          const at::Tensor& alpha, const at::Tensor& mean,
                                                          const at::Tensor& rstd, double eps, int64_t correction,
                                                          std::array<bool, 2> output_mask) {
  const problem_shape s = check_arguments(input, alpha, eps, correction);
  check_float32_cpu_dense(grad_output, "grad_output");
  check_float32_cpu_dense(mean, "mean");
  check_float32_cpu_dense(rstd, "rstd");
  TORCH_CHECK_VALUE(grad_output.sizes() == input.sizes(), kOpName, ": grad_output has shape ", grad_output.sizes(),
                    " but the input has shape ", input.sizes());
  TORCH_CHECK_VALUE(mean.numel() == s.n * s.c && rstd.numel() == s.n * s.c, kOpName,
                    ": mean and rstd must have N*C = ", s.n * s.c, " values, got ", mean.numel(), " and ",
                    rstd.numel());
  at::Tensor grad_input, grad_alpha;
  if (!output_mask[0] && !output_mask[1]) return {grad_input, grad_alpha};

  // dy must be laid out as x is, whatever format the upstream gradient arrives in.
  const memory_plan plan = memory_plan_for(input);
  const at::Tensor x = input.contiguous(plan.format);
  const at::Tensor dy = grad_output.contiguous(plan.format);
  const at::Tensor a = alpha.contiguous();
  const at::Tensor saved_mean = mean.contiguous();
  const at::Tensor saved_rstd = rstd.contiguous();
  if (output_mask[0]) grad_input = empty_float32(x.sizes(), plan.format);
  if (output_mask[1]) grad_alpha = empty_float32(a.sizes());
  const varnorm_desc desc = make_desc(s, plan.layout, eps, correction);
  const varnorm_status status = varnorm_backward(&desc, x.data_ptr<float>(), a.data_ptr<float>(), dy.data_ptr<float>(),
                                                 saved_mean.data_ptr<float>(), saved_rstd.data_ptr<float>(),
                                                 output_mask[0] ? grad_input.data_ptr<float>() : nullptr,
                                                 output_mask[1] ? grad_alpha.data_ptr<float>() : nullptr, nullptr);
  check_status(status, "varnorm_backward", input);
  return {grad_input, grad_alpha};
}

// --- Autograd. Forward and backward go through the dispatcher, so the profiler sees them and the backward
// operator's Autograd kernel (autogradNotImplementedFallback) makes a double backward raise instead of
// silently returning gradients that do not depend on grad_output's history.

const c10::TypedOperatorHandle<decltype(variance_norm)>& variance_norm_op() {
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("varnorm::variance_norm", "").typed<decltype(variance_norm)>();
  return op;
}

const c10::TypedOperatorHandle<decltype(variance_norm_forward)>& variance_norm_forward_op() {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("varnorm::variance_norm_forward", "")
                             .typed<decltype(variance_norm_forward)>();
  return op;
}

const c10::TypedOperatorHandle<decltype(variance_norm_backward)>& variance_norm_backward_op() {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("varnorm::variance_norm_backward", "")
                             .typed<decltype(variance_norm_backward)>();
  return op;
}

class VarianceNormFunction : public torch::autograd::Function<VarianceNormFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, const at::Tensor& alpha, double eps,
                            int64_t correction) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    auto [y, mean, rstd] = variance_norm_forward_op().call(input, alpha, eps, correction);
    ctx->save_for_backward({input, alpha, mean, rstd});
    ctx->saved_data["eps"] = eps;
    ctx->saved_data["correction"] = correction;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const variable_list saved = ctx->get_saved_variables();
    const std::array<bool, 2> output_mask = {ctx->needs_input_grad(0), ctx->needs_input_grad(1)};
    auto [grad_input, grad_alpha] = variance_norm_backward_op().call(
        grad_outputs[0], saved[0], saved[1], saved[2], saved[3], ctx->saved_data["eps"].toDouble(),
        ctx->saved_data["correction"].toInt(), output_mask);
    return {grad_input, grad_alpha, at::Tensor(), at::Tensor()};
  }
};

at::Tensor variance_norm_autograd(const at::Tensor& input, const at::Tensor& alpha, double eps, int64_t correction) {
  // Without this check, dual tensors would get an output with no tangent: a silently wrong forward-mode result.
  TORCH_CHECK_NOT_IMPLEMENTED(!input._fw_grad(/*level=*/0).defined() && !alpha._fw_grad(/*level=*/0).defined(), kOpName,
                              ": forward-mode AD (dual tensors) is not implemented; use backward()");
  // Nothing to differentiate (inference under no_grad, or frozen inputs): no statistics, no graph node.
  if (!at::GradMode::is_enabled() || !(input.requires_grad() || alpha.requires_grad())) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    return variance_norm_op().call(input, alpha, eps, correction);
  }
  return VarianceNormFunction::apply(input, alpha, eps, correction);
}

std::string library_version() { return varnorm_version(); }
std::string kernel_set() { return varnorm_isa(); }

}  // namespace
}  // namespace varnorm_torch

TORCH_LIBRARY(varnorm, m) {
  m.def("variance_norm(Tensor input, Tensor alpha, float eps=1e-05, int correction=1) -> Tensor");
  m.def("variance_norm_forward(Tensor input, Tensor alpha, float eps=1e-05, int correction=1)"
        " -> (Tensor output, Tensor mean, Tensor rstd)");
  m.def("variance_norm_backward(Tensor grad_output, Tensor input, Tensor alpha, Tensor mean, Tensor rstd,"
        " float eps, int correction, bool[2] output_mask) -> (Tensor grad_input, Tensor grad_alpha)");
  m.def("library_version() -> str", &varnorm_torch::library_version);
  m.def("isa() -> str", &varnorm_torch::kernel_set);
}

TORCH_LIBRARY_IMPL(varnorm, CompositeExplicitAutograd, m) {
  m.impl("variance_norm", &varnorm_torch::variance_norm);
  m.impl("variance_norm_forward", &varnorm_torch::variance_norm_forward);
  m.impl("variance_norm_backward", &varnorm_torch::variance_norm_backward);
}

TORCH_LIBRARY_IMPL(varnorm, Autograd, m) {
  m.impl("variance_norm", &varnorm_torch::variance_norm_autograd);
  m.impl("variance_norm_forward", torch::autograd::autogradNotImplementedFallback());
  m.impl("variance_norm_backward", torch::autograd::autogradNotImplementedFallback());
}
