"""The original VarianceNorm2d / ConditionalVarianceNorm2d formulas, in plain PyTorch ops, as ESPnet and
score_sde_pytorch compute them: the reference of the tests and the baseline of bench/torch_bench.py.

Same class names, arguments, parameters and initialization as the originals, so varnorm_torch.convert treats
them as it treats ESPnet's and score_sde's classes. Any dtype and device, autograd through PyTorch's ops.
"""
import torch
from torch import Tensor, nn


def variance_norm_reference(x: Tensor, alpha: Tensor, eps: float = 1e-5) -> Tensor:
    """alpha.view(-1, C, 1, 1) * x / sqrt(torch.var(x, dim=(2, 3), keepdim=True) + eps); alpha [C] or [N, C]."""
    variance = torch.var(x, dim=(2, 3), keepdim=True)
    return alpha.view(-1, x.shape[1], 1, 1) * (x / torch.sqrt(variance + eps))


class VarianceNorm2d(nn.Module):
    def __init__(self, num_features: int, bias: bool = False):
        super().__init__()
        self.num_features = num_features
        self.bias = bias
        self.alpha = nn.Parameter(torch.zeros(num_features))
        self.alpha.data.normal_(1, 0.02)

    def forward(self, x: Tensor) -> Tensor:
        variance = torch.var(x, dim=(2, 3), keepdim=True)
        normalized = x / torch.sqrt(variance + 1e-5)
        return self.alpha.view(-1, self.num_features, 1, 1) * normalized


class ConditionalVarianceNorm2d(nn.Module):
    def __init__(self, num_features: int, num_classes: int, bias: bool = False):
        super().__init__()
        self.num_features = num_features
        self.bias = bias
        self.embed = nn.Embedding(num_classes, num_features)
        self.embed.weight.data.normal_(1, 0.02)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        variance = torch.var(x, dim=(2, 3), keepdim=True)
        normalized = x / torch.sqrt(variance + 1e-5)
        gamma = self.embed(y)
        return gamma.view(-1, self.num_features, 1, 1) * normalized
