"""Progress lines say what happens in the field's terms: the round (or the asynchronous search's predictor
refit) and the NSGA-II generation on the predictor; never a bare "pass" or a generation of something else."""

import io
import re

import pytest
from rich.console import Console
from typer.testing import CliRunner

from cli_runs import fake_train, small_text
from moo_snn.cli import app
from moo_snn.cli.progress import SearchProgress

NSGA = "NSGA-II on the predicted accuracy and the cost model"


def test_a_generation_line_names_the_phase_and_the_generation():
    buffer = io.StringIO()
    with SearchProgress(Console(file=buffer, width=300), interval_s=0) as progress:
        progress.phase(f"round 2/4: {NSGA}")
        progress.generation(2, 3, 40)
    lines = buffer.getvalue().splitlines()
    assert re.fullmatch(rf"\d\d:\d\d:\d\d round 2/4: {NSGA}, generation 3/40, ETA \d+:\d\d", lines[-1])


def test_a_log_counts_finished_trainings_and_never_claims_one_started():
    """On 2 workers the log said "training 2/6 started" when the first result came, while 3 had started (it took
    done + 1 for the count started). It now counts what is known, the finished ones, on each "trained" line."""
    buffer = io.StringIO()
    with SearchProgress(Console(file=buffer, width=300), interval_s=0) as progress:
        progress.phase("round 1/4: training 3 survivors")
        progress.training(0, 3, "")
        for done, arch in enumerate(["a", "b", "c"], start=1):
            progress.trained(arch, dict(status="trained", val_accuracy=0.9, train_seconds=1.0, **({"level": "L0 (8 ep, 0.25 data)"}
                                                                                                 if arch == "c" else {})))
            progress.training(done, 3, arch)
    lines = [line.split(" ", 1)[1] for line in buffer.getvalue().splitlines()]
    assert lines == ["round 1/4: training 3 survivors", "trained a (1/3): val acc 0.900 in 1.0 s",
                     "trained b (2/3): val acc 0.900 in 1.0 s",
                     "trained c (3/3) at L0 (8 ep, 0.25 data): val acc 0.900 in 1.0 s"]  # a proxy says so


@pytest.fixture
def fake_training(monkeypatch):
    from moo_snn.training import trainer

    monkeypatch.setattr(trainer, "train_architecture", fake_train)
    monkeypatch.setenv("MOO_SNN_LOG_INTERVAL", "0")


@pytest.mark.slow  # two small searches (made-up trainings): 20-40 s
@pytest.mark.parametrize("mode, says", [("--sync", rf"round 1/1: {NSGA}, generation 2/2"),
                                        ("--async", rf"asynchronous search, predictor refit 1: {NSGA}, generation 2/2")])
def test_the_search_log_says_round_or_refit_and_nsga2_generation(tmp_path, fake_training, mode, says):
    problem = tmp_path / "p.toml"
    problem.write_text(small_text())
    result = CliRunner().invoke(app, ["optimize", str(problem), mode, "--rounds", "1", "--generations", "2", "--pop-size", "8",
                                      "--survivors", "2", "--archive", "none", "--torch-threads", "1",
                                      "--out", str(tmp_path / "r.nc")])
    assert result.exit_code == 0, result.output
    assert re.search(rf"^\d\d:\d\d:\d\d {says}, ETA", result.stderr, re.M), result.stderr
    assert not re.search(r"\bpass \d", result.stderr)
