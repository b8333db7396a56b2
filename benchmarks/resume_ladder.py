"""Does an interrupted and resumed *real* ladder run train what an uninterrupted one trains?

::

    python benchmarks/resume_ladder.py [--levels 1|2] [--points training:14 nsga2:7 training:19 | auto]

A scaled-down ``problems/digits-long.toml`` (full recipe 6 epochs, one proxy level of 3 epochs on
half the training split, promote 2; 3 rounds of 4 survivors, bootstrap 6, 4 generations of 12;
accuracy >= 0.3) is run once without interruption and once per POINT with a real SIGINT at that
point (``tests/fault_driver.py``: ``training:N`` inside the N-th training, ``nsga2:N`` at the N-th
NSGA-II evaluation), then ``--resume``d; all in-process, ``--torch-threads 1``, real trainings. One
JSON line per point: whether the trained set, every measured (and proxy) accuracy and the
hypervolume are those of the uninterrupted run.

``--levels 2``: two proxy levels (1 epoch on a quarter, 3 epochs on half the data, ``eta = 2``), so a
round also has a rung between them. ``--points auto``: the points are read from the uninterrupted
run's ``ladder_log``: inside every round's second training above level 0 (a rung's or a promotion's),
and inside the training after each promotion of an earlier round's candidate in the same round (the
cases where a redone round once trained other networks).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DRIVER = ROOT / "tests" / "fault_driver.py"
EDITS = [("epochs = 30", "epochs = 6"), ("epochs = [8]", "epochs = [3]"), ("train_fraction = [0.25]", "train_fraction = [0.5]"),
         ("accuracy = { min = 0.9 }", "accuracy = { min = 0.3 }"), ("rounds = 4", "rounds = 3"),
         ("generations = 40", "generations = 4"), ("pop_size = 64", "pop_size = 12"), ("survivors = 6", "survivors = 4"),
         ("bootstrap = 16", "bootstrap = 6"), ('name = "digits-long"', 'name = "ladder-small"')]


EDITS_2 = [("epochs = [3]", "epochs = [1, 3]"), ("train_fraction = [0.5]", "train_fraction = [0.25, 0.5]\neta = 2")]


def problem_text(levels: int = 1) -> str:
    from moo_snn.config.problem import load_problem

    text = load_problem("digits-long").source
    for old, new in EDITS + (EDITS_2 if levels == 2 else []):
        assert old in text, old
        text = text.replace(old, new)
    return text


def auto_points(path: Path) -> list[str]:
    """Interruption points read from a finished run's ``ladder_log`` (module docstring)."""
    import moo_snn

    log = json.loads(moo_snn.open_results(path).attrs["ladder_log"])
    first_round = {}  # architecture -> round of its first training
    points, above = [], {}
    for n, (arch, level, round_, _) in enumerate(log, start=1):
        first_round.setdefault(arch, round_)
        if level > 0:
            above[round_] = above.get(round_, 0) + 1
            if above[round_] == 2:
                points.append(n)
        if level > 0 and first_round[arch] < round_ and n < len(log) and log[n][2] == round_:
            points.append(n + 1)
    return [f"training:{n}" for n in sorted(set(points))]


def run(folder: Path, point: str, *args: str) -> int:
    env = dict(os.environ, OMP_NUM_THREADS="1", COLUMNS="200")
    return subprocess.run([sys.executable, str(DRIVER), point, "SIGINT", str(folder / "log"), "--", *args], cwd=folder,
                          env=env, capture_output=True, text=True).returncode


def measured(path: Path) -> tuple[dict, float]:
    import moo_snn

    ds = moo_snn.open_results(path)
    out = {}
    for i in range(ds.sizes["candidate"]):
        status = str(ds.status.values[i])
        if status != "predicted":
            values = (float(ds.val_accuracy.values[i]), float(ds.proxy_accuracy.values[i]))
            out[str(ds.arch.values[i])] = (status, *[None if math.isnan(v) else v for v in values])
    return out, ds.moo.hypervolume()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", nargs="+", default=["training:14", "nsga2:7", "training:19"], help="points, or auto")
    parser.add_argument("--levels", type=int, choices=(1, 2), default=1, help="proxy levels of the ladder")
    args = parser.parse_args()
    text = problem_text(args.levels)
    with tempfile.TemporaryDirectory() as d:
        reference_dir = Path(d) / "uninterrupted"
        reference_dir.mkdir()
        (reference_dir / "ladder.toml").write_text(text)
        run(reference_dir, "none", "optimize", "ladder.toml", "--out", "run.nc", "--torch-threads", "1")
        reference, reference_hv = measured(reference_dir / "run.nc")
        points = auto_points(reference_dir / "run.nc") if args.points == ["auto"] else args.points
        print(json.dumps(dict(points=points)), flush=True)
        for point in points:
            folder = Path(d) / point.replace(":", "_")
            folder.mkdir()
            (folder / "ladder.toml").write_text(text)
            first = run(folder, point, "optimize", "ladder.toml", "--out", "run.nc", "--torch-threads", "1")
            second = run(folder, "none", "optimize", "--resume", "run.nc", "--torch-threads", "1")
            resumed, hv = measured(folder / "run.nc")
            print(json.dumps(dict(point=point, first_rc=first, resume_rc=second, trainings=len(reference),
                                  same_trained_set=set(resumed) == set(reference), same_measurements=resumed == reference,
                                  hypervolume=[reference_hv, hv])), flush=True)


if __name__ == "__main__":
    main()
