"""Reading one batch of the CIFAR "python version" (shared by CIFAR-10 and CIFAR-100).

A batch is a pickled dict with ``b'data'``: uint8 ``(N, 3072)``, each row one 32×32 colour image
stored channel-major (1024 red values, then 1024 green, then 1024 blue, each plane row-major),
and a list of N labels under ``b'labels'`` (CIFAR-10) or ``b'fine_labels'`` (CIFAR-100).
Source: https://www.cs.toronto.edu/~kriz/cifar.html
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from moo_snn.data.safe_pickle import load_pickle
from moo_snn.errors import DataError

CHANNELS, SIDE = 3, 32
ROW_LENGTH = CHANNELS * SIDE * SIDE


def read_batch(file: Path, dataset: str, label_key: bytes, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the rows, uint8 ``(N, 3072)``, and labels, int64 ``(N,)``, of one batch file."""
    batch = load_pickle(file, dataset)
    if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
        keys = sorted(map(repr, batch)) if isinstance(batch, dict) else type(batch).__name__
        raise DataError(
            f"{file} is not a {dataset} python batch: expected a dict with b'data' and {label_key!r}, found {keys}"
        )
    rows = batch[b"data"]
    if not isinstance(rows, np.ndarray) or rows.dtype != np.uint8 or rows.ndim != 2 or rows.shape[1] != ROW_LENGTH:
        found = f"{rows.dtype} {rows.shape}" if isinstance(rows, np.ndarray) else type(rows).__name__
        raise DataError(f"{file}: b'data' must be a uint8 array of shape (N, {ROW_LENGTH}), found {found}")
    if len(rows) == 0:
        raise DataError(f"{file}: the {dataset} batch holds no images (b'data' has 0 rows); replace it with the "
                        f"original file")
    try:
        labels = np.asarray(batch[label_key], dtype=np.int64)
    except (TypeError, ValueError):
        raise DataError(f"{file}: {label_key!r} must be a list of integer labels") from None
    if labels.shape != (len(rows),):
        raise DataError(f"{file}: {len(rows)} images but {labels.size} labels under {label_key!r}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise DataError(f"{file}: labels must lie in 0..{n_classes - 1}, found {labels.min()}..{labels.max()}")
    return rows, labels


def rows_to_images(rows: np.ndarray) -> np.ndarray:
    """Decode uint8 CIFAR rows ``(N, 3072)`` into float32 images ``(N, 3, 32, 32)`` in [0, 1]."""
    images = rows.reshape(len(rows), CHANNELS, SIDE, SIDE).astype(np.float32)
    images /= 255.0
    return images


def read_batches(
    folder: Path, names: list[str], dataset: str, label_key: bytes, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Read the batches ``names`` in ``folder``: images float32 ``(N, 3, 32, 32)`` in [0, 1], labels int64."""
    parts = [read_batch(folder / name, dataset, label_key, n_classes) for name in names]
    rows = np.concatenate([rows for rows, _ in parts])
    return rows_to_images(rows), np.concatenate([labels for _, labels in parts])
