"""The public API (``moo_snn.__all__``): light to import, every name documented the numpydoc way."""

from __future__ import annotations

import doctest
import inspect
import re
import subprocess
import sys

import pytest

import moo_snn

PUBLIC = [name for name in moo_snn.__all__ if name != "__version__"]
MODULES = ("moo_snn.run", "moo_snn.run_checks", "moo_snn.costing")
"""Public modules with their own ``__all__`` (reached as ``moo_snn.run.prepare_optimize``, ...)."""
MODULE_PUBLIC = [(module, name) for module in MODULES for name in __import__(module, fromlist=["__all__"]).__all__]


def test_import_moo_snn_loads_neither_torch_nor_norse():
    code = ("import sys, moo_snn; heavy = sorted(m for m in ('torch', 'norse', 'nirtorch', 'sklearn') if m in sys.modules); "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_lazy_names_load_on_first_use_and_are_the_real_objects():
    from moo_snn.search.loop import SearchRun
    from moo_snn.training.trainer import train_architecture

    assert moo_snn.SearchRun is SearchRun and moo_snn.train_architecture is train_architecture
    assert set(moo_snn.__all__) <= set(dir(moo_snn))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        moo_snn.nope  # noqa: B018


def test_the_module_docstring_example_runs():
    result = doctest.testmod(moo_snn, verbose=False)
    assert result.attempted >= 4 and result.failed == 0


def _parameters_documented(obj, where: str) -> list[str]:
    """Problems with the numpydoc ``Parameters`` section of ``obj`` (a function or a class)."""
    doc = inspect.getdoc(obj) or ""
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        names = [p.name for p in inspect.signature(target).parameters.values()
                 if p.name not in ("self", "cls") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    except (TypeError, ValueError):
        return []
    if not names:
        return []
    match = re.search(r"^Parameters\n-{10,}\n(.*?)(?:^\S[^\n]*\n-{3,}\n|\Z)", doc, re.S | re.M)
    if not match:
        return [f"{where}: no numpydoc 'Parameters' section (parameters: {', '.join(names)})"]
    section = match.group(1)
    documented = {n.strip() for line in section.splitlines() if re.match(r"^[A-Za-z_*]", line) and " :" in line
                  for n in line.split(" :")[0].split(",")}
    return [f"{where}: parameter {n!r} not documented" for n in names if n not in documented]


def _data_docstring(module, name: str) -> str:
    """The string literal right after ``name = ...`` at the top level of ``module`` (a constant's docstring)."""
    import ast

    body = ast.parse(inspect.getsource(module)).body
    for node, after in zip(body, body[1:]):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            if isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str):
                return after.value.value
    return ""


@pytest.mark.parametrize("module, name", [("moo_snn", name) for name in PUBLIC] + MODULE_PUBLIC)
def test_public_name_has_a_numpydoc_docstring(module, name):
    mod = __import__(module, fromlist=["__all__"])
    obj = getattr(mod, name)
    if not (inspect.isclass(obj) or callable(obj)):  # a constant: the string after its assignment
        assert _data_docstring(mod, name).strip(), f"{module}.{name} has no docstring"
        return
    doc = inspect.getdoc(obj)
    assert doc and doc.splitlines()[0].strip(), f"{module}.{name} has no docstring"
    problems = _parameters_documented(obj, f"{module}.{name}")
    if inspect.isclass(obj):
        for attr, member in vars(obj).items():
            if attr.startswith("_"):
                continue
            func = member.fget if isinstance(member, property) else getattr(member, "__func__", member)
            if inspect.isfunction(func) or isinstance(member, property):
                if not inspect.getdoc(func):
                    problems.append(f"{module}.{name}.{attr}: no docstring")
                elif inspect.isfunction(func):
                    problems += _parameters_documented(func, f"{module}.{name}.{attr}")
    assert not problems, "\n".join(problems)


def test_the_docstring_check_catches_what_it_should():
    def undocumented(a, b):
        """Summary only."""

    def documented(a, b=1):
        """Summary.

        Parameters
        ----------
        a : int
            The first.
        b : int, optional
            The second.

        Returns
        -------
        int
        """

    assert _parameters_documented(undocumented, "f") == ["f: no numpydoc 'Parameters' section (parameters: a, b)"]
    assert _parameters_documented(documented, "f") == []
    import moo_snn.run

    assert _data_docstring(moo_snn.run, "STRATEGIES").startswith("``moo``")
    assert _data_docstring(moo_snn.run, "__all__") == ""


def test_every_public_function_class_and_method_of_the_library_has_a_docstring():
    """Outside ``cli/`` (whose commands document themselves in their help): a name without ``_`` has a docstring."""
    import ast
    from pathlib import Path

    root = Path(moo_snn.__file__).parent
    missing = []
    for path in sorted(root.rglob("*.py")):
        if path.relative_to(root).parts[0] == "cli":
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not isinstance(node, (ast.FunctionDef, ast.ClassDef)) or node.name.startswith("_"):
                continue
            members = [node] + [m for m in node.body if isinstance(m, ast.FunctionDef) and not m.name.startswith("_")] \
                if isinstance(node, ast.ClassDef) else [node]
            missing += [f"{path.relative_to(root.parent)}:{m.lineno} {m.name}" for m in members if not ast.get_docstring(m)]
    assert not missing, "public names without a docstring:\n" + "\n".join(missing)
