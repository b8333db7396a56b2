"""Train/validation/test splits: the :class:`DataSplits` container and the seeded splitting.

A loader returns a :class:`LabelledImages` (everything it read, with the data set's own test set
when it has one); :func:`make_splits` turns that into a :class:`DataSplits`.

Splits are stratified by class (scikit-learn ``train_test_split(..., stratify=y)``) and
deterministic for a given ``split_seed``. Where stratification is impossible (a class with a single
sample, or a side too small to hold one sample per class, e.g. ``max_train=50`` on CIFAR-100) the
split falls back to a seeded random one, so that quick runs on tiny subsets still work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import numpy as np
from sklearn.model_selection import train_test_split

from moo_snn.errors import DataError


@dataclass(frozen=True, eq=False)
class DataSplits:
    """Images and labels of one data set, split into train, validation and test.

    Images are float32 ``(N, C, H, W)`` with values in [0, 1], not normalised (spiking encoders
    need intensities; normalise with :attr:`mean` and :attr:`std` where wanted). Labels are int64
    ``(N,)`` in ``0 .. n_classes - 1``. Images are square (``H == W``).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    name: str

    def __post_init__(self) -> None:
        shape = None
        for split in ("train", "val", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if x.dtype != np.float32 or x.ndim != 4:
                raise DataError(f"{self.name}: x_{split} must be float32 (N, C, H, W), got {x.dtype} {x.shape}")
            if y.dtype != np.int64 or y.shape != (len(x),):
                raise DataError(f"{self.name}: y_{split} must be int64 ({len(x)},), got {y.dtype} {y.shape}")
            if shape is not None and x.shape[1:] != shape:
                raise DataError(f"{self.name}: x_{split} images are {x.shape[1:]}, x_train images are {shape}")
            shape = x.shape[1:]
        if shape[1] != shape[2]:
            raise DataError(f"{self.name}: images must be square, got height {shape[1]} and width {shape[2]}")

    @property
    def channels(self) -> int:
        """Number of image channels C."""
        return int(self.x_train.shape[1])

    @property
    def side(self) -> int:
        """Image side H (== W) in pixels."""
        height, width = self.x_train.shape[2:]
        if height != width:
            raise DataError(f"{self.name}: images must be square, got height {height} and width {width}")
        return int(height)

    @cached_property
    def mean(self) -> np.ndarray:
        """Per-channel mean of the training images, float32 ``(C,)``."""
        return self.x_train.mean(axis=(0, 2, 3), dtype=np.float64).astype(np.float32)

    @cached_property
    def std(self) -> np.ndarray:
        """Per-channel standard deviation of the training images, float32 ``(C,)``."""
        return self.x_train.std(axis=(0, 2, 3), dtype=np.float64).astype(np.float32)


class LabelledImages(NamedTuple):
    """What a loader read: images ``x`` float32 (N, C, H, W) in [0, 1], labels ``y`` int64 (N,).

    ``x_test`` and ``y_test`` hold the data set's own test set, or are None when it has none.
    """

    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    n_classes: int


def make_splits(
    data: LabelledImages,
    name: str,
    *,
    val_fraction: float,
    test_fraction: float,
    split_seed: int,
    max_train: int = 0,
    source: str = "",
) -> DataSplits:
    """Split ``data`` into train, validation and test.

    Without a test set of its own, ``test_fraction`` of all samples become the test split and
    ``val_fraction`` of all samples (taken from the rest) the validation split. With one,
    ``test_fraction`` is ignored and ``val_fraction`` of the training samples become the
    validation split. ``max_train > 0`` then keeps a stratified subset of that many training
    samples (validation and test are unchanged by it). Every split keeps the source order.

    Every split holds at least one image, except one asked empty with a fraction of 0 (a
    :class:`DataError` names the data, ``source`` or else ``name``, and the split otherwise): an
    accuracy of no images would be a made-up number.
    """
    _check_fractions(val_fraction, test_fraction, data.x_test is None, max_train)
    source = source or name
    x, y = data.x, data.y
    if len(y) == 0:
        raise DataError(f"{source}: the training split holds no images (the data hold none); give a data set with images")
    if data.x_test is None:
        n_total = len(y)
        n_test = math.ceil(test_fraction * n_total)
        n_val = math.ceil(val_fraction * n_total)
        rest, test = _holdout(y, n_test, split_seed)
        x_test, y_test = x[test], y[test]
        x, y = x[rest], y[rest]
        taken = f"{n_total} images in all, {len(test)} taken for test (test_fraction {test_fraction:g})"
        if len(test) == 0 and test_fraction > 0:
            raise DataError(f"{source}: the test split holds no images ({taken}); give a data set with images")
    else:
        x_test, y_test = data.x_test, data.y_test
        n_val = math.ceil(val_fraction * len(y))
        taken = f"{len(y)} training images"
        if len(y_test) == 0:
            raise DataError(f"{source}: the test split (the data set's own test set) holds no images; "
                            f"give a test set with images")
    train, val = _holdout(y, n_val, split_seed)
    if len(val) == 0 and val_fraction > 0:
        raise DataError(f"{source}: the validation split holds no images ({taken}, none left for validation); "
                        f"give more images or lower test_fraction")
    if len(train) == 0:
        raise DataError(f"{source}: the training split holds no images ({taken}, {len(val)} for validation "
                        f"(val_fraction {val_fraction:g})); give more images or lower val_fraction/test_fraction")
    x_val, y_val = x[val], y[val]
    x_train, y_train = x[train], y[train]
    if 0 < max_train < len(y_train):
        keep, _ = _holdout(y_train, len(y_train) - max_train, split_seed)
        x_train, y_train = x_train[keep], y_train[keep]
    return DataSplits(x_train, y_train, x_val, y_val, x_test, y_test, int(data.n_classes), name)


def _check_fractions(val_fraction: float, test_fraction: float, split_test: bool, max_train: int) -> None:
    if not 0.0 <= val_fraction < 1.0:
        raise DataError(f"val_fraction must lie in [0, 1), got {val_fraction}")
    if not 0.0 <= test_fraction < 1.0:
        raise DataError(f"test_fraction must lie in [0, 1), got {test_fraction}")
    if split_test and val_fraction + test_fraction >= 1.0:
        raise DataError(f"val_fraction + test_fraction must be below 1, got {val_fraction} + {test_fraction}")
    if max_train < 0:
        raise DataError(f"max_train must be 0 (keep all) or positive, got {max_train}")


def _holdout(y: np.ndarray, n_holdout: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices of ``y`` into (kept, held out) with ``n_holdout`` held out, both sorted."""
    index = np.arange(len(y))
    if n_holdout <= 0:
        return index, index[:0]
    if n_holdout >= len(y):
        return index[:0], index
    kept, held = train_test_split(
        index, test_size=n_holdout, random_state=seed, stratify=y if _can_stratify(y, n_holdout) else None
    )
    return np.sort(kept), np.sort(held)


def _can_stratify(y: np.ndarray, n_holdout: int) -> bool:
    counts = np.bincount(y)
    counts = counts[counts > 0]
    n_classes = len(counts)
    return counts.min() >= 2 and n_holdout >= n_classes and len(y) - n_holdout >= n_classes


def check_not_empty(data: DataSplits) -> None:
    """Raise :class:`DataError` naming the first split of ``data`` that holds no images (training needs all three)."""
    for split, label in (("train", "training"), ("val", "validation"), ("test", "test")):
        if len(getattr(data, f"y_{split}")) == 0:
            raise DataError(f"{data.name}: the {label} split holds no images; training measures accuracy on the "
                            f"validation and test splits: give val_fraction and test_fraction above 0")


def subset_size(n: int, fraction: float) -> int:
    """How many of ``n`` training samples a ``fraction`` keeps (:func:`training_subset`): ``⌈fraction · n⌉``, at least 1."""
    return max(1, min(n, math.ceil(fraction * n)))


def training_subset(data: DataSplits, fraction: float, seed: int) -> DataSplits:
    """``data`` with a stratified ``fraction`` of its training split (validation and test unchanged).

    The low-fidelity proxy of multi-fidelity search (DESIGN §6b) trains on such a subset. The
    subset is deterministic for ``seed`` (the problem's ``split_seed``), stratified by class where
    possible (scikit-learn ``train_test_split``), keeps the source order, and always holds at least
    one sample per class present when the split allows it. ``fraction = 1`` returns ``data`` itself.

    Raises
    ------
    DataError
        ``fraction`` outside (0, 1].
    """
    if not 0.0 < fraction <= 1.0:
        raise DataError(f"train_fraction must lie in (0, 1], got {fraction}; 1 trains on the whole training split")
    if fraction == 1.0:
        return data
    n = len(data.y_train)
    n_keep = subset_size(n, fraction)
    keep, _ = _holdout(data.y_train, n - n_keep, seed)
    return DataSplits(data.x_train[keep], data.y_train[keep], data.x_val, data.y_val, data.x_test, data.y_test,
                      data.n_classes, data.name)
