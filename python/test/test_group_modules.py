"""varnorm_torch.GroupNorm and InstanceNorm2d as drop-ins for torch.nn's: constructor, parameters, state_dict
(both directions), extra_repr, convert(), unbatched and other-rank inputs, track_running_stats, the GIL."""
import copy
import io
import sys
import threading
import unittest
import warnings

import torch
from torch import nn

import varnorm_torch
from common import TinyNCSNpp

# Both sides compute in float32 (within about 1e-6 of the exact result for these groups), while a parameter that
# failed to load would change outputs by about 10% (weights ~ 1 + N(0, 0.1)).
RTOL, ATOL = 1e-5, 1e-5


def randomized(module: nn.Module) -> nn.Module:
    """The module with its affine parameters moved away from ones / zeros, so that a lost parameter shows."""
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(0.1 * torch.randn(parameter.shape))
    return module


class ConstructorTest(unittest.TestCase):
    def test_group_norm_matches_torch(self):
        for args, kwargs in [((32, 128), {}), ((4, 8), {"eps": 1e-6}), ((2, 8), {"affine": False}),
                             ((1, 3), {"eps": 1e-3, "affine": True})]:
            with self.subTest(args=args, kwargs=kwargs):
                original, replacement = nn.GroupNorm(*args, **kwargs), varnorm_torch.GroupNorm(*args, **kwargs)
                self.assertIsInstance(replacement, nn.GroupNorm)
                self.assertEqual(repr(replacement), repr(original))
                self.assertEqual(list(replacement.state_dict()), list(original.state_dict()))
                for key, value in original.state_dict().items():
                    self.assertTrue(torch.equal(replacement.state_dict()[key], value), key)
                self.assertEqual([name for name, _ in replacement.named_parameters()],
                                 [name for name, _ in original.named_parameters()])
        with self.assertRaisesRegex(ValueError, "divisible"):
            varnorm_torch.GroupNorm(3, 8)

    def test_instance_norm_matches_torch(self):
        for kwargs in [{}, {"affine": True}, {"eps": 1e-3, "momentum": 0.3, "affine": True}]:
            with self.subTest(kwargs=kwargs):
                original, replacement = nn.InstanceNorm2d(16, **kwargs), varnorm_torch.InstanceNorm2d(16, **kwargs)
                self.assertIsInstance(replacement, nn.InstanceNorm2d)
                self.assertEqual(repr(replacement), repr(original))
                self.assertEqual(list(replacement.state_dict()), list(original.state_dict()))
                self.assertEqual(list(replacement.buffers()), [])

    def test_construction_draws_nothing_from_the_rng(self):
        torch.manual_seed(50)
        varnorm_torch.GroupNorm(4, 16)
        varnorm_torch.InstanceNorm2d(16, affine=True)
        after = torch.rand(1)
        torch.manual_seed(50)
        self.assertEqual(after.item(), torch.rand(1).item())

    def test_track_running_stats_raises_value_error(self):
        with self.assertRaisesRegex(ValueError, "track_running_stats=True is not supported.*torch.nn.InstanceNorm2d"):
            varnorm_torch.InstanceNorm2d(8, track_running_stats=True)
        module = varnorm_torch.InstanceNorm2d(8)
        module.track_running_stats = True  # changed after construction: forward refuses too
        with self.assertRaisesRegex(RuntimeError, "track_running_stats=True is not supported"):
            module(torch.randn(2, 8, 4, 4))


