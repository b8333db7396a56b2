"""How much accuracy a run's measured front loses on non-ideal crossbars, under several [nonideal] settings.

Each front member is trained again with the run's problem and seed (same recipe), then measured on
the validation split ideally and on non-ideal crossbars (moo_snn.training.nonideal) under:
the problem file's own [nonideal] table, the defaults (as-fabricated stuck rates, 10 % variation,
4-bit ADCs), and each non-ideality alone. Prints a JSON list, one record per front member.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/nonideal/front_loss.py benchmarks/nonideal/free.nc
"""

from __future__ import annotations

import dataclasses
import json
import sys
import tempfile
from pathlib import Path

import torch

from moo_snn.cost.nonideal import NonidealConfig
from moo_snn.data import load_problem_data
from moo_snn.results import open_results
from moo_snn.training.nonideal import measure_nonideal
from moo_snn.training.trainer import train_architecture

SETTINGS = {
    "defaults": NonidealConfig(),
    "adc_4bit_only": NonidealConfig(conductance_sigma=0.0, stuck_off_fraction=0.0, stuck_on_fraction=0.0),
    "sigma_0.05_only": NonidealConfig(stuck_off_fraction=0.0, stuck_on_fraction=0.0, conductance_sigma=0.05, adc=False),
    "stuck_only": NonidealConfig(conductance_sigma=0.0, adc=False),
}


def main(path: str) -> None:
    torch.set_num_threads(1)
    ds = open_results(path)
    spec = ds.moo.problem()
    data = load_problem_data(spec)
    records = []
    for record in ds.moo.front_records():
        out = {"arch": record["arch"], "run_val_accuracy": record["val_accuracy"],
               "run_accuracy_nonideal": record.get("accuracy_nonideal")}
        with tempfile.TemporaryDirectory() as folder:
            weights = Path(folder) / "net.pt"
            result = train_architecture(spec, record["arch"], data, seed=spec.search.seed, weights_path=weights)
            out["retrained_val_accuracy"] = result.val_accuracy
            for name, config in {"problem": spec.nonideal, **SETTINGS}.items():
                config = dataclasses.replace(config, draws=spec.nonideal.draws)
                measured = measure_nonideal(dataclasses.replace(spec, nonideal=config), weights, data)
                out[name] = [round(measured["accuracy_nonideal"], 4), round(measured["accuracy_nonideal_std"], 4)]
        records.append(out)
        print(json.dumps(out), file=sys.stderr)
    print(json.dumps(records, indent=1))


if __name__ == "__main__":
    main(sys.argv[1])
