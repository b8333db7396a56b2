"""Problem files: the shipped ones load; every malformed one is one clear error (exit code 2)."""

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from moo_snn.cli import app
from moo_snn.config.problem import load_problem, parse_problem
from moo_snn.errors import ProblemError
from moo_snn.resources import shipped_problems

REPO_PROBLEMS = Path(__file__).resolve().parents[1] / "problems"  # the repository's top-level folder
SHIPPED = [p.stem for p in sorted(REPO_PROBLEMS.glob("*.toml"))]
GOOD = (REPO_PROBLEMS / "digits.toml").read_text()


def test_the_four_problems_ship():
    assert {"cifar10-hasnas", "cifar100-hasnas", "digits", "tinyimagenet-neuronas"} <= set(SHIPPED)  # DESIGN §2
    # the package data (importlib.resources) are the repository's problems/ folder, not a copy
    assert list(shipped_problems()) == SHIPPED
    assert all(path.read_text() == (REPO_PROBLEMS / f"{name}.toml").read_text() for name, path in shipped_problems().items())


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_problems_load(name):
    spec = load_problem(name)
    assert spec.name == name
    assert spec.reference_arch.is_valid
    assert spec.source == (REPO_PROBLEMS / f"{name}.toml").read_text()


def test_hasnas_problems_carry_the_papers_limits_and_snasnet_recipe():
    for name, cell in (("cifar10-hasnas", "0303-0030-2002-0200_c256_t5_w4_p4_h1024"),
                       ("cifar100-hasnas", "0302-0030-3003-0000_c128_t5_w4_p2_h1024")):
        spec = load_problem(name)
        assert str(spec.reference_arch) == cell
        assert {(c.name, c.limit, c.kind) for c in spec.constraints} == {
            ("params", 4e6, "max"), ("area_mm2", 100.0, "max"), ("latency_ms", 400.0, "max"), ("energy_uJ", 120.0, "max")}
        t = spec.training
        assert (t.optimizer, t.lr, t.momentum, t.weight_decay, t.schedule, t.epochs, t.batch_size, t.augment) == (
            "sgd", 0.1, 0.9, 5e-4, "cosine", 300, 64, "crop_flip")
        assert spec.space.timesteps == (5,)
    assert load_problem("tinyimagenet-neuronas").space.weight_bits == (8,)


def test_digits_limits_bind_and_the_constraint_sign_convention():
    spec = load_problem("digits")
    acc = next(c for c in spec.constraints if c.name == "accuracy")
    assert acc.kind == "min" and acc.violation(0.95) < 0 < acc.violation(0.85)
    energy = next(c for c in spec.constraints if c.name == "energy_uJ")
    assert energy.violation(energy.limit * 2) > 0 > energy.violation(energy.limit / 2)


