"""`moo-snn optimize` (what `make run` runs) quiet and next to two 2-thread torch matmul loops, back to back.

    python benchmarks/busy_optimize.py [--json]

Prints the wall time of each and their ratio (issue 19: within 3.5x; a fair share of two cores among
three processes is 3x). The competing processes are those of ``bench_train.py`` (started and stopped
here, with their own OpenMP defaults, as another user's torch job would run).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_train import MATMUL_LOOP  # noqa: E402


def optimize_wall(out: Path) -> float:
    """Seconds of one default ``moo-snn optimize`` writing to ``out``."""
    start = time.perf_counter()
    subprocess.run([str(Path(sys.executable).with_name("moo-snn")), "optimize", "--out", str(out)], check=True,
                   capture_output=True, text=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        load_before = os.getloadavg()[0]
        quiet = optimize_wall(Path(tmp) / "quiet.nc")
        env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
        hogs = [subprocess.Popen([sys.executable, "-c", MATMUL_LOOP], env=env) for _ in range(2)]
        try:
            time.sleep(2.0)
            busy = optimize_wall(Path(tmp) / "busy.nc")
        finally:
            for hog in hogs:
                hog.kill()
                hog.wait()
    result = dict(load_average_before=round(load_before, 2), quiet_s=round(quiet, 1), busy_s=round(busy, 1),
                  busy_slowdown=round(busy / quiet, 3))
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
