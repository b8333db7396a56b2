"""Ctrl-C while torch imports: does the process stop cleanly (KeyboardInterrupt) or abort (SIGABRT)?

::

    OMP_NUM_THREADS=1 python benchmarks/interrupt_import.py [--tries 40] [--seed 0] [--window 0.01]

Each try is a fresh Python process that enters :func:`moo_snn.interrupts.handling` (what every
``moo-snn`` command runs in) and imports torch; it tells this process when the import of
``torch.distributed`` begins (its C++ initialisation, ``torch._C._c10d_init``, is where the abort was
seen), and this process sends it SIGINT a delay drawn uniformly in [0, WINDOW] seconds later. From
another process, as a terminal does: a thread of the child could not signal it while the C++ code
holds the interpreter lock (40 such tries aborted none).
Outcomes: ``clean`` (KeyboardInterrupt raised, exit 130 by the child's own handling), ``finished``
(the import finished: the signal came after it, or was held back until it had), ``abort`` (killed by SIGABRT:
pybind11's terminate, what ``moo-snn optimize`` did at 1 in 12 Ctrl-C at random moments), ``other``.
One JSON line: the counts.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time

import numpy as np

CHILD = r"""
import importlib.abc, os, sys, time
from moo_snn import interrupts


class Trigger(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch.distributed":
            sys.meta_path.remove(self)
            os.write(1, b"x")  # the parent sends SIGINT
            time.sleep(0.001)  # a moment for the parent to wake
        return None


sys.meta_path.insert(0, Trigger())
with interrupts.handling():
    try:
        import torch  # noqa: F401
        time.sleep(5)  # the signal came after the import: it interrupts this
    except KeyboardInterrupt:
        sys.exit(130 if "torch" not in sys.modules else 131)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--window", type=float, default=0.01, help="seconds after torch.distributed's import begins")
    args = parser.parse_args()
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import moo_snn.interrupts, torch"], check=True)
    import_s = time.perf_counter() - t0
    delays = np.random.default_rng(args.seed).uniform(0.0, args.window, args.tries)
    counts = {"clean": 0, "finished": 0, "abort": 0, "other": 0}
    for delay in delays:
        child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        child.stdout.read(1)
        time.sleep(delay)
        child.send_signal(signal.SIGINT)
        rc = child.wait()
        counts[{130: "clean", 131: "finished", -6: "abort", 134: "abort"}.get(rc, "other")] += 1
    print(json.dumps(dict(import_seconds=round(import_s, 3), window_s=args.window, tries=args.tries, **counts)))


if __name__ == "__main__":
    main()
