"""Data faults a new user found (installed from a wheel): each is one line naming the file and the fix.

Fixtures are tiny files in the real formats (``test_data``'s writers), written in ``tmp_path``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import moo_snn.resources as resources
from moo_snn.cli import app
from moo_snn.config.problem import load_problem
from moo_snn.data import load_problem_data
from moo_snn.errors import DataError
from test_data import write_cifar10

REPO = Path(__file__).resolve().parents[1]


def _one_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


# --------------------------------------------------------------------------------------------
# 1. a shipped problem's relative [data] path is read from the current folder


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """The shipped problems as a wheel installs them (site-packages/moo_snn/problems); the user works elsewhere."""
    site = tmp_path / "site-packages" / "moo_snn" / "problems"
    site.mkdir(parents=True)
    for file in [*REPO.joinpath("problems").glob("*.toml"), REPO / "problems" / "__init__.py"]:
        shutil.copy2(file, site / file.name)
    monkeypatch.setattr(resources, "files", lambda package: site if package == resources.PROBLEMS_PACKAGE else
                        tmp_path / "site-packages" / "moo_snn" / "surrogates")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return site, work


@pytest.mark.parametrize(("name", "folder"), [("cifar10-hasnas", "cifar10"), ("cifar100-hasnas", "cifar100"),
                                              ("tinyimagenet-neuronas", "tiny-imagenet-200")])
def test_an_installed_shipped_problem_reads_its_data_from_the_current_folder(installed, name, folder):
    site, work = installed
    spec = load_problem(name)
    assert spec.data_path == work.resolve() / "data" / folder
    assert spec.file == str((site / f"{name}.toml").resolve())


def test_an_installed_shipped_problem_finds_data_put_where_the_readme_says(installed):
    _, work = installed
    write_cifar10(work / "data" / "cifar10", per_batch=10)
    data = load_problem_data(load_problem("cifar10-hasnas"))
    assert (len(data.y_test), data.n_classes, data.side) == (10, 10, 32)


def test_missing_data_of_an_installed_shipped_problem_says_where_to_put_it(installed):
    site, work = installed
    result = CliRunner().invoke(app, ["train", "cifar10-hasnas", "--epochs", "1"])
    assert result.exit_code == 2
    line = _one_line(result)
    assert f"{work.resolve() / 'data' / 'cifar10'} does not exist" in line
    assert "/.." not in line and "site-packages/moo_snn/data" not in line
    assert "data_batch_1..5, test_batch" in line                     # what to put there
    assert f"copy {(site / 'cifar10-hasnas.toml').resolve()}" in line  # the real file to copy and edit
    assert "[data] path" in line


def test_a_checkout_resolves_shipped_problems_from_the_current_folder_by_name_or_path(tmp_path, monkeypatch):
    """problems/ at the repository root (no installed moo_snn.problems): the same rule, named or given as a path."""
    def not_installed(package):
        raise ModuleNotFoundError(f"No module named {package!r}", name=package)

    monkeypatch.setattr(resources, "files", not_installed)
    monkeypatch.chdir(tmp_path)
    by_name = load_problem("cifar10-hasnas")
    by_path = load_problem(REPO / "problems" / "cifar10-hasnas.toml")
    assert by_name.data_path == by_path.data_path == tmp_path.resolve() / "data" / "cifar10"


def test_a_users_problem_file_reads_a_relative_path_from_its_own_folder(tmp_path, monkeypatch):
    mine = tmp_path / "mine"
    mine.mkdir()
    text = (REPO / "problems" / "cifar10-hasnas.toml").read_text()
    (mine / "p.toml").write_text(text.replace('path = "data/cifar10"', 'path = "../sets/../sets/cifar10"'))
    monkeypatch.chdir(REPO)  # not where the data are
    spec = load_problem(mine / "p.toml")
    assert spec.data_path == tmp_path.resolve() / "sets" / "cifar10"  # normalised: no '..'
    with pytest.raises(DataError) as info:
        load_problem_data(spec)
    message = str(info.value)
    assert f"{tmp_path.resolve() / 'sets' / 'cifar10'} does not exist" in message and "/.." not in message
    assert f"set [data] path in {(mine / 'p.toml').resolve()}" in message
    assert f"read from {mine.resolve()}" in message



# --------------------------------------------------------------------------------------------
# 2. a split with no images is a one-line DataError naming the data and the split, never accuracy 0.0

import pickle  # noqa: E402

import numpy as np  # noqa: E402

from moo_snn.data import load_dataset  # noqa: E402
from moo_snn.data.splits import LabelledImages, make_splits  # noqa: E402
from test_data import SPLIT, write_cifar100, write_npz, write_tinyimagenet  # noqa: E402


def _empty_batch(file: Path, label_key: bytes = b"labels") -> None:
    with open(file, "wb") as stream:
        pickle.dump({b"data": np.zeros((0, 3072), np.uint8), label_key: []}, stream, protocol=2)


@pytest.mark.parametrize("batch", ["data_batch_1", "data_batch_5", "test_batch"])
def test_an_empty_cifar10_batch_is_named(tmp_path, batch):
    write_cifar10(tmp_path)
    _empty_batch(tmp_path / batch)
    with pytest.raises(DataError, match=rf"{tmp_path / batch}: the cifar10 batch holds no images"):
        load_dataset("cifar10", tmp_path, **SPLIT)


@pytest.mark.parametrize("name", ["train", "test"])
def test_an_empty_cifar100_file_is_named(tmp_path, name):
    write_cifar100(tmp_path)
    _empty_batch(tmp_path / name, b"fine_labels")
    with pytest.raises(DataError, match=rf"{tmp_path / name}: the cifar100 batch holds no images"):
        load_dataset("cifar100", tmp_path, **SPLIT)


def test_tinyimagenet_without_images_names_the_split(tmp_path):
    root = write_tinyimagenet(tmp_path / "t")
    (root / "val" / "val_annotations.txt").write_text("\n")
    with pytest.raises(DataError, match=r"val_annotations\.txt lists no images"):
        load_dataset("tinyimagenet", root, **SPLIT)
    root = write_tinyimagenet(tmp_path / "u")
    for image in (root / "train" / "n01443537" / "images").iterdir():
        image.unlink()
    with pytest.raises(DataError, match=r"n01443537/images holds no \.JPEG images"):
        load_dataset("tinyimagenet", root, **SPLIT)


@pytest.mark.parametrize(("arrays", "split"), [
    ({"x": np.zeros((0, 3, 6, 6), np.uint8), "y": np.zeros(0, int)}, "x holds no images"),
    ({"x_test": np.zeros((0, 3, 6, 6), np.uint8), "y_test": np.zeros(0, int)}, "x_test holds no images"),
])
def test_npz_without_images_names_the_array(tmp_path, arrays, split):
    file = write_npz(tmp_path / "d.npz", **arrays)
    with pytest.raises(DataError, match=rf"{file}: {split}"):
        load_dataset("npz", file, **SPLIT)


def test_npz_fractions_that_leave_no_training_image(tmp_path):
    file = write_npz(tmp_path / "two.npz", n=2)
    with pytest.raises(DataError, match=rf"npz data {file}: the training split holds no images"):
        load_dataset("npz", file, val_fraction=0.3, test_fraction=0.5, split_seed=0)


@pytest.mark.parametrize(("data", "split"), [
    (LabelledImages(np.zeros((0, 1, 2, 2), np.float32), np.zeros(0, np.int64), None, None, 1), "training"),
    (LabelledImages(np.zeros((4, 1, 2, 2), np.float32), np.zeros(4, np.int64),
                    np.zeros((0, 1, 2, 2), np.float32), np.zeros(0, np.int64), 1), "test"),
])
def test_make_splits_refuses_an_empty_split(data, split):
    with pytest.raises(DataError, match=rf"^toy: the {split} split"):
        make_splits(data, "toy", **SPLIT)


def test_a_fraction_of_zero_still_asks_for_an_empty_split():
    data = load_dataset("digits", None, val_fraction=0.0, test_fraction=0.0, split_seed=0)
    assert len(data.y_val) == len(data.y_test) == 0 and len(data.y_train) == 1797


def test_training_on_an_empty_split_is_a_data_error_not_accuracy_zero():
    import torch

    from moo_snn.training.trainer import evaluate, train_architecture

    spec = load_problem("digits")
    data = load_dataset("digits", None, val_fraction=0.2, test_fraction=0.0, split_seed=0)
    with pytest.raises(DataError, match="digits: the test split holds no images"):
        train_architecture(spec, spec.reference_arch, data, epochs=1)
    with pytest.raises(DataError, match="no images"):
        evaluate(torch.nn.Identity(), torch.zeros(0, 10), torch.zeros(0, dtype=torch.long), 8, torch.device("cpu"))


CIFAR_PROBLEM = """\
name = "tiny-cifar"
reference_arch = "0003-0000-0000-0000_c4_t1_w4_p1_h0"
[data]
dataset = "cifar10"
path = "cifar"
[space]
channels = [4]
timesteps = [1]
final_pool = [1, 2]
hidden = [0]
stem_stride = 4
[training]
epochs = 1
[search]
rounds = 1
generations = 1
pop_size = 4
survivors = 1
bootstrap = 2
"""


@pytest.mark.parametrize("command", [["train"], ["optimize", "--archive", "none", "--out", "run.nc"]])
def test_an_empty_test_batch_stops_train_and_optimize_with_one_line(tmp_path, monkeypatch, command):
    write_cifar10(tmp_path / "cifar", per_batch=10)
    _empty_batch(tmp_path / "cifar" / "test_batch")
    (tmp_path / "p.toml").write_text(CIFAR_PROBLEM)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, [command[0], str(tmp_path / "p.toml"), *command[1:]])
    assert result.exit_code == 2, result.output
    assert "test_batch: the cifar10 batch holds no images" in _one_line(result)


# --------------------------------------------------------------------------------------------
# 3. every file a loader reads: unreadable, a folder or not text is a DataError naming the file


@pytest.mark.parametrize("name", ["wnids.txt", "val/val_annotations.txt"])
@pytest.mark.parametrize("fault", ["latin-1", "folder"])
def test_tinyimagenet_text_files_that_cannot_be_read_are_named(tmp_path, name, fault):
    root = write_tinyimagenet(tmp_path / "t")
    file = root / name
    if fault == "folder":
        file.unlink()
        file.mkdir()
        expected = rf"tinyimagenet: {file} is a folder; it should be a text file"
    else:
        file.write_bytes(file.read_bytes() + "caf\xe9\n".encode("latin-1"))
        expected = rf"tinyimagenet: {file} is not UTF-8 text"
    with pytest.raises(DataError, match=expected):
        load_dataset("tinyimagenet", root, **SPLIT)


def test_tinyimagenet_text_files_with_a_bom_are_read(tmp_path):
    root = write_tinyimagenet(tmp_path / "t")
    (root / "wnids.txt").write_bytes(b"\xef\xbb\xbf" + (root / "wnids.txt").read_bytes())
    assert load_dataset("tinyimagenet", root, **SPLIT).n_classes == 3


def test_tinyimagenet_files_and_folders_swapped_are_named(tmp_path):
    root = write_tinyimagenet(tmp_path / "t")
    images = root / "train" / "n01443537" / "images"
    shutil.rmtree(images)
    images.write_text("")
    with pytest.raises(DataError, match=rf"{images} is not a folder"):
        load_dataset("tinyimagenet", root, **SPLIT)
    root = write_tinyimagenet(tmp_path / "u")
    image = root / "val" / "images" / "val_1.JPEG"
    image.unlink()
    image.mkdir()
    with pytest.raises(DataError, match=rf"{image} is not a file \(listed in"):
        load_dataset("tinyimagenet", root, **SPLIT)
    root = write_tinyimagenet(tmp_path / "v")
    image = next((root / "train" / "n05555555" / "images").iterdir())
    image.unlink()
    image.mkdir()
    with pytest.raises(DataError, match=rf"cannot read image {image}"):
        load_dataset("tinyimagenet", root, **SPLIT)


def test_a_cifar_batch_that_is_a_folder_is_named(tmp_path):
    write_cifar10(tmp_path)
    (tmp_path / "data_batch_2").unlink()
    (tmp_path / "data_batch_2").mkdir()
    with pytest.raises(DataError, match=rf"cannot read cifar10 file {tmp_path / 'data_batch_2'}"):
        load_dataset("cifar10", tmp_path, **SPLIT)


def test_a_broken_tinyimagenet_file_stops_train_with_one_line_exit_2(tmp_path):
    root = write_tinyimagenet(tmp_path / "tiny")
    (root / "wnids.txt").write_bytes(b"\xff\xfe" + "n1\n".encode("utf-16-le"))
    text = CIFAR_PROBLEM.replace('dataset = "cifar10"\npath = "cifar"', 'dataset = "tinyimagenet"\npath = "tiny"')
    (tmp_path / "p.toml").write_text(text)
    result = CliRunner().invoke(app, ["train", str(tmp_path / "p.toml")])
    assert result.exit_code == 2, result.output
    assert f"{root / 'wnids.txt'} is not UTF-8 text" in _one_line(result)


# --------------------------------------------------------------------------------------------
# 6. a file that is not an .npz of arrays: said so, never an invitation to load it unsafely

import zipfile  # noqa: E402

from test_data import Boom  # noqa: E402


def _text(file: Path) -> None:
    file.write_text("x,y\n1,2\n")


def _npy(file: Path) -> None:
    with open(file, "wb") as stream:
        np.save(stream, np.zeros((4, 1, 2, 2)))


def _raw_member(file: Path) -> None:
    with zipfile.ZipFile(file, "w") as archive:
        archive.writestr("x.npy", b"not an array")
        archive.writestr("y.npy", b"nor this")


def _objects(file: Path) -> None:
    np.savez(file, x=np.array([Boom(file.parent / "pwned")], dtype=object), y=np.zeros(1, int))


def _pickle(file: Path) -> None:
    with open(file, "wb") as stream:
        pickle.dump(Boom(file.parent / "pwned"), stream)


def _corrupt(file: Path) -> None:
    np.savez_compressed(file, x=np.arange(4000, dtype=np.uint8).reshape(10, 1, 20, 20), y=np.arange(10))
    data = bytearray(file.read_bytes())
    data[200:260] = bytes(60)
    file.write_bytes(bytes(data))


@pytest.mark.parametrize(("write", "said"), [
    (_text, "not a zip archive"), (_npy, "not a zip archive"), (_pickle, "not a zip archive"),
    (_raw_member, "its member 'x' is not a .npy array"), (_objects, "holds object arrays"), (_corrupt, "BadZipFile"),
])
def test_a_file_that_is_not_an_npz_of_arrays_is_said_so(tmp_path, write, said):
    file = tmp_path / "x.npz"
    write(file)
    with pytest.raises(DataError) as info:
        load_dataset("npz", file, **SPLIT)
    message = str(info.value)
    assert message.startswith(f"npz: {file} is not a valid .npz of arrays") and said in message
    assert "\n" not in message and "allow_pickle" not in message and "trust" not in message
    assert not (tmp_path / "pwned").exists()


NPZ_PROBLEM = CIFAR_PROBLEM.replace('dataset = "cifar10"\npath = "cifar"',
                                    'dataset = "npz"\npath = "x.npz"\nchannels = 3\nside = 8\nclasses = 4'
                                    ).replace("stem_stride = 4", "stem_stride = 2")


def test_train_and_plan_on_a_text_file_named_npz_are_one_line_exit_2(tmp_path):
    _text(tmp_path / "x.npz")
    (tmp_path / "p.toml").write_text(NPZ_PROBLEM)
    for command in (["train", str(tmp_path / "p.toml")], ["plan", str(tmp_path / "p.toml")]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 2, result.output
        assert f"{tmp_path / 'x.npz'} is not a valid .npz of arrays" in _one_line(result)


def test_plan_counts_an_npz_with_its_own_test_set(tmp_path):
    from moo_snn.config.problem import parse_problem
    from moo_snn.training.plan import split_sizes

    write_npz(tmp_path / "x.npz", n=40, x=np.zeros((40, 3, 8, 8), np.uint8),
              x_test=np.zeros((6, 3, 8, 8), np.uint8), y_test=np.arange(6) % 4)
    spec = parse_problem(NPZ_PROBLEM, base_dir=tmp_path)
    assert split_sizes(spec) == (40 - 6, 6 + 6)  # val: ceil(0.15 x 40) = 6 of x; test: the file's 6
    data = load_problem_data(spec)
    assert (len(data.y_train), len(data.y_val) + len(data.y_test)) == split_sizes(spec)


# --------------------------------------------------------------------------------------------
# 4. a shape mismatch names a fix that works; npz-only keys elsewhere are an error
# 5. [data] path with digits (which reads no file) is an error

from moo_snn.config.problem import parse_problem  # noqa: E402
from moo_snn.errors import ProblemError  # noqa: E402

TINY_PROBLEM = CIFAR_PROBLEM.replace('dataset = "cifar10"\npath = "cifar"', 'dataset = "tinyimagenet"\npath = "tiny"')


def test_tinyimagenet_with_other_than_200_classes_names_a_fix_that_works(tmp_path):
    write_tinyimagenet(tmp_path / "tiny")  # 3 wnids, not 200
    spec = parse_problem(TINY_PROBLEM, source="p.toml", base_dir=tmp_path)
    with pytest.raises(DataError) as info:
        load_problem_data(spec)
    message = str(info.value)
    assert "3-channel 64x64 images of 3 classes" in message and "of 200 classes" in message
    assert "fix [data] channels/side/classes" not in message
    assert 'set [data] dataset = "npz", channels = 3, side = 64, classes = 3' in message


def test_an_npz_of_another_shape_names_the_keys_to_set(tmp_path):
    write_npz(tmp_path / "x.npz", n=40, x=np.zeros((40, 3, 8, 8), np.uint8), y=np.arange(40) % 5)
    with pytest.raises(DataError, match=r"set \[data\] channels = 3, side = 8, classes = 5"):
        load_problem_data(parse_problem(NPZ_PROBLEM, base_dir=tmp_path))


@pytest.mark.parametrize("dataset", ['"cifar10"\npath = "cifar"', '"tinyimagenet"\npath = "t"', '"digits"'])
@pytest.mark.parametrize("keys", ["classes = 3", "side = 16\nchannels = 1"])
def test_npz_only_keys_with_another_data_set_are_refused(dataset, keys):
    text = CIFAR_PROBLEM.replace('dataset = "cifar10"\npath = "cifar"', f"dataset = {dataset}\n{keys}")
    with pytest.raises(ProblemError, match=r"^p\.toml: \[data\] (classes|channels, side): for dataset 'npz' only"):
        parse_problem(text, source="p.toml")


def test_a_path_with_digits_is_refused_naming_npz():
    text = CIFAR_PROBLEM.replace('dataset = "cifar10"', 'dataset = "digits"').replace("stem_stride = 4", "stem_stride = 1")
    with pytest.raises(ProblemError, match=r"^p\.toml: \[data\] path 'cifar' is given, but dataset 'digits' reads no "
                                           r"file .*set dataset = \"npz\""):
        parse_problem(text, source="p.toml")
    parse_problem(text.replace('path = "cifar"\n', ""), source="p.toml")  # digits without a path: fine


def test_a_path_with_digits_is_one_line_exit_2_from_the_cli(tmp_path):
    text = (REPO / "problems" / "digits.toml").read_text().replace('dataset = "digits"', 'dataset = "digits"\npath = "d.npz"')
    (tmp_path / "p.toml").write_text(text)
    result = CliRunner().invoke(app, ["train", str(tmp_path / "p.toml")])
    assert result.exit_code == 2
    assert "dataset 'digits' reads no file" in _one_line(result)