def _edit(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


BAD = [
    ("not toml", "this is = = not toml", "not valid TOML"),
    ("unknown top-level key", "foo = 1\n" + GOOD, "unknown top-level key 'foo'"),
    ("unknown section key", _edit("epochs = 10", "epoch = 10"), "[training]: unknown key 'epoch' (did you mean 'epochs'?)"),
    ("wrong type", _edit("epochs = 10", 'epochs = "ten"'), "[training] epochs: expected an integer, found 'ten'"),
    ("float for int", _edit("epochs = 10", "epochs = 2.5"), "[training] epochs: expected an integer"),
    ("negative value", _edit("epochs = 10", "epochs = -3"), "[training] epochs: -3 is below the minimum 1"),
    ("huge value", _edit("epochs = 10", "epochs = 10000000"), "above the maximum"),
    ("empty choice list", _edit("channels = [4, 8, 16, 32]", "channels = []"), "[space] channels: the list is empty"),
    ("unknown op", _edit('ops = ["zero", "skip", "conv1x1", "conv3x3"]', 'ops = ["zero", "conv5x5"]'), "unknown value 'conv5x5'"),
    ("only zero op", _edit('ops = ["zero", "skip", "conv1x1", "conv3x3"]', 'ops = ["zero"]'), "at least one operation other than 'zero'"),
    ("duplicate choices", _edit("timesteps = [1, 2, 4, 6]", "timesteps = [2, 2]"), "duplicates"),
    ("unknown optimiser", _edit('optimizer = "adam"', 'optimizer = "adamax"'), "valid: adam, adamw, sgd"),
    ("unknown dataset", _edit('dataset = "digits"', 'dataset = "mnist"'), "[data] dataset: unknown value 'mnist'"),
    ("pool does not divide", _edit("final_pool = [1, 2, 4]", "final_pool = [3]"), "final_pool 3 does not divide the side after reduction (4); valid: [1, 2, 4]"),
    ("bad reference arch", _edit('reference_arch = "0303-0030-0003-0000_c16_t4_w4_p1_h0"', 'reference_arch = "0303"'), "reference_arch"),
    ("missing reference arch", _edit('reference_arch = "0303-0030-0003-0000_c16_t4_w4_p1_h0"', ""), "missing top-level key 'reference_arch'"),
    ("unknown objective", _edit('names = ["accuracy", "energy_uJ", "latency_ms"]', 'names = ["acuracy"]'), "unknown objective 'acuracy' (did you mean 'accuracy'?)"),
    ("unknown constraint", _edit("memory_kB = 8", "memory = 8"), "[constraints] memory: unknown metric (did you mean 'memory_kB'?)"),
    ("negative limit", _edit("memory_kB = 8", "memory_kB = -8"), "impossible limit -8"),
    ("accuracy above 1", _edit("accuracy = { min = 0.9 }", "accuracy = { min = 1.5 }"), "impossible limit 1.5"),
    ("bad limit table", _edit("memory_kB = 8", "memory_kB = { below = 8 }"), "one key, 'max' or 'min'"),
    ("string limit", _edit("memory_kB = 8", 'memory_kB = "8"'), "expected a finite number as limit"),
    ("nan value", _edit("lr = 0.01", "lr = nan"), "expected a finite number"),
    ("section not a table", _edit("[search]", "search = 3\n[search2]"), "unknown top-level key 'search2'"),
    ("cifar without path", _edit('dataset = "digits"', 'dataset = "cifar10"'), "[data] path is required for dataset 'cifar10'"),
    ("bad hardware mode", _edit('mode = "extended"', 'mode = "spikessim"'), "(did you mean 'spikesim'?)"),
    ("bool for number", _edit("spike_rate = 0.2", "spike_rate = true"), "expected a number, found True"),
]


@pytest.mark.parametrize("label, text, fragment", BAD, ids=[b[0] for b in BAD])
def test_malformed_problem_is_one_clear_error(label, text, fragment):
    with pytest.raises(ProblemError) as info:
        parse_problem(text, source="bad.toml")
    message = str(info.value)
    assert fragment in message
    assert message.startswith("bad.toml") and "\n" not in message


@pytest.mark.parametrize("label, text, fragment", BAD[::3], ids=[b[0] for b in BAD[::3]])
def test_malformed_problem_exits_2_from_the_cli_without_traceback(tmp_path: Path, label, text, fragment):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = CliRunner().invoke(app, ["train", str(path), "--epochs", "1"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "bad.toml" in lines[0] and "error" in lines[0]
    assert fragment in lines[0]  # table names like [training] survive the terminal markup


def test_missing_problem_file_names_the_shipped_ones():
    result = CliRunner().invoke(app, ["train", "no-such-problem"])
    assert result.exit_code == 2
    assert "not found" in result.stderr and "digits" in result.stderr


def test_a_checkout_used_without_installing_it_finds_its_shipped_files(monkeypatch):
    """No importable moo_snn.problems (PYTHONPATH=. or an old editable install): the checkout's folders."""
    import moo_snn.resources as resources

    def not_installed(package):
        raise ModuleNotFoundError(f"No module named {package!r}", name=package)

    monkeypatch.setattr(resources, "files", not_installed)
    assert resources.shipped_problems() == {p.stem: p for p in sorted(REPO_PROBLEMS.glob("*.toml"))}
    assert resources.shipped_archive("digits") == REPO_PROBLEMS.parent / "surrogates" / "digits.nc"
    with pytest.raises(ProblemError, match="missing from this installation"):
        resources._folder("moo_snn.nothing_here")


@pytest.mark.parametrize("name, split", [("cifar10-hasnas", "test_batch"), ("cifar100-hasnas", "the test file"),
                                         ("tinyimagenet-neuronas", "val/")])
def test_test_fraction_is_an_error_where_the_data_set_has_its_own_test_split(name, split):
    """CIFAR and TinyImageNet are tested on their own test split: a test_fraction there was ignored without a word."""
    from moo_snn.config.problem import load_problem

    text = load_problem(name).source.replace("val_fraction = 0.1\n", "val_fraction = 0.1\ntest_fraction = 0.3\n", 1)
    dataset = name.split("-")[0]
    with pytest.raises(ProblemError, match=rf"^x.toml: \[data\] test_fraction: {dataset} has a fixed test split \({re.escape(split)}"):
        parse_problem(text, "x.toml")
    parse_problem(text.replace("test_fraction = 0.3\n", ""), "x.toml")  # without it: fine
    parse_problem(text, "x.toml", check_plugins=False)  # a results file's problem (written before the check) still reads
