"""varnorm_torch: PyTorch modules computing VarianceNorm2d, GroupNorm and InstanceNorm2d with the varnorm
library (float32, CPU).

    import varnorm_torch
    model = varnorm_torch.convert(model)   # (Conditional)VarianceNorm2d, nn.GroupNorm, nn.InstanceNorm2d -> varnorm
    norm = varnorm_torch.VarianceNorm2d(64)                       # drop-in modules, same state_dict
    cond = varnorm_torch.ConditionalVarianceNorm2d(64, num_classes=10)
    gn = varnorm_torch.GroupNorm(32, 128, eps=1e-6)               # as torch.nn.GroupNorm
    inorm = varnorm_torch.InstanceNorm2d(64, affine=True)         # as torch.nn.InstanceNorm2d (no running stats)
    y = varnorm_torch.variance_norm(x, alpha)                     # the operators themselves
    y = varnorm_torch.group_norm(x, 32, weight, bias, eps=1e-5)

The operators are torch.ops.varnorm.variance_norm and torch.ops.varnorm.group_norm (differentiable: the
backward is the library's fused backward on the saved statistics), their halves *_forward / *_backward (for
tests and custom graphs), torch.ops.varnorm.library_version() and torch.ops.varnorm.isa().
Errors: TypeError for a tensor that is not float32, on the CPU and dense; ValueError for a wrong rank, channel
count, alpha/weight/bias shape, num_groups not dividing C, eps or correction; RuntimeError for a status from the
library (e.g. planes of one value) and a double backward; NotImplementedError (a RuntimeError) for forward-mode
AD. Inside TorchScript all of them arrive as RuntimeError carrying the same message.
"""
import torch

from . import _library

_library.load()

from .convert import REPLACEMENTS, NotConvertible, convert  # noqa: E402
from .modules import (ConditionalVarianceNorm2d, GroupNorm, InstanceNorm2d, VarianceNorm2d,  # noqa: E402
                      group_norm, instance_norm, variance_norm)

__all__ = ["VarianceNorm2d", "ConditionalVarianceNorm2d", "GroupNorm", "InstanceNorm2d", "variance_norm",
           "group_norm", "instance_norm", "convert", "REPLACEMENTS", "NotConvertible", "library_version", "isa"]


def library_version() -> str:
    """Version of the varnorm library compiled into the extension, "MAJOR.MINOR.PATCH"."""
    return str(torch.ops.varnorm.library_version())


def isa() -> str:
    """The library's kernel set on this CPU: "avx512", "avx2", "sse2", "neon64" or "scalar"."""
    return str(torch.ops.varnorm.isa())
