"""How long a ``--workers 2`` run takes to stop after Ctrl-C (SIGINT to its process group), and how it ends.

::

    python benchmarks/interrupt_workers.py [--repeats 2] [--wait-s 1 4]

Each case starts ``moo-snn optimize`` on the tiny digits problem of ``tests/test_reliability.py``
(``--workers 2 --torch-threads 1``, ``--sync`` and ``--async``) in a session of its own, waits for its
first checkpoint plus ``wait_s`` seconds (trainings running on the workers), sends SIGINT to the
process group (what a terminal does) and prints one JSON line: exit code, seconds from the signal to
the exit, the file's status and trainings, and whether the worker processes were outside the group.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

MOO_SNN = [sys.executable, "-c", "import sys; from moo_snn.cli import main; sys.argv[0] = 'moo-snn'; main()"]


def workers_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"spawn_main" in Path(f"/proc/{entry}/cmdline").read_bytes():
                found.append(int(entry))
        except OSError:
            continue
    return found


def one(mode: str, wait_s: float) -> dict:
    import moo_snn
    from test_reliability import TINY

    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        (folder / "tiny.toml").write_text(TINY)
        env = dict(os.environ, OMP_NUM_THREADS="1", COLUMNS="200")
        proc = subprocess.Popen([*MOO_SNN, "optimize", "tiny.toml", "--out", "run.nc", "--torch-threads", "1", "--workers", "2",
                                 mode], cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        while not (folder / "run.nc").exists() and proc.poll() is None:
            time.sleep(0.05)
        time.sleep(wait_s)
        workers = workers_of(proc.pid)
        outside = all(os.getpgid(w) != proc.pid for w in workers)
        os.killpg(proc.pid, signal.SIGINT)
        sent = time.monotonic()
        _, err = proc.communicate(timeout=600)
        stop_s = time.monotonic() - sent
        ds = moo_snn.open_results(folder / "run.nc")
        return dict(mode=mode, wait_s=wait_s, rc=proc.returncode, stop_s=round(stop_s, 2), status=ds.attrs["status"],
                    trained=int(ds.trained.sum()), failed=int((ds.status.values == "failed").sum()), workers=len(workers),
                    workers_outside_group=outside, traceback="Traceback" in err)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--wait-s", type=float, nargs="+", default=[1.0, 4.0])
    args = parser.parse_args()
    for _ in range(args.repeats):
        for mode in ("--sync", "--async"):
            for wait_s in args.wait_s:
                print(json.dumps(one(mode, wait_s)), flush=True)


if __name__ == "__main__":
    main()
