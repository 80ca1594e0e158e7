"""GroupNorm and InstanceNorm2d: forward and gradients (input, weight, bias) of torch.ops.varnorm.group_norm
against torch.nn.functional.group_norm / instance_norm in float64, within the float32 bounds of
common.GroupReference: random shapes, G in {1, 2, 32, C/4} and G = C, both memory formats (and copied strides),
affine on and off, constant groups, large offsets (with the library's tighter promise there), other ranks."""
import math
import random
import unittest

import torch

import varnorm_torch
from common import (NORMALIZED_PROMISE, U, BoundsTestCase, GroupReference, in_memory_format,
                    random_group_shape)

MEMORY_FORMATS = ("nchw", "nhwc", "strided")


def run_group_norm(x, groups, weight, bias, dy, eps=1e-5):
    """y and the gradients of the tensors given (dx, dweight or None, dbias or None) through autograd."""
    x = x.detach().requires_grad_()
    weight = None if weight is None else weight.detach().requires_grad_()
    bias = None if bias is None else bias.detach().requires_grad_()
    y = torch.ops.varnorm.group_norm(x, groups, weight, bias, eps)
    inputs = [x] + [t for t in (weight, bias) if t is not None]
    grads = list(torch.autograd.grad(y, inputs, dy))
    dx = grads.pop(0)
    dweight = grads.pop(0) if weight is not None else None
    dbias = grads.pop(0) if bias is not None else None
    return y, dx, dweight, dbias


def affine_parameters(c: int, affine: bool):
    if not affine:
        return None, None
    return 1 + 0.1 * torch.randn(c), 0.1 * torch.randn(c)


