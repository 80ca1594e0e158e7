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


# --- GroupNorm / InstanceNorm2d: torch.nn.functional.group_norm / instance_norm in float64 as the reference.

def group_norm_reference(x: torch.Tensor, groups: int, weight=None, bias=None, eps: float = EPS,
                         instance: bool = False) -> torch.Tensor:
    """F.group_norm (or, with instance=True, F.instance_norm, where groups must be C) on the given tensors."""
    if instance:
        assert groups == x.shape[1]
        return torch.nn.functional.instance_norm(x, weight=weight, bias=bias, eps=eps)
    return torch.nn.functional.group_norm(x, groups, weight, bias, eps)


class GroupReference:
    """F.group_norm's (or F.instance_norm's) output and gradients in float64 for float32 inputs x [N, C, H, W],
    weight and bias ([C] or None), upstream gradient dy and `groups` groups, with the elementwise error bounds
    of the library's float32 results.

    The bounds are first-order and hold for any sane float32 formulation: the group sums may be taken of x itself
    (uncentered, their error then scales with |mean|), the mean used to centre x has the accuracy of the saved
    mean (the library's plain sums: (16 + ceil(log2 M) + 2) U mean|x|), and the variance keeps the library's
    promise (relative error 4 ceil(log2 M) kappa U, kappa = sqrt(1 + mean**2 / var), population variance).
    With M = (C/G) H W values per group, xhat = (x - mean) rstd and g = weight * dy:
      y  = weight * xhat + bias
      dx = rstd * (g - mean(g) - xhat * mean(g * xhat))              (means over the group)
      dweight = sum over n, h, w of dy * xhat;  dbias = sum of dy.
    Large offsets (|mean| / std 1e3) make the centring bound loose (about 1e-4 of std); the library's tighter
    promise there is checked separately (NORMALIZED_PROMISE).
    """

    def __init__(self, x, weight, bias, dy, groups: int, eps: float = EPS, instance: bool = False):
        self.groups = groups
        x64 = x.detach().double().contiguous().requires_grad_()
        # Without a weight, the reference gets ones (no gradient): PyTorch 1.13's group_norm backward fails
        # ("tensor does not have a device") for a bias without a weight.
        ones = torch.ones(x.shape[1], dtype=torch.float64)
        w64 = None if weight is None else weight.detach().double().requires_grad_()
        b64 = None if bias is None else bias.detach().double().requires_grad_()
        dy64 = dy.detach().double().contiguous()
        y = group_norm_reference(x64, groups, ones if w64 is None else w64, b64, eps, instance)
        inputs = [x64] + [t for t in (w64, b64) if t is not None]
        grads = list(torch.autograd.grad(y, inputs, dy64))
        self.y = y.detach()
        self.dx = grads.pop(0)
        self.dweight = grads.pop(0) if w64 is not None else None
        self.dbias = grads.pop(0) if b64 is not None else None
        self._bounds(x64.detach(), None if w64 is None else w64.detach(), None if b64 is None else b64.detach(),
                     dy64, eps)

    def _bounds(self, x, weight, bias, dy, eps):
        n, c, h, w = x.shape
        g_count = self.groups
        m = (c // g_count) * h * w
        log_m = max(1, math.ceil(math.log2(max(m, 2))))
        log_channel = max(1, math.ceil(math.log2(max(n * h * w, 2))))

        def grouped(t):  # [N, C, H, W] -> [N, G, M]
            return t.reshape(n, g_count, m)

        def planes(t):  # [N, G, M] (or broadcastable [N, G, 1]) -> [N, C, H, W]
            return t.expand(n, g_count, m).reshape(n, c, h, w)

        def per_channel(t):  # [C] or None -> [1, C, 1, 1]
            return (torch.ones(c, dtype=torch.float64) if t is None else t).view(1, c, 1, 1)

        xg = grouped(x)
        mean = xg.mean(dim=2, keepdim=True)
        deviation = xg - mean
        variance = deviation.pow(2).mean(dim=2, keepdim=True)
        rstd = 1.0 / torch.sqrt(variance + eps)
        kappa_variance = torch.sqrt(variance.pow(2) + variance * mean.pow(2))
        rstd_error = 0.5 * 4 * log_m * U * kappa_variance / (variance + eps) + 2 * U
        mean_error = (16 + log_m + 2) * U * xg.abs().mean(dim=2, keepdim=True)
        xhat = deviation * rstd
        xhat_error = rstd * (mean_error + U * deviation.abs()) + xhat.abs() * rstd_error

        a = per_channel(weight)
        b = per_channel(bias)
        self.mean, self.rstd = mean.view(n, g_count), rstd.view(n, g_count)
        self.rstd_error = rstd_error.view(n, g_count)
        self.xhat = planes(xhat)
        # y = a * xhat + b, however the scale and shift are folded: the centring, the rstd, the rounding of
        # x times a float scale (U |a x| rstd, which dominates at large offsets) and of the final sum.
        self.y_bound = (a.abs() * (planes(xhat_error) + 2 * U * planes(rstd) * x.abs() + 2 * U * self.xhat.abs())
                        + 2 * U * (self.y.abs() + b.abs()))

        g = grouped(a * dy)
        g_abs_sum = g.abs().sum(dim=2, keepdim=True)
        mean_g = g.mean(dim=2, keepdim=True)
        mean_gx = (g * xhat).mean(dim=2, keepdim=True)
        sum_error = (16 + log_m) * U
        mean_g_error = (sum_error + U) * g_abs_sum / m
        mean_gx_error = ((g.abs() * xhat_error).sum(dim=2, keepdim=True)
                         + sum_error * rstd * ((g * xg).abs().sum(dim=2, keepdim=True) + mean.abs() * g_abs_sum)
                         + U * (g * xhat).abs().sum(dim=2, keepdim=True)) / m
        dx_bound = (rstd * (g.abs() + mean_g.abs() + xhat.abs() * mean_gx.abs()) * (rstd_error + 4 * U)
                    + rstd * (mean_g_error + xhat.abs() * mean_gx_error + mean_gx.abs() * xhat_error))
        self.dx_bound = planes(dx_bound) + 2 * U * self.dx.abs()

        xhat_error_planes = planes(xhat_error)
        dy_x = (dy * x).abs()
        # The same sums taken uncentered: rstd * (sum(dy x) - mean sum(dy)) per plane.
        uncentered = (planes(rstd) * (dy_x + planes(mean.abs()) * dy.abs())).sum(dim=(2, 3))
        self.dweight_bound = ((dy.abs() * xhat_error_planes).sum(dim=(0, 2, 3))
                              + (16 + log_channel) * U * (dy * self.xhat).abs().sum(dim=(0, 2, 3))
                              + (16 + log_channel) * U * uncentered.sum(dim=0))
        if self.dweight is not None:
            self.dweight_bound = self.dweight_bound + 2 * U * self.dweight.abs()
        self.dbias_bound = (16 + log_channel) * U * dy.abs().sum(dim=(0, 2, 3))
        if self.dbias is not None:
            self.dbias_bound = self.dbias_bound + 2 * U * self.dbias.abs()


# The library's promise for data within a few standard deviations of their mean (README.md, "Large offsets"):
# y within 2e-6 of a float64 reference for |mean|/std up to 1e6, here read for the centred y = weight * xhat +
# bias as |error| <= |weight| * 2e-6 * max(1, |xhat|) (+ the rounding of the output).
NORMALIZED_PROMISE = 2e-6


def random_group_shape(rng: random.Random, max_plane: int = 24):
    """(N, C, H, W, G): C a multiple of 4, G one of {1, 2, 32, C/4} that divides C, groups of >= 2 values."""
    while True:
        c = rng.choice([4, 8, 12, 32, 64])
        groups = rng.choice([g for g in (1, 2, 32, c // 4) if c % g == 0])
        shape = (rng.randint(1, 3), c, rng.randint(1, max_plane), rng.randint(1, max_plane))
        if (c // groups) * shape[2] * shape[3] >= 2:
            return shape + (groups,)


class TinyNCSNpp(torch.nn.Module):
    """A small NCSN++-style network with torch.nn's norms: conv, then residual blocks of
    GroupNorm(min(C // 4, 32), C, eps=1e-6), SiLU and conv, then InstanceNorm2d(C, affine=True), SiLU and conv."""

    def __init__(self, channels: int = 32):
        super().__init__()
        groups = min(channels // 4, 32)
        self.conv_in = torch.nn.Conv2d(3, channels, 3, padding=1)
        self.norm1 = torch.nn.GroupNorm(groups, channels, eps=1e-6)
        self.conv1 = torch.nn.Conv2d(channels, channels, 3, padding=1)
        self.norm2 = torch.nn.GroupNorm(groups, channels, eps=1e-6)
        self.conv2 = torch.nn.Conv2d(channels, channels, 3, padding=1)
        self.norm_out = torch.nn.InstanceNorm2d(channels, affine=True)
        self.conv_out = torch.nn.Conv2d(channels, 3, 3, padding=1)
        self.act = torch.nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        h = h + self.conv1(self.act(self.norm1(h)))
        h = h + self.conv2(self.act(self.norm2(h)))
        return self.conv_out(self.act(self.norm_out(h)))
