"""Every bad input raises the documented exception, never a crash or a silent wrong result:
TypeError   the input or alpha is not a dense float32 CPU tensor (float64, float16, bfloat16, integer, another
            device: CUDA when present, 'meta' always, standing in for any non-CPU device; sparse)
ValueError  not 4-D, channel count not matching the module, alpha of the wrong shape, labels not matching the
            batch, eps negative or not finite, correction not 0 or 1
RuntimeError a status from the library, with varnorm_status_string's text (planes of one value: the unbiased
            variance is undefined); a double backward; forward-mode AD (NotImplementedError, a RuntimeError)
GroupNorm / InstanceNorm2d / group_norm (GroupErrorTest): the same classes, and ValueError also for num_groups
not dividing C (or not positive), weight or bias of the wrong shape, one value per group (as PyTorch), an
InstanceNorm2d input not 3-D or 4-D and track_running_stats=True; RuntimeError for empty planes (library status).
"""
import unittest

import torch

import varnorm_torch


class ErrorTest(unittest.TestCase):
    def setUp(self):
        self.norm = varnorm_torch.VarianceNorm2d(3)
        self.conditional = varnorm_torch.ConditionalVarianceNorm2d(3, num_classes=5)
        self.x = torch.randn(2, 3, 4, 4)

    def test_dtypes_raise_type_error(self):
        for dtype in (torch.float64, torch.float16, torch.bfloat16, torch.int32, torch.int64, torch.complex64):
            with self.subTest(dtype=dtype):
                with self.assertRaisesRegex(TypeError, f"input has dtype {dtype}; varnorm supports torch.float32"):
                    self.norm(self.x.to(dtype))
                with self.assertRaisesRegex(TypeError, f"alpha has dtype {dtype}"):
                    varnorm_torch.variance_norm(self.x, torch.ones(3, dtype=dtype))

    def test_module_converted_to_float64_raises_type_error(self):
        with self.assertRaisesRegex(TypeError, "input has dtype torch.float64"):
            self.norm.double()(self.x.double())

    def test_other_devices_raise_type_error(self):
        devices = ["meta"] + (["cuda"] if torch.cuda.is_available() else [])
        for device in devices:
            with self.subTest(device=device):
                with self.assertRaisesRegex(TypeError, f"input is on device '{device}.*CPU only"):
                    self.norm(self.x.to(device))
                with self.assertRaisesRegex(TypeError, f"alpha is on device '{device}"):
                    varnorm_torch.variance_norm(self.x, torch.ones(3, device=device))
                # Under inference mode the Autograd kernel is skipped; the check must still run.
                with torch.inference_mode(), self.assertRaisesRegex(TypeError, "CPU only"):
                    varnorm_torch.variance_norm(self.x.to(device), torch.ones(3, device=device))

    @unittest.skipIf(torch.cuda.is_available(), "CUDA present: tested with real CUDA tensors above")
    def test_cuda_tensors_cannot_exist_in_this_build(self):
        # Debian's PyTorch is CPU-only: CUDA tensors cannot be made, so 'meta' stands in for other devices above.
        with self.assertRaises((RuntimeError, AssertionError)):
            torch.empty(1, device="cuda")

    def test_sparse_raises_type_error(self):
        with self.assertRaisesRegex(TypeError, "layout|dense"):
            self.norm(self.x.to_sparse())

    def test_ranks_raise_value_error(self):
        for shape in [(3, 4, 4), (2, 3, 4, 4, 1), (2, 3), ()]:
            with self.subTest(shape=shape):
                with self.assertRaisesRegex(ValueError, "input must be 4-D"):
                    self.norm(torch.randn(shape))

    def test_channel_count_raises_value_error(self):
        with self.assertRaisesRegex(ValueError, "the input has 4 channels .* alpha has 3 values.*num_features = 3"):
            self.norm(torch.randn(2, 4, 4, 4))
        with self.assertRaisesRegex(ValueError, "the input has 2 channels .* per-sample alpha has 3 values"):
            self.conditional(torch.randn(2, 2, 4, 4), torch.tensor([0, 1]))

    def test_labels_not_matching_the_batch_raise_value_error(self):
        with self.assertRaisesRegex(ValueError, "2 samples .* 3 rows"):
            self.conditional(self.x, torch.tensor([0, 1, 2]))

    def test_alpha_shapes_raise_value_error(self):
        for shape in [(2, 3, 1), (1, 3), (6,)]:
            with self.subTest(shape=shape):
                with self.assertRaises(ValueError):
                    varnorm_torch.variance_norm(self.x, torch.ones(shape))

    def test_eps_and_correction_raise_value_error(self):
        for eps in (-1e-5, float("nan"), float("inf"), 1e300):
            with self.subTest(eps=eps), self.assertRaisesRegex(ValueError, "eps must be finite"):
                varnorm_torch.variance_norm(self.x, torch.ones(3), eps)
        for correction in (-1, 2):
            with self.subTest(correction=correction), self.assertRaisesRegex(ValueError, "correction must be 0"):
                varnorm_torch.variance_norm(self.x, torch.ones(3), 1e-5, correction)

    def test_library_status_raises_runtime_error_with_its_text(self):
        for shape in [(2, 3, 1, 1), (2, 3, 0, 4)]:
            with self.subTest(shape=shape):
                with self.assertRaisesRegex(RuntimeError, r"varnorm_forward failed: too few elements per plane"):
                    self.norm(torch.randn(shape))

    def test_backward_operator_checks_its_arguments(self):
        _, mean, rstd = torch.ops.varnorm.variance_norm_forward(self.x, torch.ones(3))
        with self.assertRaisesRegex(ValueError, "grad_output has shape"):
            torch.ops.varnorm.variance_norm_backward(torch.ones(2, 3, 4, 5), self.x, torch.ones(3), mean, rstd,
                                                     1e-5, 1, [True, True])
        with self.assertRaisesRegex(ValueError, "mean and rstd must have N\\*C = 6 values"):
            torch.ops.varnorm.variance_norm_backward(self.x, self.x, torch.ones(3), mean[:1], rstd, 1e-5, 1,
                                                     [True, True])
        with self.assertRaisesRegex(TypeError, "grad_output has dtype torch.float64"):
            torch.ops.varnorm.variance_norm_backward(self.x.double(), self.x, torch.ones(3), mean, rstd,
                                                     1e-5, 1, [True, True])

    def test_forward_mode_ad_raises_not_implemented_error(self):
        import torch.autograd.forward_ad as forward_ad
        for dual_argument in ("input", "alpha"):
            with self.subTest(dual=dual_argument), forward_ad.dual_level():
                x = self.x
                alpha = torch.ones(3)
                if dual_argument == "input":
                    x = forward_ad.make_dual(x, torch.randn_like(x))
                else:
                    alpha = forward_ad.make_dual(alpha, torch.randn_like(alpha))
                with self.assertRaisesRegex(NotImplementedError, "forward-mode AD"):
                    varnorm_torch.variance_norm(x, alpha)

    def test_double_backward_raises_runtime_error(self):
        x = self.x.clone().requires_grad_()
        (dx,) = torch.autograd.grad(self.norm(x).pow(2).sum(), x, create_graph=True)
        with self.assertRaisesRegex(RuntimeError, "derivative for varnorm::variance_norm_backward is not implemented"):
            dx.sum().backward()



