"""Same seed, same results: the stored reference run (tests/data/README.md) made again.

``tests/data/reference-run.nc`` was recorded before the turn-3 refactors (results format 1). The
test reruns its command with one torch thread and compares what a run means, not how the file
spells it: the set of trained architectures with their status and measured accuracies, the measured
front and the hypervolume of every round. (Candidate ids, wall times and the file format may
differ.) The same CPU type and thread count are assumed (docs/reliability.md): the file records its
CPU type (``torch_cpu_capability``, ``cpu_model``), and the test is skipped, saying why, on another one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

DATA = Path(__file__).parent / "data"
COMMAND = ["optimize", str(DATA / "reference-problem.toml"), "--rounds", "2", "--generations", "2", "--pop-size", "8",
           "--survivors", "2", "--torch-threads", "1", "--seed", "0"]


def meaning(path: Path) -> dict:
    """What a run found, independent of the file format: trained → (status, val, test), front, HV per round."""
    ds = xr.open_dataset(path, engine="h5netcdf").load()
    status = ds.status.values.astype(str)
    done = status != "predicted"
    return {
        "trained": {str(a): (s, float(v), float(t)) for a, s, v, t in
                    zip(ds.arch.values[done], status[done], ds.val_accuracy.values[done], ds.test_accuracy.values[done])},
        "front": sorted(str(a) for a in ds.arch.values[ds.on_front.values]),
        "hypervolume": [float(h) for h in ds.hypervolume.values],
        "status": str(ds.attrs["status"]),
    }


@pytest.mark.slow  # 16 bootstrap trainings and 4 survivors: about 40 s of CPU
def test_the_reference_command_gives_the_stored_run(tmp_path):
    import torch

    from moo_snn.results.state import cpu_model

    attrs = xr.open_dataset(DATA / "reference-run.nc", engine="h5netcdf").attrs
    recorded = (attrs.get("torch_cpu_capability"), attrs.get("cpu_model"))
    here = (str(torch.backends.cpu.get_cpu_capability()), cpu_model())
    if recorded != here:  # (it failed on an Intel AVX-512 machine against a file recorded on another CPU)
        pytest.skip(f"the reference run was recorded with torch's {recorded[0]} kernels on {recorded[1]!r}, this machine is "
                    f"{here[0]} on {here[1]!r}: trainings are bit-for-bit per CPU type (docs/reliability.md); re-record it "
                    f"as tests/data/README.md says")
    out = tmp_path / "run.nc"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", "from moo_snn.cli import main; main()", *COMMAND, "--out", str(out)],
                          capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr
    expected, found = meaning(DATA / "reference-run.nc"), meaning(out)
    assert found["status"] == expected["status"] == "complete"
    assert found["trained"].keys() == expected["trained"].keys()
    for arch, (status, val, test) in expected["trained"].items():
        assert found["trained"][arch][0] == status, arch
        np.testing.assert_array_equal(found["trained"][arch][1:], (val, test), err_msg=arch)
    assert found["front"] == expected["front"]
    np.testing.assert_allclose(found["hypervolume"], expected["hypervolume"], rtol=1e-12)


def test_the_reference_file_is_what_the_readme_says():
    """The stored run is the command's: 2 rounds, 2 survivors each, a complete run with a front (so the
    slow test above compares something)."""
    ref = meaning(DATA / "reference-run.nc")
    assert ref["status"] == "complete" and len(ref["hypervolume"]) == 2 and ref["front"]
    assert sum(1 for s, _, _ in ref["trained"].values() if s == "trained") >= 18
