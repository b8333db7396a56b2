"""The README works as written: every shell command in it and every Python snippet.

The fast tests check that each ``moo-snn`` line of the README is a command line the CLI accepts
(options and arguments parse), that every line is either run by the slow test or skipped here for
a stated reason, that the files it names exist, and that the Python snippets compile. The slow test
runs them all, in order, in a fresh folder, with the real ``moo-snn`` console script and real
trainings, small settings appended (the last value of an option wins): what a new user does.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent

SKIPPED = {  # line prefix -> why no test runs it
    "make run": "builds a fresh venv and runs the full default search; `make test` is how this suite itself runs",
    "make test": "builds a fresh venv and runs this suite",
    "dask scheduler": "a long-lived scheduler process (the Dask executor is tested in tests/test_executor.py)",
    "dask worker": "a long-lived worker process (tests/test_executor.py)",
    "CUDA_VISIBLE_DEVICES=": "needs GPUs",
    "moo-snn optimize cifar10-hasnas --scheduler": "needs the CIFAR-10 data and a running Dask scheduler",
}
SMALL = {  # command -> options appended by the slow test (small settings; the last value of an option wins)
    "optimize": ["--generations", "3", "--pop-size", "8", "--survivors", "2", "--torch-threads", "1"],
    "train": ["--epochs", "1", "--torch-threads", "1"],
    "surrogate build": ["--n", "2", "--epochs", "1", "--torch-threads", "1"],
    "surrogate report": ["--folds", "2"],
}


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def shell_lines() -> list[str]:
    """Every command of the README's bash blocks, comments dropped, in order."""
    lines = []
    for block in blocks("bash"):
        for line in block.splitlines():
            command = re.split(r"\s+#\s", line.strip(), maxsplit=1)[0].strip().rstrip("&").strip()
            if command and not command.startswith("#"):
                lines.append(command)
    return lines


def skipped(line: str) -> str | None:
    return next((why for prefix, why in SKIPPED.items() if line.startswith(prefix)), None)


def small(args: list[str]) -> list[str]:
    """``args`` (after ``moo-snn``) with the small settings of its command appended."""
    key = " ".join(args[:2]) if args[0] == "surrogate" else args[0]
    extra = list(SMALL.get(key, []))
    if key == "optimize" and "--resume" not in args:
        extra = ["--rounds", "1", *extra]
    if key == "optimize" and "--resume" in args:
        extra = ["--rounds", "2", *extra]
    return args + extra


def test_every_readme_command_is_run_or_skipped_for_a_reason():
    lines = shell_lines()
    assert len(lines) >= 20
    for line in lines:
        assert line.startswith("moo-snn ") or skipped(line), f"README line neither run nor skipped with a reason: {line}"


@pytest.mark.parametrize("line", [line for line in shell_lines() if line.startswith("moo-snn ")])
def test_readme_commands_parse(line):
    """The CLI accepts each README command line as written (options, arguments, choices)."""
    import typer.main

    from moo_snn.cli import app

    try:
        from typer._click.core import Context
    except ImportError:  # typer with click as a dependency
        from click.core import Context

    group = typer.main.get_command(app)
    args = shlex.split(line)[1:]
    ctx = Context(group, info_name="moo-snn")
    command = group.get_command(ctx, args[0])
    assert command is not None, f"unknown command in README: {line}"
    name, rest = args[0], args[1:]
    if hasattr(command, "get_command") and rest:  # a group: surrogate build|report
        ctx = Context(command, info_name=name, parent=ctx)
        name, rest, command = rest[0], rest[1:], command.get_command(ctx, rest[0])
        assert command is not None, f"unknown command in README: {line}"
    command.make_context(name, list(rest), parent=ctx)  # raises on an unknown option or a bad value
    for word in args:  # files the README names from the repository root exist
        if word.startswith("examples/"):
            assert (ROOT / word).exists(), word


def test_readme_python_snippets_compile():
    snippets = blocks("python")
    assert len(snippets) >= 4
    for code in snippets:
        compile(code, "README.md", "exec")


def test_plugin_example_install_line_works_from_where_it_says():
    """examples/moo-snn-edp/README.md: each path of its install lines exists from the folder it names."""
    text = (ROOT / "examples" / "moo-snn-edp" / "README.md").read_text()
    lines = [line for line in re.findall(r"`?([^`\n]*pip install[^`\n]*)", text)]
    assert lines
    for line in lines:
        words = shlex.split(line.split("#")[0])
        base = ROOT / "examples" / "moo-snn-edp" if "../../" in line else ROOT  # "from this folder" / "from the root"
        for flag in ("-c", "-e", "-r"):
            if flag in words:
                target = words[words.index(flag) + 1]
                assert (base / target).exists(), f"{line}: {target} does not exist from {base}"
        assert (base / words[0]).exists(), f"{line}: {words[0]} does not exist from {base}"


@pytest.mark.slow
def test_the_readme_runs_as_written(tmp_path):
    """Every README command (small settings) and Python snippet, in order, in a fresh folder."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples", ignore=shutil.ignore_patterns("build", "*.egg-info"))
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", OMP_NUM_THREADS="1", MOO_SNN_LOG_INTERVAL="5")
    env.pop("COLUMNS", None)
    for line in shell_lines():
        if skipped(line):
            continue
        args = small(shlex.split(line)[1:])
        done = subprocess.run(["moo-snn", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200)
        assert done.returncode == 0, f"{line}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        assert "Traceback" not in done.stderr
    assert (tmp_path / "net.nir").exists() and (tmp_path / "front.png").exists() and (tmp_path / "both.png").exists()
    for k, code in enumerate(blocks("python")):
        script = tmp_path / f"snippet{k}.py"
        script.write_text(code)
        done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200)
        assert done.returncode == 0, f"README snippet {k}:\n{code}\n{done.stderr[-3000:]}"


@pytest.mark.slow
def test_train_writes_progress_lines_to_a_log_while_it_trains(tmp_path):
    """``moo-snn train digits 2>log``: lines appear in the log before the training ends."""
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", OMP_NUM_THREADS="1", MOO_SNN_LOG_INTERVAL="2")
    log = tmp_path / "log"
    with open(log, "w") as err:
        process = subprocess.Popen(["moo-snn", "train", "digits", "--epochs", "3", "--torch-threads", "1"], cwd=tmp_path,
                                   env=env, stdout=subprocess.DEVNULL, stderr=err)
        seen_while_running = []
        while process.poll() is None:
            text = log.read_text()
            if re.search(r"\d\d:\d\d:\d\d training \S+: epoch \d/3", text):
                seen_while_running.append(text)
                break
            import time

            time.sleep(0.5)
        assert process.wait(timeout=1200) == 0
    assert seen_while_running, f"no progress line before the training ended:\n{log.read_text()}"
    assert re.search(r"training \S+: done in", log.read_text())
