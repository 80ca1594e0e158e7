#!/usr/bin/python3
"""Times the original ESPnet / score_sde VarianceNorm2d (PyTorch ops) against varnorm_torch.VarianceNorm2d on
NCSN++ shapes, in one process on one thread (torch.set_num_threads(1)), and prints a markdown table.

    PYTHONPATH=build/torch/python /usr/bin/python3 bench/torch_bench.py [--quick] [--max-elements N]

forward: a training forward (x and alpha require grad, so the graph and the saved statistics are made);
forward+backward: that forward, then torch.autograd.grad for x and alpha. Each time is the fastest of repeated
calls (at least --repeats, and at least --min-time seconds of calls), after one warm-up call: on a shared machine
the minimum is the estimate least disturbed by other processes (bench/README.md: medians moved by up to 13x
between runs). Both modules get the same tensors, in NCHW or channels_last (NHWC) memory.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"only {QUICK_SHAPES}")
    parser.add_argument("--max-elements", type=int, default=DEFAULT_MAX_ELEMENTS,
                        help="skip shapes with more values (default 2**24)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.3, help="seconds of calls per measurement")
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(0)
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
    print("| shape | memory | original fwd | varnorm fwd | speedup | original fwd+bwd | varnorm fwd+bwd | speedup |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    started = time.perf_counter()
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
            print(f"| {n}x{c}x{h}x{w} | {label} | " + " | ".join(cells) + " |", flush=True)
    print()
    if skipped:
        print("skipped (more than --max-elements values): " + ", ".join("x".join(map(str, s)) for s in skipped))
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
