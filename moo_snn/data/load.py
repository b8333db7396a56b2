"""``load_dataset``: one entry point for every data set moo-snn reads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from moo_snn.data import cifar10, cifar100, digits, npz, tinyimagenet
from moo_snn.data.splits import DataSplits, LabelledImages, make_splits
from moo_snn.errors import DataError, did_you_mean

LOADERS: dict[str, Callable[[str | Path | None], LabelledImages]] = {
    "digits": digits.load,
    "cifar10": cifar10.load,
    "cifar100": cifar100.load,
    "tinyimagenet": tinyimagenet.load,
    "npz": npz.load,
}
"""Data set name → loader: ``load(path)`` returns everything read, before splitting."""

DATASETS = tuple(LOADERS)


def load_dataset(
    dataset: str,
    path: str | Path | None,
    *,
    val_fraction: float,
    test_fraction: float,
    split_seed: int,
    max_train: int = 0,
) -> DataSplits:
    """Read a data set and split it into train, validation and test.

    Parameters
    ----------
    dataset
        One of :data:`DATASETS`: ``digits`` (scikit-learn's, no path needed), ``cifar10``,
        ``cifar100``, ``tinyimagenet`` (a folder) or ``npz`` (a file).
    path
        Where the data lie; ignored for ``digits``.
    val_fraction
        Share of the samples that become the validation split: of all samples for data sets
        without a test set of their own (``digits``, ``npz`` without ``x_test``), else of the
        training samples.
    test_fraction
        Share of all samples that become the test split, for data sets without a test set of
        their own; ignored otherwise.
    split_seed
        Seed of the stratified splits; the same seed gives the same splits.
    max_train
        If positive, keep a stratified subset of this many training samples (quick runs).

    Returns
    -------
    DataSplits
        float32 images ``(N, C, H, W)`` in [0, 1], int64 labels ``(N,)``.

    Raises
    ------
    DataError
        Unknown data set, missing or malformed files; the message says what to put where.
    """
    if dataset not in LOADERS:
        raise DataError(f"unknown data set {dataset!r}{did_you_mean(dataset, LOADERS)}")
    return make_splits(
        LOADERS[dataset](path),
        dataset,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        split_seed=split_seed,
        max_train=max_train,
        source=f"{dataset} data {path}" if path is not None and str(path).strip() else dataset,
    )
