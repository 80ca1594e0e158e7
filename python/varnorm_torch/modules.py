"""Drop-in replacements for ESPnet's and score_sde's VarianceNorm2d and ConditionalVarianceNorm2d, and for
torch.nn.GroupNorm and torch.nn.InstanceNorm2d.

Same constructor arguments, parameter names, initialization (the same draws from the global RNG, in the same
order) and state_dict keys as the originals, so checkpoints load unchanged and models built from the same seed
start from the same parameters. GroupNorm and InstanceNorm2d are subclasses of PyTorch's classes that replace
only forward (isinstance checks, extra_repr and state_dict handling are PyTorch's own).
"""
from typing import List, Optional

import torch
from torch import Tensor, nn

# The originals' constants: torch.var's unbiased variance (correction 1) and eps 1e-5.
EPS = 1e-5
CORRECTION = 1


def variance_norm(input: Tensor, alpha: Tensor, eps: float = EPS, correction: int = CORRECTION) -> Tensor:
    """alpha * input / sqrt(var(input over H, W) + eps), mean not subtracted; alpha [C] or [N, C]."""
    return torch.ops.varnorm.variance_norm(input, alpha, eps, correction)


class NotConvertible(ValueError):
    """An original module whose parameters are not those of ESPnet's / score_sde's class of that name."""


def _check_parameter_names(original: nn.Module, expected: List[str]) -> None:
    names = [name for name, _ in original.named_parameters()]
    if names != expected:
        raise NotConvertible(f"its parameters are {names}, expected {expected}")
    buffers = [name for name, _ in original.named_buffers()]
    if buffers:
        raise NotConvertible(f"it has buffers {buffers}; the originals have none")


def _take_over_module_state(original: nn.Module, replacement: nn.Module) -> None:
    """The replacement keeps the original's train/eval mode and its hooks (the same dicts, so handles still work)."""
    replacement.train(original.training)
    for name, value in vars(original).items():
        if name.endswith("_hooks") and isinstance(value, dict) and name in vars(replacement):
            object.__setattr__(replacement, name, value)


def _replacement(cls, original: nn.Module, parameters: List[str], **attributes) -> nn.Module:
    """A `cls` module holding `attributes` and the original's `parameters` (the same Parameter objects, None
    included) and taking over its mode and hooks. cls.__init__ is not run: it would make fresh parameters."""
    replacement = cls.__new__(cls)
    nn.Module.__init__(replacement)
    for name, value in attributes.items():
        setattr(replacement, name, value)
    for name in parameters:
        replacement.register_parameter(name, getattr(original, name))
    _take_over_module_state(original, replacement)
    return replacement


class VarianceNorm2d(nn.Module):
    """y = alpha[c] * x / sqrt(var(x[n, c]) + 1e-5), unbiased variance over H*W, mean not subtracted.

    `bias` is accepted and ignored, as by the originals (they have no bias term). float32 CPU tensors only.
    """

    def __init__(self, num_features: int, bias: bool = False):
        super().__init__()
        self.num_features = num_features
        self.bias = bias
        self.alpha = nn.Parameter(torch.zeros(num_features))
        self.alpha.data.normal_(1, 0.02)

    @classmethod
    def from_original(cls, original: nn.Module) -> "VarianceNorm2d":
        """A replacement sharing the original's `alpha` Parameter; raises NotConvertible if it has others."""
        _check_parameter_names(original, ["alpha"])
        alpha = original.alpha
        if alpha.dim() != 1 or getattr(original, "num_features", alpha.numel()) != alpha.numel():
            raise NotConvertible(f"alpha has shape {list(alpha.shape)} and num_features is "
                                 f"{getattr(original, 'num_features', None)}; expected alpha of num_features values")
        return _replacement(cls, original, ["alpha"], num_features=alpha.numel(),
                            bias=bool(getattr(original, "bias", False)))

    def forward(self, x: Tensor) -> Tensor:
        return variance_norm(x, self.alpha)

    def extra_repr(self) -> str:
        return f"{self.num_features}"


