#!/usr/bin/python3
"""Times the original ESPnet / score_sde VarianceNorm2d (PyTorch ops) against varnorm_torch.VarianceNorm2d on
NCSN++ shapes, in one process on one thread (torch.set_num_threads(1)), and prints a markdown table.

    PYTHONPATH=build/torch/python /usr/bin/python3 bench/torch_bench.py [--quick] [--max-elements N]
    PYTHONPATH=build/torch/python /usr/bin/python3 bench/torch_bench.py --group-norm [--quick]
    PYTHONPATH=build/torch/python /usr/bin/python3 bench/torch_bench.py --gn32 [--quick]

forward: a training forward (x and alpha require grad, so the graph and the saved statistics are made);
forward+backward: that forward, then torch.autograd.grad for x and alpha. Each time is the fastest of repeated
calls (at least --repeats, and at least --min-time seconds of calls), after one warm-up call: on a shared machine
the minimum is the estimate least disturbed by other processes (bench/README.md: medians moved by up to 13x
between runs). Both modules get the same tensors, in NCHW or channels_last (NHWC) memory. Beside each shape, the
fwd+bwd roofline (x.clone() plus x + dy, the least traffic of a forward and a backward, moved by PyTorch's own
operators) and the ceiling: the original's fwd+bwd time over the larger of that roofline and autograd's per-call
floor (printed above the table), the most any implementation speeds the layer up by on this machine.

--group-norm: PyTorch's own normalization with the same traffic as the layer instead of the original formula:
torch.nn.functional.group_norm(x, num_groups=C, weight=alpha, eps=1e-5) (one statistic per (n, c) plane, a
scale per channel, no bias) against the operator varnorm_torch.variance_norm(x, alpha), on the shapes of the
benchmark suite (bench/varnorm_bench.cpp), same tensors, same statistic; the two are measured in alternating
rounds. Comparable work, not the same function: group_norm subtracts the mean and divides by the biased
variance. It also prints each side's cost of a call on one 8x8 plane, which is almost all per-call overhead
(Python, the dispatcher, autograd).

--gn32: the modules of NCSN++ itself, torch.nn.GroupNorm(32, C) against varnorm_torch.GroupNorm(32, C) (same
weight and bias, eps 1e-5, same tensors), on N in {1, 8}, C in {128, 256}, planes 256x256 down to 4x4, NCHW and
channels_last, measured in alternating rounds as --group-norm. fwd+bwd takes the gradients of x, weight and bias.
Beside each shape, the two-sweep floor: x.sum() plus a copy of x, the least a forward costs that reads x twice
and cannot keep it in cache between the sweeps.
"""
import argparse
import datetime
import os
import platform
import sys
import time

import torch

try:
    import varnorm_torch
except ImportError:  # run from a checkout without PYTHONPATH: use the torch stage's build
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "torch", "python"))
    import varnorm_torch
from varnorm_torch import reference

BATCHES = (1, 8)
CHANNELS = (64, 128, 256)
PLANES = (256, 128, 64, 32, 16, 8)
# Shapes above this many values are skipped: the original's fwd+bwd at 8x256x256x256 (537 MB per tensor) would
# take most of a 5-minute budget alone and several GiB of temporaries.
DEFAULT_MAX_ELEMENTS = 1 << 24
QUICK_SHAPES = [(1, 64, 64, 64), (8, 128, 16, 16)]
# --group-norm: the shapes of bench/varnorm_bench.cpp (kShapes), in its order; keep the two lists the same.
SUITE_SHAPES = [(1, 16, 64, 64), (8, 64, 64, 64), (16, 64, 128, 128), (1, 2, 257, 256), (4, 2, 257, 256),
                (1, 2, 512, 512), (1, 128, 64, 64), (8, 256, 16, 16), (1, 4, 1024, 1024),
                (1, 128, 256, 256), (8, 128, 32, 32), (8, 32, 128, 128), (1, 256, 8, 8), (1, 256, 4, 4),
                (1, 256, 4, 6)]
QUICK_SUITE_SHAPES = [(1, 16, 64, 64), (1, 256, 8, 8)]
FWD_BWD_TARGET = 20  # original fwd+bwd time / varnorm fwd+bwd time the extension aims at on every shape
GROUP_NORM_TARGET = 1.5  # group_norm time / varnorm time the library aims at on every shape and layout
# --gn32: GroupNorm(32, C) modules on NCSN++ shapes.
GN32_GROUPS = 32
GN32_BATCHES = (1, 8)
GN32_CHANNELS = (128, 256)
GN32_PLANES = (256, 128, 64, 32, 16, 8, 4)
QUICK_GN32_SHAPES = [(1, 128, 64, 64), (8, 256, 8, 8)]


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def fastest_seconds(call, repeats: int, min_time: float) -> float:
    call()  # warm-up: allocator, first-touch pages, the library's kernel selection
    times = []
    started = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - started < min_time:
        begin = time.perf_counter()
        call()
        times.append(time.perf_counter() - begin)
    return min(times)