class StateDictTest(unittest.TestCase):
    def test_load_state_dict_both_ways(self):
        torch.manual_seed(51)
        x = torch.randn(2, 16, 6, 6)
        pairs = [(nn.GroupNorm, varnorm_torch.GroupNorm, (4, 16), {"eps": 1e-6}),
                 (nn.GroupNorm, varnorm_torch.GroupNorm, (16, 16), {}),
                 (nn.InstanceNorm2d, varnorm_torch.InstanceNorm2d, (16,), {"affine": True})]
        for original_class, replacement_class, args, kwargs in pairs:
            for memory_format in (torch.contiguous_format, torch.channels_last):
                with self.subTest(module=original_class.__name__, args=args, memory_format=memory_format):
                    inputs = x.contiguous(memory_format=memory_format)
                    source = randomized(original_class(*args, **kwargs))
                    destination = replacement_class(*args, **kwargs)
                    destination.load_state_dict(source.state_dict(), strict=True)
                    torch.testing.assert_close(destination(inputs), source(inputs), rtol=RTOL, atol=ATOL)
                    source = randomized(replacement_class(*args, **kwargs))
                    destination = original_class(*args, **kwargs)
                    destination.load_state_dict(source.state_dict(), strict=True)
                    torch.testing.assert_close(source(inputs), destination(inputs), rtol=RTOL, atol=ATOL)

    def test_checkpoint_file_of_a_network(self):
        torch.manual_seed(52)
        original = randomized(TinyNCSNpp())
        buffer = io.BytesIO()
        torch.save(original.state_dict(), buffer)
        converted = varnorm_torch.convert(TinyNCSNpp())
        buffer.seek(0)
        converted.load_state_dict(torch.load(buffer), strict=True)
        image = torch.randn(2, 3, 8, 8)
        torch.testing.assert_close(converted(image), original(image), rtol=RTOL, atol=ATOL)

    def test_instance_norm_state_dict_with_running_stats_is_refused_as_by_torch(self):
        # A checkpoint with running stats for a layer without them: PyTorch's own error, for both.
        source = nn.InstanceNorm2d(4, affine=True, track_running_stats=True)
        for destination in (varnorm_torch.InstanceNorm2d(4, affine=True), nn.InstanceNorm2d(4, affine=True)):
            with self.subTest(destination=type(destination)):
                with self.assertRaisesRegex(RuntimeError, 'Unexpected key.*"running_mean", "running_var"'):
                    destination.load_state_dict(source.state_dict())


class InputTest(unittest.TestCase):
    def test_instance_norm_unbatched_input(self):
        # torch.nn.InstanceNorm2d (1.13) takes (C, H, W) as a batch of one.
        torch.manual_seed(53)
        original = randomized(nn.InstanceNorm2d(6, affine=True))
        replacement = varnorm_torch.convert(copy.deepcopy(original))
        x = torch.randn(6, 5, 7, requires_grad=True)
        y = replacement(x)
        self.assertEqual(tuple(y.shape), (6, 5, 7))
        torch.testing.assert_close(y, original(x), rtol=RTOL, atol=ATOL)
        (dx,) = torch.autograd.grad(y.sum() + (y * y).sum(), x)
        x_ref = x.detach().clone().requires_grad_()
        y_ref = original(x_ref)
        (dx_ref,) = torch.autograd.grad(y_ref.sum() + (y_ref * y_ref).sum(), x_ref)
        torch.testing.assert_close(dx, dx_ref, rtol=1e-4, atol=1e-4)

    def test_instance_norm_without_affine_ignores_num_features_as_torch(self):
        # PyTorch 1.13's InstanceNorm2d(affine=False) normalizes any channel count; so does the replacement.
        x = torch.randn(2, 5, 4, 4)
        torch.testing.assert_close(varnorm_torch.InstanceNorm2d(3)(x), nn.InstanceNorm2d(3)(x), rtol=RTOL, atol=ATOL)

    def test_group_norm_other_ranks(self):
        torch.manual_seed(54)
        original = randomized(nn.GroupNorm(2, 8))
        replacement = varnorm_torch.convert(copy.deepcopy(original))
        for shape in [(4, 8), (3, 8, 10), (2, 8, 3, 4, 5)]:
            with self.subTest(shape=shape):
                x = torch.randn(shape)
                torch.testing.assert_close(replacement(x), original(x), rtol=RTOL, atol=ATOL)

    def test_single_value_errors_match_torch(self):
        # PyTorch raises ValueError for one spatial element (instance norm) and one value per channel over the
        # batch (group norm); the replacements raise the same, rather than returning the bias.
        for original, replacement, x in [
                (nn.InstanceNorm2d(3), varnorm_torch.InstanceNorm2d(3), torch.randn(2, 3, 1, 1)),
                (nn.GroupNorm(3, 3), varnorm_torch.GroupNorm(3, 3), torch.randn(1, 3, 1, 1))]:
            with self.subTest(module=type(original).__name__):
                with self.assertRaisesRegex(ValueError, "Expected more than 1"):
                    original(x)
                with self.assertRaisesRegex(ValueError, "expected more than 1"):
                    replacement(x)


