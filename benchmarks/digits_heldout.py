"""Build ``benchmarks/digits_heldout.nc``: digits networks outside ``surrogates/digits.nc``, trained with
``problems/digits.toml``'s recipe, on which the accuracy predictor is judged (issue 14).

The set is drawn the way a search meets architectures:

* ``space_filling``: the greedy maximin sample of feasible networks (:func:`space_filling_sample`)
  drawn with another seed (1) than the archive's (0), the archive's networks removed: what a
  bootstrap would train;
* ``nsga2``: the final populations of NSGA-II runs (seeds 1, 2, 3; pop 64, 40 generations, the
  problem's ``[search]`` sizes) on today's predictor fitted on the archive, the candidates that meet
  every limit (cost limits and the predicted accuracy limit) and are not in the archive, reduced by
  the same maximin selection: what a round's survivors look like (the predicted-good networks where
  the search asks the predictor to discriminate).

Every network meets every cost limit of digits.toml (checked). Each is trained once (seed 0, one
torch thread) with SNASNet's training-free score; the file is an ordinary archive
(:mod:`moo_snn.surrogate.archive`) with the attribute ``heldout_origin`` (JSON: arch → origin).
Resumable: networks already in the file are not trained again.

    OMP_NUM_THREADS=1 nice python benchmarks/digits_heldout.py [--n-space 24] [--n-nsga2 24]
    OMP_NUM_THREADS=1 nice python benchmarks/digits_heldout.py --train-seed 1   # the same networks again

``--train-seed 1`` trains the same networks with another seed into the same file: the seed-noise
ceiling of the held-out figures (how well one training ranks the networks of another, overall and
among the half it ranks best).

Read it with ``moo-snn surrogate report digits --heldout benchmarks/digits_heldout.nc``.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import closing
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def space_filling_archs(problem, space, exclude: set[str], n: int, seed: int = 1) -> list[str]:
    """The first ``n`` networks of a seed-``seed`` space-filling feasible sample that are not in ``exclude``."""
    from moo_snn.surrogate.sampling import space_filling_sample

    out = []
    for x in space_filling_sample(problem, space, 4 * n, seed=seed):
        arch = str(space.decode(x))
        if arch not in exclude and arch not in out:
            out.append(arch)
        if len(out) == n:
            break
    return out


def nsga2_archs(problem, space, archive, exclude: set[str], n: int, seeds=(1, 2, 3)) -> list[str]:
    """Up to ``n`` distinct networks that NSGA-II, run on the predictor fitted on ``archive``, ends with
    (every limit met, predicted accuracy included; not in ``exclude``), spread by maximin selection."""
    from pymoo.optimize import minimize

    from moo_snn.search.pymoo_problem import SnnSearchProblem, make_algorithm
    from moo_snn.surrogate import archive as arc
    from moo_snn.surrogate.predictor import make_predictor, predictor_inputs
    from moo_snn.surrogate.sampling import gene_coordinates

    done = arc.full_fidelity(archive, problem.training.epochs)
    model = make_predictor(problem, random_state=0).fit(predictor_inputs(done.arch.values), done.val_accuracy.values.astype(float))
    pool, genomes = [], []
    for seed in seeds:
        search = SnnSearchProblem(problem, space, model)
        initial = space.sample(problem.search.pop_size, np.random.default_rng([seed, 0]))
        result = minimize(search, make_algorithm(space, problem.search.pop_size, initial),
                          ("n_gen", problem.search.generations), seed=seed, verbose=False)
        X = np.rint(result.pop.get("X")).astype(np.int64)
        G = result.pop.get("G")
        for x, g in zip(X, G):
            arch = str(space.decode(x))
            if np.all(g <= 0) and arch not in exclude and arch not in pool:
                pool.append(arch)
                genomes.append(x)
    if not pool:
        return []
    coords = gene_coordinates(space, np.array(genomes))
    chosen, distance = [0], np.linalg.norm(coords - coords[0], axis=1)
    while len(chosen) < min(n, len(pool)):
        k = int(np.argmax(distance))
        chosen.append(k)
        distance = np.minimum(distance, np.linalg.norm(coords - coords[k], axis=1))
    return [pool[k] for k in chosen]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-space", type=int, default=24)
    parser.add_argument("--n-nsga2", type=int, default=24)
    parser.add_argument("--archive", type=Path, default=ROOT / "surrogates" / "digits.nc")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "digits_heldout.nc")
    parser.add_argument("--train-seed", type=int, default=0)
    parser.add_argument("--origin", default=None, help="train only the networks of this origin (space_filling or nsga2)")
    args = parser.parse_args(argv)

    from moo_snn.config.problem import load_problem
    from moo_snn.evaluation import meets_cost_limits
    from moo_snn.executor import InProcessExecutor, training_tasks
    from moo_snn.space import SearchSpace
    from moo_snn.surrogate import archive as arc
    from moo_snn.surrogate.build import open_or_create

    problem = load_problem("digits")
    space = SearchSpace(problem.space)
    archive = arc.load_archive(args.archive)
    exclude = {str(a) for a in archive.arch.values}
    origin = {a: "space_filling" for a in space_filling_archs(problem, space, exclude, args.n_space)}
    origin |= {a: "nsga2" for a in nsga2_archs(problem, space, archive, exclude | set(origin), args.n_nsga2)}
    from moo_snn.architecture import Architecture

    X = np.array([space.encode(Architecture.parse(a)) for a in origin])
    if not np.all(meets_cost_limits(problem, space, X)):
        raise SystemExit("a held-out network breaks a cost limit: the selection above is wrong")
    out = open_or_create(problem, args.out)
    have = {str(a) for a, s, seed in zip(out.arch.values, out.status.values, out.seed.values)
            if s == "trained" and seed == args.train_seed}
    todo = [a for a in origin if a not in have and args.origin in (None, origin[a])]
    print(f"{len(origin)} held-out networks ({sum(v == 'space_filling' for v in origin.values())} space-filling, "
          f"{sum(v == 'nsga2' for v in origin.values())} NSGA-II); {len(todo)} to train", file=sys.stderr, flush=True)
    out.attrs["heldout_origin"] = json.dumps(origin)
    with InProcessExecutor(torch_threads=1) as executor:
        tasks = training_tasks(problem, todo, seed=args.train_seed, score=True)
        with closing(executor.run(tasks)) as results:
            for done, (_, result) in enumerate(results, start=1):
                out = arc.append(out, result, sahd_score=result.get("sahd_score", np.nan))
                out.attrs["heldout_origin"] = json.dumps(origin)
                arc.save_archive(out, args.out)
                print(f"{done}/{len(todo)} {result['arch']} {result['status']} {result['val_accuracy']:.3f} "
                      f"{result['train_seconds']:.1f} s", file=sys.stderr, flush=True)
    arc.save_archive(out, args.out)


if __name__ == "__main__":
    main()
