"""One-way layers (pymoo's core never imports its algorithms): checked on the source with ``ast``.

Every ``import`` in ``moo_snn/`` (module level and inside functions: a lazy import that exists to keep
``moo-snn --help`` fast is still a dependency) must go to a module of the same or a lower layer, and
the modules of one layer must not import each other in a circle (``graphlib.TopologicalSorter``).
torch, norse and nirtorch are imported under ``moo_snn/training/`` only, and nothing there imports
``moo_snn.results``. The package's ``__init__`` is the public API (the top) and is not a layer.

The layers, lowest first, are :data:`LAYERS`; docs/architecture.md draws them. A new module must be
given a layer here: the test names it.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "moo_snn"

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    # leaves: import nothing of moo_snn but each other (errors)
    ("leaves", ("moo_snn.errors", "moo_snn.plugins", "moo_snn.schema", "moo_snn.netcdf", "moo_snn.resources",
                "moo_snn.data", "moo_snn.pareto", "moo_snn.interrupts", "moo_snn.outputs")),
    # what an architecture is and what it costs on the accelerator (cost: pure numpy)
    ("architecture and cost", ("moo_snn.architecture", "moo_snn.layers", "moo_snn.cost")),
    # a problem file: its tables use the architecture's ops and the cost model's HardwareConfig
    ("problem", ("moo_snn.config",)),
    # the search space of a problem and its vectorised costs
    ("space", ("moo_snn.space", "moo_snn.evaluation")),
    # objectives and constraints (Metric, Objective, Batch, registry): below search and results alike; one network's
    # costs against a problem's limits, which may be objectives (plug-ins included)
    ("objectives", ("moo_snn.objectives", "moo_snn.costing")),
    # spiking training on torch/norse, the training-free score, NIR export/import
    ("training", ("moo_snn.training",)),
    # where trainings run (in process, Dask); the search is given one
    ("executor", ("moo_snn.executor", "moo_snn.simcluster")),
    # the predictor, the search, the results dataset, the plug-in test helper, the archive-replaying cluster
    ("search and results", ("moo_snn.surrogate", "moo_snn.search", "moo_snn.results", "moo_snn.testing", "moo_snn.replay")),
    # the library's optimize (moo-snn optimize without the printing): picks the executor and the search
    ("run", ("moo_snn.run", "moo_snn.run_checks")),
    ("cli", ("moo_snn.cli",)),
]
HEAVY = ("torch", "norse", "nirtorch")
"""Top-level packages imported only under ``moo_snn/training/`` (slow to import; the cost model and
``moo-snn --help`` must start without them)."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, int]]:
    """Absolute names imported by the file (relative imports resolved), with their line numbers."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module
            found.append((name, node.lineno))
            # ``from moo_snn.surrogate import archive``: the submodule is the dependency
            found += [(f"{name}.{alias.name}", node.lineno) for alias in node.names]
    return found


def _layer(module: str) -> int | None:
    best, rank = -1, None
    for k, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), k
    return rank


def _component(module: str) -> str:
    """``moo_snn.search.loop`` → ``moo_snn.search``: the unit whose cycles are checked within a layer."""
    return ".".join(module.split(".")[:2])


def _graph() -> dict[str, list[tuple[str, int]]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        deps = []
        for target, line in _imports(path):
            if target.split(".")[0] in HEAVY:
                deps.append((target, line))
            elif target.startswith("moo_snn."):
                # keep the longest prefix that is a module of the package (drop imported names)
                while target not in modules and "." in target:
                    target = target.rpartition(".")[0]
                deps.append((target, line))  # "moo_snn": the public API itself (flagged below)
        graph[name] = sorted(set(deps), key=lambda d: (d[1], d[0]))
    return graph


GRAPH = _graph()


def test_no_module_imports_the_public_api():
    """``from moo_snn import X`` inside the package would import every layer at once (and hide where X lives)."""
    bad = [f"{m}:{line}" for m, deps in GRAPH.items() if m != "moo_snn" for t, line in deps if t == "moo_snn"]
    assert not bad, "import from the defining module instead of moo_snn: " + ", ".join(bad)


def test_every_module_has_a_layer():
    missing = sorted(m for m in GRAPH if m != "moo_snn" and _layer(m) is None)
    assert not missing, f"give these modules a layer in tests/test_layering.py LAYERS: {missing}"


def test_imports_go_down_the_layers():
    upward = []
    for module, deps in GRAPH.items():
        if module == "moo_snn" or _layer(module) is None:
            continue  # the public API imports from every layer; a module without a layer fails the test above
        for target, line in deps:
            if target.split(".")[0] in HEAVY or target == "moo_snn" or _layer(target) is None:
                continue
            if _layer(target) > _layer(module):
                upward.append(f"{module}:{line} imports {target} ({LAYERS[_layer(module)][0]} → {LAYERS[_layer(target)][0]})")
    assert not upward, "imports up the layers:\n" + "\n".join(upward)


def test_no_cycles_between_subpackages():
    sorter = graphlib.TopologicalSorter()
    for module, deps in GRAPH.items():
        for target, _ in deps:
            if target.startswith("moo_snn.") and module != "moo_snn" and _component(target) != _component(module):
                sorter.add(_component(module), _component(target))
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        # graphlib lists each node before the one that depends on it: reversed, each imports the next
        pytest.fail(f"subpackages import each other in a circle: {' imports '.join(reversed(exc.args[1]))}")


def test_torch_norse_nirtorch_only_in_training():
    outside = [f"{m}:{line} imports {t}" for m, deps in GRAPH.items() for t, line in deps
               if t.split(".")[0] in HEAVY and not m.startswith("moo_snn.training")]
    assert not outside, "heavy imports outside moo_snn/training:\n" + "\n".join(outside)


def test_training_never_imports_results():
    bad = [f"{m}:{line} imports {t}" for m, deps in GRAPH.items() for t, line in deps
           if m.startswith("moo_snn.training") and (t == "moo_snn.results" or t.startswith("moo_snn.results."))]
    assert not bad, "\n".join(bad)


def test_the_checker_sees_what_it_checks():
    """The graph holds the imports this test relies on (a checker that parses nothing cannot fail)."""
    assert any(t == "moo_snn.cost.hardware" for t, _ in GRAPH["moo_snn.config.problem"])
    assert any(t == "torch" for t, _ in GRAPH["moo_snn.training.network"])
    assert any(t == "moo_snn.training.nir_export" for t, _ in GRAPH["moo_snn.results.export"])  # a lazy import
    assert _layer("moo_snn.cli.optimize_cmd") > _layer("moo_snn.run") > _layer("moo_snn.search.loop") \
        > _layer("moo_snn.objectives") > _layer("moo_snn.errors")
    assert any(t == "moo_snn.search.async_loop" for t, _ in GRAPH["moo_snn.run"])  # a lazy import
