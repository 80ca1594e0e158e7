"""TorchScript: scripted modules and functions call the same operators (bitwise the same results and gradients),
survive torch.jit.save / torch.jit.load, and report bad inputs as RuntimeError with the operator's message.
VarianceNorm2d modules and the variance_norm operator; GroupNorm, InstanceNorm2d and group_norm."""
import io
import unittest

import torch

import varnorm_torch
from common import TinyNCSN, TinyNCSNpp


@torch.jit.script
def scripted_operator(x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    return torch.ops.varnorm.variance_norm(x, alpha)


class ScriptTestCase(unittest.TestCase):
    def assertSameForwardAndBackward(self, eager, scripted, *inputs):
        x = inputs[0].clone().requires_grad_()
        outputs = []
        for module in (eager, scripted):
            module.zero_grad()
            x.grad = None
            y = module(x, *inputs[1:])
            y.backward(torch.ones_like(y) * torch.linspace(-1, 1, y.numel()).view(y.shape))
            outputs.append([y.detach(), x.grad.clone()] + [p.grad.clone() for p in module.parameters()])
        for eager_value, scripted_value in zip(*outputs):
            self.assertTrue(torch.equal(eager_value, scripted_value))


class TorchScriptTest(ScriptTestCase):
    def test_modules_and_network_script(self):
        torch.manual_seed(30)
        x = torch.randn(4, 16, 12, 12)
        labels = torch.tensor([0, 3, 1, 3])
        norm = varnorm_torch.VarianceNorm2d(16)
        conditional = varnorm_torch.ConditionalVarianceNorm2d(16, 4)
        network = TinyNCSN(varnorm_torch, channels=16, num_classes=4)
        image = torch.randn(4, 3, 12, 12)
        for memory_format in (torch.contiguous_format, torch.channels_last):
            with self.subTest(memory_format=memory_format):
                self.assertSameForwardAndBackward(norm, torch.jit.script(norm), x.contiguous(memory_format=memory_format))
                self.assertSameForwardAndBackward(conditional, torch.jit.script(conditional),
                                                  x.contiguous(memory_format=memory_format), labels)
                self.assertSameForwardAndBackward(network, torch.jit.script(network),
                                                  image.contiguous(memory_format=memory_format), labels)

    def test_scripted_function(self):
        x = torch.randn(2, 3, 5, 5)
        alpha = torch.rand(3)
        self.assertTrue(torch.equal(scripted_operator(x, alpha), varnorm_torch.variance_norm(x, alpha)))
        self.assertIn("varnorm::variance_norm", str(scripted_operator.graph))

    def test_save_and_load(self):
        torch.manual_seed(31)
        network = TinyNCSN(varnorm_torch)
        buffer = io.BytesIO()
        torch.jit.save(torch.jit.script(network), buffer)
        buffer.seek(0)
        loaded = torch.jit.load(buffer)
        image = torch.randn(2, 3, 8, 8)
        labels = torch.tensor([1, 2])
        self.assertTrue(torch.equal(loaded(image, labels), network(image, labels)))

    def test_bad_input_raises_runtime_error_with_the_message(self):
        scripted = torch.jit.script(varnorm_torch.VarianceNorm2d(3))
        with self.assertRaisesRegex(RuntimeError, "supports torch.float32 only"):
            scripted(torch.randn(2, 3, 4, 4, dtype=torch.float64))
        with self.assertRaisesRegex(RuntimeError, "has 4 channels"):
            scripted(torch.randn(2, 4, 4, 4))



@torch.jit.script
def scripted_group_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return torch.ops.varnorm.group_norm(x, 2, weight, bias, 1e-6)


class GroupTorchScriptTest(ScriptTestCase):
    def test_group_modules_and_network_script(self):
        torch.manual_seed(32)
        x = torch.randn(4, 16, 12, 12)
        image = torch.randn(4, 3, 12, 12)
        modules = [varnorm_torch.GroupNorm(4, 16, eps=1e-6), varnorm_torch.GroupNorm(2, 16, affine=False),
                   varnorm_torch.InstanceNorm2d(16, affine=True), varnorm_torch.InstanceNorm2d(16)]
        network = varnorm_torch.convert(TinyNCSNpp(channels=16))
        for memory_format in (torch.contiguous_format, torch.channels_last):
            for module in modules:
                with self.subTest(module=repr(module), memory_format=memory_format):
                    self.assertSameForwardAndBackward(module, torch.jit.script(module),
                                                      x.contiguous(memory_format=memory_format))
            with self.subTest(module="network", memory_format=memory_format):
                self.assertSameForwardAndBackward(network, torch.jit.script(network),
                                                  image.contiguous(memory_format=memory_format))

    def test_scripted_unbatched_and_other_ranks(self):
        instance = torch.jit.script(varnorm_torch.InstanceNorm2d(4, affine=True))
        x = torch.randn(4, 5, 6)
        self.assertTrue(torch.equal(instance(x), varnorm_torch.InstanceNorm2d(4, affine=True)(x)))
        group = torch.jit.script(varnorm_torch.GroupNorm(2, 4))
        x = torch.randn(3, 4, 10)
        self.assertTrue(torch.equal(group(x), varnorm_torch.GroupNorm(2, 4)(x)))

    def test_scripted_group_norm_function(self):
        x = torch.randn(2, 4, 5, 5)
        weight, bias = torch.rand(4), torch.rand(4)
        self.assertTrue(torch.equal(scripted_group_norm(x, weight, bias),
                                    varnorm_torch.group_norm(x, 2, weight, bias, 1e-6)))
        self.assertIn("varnorm::group_norm", str(scripted_group_norm.graph))

    def test_group_network_save_and_load(self):
        torch.manual_seed(33)
        network = varnorm_torch.convert(TinyNCSNpp(channels=16))
        buffer = io.BytesIO()
        torch.jit.save(torch.jit.script(network), buffer)
        buffer.seek(0)
        loaded = torch.jit.load(buffer)
        image = torch.randn(2, 3, 8, 8)
        self.assertTrue(torch.equal(loaded(image), network(image)))

    def test_group_bad_input_raises_runtime_error_with_the_message(self):
        scripted = torch.jit.script(varnorm_torch.GroupNorm(2, 4))
        with self.assertRaisesRegex(RuntimeError, "supports torch.float32 only"):
            scripted(torch.randn(2, 4, 4, 4, dtype=torch.float64))
        with self.assertRaisesRegex(RuntimeError, "has 6 channels"):
            scripted(torch.randn(2, 6, 4, 4))
        # The modules' own Python checks arrive as torch.jit.Error (not a RuntimeError in PyTorch 1.13), as those
        # of PyTorch's modules do.
        with self.assertRaisesRegex(torch.jit.Error, "expected more than 1 spatial element"):
            torch.jit.script(varnorm_torch.InstanceNorm2d(3))(torch.randn(2, 3, 1, 1))
        with self.assertRaisesRegex(torch.jit.Error, "Expected more than 1 spatial element"):
            torch.jit.script(torch.nn.InstanceNorm2d(3))(torch.randn(2, 3, 1, 1))


if __name__ == "__main__":
    unittest.main()
