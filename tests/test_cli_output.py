"""What the command line shows, at the widths people use (80 and 120 columns) and in logs.

Each test here failed before issue 18 was fixed: tables cut to ``0…`` at 80 columns, help texts
that lost ``[search]`` and ``[pJ]``, a top-level help broken mid-sentence, no ``--version``, an
``optimize`` table without ids or knee, silent logs, failed starts that left files behind.
"""

import json
import os
import re
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import moo_snn
from moo_snn.cli import app
from moo_snn.cli.front_table import front_cells, front_columns

from cli_runs import FakeResult, fake_train, make_run, small_text

WIDTHS = (80, 120)


def invoke(args, width=None, **env):
    """Run the CLI as a user would, with a terminal of ``width`` columns (None: COLUMNS unset).
    CliRunner's stdout and stderr are not terminals: what a log or a pipe gets."""
    env = {"COLUMNS": str(width) if width else None, **env}
    return CliRunner(env=env).invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def run_path(tmp_path_factory):
    """A small run with a custom objective (energy-delay product, ``cli_runs:edp``) and accuracy >= 0.7."""
    return make_run(tmp_path_factory.mktemp("run") / "edp.nc", small_text(**{"accuracy = { min = 0.5 }": "accuracy = { min = 0.7 }"}),
                    objectives=["accuracy", "energy_uJ", "cli_runs:edp"])


def assert_fits(text: str, width: int) -> None:
    lines = text.splitlines()
    too_wide = [line for line in lines if len(line) > width]
    assert not too_wide, f"lines wider than {width}: {too_wide}"
    assert "…" not in text, "a cell or header was cut"


# --- help texts -----------------------------------------------------------------------------------
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("command, words", [
    (["optimize", "--help"], ["[search]", "[objectives]"]),
    (["train", "--help"], ["[training]"]),
    (["export", "--help"], ["[hardware]"]),
    (["cost", "--help"], ["[hardware]", "[[layer]]"]),
])
def test_help_texts_keep_bracketed_words(command, words, width):
    result = invoke(command, width)
    assert result.exit_code == 0, result.output
    flat = " ".join(result.stdout.split())  # help wraps: compare without line breaks and box edges
    flat = flat.replace("│ ", "").replace(" │", "")
    for word in words:
        assert word in flat, f"{word} lost from {' '.join(command)}"
    assert "\\[" not in result.stdout


@pytest.mark.parametrize("width", WIDTHS)
def test_problem_keys_keep_units(width):
    result = invoke(["problems", "--keys"], width)
    assert result.exit_code == 0
    for word in ("[pJ]", "[data]", "[hardware]", "[constraints]"):
        assert word in result.stdout, word
    assert re.search(r"\[um\^?2\]|\[µm²\]", result.stdout), "area units lost"


def test_top_level_help_is_not_broken_mid_sentence():
    """Each command's description flows as one paragraph: at 300 columns it fits on one line."""
    result = invoke(["--help"], 300)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    for command, start, end in (("optimize", "Search the problem's space", "print the measured front."),
                                ("train", "Train ARCH", "and wall time."),
                                ("cost", "Energy, latency and area", "against the problem's limits.")):
        line = next(line for line in lines if f" {command} " in line)
        assert start in line and end in line, line


