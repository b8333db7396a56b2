"""CIFAR-10 from its python pickle batches (60,000 colour images 32×32, 10 classes)."""

from __future__ import annotations

from pathlib import Path

from moo_snn.data.cifar_batches import read_batches
from moo_snn.data.paths import find_folder, require_path
from moo_snn.data.splits import LabelledImages

TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_BATCH = "test_batch"
SUBDIR = "cifar-10-batches-py"
N_CLASSES = 10
EXPECTED = "the python batches (data_batch_1..5, test_batch)"
GET = "download 'CIFAR-10 python version' from https://www.cs.toronto.edu/~kriz/cifar.html and unpack it"
HOW = f"{GET}; point [data] path at the folder"


def load(path: str | Path | None) -> LabelledImages:
    """Read the five training batches and ``test_batch`` from ``path`` or ``path/cifar-10-batches-py``."""
    root = require_path("cifar10", path, f"a folder holding {EXPECTED}", HOW)
    folder = find_folder("cifar10", root, SUBDIR, [*TRAIN_BATCHES, TEST_BATCH], EXPECTED, HOW)
    x, y = read_batches(folder, TRAIN_BATCHES, "cifar10", b"labels", N_CLASSES)
    x_test, y_test = read_batches(folder, [TEST_BATCH], "cifar10", b"labels", N_CLASSES)
    return LabelledImages(x, y, x_test, y_test, N_CLASSES)