def time_module(module, x, dy, repeats, min_time):
    alpha = next(module.parameters())

    def forward():
        return module(x)

    def forward_backward():
        y = module(x)
        torch.autograd.grad(y, (x, alpha), dy)

    return fastest_seconds(forward, repeats, min_time), fastest_seconds(forward_backward, repeats, min_time)


def fastest_alternated(calls, repeats: int, min_time: float, rounds: int = 3):
    """The fastest call of each function, measured in `rounds` alternating rounds (each of at least repeats calls
    and min_time / rounds seconds), so that a disturbance of the machine falls on both sides alike."""
    best = [float("inf")] * len(calls)
    for _ in range(rounds):
        for i, call in enumerate(calls):
            best[i] = min(best[i], fastest_seconds(call, repeats, min_time / rounds))
    return best


def group_norm_calls(x, alpha, dy):
    """(forward, forward+backward) of torch's group_norm with G = C and of varnorm's operator, on the same tensors."""
    channels = x.shape[1]
    functions = (lambda: torch.nn.functional.group_norm(x, channels, alpha, None, 1e-5),
                 lambda: varnorm_torch.variance_norm(x, alpha))

    def with_backward(function):
        def call():
            torch.autograd.grad(function(), (x, alpha), dy)
        return call

    return [functions[0], functions[1]], [with_backward(functions[0]), with_backward(functions[1])]


def two_sweep_floor(x, repeats: int, min_time: float) -> float:
    """A forward that needs a group's statistics before its output, where the group spans the whole tensor
    (channels_last with N = 1): one read of x (x.sum()) plus one copy of x into an output, back to back as the
    two sweeps run."""
    y = torch.empty_like(x)
    with torch.no_grad():
        def sweeps():
            x.sum()
            y.copy_(x)
        return fastest_seconds(sweeps, repeats, min_time)


def fwd_bwd_roofline(x, dy, repeats: int, min_time: float) -> float:
    """The least a forward+backward pair of any layer costs through PyTorch on these tensors, statistics and
    autograd left out: its compulsory traffic as PyTorch's own memory-bound operators move it, the forward's as a
    copy of x into a new tensor (x.clone()), the backward's as x + dy into a new tensor."""
    with torch.no_grad():
        def sweeps():
            x.clone()
            torch.add(x, dy)
        return fastest_seconds(sweeps, repeats, min_time)


def autograd_call_floor(repeats: int, min_time: float) -> float:
    """The least a forward+backward through autograd costs a layer whose output is a new tensor: x.clone() of a
    one-value tensor and torch.autograd.grad of it (the cheapest such operator, with a backward that only passes
    the gradient on)."""
    x = torch.zeros(1, requires_grad=True)
    dy = torch.ones(1)
    return fastest_seconds(lambda: torch.autograd.grad(x.clone(), (x,), dy), max(repeats, 200), min_time)


def fmt_seconds(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.3f} ms"


def parse_shapes(text: str):
    """"1x16x64x64,8x64x64x64" -> [(1, 16, 64, 64), (8, 64, 64, 64)]."""
    shapes = []
    for item in text.split(","):
        dims = tuple(int(v) for v in item.strip().split("x"))
        if len(dims) != 4 or min(dims) < 1:
            raise SystemExit(f"torch_bench.py: --shapes: {item!r} is not NxCxHxW")
        shapes.append(dims)
    return shapes


