"""CIFAR-100 from its python pickle files (60,000 colour images 32×32, 100 fine classes)."""

from __future__ import annotations

from pathlib import Path

from moo_snn.data.cifar_batches import read_batches
from moo_snn.data.paths import find_folder, require_path
from moo_snn.data.splits import LabelledImages

SUBDIR = "cifar-100-python"
N_CLASSES = 100
EXPECTED = "the python files (train, test)"
GET = "download 'CIFAR-100 python version' from https://www.cs.toronto.edu/~kriz/cifar.html and unpack it"
HOW = f"{GET}; point [data] path at the folder"


def load(path: str | Path | None) -> LabelledImages:
    """Read ``train`` and ``test`` (fine labels) from ``path`` or ``path/cifar-100-python``."""
    root = require_path("cifar100", path, f"a folder holding {EXPECTED}", HOW)
    folder = find_folder("cifar100", root, SUBDIR, ["train", "test"], EXPECTED, HOW)
    x, y = read_batches(folder, ["train"], "cifar100", b"fine_labels", N_CLASSES)
    x_test, y_test = read_batches(folder, ["test"], "cifar100", b"fine_labels", N_CLASSES)
    return LabelledImages(x, y, x_test, y_test, N_CLASSES)
