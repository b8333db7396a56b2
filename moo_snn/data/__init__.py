"""Data sets: images as float32 ``(N, C, H, W)`` in [0, 1] with int64 labels, split three ways.

``load_dataset(name, path, val_fraction=..., test_fraction=..., split_seed=...)`` reads one of
:data:`DATASETS` from local files (nothing is downloaded) and returns a :class:`DataSplits`.
This package uses numpy only (no torch), so it can run anywhere a search runs.
"""

from moo_snn.data.load import DATASETS, LOADERS, load_dataset
from moo_snn.data.problem_data import load_problem_data
from moo_snn.data.splits import DataSplits, LabelledImages

__all__ = ["DATASETS", "LOADERS", "DataSplits", "LabelledImages", "load_dataset", "load_problem_data"]