class ConvertTest(unittest.TestCase):
    def test_parameters_are_the_same_objects(self):
        model = randomized(TinyNCSNpp())
        parameters = dict(model.named_parameters())
        state = {key: value.clone() for key, value in model.state_dict().items()}
        self.assertIs(varnorm_torch.convert(model), model)
        self.assertIs(type(model.norm1), varnorm_torch.GroupNorm)
        self.assertIs(type(model.norm2), varnorm_torch.GroupNorm)
        self.assertIs(type(model.norm_out), varnorm_torch.InstanceNorm2d)
        self.assertEqual(model.norm1.eps, 1e-6)
        self.assertEqual(model.norm1.num_groups, 8)
        for name, parameter in model.named_parameters():
            self.assertIs(parameter, parameters[name], name)
        self.assertEqual(list(model.state_dict()), list(state))
        for key, value in model.state_dict().items():
            self.assertTrue(torch.equal(value, state[key]), key)
        self.assertIs(varnorm_torch.convert(model).norm1, model.norm1)  # idempotent

    def test_affine_false_and_root_module(self):
        for original in (nn.GroupNorm(2, 8, affine=False), nn.InstanceNorm2d(8), nn.InstanceNorm2d(8, affine=True)):
            with self.subTest(module=repr(original)):
                original.eval()
                converted = varnorm_torch.convert(original)
                self.assertIsInstance(converted, type(original))
                self.assertIsNot(type(converted), type(original))
                self.assertEqual(repr(converted), repr(original))
                self.assertFalse(converted.training)
                self.assertIs(converted.weight, original.weight)
                self.assertIs(converted.bias, original.bias)
                x = torch.randn(2, 8, 5, 5)
                torch.testing.assert_close(converted(x), original(x), rtol=RTOL, atol=ATOL)

    def test_instance_norm_with_running_stats_is_left_alone(self):
        model = nn.Sequential(nn.InstanceNorm2d(4, track_running_stats=True), nn.InstanceNorm2d(4))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            varnorm_torch.convert(model)
        self.assertIs(type(model[0]), nn.InstanceNorm2d)
        self.assertIs(type(model[1]), varnorm_torch.InstanceNorm2d)
        self.assertEqual(len(caught), 1)
        self.assertIn("track_running_stats=True", str(caught[0].message))

    def test_subclasses_and_other_classes_of_the_name_are_left_alone(self):
        class GroupNorm(nn.Module):  # another class of that name, computing something else
            def __init__(self):
                super().__init__()
                self.weight = nn.Parameter(torch.ones(4))
                self.bias = nn.Parameter(torch.zeros(4))
                self.affine = True

        class ScaledGroupNorm(nn.GroupNorm):
            def forward(self, x):
                return 2 * super().forward(x)

        ScaledGroupNorm.__name__ = "GroupNorm"
        model = nn.Sequential(GroupNorm(), ScaledGroupNorm(2, 4), nn.GroupNorm(2, 4))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            varnorm_torch.convert(model)
        self.assertIs(type(model[0]), GroupNorm)
        self.assertIs(type(model[1]), ScaledGroupNorm)
        self.assertIs(type(model[2]), varnorm_torch.GroupNorm)
        self.assertEqual(len(caught), 2)
        for warning in caught:
            self.assertIn("torch.nn.modules.normalization.GroupNorm itself", str(warning.message))

    def test_hooks_and_sharing_carry_over(self):
        shared = nn.GroupNorm(2, 4)
        model = nn.Sequential(shared, nn.SiLU(), shared)
        calls = []
        shared.register_forward_hook(lambda module, inputs, output: calls.append(1))
        varnorm_torch.convert(model)
        self.assertIs(model[0], model[2])
        model(torch.randn(1, 4, 3, 3))
        self.assertEqual(calls, [1, 1])

    def test_replacements_table(self):
        self.assertEqual(set(varnorm_torch.REPLACEMENTS),
                         {"VarianceNorm2d", "ConditionalVarianceNorm2d", "GroupNorm", "InstanceNorm2d"})


class GilTest(unittest.TestCase):
    def test_group_norm_releases_the_gil(self):
        # As test_modules.GilTest: with a 100 s switch interval, the main thread sees fewer than all calls done
        # only if a call released the GIL.
        x = torch.randn(8, 64, 128, 128)
        weight, bias = torch.ones(64), torch.zeros(64)

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
        self.assertLess(calls_done_when_main_thread_resumes(
            lambda: torch.ops.varnorm.group_norm(x, 32, weight, bias)), 5)
        x_grad = x.clone().requires_grad_()
        y = varnorm_torch.group_norm(x_grad, 32, weight, bias)
        self.assertLess(calls_done_when_main_thread_resumes(
            lambda: torch.autograd.grad(y, x_grad, torch.ones_like(y), retain_graph=True)), 5)


if __name__ == "__main__":
    unittest.main()
