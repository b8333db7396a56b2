"""Tiny ImageNet 200 from its folder layout (64×64 colour JPEGs, 200 classes).

Layout (as unpacked from ``tiny-imagenet-200.zip``)::

    wnids.txt                       one WordNet id per line; class index = line order
    train/<wnid>/images/*.JPEG      500 training images per class
    val/images/*.JPEG               10,000 labelled images, used here as the test set
    val/val_annotations.txt         tab-separated: file, wnid, x0, y0, x1, y1 (box ignored)

The official ``test`` folder has no labels and is not read. Grey JPEGs are converted to RGB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from moo_snn.data.paths import find_folder, require_path
from moo_snn.data.splits import LabelledImages
from moo_snn.errors import DataError

SUBDIR = "tiny-imagenet-200"
SIDE = 64
JPEG_SUFFIXES = (".jpeg", ".jpg")
MARKERS = ["wnids.txt", "train", "val/images", "val/val_annotations.txt"]
EXPECTED = "wnids.txt, train/<wnid>/images/*.JPEG, val/images/*.JPEG and val/val_annotations.txt"
GET = "download tiny-imagenet-200.zip (http://cs231n.stanford.edu/tiny-imagenet-200.zip) and unzip it"
HOW = f"{GET}; point [data] path at the folder"


def load(path: str | Path | None) -> LabelledImages:
    """Read the training images and the labelled ``val`` images (as test) of Tiny ImageNet 200."""
    root = require_path("tinyimagenet", path, f"the tiny-imagenet-200 folder ({EXPECTED})", HOW)
    folder = find_folder("tinyimagenet", root, SUBDIR, MARKERS, EXPECTED, HOW)
    wnids = _read_wnids(folder / "wnids.txt")
    train_files, train_labels = _train_files(folder / "train", wnids)
    test_files, test_labels = _val_files(folder / "val", wnids)
    return LabelledImages(
        _read_images(train_files), train_labels, _read_images(test_files), test_labels, len(wnids)
    )


def _read_text(file: Path, holds: str) -> str:
    """The text of ``file`` (UTF-8; its ASCII ids and file names are UTF-8 too), or a DataError naming it."""
    if file.is_dir():
        raise DataError(f"tinyimagenet: {file} is a folder; it should be a text file holding {holds}")
    try:
        return file.read_text(encoding="utf-8-sig")  # a BOM (Windows editors) is not part of the first id
    except UnicodeDecodeError as error:
        raise DataError(f"tinyimagenet: {file} is not UTF-8 text (byte {error.start}); it should hold {holds}; "
                        f"replace it with the file from tiny-imagenet-200.zip") from None
    except OSError as error:
        raise DataError(f"tinyimagenet: cannot read {file}: {error.strerror or error}") from None


def _listing(folder: Path) -> list[Path]:
    """The files of ``folder``, or a DataError naming it."""
    try:
        return list(folder.iterdir())
    except OSError as error:
        raise DataError(f"tinyimagenet: cannot read the folder {folder}: {error.strerror or error}") from None


def _read_wnids(file: Path) -> list[str]:
    text = _read_text(file, "one WordNet id per line")
    wnids = [line.strip() for line in text.splitlines() if line.strip()]
    if not wnids:
        raise DataError(f"tinyimagenet: {file} lists no class ids; it should hold one wnid per line")
    duplicates = sorted({w for w in wnids if wnids.count(w) > 1})
    if duplicates:
        raise DataError(f"tinyimagenet: {file} lists {duplicates[0]} more than once")
    return wnids


def _train_files(train: Path, wnids: list[str]) -> tuple[list[Path], np.ndarray]:
    files, labels = [], []
    for index, wnid in enumerate(wnids):
        images = train / wnid / "images"
        if not images.is_dir():
            state = "not a folder" if images.exists() else "missing"
            raise DataError(
                f"tinyimagenet: {images} is {state}; each wnid in wnids.txt needs train/<wnid>/images/*.JPEG"
            )
        found = sorted(f for f in _listing(images) if f.suffix.lower() in JPEG_SUFFIXES)
        if not found:
            raise DataError(f"tinyimagenet: {images} holds no .JPEG images")
        files += found
        labels += [index] * len(found)
    return files, np.asarray(labels, dtype=np.int64)


def _val_files(val: Path, wnids: list[str]) -> tuple[list[Path], np.ndarray]:
    annotations = val / "val_annotations.txt"
    index = {wnid: i for i, wnid in enumerate(wnids)}
    files, labels = [], []
    text = _read_text(annotations, "one 'file<TAB>wnid<TAB>box' line per validation image")
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            raise DataError(f"tinyimagenet: {annotations} line {number} is not 'file<TAB>wnid<TAB>box': {line!r}")
        name, wnid = fields[0].strip(), fields[1].strip()
        if wnid not in index:
            raise DataError(f"tinyimagenet: {annotations} line {number} names {wnid}, which is not in wnids.txt")
        file = val / "images" / name
        if not file.is_file():
            state = "not a file" if file.exists() else "missing"
            raise DataError(f"tinyimagenet: {file} is {state} (listed in {annotations} line {number})")
        files.append(file)
        labels.append(index[wnid])
    if not files:
        raise DataError(f"tinyimagenet: {annotations} lists no images")
    return files, np.asarray(labels, dtype=np.int64)


def _read_images(files: list[Path]) -> np.ndarray:
    """Read JPEGs into float32 ``(N, 3, 64, 64)`` in [0, 1]."""
    pixels = np.empty((len(files), SIDE, SIDE, 3), dtype=np.uint8)
    for i, file in enumerate(files):
        try:
            with Image.open(file) as image:
                if image.size != (SIDE, SIDE):
                    width, height = image.size
                    raise DataError(f"tinyimagenet: {file} is {width}×{height}, expected {SIDE}×{SIDE}")
                pixels[i] = np.asarray(image.convert("RGB"))
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
            # PIL reports malformed files as any of these (SyntaxError: a broken header of some formats)
            raise DataError(f"tinyimagenet: cannot read image {file}: {error}") from None
    images = pixels.transpose(0, 3, 1, 2).astype(np.float32)
    images /= 255.0
    return images
