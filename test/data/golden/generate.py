#!/usr/bin/python3
"""Writes the VNGOLD02 reference vectors of test/data/golden: GroupNorm, InstanceNorm2d, LayerNorm and
VarianceNorm2d with groups (format and case list: README.md in this directory).

Regenerate from the repository root with Debian's PyTorch (python3-torch, 1.13) and NumPy:

    /usr/bin/python3 test/data/golden/generate.py          # (re)writes every VNGOLD02 case
    /usr/bin/python3 test/data/golden/generate.py --check  # writes nothing; exit 1 if a file differs

The output is deterministic: inputs come from NumPy's PCG64 generator with a fixed seed per case, PyTorch runs
on one thread, and running the script twice gives identical bytes (--check verifies it against the committed
files). The VNGOLD01 files (VarianceNorm2d without groups) came from outside the repository; this script never
writes them and refuses to overwrite a file whose magic is VNGOLD01.

Reference, per case:
  * x, alpha, beta and the upstream gradient dy are drawn in float32, then converted to float64;
  * forward in float64: torch.nn.functional.group_norm (mean and rstd from torch.native_group_norm) when the
    mean is subtracted with population variance (center 1, correction 0: GroupNorm, InstanceNorm2d,
    LayerNorm); otherwise the explicit formula below (center 0 with groups, or correction 1). The explicit
    formula is evaluated for every case and must agree with the torch path to 1e-10 (normalized), and the
    InstanceNorm / LayerNorm / VarianceNorm2d cases are also checked against F.instance_norm, F.layer_norm
    and torch.var;
  * backward: torch.autograd in float64 through that forward for dy (dx, dalpha, dbeta);
  * everything is rounded to float32 when written.

For sample n and group g (G groups of C/G consecutive channels; groups 0 means G = C) over M = (C/G)*H*W:
    mean = sum(x) / M;  var = sum((x - mean)^2) / (M - correction);  rstd = 1 / sqrt(var + eps)
    y = alpha[c] * x * rstd (+ beta[c])            center 0 (VarianceNorm2d)
    y = alpha[c] * (x - mean) * rstd (+ beta[c])   center 1 (GroupNorm, InstanceNorm2d, LayerNorm)
"""

import argparse
import hashlib
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
MAGIC = b"VNGOLD02"
NCHW, NHWC = 0, 1


class Case:
    def __init__(self, name, n, c, h, w, layout, groups, center, correction, seed, has_beta=True,
                 per_sample_affine=False, affine=True, eps=1e-5, offset=0.0, std=1.0, constant_groups=()):
        self.name, self.n, self.c, self.h, self.w = name, n, c, h, w
        self.layout, self.groups, self.center, self.correction = layout, groups, center, correction
        self.seed, self.has_beta, self.per_sample_affine = seed, has_beta, per_sample_affine
        self.affine = affine  # False: alpha all ones (InstanceNorm2d without affine); then has_beta is False
        self.eps, self.offset, self.std = eps, offset, std
        self.constant_groups = constant_groups  # (n, g, value): that group of x is the constant value
        assert affine or not (has_beta or per_sample_affine)

    @property
    def g(self):
        return self.groups if self.groups > 0 else self.c


