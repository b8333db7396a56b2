"""Tests of moo_snn.data: every loader reads small files written here in the real formats."""

from __future__ import annotations

import ast
import math
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from moo_snn.data import DATASETS, DataSplits, load_dataset
from moo_snn.data.safe_pickle import load_pickle
from moo_snn.errors import DataError

SPLIT = {"val_fraction": 0.2, "test_fraction": 0.2, "split_seed": 0}

# --------------------------------------------------------------------------------------------
# fixtures in the real formats


def cifar_rows(n: int, first_id: int, seed: int) -> np.ndarray:
    """Random uint8 CIFAR rows whose red pixel (0, 0) is a unique id (first_id + i)."""
    rows = np.random.default_rng(seed).integers(0, 256, size=(n, 3072), dtype=np.uint8)
    rows[:, 0] = np.arange(first_id, first_id + n)
    return rows


def image_ids(x: np.ndarray) -> np.ndarray:
    """Recover the ids written by :func:`cifar_rows` from decoded images."""
    return np.rint(x[:, 0, 0, 0] * 255).astype(int)


def write_cifar10(folder: Path, per_batch: int = 20, protocol: int = 2) -> Path:
    """Five training batches and a test batch of ``per_batch`` images; label = id % 10."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for b, name in enumerate(names):
        rows = cifar_rows(per_batch, first_id=b * per_batch, seed=b)
        labels = [int(i) % 10 for i in rows[:, 0]]
        if name == "test_batch":  # hand-placed pixels in test image 0 (R at y2 x5, G at y7 x1, B at y31 x31)
            rows[0, 0 * 1024 + 2 * 32 + 5] = 200
            rows[0, 1 * 1024 + 7 * 32 + 1] = 100
            rows[0, 2 * 1024 + 31 * 32 + 31] = 50
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": rows,
                 b"filenames": [f"img_{i}.png".encode() for i in range(per_batch)]}
        with open(folder / name, "wb") as stream:
            pickle.dump(batch, stream, protocol=protocol)
    with open(folder / "batches.meta", "wb") as stream:
        pickle.dump({b"label_names": [f"c{i}".encode() for i in range(10)]}, stream, protocol=protocol)
    return folder


def write_cifar100(folder: Path, n_train: int = 200, n_test: int = 100) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, n, first in (("train", n_train, 0), ("test", n_test, 0)):
        rows = cifar_rows(n, first_id=first, seed=len(name))
        rows[:, 0] = np.arange(n) % 256
        fine = [i % 100 for i in range(n)]
        batch = {b"data": rows, b"fine_labels": fine, b"coarse_labels": [i % 20 for i in fine]}
        with open(folder / name, "wb") as stream:
            pickle.dump(batch, stream, protocol=2)
    with open(folder / "meta", "wb") as stream:
        pickle.dump({b"fine_label_names": [b"x"] * 100}, stream, protocol=2)
    return folder


WNIDS = ["n09999999", "n01443537", "n05555555"]  # deliberately not sorted: index = line order
COLOURS = [(200, 30, 40), (20, 180, 60), (50, 60, 220)]


def write_tinyimagenet(root: Path, per_class: int = 4, val_per_class: int = 2) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "wnids.txt").write_text("\n".join(WNIDS) + "\n")
    for wnid, colour in zip(WNIDS, COLOURS):
        images = root / "train" / wnid / "images"
        images.mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (64, 64), colour).save(images / f"{wnid}_{i}.JPEG", quality=95)
        (root / "train" / wnid / f"{wnid}_boxes.txt").write_text("")
    (root / "val" / "images").mkdir(parents=True)
    lines = []
    for k in range(val_per_class * len(WNIDS)):
        c = k % len(WNIDS)
        name = f"val_{k}.JPEG"
        if k == 0:  # a grey JPEG (mode L): must come back as three equal channels
            Image.new("L", (64, 64), 90).save(root / "val" / "images" / name, quality=95)
        else:
            Image.new("RGB", (64, 64), COLOURS[c]).save(root / "val" / "images" / name, quality=95)
        lines.append(f"{name}\t{WNIDS[c]}\t0\t0\t63\t63")
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return root


class Boom:
    """A pickle payload whose unpickling would run a shell command creating ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class Sneaky:
    """A payload hiding behind builtins.eval (a builtin, but not an allowed one)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return eval, (f"open({str(self.marker)!r}, 'w').close()",)


# --------------------------------------------------------------------------------------------
# digits


def test_digits_shapes_sizes_and_range():
    data = load_dataset("digits", None, val_fraction=0.1, test_fraction=0.2, split_seed=0)
    assert len(data.y_train) + len(data.y_val) + len(data.y_test) == 1797
    assert len(data.y_test) == math.ceil(0.2 * 1797) and len(data.y_val) == math.ceil(0.1 * 1797)
    for x, y in ((data.x_train, data.y_train), (data.x_val, data.y_val), (data.x_test, data.y_test)):
        assert x.dtype == np.float32 and x.shape[1:] == (1, 8, 8) and y.dtype == np.int64
        assert x.min() >= 0.0 and x.max() <= 1.0
    assert data.x_train.max() == 1.0  # 16 / 16
    assert (data.channels, data.side, data.n_classes, data.name) == (1, 8, 10, "digits")
    assert data.mean.shape == (1,) and data.mean.dtype == np.float32
    assert data.mean[0] == pytest.approx(data.x_train.mean(), rel=1e-5)
    assert data.std[0] == pytest.approx(data.x_train.std(), rel=1e-5)


def test_digits_pixels_match_sklearn():
    from sklearn.datasets import load_digits

    raw = load_digits()
    data = load_dataset("digits", None, val_fraction=0.0, test_fraction=0.0, split_seed=0)
    np.testing.assert_allclose(data.x_train[:, 0], raw.images / 16.0, rtol=1e-6)
    np.testing.assert_array_equal(data.y_train, raw.target)
    assert len(data.y_val) == len(data.y_test) == 0


def test_digits_splits_are_stratified_deterministic_and_seeded():
    a = load_dataset("digits", None, **SPLIT)
    b = load_dataset("digits", None, **SPLIT)
    c = load_dataset("digits", None, **{**SPLIT, "split_seed": 1})
    np.testing.assert_array_equal(a.x_test, b.x_test)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    assert a.x_test.shape == c.x_test.shape and not np.array_equal(a.x_test, c.x_test)
    overall = np.bincount(np.concatenate([a.y_train, a.y_val, a.y_test]), minlength=10) / 1797
    for y in (a.y_val, a.y_test):
        np.testing.assert_allclose(np.bincount(y, minlength=10) / len(y), overall, atol=1.5 / len(y))


def test_max_train_keeps_a_stratified_subset_and_leaves_val_and_test_alone():
    full = load_dataset("digits", None, **SPLIT)
    small = load_dataset("digits", None, **SPLIT, max_train=100)
    assert len(small.y_train) == 100
    assert np.bincount(small.y_train, minlength=10).min() >= 9
    assert np.bincount(small.y_train, minlength=10).max() <= 11
    np.testing.assert_array_equal(small.x_val, full.x_val)
    np.testing.assert_array_equal(small.x_test, full.x_test)
    again = load_dataset("digits", None, **SPLIT, max_train=100)
    np.testing.assert_array_equal(small.x_train, again.x_train)
    assert len(load_dataset("digits", None, **SPLIT, max_train=10**6).y_train) == len(full.y_train)
    # fewer samples than classes: stratification is impossible, a seeded random subset is kept
    assert len(load_dataset("digits", None, **SPLIT, max_train=5).y_train) == 5


@pytest.mark.parametrize(
    "kwargs",
    [{"val_fraction": 1.0}, {"test_fraction": -0.1}, {"val_fraction": 0.5, "test_fraction": 0.5}, {"max_train": -1}],
)
def test_bad_fractions_are_refused(kwargs):
    with pytest.raises(DataError, match="val_fraction|test_fraction|max_train"):
        load_dataset("digits", None, **{**SPLIT, **kwargs})


def test_unknown_dataset_lists_the_valid_ones():
    with pytest.raises(DataError) as error:
        load_dataset("cifar", None, **SPLIT)
    message = str(error.value)
    assert "'cifar'" in message and "did you mean" in message
    assert all(name in message for name in DATASETS)
    assert set(DATASETS) == {"digits", "cifar10", "cifar100", "tinyimagenet", "npz"}


# --------------------------------------------------------------------------------------------
# cifar10


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar10_decodes_channel_major_rows(tmp_path, protocol):
    write_cifar10(tmp_path, protocol=protocol)
    data = load_dataset("cifar10", tmp_path, **SPLIT)
    assert data.x_train.shape[1:] == (3, 32, 32) and data.x_train.dtype == np.float32
    assert data.x_test.shape == (20, 3, 32, 32) and data.y_test.dtype == np.int64
    assert (data.n_classes, data.side, data.channels) == (10, 32, 3)
    assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
    assert data.x_test[0, 0, 2, 5] == pytest.approx(200 / 255)
    assert data.x_test[0, 1, 7, 1] == pytest.approx(100 / 255)
    assert data.x_test[0, 2, 31, 31] == pytest.approx(50 / 255)
    # the test batch keeps its order and labels
    np.testing.assert_array_equal(image_ids(data.x_test), np.arange(100, 120))
    np.testing.assert_array_equal(data.y_test, np.arange(100, 120) % 10)


def test_cifar10_every_training_image_lands_once_with_its_label(tmp_path):
    write_cifar10(tmp_path)
    data = load_dataset("cifar10", tmp_path, **SPLIT)
    assert (len(data.y_train), len(data.y_val)) == (80, 20)
    train_ids, val_ids = image_ids(data.x_train), image_ids(data.x_val)
    assert not set(train_ids) & set(val_ids)
    assert sorted([*train_ids, *val_ids]) == list(range(100))
    np.testing.assert_array_equal(data.y_train, train_ids % 10)
    np.testing.assert_array_equal(data.y_val, val_ids % 10)
    np.testing.assert_array_equal(np.bincount(data.y_val, minlength=10), 2)  # stratified: 2 per class
    for i in (0, len(train_ids) - 1):  # whole images, channel-major, against their rows in the files
        batch, row = divmod(int(train_ids[i]), 20)
        rows = pickle.loads((tmp_path / f"data_batch_{batch + 1}").read_bytes(), encoding="bytes")[b"data"]
        np.testing.assert_allclose(data.x_train[i], rows[row].reshape(3, 32, 32) / 255.0, rtol=1e-6)


def test_cifar10_splits_are_deterministic_per_seed(tmp_path):
    write_cifar10(tmp_path)
    a = image_ids(load_dataset("cifar10", tmp_path, **SPLIT).x_val)
    b = image_ids(load_dataset("cifar10", tmp_path, **SPLIT).x_val)
    c = image_ids(load_dataset("cifar10", tmp_path, **{**SPLIT, "split_seed": 7}).x_val)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_cifar10_max_train(tmp_path):
    write_cifar10(tmp_path)
    data = load_dataset("cifar10", tmp_path, **SPLIT, max_train=30)
    assert len(data.y_train) == 30 and np.bincount(data.y_train, minlength=10).tolist() == [3] * 10
    assert len(data.y_val) == 20


def test_cifar10_found_in_its_unpacked_subfolder(tmp_path):
    write_cifar10(tmp_path / "cifar-10-batches-py")
    assert load_dataset("cifar10", tmp_path, **SPLIT).x_test.shape == (20, 3, 32, 32)


def test_cifar10_reads_batches_pickled_by_numpy_1(tmp_path):
    # numpy 1.x (which pickled the real files) names numpy.core.multiarray._reconstruct
    write_cifar10(tmp_path)
    for file in tmp_path.glob("*_batch*"):
        blob = file.read_bytes()
        assert b"numpy._core.multiarray" in blob
        file.write_bytes(blob.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    assert load_dataset("cifar10", tmp_path, **SPLIT).x_test[0, 0, 2, 5] == pytest.approx(200 / 255)


@pytest.mark.parametrize("path", [None, "", "  "])
def test_cifar10_without_path(path):
    with pytest.raises(DataError, match=r"cifar10 needs a data path.*\[data\] path.*data_batch_1"):
        load_dataset("cifar10", path, **SPLIT)


def test_cifar10_missing_directory(tmp_path):
    with pytest.raises(DataError, match=r"cifar10 data not found: .*nowhere does not exist.*CIFAR-10 python version"):
        load_dataset("cifar10", tmp_path / "nowhere", **SPLIT)


def test_cifar10_empty_directory(tmp_path):
    with pytest.raises(DataError, match=r"data_batch_1\.\.5, test_batch\) in .* or .*cifar-10-batches-py"):
        load_dataset("cifar10", tmp_path, **SPLIT)


def test_cifar10_path_is_a_file(tmp_path):
    (tmp_path / "x.tar.gz").write_bytes(b"")
    with pytest.raises(DataError, match="is not a folder"):
        load_dataset("cifar10", tmp_path / "x.tar.gz", **SPLIT)


@pytest.mark.parametrize("missing", ["data_batch_3", "test_batch"])
def test_cifar10_missing_batch_is_named(tmp_path, missing):
    write_cifar10(tmp_path)
    (tmp_path / missing).unlink()
    with pytest.raises(DataError, match=f"{missing} is missing"):
        load_dataset("cifar10", tmp_path, **SPLIT)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"this is not a pickle at all", "not a valid pickle"),
        (b"", "not a valid pickle"),
        (pickle.dumps([1, 2, 3]), "not a cifar10 python batch"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)}), r"b'labels'"),
        (pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}), r"\(N, 3072\)"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.float64), b"labels": [0, 1]}), "uint8"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1, 2]}), "2 images but 3 labels"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}), r"labels must lie in 0\.\.9"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": ["a", "b"]}), "integer labels"),
    ],
)
def test_cifar10_corrupt_or_foreign_batch(tmp_path, content, expected):
    write_cifar10(tmp_path)
    (tmp_path / "data_batch_2").write_bytes(content)
    with pytest.raises(DataError, match=expected) as error:
        load_dataset("cifar10", tmp_path, **SPLIT)
    assert "data_batch_2" in str(error.value)


def test_truncated_pickle_is_a_data_error(tmp_path):
    write_cifar10(tmp_path)
    blob = (tmp_path / "data_batch_4").read_bytes()
    (tmp_path / "data_batch_4").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="data_batch_4.*not a valid pickle"):
        load_dataset("cifar10", tmp_path, **SPLIT)


@pytest.mark.parametrize("payload", [Boom, Sneaky])
def test_malicious_pickle_is_refused_without_running(tmp_path, payload):
    write_cifar10(tmp_path)
    marker = tmp_path / "pwned"
    batch = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1], b"x": payload(marker)}
    (tmp_path / "data_batch_1").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DataError, match=r"data_batch_1.*refusing to load (posix\.system|(__builtin__|builtins)\.eval)"):
        load_dataset("cifar10", tmp_path, **SPLIT)
    assert not marker.exists()
    (tmp_path / "evil").write_bytes(pickle.dumps(payload(marker)))
    with pytest.raises(DataError, match="refusing"):
        load_pickle(tmp_path / "evil", "cifar10")
    assert not marker.exists()


def test_codecs_encode_with_a_foreign_codec_is_refused(tmp_path):
    # protocol 2 pickles bytes as _codecs.encode(text, 'latin1'); any other codec is refused
    blob = pickle.dumps(b"abc", protocol=2).replace(b"latin1", b"rot_13")
    (tmp_path / "odd").write_bytes(blob)
    with pytest.raises(DataError, match="rot_13"):
        load_pickle(tmp_path / "odd", "cifar10")


# --------------------------------------------------------------------------------------------
# cifar100


def test_cifar100_fine_labels_and_100_classes(tmp_path):
    write_cifar100(tmp_path / "cifar-100-python")
    data = load_dataset("cifar100", tmp_path, val_fraction=0.5, test_fraction=0.3, split_seed=0)
    assert data.n_classes == 100 and data.name == "cifar100"
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (100, 100, 100)
    np.testing.assert_array_equal(np.bincount(data.y_val, minlength=100), 1)
    np.testing.assert_array_equal(data.y_train, image_ids(data.x_train) % 100)
    np.testing.assert_array_equal(data.y_test, np.arange(100))


def test_cifar100_missing_test_file_is_named(tmp_path):
    write_cifar100(tmp_path)
    (tmp_path / "test").unlink()
    with pytest.raises(DataError, match=r"cifar100 data incomplete: .*test is missing.*CIFAR-100 python version"):
        load_dataset("cifar100", tmp_path, **SPLIT)


def test_cifar100_needs_fine_labels(tmp_path):
    write_cifar100(tmp_path)
    with open(tmp_path / "train", "wb") as stream:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}, stream, protocol=2)
    with pytest.raises(DataError, match=r"b'fine_labels'"):
        load_dataset("cifar100", tmp_path, **SPLIT)


def test_cifar100_without_path():
    with pytest.raises(DataError, match="cifar100 needs a data path"):
        load_dataset("cifar100", None, **SPLIT)


# --------------------------------------------------------------------------------------------
# tinyimagenet


def test_tinyimagenet_reads_jpegs_in_wnid_order(tmp_path):
    write_tinyimagenet(tmp_path / "tiny-imagenet-200")
    data = load_dataset("tinyimagenet", tmp_path, val_fraction=0.25, test_fraction=0.9, split_seed=0)
    assert data.x_train.shape == (9, 3, 64, 64) and data.x_val.shape == (3, 3, 64, 64)
    assert data.x_test.shape == (6, 3, 64, 64) and data.x_test.dtype == np.float32
    assert (data.n_classes, data.side, data.channels) == (3, 64, 3)
    np.testing.assert_array_equal(np.bincount(data.y_val, minlength=3), 1)
    for x, y in ((data.x_train, data.y_train), (data.x_val, data.y_val), (data.x_test[1:], data.y_test[1:])):
        colours = np.asarray(COLOURS, dtype=np.float32)[y] / 255  # class index = line order in wnids.txt
        np.testing.assert_allclose(x.mean(axis=(2, 3)), colours, atol=4 / 255)  # JPEG is lossy
    np.testing.assert_array_equal(data.y_test, [0, 1, 2, 0, 1, 2])
    grey = data.x_test[0]
    np.testing.assert_allclose(grey, 90 / 255, atol=3 / 255)
    np.testing.assert_array_equal(grey[0], grey[1])


def test_tinyimagenet_missing_wnids(tmp_path):
    write_tinyimagenet(tmp_path)
    (tmp_path / "wnids.txt").unlink()
    with pytest.raises(DataError, match=r"wnids\.txt is missing"):
        load_dataset("tinyimagenet", tmp_path, **SPLIT)


def test_tinyimagenet_missing_annotations(tmp_path):
    write_tinyimagenet(tmp_path)
    (tmp_path / "val" / "val_annotations.txt").unlink()
    with pytest.raises(DataError, match=r"val_annotations\.txt is missing"):
        load_dataset("tinyimagenet", tmp_path, **SPLIT)


def test_tinyimagenet_missing_class_folder(tmp_path):
    write_tinyimagenet(tmp_path)
    (tmp_path / "wnids.txt").write_text("\n".join([*WNIDS, "n00000001"]))
    with pytest.raises(DataError, match=r"n00000001.images is missing"):
        load_dataset("tinyimagenet", tmp_path, **SPLIT)


def test_tinyimagenet_annotation_with_unknown_wnid(tmp_path):
    write_tinyimagenet(tmp_path)
    annotations = tmp_path / "val" / "val_annotations.txt"
    annotations.write_text(annotations.read_text() + "val_0.JPEG\tn12345678\t0\t0\t1\t1\n")
    with pytest.raises(DataError, match=r"line 7 names n12345678, which is not in wnids\.txt"):
        load_dataset("tinyimagenet", tmp_path, **SPLIT)


def test_tinyimagenet_annotated_image_missing(tmp_path):
    write_tinyimagenet(tmp_path)
    (tmp_path / "val" / "images" / "val_3.JPEG").unlink()
    with pytest.raises(DataError, match=r"val_3\.JPEG is missing"):
        load_dataset("tinyimagenet", tmp_path, **SPLIT)


def test_tinyimagenet_wrong_size_or_broken_image(tmp_path):
    write_tinyimagenet(tmp_path)
    image = tmp_path / "train" / WNIDS[1] / "images" / f"{WNIDS[1]}_2.JPEG"
    Image.new("RGB", (64, 48)).save(image)
    with pytest.raises(DataError, match=r"_2\.JPEG is 64×48, expected 64×64"):
        load_dataset("tinyimagenet", tmp_path, **SPLIT)
    image.write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=r"cannot read image .*_2\.JPEG"):
        load_dataset("tinyimagenet", tmp_path, **SPLIT)


def test_tinyimagenet_missing_directory(tmp_path):
    with pytest.raises(DataError, match=r"tinyimagenet data not found: .*absent does not exist.*wnids\.txt"):
        load_dataset("tinyimagenet", tmp_path / "absent", **SPLIT)


# --------------------------------------------------------------------------------------------
# npz


def write_npz(file: Path, n: int = 40, **arrays) -> Path:
    rng = np.random.default_rng(0)
    base = {"x": rng.integers(0, 256, size=(n, 3, 6, 6), dtype=np.uint8), "y": np.arange(n) % 4}
    np.savez(file, **{**base, **arrays})
    return file


def test_npz_uint8_is_scaled_and_split_like_digits(tmp_path):
    x = np.zeros((40, 3, 6, 6), np.uint8)
    x[:, 1, 2, 3] = 255
    x[:, 0, 0, 0] = np.arange(40)
    file = write_npz(tmp_path / "d.npz", x=x)
    data = load_dataset("npz", file, **SPLIT)
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (24, 8, 8)
    assert (data.n_classes, data.channels, data.side, data.name) == (4, 3, 6, "npz")
    np.testing.assert_array_equal(data.x_test[:, 1, 2, 3], 1.0)
    ids = [np.rint(s[:, 0, 0, 0] * 255).astype(int) for s in (data.x_train, data.x_val, data.x_test)]
    assert sorted(np.concatenate(ids)) == list(range(40))
    np.testing.assert_array_equal(data.y_train, ids[0] % 4)
    assert data.mean.shape == data.std.shape == (3,)
    np.testing.assert_allclose(data.mean, data.x_train.mean(axis=(0, 2, 3)), rtol=1e-5)


def test_npz_floats_used_as_given_and_own_test_set(tmp_path):
    x = np.random.default_rng(1).random((20, 1, 5, 5))
    file = write_npz(tmp_path / "f.npz", x=x, y=np.arange(20) % 2,
                     x_test=np.full((6, 1, 5, 5), 0.25, np.float32), y_test=np.array([0, 1, 2, 0, 1, 2]))
    data = load_dataset("npz", file, val_fraction=0.2, test_fraction=0.9, split_seed=3)
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (16, 4, 6)
    assert data.n_classes == 3 and np.all(data.x_test == 0.25)
    np.testing.assert_allclose(np.sort(np.concatenate([data.x_train, data.x_val]).ravel()),
                               np.sort(x.astype(np.float32).ravel()))


@pytest.mark.parametrize(
    ("arrays", "expected"),
    [
        ({"y": None}, "no array 'y'"),
        ({"x": np.zeros((40, 6, 6), np.uint8)}, "must be 4-D"),
        ({"x": np.zeros((40, 3, 6, 5), np.uint8)}, "must be square"),
        ({"x": np.zeros((40, 6, 6, 3), np.uint8)}, "channels-last"),
        ({"y": np.arange(39) % 4}, "40 images but y has 39 labels"),
        ({"y": np.zeros(40)}, "integer labels"),
        ({"y": np.full(40, -1)}, "0..K-1"),
        ({"x": np.full((40, 3, 6, 6), np.nan)}, "NaN or infinite"),
        ({"x": np.full((40, 3, 6, 6), 3.0)}, r"must lie in \[0, 1\]"),
        ({"x_test": np.zeros((2, 3, 6, 6), np.uint8)}, "has x_test but no y_test"),
        ({"x_test": np.zeros((2, 3, 4, 4), np.uint8), "y_test": np.zeros(2, int)}, "x_test images are"),
    ],
)
def test_npz_malformed(tmp_path, arrays, expected):
    file = tmp_path / "bad.npz"
    rng = np.random.default_rng(0)
    base = {"x": rng.integers(0, 256, size=(40, 3, 6, 6), dtype=np.uint8), "y": np.arange(40) % 4}
    merged = {k: v for k, v in {**base, **arrays}.items() if v is not None}
    np.savez(file, **merged)
    with pytest.raises(DataError, match=expected):
        load_dataset("npz", file, **SPLIT)


def test_npz_missing_file_folder_and_garbage(tmp_path):
    with pytest.raises(DataError, match="npz needs a data path"):
        load_dataset("npz", None, **SPLIT)
    with pytest.raises(DataError, match="missing.npz does not exist"):
        load_dataset("npz", tmp_path / "missing.npz", **SPLIT)
    with pytest.raises(DataError, match="is a folder"):
        load_dataset("npz", tmp_path, **SPLIT)
    (tmp_path / "junk.npz").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"junk\.npz is not a valid \.npz of arrays \(not a zip archive"):
        load_dataset("npz", tmp_path / "junk.npz", **SPLIT)


def test_npz_refuses_pickled_objects(tmp_path):
    file = tmp_path / "obj.npz"
    np.savez(file, x=np.array([Boom(tmp_path / "pwned")], dtype=object), y=np.zeros(1, int))
    with pytest.raises(DataError, match="holds object arrays"):
        load_dataset("npz", file, **SPLIT)
    assert not (tmp_path / "pwned").exists()


# --------------------------------------------------------------------------------------------
# DataSplits and the package


def splits(x_shape=(4, 2, 3, 3)) -> DataSplits:
    x = np.zeros(x_shape, np.float32)
    y = np.zeros(x_shape[0], np.int64)
    return DataSplits(x, y, x, y, x, y, n_classes=1, name="t")


def test_datasplits_checks_shapes_and_dtypes():
    data = splits()
    assert (data.channels, data.side) == (2, 3)
    with pytest.raises(DataError, match="square"):
        splits((4, 2, 3, 5))
    with pytest.raises(DataError, match="float32"):
        DataSplits(*(np.zeros((2, 1, 2, 2)), np.zeros(2, np.int64)) * 3, n_classes=1, name="t")
    with pytest.raises(DataError, match="int64"):
        DataSplits(*(np.zeros((2, 1, 2, 2), np.float32), np.zeros(2, np.int32)) * 3, n_classes=1, name="t")
    with pytest.raises(AttributeError):
        data.name = "other"  # frozen


def test_mean_and_std_per_channel_on_train():
    x = np.zeros((2, 2, 2, 2), np.float32)
    x[:, 1] = [[[0.0, 1.0], [0.0, 1.0]]]
    y = np.zeros(2, np.int64)
    other = np.ones((1, 2, 2, 2), np.float32)
    data = DataSplits(x, y, other, y[:1], other, y[:1], n_classes=1, name="t")
    np.testing.assert_allclose(data.mean, [0.0, 0.5])
    np.testing.assert_allclose(data.std, [0.0, 0.5])
    assert data.mean.dtype == data.std.dtype == np.float32


def test_data_package_does_not_import_torch():
    package = Path(__file__).parents[1] / "moo_snn" / "data"
    for file in package.glob("*.py"):
        for node in ast.walk(ast.parse(file.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.split(".")[0] in ("torch", "torchvision") for n in names), file


def test_the_split_fractions_are_documented_as_the_splits_use_them():
    """``moo-snn problems --keys``: val_fraction is of all the samples where the data set has no test split of its
    own (digits: ceil(0.15 x 1797) = 270, not 0.15 of the 1438 left for training), else of the training samples."""
    from dataclasses import fields

    from moo_snn.config.problem import DataSpec

    doc = {f.name: f.metadata["doc"] for f in fields(DataSpec)}
    assert "of all the samples where the data set has no test split of its own (digits, npz without" in doc["val_fraction"]
    assert "else of the training samples (cifar10, cifar100, tinyimagenet, npz with" in doc["val_fraction"]
    assert "of all the samples held out for test where the data set has no test split of its own" in doc["test_fraction"]
    digits = load_dataset("digits", None, val_fraction=0.15, test_fraction=0.2, split_seed=0)
    assert len(digits.y_val) == 270 and len(digits.y_test) == 360  # ceil(0.15 x 1797), ceil(0.2 x 1797)