class GroupErrorTest(unittest.TestCase):
    def setUp(self):
        self.norm = varnorm_torch.GroupNorm(2, 4)
        self.instance = varnorm_torch.InstanceNorm2d(4, affine=True)
        self.x = torch.randn(2, 4, 4, 4)

    def test_dtypes_raise_type_error(self):
        for dtype in (torch.float64, torch.float16, torch.bfloat16, torch.int32, torch.complex64):
            with self.subTest(dtype=dtype):
                for module in (self.norm, self.instance, varnorm_torch.InstanceNorm2d(4)):
                    with self.assertRaisesRegex(TypeError, f"varnorm::group_norm: input has dtype {dtype}; varnorm "
                                                           "supports torch.float32"):
                        module(self.x.to(dtype))
                with self.assertRaisesRegex(TypeError, f"weight has dtype {dtype}"):
                    varnorm_torch.group_norm(self.x, 2, torch.ones(4, dtype=dtype))
                with self.assertRaisesRegex(TypeError, f"bias has dtype {dtype}"):
                    varnorm_torch.group_norm(self.x, 2, None, torch.ones(4, dtype=dtype))

    def test_other_devices_and_sparse_raise_type_error(self):
        devices = ["meta"] + (["cuda"] if torch.cuda.is_available() else [])
        for device in devices:
            with self.subTest(device=device):
                with self.assertRaisesRegex(TypeError, f"input is on device '{device}.*CPU only"):
                    varnorm_torch.group_norm(self.x.to(device), 2)
                with self.assertRaisesRegex(TypeError, f"weight is on device '{device}"):
                    varnorm_torch.group_norm(self.x, 2, torch.ones(4, device=device))
                with torch.inference_mode(), self.assertRaisesRegex(TypeError, "CPU only"):
                    varnorm_torch.group_norm(self.x.to(device), 2)
        with self.assertRaisesRegex(TypeError, "layout|dense"):
            torch.ops.varnorm.group_norm(self.x.to_sparse(), 2)

    def test_ranks_raise_value_error(self):
        for shape in [(4,), ()]:
            with self.subTest(shape=shape), self.assertRaisesRegex(ValueError, "at least 2 dimensions"):
                self.norm(torch.randn(shape))
        for shape in [(2, 4, 4, 4, 1), (2, 4), (4,)]:
            with self.subTest(shape=shape), self.assertRaisesRegex(ValueError, "expected 3D or 4D input"):
                self.instance(torch.randn(shape))
        with self.assertRaisesRegex(ValueError, "input must be 4-D"):
            torch.ops.varnorm.group_norm(torch.randn(2, 4, 4), 2)

    def test_channel_count_and_affine_shapes_raise_value_error(self):
        with self.assertRaisesRegex(ValueError, "the input has 6 channels .* weight has shape \\[4\\]: the module "
                                                "was built for 4 channels"):
            self.norm(torch.randn(2, 6, 4, 4))
        with self.assertRaisesRegex(ValueError, "the input has 6 channels"):
            self.instance(torch.randn(2, 6, 4, 4))
        for weight, bias in [(torch.ones(2, 4), None), (None, torch.ones(3)), (torch.ones(4), torch.ones(1, 4))]:
            with self.subTest(weight=weight, bias=bias), self.assertRaises(ValueError):
                varnorm_torch.group_norm(self.x, 2, weight, bias)

    def test_num_groups_raise_value_error(self):
        with self.assertRaisesRegex(ValueError, "num_groups = 3 must divide the number of channels, but the input "
                                                "has 4 channels"):
            varnorm_torch.group_norm(self.x, 3)
        for groups in (0, -2):
            with self.subTest(groups=groups), self.assertRaisesRegex(ValueError, "num_groups must be a positive"):
                torch.ops.varnorm.group_norm(self.x, groups)
        module = varnorm_torch.GroupNorm(2, 4, affine=False)
        with self.assertRaisesRegex(ValueError, "num_groups = 2 must divide"):
            module(torch.randn(2, 3, 4, 4))  # affine=False: the channel count is only checked against the groups

    def test_eps_raises_value_error(self):
        for eps in (-1e-5, float("nan"), float("inf"), 1e300):
            with self.subTest(eps=eps), self.assertRaisesRegex(ValueError, "eps must be finite"):
                varnorm_torch.group_norm(self.x, 2, eps=eps)

    def test_single_values_raise_value_error_as_torch(self):
        with self.assertRaisesRegex(ValueError, "expected more than 1 value per channel"):
            varnorm_torch.GroupNorm(4, 4)(torch.randn(1, 4, 1, 1))
        with self.assertRaisesRegex(ValueError, "expected more than 1 spatial element"):
            self.instance(torch.randn(2, 4, 1, 1))
        # PyTorch accepts these (a group of one value per sample, but several values per channel over the batch)
        # and so does varnorm: y = bias exactly (PyTorch's float32 kernel is off by up to 1.6e-5 here).
        x = torch.randn(3, 4, 1, 1)
        bias = torch.arange(4.0)
        self.assertTrue(torch.equal(varnorm_torch.group_norm(x, 4, None, bias), bias.view(1, 4, 1, 1).expand(3, 4, 1, 1)))
        torch.nn.functional.group_norm(x, 4, None, bias)

    def test_track_running_stats_raises_value_error(self):
        with self.assertRaisesRegex(ValueError, "track_running_stats=True is not supported"):
            varnorm_torch.InstanceNorm2d(4, track_running_stats=True)

    def test_library_status_raises_runtime_error_with_its_text(self):
        with self.assertRaisesRegex(RuntimeError, "varnorm::group_norm: varnorm_forward failed: too few elements"):
            self.norm(torch.randn(2, 4, 0, 4))

    def test_backward_operator_checks_its_arguments(self):
        _, mean, rstd = torch.ops.varnorm.group_norm_forward(self.x, 2)
        with self.assertRaisesRegex(ValueError, "grad_output has shape"):
            torch.ops.varnorm.group_norm_backward(torch.ones(2, 4, 4, 5), self.x, 2, None, mean, rstd, 1e-5,
                                                  [True, True, True])
        with self.assertRaisesRegex(ValueError, "mean and rstd must have N\\*num_groups = 4 values"):
            torch.ops.varnorm.group_norm_backward(self.x, self.x, 2, None, mean[:1], rstd, 1e-5, [True, True, True])
        with self.assertRaisesRegex(TypeError, "grad_output has dtype torch.float64"):
            torch.ops.varnorm.group_norm_backward(self.x.double(), self.x, 2, None, mean, rstd, 1e-5,
                                                  [True, True, True])

    def test_forward_mode_ad_raises_not_implemented_error(self):
        import torch.autograd.forward_ad as forward_ad
        for dual_argument in ("input", "weight", "bias"):
            with self.subTest(dual=dual_argument), forward_ad.dual_level():
                tensors = {"input": self.x, "weight": torch.ones(4), "bias": torch.zeros(4)}
                tensors[dual_argument] = forward_ad.make_dual(tensors[dual_argument],
                                                              torch.randn_like(tensors[dual_argument]))
                with self.assertRaisesRegex(NotImplementedError, "forward-mode AD"):
                    varnorm_torch.group_norm(tensors["input"], 2, tensors["weight"], tensors["bias"])

    def test_double_backward_raises_runtime_error(self):
        x = self.x.clone().requires_grad_()
        (dx,) = torch.autograd.grad((self.norm(x) * torch.randn(x.shape)).sum(), x, create_graph=True)
        with self.assertRaisesRegex(RuntimeError, "derivative for varnorm::group_norm_backward is not implemented"):
            dx.sum().backward()


if __name__ == "__main__":
    unittest.main()
