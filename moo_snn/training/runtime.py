"""torch's process-wide settings that a training executor controls: thread count, GPUs present.

Here rather than in :mod:`moo_snn.executor` so that torch stays imported only under
:mod:`moo_snn.training`.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch


@contextmanager
def torch_threads(n: int | None):
    """torch's intra-op thread count set to ``n`` inside the block (left as it is where None).

    On CPU the thread count changes the order of floating-point sums, so equal seeds give equal
    results only with equal thread counts.
    """
    if not n:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def cuda_device_count() -> int:
    """GPUs torch sees (0 without CUDA)."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0
