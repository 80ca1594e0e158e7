"""A small NCSN++-style network (conv, GroupNorm(min(C // 4, 32), C, eps=1e-6) + SiLU residual blocks,
InstanceNorm2d(affine=True)) trained with SGD twice from the same seed: with torch.nn's modules and with
varnorm_torch.convert()ed ones. The losses must agree at every step, and the parameters after training.

Tolerance: both sides compute each norm in float32 (PyTorch's kernel and varnorm), each within about 1e-6
relative of the exact result for these groups (common.GroupReference); three norm layers, the convolutions in
between and a few SGD steps that carry earlier differences into the parameters stay well within 1e-5 relative.
(Measured: the losses agree within 1.2e-7, one float32 ulp.) The last test shows that this tolerance sees a
training difference as small as dropping the gradient of the InstanceNorm2d's weight (8e-5 by the last step;
dropping one GroupNorm's weight or bias gradient changes the losses by only 2-7e-6, below float32 tolerance).
"""
import copy
import unittest

import torch

import varnorm_torch
from common import TinyNCSNpp

STEPS = 6
LOSS_RTOL = 1e-5
SIGMAS = torch.tensor([1.0, 0.5, 0.25, 0.1])


def train(model, memory_format, steps=STEPS, drop_weight_gradient=False):
    """Denoising on Gaussian data, one noise level per sample; returns the losses."""
    generator = torch.Generator().manual_seed(200)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
    losses = []
    for _ in range(steps):
        x = torch.randn(8, 3, 16, 16, generator=generator)
        sigma = SIGMAS[torch.randint(0, len(SIGMAS), (8,), generator=generator)].view(-1, 1, 1, 1)
        noise = torch.randn(x.shape, generator=generator) * sigma
        score = model((x + noise).contiguous(memory_format=memory_format))
        loss = 0.5 * (score * sigma + noise / sigma).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        if drop_weight_gradient:
            model.norm_out.weight.grad.zero_()
        optimizer.step()
        losses.append(loss.item())
    return losses


def original_and_converted():
    torch.manual_seed(0)
    original = TinyNCSNpp()
    torch.manual_seed(0)
    converted = varnorm_torch.convert(TinyNCSNpp())
    return original, converted


class GroupTrainingTest(unittest.TestCase):
    def test_converted_network_trains_like_the_original(self):
        for memory_format in (torch.contiguous_format, torch.channels_last):
            with self.subTest(memory_format=memory_format):
                original, converted = original_and_converted()
                self.assertIs(type(converted.norm1), varnorm_torch.GroupNorm)
                self.assertIs(type(converted.norm_out), varnorm_torch.InstanceNorm2d)
                self.assertIs(type(original.norm1), torch.nn.GroupNorm)
                for (name, a), (_, b) in zip(original.state_dict().items(), converted.state_dict().items()):
                    self.assertTrue(torch.equal(a, b), name)
                original_losses = train(original, memory_format)
                converted_losses = train(converted, memory_format)
                self.assertLess(original_losses[-1], original_losses[0])  # the steps do train
                for step, (expected, actual) in enumerate(zip(original_losses, converted_losses)):
                    self.assertLessEqual(abs(actual - expected), LOSS_RTOL * abs(expected),
                                         f"step {step}: loss {actual!r}, original {expected!r}")
                for (name, a), (_, b) in zip(original.named_parameters(), converted.named_parameters()):
                    torch.testing.assert_close(b, a, rtol=0, atol=LOSS_RTOL * a.abs().max().item(), msg=name)
                # The norms' affine parameters did move (they start at ones / zeros).
                self.assertGreater((converted.norm1.bias).abs().max().item(), 1e-4)

    def test_tolerance_sees_a_missing_weight_gradient(self):
        original, converted = original_and_converted()
        broken = copy.deepcopy(converted)
        original_losses = train(original, torch.contiguous_format)
        broken_losses = train(broken, torch.contiguous_format, drop_weight_gradient=True)
        differences = [abs(b - a) / abs(a) for a, b in zip(original_losses, broken_losses)]
        self.assertGreater(max(differences), LOSS_RTOL, differences)


if __name__ == "__main__":
    unittest.main()