# Cases that share a seed and shape hold the same data in the two layouts.
CASES = [
    # GroupNorm(G, C): G = 32, C/4, 2 and 1 (LayerNorm), both layouts.
    Case("groupnorm_c64_g32_nchw", 2, 64, 8, 8, NCHW, 32, 1, 0, seed=101),
    Case("groupnorm_c64_g32_nhwc", 2, 64, 8, 8, NHWC, 32, 1, 0, seed=101),
    Case("groupnorm_c64_g16_nchw", 2, 64, 9, 10, NCHW, 16, 1, 0, seed=102),
    Case("groupnorm_c128_g32_nhwc", 1, 128, 6, 7, NHWC, 32, 1, 0, seed=103),
    Case("groupnorm_c32_g2_nchw", 2, 32, 8, 9, NCHW, 2, 1, 0, seed=104, has_beta=False),
    Case("groupnorm_c32_g2_nhwc", 3, 32, 10, 10, NHWC, 2, 1, 0, seed=105),
    Case("layernorm_nchw", 2, 16, 16, 16, NCHW, 1, 1, 0, seed=106),
    Case("layernorm_nhwc", 2, 24, 11, 13, NHWC, 1, 1, 0, seed=107),
    # InstanceNorm2d(C, affine=True / False): groups 0 (the default) and groups = C.
    Case("instancenorm_affine_nchw", 2, 12, 16, 16, NCHW, 0, 1, 0, seed=108),
    Case("instancenorm_affine_nhwc", 3, 20, 9, 9, NHWC, 0, 1, 0, seed=109),
    Case("instancenorm_noaffine_nchw", 2, 10, 12, 12, NCHW, 0, 1, 0, seed=110, has_beta=False, affine=False),
    Case("instancenorm_noaffine_groups_c_nhwc", 3, 20, 9, 9, NHWC, 20, 1, 0, seed=111, has_beta=False,
         affine=False),
    # Odd sizes: C = 12 in G = 3 groups, 1x257 planes.
    Case("groupnorm_odd_c12_g3_nchw", 2, 12, 1, 257, NCHW, 3, 1, 0, seed=112),
    Case("groupnorm_odd_c12_g3_nhwc", 2, 12, 1, 257, NHWC, 3, 1, 0, seed=112),
    # Groups of two values (M = 2). eps is large so that dx is well conditioned: with the mean subtracted and
    # eps small, the two normalized values are about +-1 and dx = rstd*alpha*(dy - mean(dy) - xhat*mean(dy*xhat))
    # cancels to about eps/var of its terms, below float32 resolution.
    Case("groupnorm_two_value_groups_eps_large_nhwc", 4, 6, 1, 1, NHWC, 3, 1, 0, seed=114, eps=0.5),
    # Large common offset: x = 1000 + N(0, 1), |mean|/std about 1e3.
    Case("groupnorm_large_offset_nchw", 2, 32, 12, 12, NCHW, 8, 1, 0, seed=115, offset=1000.0),
    Case("groupnorm_large_offset_nhwc", 1, 48, 10, 10, NHWC, 6, 1, 0, seed=116, offset=1000.0),
    # Constant groups (variance exactly 0, rstd = 1/sqrt(eps)) among random ones.
    Case("groupnorm_constant_group_nchw", 2, 16, 8, 8, NCHW, 4, 1, 0, seed=117,
         constant_groups=((0, 1, 2.5), (1, 3, -0.75))),
    Case("groupnorm_constant_group_nhwc", 2, 16, 8, 8, NHWC, 4, 1, 0, seed=117,
         constant_groups=((0, 1, 2.5), (1, 3, -0.75))),
    # Per-sample (class-conditional) alpha and beta, n*C values, with the mean subtracted.
    Case("groupnorm_per_sample_affine_nhwc", 3, 24, 8, 8, NHWC, 6, 1, 0, seed=118, per_sample_affine=True),
    Case("instancenorm_per_sample_affine_nchw", 2, 16, 7, 9, NCHW, 0, 1, 0, seed=119, per_sample_affine=True),
    # VarianceNorm2d with groups (center 0): unbiased (correction 1) and population variance.
    Case("varnorm_groups_unbiased_nchw", 2, 16, 9, 9, NCHW, 4, 0, 1, seed=120, has_beta=False),
    Case("varnorm_groups_unbiased_nhwc", 2, 24, 6, 10, NHWC, 3, 0, 1, seed=121),
    Case("varnorm_groups_population_nhwc", 2, 32, 6, 6, NHWC, 8, 0, 0, seed=122),
    # The mean subtracted with the unbiased variance (no torch module; explicit formula).
    Case("groupnorm_unbiased_nhwc", 2, 8, 5, 7, NHWC, 2, 1, 1, seed=123),
]


def draw_inputs(case):
    """float32 arrays x (N,C,H,W), alpha, beta (C or N*C, or None), dy (N,C,H,W)."""
    rng = np.random.Generator(np.random.PCG64(case.seed))
    shape = (case.n, case.c, case.h, case.w)
    x = (case.offset + case.std * rng.standard_normal(shape)).astype(np.float32)
    cg = case.c // case.g
    for n, g, value in case.constant_groups:
        x[n, g * cg:(g + 1) * cg] = np.float32(value)
    affine_shape = (case.n, case.c) if case.per_sample_affine else (case.c,)
    if case.affine:
        alpha = (1.0 + 0.5 * rng.standard_normal(affine_shape)).astype(np.float32)
    else:
        alpha = np.ones(affine_shape, dtype=np.float32)
    beta = (0.5 * rng.standard_normal(affine_shape)).astype(np.float32) if case.has_beta else None
    dy = rng.standard_normal(shape).astype(np.float32)
    return x, alpha, beta, dy


def explicit_forward(case, x, alpha, beta):
    n, c, h, w = x.shape
    xg = x.reshape(n, case.g, -1)
    m = xg.shape[-1]
    mean = xg.sum(-1, keepdim=True) / m
    var = ((xg - mean) ** 2).sum(-1, keepdim=True) / (m - case.correction)
    rstd = 1.0 / torch.sqrt(var + case.eps)
    xhat = ((xg - mean) if case.center else xg) * rstd
    y = xhat.reshape(n, c, h, w) * affine_view(case, alpha)
    if beta is not None:
        y = y + affine_view(case, beta)
    return y, mean.reshape(n, case.g), rstd.reshape(n, case.g)


def torch_forward(case, x, alpha, beta):
    n, c, h, w = x.shape
    if case.per_sample_affine:
        y = F.group_norm(x, case.g, None, None, case.eps) * affine_view(case, alpha)
        if beta is not None:
            y = y + affine_view(case, beta)
    else:
        y = F.group_norm(x, case.g, alpha, beta, case.eps)
    _, mean, rstd = torch.native_group_norm(x.detach(), None, None, n, c, h * w, case.g, case.eps)
    return y, mean, rstd


def affine_view(case, a):
    return a.reshape(case.n, case.c, 1, 1) if case.per_sample_affine else a.reshape(1, case.c, 1, 1)


