"""Is a training reproducible? The same tasks trained in separate processes, in another order, on a
Dask worker, and with 1 vs 2 torch threads; one JSON line per training (accuracies, epoch losses as
exact hex floats, spike rates), then a comparison.

::

    python benchmarks/determinism.py                # all cases (about 5 minutes on a busy 2-core machine)
    python benchmarks/determinism.py --quick        # 2 epochs, no Dask case

Tasks: three digits-long architectures at the problem's proxy level (8 epochs on a stratified
quarter of the training split) and one at 4 epochs on the full split, seed 0 (``--quick``: 2
epochs). Each case runs in a fresh process (``multiprocessing`` spawn) so that nothing carries over.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys

ARCHS = ["0303-0030-0003-0000_c8_t2_w4_p1_h0", "0102-0013-0002-0000_c4_t2_w2_p2_h32", "0301-0000-0200-0000_c16_t1_w8_p4_h0"]


def tasks(quick: bool):
    from moo_snn.config.problem import load_problem
    from moo_snn.executor import training_tasks

    problem = load_problem("digits-long")
    proxy, full = (2, 2) if quick else (8, 4)
    return (training_tasks(problem, ARCHS, seed=0, epochs=proxy, train_fraction=0.25)
            + training_tasks(problem, ARCHS[:1], seed=0, epochs=full, train_fraction=1.0))


def case(name: str, quick: bool, queue) -> None:
    """Train every task as case ``name`` says; put ``(name, [records in task order])`` on ``queue``."""
    from moo_snn.executor import DaskExecutor, InProcessExecutor

    todo = tasks(quick)
    order = list(range(len(todo)))[::-1] if name == "reversed" else list(range(len(todo)))
    if name == "dask":
        executor = DaskExecutor(workers=1, torch_threads=1)
    else:
        executor = InProcessExecutor(torch_threads=2 if name == "threads2" else 1)
    with executor:
        results = dict(executor.run([todo[i] for i in order]))
    records = [None] * len(todo)
    for position, i in enumerate(order):
        r = results[position]
        records[i] = dict(val=r["val_accuracy"], test=r["test_accuracy"], threads=r.get("torch_threads"),
                          losses=[float(x).hex() for x in r["epoch_losses"]], rates=r["spike_rates"])
    queue.put((name, records))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    names = ["first", "second", "reversed", "threads2"] + ([] if args.quick else ["dask"])
    ctx = multiprocessing.get_context("spawn")
    out = {}
    for name in names:  # one at a time: the cases must not share the cores
        queue = ctx.Queue()
        p = ctx.Process(target=case, args=(name, args.quick, queue))
        p.start()
        out.update([queue.get()])
        p.join()
        for i, rec in enumerate(out[name]):
            print(json.dumps(dict(case=name, task=i, **rec)), flush=True)
    def measured(record):  # what a training measured (not the thread count it was given)
        return {k: v for k, v in record.items() if k != "threads"}

    reference = [measured(r) for r in out["first"]]
    for name in names[1:]:
        other = [measured(r) for r in out[name]]
        same = [a == b for a, b in zip(reference, other)]
        detail = "; ".join(f"task {i}: val {a['val']:.4f}/{b['val']:.4f}, test {a['test']:.4f}/{b['test']:.4f}, losses "
                           f"{'same' if a['losses'] == b['losses'] else 'differ'}, rates "
                           f"{'same' if a['rates'] == b['rates'] else 'differ'}"
                           for i, (a, b) in enumerate(zip(reference, other)) if a != b)
        print(f"{name} vs first: {sum(same)}/{len(same)} trainings bit-identical{'; ' + detail if detail else ''}",
              file=sys.stderr)


if __name__ == "__main__":
    main()
