"""Does noise-aware training ([training] weight_noise) keep accuracy on non-ideal crossbars?

Trains one digits network with weight_noise 0, 0.1 and 0.2 (0.2: about 2 x the conductance sigma 0.1),
then measures both ideally and on crossbars with 10 % programming variation (no stuck cells, no ADC),
and with the full no-stuck setting (sigma 0.1 and 4-bit ADCs), 5 chips each. Prints JSON lines.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/nonideal/noise_aware.py [ARCH] [EPOCHS]
"""

from __future__ import annotations

import dataclasses
import json
import sys
import tempfile
from pathlib import Path

import torch

from moo_snn.config.problem import load_problem
from moo_snn.cost.nonideal import NonidealConfig
from moo_snn.data import load_problem_data
from moo_snn.training.nonideal import measure_nonideal
from moo_snn.training.trainer import train_architecture


NOISES = (0.0, 0.1, 0.2)


def main(arch: str = "0001-0000-0000-0000_c16_t2_w4_p2_h32", epochs: int = 10) -> None:
    torch.set_num_threads(1)
    spec = load_problem("digits")
    data = load_problem_data(spec)
    settings = {"sigma_0.1": NonidealConfig(stuck_off_fraction=0.0, stuck_on_fraction=0.0, adc=False),
                "sigma_0.1_adc_4bit": NonidealConfig(stuck_off_fraction=0.0, stuck_on_fraction=0.0)}
    for noise in NOISES:
        problem = dataclasses.replace(spec, training=dataclasses.replace(spec.training, weight_noise=noise))
        with tempfile.TemporaryDirectory() as folder:
            weights = Path(folder) / "net.pt"
            result = train_architecture(problem, arch, data, epochs=epochs, seed=0, weights_path=weights)
            out = {"arch": arch, "epochs": epochs, "weight_noise": noise, "val_accuracy": round(result.val_accuracy, 4),
                   "train_seconds": round(result.train_seconds, 1)}
            for name, config in settings.items():
                m = measure_nonideal(dataclasses.replace(problem, nonideal=config), weights, data)
                out[name] = [round(m["accuracy_nonideal"], 4), round(m["accuracy_nonideal_std"], 4)]
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:2], *[int(a) for a in sys.argv[2:3]])
