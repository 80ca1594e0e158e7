"""gradcheck-style test of group_norm: the operator's float32 vector-Jacobian products (the library's fused
backward) for input, weight and bias against float64 central finite differences of F.group_norm /
F.instance_norm, within the float32 bounds of common.GroupReference (see test_gradcheck.py for why not
torch.autograd.gradcheck itself)."""
import unittest

import torch

from common import BoundsTestCase, GroupReference, group_norm_reference, in_memory_format

STEP = 1e-6
FINITE_DIFFERENCE_SLACK = 1e-8


def numerical_vjp(x, groups, weight, bias, v, instance=False):
    """v^T J of the float64 reference with respect to x, weight and bias (None stays None)."""
    tensors = [t.double().clone() if t is not None else None for t in (x, weight, bias)]
    v = v.double()

    def objective():
        return (group_norm_reference(tensors[0], groups, tensors[1], tensors[2], instance=instance) * v).sum().item()

    grads = []
    for tensor in tensors:
        if tensor is None:
            grads.append(None)
            continue
        grad = torch.zeros_like(tensor)
        flat, grad_flat = tensor.view(-1), grad.view(-1)
        for i in range(flat.numel()):
            original = flat[i].item()
            flat[i] = original + STEP
            plus = objective()
            flat[i] = original - STEP
            minus = objective()
            flat[i] = original
            grad_flat[i] = (plus - minus) / (2 * STEP)
        grads.append(grad)
    return grads


class GroupGradcheckTest(BoundsTestCase):
    def check(self, x, groups, weight, bias, memory_format, instance=False):
        what = f"shape {tuple(x.shape)}, G={groups}, {memory_format}, affine={weight is not None}"
        for direction in range(2):
            v = torch.randn(x.shape)
            inputs = [t.detach().clone().requires_grad_() if t is not None else None for t in (x, weight, bias)]
            y = torch.ops.varnorm.group_norm(in_memory_format(inputs[0], memory_format), groups, inputs[1],
                                             inputs[2], 1e-5)
            given = [t for t in inputs if t is not None]
            analytic = list(torch.autograd.grad(y, given, v))
            analytic = [analytic.pop(0) if t is not None else None for t in inputs]
            numerical = numerical_vjp(x, groups, weight, bias, v, instance)
            bounds = GroupReference(x, weight, bias, v, groups, instance=instance)
            for name, a, n, bound in zip(("dx", "dweight", "dbias"), analytic, numerical,
                                         (bounds.dx_bound, bounds.dweight_bound, bounds.dbias_bound)):
                if a is None:
                    continue
                self.assertWithinBound(a, n, bound + FINITE_DIFFERENCE_SLACK, f"{what} direction {direction}: {name}")

    def test_groups_and_memory_formats(self):
        torch.manual_seed(60)
        for shape, groups in [((2, 4, 3, 3), 2), ((1, 8, 2, 3), 8), ((2, 4, 1, 5), 1), ((1, 8, 3, 2), 2)]:
            for memory_format in ("nchw", "nhwc", "strided"):
                with self.subTest(shape=shape, groups=groups, memory_format=memory_format):
                    c = shape[1]
                    self.check(torch.randn(shape), groups, 1 + 0.1 * torch.randn(c), 0.1 * torch.randn(c),
                               memory_format)

    def test_without_affine_and_instance_norm(self):
        torch.manual_seed(61)
        self.check(torch.randn(2, 4, 3, 4), 2, None, None, "nchw")
        self.check(torch.randn(2, 4, 3, 4), 2, None, None, "nhwc")
        self.check(torch.randn(2, 3, 3, 4), 3, 1 + 0.1 * torch.randn(3), 0.1 * torch.randn(3), "nhwc", instance=True)

    def test_offset_groups(self):
        torch.manual_seed(62)
        self.check(10.0 + 0.5 * torch.randn(2, 4, 3, 3), 2, 1 + 0.1 * torch.randn(4), 0.1 * torch.randn(4), "nchw")

    def test_finite_differences_see_a_wrong_gradient(self):
        # The comparison must be able to fail: the gradient of instance norm (G = C) is not that of G = C/2.
        torch.manual_seed(63)
        x = torch.randn(2, 4, 3, 3)
        v = torch.randn(x.shape)
        x_var = x.clone().requires_grad_()
        (dx,) = torch.autograd.grad(torch.ops.varnorm.group_norm(x_var, 4, None, None, 1e-5), x_var, v)
        dx_numerical, _, _ = numerical_vjp(x, 2, None, None, v)
        with self.assertRaises(AssertionError):
            self.assertWithinBound(dx, dx_numerical,
                                   GroupReference(x, None, None, v, 2).dx_bound + FINITE_DIFFERENCE_SLACK, "dx")


if __name__ == "__main__":
    unittest.main()
