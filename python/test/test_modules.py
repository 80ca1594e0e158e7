"""The modules as drop-ins: initialization, state_dict in both directions, convert(), and the GIL."""
import sys
import threading
import unittest
import warnings

import torch
from torch import nn

import varnorm_torch
from common import TinyNCSN
from varnorm_torch import reference


class StateDictTest(unittest.TestCase):
    def test_same_seed_same_parameters(self):
        # Same draws from the global RNG in the same order as the originals.
        for make in (lambda m: m.VarianceNorm2d(8), lambda m: m.ConditionalVarianceNorm2d(8, 3, bias=True)):
            torch.manual_seed(40)
            original = make(reference)
            next_draw_after_original = torch.rand(1)
            torch.manual_seed(40)
            replacement = make(varnorm_torch)
            next_draw_after_replacement = torch.rand(1)
            self.assertEqual(list(original.state_dict()), list(replacement.state_dict()))
            for key, value in original.state_dict().items():
                self.assertTrue(torch.equal(value, replacement.state_dict()[key]), key)
            self.assertTrue(torch.equal(next_draw_after_original, next_draw_after_replacement))

    # Outputs after loading: both sides compute in float32 (within a few 1e-7 of the exact result for these small
    # planes), while a parameter that failed to load would change them by about 2% (alpha ~ N(1, 0.02)).
    def test_load_state_dict_both_ways(self):
        x = torch.randn(2, 8, 6, 6)
        labels = torch.tensor([2, 0])
        pairs = [(reference.VarianceNorm2d, varnorm_torch.VarianceNorm2d, (8,), (x,)),
                 (reference.ConditionalVarianceNorm2d, varnorm_torch.ConditionalVarianceNorm2d, (8, 3), (x, labels))]
        for original_class, replacement_class, arguments, inputs in pairs:
            with self.subTest(module=original_class.__name__):
                source, destination = original_class(*arguments), replacement_class(*arguments)
                destination.load_state_dict(source.state_dict(), strict=True)
                torch.testing.assert_close(destination(*inputs), source(*inputs), rtol=1e-5, atol=1e-6)
                source, destination = replacement_class(*arguments), original_class(*arguments)
                destination.load_state_dict(source.state_dict(), strict=True)
                torch.testing.assert_close(source(*inputs), destination(*inputs), rtol=1e-5, atol=1e-6)

    def test_checkpoint_of_a_network(self):
        torch.manual_seed(41)
        original = TinyNCSN(reference)
        replacement = TinyNCSN(varnorm_torch)
        replacement.load_state_dict(original.state_dict(), strict=True)
        image = torch.randn(2, 3, 8, 8)
        labels = torch.tensor([1, 3])
        torch.testing.assert_close(replacement(image, labels), original(image, labels), rtol=1e-5, atol=1e-5)

    def test_bias_argument_is_accepted_and_ignored(self):
        module = varnorm_torch.VarianceNorm2d(4, bias=True)
        self.assertEqual([name for name, _ in module.named_parameters()], ["alpha"])
        self.assertTrue(module.bias)

    def test_one_label_for_the_batch_broadcasts(self):
        torch.manual_seed(42)
        original = reference.ConditionalVarianceNorm2d(4, 3)
        replacement = varnorm_torch.convert(reference.ConditionalVarianceNorm2d(4, 3))
        replacement.load_state_dict(original.state_dict())
        x = torch.randn(3, 4, 5, 5)
        dy = torch.randn(3, 4, 5, 5)
        label = torch.tensor([2])
        outputs = []
        for module in (original, replacement):
            y = module(x, label)
            y.backward(dy)
            outputs.append((y.detach(), module.embed.weight.grad))
        (expected, expected_grad), (actual, actual_grad) = outputs
        torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-6)
        # The gradient reaches only the label's row, summed over the batch as the original's broadcast does.
        self.assertEqual(actual_grad[[0, 1]].abs().max().item(), 0.0)
        torch.testing.assert_close(actual_grad, expected_grad, rtol=1e-5, atol=1e-5)


