"""Shared helpers of the varnorm_torch tests: float64 references and error bounds derived from float32 rounding.

Every tolerance here is a first-order bound on the float32 error of the library's computation, built from
  U = 2**-24, float32's unit roundoff (the worst relative error of one rounding), and
  the library's documented accuracy promise for the variance of a plane of M values (README.md, "Statistics
  and accuracy"): relative error <= 4 * ceil(log2 M) * kappa * U, kappa = sqrt(1 + M * mean**2 / sum((x - mean)**2)).
The reference is the original formula evaluated by PyTorch in float64 on the same float32 inputs, whose own
error (about 1e-16 relative) is negligible against U. Bounds are elementwise, so a wrong value anywhere fails.
For well-conditioned planes (kappa ~ 1) the forward bound is about 2e-6 relative at M = 65536 and 4e-7 at M = 16:
small enough to tell the unbiased variance from the population one (a relative difference of 1/(2M)).
"""
import math
import random
import unittest

import torch

from varnorm_torch.reference import variance_norm_reference

U = 2.0 ** -24
EPS = 1e-5


def random_shape(rng: random.Random, max_plane: int = 40):
    """(N, C, H, W) with H*W >= 2 (the unbiased variance needs two values)."""
    while True:
        shape = (rng.randint(1, 4), rng.randint(1, 8), rng.randint(1, max_plane), rng.randint(1, max_plane))
        if shape[2] * shape[3] >= 2:
            return shape


def in_memory_format(x: torch.Tensor, memory_format: str) -> torch.Tensor:
    """x laid out as "nchw", "nhwc" (channels_last), or "strided": a view with neither layout."""
    if memory_format == "nchw":
        return x.contiguous()
    if memory_format == "nhwc":
        return x.contiguous(memory_format=torch.channels_last)
    if memory_format == "strided":
        # Every other column of a tensor twice as wide: no dense layout, so the operator must copy.
        n, c, h, w = x.shape
        wide = torch.zeros(n, c, h, 2 * w, dtype=x.dtype)
        wide[..., ::2] = x
        view = wide[..., ::2]
        assert not view.is_contiguous() and not view.is_contiguous(memory_format=torch.channels_last)
        return view
    raise ValueError(memory_format)


class Reference:
    """The original formula's output and gradients in float64 for float32 inputs x, alpha ([C] or [N, C]) and
    upstream gradient dy, with the elementwise error bounds of the library's float32 results."""

    def __init__(self, x: torch.Tensor, alpha: torch.Tensor, dy: torch.Tensor, eps: float = EPS):
        x64 = x.detach().double().requires_grad_()
        alpha64 = alpha.detach().double().requires_grad_()
        dy64 = dy.detach().double()
        self.y = variance_norm_reference(x64, alpha64, eps)
        self.dx, self.dalpha = torch.autograd.grad(self.y, (x64, alpha64), dy64)
        self.y = self.y.detach()
        self._bounds(x64.detach(), alpha64.detach(), dy64, eps)

    def _bounds(self, x, alpha, dy, eps):
        n, c, h, w = x.shape
        m = h * w
        log_m = max(1, math.ceil(math.log2(m)))
        a = alpha.view(-1, c, 1, 1).abs()
        mean = x.mean(dim=(2, 3), keepdim=True)
        deviation = x - mean
        variance = deviation.pow(2).sum(dim=(2, 3), keepdim=True) / (m - 1)
        # kappa * variance, written so that it stays finite (0) for a constant plane.
        kappa_variance = torch.sqrt(variance.pow(2) + variance * m * mean.pow(2) / (m - 1))
        rstd = 1.0 / torch.sqrt(variance + eps)
        # rstd: half the variance's relative error (square root), plus eps's addition and the sqrt/divide.
        rstd_error = 0.5 * 4 * log_m * U * kappa_variance / (variance + eps) + 2 * U
        # y = x * fl(alpha * rstd): the scale's rounding and the product's.
        self.y_bound = (rstd_error + 2 * U) * self.y.abs()

        # dx = a*r*dy - a*r**3 * (x - mean) * S / (M - 1), S = sum(dy * x) over the plane.
        plane_sum = (dy * x).sum(dim=(2, 3), keepdim=True)
        # Float sums: up to 16 values per lane in float before double merges, plus the tree: (16 + log M) U.
        plane_sum_error = (16 + log_m) * U * (dy * x).abs().sum(dim=(2, 3), keepdim=True)
        # x - mean in float: the saved mean's error and the subtraction's rounding.
        deviation_error = (log_m + 2) * U * (x.abs() + mean.abs())
        second_term_scale = a * rstd.pow(3) / (m - 1)
        self.dx_bound = (
            (a * rstd * dy).abs() * (rstd_error + 2 * U)
            + second_term_scale * (deviation.abs() * (3 * rstd_error * plane_sum.abs() + plane_sum_error)
                                   + plane_sum.abs() * deviation_error)
            + 2 * U * self.dx.abs())
        # dalpha[n, c] = r * S; per channel, summed over n (in double inside the library).
        per_plane = (rstd * (plane_sum_error + plane_sum.abs() * rstd_error)).view(n, c)
        if alpha.dim() == 1:
            per_plane = per_plane.sum(dim=0)
        self.dalpha_bound = per_plane + 2 * U * self.dalpha.abs()


class BoundsTestCase(unittest.TestCase):
    def assertWithinBound(self, actual: torch.Tensor, expected: torch.Tensor, bound: torch.Tensor, what: str):
        """|actual - expected| <= bound elementwise; the message names the worst element and its ratio."""
        self.assertEqual(tuple(actual.shape), tuple(expected.shape), what)
        self.assertEqual(actual.dtype, torch.float32, what)
        error = (actual.detach().double() - expected).abs()
        self.assertFalse(torch.isnan(actual).any().item(), f"{what}: NaN in the result")
        ratio = error / bound.clamp_min(1e-300)
        worst = int(torch.argmax(ratio.flatten()))
        self.assertTrue(
            bool((error <= bound).all()),
            f"{what}: |error| {error.flatten()[worst].item():.3e} exceeds the bound "
            f"{bound.flatten()[worst].item():.3e} (ratio {ratio.flatten()[worst].item():.2f}) at flat index {worst}: "
            f"got {actual.detach().flatten()[worst].item()!r}, expected {expected.flatten()[worst].item()!r}")
        return ratio.max().item()


class TinyNCSN(torch.nn.Module):
    """A small NCSN-style score network: conv, VarianceNorm2d, ELU, conv, ConditionalVarianceNorm2d (one class per
    noise level), ELU, conv. `norms` is the module that provides the two norm classes (reference or varnorm_torch)."""

    def __init__(self, norms, channels: int = 16, num_classes: int = 4):
        super().__init__()
        self.conv_in = torch.nn.Conv2d(3, channels, 3, padding=1)
        self.norm = norms.VarianceNorm2d(channels)
        self.conv_mid = torch.nn.Conv2d(channels, channels, 3, padding=1)
        self.conditional_norm = norms.ConditionalVarianceNorm2d(channels, num_classes)
        self.conv_out = torch.nn.Conv2d(channels, 3, 3, padding=1)
        self.act = torch.nn.ELU()

    def forward(self, x: torch.Tensor, noise_level: torch.Tensor) -> torch.Tensor:
        h = self.act(self.norm(self.conv_in(x)))
        h = self.act(self.conditional_norm(self.conv_mid(h), noise_level))
        return self.conv_out(h)