class ConditionalVarianceNorm2d(nn.Module):
    """VarianceNorm2d whose scale is per class: y = embed(labels)[n, c] * x / sqrt(var(x[n, c]) + 1e-5).

    forward(x, y): y holds one class label per sample (or one label for the whole batch, broadcast as by the
    original's gamma.view(-1, C, 1, 1)). Gradients reach embed.weight through the embedding lookup.
    """

    def __init__(self, num_features: int, num_classes: int, bias: bool = False):
        super().__init__()
        self.num_features = num_features
        self.bias = bias
        self.embed = nn.Embedding(num_classes, num_features)
        self.embed.weight.data.normal_(1, 0.02)

    @classmethod
    def from_original(cls, original: nn.Module) -> "ConditionalVarianceNorm2d":
        """A replacement sharing the original's `embed` Embedding; raises NotConvertible otherwise."""
        _check_parameter_names(original, ["embed.weight"])
        embed = original.embed
        if not isinstance(embed, nn.Embedding) or \
                getattr(original, "num_features", embed.embedding_dim) != embed.embedding_dim:
            raise NotConvertible(f"embed is {type(embed).__name__} with {getattr(embed, 'weight').shape[-1]} "
                                 f"values per class and num_features is {getattr(original, 'num_features', None)}")
        return _replacement(cls, original, [], num_features=embed.embedding_dim,
                            bias=bool(getattr(original, "bias", False)), embed=embed)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        gamma = self.embed(y).view(-1, self.num_features)
        if gamma.size(0) == 1:
            # One label for the batch: the original broadcasts its single row over every sample.
            gamma = gamma.view(self.num_features)
        return variance_norm(x, gamma)

    def extra_repr(self) -> str:
        return f"{self.num_features}, num_classes={self.embed.num_embeddings}"


def group_norm(input: Tensor, num_groups: int, weight: Optional[Tensor] = None, bias: Optional[Tensor] = None,
               eps: float = 1e-5) -> Tensor:
    """torch.nn.functional.group_norm on varnorm: per sample, over each group of C / num_groups consecutive
    channels, y = (x - mean) / sqrt(var + eps) * weight[c] + bias[c], population variance; weight and bias
    optional ([C] each). 4-D (N, C, H, W) input, NCHW or channels_last, goes to the library as it is; other
    ranks (N, C, *) are viewed as (N, C, L, 1). Raises ValueError where F.group_norm does (a single value per
    group over the whole batch) and for the checks of torch.ops.varnorm.group_norm."""
    sizes = input.size()
    if input.dim() == 4:
        x = input
    elif input.dim() >= 2:
        length = 1
        for size in sizes[2:]:
            length *= size
        x = input.reshape(sizes[0], sizes[1], length, 1)
    else:
        raise ValueError("varnorm_torch.group_norm: input must be (N, C, *) with at least 2 dimensions, got a "
                         "{}-D tensor of shape {}".format(input.dim(), list(sizes)))
    if num_groups > 0 and x.size(0) * x.size(1) // num_groups * x.size(2) * x.size(3) == 1:
        raise ValueError("varnorm_torch.group_norm: expected more than 1 value per channel when training, got "
                         "input size {} and num_groups = {} (as torch.nn.functional.group_norm)"
                         .format(list(sizes), num_groups))
    output = torch.ops.varnorm.group_norm(x, num_groups, weight, bias, eps)
    return output if input.dim() == 4 else output.reshape(sizes)


def instance_norm(input: Tensor, weight: Optional[Tensor] = None, bias: Optional[Tensor] = None,
                  eps: float = 1e-5) -> Tensor:
    """torch.nn.functional.instance_norm without running statistics, on varnorm: group_norm with one group per
    channel. 4-D (N, C, H, W) input; raises ValueError for planes of one value, as PyTorch does."""
    if input.dim() != 4:
        raise ValueError("varnorm_torch.instance_norm: input must be 4-D (N, C, H, W), got a {}-D tensor of shape {}"
                         .format(input.dim(), list(input.size())))
    if input.size(2) * input.size(3) == 1:
        raise ValueError("varnorm_torch.instance_norm: expected more than 1 spatial element when training, got "
                         "input size {} (as torch.nn.functional.instance_norm)".format(list(input.size())))
    # max(C, 1): an input without channels still gets a valid (empty) problem.
    return torch.ops.varnorm.group_norm(input, max(input.size(1), 1), weight, bias, eps)


def _check_exact_class(original: nn.Module, torch_class: type) -> None:
    if type(original) is not torch_class:
        raise NotConvertible(f"it is not {torch_class.__module__}.{torch_class.__qualname__} itself (a subclass or "
                             "another class of that name may compute something else)")