def group_norm_main(args) -> None:
    shapes = parse_shapes(args.shapes) if args.shapes else QUICK_SUITE_SHAPES if args.quick else SUITE_SHAPES
    print(f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {cpu_name()}, "
          f"{os.cpu_count()} logical CPUs; PyTorch {torch.__version__}, varnorm {varnorm_torch.library_version()} "
          f"({varnorm_torch.isa()} kernels); torch.get_num_threads() = {torch.get_num_threads()}; load average "
          f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print()
    started = time.perf_counter()

    # One 8x8 plane: what a call costs beyond its arithmetic on each side.
    x = torch.randn(1, 1, 8, 8).requires_grad_()
    alpha = torch.ones(1).requires_grad_()
    dy = torch.randn(1, 1, 8, 8)
    forward, forward_backward = group_norm_calls(x, alpha, dy)
    fwd = fastest_alternated(forward, args.repeats, args.min_time)
    fwd_bwd = fastest_alternated(forward_backward, args.repeats, args.min_time)
    with torch.no_grad():
        inference = fastest_alternated(forward, args.repeats, args.min_time)
    print(f"one call on 1x1x8x8 (64 values, almost all overhead): group_norm fwd {fmt_seconds(fwd[0])}, "
          f"fwd+bwd {fmt_seconds(fwd_bwd[0])}, under no_grad {fmt_seconds(inference[0])}; varnorm_torch.variance_norm "
          f"fwd {fmt_seconds(fwd[1])}, fwd+bwd {fmt_seconds(fwd_bwd[1])}, under no_grad {fmt_seconds(inference[1])}")
    print()
    print("| shape | memory | group_norm fwd | varnorm fwd | group_norm/varnorm | group_norm fwd+bwd | "
          "varnorm fwd+bwd | group_norm/varnorm |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    below = []
    for shape in shapes:
        n, c, h, w = shape
        name = "x".join(map(str, shape))
        alpha = (1 + 0.02 * torch.randn(c)).requires_grad_()
        for memory_format, label in ((torch.contiguous_format, "NCHW"), (torch.channels_last, "NHWC")):
            x = torch.randn(shape).contiguous(memory_format=memory_format).requires_grad_()
            dy = torch.randn(shape).contiguous(memory_format=memory_format)
            forward, forward_backward = group_norm_calls(x, alpha, dy)
            cells = []
            for what, calls in (("fwd", forward), ("fwd+bwd", forward_backward)):
                torch_seconds, varnorm_seconds = fastest_alternated(calls, args.repeats, args.min_time)
                speedup = torch_seconds / varnorm_seconds
                if speedup < GROUP_NORM_TARGET:
                    below.append(f"{name} {label} {what} {speedup:.2f}x")
                cells += [fmt_seconds(torch_seconds), fmt_seconds(varnorm_seconds),
                          f"**{speedup:.2f}x**" if speedup < GROUP_NORM_TARGET else f"{speedup:.2f}x"]
            print(f"| {name} | {label} | " + " | ".join(cells) + " |", flush=True)
            del x, dy, forward, forward_backward
    print()
    print(f"below {GROUP_NORM_TARGET}x (bold): " + ("; ".join(below) if below else "none"))
    print(f"total {time.perf_counter() - started:.0f} s")


def header() -> str:
    return (f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {cpu_name()}, "
            f"{os.cpu_count()} logical CPUs; PyTorch {torch.__version__}, varnorm {varnorm_torch.library_version()} "
            f"({varnorm_torch.isa()} kernels); torch.get_num_threads() = {torch.get_num_threads()}; load average "
            f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}")


def gn32_main(args) -> None:
    if args.shapes:
        shapes = parse_shapes(args.shapes)
    elif args.quick:
        shapes = QUICK_GN32_SHAPES
    else:
        shapes = [(n, c, p, p) for n in GN32_BATCHES for c in GN32_CHANNELS for p in GN32_PLANES]
    skipped = [s for s in shapes if s[0] * s[1] * s[2] * s[3] > args.max_elements]
    shapes = [s for s in shapes if s not in skipped]
    print(header())
    print()
    print(f"| shape | memory | nn.GroupNorm fwd | varnorm fwd | speedup | two-sweep floor | nn.GroupNorm fwd / floor | "
          f"nn.GroupNorm fwd+bwd | varnorm fwd+bwd | speedup |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    started = time.perf_counter()
    for shape in shapes:
        n, c, h, w = shape
        original = torch.nn.GroupNorm(GN32_GROUPS, c)
        with torch.no_grad():
            original.weight.normal_(1, 0.1)
            original.bias.normal_(0, 0.1)
        extension = varnorm_torch.GroupNorm(GN32_GROUPS, c)
        extension.load_state_dict(original.state_dict())
        for memory_format, label in ((torch.contiguous_format, "NCHW"), (torch.channels_last, "NHWC")):
            x = torch.randn(shape).contiguous(memory_format=memory_format).requires_grad_()
            dy = torch.randn(shape).contiguous(memory_format=memory_format)

            def calls(module):
                parameters = (x, module.weight, module.bias)

                def forward():
                    return module(x)

                def forward_backward():
                    torch.autograd.grad(module(x), parameters, dy)

                return forward, forward_backward

            (torch_fwd, torch_fwd_bwd), (varnorm_fwd, varnorm_fwd_bwd) = calls(original), calls(extension)
            cells = []
            for pair in ((torch_fwd, varnorm_fwd), (torch_fwd_bwd, varnorm_fwd_bwd)):
                torch_seconds, varnorm_seconds = fastest_alternated(pair, args.repeats, args.min_time)
                cells += [fmt_seconds(torch_seconds), fmt_seconds(varnorm_seconds),
                          f"{torch_seconds / varnorm_seconds:.2f}x"]
                if len(cells) == 3:
                    floor = two_sweep_floor(x, args.repeats, args.min_time)
                    cells += [fmt_seconds(floor), f"{torch_seconds / floor:.2f}"]
            print(f"| {n}x{c}x{h}x{w} | {label} | " + " | ".join(cells) + " |", flush=True)
            del x, dy
    print()
    if skipped:
        print("skipped (more than --max-elements values): " + ", ".join("x".join(map(str, s)) for s in skipped))
    print(f"total {time.perf_counter() - started:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"only {QUICK_SHAPES} (with --group-norm: {QUICK_SUITE_SHAPES}; with --gn32: "
                             f"{QUICK_GN32_SHAPES})")
    parser.add_argument("--group-norm", action="store_true",
                        help="torch.nn.functional.group_norm with G = C against varnorm, on the benchmark suite's shapes")
    parser.add_argument("--gn32", action="store_true",
                        help="torch.nn.GroupNorm(32, C) against varnorm_torch.GroupNorm(32, C) on NCSN++ shapes")
    parser.add_argument("--shapes",
                        help="with --group-norm or --gn32: these shapes instead, e.g. 1x128x256x256,8x128x32x32")
    parser.add_argument("--max-elements", type=int, default=DEFAULT_MAX_ELEMENTS,
                        help="skip shapes with more values (default 2**24)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.3, help="seconds of calls per measurement")
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(0)
    if args.group_norm:
        group_norm_main(args)
        return
    if args.gn32:
        gn32_main(args)
        return
    if args.quick:
        shapes = QUICK_SHAPES
    else:
        shapes = [(n, c, p, p) for n in BATCHES for c in CHANNELS for p in PLANES]
    skipped = [s for s in shapes if s[0] * s[1] * s[2] * s[3] > args.max_elements]
    shapes = [s for s in shapes if s not in skipped]

    print(f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {cpu_name()}, "
          f"{os.cpu_count()} logical CPUs; PyTorch {torch.__version__}, varnorm {varnorm_torch.library_version()} "
          f"({varnorm_torch.isa()} kernels); torch.get_num_threads() = {torch.get_num_threads()}")
    print()
    call_floor = autograd_call_floor(args.repeats, args.min_time)
    print(f"autograd's per-call floor (x.clone() of one value, forward and backward): {fmt_seconds(call_floor)}")
    print()
    print("| shape | memory | original fwd | varnorm fwd | speedup | original fwd+bwd | varnorm fwd+bwd | speedup | "
          "fwd+bwd roofline | ceiling |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    started = time.perf_counter()
    below_ceiling = []
    for shape in shapes:
        n, c, h, w = shape
        original = reference.VarianceNorm2d(c)
        extension = varnorm_torch.VarianceNorm2d(c)
        extension.load_state_dict(original.state_dict())
        for memory_format, label in ((torch.contiguous_format, "NCHW"), (torch.channels_last, "NHWC")):
            x = torch.randn(shape).contiguous(memory_format=memory_format).requires_grad_()
            dy = torch.randn(shape).contiguous(memory_format=memory_format)
            original_times = time_module(original, x, dy, args.repeats, args.min_time)
            extension_times = time_module(extension, x, dy, args.repeats, args.min_time)
            cells = []
            for before, after in zip(original_times, extension_times):
                cells += [f"{before * 1e3:.3f} ms", f"{after * 1e3:.3f} ms", f"{before / after:.1f}x"]
            # A layer's fwd+bwd costs at least the larger of the two floors.
            roofline = fwd_bwd_roofline(x, dy, args.repeats, args.min_time)
            ceiling = original_times[1] / max(roofline, call_floor)
            cells += [f"{roofline * 1e3:.3f} ms", f"{ceiling:.1f}x"]
            if ceiling < FWD_BWD_TARGET:
                below_ceiling.append(f"{n}x{c}x{h}x{w} {label} {ceiling:.1f}x")
            print(f"| {n}x{c}x{h}x{w} | {label} | " + " | ".join(cells) + " |", flush=True)
    print()
    if below_ceiling:
        print(f"ceiling below {FWD_BWD_TARGET:g}x (no implementation reaches the target there): " +
              "; ".join(below_ceiling))
    if skipped:
        print("skipped (more than --max-elements values): " + ", ".join("x".join(map(str, s)) for s in skipped))
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
