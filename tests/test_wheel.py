"""The installed package works anywhere: the wheel carries the shipped problems and archives.

The slow test builds the wheel from a copy of the source, installs it (``--no-deps``) into a fresh
venv whose only link to the development venv is a ``.pth`` line naming its site-packages (so the
dependencies are found offline, but moo_snn itself comes from the wheel, not the checkout), and runs
``moo-snn`` from an empty temporary folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_in_pyproject():
    """The package list is explicit (two data packages live outside moo_snn/): nothing may be left out."""
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "moo_snn").rglob("__init__.py")}
    assert found <= listed, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(found - listed)}"
    assert listed - found == {"moo_snn.problems", "moo_snn.surrogates"}


def _build_wheel(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist")
    for name in ("moo_snn", "problems", "surrogates"):
        shutil.copytree(REPO / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                    "-w", str(tmp_path / "dist"), str(src)], check=True, capture_output=True, text=True)
    (wheel,) = (tmp_path / "dist").glob("moo_snn-*.whl")
    return wheel


@pytest.mark.slow
def test_wheel_installs_and_runs_from_any_folder(tmp_path):
    wheel = _build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    repo_problems = sorted(p.name for p in (REPO / "problems").glob("*.toml"))
    assert {f"moo_snn/problems/{n}" for n in repo_problems} <= names
    assert "moo_snn/surrogates/digits.nc" in names
    assert not any(n.startswith(("tests/", "problems/", "surrogates/", "results/")) for n in names)

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               check=True, capture_output=True, text=True).stdout.strip())
    # dependencies from the development venv, after the new venv's own site-packages (where the wheel goes);
    # a path listed in a .pth file is appended to sys.path, its own .pth files (the editable finder) are not run
    (site / "zz_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True, capture_output=True, text=True)

    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    where = subprocess.run([str(python), "-c", "import moo_snn, moo_snn.resources as r; print(moo_snn.__file__); "
                                              "print(r.shipped_archive('digits'))"],
                           cwd=work, env=env, check=True, capture_output=True, text=True).stdout.split()
    assert Path(where[0]).is_relative_to(site) and Path(where[1]).is_relative_to(site)
    installed = sorted(p.relative_to(site) for p in (site / "moo_snn").rglob("*") if "__pycache__" not in p.parts)

    listed = subprocess.run([str(bin_dir / "moo-snn"), "problems", "--json"], cwd=work, env=env,
                            capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert sorted(p["name"] for p in json.loads(listed.stdout)["problems"]) == sorted(n.removesuffix(".toml") for n in repo_problems)

    run = subprocess.run([str(bin_dir / "moo-snn"), "optimize", "--rounds", "1", "--generations", "2", "--pop-size", "8",
                          "--survivors", "1", "--torch-threads", "1", "--json"],
                         cwd=work, env=env, capture_output=True, text=True, timeout=600)
    # 0: a feasible front; 3: none of the few trained networks meets digits' limits (documented exit code)
    assert run.returncode in (0, 3), run.stderr[-2000:]
    summary = json.loads(run.stdout)
    assert summary["status"] == "complete" and summary["trained"] >= 1
    result = Path(summary["results"])
    assert (work / result if not result.is_absolute() else result).is_file()
    assert [p.relative_to(work).parts[0] for p in work.rglob("*.nc")] == ["results"]  # the current folder's results/
    # nothing was written beside the installed package
    assert sorted(p.relative_to(site) for p in (site / "moo_snn").rglob("*") if "__pycache__" not in p.parts) == installed