def test_version():
    from importlib.metadata import version

    result = invoke(["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"moo-snn {version('moo-snn')}"


# --- the front table --------------------------------------------------------------------------------
@pytest.mark.parametrize("width", WIDTHS)
def test_pareto_table_is_complete_at_common_widths(run_path, width):
    result = invoke(["pareto", run_path], width)
    assert result.exit_code == 0, result.output
    assert_fits(result.stdout, width)
    ds = moo_snn.open_results(run_path)
    records = ds.moo.front_records()
    assert len(records) >= 2
    for r in records:
        for key, _ in front_columns(ds):
            cell = front_cells(r, key).strip()
            assert cell in result.stdout, f"{key} of candidate {r['candidate']}: {cell!r} missing"
    knee = ds.moo.knee()
    assert f"★{knee}" in result.stdout
    # the custom objective and the accuracy limit are columns
    assert "edp" in result.stdout and "≥0.7" in result.stdout and "uJ*ms" in result.stdout


def test_pareto_wide_is_one_table(run_path):
    result = invoke(["pareto", run_path, "--wide"], 80)
    assert result.exit_code == 0
    header = next(line for line in result.stdout.splitlines() if "architecture" in line)
    assert "cand." in header and len(header) > 80
    assert "…" not in result.stdout


def test_front_cells_show_missing_values_as_a_dash():
    record = {"candidate": 7, "knee": True, "arch": "a", "source": "search", "predicted_accuracy": float("nan"),
              "val_accuracy": 0.91234, "energy_uJ": None, "params": 12345.0}
    assert front_cells(record, "candidate") == "★7"
    assert front_cells(record, "predicted_accuracy") == "–"
    assert front_cells(record, "energy_uJ") == "–"
    assert front_cells(record, "val_accuracy") == "0.9123"
    assert front_cells(record, "params") == "12,345"


def test_reference_point_prints_without_float_noise(run_path):
    """accuracy >= 0.7: the reference point's error is 1 - 0.7 = 0.30000000000000004 in floats."""
    path = run_path
    ds = moo_snn.open_results(path)
    assert ds.moo.reference_point()[0] == 1 - 0.7 != 0.3  # the stored value keeps every bit
    report = json.loads(invoke(["pareto", path, "--json"]).stdout)
    assert report["reference_point"]["accuracy"] == 0.7
    text = invoke(["pareto", path], 120).stdout
    assert "0.30000000000000004" not in text and "0.7000000000000001" not in text


# --- plots -------------------------------------------------------------------------------------------
def _legend_texts(fig):
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


def test_overlay_of_two_runs_of_one_problem_and_seed_has_distinct_labels_and_knees(run_path, tmp_path):
    from moo_snn.results.plot import plot_runs

    copy = tmp_path / "again" / run_path.name
    copy.parent.mkdir()
    shutil.copy(run_path, copy)
    a, b = moo_snn.open_results(run_path), moo_snn.open_results(copy)
    b.attrs["started"] = "2026-01-02T00:00:00+00:00"
    fig = plot_runs([a, b])
    texts = _legend_texts(fig)
    runs = [t for t in texts if "hypervolume" in t]
    assert len(runs) == 2 and len(set(runs)) == 2, runs
    knees = [h for legend in fig.legends for h in legend.legend_handles if "knee" in h.get_label()]
    assert len(knees) == 2
    assert len({(h.get_marker(), h.get_color()) for h in knees}) == 2, "both runs' knees look the same"
    # through the command line: two files of one name in two folders get two labels
    png = tmp_path / "both.png"
    result = invoke(["pareto", run_path, copy, "--plot", png])
    assert result.exit_code == 0, result.output
    from moo_snn.cli.pareto_cmd import run_labels

    labels = run_labels([run_path, copy])
    assert len(set(labels)) == 2


def test_a_one_member_front_is_visible_above_its_knee(tmp_path):
    from moo_snn.results.plot import plot_runs

    path = make_run(tmp_path / "one.nc", strategy="hasnas", samples=40)
    ds = moo_snn.open_results(path)
    assert int(ds.on_front.sum()) == 1
    fig = plot_runs([ds])
    ax = fig.axes[0]
    front = next(c for c in ax.collections if c.get_gid() == "front-0")
    knee = next(c for c in ax.collections if c.get_gid() == "knee-0")
    assert len(front.get_offsets()) == 1
    assert front.get_zorder() > knee.get_zorder()
    assert np.allclose(front.get_offsets(), knee.get_offsets())


# --- optimize ----------------------------------------------------------------------------------------
@pytest.fixture
def fake_training(monkeypatch):
    from moo_snn.training import trainer

    monkeypatch.setattr(trainer, "train_architecture", fake_train)
    monkeypatch.setenv("MOO_SNN_LOG_INTERVAL", "0")


SMALL = ["--rounds", "1", "--generations", "2", "--pop-size", "8", "--survivors", "2", "--torch-threads", "1"]


def test_optimize_prints_the_front_with_ids_knee_limits_and_a_custom_objective(tmp_path, monkeypatch, fake_training):
    """``--objective my_module:edp`` found in the current folder; results in ./results; logs on stderr."""
    monkeypatch.chdir(tmp_path)
    Path("problem.toml").write_text(small_text())
    shutil.copy(Path(__file__).parent / "cli_runs.py", "my_module.py")
    monkeypatch.delitem(__import__("sys").modules, "my_module", raising=False)
    monkeypatch.setattr("sys.path", [p for p in __import__("sys").path if p not in ("", ".", str(tmp_path))])
    args = ["optimize", "problem.toml", *SMALL, "--objective", "accuracy", "--objective", "energy_uJ",
            "--objective", "my_module:edp", "--archive", "none"]
    result = invoke(args, 80)
    assert result.exit_code == 0, result.output
    files = list(Path("results").glob("*-seed0-*.nc"))
    assert len(files) == 1
    assert_fits(result.stdout, 80)
    ds = moo_snn.open_results(files[0])
    knee = ds.moo.knee()
    assert f"★{knee}" in result.stdout and "my module:edp" in result.stdout.replace("\n", " ") or "edp" in result.stdout
    assert "≥0.5" in result.stdout  # the accuracy limit
    assert f"moo-snn export {files[0]} --nir" in " ".join(result.stdout.split())
    # the log: phases, generations and trainings as plain time-stamped lines
    log = result.stderr
    assert re.search(r"^\d\d:\d\d:\d\d .*NSGA-II", log, re.M)
    assert re.search(r"^\d\d:\d\d:\d\d .*generation 2/2", log, re.M)
    assert re.search(r"^\d\d:\d\d:\d\d trained \S+ \(1/\d+\): val acc", log, re.M)  # with the batch count
    # group-readable, as the umask allows
    mode = stat.S_IMODE(files[0].stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask
    # --json has the knee
    out = invoke(["optimize", "--resume", files[0], "--rounds", "2", *SMALL[2:], "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert report["knee"]["candidate"] == moo_snn.open_results(files[0]).moo.knee()
    assert report["knee"] in report["front"] and "my_module:edp" in report["knee"]
    # a resume of a complete run says why nothing happens
    again = invoke(["optimize", "--resume", files[0], "--rounds", "2"])
    assert again.exit_code == 0
    assert "nothing to do" in again.stderr and "--rounds 3" in again.stderr


def test_optimize_with_no_feasible_candidate_says_which_limit_and_by_how_much(tmp_path, monkeypatch, fake_training):
    monkeypatch.chdir(tmp_path)
    Path("strict.toml").write_text(small_text(**{"accuracy = { min = 0.5 }": "accuracy = { min = 0.995 }"}))
    result = invoke(["optimize", "strict.toml", *SMALL, "--archive", "none", "--out", "strict.nc"], 80)
    assert result.exit_code == 3, result.output
    line = " ".join(result.stderr.split())
    assert "no candidate meets the limits" in line
    assert re.search(r"accuracy ≥ 0\.995 broken by \d+ of \d+ \(closest 0\.\d+, short by 0\.\d+", line), line
    assert "None" not in result.stdout and "nan" not in result.stdout


def test_a_failed_start_writes_no_file(tmp_path, monkeypatch):
    """cifar10-hasnas without its data: exit 2, one line, and nothing written anywhere here."""
    monkeypatch.chdir(tmp_path)
    result = invoke(["optimize", "cifar10-hasnas", "--torch-threads", "1"])
    assert result.exit_code == 2
    assert "cifar10" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.rglob("*")) == []


def test_a_failed_start_with_an_unknown_objective_writes_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke(["optimize", "--objective", "no_such_module:edp", *SMALL])
    assert result.exit_code == 2
    assert list(tmp_path.rglob("*")) == []


# --- train ---------------------------------------------------------------------------------------------
def test_train_logs_progress_and_keeps_the_digits_of_samples_per_second(monkeypatch):
    """A trainer that reports epochs and batches: plain lines on a non-terminal stderr; samples/s 0.66."""
    from moo_snn.training import trainer

    def reporting_train(problem, arch, data=None, *, epochs=None, on_epoch=None, on_batch=None, **kwargs):
        for e in range(1, epochs + 1):
            for b in range(1, 4):
                on_batch(e, epochs, b, 3, 0.66)
            on_epoch(e, epochs, 1.0 / e)
        return FakeResult(arch, epochs)

    monkeypatch.setattr(trainer, "train_architecture", reporting_train)
    monkeypatch.setenv("MOO_SNN_LOG_INTERVAL", "0")
    result = invoke(["train", "digits", "--epochs", "2", "--torch-threads", "1"], 80)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if re.match(r"\d\d:\d\d:\d\d training ", line)]
    assert any("epoch 2/2, batch 3/3, 0.66 samples/s" in line and "ETA" in line for line in lines), lines
    assert any("epoch 1/2, loss 1.000" in line for line in lines)
    assert re.search(r"samples/s\s*│\s*0\.66\s", result.stdout), result.stdout


def test_train_names_a_repair_users_can_run():
    bad = "0000-0000-0000-0000_c8_t4_w4_p1_h0"
    result = invoke(["train", "digits", "--arch", bad])
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "--repair" in message and "0001-0000-0000-0000_c8_t4_w4_p1_h0" in message
    fixed = invoke(["cost", "digits", "--arch", bad, "--repair", "--json"])
    assert fixed.exit_code == 0
    from moo_snn.config.problem import load_problem
    from moo_snn.space import SearchSpace

    space = SearchSpace(load_problem("digits").space)
    expected = str(space.decode(space.repair(space.parse(bad)[None])[0]))
    assert json.loads(fixed.stdout)["arch"] == expected == "0001-0000-0000-0000_c8_t4_w4_p1_h0"


def test_surrogate_build_logs_each_training_and_says_why_nothing_was_trained(tmp_path, monkeypatch, fake_training):
    monkeypatch.chdir(tmp_path)
    args = ["surrogate", "build", "digits", "--n", "2", "--no-score", "--out", "a.nc", "--torch-threads", "1"]
    first = invoke(args)
    assert first.exit_code == 0, first.output
    assert len(re.findall(r"^\d\d:\d\d:\d\d trained [12]/2: \S+: trained", first.stderr, re.M)) == 2
    again = invoke(args)
    assert again.exit_code == 0
    assert "0 architectures trained" in again.stdout
    assert "nothing to train" in again.stderr and "--n 52" in " ".join(again.stderr.split())


@pytest.mark.parametrize("width", WIDTHS)
def test_cost_layer_table_is_complete_at_common_widths(width):
    result = invoke(["cost", "digits", "--arch", "0303-0030-2002-0200_c16_t4_w4_p1_h0"], width)
    assert result.exit_code == 0, result.output
    assert_fits(result.stdout, width)
    report = json.loads(invoke(["cost", "digits", "--arch", "0303-0030-2002-0200_c16_t4_w4_p1_h0", "--json"]).stdout)
    for layer in report["layers"]:
        for key, fmt in (("name", "{}"), ("params", "{:,}"), ("energy_uJ", "{:.4g}"), ("latency_ms", "{:.4g}"), ("area_mm2", "{:.4g}")):
            assert fmt.format(layer[key]) in result.stdout, (key, layer[key])


@pytest.mark.parametrize("width", WIDTHS)
def test_problems_table_is_complete_at_common_widths(width):
    result = invoke(["problems"], width)
    assert result.exit_code == 0
    assert_fits(result.stdout, width)
    listed = json.loads(invoke(["problems", "--json"]).stdout)["problems"]
    words = result.stdout.split()
    for p in listed:
        assert p["name"] in words
        for word in p["description"].split():
            assert word in words, word


def test_pareto_says_when_a_file_still_claims_running(run_path, tmp_path):
    from moo_snn.netcdf import write_atomic

    ds = moo_snn.open_results(run_path)
    ds.attrs["status"] = "running"
    copy = tmp_path / "killed.nc"
    write_atomic(ds, copy)
    result = invoke(["pareto", copy], 120)
    assert result.exit_code == 0
    assert "still running" in result.stderr and "killed" in result.stderr


def test_a_reader_that_goes_away_silences_the_console_without_ending_the_command():
    """``moo-snn optimize ... 2>&1 | head -1``: rich's console raised SystemExit(1) on the broken pipe, from inside
    the run, which was recorded as failed ("SystemExit: 1"). Now the console goes quiet and the command goes on."""
    import os

    from moo_snn.cli.common import stderr

    read, write = os.pipe()
    os.close(read)  # the reader is gone
    with os.fdopen(write, "w") as file:
        console = type(stderr)(file=file, highlight=False)  # the commands' console class
        console.print("x" * 200_000)  # more than a pipe holds: the write fails with BrokenPipeError
        assert console.quiet
        console.print("later lines go nowhere")  # and raise nothing


def test_options_a_resume_cannot_use_are_said_not_used(tmp_path, monkeypatch):
    """``--out`` and ``--strategy`` on a resume were dropped without a word, and the note named ``--hasnas-samples``,
    an option that does not exist (it is ``--samples``)."""
    monkeypatch.setenv("COLUMNS", "250")
    run = tmp_path / "run.nc"
    run.write_bytes((Path(__file__).resolve().parent / "data" / "reference-run.nc").read_bytes())
    out = CliRunner().invoke(app, ["optimize", "--resume", str(run), "--out", str(tmp_path / "other.nc"),
                                   "--strategy", "hasnas", "--samples", "10"])
    said = " ".join(out.output.split())
    assert out.exit_code == 0, out.output
    assert f"note: --out {tmp_path / 'other.nc'} not used: a resumed run continues its own file, {run}" in said
    assert "note: --strategy hasnas not used: a resumed run keeps its own strategy (moo)" in said
    assert "--samples 10 (the run had" in said and "--hasnas-samples" not in said
    assert not (tmp_path / "other.nc").exists()


@pytest.mark.parametrize("args", [[], ["surrogate"]], ids=["moo-snn", "moo-snn surrogate"])
def test_a_bare_command_prints_its_help_once(args):
    """``moo-snn`` and ``moo-snn surrogate`` alone print their help, once, exit 0 (typer's rich help
    printed itself when the no-arguments error was made, and the group printed it again)."""
    result = invoke(args, width=80)
    assert result.exit_code == 0
    assert result.stdout.count("Usage:") == 1, result.stdout
    assert "Commands" in result.stdout


# --- what a user copies is never split, however narrow the terminal -------------------------------
NARROW = (30, 50)


@pytest.mark.parametrize("width", NARROW)
def test_pareto_keeps_architectures_and_commands_whole_on_a_narrow_terminal(run_path, width):
    """rich wrapped the front's architecture column character by character and the export hint at spaces below
    ~40 columns: a copy-paste gave a broken string. Each now stands whole on one line."""
    result = invoke(["pareto", run_path], width)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    front = json.loads(invoke(["pareto", run_path, "--json"]).stdout)["front"]
    for record in front:
        assert any(record["arch"] in line for line in lines), (record["arch"], result.stdout)
    assert f"  moo-snn export {run_path} --nir FILE.nir" in lines, result.stdout
    knee = next(r for r in front if r.get("knee"))
    assert f"  {knee['arch']}" in lines


@pytest.mark.parametrize("width", NARROW)
def test_optimize_report_keeps_architectures_and_commands_whole_on_a_narrow_terminal(run_path, width):
    """The report `optimize` prints at the end of a run (here: a finished run resumed with nothing left to do)."""
    result = invoke(["optimize", "--resume", run_path, "--torch-threads", "1"], width)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for arch in {str(a) for a in moo_snn.open_results(run_path).moo.front().arch.values}:
        assert any(arch in line for line in lines), (arch, result.stdout)
    assert f"  moo-snn export {run_path} --nir net.nir" in lines and f"  moo-snn pareto {run_path}" in lines, result.stdout


@pytest.mark.slow  # about 10 s (the predictor is fitted on the archive); the table logic is tested fast below
def test_surrogate_predict_keeps_architectures_whole_on_a_narrow_terminal():
    archs = ["0303-0030-0003-0000_c16_t4_w4_p1_h0", "0001-0000-0000-0000_c16_t1_w2_p2_h128"]
    result = invoke(["surrogate", "predict", "digits", *(x for a in archs for x in ("--arch", a))], 30)
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout  # rich's own table cut them to 0303-0030-…
    for arch in archs:
        assert sum(line.startswith(arch) for line in result.stdout.splitlines()) == 2, result.stdout  # in both parts


def test_a_whole_column_is_never_split_and_the_others_stay_readable():
    """fit_tables at 30 columns with a 37-character key column of architectures: parts of the key and one other
    column each, every cell on one line (the table is wider than the console instead)."""
    from io import StringIO

    from rich.console import Console

    from moo_snn.cli.render import Column, fit_tables, print_tables

    arch = "0001-0000-0000-0000_c16_t1_w2_p2_h128"
    columns = [Column("arch", "left", repeat=True, whole=True), Column("accuracy"), Column("accuracy_std")]
    console = Console(file=StringIO(), width=30)
    print_tables(console, fit_tables(columns, [[arch, "0.9270", "0.0186"]], 30))
    lines = console.file.getvalue().splitlines()
    assert [line.split() for line in lines if line.startswith(arch)] == [[arch, "0.9270"], [arch, "0.0186"]]
    assert all(len(line) <= len(arch) + 3 + len("accuracy_std") for line in lines)
    # a whole column that is not the key: the key and it side by side, the rest folded as before
    columns = [Column("cand.", repeat=True), Column("architecture", "left", whole=True), Column("params")]
    console = Console(file=StringIO(), width=30)
    print_tables(console, fit_tables(columns, [["27", arch, "22,416"]], 30))
    lines = console.file.getvalue().splitlines()
    assert [line.split() for line in lines if line.strip().startswith("27")] == [["27", arch], ["27", "22,416"]]


def test_a_copyable_line_is_not_wrapped_by_a_narrow_console():
    from io import StringIO

    from rich.console import Console

    from moo_snn.cli.render import print_copyable

    console = Console(file=StringIO(), width=20)
    print_copyable(console, "moo-snn export /a/long/path/to/results.nc --nir net.nir", "0303-0030-0003-0000_c16_t4_w4_p1_h0")
    assert console.file.getvalue().splitlines() == ["  moo-snn export /a/long/path/to/results.nc --nir net.nir",
                                                    "  0303-0030-0003-0000_c16_t4_w4_p1_h0"]


@pytest.mark.parametrize("width", NARROW)
def test_cost_keeps_its_architecture_whole_on_a_narrow_terminal(width):
    arch = "0001-0000-0000-0000_c16_t1_w2_p2_h128"
    result = invoke(["cost", "digits", "--arch", arch], width)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == f"digits: {arch}"
