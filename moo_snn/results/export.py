"""Export a candidate of a run as a NIR graph: find (or remake) its trained weights, write the graph.

Weights come from the run's weights folder (``<results>.weights/<arch>.pt``, written by the search
for every network it trains). A candidate without saved weights (one measured before the run, whose
``source`` is ``archive``, or a run made before weights were kept) is **retrained** with the
problem's recipe and the run's seed, deterministically on CPU (same seed, same data split, same
recipe), and its weights are then saved beside the run's own, as ``<arch>.retrained.pt`` with
``<arch>.retrained.json`` (seed, validation and test accuracy of the retraining), when that folder
is writable; ``retrain=False`` makes that case an error instead. A later export of the candidate
reuses them and still says they were retrained. The NIR metadata is truthful either way:
``retrained`` = 1 and the retraining's own ``val_accuracy_retrained`` / ``test_accuracy_retrained``
beside the run's recorded accuracy (they can differ: another seed or version trained the recorded one).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from moo_snn.errors import ResultsError


def no_front_reason(ds) -> str:
    """Why a results Dataset has no front, one clause: no network trained fully yet (and whether its budget
    stopped the run first), or none of those trained meets every limit."""
    trained = int(np.asarray(ds.trained.values, bool).sum())
    return "no trained candidate meets every limit" if trained else no_full_training_reason(ds)


def no_full_training_reason(ds) -> str:
    """One clause for a run with no full training finished: how many networks were measured at low
    fidelity only (the front takes none of them) and whether the budget stopped the run first. Shared by
    ``moo-snn optimize``'s closing line, ``pareto`` and ``export``, so that all three say it alike."""
    proxies = int((np.asarray(ds.status.values).astype(str) == "proxy").sum())
    why = (f"no network was trained fully yet ({proxies} measured at low fidelity only, which the front does not take)"
           if proxies else "no training finished")
    return why + ("; the budget stopped the run first" if ds.attrs.get("status") == "budget_spent" else "")


def _candidate_index(ds, candidate: int | None) -> int:
    if candidate is None:
        candidate = ds.moo.knee()
        if candidate is None:
            hint = ("name a trained candidate with --candidate" if ds.trained.values.any()
                    else "nothing to export until a network is trained fully")  # (--candidate was suggested with none trained)
            raise ResultsError(f"the run has no front: {no_front_reason(ds)}; {hint}")
    ids = ds.candidate.values
    where = np.flatnonzero(ids == candidate)
    if len(where) == 0:
        raise ResultsError(f"no candidate {candidate} in this run; candidate ids run from {int(ids.min())} to {int(ids.max())} "
                           f"(front: {', '.join(str(int(c)) for c in ids[ds.on_front.values]) or 'none'})")
    k = int(where[0])
    status = str(ds.status.values[k])
    if status != "trained":
        raise ResultsError(f"candidate {candidate} ({ds.arch.values[k]}) has status {status!r}: only trained candidates have "
                           f"weights to export; the front is: {', '.join(str(int(c)) for c in ids[ds.on_front.values]) or 'empty'}")
    return k


