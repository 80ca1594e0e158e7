"""Loads the compiled operators (torch.ops.varnorm.*) that lie next to this file."""
import os

import torch

LIBRARY_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_varnorm_ops.so")


def load() -> None:
    if not os.path.exists(LIBRARY_PATH):
        raise ImportError(
            f"varnorm_torch: {LIBRARY_PATH} is missing; build it with "
            "`cmake -S . -B build/torch -DVARNORM_BUILD_TORCH=ON && cmake --build build/torch` and put "
            "build/torch/python on PYTHONPATH")
    # Loading registers the operators with PyTorch's dispatcher; a second load of the same file is a no-op.
    torch.ops.load_library(LIBRARY_PATH)
