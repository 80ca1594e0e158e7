"""gradcheck-style test: the operator's float32 analytic vector-Jacobian products (the library's fused backward)
against float64 central finite differences of the original formula.

torch.autograd.gradcheck itself cannot be used: it differentiates numerically the function it is given, and the
operator is float32-only, where finite differences are too coarse. Here the numerical side is the reference
formula in float64 (central differences, step 1e-6: truncation about 1e-12, rounding about 1e-10, both far
below float32's 6e-8), and the analytic side must agree within the float32 bounds of common.py.
"""
import unittest

import torch

from common import BoundsTestCase, Reference, in_memory_format
from varnorm_torch.reference import variance_norm_reference

STEP = 1e-6
FINITE_DIFFERENCE_SLACK = 1e-8  # absolute: covers the finite differences' own error with a 100x margin


def numerical_vjp(x: torch.Tensor, alpha: torch.Tensor, v: torch.Tensor):
    """v^T J of the float64 reference with respect to x and alpha, one central difference per input value."""
    x = x.double()
    alpha = alpha.double()
    v = v.double()

    def objective(x_, alpha_):
        return (variance_norm_reference(x_, alpha_) * v).sum().item()

    grads = []
    for tensor in (x, alpha):
        grad = torch.zeros_like(tensor)
        flat, grad_flat = tensor.view(-1), grad.view(-1)
        for i in range(flat.numel()):
            original = flat[i].item()
            flat[i] = original + STEP
            plus = objective(x, alpha)
            flat[i] = original - STEP
            minus = objective(x, alpha)
            flat[i] = original
            grad_flat[i] = (plus - minus) / (2 * STEP)
        grads.append(grad)
    return grads


class GradcheckTest(BoundsTestCase):
    def check(self, x, alpha, memory_format):
        what = f"shape {tuple(x.shape)}, {memory_format}, alpha {tuple(alpha.shape)}"
        for direction in range(2):
            v = torch.randn(x.shape)
            x_var = x.detach().clone().requires_grad_()
            alpha_var = alpha.detach().clone().requires_grad_()
            # The layout change is differentiable, so dx arrives in x_var's NCHW layout.
            y = torch.ops.varnorm.variance_norm(in_memory_format(x_var, memory_format), alpha_var)
            dx, dalpha = torch.autograd.grad(y, (x_var, alpha_var), v)
            dx_numerical, dalpha_numerical = numerical_vjp(x, alpha, v)
            bounds = Reference(x, alpha, v)
            self.assertWithinBound(dx, dx_numerical, bounds.dx_bound + FINITE_DIFFERENCE_SLACK,
                                   f"{what} direction {direction}: dx")
            self.assertWithinBound(dalpha, dalpha_numerical, bounds.dalpha_bound + FINITE_DIFFERENCE_SLACK,
                                   f"{what} direction {direction}: dalpha")

    def test_per_channel_alpha(self):
        torch.manual_seed(20)
        for shape in [(2, 3, 4, 5), (1, 2, 1, 7), (3, 1, 3, 3)]:
            for memory_format in ("nchw", "nhwc", "strided"):
                with self.subTest(shape=shape, memory_format=memory_format):
                    self.check(torch.randn(shape), 1 + 0.02 * torch.randn(shape[1]), memory_format)

    def test_per_sample_alpha(self):
        torch.manual_seed(21)
        for shape in [(2, 3, 4, 5), (3, 2, 2, 3)]:
            for memory_format in ("nchw", "nhwc"):
                with self.subTest(shape=shape, memory_format=memory_format):
                    self.check(torch.randn(shape), 1 + 0.02 * torch.randn(shape[:2]), memory_format)

    def test_offset_planes(self):
        torch.manual_seed(22)
        x = 10.0 + 0.5 * torch.randn(2, 2, 3, 4)
        self.check(x, 1 + 0.02 * torch.randn(2), "nchw")

    def test_finite_differences_see_a_wrong_gradient(self):
        # The comparison must be able to fail: the gradient of the population-variance operator (correction 0,
        # a relative change of 1/(2M) = 2.5% here) is rejected.
        torch.manual_seed(23)
        x = torch.randn(2, 3, 4, 5)
        alpha = 1 + 0.02 * torch.randn(3)
        v = torch.randn(x.shape)
        x_var = x.clone().requires_grad_()
        y = torch.ops.varnorm.variance_norm(x_var, alpha, 1e-5, 0)
        (dx,) = torch.autograd.grad(y, x_var, v)
        dx_numerical, _ = numerical_vjp(x, alpha, v)
        with self.assertRaises(AssertionError):
            self.assertWithinBound(dx, dx_numerical, Reference(x, alpha, v).dx_bound + FINITE_DIFFERENCE_SLACK, "dx")


if __name__ == "__main__":
    unittest.main()
