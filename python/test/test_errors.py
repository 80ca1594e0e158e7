"""Every bad input raises the documented exception, never a crash or a silent wrong result:
TypeError   the input or alpha is not a dense float32 CPU tensor (float64, float16, bfloat16, integer, another
            device: CUDA when present, 'meta' always, standing in for any non-CPU device; sparse)
ValueError  not 4-D, channel count not matching the module, alpha of the wrong shape, labels not matching the
            batch, eps negative or not finite, correction not 0 or 1
RuntimeError a status from the library, with varnorm_status_string's text (planes of one value: the unbiased
            variance is undefined); a double backward; forward-mode AD (NotImplementedError, a RuntimeError)
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


if __name__ == "__main__":
    unittest.main()
