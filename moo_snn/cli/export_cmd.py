"""``moo-snn export``: a trained network of a run as a NIR graph, with its hardware settings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from moo_snn.cli.common import DeviceOpt, JsonOpt, print_json, stderr, stdout, user_errors
from moo_snn.cli.render import plain, print_copyable


@user_errors
def export(
    results: Annotated[Path, typer.Argument(help="results file of moo-snn optimize (.nc)")],
    nir: Annotated[Path, typer.Option("--nir", help="NIR file to write (HDF5, read with nir.read; missing folders are created)")],
    candidate: Annotated[Optional[int], typer.Option(help="candidate id (see moo-snn pareto; default: the knee, the best compromise)")] = None,
    retrain: Annotated[bool, typer.Option(help="retrain a candidate without saved weights with the run's seed (else: an error)")] = True,
    device: DeviceOpt = "cpu",
    json_out: JsonOpt = False,
) -> None:
    """Write the trained network of a front member as a NIR graph (convolutions, BatchNorm as
    affine, LIF neurons, pooling, recurrent edges as delays), with the architecture, T, weight bits
    and the problem's [hardware] table in its metadata."""
    from moo_snn.results.export import export_candidate  # torch: only when exporting

    def say_retrain(arch, reason):
        stderr.print(f"[yellow]no saved weights[/] for {arch} ({reason}): retraining it with the run's seed "
                     f"(the problem's recipe, deterministic on CPU)…")

    info = export_candidate(results, nir, candidate, retrain=retrain, device=device, on_retrain=say_retrain)
    if info["retrained"] and abs(info["val_accuracy_retrained"] - info["val_accuracy"]) > 1e-9:
        stderr.print(f"[yellow]note:[/] the retrained network's validation accuracy is {info['val_accuracy_retrained']:.4f}, "
                     f"the run recorded {info['val_accuracy']:.4f} (another seed or version trained the recorded one)")
    if json_out:
        print_json(info)
    else:
        weights = ('retrained by an earlier export, from' if info.get('retrained_earlier') else 'retrained into'
                   if info['retrained'] else 'from')
        stdout.print(plain(f"wrote {nir}: candidate {info['candidate']} ({info['nodes']} NIR nodes, {info['edges']} edges; "
                           f"weights {weights} {info['weights']}):"))
        print_copyable(stdout, info["arch"])
