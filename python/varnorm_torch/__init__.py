"""varnorm_torch: PyTorch modules computing VarianceNorm2d with the varnorm library (float32, CPU).

    import varnorm_torch
    model = varnorm_torch.convert(model)   # ESPnet / score_sde (Conditional)VarianceNorm2d -> varnorm
    norm = varnorm_torch.VarianceNorm2d(64)                       # drop-in modules, same state_dict
    cond = varnorm_torch.ConditionalVarianceNorm2d(64, num_classes=10)
    y = varnorm_torch.variance_norm(x, alpha)                     # the operator itself

The operators are torch.ops.varnorm.variance_norm (differentiable: the backward is the library's fused
backward on the saved statistics), torch.ops.varnorm.variance_norm_forward / variance_norm_backward (the two
halves, for tests and custom graphs), torch.ops.varnorm.library_version() and torch.ops.varnorm.isa().
Errors: TypeError for a tensor that is not float32, on the CPU and dense; ValueError for a wrong rank, channel
count, alpha shape, eps or correction; RuntimeError for a status from the library (e.g. planes of one value)
and a double backward; NotImplementedError (a RuntimeError) for forward-mode AD. Inside TorchScript all of them
arrive as RuntimeError carrying the same message.
"""
import torch

from . import _library

_library.load()

from .convert import REPLACEMENTS, NotConvertible, convert  # noqa: E402
from .modules import ConditionalVarianceNorm2d, VarianceNorm2d, variance_norm  # noqa: E402

__all__ = ["VarianceNorm2d", "ConditionalVarianceNorm2d", "variance_norm", "convert", "REPLACEMENTS",
           "NotConvertible", "library_version", "isa"]


def library_version() -> str:
    """Version of the varnorm library compiled into the extension, "MAJOR.MINOR.PATCH"."""
    return str(torch.ops.varnorm.library_version())


def isa() -> str:
    """The library's kernel set on this CPU: "avx512", "avx2", "sse2", "neon64" or "scalar"."""
    return str(torch.ops.varnorm.isa())
