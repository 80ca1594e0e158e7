// PyTorch operators over libvarnorm. TORCH_LIBRARY(varnorm) declares them, so Python (torch.ops.varnorm.*) and
// TorchScript call the same kernels: variance_norm (VarianceNorm2d) and group_norm (GroupNorm, InstanceNorm2d:
// the library's groups and center fields), each with its forward and backward halves. The Autograd kernels of
// variance_norm and group_norm are torch::autograd::Functions whose backward is the library's fused
// varnorm_backward on the mean/rstd their forward saved.
//
// Errors are c10 exceptions, which PyTorch turns into Python exceptions:
//   TORCH_CHECK_TYPE  -> TypeError   (not a float32 CPU dense tensor)
//   TORCH_CHECK_VALUE -> ValueError  (rank, channel count, alpha/weight/bias shape, num_groups, eps, correction)
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

void check_float32_cpu_dense(const at::Tensor& t, const char* what, const char* op = kOpName) {
  TORCH_CHECK_TYPE(t.defined(), op, ": ", what, " is an undefined tensor");
  TORCH_CHECK_TYPE(t.device().is_cpu(), op, ": ", what, " is on device '", t.device(),
                   "'; varnorm computes on the CPU only (move the tensor with .cpu(), or keep PyTorch's own module "
                   "for ",
                   t.device().type(), " tensors)");
  TORCH_CHECK_TYPE(t.layout() == at::kStrided, op, ": ", what, " has layout ", t.layout(),
                   "; varnorm needs a dense (strided) tensor");
  TORCH_CHECK_TYPE(t.scalar_type() == at::kFloat, op, ": ", what, " has dtype ", python_dtype_name(t.scalar_type()),
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

void check_status(varnorm_status status, const char* function, const at::Tensor& input, const char* op = kOpName) {
  TORCH_CHECK(status == VARNORM_OK, op, ": ", function, " failed: ", varnorm_status_string(status), " (input shape ",
              input.sizes(), ")");
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

// --- GroupNorm (and InstanceNorm2d, its G = C case): the library's groups / center fields, correction 0, as
// torch.nn.functional.group_norm. weight and bias are optional: without a weight the library gets an alpha of
// ones; without a bias no beta. mean and rstd are [N, G].

constexpr const char* kGroupNormName = "varnorm::group_norm";

struct group_shape {
  int64_t n, c, h, w, groups;
};

void check_affine_vector(const c10::optional<at::Tensor>& t, const char* what, const at::Tensor& input) {
  if (!t.has_value() || !t->defined()) return;
  check_float32_cpu_dense(*t, what, kGroupNormName);
  TORCH_CHECK_VALUE(t->dim() == 1 && t->size(0) == input.size(1), kGroupNormName, ": the input has ", input.size(1),
                    " channels (shape ", input.sizes(), ") but ", what, " has shape ", t->sizes(),
                    ": the module was built for ", t->dim() == 1 ? t->size(0) : t->numel(), " channels");
}

group_shape check_group_arguments(const at::Tensor& input, int64_t num_groups, const c10::optional<at::Tensor>& weight,
                                  const c10::optional<at::Tensor>& bias, double eps) {
  check_float32_cpu_dense(input, "input", kGroupNormName);
  TORCH_CHECK_VALUE(input.dim() == 4, kGroupNormName, ": input must be 4-D (N, C, H, W), got a ", input.dim(),
                    "-D tensor of shape ", input.sizes());
  const group_shape s{input.size(0), input.size(1), input.size(2), input.size(3), num_groups};
  TORCH_CHECK_VALUE(num_groups >= 1 && num_groups <= std::numeric_limits<int32_t>::max(), kGroupNormName,
                    ": num_groups must be a positive number of groups, got ", num_groups);
  TORCH_CHECK_VALUE(s.c % num_groups == 0, kGroupNormName, ": num_groups = ", num_groups,
                    " must divide the number of channels, but the input has ", s.c, " channels (shape ", input.sizes(),
                    ")");
  check_affine_vector(weight, "weight", input);
  check_affine_vector(bias, "bias", input);
  const float eps_float = static_cast<float>(eps);
  TORCH_CHECK_VALUE(std::isfinite(eps_float) && eps_float >= 0.0f, kGroupNormName,
                    ": eps must be finite and non-negative in float32, got ", eps);
  return s;
}

bool given(const c10::optional<at::Tensor>& t) { return t.has_value() && t->defined(); }

varnorm_desc make_group_desc(const group_shape& s, varnorm_layout layout, double eps) {
  varnorm_desc desc = varnorm_desc_make(s.n, s.c, s.h, s.w, layout);
  desc.eps = static_cast<float>(eps);
  desc.correction = 0;  // the population variance, as torch's group_norm / instance_norm
  desc.groups = static_cast<int32_t>(s.groups);
  desc.center = 1;
  desc.max_threads = static_cast<int32_t>(at::get_num_threads());
  return desc;
}

// The alpha handed to the library: the weight, or ones when there is none (affine=False).
at::Tensor alpha_for(const c10::optional<at::Tensor>& weight, int64_t channels) {
  if (given(weight)) return weight->contiguous();
  return at::ones({channels}, at::TensorOptions().dtype(at::kFloat).device(at::kCPU));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> run_group_forward(const at::Tensor& input, int64_t num_groups,
                                                                 const c10::optional<at::Tensor>& weight,
                                                                 const c10::optional<at::Tensor>& bias, double eps,
                                                                 bool with_statistics) {
  const group_shape s = check_group_arguments(input, num_groups, weight, bias, eps);
  const memory_plan plan = memory_plan_for(input);
  const at::Tensor x = input.contiguous(plan.format);
  const at::Tensor a = alpha_for(weight, s.c);
  const at::Tensor b = given(bias) ? bias->contiguous() : at::Tensor();
  at::Tensor y = empty_float32(x.sizes(), plan.format);
  at::Tensor mean, rstd;
  if (with_statistics) {
    mean = empty_float32({s.n, s.groups});
    rstd = empty_float32({s.n, s.groups});
  }
  const varnorm_desc desc = make_group_desc(s, plan.layout, eps);
  const varnorm_status status = varnorm_forward(
      &desc, x.data_ptr<float>(), a.data_ptr<float>(), b.defined() ? b.data_ptr<float>() : nullptr, y.data_ptr<float>(),
      with_statistics ? mean.data_ptr<float>() : nullptr, with_statistics ? rstd.data_ptr<float>() : nullptr);
  check_status(status, "varnorm_forward", input, kGroupNormName);
  return {y, mean, rstd};
}

at::Tensor group_norm(const at::Tensor& input, int64_t num_groups, const c10::optional<at::Tensor>& weight,
                      const c10::optional<at::Tensor>& bias, double eps) {
  return std::get<0>(run_group_forward(input, num_groups, weight, bias, eps, /*with_statistics=*/false));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> group_norm_forward(const at::Tensor& input, int64_t num_groups,
                                                                  const c10::optional<at::Tensor>& weight,
                                                                  const c10::optional<at::Tensor>& bias, double eps) {
  return run_group_forward(input, num_groups, weight, bias, eps, /*with_statistics=*/true);
}

// grad_weight only for a given weight, grad_bias whether or not the forward had a bias (it is sum(dy)).
std::tuple<at::Tensor, at::Tensor, at::Tensor> group_norm_backward(const at::Tensor& grad_output,
                                                                   const at::Tensor& input, int64_t num_groups,
                                                                   const c10::optional<at::Tensor>& weight,
                                                                   const at::Tensor& mean, const at::Tensor& rstd,
                                                                   double eps, std::array<bool, 3> output_mask) {
  const group_shape s = check_group_arguments(input, num_groups, weight, c10::nullopt, eps);
  check_float32_cpu_dense(grad_output, "grad_output", kGroupNormName);
  check_float32_cpu_dense(mean, "mean", kGroupNormName);
  check_float32_cpu_dense(rstd, "rstd", kGroupNormName);
  TORCH_CHECK_VALUE(grad_output.sizes() == input.sizes(), kGroupNormName, ": grad_output has shape ",
                    grad_output.sizes(), " but the input has shape ", input.sizes());
  TORCH_CHECK_VALUE(mean.numel() == s.n * s.groups && rstd.numel() == s.n * s.groups, kGroupNormName,
                    ": mean and rstd must have N*num_groups = ", s.n * s.groups, " values, got ", mean.numel(), " and ",
                    rstd.numel());
  const bool want_input = output_mask[0];
  const bool want_weight = output_mask[1] && given(weight);
  const bool want_bias = output_mask[2];
  at::Tensor grad_input, grad_weight, grad_bias;
  if (!want_input && !want_weight && !want_bias) return {grad_input, grad_weight, grad_bias};

  const memory_plan plan = memory_plan_for(input);
  const at::Tensor x = input.contiguous(plan.format);
  const at::Tensor dy = grad_output.contiguous(plan.format);
  const at::Tensor a = alpha_for(weight, s.c);
  const at::Tensor saved_mean = mean.contiguous();
  const at::Tensor saved_rstd = rstd.contiguous();
  if (want_input) grad_input = empty_float32(x.sizes(), plan.format);
  if (want_weight) grad_weight = empty_float32({s.c});
  if (want_bias) grad_bias = empty_float32({s.c});
  const varnorm_desc desc = make_group_desc(s, plan.layout, eps);
  const varnorm_status status = varnorm_backward(
      &desc, x.data_ptr<float>(), a.data_ptr<float>(), dy.data_ptr<float>(), saved_mean.data_ptr<float>(),
      saved_rstd.data_ptr<float>(), want_input ? grad_input.data_ptr<float>() : nullptr,
      want_weight ? grad_weight.data_ptr<float>() : nullptr, want_bias ? grad_bias.data_ptr<float>() : nullptr);
  check_status(status, "varnorm_backward", input, kGroupNormName);
  return {grad_input, grad_weight, grad_bias};
}

const c10::TypedOperatorHandle<decltype(group_norm)>& group_norm_op() {
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("varnorm::group_norm", "").typed<decltype(group_norm)>();
  return op;
}

const c10::TypedOperatorHandle<decltype(group_norm_forward)>& group_norm_forward_op() {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("varnorm::group_norm_forward", "")
                             .typed<decltype(group_norm_forward)>();
  return op;
}

const c10::TypedOperatorHandle<decltype(group_norm_backward)>& group_norm_backward_op() {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("varnorm::group_norm_backward", "")
                             .typed<decltype(group_norm_backward)>();
  return op;
}

class GroupNormFunction : public torch::autograd::Function<GroupNormFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, int64_t num_groups,
                            const c10::optional<at::Tensor>& weight, const c10::optional<at::Tensor>& bias,
                            double eps) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    auto [y, mean, rstd] = group_norm_forward_op().call(input, num_groups, weight, bias, eps);
    ctx->save_for_backward({input, given(weight) ? *weight : at::Tensor(), mean, rstd});
    ctx->saved_data["num_groups"] = num_groups;
    ctx->saved_data["eps"] = eps;
    ctx->saved_data["has_weight"] = given(weight);
    ctx->saved_data["has_bias"] = given(bias);
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const variable_list saved = ctx->get_saved_variables();
    // needs_input_grad counts the tensor inputs given (input, then weight and bias when present); the list
    // returned has one entry per argument of forward (input, num_groups, weight, bias, eps).
    const bool has_weight = ctx->saved_data["has_weight"].toBool();
    const bool has_bias = ctx->saved_data["has_bias"].toBool();
    size_t edge = 1;
    const bool weight_grad = has_weight && ctx->needs_input_grad(edge++);
    const bool bias_grad = has_bias && ctx->needs_input_grad(edge++);
    const std::array<bool, 3> output_mask = {ctx->needs_input_grad(0), weight_grad, bias_grad};
    const c10::optional<at::Tensor> weight =
        saved[1].defined() ? c10::optional<at::Tensor>(saved[1]) : c10::optional<at::Tensor>();
    auto [grad_input, grad_weight, grad_bias] =
        group_norm_backward_op().call(grad_outputs[0], saved[0], ctx->saved_data["num_groups"].toInt(), weight,
                                      saved[2], saved[3], ctx->saved_data["eps"].toDouble(), output_mask);
    return {grad_input, at::Tensor(), grad_weight, grad_bias, at::Tensor()};
  }
};

bool has_forward_grad(const c10::optional<at::Tensor>& t) { return given(t) && t->_fw_grad(/*level=*/0).defined(); }
bool requires_grad(const c10::optional<at::Tensor>& t) { return given(t) && t->requires_grad(); }

at::Tensor group_norm_autograd(const at::Tensor& input, int64_t num_groups, const c10::optional<at::Tensor>& weight,
                               const c10::optional<at::Tensor>& bias, double eps) {
  TORCH_CHECK_NOT_IMPLEMENTED(
      !input._fw_grad(/*level=*/0).defined() && !has_forward_grad(weight) && !has_forward_grad(bias), kGroupNormName,
      ": forward-mode AD (dual tensors) is not implemented; use backward()");
  if (!at::GradMode::is_enabled() || !(input.requires_grad() || requires_grad(weight) || requires_grad(bias))) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    return group_norm_op().call(input, num_groups, weight, bias, eps);
  }
  return GroupNormFunction::apply(input, num_groups, weight, bias, eps);
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
  m.def("group_norm(Tensor input, int num_groups, Tensor? weight=None, Tensor? bias=None, float eps=1e-05)"
        " -> Tensor");
  m.def("group_norm_forward(Tensor input, int num_groups, Tensor? weight=None, Tensor? bias=None, float eps=1e-05)"
        " -> (Tensor output, Tensor mean, Tensor rstd)");
  m.def("group_norm_backward(Tensor grad_output, Tensor input, int num_groups, Tensor? weight, Tensor mean,"
        " Tensor rstd, float eps, bool[3] output_mask) -> (Tensor grad_input, Tensor grad_weight, Tensor grad_bias)");
  m.def("library_version() -> str", &varnorm_torch::library_version);
  m.def("isa() -> str", &varnorm_torch::kernel_set);
}

TORCH_LIBRARY_IMPL(varnorm, CompositeExplicitAutograd, m) {
  m.impl("variance_norm", &varnorm_torch::variance_norm);
  m.impl("variance_norm_forward", &varnorm_torch::variance_norm_forward);
  m.impl("variance_norm_backward", &varnorm_torch::variance_norm_backward);
  m.impl("group_norm", &varnorm_torch::group_norm);
  m.impl("group_norm_forward", &varnorm_torch::group_norm_forward);
  m.impl("group_norm_backward", &varnorm_torch::group_norm_backward);
}

TORCH_LIBRARY_IMPL(varnorm, Autograd, m) {
  m.impl("variance_norm", &varnorm_torch::variance_norm_autograd);
  m.impl("variance_norm_forward", torch::autograd::autogradNotImplementedFallback());
  m.impl("variance_norm_backward", torch::autograd::autogradNotImplementedFallback());
  m.impl("group_norm", &varnorm_torch::group_norm_autograd);
  m.impl("group_norm_forward", torch::autograd::autogradNotImplementedFallback());
  m.impl("group_norm_backward", torch::autograd::autogradNotImplementedFallback());
}
