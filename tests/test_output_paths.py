"""Every output option: missing folders are created; a folder, a path under a file or an unwritable
place is one line (exit 2) before the work (:mod:`moo_snn.outputs`).

Before: ``train --save newdir/sub/w.pt`` trained fully, then "unexpected error RuntimeError: Parent
directory ... does not exist — a bug" (exit 1); ``--save adir`` failed the same way after the training.
"""

import shlex

import pytest
from typer.testing import CliRunner

from moo_snn.cli import app

from cli_runs import make_run

OUTPUTS = {
    # label: (command with {d} the scratch folder, {run} a results file; {out} the destination)
    "train --save": "train digits --epochs 1 --save {out}",
    "export --nir": "export {run} --nir {out}",
    "pareto --csv": "pareto {run} --csv {out}",
    "pareto --plot": "pareto {run} --plot {out}",
    "optimize --out": "optimize digits --out {out}",
    "surrogate build --out": "surrogate build digits --n 2 --out {out}",
    "surrogate report --plot": "surrogate report digits --folds 2 --plot {out}",
}
SUFFIX = {"train --save": ".pt", "export --nir": ".nir", "pareto --csv": ".csv", "pareto --plot": ".png",
          "optimize --out": ".nc", "surrogate build --out": ".nc", "surrogate report --plot": ".png"}


@pytest.fixture(scope="module")
def run_path(tmp_path_factory):
    """A small run (made-up trainings), with weights for its knee (an untrained network: export needs no training)."""
    from moo_snn.results import open_results
    from moo_snn.results.weights import weights_file
    from moo_snn.architecture import Architecture
    from moo_snn.training.network import SpikingNetwork
    from moo_snn.training.trainer import save_weights

    path = make_run(tmp_path_factory.mktemp("run") / "run.nc")
    ds = open_results(path)
    spec = ds.moo.problem()
    for arch in {str(a) for a in ds.arch.values}:
        parsed = Architecture.parse(arch)
        save_weights(SpikingNetwork(parsed.pruned(), spec.network_input, spec.training), parsed, weights_file(path, arch))
    return path


@pytest.fixture
def no_work(monkeypatch):
    """Reading data, cross-validating or starting workers is a failure of the test: the destination comes first."""
    def work(*args, **kwargs):
        raise AssertionError("work started before the destination was checked")

    monkeypatch.setattr("moo_snn.data.load_problem_data", work)
    monkeypatch.setattr("moo_snn.surrogate.report.predictor_report", work)
    monkeypatch.setattr("moo_snn.executor.make_executor", work)


def invoke(label, out, tmp_path, run_path):
    args = shlex.split(OUTPUTS[label].format(out=out, d=tmp_path, run=run_path))
    result = CliRunner().invoke(app, args)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return result, lines


def test_the_table_covers_every_output_option():
    """Every command option that names a file to write is in OUTPUTS (a new one must be added)."""
    import typer.main

    found = set()
    group = typer.main.get_command(app)
    commands = [(name, cmd) for name, cmd in group.commands.items()]
    commands += [(f"surrogate {name}", cmd) for name, cmd in group.commands["surrogate"].commands.items()]
    for name, cmd in commands:
        for param in getattr(cmd, "params", []):
            if param.name in ("save", "nir", "csv", "plot", "out"):
                found.add(f"{name} {param.opts[0]}")
    assert found == set(OUTPUTS)


@pytest.mark.parametrize("label", ["train --save", "export --nir", "pareto --csv", "pareto --plot", "surrogate report --plot"])
def test_missing_folders_of_a_destination_are_created(label, tmp_path, run_path):
    out = tmp_path / "new" / "sub" / f"file{SUFFIX[label]}"
    result, lines = invoke(label, out, tmp_path, run_path)
    assert result.exit_code == 0, (result.exit_code, result.stderr, result.exception)
    assert out.is_file() and out.stat().st_size > 0


@pytest.mark.parametrize("label", list(OUTPUTS))
def test_a_folder_is_one_line_before_the_work(label, tmp_path, run_path, no_work):
    folder = tmp_path / f"folder{SUFFIX[label]}"
    folder.mkdir()
    result, lines = invoke(label, folder, tmp_path, run_path)
    assert result.exit_code == 2, (result.exit_code, result.stderr, result.exception)
    assert len(lines) == 1 and lines[0].startswith("error: ") and "is a folder" in lines[0], result.stderr
    assert result.stdout == "" and list(folder.iterdir()) == []


@pytest.mark.parametrize("label", list(OUTPUTS))
def test_a_path_under_a_file_is_one_line_before_the_work(label, tmp_path, run_path, no_work):
    (tmp_path / "a-file").write_text("")
    result, lines = invoke(label, tmp_path / "a-file" / "sub" / f"x{SUFFIX[label]}", tmp_path, run_path)
    assert result.exit_code == 2, (result.exit_code, result.stderr, result.exception)
    assert len(lines) == 1 and "cannot write there (" in lines[0] and "a-file is not a folder" in lines[0], result.stderr
    assert result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


@pytest.mark.parametrize("label", list(OUTPUTS))
def test_an_unwritable_folder_is_one_line_before_the_work(label, tmp_path, run_path, no_work):
    """A folder that refuses new files (a read-only bind would do; /proc refuses them to root too)."""
    import os

    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        target = locked if os.geteuid() != 0 else "/proc"  # root passes permission bits
        result, lines = invoke(label, f"{target}/new/x{SUFFIX[label]}", tmp_path, run_path)
    finally:
        locked.chmod(0o700)
    assert result.exit_code == 2, (result.exit_code, result.stderr, result.exception)
    assert len(lines) == 1 and "cannot write there (" in lines[0], result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("label", ["pareto --plot", "surrogate report --plot"])
def test_a_figure_format_matplotlib_cannot_write_is_refused_first(label, tmp_path, run_path, no_work):
    result, lines = invoke(label, tmp_path / "front.xyz", tmp_path, run_path)
    assert result.exit_code == 2 and len(lines) == 1 and "cannot write .xyz figures" in lines[0], result.stderr
    assert result.stdout == ""
