"""Forward and gradients of varnorm_torch against the original formula in float64, within float32 error bounds
(common.py explains them): random shapes, memory formats, per-class affine, constant planes, large offsets."""
import random
import unittest

import torch

import varnorm_torch
from common import BoundsTestCase, Reference, in_memory_format, random_shape

MEMORY_FORMATS = ("nchw", "nhwc", "strided")


def run_operator(x: torch.Tensor, alpha: torch.Tensor, dy: torch.Tensor, correction: int = 1):
    """y, dx, dalpha from torch.ops.varnorm.variance_norm and autograd (the library's fused backward)."""
    x = x.detach().requires_grad_()
    alpha = alpha.detach().requires_grad_()
    y = torch.ops.varnorm.variance_norm(x, alpha, 1e-5, correction)
    dx, dalpha = torch.autograd.grad(y, (x, alpha), dy)
    return y, dx, dalpha


class ForwardBackwardTest(BoundsTestCase):
    def check(self, x: torch.Tensor, alpha: torch.Tensor, what: str, dy: torch.Tensor = None):
        if dy is None:
            dy = torch.randn(x.shape)
        reference = Reference(x, alpha, dy)
        y, dx, dalpha = run_operator(x, alpha, dy)
        self.assertWithinBound(y, reference.y, reference.y_bound, f"{what}: y")
        self.assertWithinBound(dx, reference.dx, reference.dx_bound, f"{what}: dx")
        self.assertWithinBound(dalpha, reference.dalpha, reference.dalpha_bound, f"{what}: dalpha")
        return y, dx

    def test_random_shapes_memory_formats_and_affine_kinds(self):
        rng = random.Random(1)
        torch.manual_seed(1)
        for trial in range(10):
            shape = random_shape(rng)
            n, c = shape[:2]
            x = torch.randn(shape) * rng.choice([1e-3, 1.0, 50.0]) + rng.choice([0.0, 3.0])
            for per_sample in (False, True):
                alpha = 1 + 0.02 * torch.randn((n, c) if per_sample else (c,))
                for memory_format in MEMORY_FORMATS:
                    what = f"shape {shape}, {memory_format}, {'per-sample' if per_sample else 'per-channel'} alpha"
                    with self.subTest(what):
                        y, dx = self.check(in_memory_format(x, memory_format), alpha, what)
                        # Outputs keep the input's layout (NHWC stays channels_last; a copied NHWC-ordered view
                        # would too, the strided views here are NCHW-ordered).
                        channels_last = memory_format == "nhwc" and c > 1 and shape[2] * shape[3] > 1
                        for result in (y, dx):
                            self.assertEqual(result.is_contiguous(memory_format=torch.channels_last) and
                                             not result.is_contiguous(), channels_last, what)

    def test_slice_of_a_channels_last_tensor_stays_channels_last(self):
        # Not dense, so copied first; its strides are channels-last-ordered, so the copy and the output are NHWC.
        torch.manual_seed(11)
        whole = torch.randn(2, 6, 10, 8).contiguous(memory_format=torch.channels_last)
        x = whole[:, :, ::2, :]
        self.assertFalse(x.is_contiguous() or x.is_contiguous(memory_format=torch.channels_last))
        y, dx = self.check(x, 1 + 0.02 * torch.randn(6), "channels_last slice")
        self.assertTrue(y.is_contiguous(memory_format=torch.channels_last) and not y.is_contiguous())

    def test_ncsnpp_shapes(self):
        torch.manual_seed(2)
        for shape in [(1, 64, 64, 64), (2, 16, 128, 128), (1, 4, 256, 256), (8, 256, 8, 8)]:
            x = torch.randn(shape)
            alpha = 1 + 0.02 * torch.randn(shape[1])
            for memory_format in ("nchw", "nhwc"):
                with self.subTest(shape=shape, memory_format=memory_format):
                    self.check(in_memory_format(x, memory_format), alpha, f"{shape} {memory_format}")

    def test_constant_planes_divide_by_sqrt_eps(self):
        torch.manual_seed(3)
        for memory_format in ("nchw", "nhwc"):
            for per_sample in (False, True):
                x = torch.randn(3, 5, 1, 1).expand(3, 5, 6, 7).contiguous()
                x[1, 2] = torch.randn(6, 7)  # one ordinary plane among the constant ones
                alpha = 1 + 0.02 * torch.randn((3, 5) if per_sample else (5,))
                what = f"constant planes, {memory_format}, per_sample={per_sample}"
                with self.subTest(what):
                    y, _ = self.check(in_memory_format(x, memory_format), alpha, what)
                    # var is exactly 0: y = alpha * x / sqrt(eps), within the roundings of rstd, scale and product.
                    expected = (alpha.double().view(-1, 5, 1, 1) * x.double() / torch.sqrt(torch.tensor(1e-5,
                                dtype=torch.float64)))
                    constant = torch.ones(3, 5, dtype=torch.bool)
                    constant[1, 2] = False
                    self.assertWithinBound(y[constant], expected[constant], 5 * 2.0 ** -24 * expected[constant].abs(),
                                           what + ": alpha * x / sqrt(eps)")

    def test_large_offsets(self):
        # |mean| / std = 1e3 (kappa ~ 1e3): the case where sum(x^2) - sum(x)^2 would lose every digit.
        torch.manual_seed(4)
        rng = random.Random(4)
        for trial in range(4):
            shape = random_shape(rng)
            n, c = shape[:2]
            offsets = 1e3 * torch.where(torch.rand(n, c, 1, 1) < 0.5, -1.0, 1.0)
            x = offsets + torch.randn(shape)
            for per_sample in (False, True):
                alpha = 1 + 0.02 * torch.randn((n, c) if per_sample else (c,))
                for memory_format in ("nchw", "nhwc"):
                    what = f"offset 1e3, shape {shape}, {memory_format}, per_sample={per_sample}"
                    with self.subTest(what):
                        self.check(in_memory_format(x, memory_format), alpha, what)

    def test_bounds_reject_the_population_variance(self):
        # The bounds must be tight enough to see a wrong result: correction 0 changes y by a factor
        # sqrt((M - 1) / M), a relative 1/(2M) (8e-6 at 256x256). y and dx must fail at every size; dalpha only
        # on small planes, because its bound is the worst case of a float sum of M products dy*x, whose relative
        # size grows as sqrt(M) (3.8e-4 at 256x256, above 1/(2M)).
        torch.manual_seed(5)
        for shape, quantities in [((2, 3, 5, 6), ("y", "dx", "dalpha")), ((1, 2, 256, 256), ("y", "dx"))]:
            x = torch.randn(shape)
            alpha = 1 + 0.02 * torch.randn(shape[1])
            dy = torch.randn(shape)
            reference = Reference(x, alpha, dy)
            for name, wrong, expected, bound in zip(("y", "dx", "dalpha"), run_operator(x, alpha, dy, correction=0),
                                                    (reference.y, reference.dx, reference.dalpha),
                                                    (reference.y_bound, reference.dx_bound, reference.dalpha_bound)):
                if name not in quantities:
                    continue
                with self.subTest(shape=shape, quantity=name):
                    with self.assertRaises(AssertionError):
                        self.assertWithinBound(wrong, expected, bound, name)

    def test_upstream_gradient_in_any_layout(self):
        # y.sum().backward() hands the backward an expanded (stride 0) gradient; others arrive channels_last
        # for an NCHW input, or NCHW for an NHWC one. Each must be read in the input's layout.
        torch.manual_seed(6)
        x = torch.randn(2, 3, 9, 10)
        alpha = 1 + 0.02 * torch.randn(3)
        for memory_format in ("nchw", "nhwc"):
            for dy_kind in ("expanded", "nchw", "nhwc", "strided"):
                dy = torch.ones(1, 1, 1, 1).expand(x.shape) if dy_kind == "expanded" else \
                    in_memory_format(torch.randn(x.shape), dy_kind)
                with self.subTest(memory_format=memory_format, dy=dy_kind):
                    self.check(in_memory_format(x, memory_format), alpha, f"{memory_format} x, {dy_kind} dy", dy)

    def test_gradient_of_one_input_only(self):
        torch.manual_seed(7)
        x = torch.randn(2, 3, 8, 8)
        alpha = 1 + 0.02 * torch.randn(3)
        dy = torch.randn(x.shape)
        reference = Reference(x, alpha, dy)
        frozen_alpha = alpha.clone()
        x_grad = x.clone().requires_grad_()
        (dx,) = torch.autograd.grad(varnorm_torch.variance_norm(x_grad, frozen_alpha), x_grad, dy)
        self.assertWithinBound(dx, reference.dx, reference.dx_bound, "dx with alpha frozen")
        alpha_grad = alpha.clone().requires_grad_()
        (dalpha,) = torch.autograd.grad(varnorm_torch.variance_norm(x, alpha_grad), alpha_grad, dy)
        self.assertWithinBound(dalpha, reference.dalpha, reference.dalpha_bound, "dalpha with x frozen")

    def test_backward_operator_skips_unrequested_outputs(self):
        torch.manual_seed(8)
        x = torch.randn(2, 3, 4, 5)
        alpha = torch.ones(3)
        _, mean, rstd = torch.ops.varnorm.variance_norm_forward(x, alpha)
        self.assertEqual(tuple(mean.shape), (2, 3))
        # The saved mean: float sums of up to 16 values per lane merged in double (as common.py's sums: at most
        # (16 + ceil(log2 M)) U sum|x|, M = 20), then a division and a rounding.
        self.assertWithinBound(mean, x.double().mean(dim=(2, 3)),
                               (16 + 5 + 2) * 2.0 ** -24 * x.double().abs().mean(dim=(2, 3)), "mean")
        dy = torch.randn(x.shape)
        dx, dalpha = torch.ops.varnorm.variance_norm_backward(dy, x, alpha, mean, rstd, 1e-5, 1, [True, False])
        self.assertIsNotNone(dx)
        self.assertIsNone(dalpha)
        dx, dalpha = torch.ops.varnorm.variance_norm_backward(dy, x, alpha, mean, rstd, 1e-5, 1, [False, True])
        self.assertIsNone(dx)
        self.assertIsNotNone(dalpha)

    def test_no_grad_and_inference_mode_give_the_training_result(self):
        torch.manual_seed(9)
        x = torch.randn(2, 4, 16, 16)
        alpha = (1 + 0.02 * torch.randn(4)).requires_grad_()
        with_graph = varnorm_torch.variance_norm(x, alpha)
        self.assertIsNotNone(with_graph.grad_fn)
        with torch.no_grad():
            without_graph = varnorm_torch.variance_norm(x, alpha)
        with torch.inference_mode():
            inference = varnorm_torch.variance_norm(x, alpha)
        self.assertIsNone(without_graph.grad_fn)
        self.assertTrue(torch.equal(with_graph.detach(), without_graph))
        self.assertTrue(torch.equal(with_graph.detach(), inference))

    def test_empty_batch(self):
        x = torch.randn(0, 3, 4, 4, requires_grad=True)
        alpha = torch.ones(3, requires_grad=True)
        y = varnorm_torch.variance_norm(x, alpha)
        self.assertEqual(tuple(y.shape), (0, 3, 4, 4))
        dx, dalpha = torch.autograd.grad(y, (x, alpha), torch.randn(0, 3, 4, 4))
        self.assertEqual(tuple(dx.shape), (0, 3, 4, 4))
        self.assertTrue(torch.equal(dalpha, torch.zeros(3)))

    def test_thread_counts_give_identical_bits(self):
        # max_threads follows torch.get_num_threads(); the library's results do not depend on the thread count.
        torch.manual_seed(10)
        x = torch.randn(4, 32, 64, 64, requires_grad=True)
        alpha = (1 + 0.02 * torch.randn(32)).requires_grad_()
        dy = torch.randn(x.shape)
        previous = torch.get_num_threads()
        results = []
        try:
            for threads in (1, 2):
                torch.set_num_threads(threads)
                y = varnorm_torch.variance_norm(x, alpha)
                results.append((y,) + torch.autograd.grad(y, (x, alpha), dy))
        finally:
            torch.set_num_threads(previous)
        for one, two in zip(*results):
            self.assertTrue(torch.equal(one, two))

    def test_dense_layouts_are_not_copied(self):
        # NCHW- and channels_last-contiguous inputs go to the library as they are; other strides are copied.
        x = torch.randn(2, 3, 8, 8)
        alpha = torch.ones(3)

        def copies(tensor):
            with torch.autograd.profiler.profile() as profile:
                torch.ops.varnorm.variance_norm(tensor, alpha)
            return [event.name for event in profile.function_events if event.name in ("aten::copy_", "aten::clone")]

        self.assertEqual(copies(in_memory_format(x, "nchw")), [])
        self.assertEqual(copies(in_memory_format(x, "nhwc")), [])
        self.assertNotEqual(copies(in_memory_format(x, "strided")), [])


if __name__ == "__main__":
    unittest.main()
