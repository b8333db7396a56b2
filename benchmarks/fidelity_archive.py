"""Train the proxy-vs-full evidence of multi-fidelity search on digits into ``surrogates/digits-fidelity.nc``.

The same 64-architecture space-filling sample of feasible digits networks (seed 0: the first 64 of
``surrogates/digits.nc``, whose full 10-epoch trainings are already there) is trained at each
low-fidelity level below (epochs, stratified fraction of the training split), then fully with the
long recipe of ``problems/digits-long.toml`` (30 epochs), seed 0, one torch thread. The build is
resumable: run the same command again and finished records are kept.

    nice python benchmarks/fidelity_archive.py [--n 64] [--full-epochs 30] [--skip-full] [--noise-n 20]
        [--levels 1x0.25,2x0.5,3x1]

``--levels EPOCHSxFRACTION,...`` chooses the proxies (default: the three of :data:`LEVELS`); more
epochs on less data is the same cost in full-training equivalents (epochs × fraction / full epochs).
A reduced-epoch training runs its own cosine schedule over its own steps (``make_optimizer`` is
given ``steps_per_epoch · epochs`` of the subset), not a truncated piece of the full one.
``--noise-n K`` then trains the first K architectures fully again with seed 1: the seed-noise
ceiling of the rank agreement (two trainings of the same networks that differ only in the seed).

Read it with ``moo-snn surrogate report digits --fidelity`` (see benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from moo_snn.config.problem import load_problem
from moo_snn.executor import InProcessExecutor
from moo_snn.surrogate.build import build_archive

LEVELS = [(1, 0.25), (2, 0.5), (3, 1.0)]
"""(epochs, train_fraction) proxies measured for every architecture of the sample."""


def parse_levels(text: str) -> list[tuple[int, float]]:
    """``"4x0.25,8x0.25"`` → ``[(4, 0.25), (8, 0.25)]`` (epochs × fraction of the training split)."""
    levels = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        try:
            epochs, fraction = item.lower().split("x")
            level = (int(epochs), float(fraction))
        except ValueError:
            raise argparse.ArgumentTypeError(f"a level is EPOCHSxFRACTION (e.g. 4x0.25), found {item!r}") from None
        if level[0] < 1 or not 0.0 < level[1] <= 1.0:
            raise argparse.ArgumentTypeError(f"a level needs epochs >= 1 and 0 < fraction <= 1, found {item!r}")
        levels.append(level)
    return levels


def same_networks(path: Path, full_epochs: int, n: int) -> list[str] | None:
    """The networks of the archive's full seed-0 trainings, in record order (None: no archive yet).

    New levels must be measured on the networks already trained fully: the space-filling sample of
    a seed depends on the problem's cost limits, and digits' limits changed after this archive's full
    trainings (a fresh sample would be other networks, with no 30-epoch accuracy to compare with)."""
    if not path.exists():
        return None
    from moo_snn.surrogate import archive as arc

    full = arc.trained(arc.load_archive(path), epochs=full_epochs, train_fraction=1.0)
    archs = [str(a) for a, s in zip(full.arch.values, full.seed.values) if s == 0]
    return archs[:n] if archs else None


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--full-epochs", type=int, default=30)
    parser.add_argument("--skip-full", action="store_true")
    parser.add_argument("--noise-n", type=int, default=20)
    parser.add_argument("--levels", type=parse_levels, default=LEVELS, help="proxies as EPOCHSxFRACTION,... (default 1x0.25,2x0.5,3x1)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "surrogates" / "digits-fidelity.nc")
    args = parser.parse_args(argv)
    problem = load_problem("digits")
    archs = same_networks(args.out, args.full_epochs, args.n)
    levels = [(e, f, args.n, 0) for e, f in args.levels]
    if not args.skip_full:
        levels += [(args.full_epochs, 1.0, args.n, 0), (args.full_epochs, 1.0, args.noise_n, 1)]
    with InProcessExecutor(torch_threads=1) as executor:
        for epochs, fraction, n, train_seed in levels:
            start = time.perf_counter()

            def on_result(done, total, result, epochs=epochs, fraction=fraction):
                print(f"[{epochs} ep, {fraction:g}] {done}/{total} {result['arch']} {result['status']} "
                      f"{result['val_accuracy']:.3f} {result['train_seconds']:.1f} s", file=sys.stderr, flush=True)

            build_archive(problem, args.out, n, seed=0, train_seed=train_seed, epochs=epochs, train_fraction=fraction,
                          score=False, executor=executor, on_result=on_result, archs=None if archs is None else archs[:n])
            print(f"level ({epochs} epochs, fraction {fraction:g}) done in {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
