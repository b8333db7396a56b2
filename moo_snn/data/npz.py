"""Any image data set stored as one ``.npz`` file.

Arrays: ``x`` (N, C, H, W), any numeric dtype: uint8 is divided by 255, every other dtype is used
as given and must be finite and within [0, 1]; ``y`` (N,) integer labels 0..K-1. Optionally
``x_test`` and ``y_test`` (both or neither): the test set; without them the test split is drawn
from ``x``. Read with ``allow_pickle=False``, so a file cannot run code.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from moo_snn.data.paths import require_path
from moo_snn.data.splits import LabelledImages
from moo_snn.errors import DataError

EXPECTED = "an .npz file with x (N×C×H×W) and y (N,) integer labels, optionally x_test and y_test"
GET = "save one with numpy.savez(file, x=x, y=y)"
HOW = f"{GET} and point [data] path at the file"


def read_arrays(path: str | Path | None, keys: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` file ``path`` (all, or those of ``keys`` that it holds), read without pickle.

    Raises
    ------
    DataError
        No path, a missing file, a folder, or a file that is not a valid ``.npz`` of arrays: not a zip
        archive, a corrupt one, a member that is not a ``.npy`` array, or an object array (pickled
        Python objects, which are never loaded). The message names the file.
    """
    file = require_path("npz", path, EXPECTED, HOW)
    if not file.is_file():
        raise DataError(f"npz: {file} is a folder; [data] path must name {EXPECTED}")
    invalid = f"npz: {file} is not a valid .npz of arrays"
    try:
        is_zip = zipfile.is_zipfile(file)
    except OSError as error:
        raise DataError(f"npz: cannot read {file}: {error.strerror or error}") from None
    if not is_zip:  # np.load would take it for a .npy, or a pickle it then refuses in words that invite loading it
        raise DataError(f"{invalid} (not a zip archive, which numpy.savez writes); {HOW}")
    try:
        with np.load(file, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files if keys is None or key in keys}
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise DataError(f"{invalid}: it holds object arrays (pickled Python objects), which moo-snn never "
                            f"loads; store numeric arrays") from None
        raise DataError(f"{invalid} ({error}); {HOW}") from None
    except Exception as error:  # a corrupt archive raises almost anything (BadZipFile, zlib.error, EOFError, ...)
        raise DataError(f"{invalid} ({type(error).__name__}: {error}); {HOW}") from None
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray):  # numpy hands back the raw bytes of a member that is no .npy
            raise DataError(f"{invalid}: its member {key!r} is not a .npy array; {HOW}")
    return arrays


def load(path: str | Path | None) -> LabelledImages:
    """Read ``x``, ``y`` and optionally ``x_test``, ``y_test`` from the ``.npz`` file ``path``."""
    arrays = read_arrays(path)
    file = Path(path).expanduser()
    for key in ("x", "y"):
        if key not in arrays:
            found = ", ".join(sorted(arrays)) or "none"
            raise DataError(f"npz: {file} has no array {key!r} (found {found}); expected {EXPECTED}")
    if ("x_test" in arrays) != ("y_test" in arrays):
        present, absent = ("x_test", "y_test") if "x_test" in arrays else ("y_test", "x_test")
        raise DataError(f"npz: {file} has {present} but no {absent}; store both or neither")
    x, y = _images(arrays["x"], file, "x"), _labels(arrays["y"], file, "y")
    _check_pair(x, y, file, "x", "y")
    x_test = y_test = None
    if "x_test" in arrays:
        x_test, y_test = _images(arrays["x_test"], file, "x_test"), _labels(arrays["y_test"], file, "y_test")
        _check_pair(x_test, y_test, file, "x_test", "y_test")
        if x_test.shape[1:] != x.shape[1:]:
            raise DataError(f"npz: {file}: x_test images are {x_test.shape[1:]} but x images are {x.shape[1:]}")
    n_classes = int(max(y.max(), y_test.max() if y_test is not None and y_test.size else 0)) + 1
    return LabelledImages(x, y, x_test, y_test, n_classes)


def _images(x: np.ndarray, file: Path, key: str) -> np.ndarray:
    if x.ndim != 4:
        raise DataError(f"npz: {file}: {key} must be 4-D N×C×H×W, got shape {x.shape}")
    if x.shape[2] != x.shape[3]:
        hint = ""
        if x.shape[3] in (1, 3) and x.shape[1] == x.shape[2]:
            hint = "; it looks channels-last: store np.transpose(x, (0, 3, 1, 2))"
        raise DataError(f"npz: {file}: {key} images must be square N×C×H×W, got shape {x.shape}{hint}")
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255.0)
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_) or np.issubdtype(x.dtype, np.complexfloating):
        raise DataError(f"npz: {file}: {key} must be numeric, got dtype {x.dtype}")
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise DataError(f"npz: {file}: {key} holds NaN or infinite values")
    if x.size and (x.min() < 0.0 or x.max() > 1.0):
        raise DataError(
            f"npz: {file}: {key} values must lie in [0, 1] (found {x.min():g}..{x.max():g}); "
            "store uint8 0..255 or scale to [0, 1]"
        )
    return x


def _labels(y: np.ndarray, file: Path, key: str) -> np.ndarray:
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"npz: {file}: {key} must be 1-D integer labels, got {y.dtype} of shape {y.shape}")
    if y.size and y.min() < 0:
        raise DataError(f"npz: {file}: {key} labels must be 0..K-1, found {y.min()}")
    return y.astype(np.int64)


def _check_pair(x: np.ndarray, y: np.ndarray, file: Path, x_key: str, y_key: str) -> None:
    if len(x) != len(y):
        raise DataError(f"npz: {file}: {x_key} has {len(x)} images but {y_key} has {len(y)} labels")
    if len(x) == 0:
        raise DataError(f"npz: {file}: {x_key} holds no images")