class GroupNormTest(BoundsTestCase):
    def check(self, x, groups, weight, bias, what, dy=None, eps=1e-5, instance=False):
        if dy is None:
            dy = torch.randn(x.shape)
        reference = GroupReference(x, weight, bias, dy, groups, eps, instance)
        y, dx, dweight, dbias = run_group_norm(x, groups, weight, bias, dy, eps)
        self.assertWithinBound(y, reference.y, reference.y_bound, f"{what}: y")
        self.assertWithinBound(dx, reference.dx, reference.dx_bound, f"{what}: dx")
        self.assertEqual(dweight is None, weight is None, what)
        self.assertEqual(dbias is None, bias is None, what)
        if weight is not None:
            self.assertWithinBound(dweight, reference.dweight, reference.dweight_bound, f"{what}: dweight")
        if bias is not None:
            self.assertWithinBound(dbias, reference.dbias, reference.dbias_bound, f"{what}: dbias")
        return y, dx, reference

    def test_random_shapes_groups_memory_formats_and_affine(self):
        rng = random.Random(101)
        torch.manual_seed(101)
        for trial in range(12):
            n, c, h, w, groups = random_group_shape(rng)
            x = torch.randn(n, c, h, w) * rng.choice([1e-3, 1.0, 50.0]) + rng.choice([0.0, 3.0])
            for affine in (True, False):
                weight, bias = affine_parameters(c, affine)
                for memory_format in MEMORY_FORMATS:
                    what = f"shape {(n, c, h, w)}, G={groups}, {memory_format}, affine={affine}"
                    with self.subTest(what):
                        y, dx, _ = self.check(in_memory_format(x, memory_format), groups, weight, bias, what)
                        channels_last = memory_format == "nhwc" and c > 1 and h * w > 1
                        for result in (y, dx):
                            self.assertEqual(result.is_contiguous(memory_format=torch.channels_last) and
                                             not result.is_contiguous(), channels_last, what)

    def test_each_group_count(self):
        # G in {1, 2, 32, C/4} and G = C on one NCSN++-like shape, with and without affine parameters.
        torch.manual_seed(102)
        x = torch.randn(2, 64, 12, 10)
        for groups in (1, 2, 32, 16, 64):
            for affine in (True, False):
                weight, bias = affine_parameters(64, affine)
                for memory_format in ("nchw", "nhwc"):
                    what = f"G={groups}, {memory_format}, affine={affine}"
                    with self.subTest(what):
                        self.check(in_memory_format(x, memory_format), groups, weight, bias, what)

    def test_weight_or_bias_alone(self):
        torch.manual_seed(103)
        x = torch.randn(2, 8, 6, 7)
        weight, bias = affine_parameters(8, True)
        for memory_format in ("nchw", "nhwc"):
            with self.subTest(memory_format=memory_format):
                self.check(in_memory_format(x, memory_format), 2, weight, None, f"{memory_format} weight only")
                self.check(in_memory_format(x, memory_format), 2, None, bias, f"{memory_format} bias only")

    def test_instance_norm(self):
        # InstanceNorm2d is G = C: against F.instance_norm.
        rng = random.Random(104)
        torch.manual_seed(104)
        for trial in range(5):
            shape = (rng.randint(1, 3), rng.randint(1, 16), rng.randint(2, 30), rng.randint(1, 30))
            x = torch.randn(shape) * 2 + 1
            for affine in (True, False):
                weight, bias = affine_parameters(shape[1], affine)
                for memory_format in MEMORY_FORMATS:
                    what = f"instance norm {shape}, {memory_format}, affine={affine}"
                    with self.subTest(what):
                        self.check(in_memory_format(x, memory_format), shape[1], weight, bias, what, instance=True)

    def test_ncsnpp_shapes(self):
        torch.manual_seed(105)
        for shape in [(1, 128, 64, 64), (2, 64, 128, 128), (1, 256, 16, 16), (8, 256, 4, 4)]:
            x = torch.randn(shape)
            weight, bias = affine_parameters(shape[1], True)
            groups = min(shape[1] // 4, 32)
            for memory_format in ("nchw", "nhwc"):
                with self.subTest(shape=shape, memory_format=memory_format):
                    self.check(in_memory_format(x, memory_format), groups, weight, bias, f"{shape} {memory_format}",
                               eps=1e-6)

    def test_constant_groups(self):
        # A group of one value: variance exactly 0 (the library's promise), rstd = 1/sqrt(eps), y = bias.
        torch.manual_seed(106)
        for memory_format in ("nchw", "nhwc"):
            for groups in (2, 8):
                x = torch.randn(3, 8, 5, 6)
                values = torch.randn(3, groups, 1, 1, 1)
                x.view(3, groups, 8 // groups, 5, 6)[0] = values[0].expand(groups, 8 // groups, 5, 6)
                x.view(3, groups, 8 // groups, 5, 6)[2, 1] = values[2, 1].expand(8 // groups, 5, 6)
                weight, bias = affine_parameters(8, True)
                what = f"constant groups, G={groups}, {memory_format}"
                with self.subTest(what):
                    y, _, reference = self.check(in_memory_format(x, memory_format), groups, weight, bias, what)
                    _, mean, rstd = torch.ops.varnorm.group_norm_forward(in_memory_format(x, memory_format), groups,
                                                                        weight, bias)
                    # eps is rounded to float32 first (half an ulp), then the square root and the division.
                    expected_rstd = torch.tensor(1e-5, dtype=torch.float64).rsqrt()
                    self.assertWithinBound(rstd[0], expected_rstd.expand(groups), 3 * U * expected_rstd.expand(groups),
                                           what + ": rstd of constant groups")
                    m = 8 // groups * 30
                    self.assertWithinBound(mean[0], values[0].double().view(groups),
                                           (16 + math.ceil(math.log2(m)) + 2) * U * values[0].double().abs().view(groups),
                                           what + ": mean of constant groups")

    def test_large_offsets(self):
        # |mean| / std = 1e3: the general bound (which allows uncentered sums) and the library's promise on y.
        torch.manual_seed(107)
        rng = random.Random(107)
        for trial in range(4):
            n, c, h, w, groups = random_group_shape(rng)
            offsets = 1e3 * torch.where(torch.rand(n, groups, 1, 1, 1) < 0.5, -1.0, 1.0)
            x = (offsets + torch.randn(n, groups, c // groups, h, w)).view(n, c, h, w)
            for affine in (True, False):
                weight, bias = affine_parameters(c, affine)
                for memory_format in ("nchw", "nhwc"):
                    what = f"offset 1e3, shape {(n, c, h, w)}, G={groups}, {memory_format}, affine={affine}"
                    with self.subTest(what):
                        y, _, reference = self.check(in_memory_format(x, memory_format), groups, weight, bias, what)
                        scale = (torch.ones(c, dtype=torch.float64) if weight is None else weight.double().abs())
                        promise = (scale.view(1, c, 1, 1) * NORMALIZED_PROMISE * reference.xhat.abs().clamp_min(1.0)
                                   + 2 * U * reference.y.abs())
                        self.assertWithinBound(y, reference.y, promise, what + ": y within the library's promise")

    def test_saved_statistics(self):
        # mean and rstd are [N, G], index n * G + g, against the float64 group statistics.
        torch.manual_seed(108)
        x = torch.randn(3, 12, 7, 5) + 2
        for groups in (1, 3, 12):
            for memory_format in ("nchw", "nhwc"):
                with self.subTest(groups=groups, memory_format=memory_format):
                    _, mean, rstd = torch.ops.varnorm.group_norm_forward(in_memory_format(x, memory_format), groups)
                    self.assertEqual(tuple(mean.shape), (3, groups))
                    reference = GroupReference(x, None, None, torch.zeros(x.shape), groups)
                    m = 12 // groups * 35
                    self.assertWithinBound(mean, reference.mean,
                                           (16 + 12 + 2) * U * x.double().abs().reshape(3, groups, m).mean(dim=2),
                                           "mean")
                    self.assertWithinBound(rstd, reference.rstd, (reference.rstd_error + 2 * U) * reference.rstd,
                                           "rstd")

    def test_bounds_reject_the_unbiased_variance(self):
        # The bounds must be tight enough to see a wrong result: the unbiased variance changes y by a factor
        # sqrt((M - 1) / M), a relative 1/(2M) (1/(2*8192) = 6e-5 here).
        torch.manual_seed(109)
        for shape, groups in [((2, 8, 5, 6), 2), ((1, 32, 32, 32), 4)]:
            x = torch.randn(shape)
            weight, bias = affine_parameters(shape[1], True)
            reference = GroupReference(x, weight, bias, torch.randn(shape), groups)
            m = shape[1] // groups * shape[2] * shape[3]
            wrong = ((reference.y - bias.double().view(1, -1, 1, 1)) * ((m - 1) / m) ** 0.5
                     + bias.double().view(1, -1, 1, 1)).float()
            with self.subTest(shape=shape), self.assertRaises(AssertionError):
                self.assertWithinBound(wrong, reference.y, reference.y_bound, "y with the unbiased variance")

    def test_upstream_gradient_in_any_layout(self):
        torch.manual_seed(110)
        x = torch.randn(2, 8, 9, 10)
        weight, bias = affine_parameters(8, True)
        for memory_format in ("nchw", "nhwc"):
            for dy_kind in ("expanded", "nchw", "nhwc", "strided"):
                dy = torch.ones(1, 1, 1, 1).expand(x.shape) if dy_kind == "expanded" else \
                    in_memory_format(torch.randn(x.shape), dy_kind)
                with self.subTest(memory_format=memory_format, dy=dy_kind):
                    self.check(in_memory_format(x, memory_format), 4, weight, bias, f"{memory_format} x, {dy_kind} dy",
                               dy)

    def test_gradient_of_some_inputs_only(self):
        torch.manual_seed(111)
        x = torch.randn(2, 8, 6, 6)
        weight, bias = affine_parameters(8, True)
        dy = torch.randn(x.shape)
        reference = GroupReference(x, weight, bias, dy, 2)
        x_grad = x.clone().requires_grad_()
        (dx,) = torch.autograd.grad(varnorm_torch.group_norm(x_grad, 2, weight, bias), x_grad, dy)
        self.assertWithinBound(dx, reference.dx, reference.dx_bound, "dx with weight and bias frozen")
        w_grad = weight.clone().requires_grad_()
        (dweight,) = torch.autograd.grad(varnorm_torch.group_norm(x, 2, w_grad, bias), w_grad, dy)
        self.assertWithinBound(dweight, reference.dweight, reference.dweight_bound, "dweight alone")
        b_grad = bias.clone().requires_grad_()
        (dbias,) = torch.autograd.grad(varnorm_torch.group_norm(x, 2, weight, b_grad), b_grad, dy)
        self.assertWithinBound(dbias, reference.dbias, reference.dbias_bound, "dbias alone")

    def test_backward_operator_skips_unrequested_outputs(self):
        torch.manual_seed(112)
        x = torch.randn(2, 8, 4, 5)
        weight = torch.ones(8)
        _, mean, rstd = torch.ops.varnorm.group_norm_forward(x, 4, weight)
        dy = torch.randn(x.shape)
        for mask in ([True, False, False], [False, True, False], [False, False, True], [True, True, True]):
            with self.subTest(mask=mask):
                results = torch.ops.varnorm.group_norm_backward(dy, x, 4, weight, mean, rstd, 1e-5, mask)
                self.assertEqual([r is not None for r in results], mask)
        # Without a weight there is no weight gradient, whatever the mask.
        results = torch.ops.varnorm.group_norm_backward(dy, x, 4, None, mean, rstd, 1e-5, [True, True, True])
        self.assertEqual([r is not None for r in results], [True, False, True])

    def test_no_grad_and_inference_mode_give_the_training_result(self):
        torch.manual_seed(113)
        x = torch.randn(2, 8, 16, 16)
        weight, bias = affine_parameters(8, True)
        weight.requires_grad_()
        with_graph = varnorm_torch.group_norm(x, 4, weight, bias)
        self.assertIsNotNone(with_graph.grad_fn)
        with torch.no_grad():
            without_graph = varnorm_torch.group_norm(x, 4, weight, bias)
        with torch.inference_mode():
            inference = varnorm_torch.group_norm(x, 4, weight, bias)
        self.assertIsNone(without_graph.grad_fn)
        self.assertTrue(torch.equal(with_graph.detach(), without_graph))
        self.assertTrue(torch.equal(with_graph.detach(), inference))

    def test_empty_batch(self):
        x = torch.randn(0, 8, 4, 4, requires_grad=True)
        weight = torch.ones(8, requires_grad=True)
        bias = torch.zeros(8, requires_grad=True)
        y = varnorm_torch.group_norm(x, 2, weight, bias)
        self.assertEqual(tuple(y.shape), (0, 8, 4, 4))
        dx, dweight, dbias = torch.autograd.grad(y, (x, weight, bias), torch.randn(0, 8, 4, 4))
        self.assertEqual(tuple(dx.shape), (0, 8, 4, 4))
        self.assertTrue(torch.equal(dweight, torch.zeros(8)))
        self.assertTrue(torch.equal(dbias, torch.zeros(8)))

    def test_thread_counts_give_identical_bits(self):
        torch.manual_seed(114)
        x = torch.randn(4, 64, 32, 32, requires_grad=True)
        weight = (1 + 0.1 * torch.randn(64)).requires_grad_()
        bias = (0.1 * torch.randn(64)).requires_grad_()
        dy = torch.randn(x.shape)
        previous = torch.get_num_threads()
        results = []
        try:
            for threads in (1, 2):
                torch.set_num_threads(threads)
                y = varnorm_torch.group_norm(x, 16, weight, bias)
                results.append((y,) + torch.autograd.grad(y, (x, weight, bias), dy))
        finally:
            torch.set_num_threads(previous)
        for one, two in zip(*results):
            self.assertTrue(torch.equal(one, two))

    def test_dense_layouts_are_not_copied(self):
        x = torch.randn(2, 8, 8, 8)
        weight, bias = torch.ones(8), torch.zeros(8)

        def copies(tensor):
            with torch.autograd.profiler.profile() as profile:
                torch.ops.varnorm.group_norm(tensor, 2, weight, bias)
            return [event.name for event in profile.function_events if event.name in ("aten::copy_", "aten::clone")]

        self.assertEqual(copies(in_memory_format(x, "nchw")), [])
        self.assertEqual(copies(in_memory_format(x, "nhwc")), [])
        self.assertNotEqual(copies(in_memory_format(x, "strided")), [])

    def test_other_ranks_are_viewed_as_4d(self):
        # group_norm (and the GroupNorm module) take (N, C, *) as F.group_norm does: (N, C, L) and (N, C, D, H, W)
        # are normalized as (N, C, L, 1) / (N, C, D*H*W, 1).
        torch.manual_seed(115)
        for shape in [(3, 8), (2, 8, 17), (2, 8, 3, 4, 5)]:
            x = torch.randn(shape)
            weight, bias = affine_parameters(8, True)
            dy = torch.randn(shape)
            with self.subTest(shape=shape):
                x4 = x.reshape(shape[0], 8, -1, 1)
                reference = GroupReference(x4, weight, bias, dy.reshape(x4.shape), 2)
                x_var = x.clone().requires_grad_()
                y = varnorm_torch.group_norm(x_var, 2, weight, bias)
                self.assertEqual(tuple(y.shape), shape)
                (dx,) = torch.autograd.grad(y, x_var, dy)
                self.assertWithinBound(y.reshape(x4.shape), reference.y, reference.y_bound, f"{shape}: y")
                self.assertWithinBound(dx.reshape(x4.shape), reference.dx, reference.dx_bound, f"{shape}: dx")


if __name__ == "__main__":
    unittest.main()