def _check_affine_parameters(original: nn.Module, channels: int) -> None:
    """torch.nn's affine parameters: `weight` and `bias` of `channels` values when affine, none otherwise."""
    _check_parameter_names(original, ["weight", "bias"] if original.affine else [])
    for name in ("weight", "bias"):
        parameter = getattr(original, name)
        if parameter is not None and tuple(parameter.shape) != (channels,):
            raise NotConvertible(f"{name} has shape {list(parameter.shape)}; expected [{channels}]")


class GroupNorm(nn.GroupNorm):
    """torch.nn.GroupNorm computed by varnorm: the same constructor (num_groups, num_channels, eps=1e-5,
    affine=True, device, dtype), parameters `weight` (ones) and `bias` (zeros), state_dict and extra_repr.

    forward takes float32 CPU tensors (N, C, *): 4-D NCHW or channels_last without a copy (the output keeps
    the memory format), other ranks viewed as (N, C, L, 1). Gradients for the input, weight and bias through the
    library's fused backward.
    """

    @classmethod
    def from_original(cls, original: nn.Module) -> "GroupNorm":
        """A replacement sharing the original's Parameters; raises NotConvertible unless it is a
        torch.nn.GroupNorm (not a subclass) with its usual parameters."""
        _check_exact_class(original, nn.GroupNorm)
        _check_affine_parameters(original, original.num_channels)
        return _replacement(cls, original, ["weight", "bias"], num_groups=original.num_groups,
                            num_channels=original.num_channels, eps=original.eps, affine=original.affine)

    def forward(self, input: Tensor) -> Tensor:
        return group_norm(input, self.num_groups, self.weight, self.bias, self.eps)


class InstanceNorm2d(nn.InstanceNorm2d):
    """torch.nn.InstanceNorm2d computed by varnorm: the same constructor (num_features, eps=1e-5, momentum=0.1,
    affine=False, track_running_stats=False, device, dtype), parameters (`weight`, `bias` with affine=True),
    state_dict and extra_repr. Statistics of each (sample, channel) plane, population variance.

    track_running_stats=True raises ValueError: varnorm keeps no running statistics, and a layer that uses them
    (PyTorch's eval mode) must stay torch.nn.InstanceNorm2d. Input: (N, C, H, W) float32 CPU tensors, NCHW or
    channels_last (kept in the output), or unbatched (C, H, W), as PyTorch's. Like PyTorch 1.13's module without
    affine parameters, it does not check C against num_features when affine=False.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = False,
                 track_running_stats: bool = False, device=None, dtype=None) -> None:
        if track_running_stats:
            raise ValueError(_RUNNING_STATS_MESSAGE)
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)

    @classmethod
    def from_original(cls, original: nn.Module) -> "InstanceNorm2d":
        """A replacement sharing the original's Parameters; raises NotConvertible unless it is a
        torch.nn.InstanceNorm2d (not a subclass) with track_running_stats=False."""
        _check_exact_class(original, nn.InstanceNorm2d)
        if original.track_running_stats:
            raise NotConvertible("track_running_stats=True: varnorm keeps no running statistics")
        _check_affine_parameters(original, original.num_features)
        replacement = _replacement(cls, original, ["weight", "bias"], num_features=original.num_features,
                                   eps=original.eps, momentum=original.momentum, affine=original.affine,
                                   track_running_stats=False)
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            replacement.register_buffer(name, None)
        return replacement

    def forward(self, input: Tensor) -> Tensor:
        if self.track_running_stats:  # set after construction (a literal: TorchScript takes no global str)
            raise RuntimeError("varnorm_torch.InstanceNorm2d: track_running_stats=True is not supported: varnorm "
                               "keeps no running statistics; keep torch.nn.InstanceNorm2d for this layer")
        if input.dim() == 3:  # unbatched (C, H, W), as torch.nn.InstanceNorm2d accepts
            return instance_norm(input.unsqueeze(0), self.weight, self.bias, self.eps).squeeze(0)
        if input.dim() != 4:
            raise ValueError("varnorm_torch.InstanceNorm2d: expected 3D or 4D input (got {}D input of shape {})"
                             .format(input.dim(), list(input.size())))
        return instance_norm(input, self.weight, self.bias, self.eps)


_RUNNING_STATS_MESSAGE = (
    "varnorm_torch.InstanceNorm2d: track_running_stats=True is not supported: varnorm computes each sample's "
    "statistics and keeps no running mean/variance (used by PyTorch's module in eval mode). Keep "
    "torch.nn.InstanceNorm2d for this layer; varnorm_torch.convert leaves such layers unchanged.")
