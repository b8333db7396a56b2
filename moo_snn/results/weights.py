"""Where a run keeps the trained weights of its candidates: ``<results file>.weights/<arch>.pt``.

Each file is :func:`moo_snn.training.trainer.save_weights`'s output (the architecture string and
the state dict: tensors and strings only, read back with ``torch.load(weights_only=True)``, so a
weights file cannot run code). Candidates measured before the run (``source`` = ``archive``) have
none: ``moo-snn export`` retrains them with the run's seed.
"""

from __future__ import annotations

from pathlib import Path


def weights_dir(results: str | Path) -> Path:
    """The folder next to a results file that holds its weights (``run.nc`` → ``run.nc.weights``)."""
    results = Path(results)
    return results.with_name(results.name + ".weights")


def weights_file(results: str | Path, arch: str) -> Path:
    """The weights file of architecture ``arch`` of the run ``results`` (the folder is not created)."""
    return weights_dir(results) / f"{arch}.pt"
