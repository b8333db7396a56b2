"""``--device`` and ``device=``: cpu, cuda or cuda:N, checked before anything is read, trained or written.

Before: ``train --device meta`` failed inside autocast ("unexpected error RuntimeError ... a bug"),
``optimize --device meta`` recorded every training failed and ended ``complete`` (exit 0), and
``optimize --device cuda`` without a GPU fitted the predictor, ran NSGA-II and left a results file
with status ``failed`` at its first training.
"""

import shlex

import pytest
from typer.testing import CliRunner

import moo_snn
from moo_snn.cli import app
from moo_snn.errors import TrainingError
from moo_snn.training import runtime

from cli_runs import make_run

OTHER_TYPES = ["meta", "mps", "xla", "cpu:0", "CUDA", "cuda:x", "tpu"]


@pytest.fixture
def no_gpu(monkeypatch):
    """torch sees no GPU (whatever this machine has)."""
    monkeypatch.setattr(runtime, "cuda_device_count", lambda: 0)


@pytest.fixture
def nothing_read(monkeypatch):
    """Reading the data, the expensive first step of every training command, is a failure of the test."""
    def read(*args, **kwargs):
        raise AssertionError("the data were read before the device was checked")

    monkeypatch.setattr("moo_snn.data.load_problem_data", read)


@pytest.fixture(scope="module")
def run_path(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("run") / "run.nc")


COMMANDS = {
    "train": "train digits --epochs 1 --save {d}/w.pt",
    "optimize": "optimize digits --out {d}/r.nc",
    "optimize --workers": "optimize digits --workers 2 --out {d}/r.nc",
    "plan": "plan digits",
    "surrogate build": "surrogate build digits --n 2 --out {d}/s.nc",
    "export": "export {run} --nir {d}/x.nir",
}


def _invoke(args: str, tmp_path, run_path, device: str):
    result = CliRunner().invoke(app, shlex.split(args.format(d=tmp_path, run=run_path)) + ["--device", device])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return result, lines


@pytest.mark.parametrize("device", OTHER_TYPES)
@pytest.mark.parametrize("command", list(COMMANDS))
def test_another_device_type_is_one_line_before_any_work(command, device, tmp_path, run_path, nothing_read):
    result, lines = _invoke(COMMANDS[command], tmp_path, run_path, device)
    assert result.exit_code == 2, (result.exit_code, result.stderr, result.exception)
    assert lines == [f"error: unknown device {device!r}; valid: cpu, cuda, cuda:N"], result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize("command", list(COMMANDS))
def test_cuda_without_a_gpu_is_one_line_before_any_work(command, tmp_path, run_path, no_gpu, nothing_read):
    result, lines = _invoke(COMMANDS[command], tmp_path, run_path, "cuda")
    assert result.exit_code == 2, (result.exit_code, result.stderr, result.exception)
    assert len(lines) == 1 and "torch sees no CUDA GPU" in lines[0], result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_gpu_index_torch_does_not_see_is_refused(monkeypatch):
    monkeypatch.setattr(runtime, "cuda_device_count", lambda: 2)
    assert runtime.check_device("cuda:1") == "cuda:1" and runtime.check_device("cuda") == "cuda"
    with pytest.raises(TrainingError, match=r"'cuda:2' requested but torch sees 2 CUDA GPUs \(cuda:0 to cuda:1\)"):
        runtime.check_device("cuda:2")


def test_a_remote_cluster_s_gpus_are_not_checked_here(no_gpu):
    """With a scheduler the trainings run on its workers: only the device type is checked here."""
    assert runtime.check_device("cuda:3", here=False) == "cuda:3"
    with pytest.raises(TrainingError, match="unknown device 'meta'"):
        runtime.check_device("meta", here=False)


@pytest.mark.parametrize("device", ["meta", "mps"])
def test_the_python_api_refuses_them_too(device, tmp_path, nothing_read):
    from moo_snn.surrogate.build import build_archive

    problem = moo_snn.load_problem("digits")
    calls = [lambda: moo_snn.optimize("digits", tmp_path / "r.nc", device=device),
             lambda: moo_snn.train_architecture(problem, problem.reference_arch, None, device=device),
             lambda: build_archive(problem, tmp_path / "s.nc", 2, device=device),
             lambda: moo_snn.SearchRun(problem, tmp_path / "r.nc", device=device)]
    for call in calls:
        with pytest.raises(TrainingError, match=f"unknown device '{device}'"):
            call()
    assert list(tmp_path.iterdir()) == []
