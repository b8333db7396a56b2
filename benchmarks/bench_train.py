"""Training throughput: moo-snn's spiking networks against the same networks as a plain-torch LIF loop,
and ``moo-snn train digits`` on a busy machine.

    python benchmarks/bench_train.py [--device cpu|cuda] [--json] [--threads N] [--repeats R]

1. samples/s of training (forward, cross-entropy, backward, SGD step) and of evaluation (no
   gradients) for three networks of the digits space (8×8×1) and three of CIFAR-10's space
   (random 32×32×3 data, T = 5), each run by moo-snn (:class:`SpikingNetwork`) and by
   :func:`plain_forward`: the same modules (quantised convs, BatchNorm, pooling), but the neuron as
   the textbook plain-torch loop ``v ← v + a(x − v); z = H(v − θ) (SuperSpike surrogate); v ← (1 − z)v``
   with autograd through every operation, and the cell written out without moo-snn's recorder and
   node bookkeeping. Both are checked to give the same loss before they are timed. The two are
   timed alternately (R repeats, medians), so load from other processes hits both alike.
   ``norse_vs_plain``: median over the networks of plain samples/s ÷ moo-snn samples/s (training).
2. ``busy_slowdown``: wall time of ``moo-snn train digits`` (its default thread policy) while two
   other torch processes with 2 threads each run a matmul loop, ÷ the same command without them,
   measured in this run (the script starts and stops the competing processes).

Data are random tensors: no data set is read for part 1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from moo_snn.training import runtime  # noqa: F401 - sets the OpenMP environment before torch is imported

import torch
import torch.nn.functional as F

from moo_snn.architecture import Architecture
from moo_snn.config.problem import TrainingSpec
from moo_snn.layers import NetworkInput
from moo_snn.training.network import Cell, SpikingConv, SpikingNetwork

DIGITS = NetworkInput(1, 8, 10)
CIFAR10 = NetworkInput(3, 32, 10)
NETWORKS = [
    # (space, input, architecture, batch size, timed batches)
    ("digits", DIGITS, "0303-0030-0003-0000_c16_t4_w4_p1_h0", 64, 12),   # the digits problem's reference
    ("digits", DIGITS, "0303-0030-2002-0200_c16_t4_w4_p2_h32", 64, 12),  # backward edges: stepwise cell
    ("digits", DIGITS, "0001-0000-0000-0000_c8_t2_w2_p2_h0", 64, 24),    # one conv1x1 edge
    ("cifar10", CIFAR10, "0303-0030-0003-0000_c32_t5_w4_p4_h0", 32, 2),
    ("cifar10", CIFAR10, "0303-0030-2002-0200_c32_t5_w4_p4_h256", 32, 2),  # SNASNet's CIFAR-10 cell
    ("cifar10", CIFAR10, "0302-0030-3003-0000_c32_t5_w8_p2_h0", 32, 2),    # SNASNet's CIFAR-100 cell, 8-bit
]


# --- the plain-torch reference ----------------------------------------------------------------

class PlainSuperSpike(torch.autograd.Function):
    """Heaviside forward, SuperSpike backward ``g / (|d| + 1)²`` (norse 1.1.0's ``super``)."""

    @staticmethod
    def forward(ctx, d):
        ctx.save_for_backward(d)
        return (d > 0).to(d.dtype)

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        return g / (d.abs() + 1.0).pow(2)


def plain_lif_step(x, v, a, v_th):
    """One LIF step as elementary torch operations (autograd through each)."""
    v = v + a * (x - v)
    z = PlainSuperSpike.apply(v - v_th)
    return z, (1 - z) * v


def plain_lif(x, a, v_th):
    """LIF over ``x`` ``(T, ...)`` from v = 0."""
    v, out = torch.zeros_like(x[0]), []
    for x_t in x:
        z, v = plain_lif_step(x_t, v, a, v_th)
        out.append(z)
    return torch.stack(out)


def _flat(fn, x):
    y = fn(x.flatten(0, 1))
    return y.view(x.shape[0], x.shape[1], *y.shape[1:])


def _edge_op(op, x):
    """A cell edge over a whole sequence (``op``: moo-snn's module, used for its weights only)."""
    if isinstance(op, SpikingConv):
        return _flat(lambda s: op.bn(op.conv(s)), plain_lif(x, op.lif.decay, op.lif.v_th))
    return _flat(op.fn, x)


def _plain_cell(cell: Cell, x):
    if not cell.recurrent:
        nodes = [x, 0, 0, 0]
        for edge, op in zip(cell.edges, cell.ops):
            nodes[edge.target] = nodes[edge.target] + _edge_op(op, nodes[edge.source])
        return nodes[3]
    states, previous, outputs = [None] * len(cell.ops), None, []
    for x_t in x:
        nodes = [x_t, 0, 0, 0]
        for target in range(4):
            for k, (edge, op) in enumerate(zip(cell.edges, cell.ops)):
                if edge.target != target or (edge.backward and previous is None):
                    continue
                source = previous[edge.source] if edge.backward else nodes[edge.source]
                if isinstance(op, SpikingConv):
                    v = torch.zeros_like(source) if states[k] is None else states[k]
                    z, states[k] = plain_lif_step(source, v, op.lif.decay, op.lif.v_th)
                    nodes[target] = nodes[target] + op.bn(op.conv(z))
                else:
                    nodes[target] = nodes[target] + op.fn(source)
        previous = nodes
        outputs.append(nodes[3])
    return torch.stack(outputs)


def plain_forward(net: SpikingNetwork, x):
    """``net``'s function written as a plain-torch LIF loop on ``net``'s own modules (weights shared)."""
    lif = net.reduction_lif
    current = net.stem(x)
    h = _plain_cell(net.cell1, current.unsqueeze(0).expand(net.timesteps, *current.shape))
    spikes = plain_lif(_flat(net.reduction_bn, h), lif.decay, lif.v_th)
    h = _plain_cell(net.cell2, _flat(net.reduction, spikes))
    spikes = plain_lif(_flat(net.head_bn, h), lif.decay, lif.v_th)
    features = net.dropout(_flat(lambda s: F.avg_pool2d(s, net.final_pool), spikes).flatten(2))
    if net.fc1 is not None:
        features = plain_lif(net.fc1(features), lif.decay, lif.v_th)
    return net.fc2(features).mean(0)


# --- timing -----------------------------------------------------------------------------------

def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_training(forward, net, x, y, n_batches, device) -> float:
    """samples/s of ``n_batches`` SGD steps (after one untimed step)."""
    opt = torch.optim.SGD(net.parameters(), lr=1e-3)

    def step():
        loss = F.cross_entropy(forward(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    net.train()
    step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(n_batches):
        step()
    _sync(device)
    return n_batches * len(x) / (time.perf_counter() - start)


@torch.no_grad()
def time_evaluation(forward, net, x, n_batches, device) -> float:
    net.eval()
    forward(x)
    _sync(device)
    start = time.perf_counter()
    for _ in range(n_batches):
        forward(x)
    _sync(device)
    return n_batches * len(x) / (time.perf_counter() - start)


def same_loss(net, x, y) -> bool:
    """moo-snn and the plain loop compute the same loss and gradients on the same batch (train mode)."""
    state = {k: v.clone() for k, v in net.state_dict().items()}
    losses, grads = [], []
    for forward in (net, lambda b: plain_forward(net, b)):
        net.load_state_dict(state)
        net.train()
        net.zero_grad()
        loss = F.cross_entropy(forward(x), y)
        loss.backward()
        losses.append(loss.detach())
        grads.append(torch.cat([p.grad.flatten() for p in net.parameters() if p.grad is not None]))
    net.load_state_dict(state)
    return bool(torch.allclose(losses[0], losses[1], rtol=1e-5, atol=1e-6)
                and torch.allclose(grads[0], grads[1], rtol=1e-4, atol=1e-6))


def bench_network(space, net_input, text, batch, n_batches, device, repeats) -> dict:
    torch.manual_seed(0)
    net = SpikingNetwork(Architecture.parse(text).pruned(), net_input, TrainingSpec()).to(device)
    x = torch.randn(batch, net_input.channels, net_input.side, net_input.side, device=device)
    y = torch.randint(0, net_input.n_classes, (batch,), device=device)
    if not same_loss(net, x, y):
        raise AssertionError(f"{text}: the plain-torch loop and moo-snn disagree: not the same maths")
    plain = lambda b: plain_forward(net, b)  # noqa: E731
    train = {"ours": [], "plain": []}
    evaluation = {"ours": [], "plain": []}
    for _ in range(repeats):  # alternate, so that load from elsewhere hits both alike
        for name, forward in (("ours", net), ("plain", plain)):
            train[name].append(time_training(forward, net, x, y, n_batches, device))
            evaluation[name].append(time_evaluation(forward, net, x, max(2, n_batches), device))
    med = {f"{kind}_{name}": statistics.median(values[name]) for kind, values in (("train", train), ("eval", evaluation))
           for name in values}
    return dict(space=space, arch=text, batch=batch, batches=n_batches, **{k: round(v, 1) for k, v in med.items()},
                plain_over_ours_train=round(med["train_plain"] / med["train_ours"], 3),
                plain_over_ours_eval=round(med["eval_plain"] / med["eval_ours"], 3))


# --- busy machine -----------------------------------------------------------------------------

MATMUL_LOOP = ("import torch, time\ntorch.set_num_threads(2)\na = torch.randn(512, 512)\n"
               "while True:\n    a = torch.tanh(a @ a)\n")


def _train_wall(epochs: int | None) -> float:
    cmd = [str(Path(sys.executable).with_name("moo-snn")), "train", "digits", "--json"]
    if epochs:
        cmd += ["--epochs", str(epochs)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return time.perf_counter() - start


def busy_slowdown(epochs: int | None) -> dict:
    """Wall of ``moo-snn train digits`` quiet and next to two 2-thread matmul loops (started and stopped here)."""
    quiet = _train_wall(epochs)
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    hogs = [subprocess.Popen([sys.executable, "-c", MATMUL_LOOP], env=env) for _ in range(2)]
    try:
        time.sleep(2.0)  # let them start their threads
        busy = _train_wall(epochs)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    return dict(quiet_s=round(quiet, 2), busy_s=round(busy, 2), busy_slowdown=round(busy / quiet, 3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for part 1 (the same for both)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--busy-epochs", type=int, default=None, help="epochs of `moo-snn train digits` (default: the problem's)")
    parser.add_argument("--skip-busy", action="store_true", help="part 1 only")
    parser.add_argument("--busy-only", action="store_true", help="part 2 only")
    parser.add_argument("--spaces", default="digits,cifar10", help="which networks of part 1 (comma-separated spaces)")
    parser.add_argument("--cifar-batch", type=int, default=32, help="batch size of the CIFAR-10-space networks")
    parser.add_argument("--cifar-batches", type=int, default=2, help="timed batches of the CIFAR-10-space networks")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    out = dict(device=args.device, threads=args.threads, load_average_before=os.getloadavg()[0])
    if not args.busy_only:
        rows = []
        for space, net_input, text, batch, n_batches in NETWORKS:
            if space not in args.spaces.split(","):
                continue
            if space == "cifar10":
                batch, n_batches = args.cifar_batch, args.cifar_batches
            rows.append(bench_network(space, net_input, text, batch, n_batches, device, args.repeats))
            if not args.json:
                print(json.dumps(rows[-1]), flush=True)
        out.update(networks=rows, norse_vs_plain=round(statistics.median(r["plain_over_ours_train"] for r in rows), 3),
                   norse_vs_plain_eval=round(statistics.median(r["plain_over_ours_eval"] for r in rows), 3))
    if not args.skip_busy and args.device == "cpu":
        out.update(busy_slowdown(args.busy_epochs))
    out["load_average_after"] = os.getloadavg()[0]
    print(json.dumps(out, indent=None if args.json else 1))


if __name__ == "__main__":
    main()
