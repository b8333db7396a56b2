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