class ConvertTest(unittest.TestCase):
    def test_parameters_are_the_same_objects(self):
        model = TinyNCSN(reference)
        parameters = dict(model.named_parameters())
        state = {key: value.clone() for key, value in model.state_dict().items()}
        converted = varnorm_torch.convert(model)
        self.assertIs(converted, model)
        self.assertIsInstance(model.norm, varnorm_torch.VarianceNorm2d)
        self.assertIsInstance(model.conditional_norm, varnorm_torch.ConditionalVarianceNorm2d)
        for name, parameter in model.named_parameters():
            self.assertIs(parameter, parameters[name], name)
        self.assertEqual(list(model.state_dict()), list(state))
        for key, value in model.state_dict().items():
            self.assertTrue(torch.equal(value, state[key]), key)

    def test_convert_keeps_mode_hooks_and_sharing(self):
        shared = reference.VarianceNorm2d(4)
        model = nn.Sequential(shared, nn.ReLU(), shared, nn.ModuleList([reference.VarianceNorm2d(4)]))
        model.eval()
        calls = []
        handle = shared.register_forward_hook(lambda module, inputs, output: calls.append(1))
        varnorm_torch.convert(model)
        self.assertIs(model[0], model[2])
        self.assertIsInstance(model[3][0], varnorm_torch.VarianceNorm2d)
        self.assertFalse(model[0].training)
        model[0](torch.randn(1, 4, 3, 3))
        self.assertEqual(calls, [1])
        handle.remove()
        model[0](torch.randn(1, 4, 3, 3))
        self.assertEqual(calls, [1])

    def test_root_module_and_idempotence(self):
        original = reference.VarianceNorm2d(4)
        converted = varnorm_torch.convert(original)
        self.assertIsInstance(converted, varnorm_torch.VarianceNorm2d)
        self.assertIs(converted.alpha, original.alpha)
        self.assertIs(varnorm_torch.convert(converted), converted)

    def test_convert_draws_nothing_from_the_rng(self):
        model = TinyNCSN(reference)
        torch.manual_seed(43)
        varnorm_torch.convert(model)
        after_convert = torch.rand(1)
        torch.manual_seed(43)
        self.assertEqual(after_convert.item(), torch.rand(1).item())

    def test_a_class_of_that_name_with_other_parameters_is_left_alone(self):
        class VarianceNorm2d(nn.Module):  # same name, with a bias: not ESPnet's / score_sde's
            def __init__(self):
                super().__init__()
                self.alpha = nn.Parameter(torch.ones(4))
                self.beta = nn.Parameter(torch.zeros(4))

        model = nn.Sequential(VarianceNorm2d(), reference.VarianceNorm2d(4))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            varnorm_torch.convert(model)
        self.assertIs(type(model[0]), VarianceNorm2d)
        self.assertIsInstance(model[1], varnorm_torch.VarianceNorm2d)
        self.assertEqual(len(caught), 1)
        self.assertIn("'beta'", str(caught[0].message))
        self.assertIn("left unchanged", str(caught[0].message))

    def test_replacements_are_one_entry_per_class_name(self):
        self.assertEqual(set(varnorm_torch.REPLACEMENTS),
                         {"VarianceNorm2d", "ConditionalVarianceNorm2d", "GroupNorm", "InstanceNorm2d"})
        for cls in varnorm_torch.REPLACEMENTS.values():
            self.assertTrue(callable(getattr(cls, "from_original")))


class GilTest(unittest.TestCase):
    def test_operator_releases_the_gil(self):
        # With a switch interval of 100 s, a thread keeps the GIL unless it releases it itself. The main thread
        # wakes when the worker has started: it sees fewer than all calls done only if a call released the GIL.
        # The control (pure Python work) shows the method can fail.
        x = torch.randn(8, 64, 128, 128)
        alpha = torch.ones(64)

        def calls_done_when_main_thread_resumes(work, calls=5):
            done = [0]
            started = threading.Event()

            def worker():
                started.set()
                for _ in range(calls):
                    work()
                    done[0] += 1

            previous = sys.getswitchinterval()
            sys.setswitchinterval(100.0)
            try:
                thread = threading.Thread(target=worker)
                thread.start()
                started.wait()
                seen = done[0]
                thread.join()
            finally:
                sys.setswitchinterval(previous)
            return seen

        self.assertEqual(calls_done_when_main_thread_resumes(lambda: sum(range(200_000))), 5)
        self.assertLess(calls_done_when_main_thread_resumes(lambda: torch.ops.varnorm.variance_norm(x, alpha)), 5)
        x_grad = x.clone().requires_grad_()
        y = varnorm_torch.variance_norm(x_grad, alpha)
        self.assertLess(calls_done_when_main_thread_resumes(
            lambda: torch.autograd.grad(y, x_grad, torch.ones_like(y), retain_graph=True)), 5)


if __name__ == "__main__":
    unittest.main()
