#!/bin/sh
# Two small searches of examples/digits-nonideal.toml: accuracy_nonideal measured but unconstrained
# (limit 0) and constrained (>= 0.7). Same seed and options. Run from the repository root.
set -e
O="--rounds 2 --generations 2 --pop-size 8 --survivors 2 --torch-threads 1 --seed 0"
OUT=${OUT:-benchmarks/nonideal}
sed 's/^accuracy_nonideal = { min = 0.0 }/accuracy_nonideal = { min = 0.7 }/' examples/digits-nonideal.toml > "$OUT/digits-nonideal-0.7.toml"
OMP_NUM_THREADS=1 .venv/bin/moo-snn optimize examples/digits-nonideal.toml $O --out "$OUT/free.nc"
OMP_NUM_THREADS=1 .venv/bin/moo-snn optimize "$OUT/digits-nonideal-0.7.toml" $O --out "$OUT/limited.nc"
