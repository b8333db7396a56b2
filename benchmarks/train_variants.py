"""Full training on digits: the reference architecture, then 4- vs 8-bit weights and T = 2 vs T = 5.

Usage: python benchmarks/train_variants.py [--seeds 3] [--json]

Every variant is the reference architecture of problems/digits.toml with one field changed, trained
with the problem's recipe; medians over seeds. Wall time is the training loop only (not the data load).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
from dataclasses import replace

import torch

from moo_snn.config.problem import load_problem
from moo_snn.data import load_problem_data
from moo_snn.training.trainer import train_architecture


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    problem = load_problem("digits")
    data = load_problem_data(problem)
    ref = problem.reference_arch
    variants = {
        f"reference ({ref})": ref,
        "4-bit weights": replace(ref, weight_bits=4),
        "8-bit weights": replace(ref, weight_bits=8),
        "T = 2": replace(ref, timesteps=2),
        "T = 5": replace(ref, timesteps=5),
    }
    rows = []
    for label, arch in variants.items():
        runs = [train_architecture(problem, arch, data, seed=s) for s in range(args.seeds)]
        rows.append(dict(
            variant=label, arch=str(arch),
            val_accuracy=statistics.median(r.val_accuracy for r in runs),
            test_accuracy=statistics.median(r.test_accuracy for r in runs),
            test_accuracy_min=min(r.test_accuracy for r in runs),
            train_seconds=statistics.median(r.train_seconds for r in runs),
            samples_per_second=statistics.median(r.samples_per_second for r in runs),
        ))
        if not args.json:
            r = rows[-1]
            print(f"| {label} | `{r['arch']}` | {r['val_accuracy']:.4f} | {r['test_accuracy']:.4f} "
                  f"(min {r['test_accuracy_min']:.4f}) | {r['train_seconds']:.1f} | {r['samples_per_second']:.0f} |", flush=True)
    if args.json:
        print(json.dumps(dict(machine=f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}",
                              torch=torch.__version__, threads=torch.get_num_threads(), seeds=args.seeds, rows=rows)))


if __name__ == "__main__":
    main()
