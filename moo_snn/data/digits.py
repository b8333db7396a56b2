"""scikit-learn's handwritten digits: 1,797 grey images 8×8, 10 classes; ships with scikit-learn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

from moo_snn.data.splits import LabelledImages

MAX_VALUE = 16.0  # the pixels are counts 0..16 of a 4×4 block of the 32×32 original
N_CLASSES = 10


def load(path: str | Path | None = None) -> LabelledImages:
    """Return the digits as ``(1797, 1, 8, 8)`` images in [0, 1]; ``path`` is ignored."""
    digits = load_digits()
    x = (digits.images / MAX_VALUE).astype(np.float32)[:, None, :, :]
    return LabelledImages(x, digits.target.astype(np.int64), None, None, N_CLASSES)