def run(case, forward, inputs):
    """Forward and autograd backward in float64: y, mean, rstd, dx, dalpha, dbeta (dbeta None without beta)."""
    x, alpha, beta, dy = (None if a is None else torch.from_numpy(a).double() for a in inputs)
    x.requires_grad_(True)
    alpha.requires_grad_(True)
    if beta is not None:
        beta.requires_grad_(True)
    y, mean, rstd = forward(case, x, alpha, beta)
    y.backward(dy)
    dbeta = beta.grad if beta is not None else None
    return [y.detach(), mean.detach(), rstd.detach(), x.grad, alpha.grad, dbeta]


def normalized_error(a, ref):
    scale = ref.abs().max().item()
    diff = (a - ref).abs().max().item()
    return diff / scale if scale > 0 else diff


def reference(case):
    inputs = draw_inputs(case)
    explicit = run(case, explicit_forward, inputs)
    result = explicit
    if case.center == 1 and case.correction == 0:
        result = run(case, torch_forward, inputs)
        for name, a, b in zip(("y", "mean", "rstd", "dx", "dalpha", "dbeta"), result, explicit):
            if a is not None:
                err = normalized_error(a, b)
                assert err <= 1e-10, f"{case.name}: torch and explicit {name} differ by {err:.3g}"
    check_against_modules(case, inputs, result)
    return inputs, result


def check_against_modules(case, inputs, result):
    """The normalized values (alpha 1, no beta) against torch's own InstanceNorm / LayerNorm / torch.var."""
    x = torch.from_numpy(inputs[0]).double()
    n, c, h, w = x.shape
    _, mean, rstd = result[:3]
    xg = x.reshape(n, case.g, -1)
    if case.center:
        xhat = ((xg - mean.unsqueeze(-1)) * rstd.unsqueeze(-1)).reshape(x.shape)
    else:
        xhat = (xg * rstd.unsqueeze(-1)).reshape(x.shape)
    if case.center and case.correction == 0 and case.g == c and h * w > 1:  # F.instance_norm rejects 1x1
        assert normalized_error(xhat, F.instance_norm(x, eps=case.eps)) <= 1e-10, case.name
    if case.center and case.correction == 0 and case.g == 1:
        assert normalized_error(xhat, F.layer_norm(x, (c, h, w), eps=case.eps)) <= 1e-10, case.name
    var = torch.var(xg, dim=-1, unbiased=bool(case.correction))
    assert normalized_error(rstd, 1.0 / torch.sqrt(var + case.eps)) <= 1e-10, case.name
    cg = c // case.g
    for s, g, _ in case.constant_groups:
        assert torch.all(x[s, g * cg:(g + 1) * cg] == x[s, g * cg, 0, 0]), case.name
        assert var[s, g].item() == 0.0, f"{case.name}: constant group ({s}, {g}) has variance {var[s, g].item()}"


def encode(case):
    (x, alpha, beta, dy), (y, mean, rstd, dx, dalpha, dbeta) = reference(case)

    def tensor4(t):  # an (N,C,H,W) array in the case's layout
        t = torch.as_tensor(t).double()
        return t.permute(0, 2, 3, 1) if case.layout == NHWC else t

    def f32(t):
        return np.ascontiguousarray(torch.as_tensor(t).double().to(torch.float32).numpy(), dtype="<f4").tobytes()

    out = [MAGIC,
           struct.pack("<10q", case.n, case.c, case.h, case.w, case.layout, case.correction,
                       int(case.per_sample_affine), int(case.has_beta), case.groups, case.center),
           struct.pack("<d", case.eps)]
    out += [f32(tensor4(x)), f32(alpha)]
    if case.has_beta:
        out.append(f32(beta))
    out += [f32(tensor4(dy)), f32(tensor4(y)), f32(mean), f32(rstd), f32(tensor4(dx)), f32(dalpha)]
    if case.has_beta:
        out.append(f32(dbeta))
    data = b"".join(out)
    stats = case.n * case.g
    affine = case.n * case.c if case.per_sample_affine else case.c
    total = case.n * case.c * case.h * case.w
    assert len(data) == 8 + 80 + 8 + 4 * (4 * total + 2 * stats + (4 if case.has_beta else 2) * affine)
    return data


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the files on disk, write nothing")
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = [case.name for case in CASES]
    assert len(set(names)) == len(names)
    differ = 0
    for case in CASES:
        path = os.path.join(HERE, case.name + ".vng")
        data = encode(case)
        old = open(path, "rb").read() if os.path.exists(path) else None
        if old is not None and old[:8] != MAGIC:
            sys.exit(f"{path} is not a {MAGIC.decode()} file; not touching it")
        status = "same" if old == data else ("missing" if old is None else "differs")
        if args.check:
            differ += old != data
        elif old != data:
            with open(path, "wb") as f:
                f.write(data)
            status = "written"
        print(f"{case.name:40s} {len(data):8d} bytes  sha256 {hashlib.sha256(data).hexdigest()[:16]}  {status}")
    if args.check and differ:
        sys.exit(f"{differ} file(s) differ from what this script generates")


if __name__ == "__main__":
    main()
