"""TorchScript: scripted modules and functions call the same operators (bitwise the same results and gradients),
survive torch.jit.save / torch.jit.load, and report bad inputs as RuntimeError with the operator's message."""
import io
import unittest

import torch

import varnorm_torch
from common import TinyNCSN


@torch.jit.script
def scripted_operator(x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    return torch.ops.varnorm.variance_norm(x, alpha)


class TorchScriptTest(unittest.TestCase):
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


if __name__ == "__main__":
    unittest.main()
