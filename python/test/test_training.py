"""A small NCSN-style network trained with SGD twice from the same seed: with the original modules and with
varnorm_torch.convert()ed ones. The losses must agree at every step.

Tolerance: each norm layer's output agrees with the original's to its float32 bound (common.py: about 1.2e-6
relative for 16x16 planes); two such layers perturb the score by at most about 2.5e-6 relative and the squared
loss by twice that, 5e-6; the SGD steps carry earlier differences into the parameters, so over the few steps here
we allow 1e-5 relative. (Measured: the losses agree within 1.2e-7, one float32 ulp.) The last test shows that the
tolerance sees a training difference as small as dropping the gradient of the class embedding.
"""
import copy
import unittest

import torch

import varnorm_torch
from common import TinyNCSN
from varnorm_torch import reference

STEPS = 6
LOSS_RTOL = 1e-5
NOISE_LEVELS = torch.tensor([1.0, 0.5, 0.25, 0.1])


def train(model, memory_format, steps=STEPS, drop_embedding_gradient=False):
    """Denoising score matching on Gaussian data, one noise level (class) per sample; returns the losses."""
    generator = torch.Generator().manual_seed(100)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    losses = []
    for _ in range(steps):
        x = torch.randn(8, 3, 16, 16, generator=generator)
        labels = torch.randint(0, len(NOISE_LEVELS), (8,), generator=generator)
        sigma = NOISE_LEVELS[labels].view(-1, 1, 1, 1)
        noise = torch.randn(x.shape, generator=generator) * sigma
        score = model((x + noise).contiguous(memory_format=memory_format), labels)
        # sigma^2-weighted score matching loss against the score of the noise, -noise / sigma^2.
        loss = 0.5 * (score * sigma + noise / sigma).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        if drop_embedding_gradient:
            model.conditional_norm.embed.weight.grad.zero_()
        optimizer.step()
        losses.append(loss.item())
    return losses


def original_and_converted():
    torch.manual_seed(0)
    original = TinyNCSN(reference)
    torch.manual_seed(0)
    converted = varnorm_torch.convert(TinyNCSN(reference))
    return original, converted


class TrainingTest(unittest.TestCase):
    def test_converted_network_trains_like_the_original(self):
        for memory_format in (torch.contiguous_format, torch.channels_last):
            with self.subTest(memory_format=memory_format):
                original, converted = original_and_converted()
                self.assertIsInstance(converted.norm, varnorm_torch.VarianceNorm2d)
                self.assertIsInstance(converted.conditional_norm, varnorm_torch.ConditionalVarianceNorm2d)
                self.assertNotIsInstance(original.norm, varnorm_torch.VarianceNorm2d)
                for (name, a), (_, b) in zip(original.state_dict().items(), converted.state_dict().items()):
                    self.assertTrue(torch.equal(a, b), name)
                original_losses = train(original, memory_format)
                converted_losses = train(converted, memory_format)
                self.assertLess(original_losses[-1], original_losses[0])  # the steps do train
                for step, (expected, actual) in enumerate(zip(original_losses, converted_losses)):
                    self.assertLessEqual(abs(actual - expected), LOSS_RTOL * abs(expected),
                                         f"step {step}: loss {actual!r}, original {expected!r}")
                # The parameters moved the same way, embed.weight included (same relative tolerance, relative to
                # each tensor's largest value, as small entries carry the same absolute rounding).
                for (name, a), (_, b) in zip(original.named_parameters(), converted.named_parameters()):
                    torch.testing.assert_close(b, a, rtol=0, atol=LOSS_RTOL * a.abs().max().item(), msg=name)

    def test_tolerance_sees_a_missing_embedding_gradient(self):
        original, converted = original_and_converted()
        broken = copy.deepcopy(converted)
        original_losses = train(original, torch.contiguous_format)
        broken_losses = train(broken, torch.contiguous_format, drop_embedding_gradient=True)
        differences = [abs(b - a) / abs(a) for a, b in zip(original_losses, broken_losses)]
        self.assertGreater(max(differences), LOSS_RTOL, differences)


if __name__ == "__main__":
    unittest.main()
