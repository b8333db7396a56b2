"""How the asynchronous search's own cost per pass grows with the results it has (issue 16).

A pass refits the accuracy predictor (the loop's default: :func:`moo_snn.surrogate.predictor.make_predictor`,
8 bagged histogram gradient-boosting members of 200 iterations) on every result received so far,
then runs NSGA-II (a cost that does not depend on the results: ``pop_size × generations`` predictions).
This script times the fit alone, in CPU seconds of this thread (``time.thread_time``: not blurred by other
processes on a shared machine), on ``n`` architectures of the default problem's space with made-up accuracies
(the fit's cost depends on n and the features, not on the values), for n from 25 to 4,000.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_async_fit.py [--sizes 25,100,400,1000,2000,4000] [--repeats 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="25,100,400,1000,2000,4000")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from moo_snn.config.problem import load_problem
    from moo_snn.space import SearchSpace
    from moo_snn.surrogate.predictor import DEFAULT_REGRESSOR, make_predictor, predictor_inputs

    spec = load_problem("digits")
    space = SearchSpace(spec.space)
    rng = np.random.default_rng(0)
    sizes = [int(n) for n in args.sizes.split(",")]
    archs = [str(space.decode(x)) for x in space.sample(max(sizes), rng)]
    accuracy = rng.uniform(0.1, 0.95, len(archs))
    rows = []
    for n in sizes:
        times = []
        for r in range(args.repeats):
            model = make_predictor(spec, DEFAULT_REGRESSOR, random_state=r)
            start = time.thread_time()
            model.fit(predictor_inputs(archs[:n]), accuracy[:n])
            times.append(time.thread_time() - start)
        rows.append(dict(records=n, fit_cpu_s_min=min(times), fit_cpu_s_median=float(np.median(times))))
        if not args.json:
            print(f"{n:5d} records: fit {min(times):.2f} s CPU (min of {args.repeats})", flush=True)
    report = dict(regressor=DEFAULT_REGRESSOR, load=os.getloadavg(), rows=rows)
    if args.json:
        print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
