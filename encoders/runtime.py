"""Process-wide settings every command applies first: threads, seeds, BLAS check."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

DEFAULT_THREADS = 2


def configure_threads(threads: int | None = None) -> int:
    """Pin torch to a small thread count: the target machines have 2 cores shared with others."""
    count = threads or int(os.environ.get("MUJO_TORCH_THREADS", DEFAULT_THREADS))
    torch.set_num_threads(count)
    return count


def seed_everything(seed: int) -> None:
    """Seed every generator training touches so a run with the same seed repeats exactly."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def blas_library() -> str:
    """The BLAS shared object numpy/torch resolved, read from the process maps.

    Without OpenBLAS the Debian build falls back to reference BLAS and trains ~7x slower,
    so commands print this once to make a slow machine explicable.
    """
    maps = Path("/proc/self/maps")
    if not maps.exists():
        return "unknown"
    names = set()
    for line in maps.read_text().splitlines():
        path = line.split()[-1] if line.split() else ""
        base = os.path.basename(path)
        if "blas" in base.lower() and base.startswith("lib"):
            names.add(os.path.realpath(path))
    if not names:
        return "none loaded"
    return ", ".join(sorted(names))
