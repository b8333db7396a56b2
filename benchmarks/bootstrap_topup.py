"""How far a bootstrap top-up lies from the archive it tops up: the maximin augmentation of the archive's
networks (``space_filling_sample(..., measured=...)``, what a run does) against the first unmeasured members of
an archive-blind space-filling sample (what it did before).

For each search seed and archive size k, the archive is another seed's space-filling sample of k networks
(an archive built elsewhere) and the bootstrap asks for 20 networks. Printed per case: the smallest and the
mean distance from a new network to its nearest archived one (canonical genome coordinates,
``moo_snn.surrogate.sampling.gene_coordinates``; the maximin criterion is the smallest). No training.

    OMP_NUM_THREADS=1 python benchmarks/bootstrap_topup.py [--problem digits] [--seeds 4]
"""

from __future__ import annotations

import argparse

import numpy as np

from moo_snn.config.problem import load_problem
from moo_snn.space import SearchSpace
from moo_snn.surrogate.sampling import gene_coordinates, space_filling_sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="digits")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--bootstrap", type=int, default=20)
    args = parser.parse_args()
    problem = load_problem(args.problem)
    space = SearchSpace(problem.space)

    def nearest(A, M):
        a, m = gene_coordinates(space, A), gene_coordinates(space, M)
        return np.linalg.norm(a[:, None] - m[None], axis=2).min(axis=1)

    print("seed  archived  min (augmented / blind)  mean (augmented / blind)")
    wins = []
    for seed in range(args.seeds):
        for k in (3, 8, 14):
            M = space_filling_sample(problem, space, k, seed=seed + 100)
            names = {str(space.decode(x)) for x in M}
            aug = space_filling_sample(problem, space, args.bootstrap - k, seed=seed, measured=sorted(names))
            blind = np.array([x for x in space_filling_sample(problem, space, args.bootstrap, seed=seed)
                              if str(space.decode(x)) not in names][: args.bootstrap - k])
            a, b = nearest(aug, M), nearest(blind, M)
            wins.append(a.min() > b.min())
            print(f"{seed:4d}  {k:8d}  {a.min():.3f} / {b.min():.3f}          {a.mean():.3f} / {b.mean():.3f}")
    print(f"augmented farther (smallest distance) in {sum(wins)} of {len(wins)} cases")


if __name__ == "__main__":
    main()