def export_candidate(results: str | Path, nir_path: str | Path, candidate: int | None = None, *, retrain: bool = True,
                     device: str = "cpu", on_retrain=None) -> dict:
    """Write candidate ``candidate`` (default: the knee) of the run ``results`` as a NIR file.

    ``on_retrain(arch, reason)`` is called before a retraining (the CLI says so on stderr).
    Returns what was done: candidate, arch, nir path, weights file, ``retrained``, nodes, edges.
    """
    # torch, norse and nir are imported by moo_snn.training only (tests/test_layering.py)
    from moo_snn.data import load_problem_data
    from moo_snn.errors import TrainingError
    from moo_snn.results import open_results
    from moo_snn.results.weights import weights_file

    try:
        from moo_snn.training.nir_export import network_to_nir, write_nir
    except ModuleNotFoundError as exc:
        if exc.name != "nir":
            raise
        raise TrainingError("moo-snn export needs the 'nir' package: pip install -c constraints.txt nir") from None
    from moo_snn.training.trainer import load_weights, resolve_device, train_architecture

    from moo_snn.outputs import check_output_file, make_parent

    resolve_device(device)  # before any reading, training or writing
    check_output_file(nir_path, folder_hint="give a file name (.nir)")  # before a retraining
    ds = open_results(results)
    k = _candidate_index(ds, candidate)
    cand, arch = int(ds.candidate.values[k]), str(ds.arch.values[k])
    spec = ds.moo.problem()
    data = load_problem_data(spec)
    weights = weights_file(results, arch)
    info = {"candidate": cand, "arch": arch, "nir": str(nir_path), "weights": str(weights), "retrained": False}
    redone = weights.with_name(f"{weights.stem}.retrained.pt")
    redone_info = redone.with_suffix(".json")
    if weights.exists():
        model = load_weights(spec, weights)
    elif redone.exists() and redone_info.exists():  # retrained by an earlier export: still retrained weights
        model = load_weights(spec, redone)
        saved = json.loads(redone_info.read_text())
        info.update(weights=str(redone), retrained=True, retrained_earlier=True, seed=int(saved["seed"]),
                    val_accuracy_retrained=float(saved["val_accuracy"]), test_accuracy_retrained=float(saved["test_accuracy"]))
    else:
        reason = ("it was measured before this run: source archive" if str(ds.source.values[k]) == "archive"
                  else "the run kept no weights for it")
        if not retrain:
            raise ResultsError(f"no saved weights for candidate {cand} ({arch}): {reason}; expected {weights}. Allow a "
                               f"deterministic retraining with the run's seed (drop --no-retrain)")
        if on_retrain is not None:
            on_retrain(arch, reason)
        seed = int(ds.attrs["seed"])
        try:
            weights.parent.mkdir(parents=True, exist_ok=True)
            target = redone
            info["weights"] = str(target)
        except OSError:
            import tempfile

            target = Path(tempfile.mkdtemp(prefix="moo-snn-export-")) / f"{arch}.pt"
            info["weights"] = str(target)
        result = train_architecture(spec, arch, data, seed=seed, device=device, weights_path=target)
        if result.status != "trained":
            raise TrainingError(f"retraining {arch} with seed {seed} diverged; cannot export it")
        model = load_weights(spec, target)
        info.update(retrained=True, seed=seed, val_accuracy_retrained=result.val_accuracy,
                    test_accuracy_retrained=result.test_accuracy)
        if target == redone:
            redone_info.write_text(json.dumps({"seed": seed, "val_accuracy": result.val_accuracy,
                                               "test_accuracy": result.test_accuracy}))
    recorded = {"candidate": cand, "results_file": Path(results).name, "val_accuracy": float(ds.val_accuracy.values[k]),
                "test_accuracy": float(ds.test_accuracy.values[k]), "seed": int(ds.attrs["seed"])}
    objectives = {str(n): float(v) for n, v in zip(ds.objective.values, ds.measured_objective.values[k])}
    rates = {str(n): float(v) for n, v in zip(ds.layer.values, ds.spike_rate.values[k]) if np.isfinite(v)}
    recorded.update(measured_objectives=json.dumps(objectives), spike_rates=json.dumps(rates), retrained=int(info["retrained"]))
    if info["retrained"]:  # the accuracy of the weights in this file, beside the run's recorded one
        recorded.update(val_accuracy_retrained=float(info["val_accuracy_retrained"]),
                        test_accuracy_retrained=float(info["test_accuracy_retrained"]), retrain_seed=int(info["seed"]))
    std = np.clip(np.asarray(data.std, np.float32), 1e-6, None)  # the trainer's normalisation
    graph = network_to_nir(model, arch, spec, input_mean=data.mean, input_std=std, metadata=recorded)  # under torch.no_grad
    try:
        write_nir(graph, make_parent(nir_path))
    except OSError as exc:
        raise ResultsError(f"{nir_path}: cannot write the NIR file ({exc})") from None
    info.update(nodes=len(graph.nodes), edges=len(graph.edges), val_accuracy=recorded["val_accuracy"])
    return info
