"""Drop-in replacements for ESPnet's and score_sde's VarianceNorm2d and ConditionalVarianceNorm2d.

Same constructor arguments, parameter names, initialization (the same draws from the global RNG, in the same
order) and state_dict keys as the originals, so checkpoints load unchanged and models built from the same seed
start from the same parameters.
"""
from typing import List

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
        replacement = cls.__new__(cls)
        nn.Module.__init__(replacement)  # not cls.__init__: it would draw a fresh alpha from the global RNG
        replacement.num_features = alpha.numel()
        replacement.bias = bool(getattr(original, "bias", False))
        replacement.alpha = alpha
        _take_over_module_state(original, replacement)
        return replacement

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
        replacement = cls.__new__(cls)
        nn.Module.__init__(replacement)  # not cls.__init__: it would draw fresh weights from the global RNG
        replacement.num_features = embed.embedding_dim
        replacement.bias = bool(getattr(original, "bias", False))
        replacement.embed = embed
        _take_over_module_state(original, replacement)
        return replacement

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        gamma = self.embed(y).view(-1, self.num_features)
        if gamma.size(0) == 1:
            # One label for the batch: the original broadcasts its single row over every sample.
            gamma = gamma.view(self.num_features)
        return variance_norm(x, gamma)

    def extra_repr(self) -> str:
        return f"{self.num_features}, num_classes={self.embed.num_embeddings}"
