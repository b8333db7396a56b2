"""Which network of a search's pool needs the most memory to train (``moo-snn plan``'s worst network).

A training step holds, besides the data, the tensors autograd saves for the backward pass (they grow
with the batch: backpropagation through time keeps each feature map of each timestep, several times
per layer: conv and BatchNorm outputs, membrane potentials, surrogate-gradient inputs) and the
parameters with their gradients and optimiser state (not with the batch). Both are counted exactly,
without running anything, by :func:`saved_bytes` on PyTorch's ``meta`` device. Counting one network
takes a fraction of a second (Python-level meta kernels), too slow for a pool of hundreds, so
:func:`largest_network` counts only the :data:`SHORTLIST` networks with the most feature maps
(:func:`activation_maps`, a cheap count of the maps one sample passes through). On the digits pool
the shortlist holds the network with the most counted bytes (``tests/test_plan_truth.py``, slow);
on cifar10-hasnas the feature-map count ranks :func:`step_bytes` with Kendall τ 0.81 over 40 sampled
networks of its pool, whose five largest are among the count's top four (ties): close, not exact,
hence a shortlist rather than the count's maximum.
"""

from __future__ import annotations

import numpy as np

from moo_snn.architecture import CONV_KERNEL

SHORTLIST = 16
"""Networks with the most feature maps (:func:`activation_maps`) whose saved bytes are counted to find the
largest (:func:`largest_network`); counting one takes a fraction of a second."""


def activation_maps(arch, net_input) -> float:
    """Feature-map elements one sample passes through, over all timesteps: a cheap first ranking of the
    networks by training memory (to shortlist those whose saved bytes are counted, :func:`saved_bytes`).

    ``T · (C_in·H² + 2·C·d² [stem conv, BN] + Σ_cells (Σ_edges m_e + n_nodes)·w·d²
    + 3·C·d² + 4·C·d² [reduction: BN, LIF, conv in; conv out, BN] + 6·C·(d/2)² [final BN, LIF, pool])``
    with ``d`` the first cell's side, ``w`` the cell's width (C, then 2C at ``d/2``), ``m_e = 4`` for a
    conv edge (LIF state and spikes, conv output, BN output) and 1 for a skip or pooling edge, and
    ``n_nodes`` the cell's nodes on a path. Backpropagation through time keeps each of these maps of
    each timestep (the classifier's few features are left out).
    """
    c, d = arch.channels, net_input.cell_side
    edges = arch.pruned().active_edges()
    nodes = len({e.i for e in edges} | {e.j for e in edges})
    total = net_input.channels * net_input.side ** 2 + 2 * c * d ** 2 + 3 * c * d ** 2 + 4 * c * d ** 2 + 6 * c * (d // 2) ** 2
    for width, side in ((c, d), (2 * c, d // 2)):
        total += (sum(4 if e.op in CONV_KERNEL else 1 for e in edges) + nodes) * width * side ** 2
    return float(arch.timesteps * total)


def _saved_at(model, net, batch: int) -> int:
    """Bytes of the tensors autograd saves in one forward pass of ``model`` (on ``meta``) at ``batch``."""
    import torch

    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.device("meta"):
        x = torch.zeros(batch, net.channels, net.side, net.side)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return total


def saved_bytes(problem, arch) -> tuple[float, float, float]:
    """What training ``arch`` keeps for the backward pass: ``(bytes per sample, bytes per step that do
    not grow with the batch, bytes of the parameters)``.

    The network's forward pass runs on PyTorch's ``meta`` device (shapes only: no memory, no
    arithmetic) under :func:`torch.autograd.graph.saved_tensors_hooks`, which sees every tensor saved
    for the backward pass, at batches 1 and 2: the difference is what one more sample adds (feature
    maps, membrane potentials ...), the rest what every step saves whatever its batch (the fake-
    quantised weights of each layer, once per timestep). A training step then holds about
    ``batch · per_sample + fixed + 4 · params`` (weights, gradients, two Adam moments), plus what this
    leaves out: the backward pass's transient buffers and the allocator's overhead (a tensor saved by
    two operations is counted twice: meta tensors have no storage to tell). On the CIFAR and
    TinyImageNet problems the resident memory measured on CPU was 2.1-2.4 times this count
    (benchmarks/RESULTS.md): it ranks networks, the plan measures the one it picks.
    """
    import torch

    from moo_snn.training.network import SpikingNetwork

    net = problem.network_input
    with torch.device("meta"):
        model = SpikingNetwork(arch.pruned(), net, problem.training)
    model.train()
    one, two = _saved_at(model, net, 1), _saved_at(model, net, 2)
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    return float(two - one), float(2 * one - two), float(params)


def step_bytes(problem, arch) -> float:
    """``batch · per_sample + fixed + 4 · params`` of :func:`saved_bytes` at the problem's batch."""
    per_sample, fixed, params = saved_bytes(problem, arch)
    return problem.training.batch_size * per_sample + fixed + 4 * params


def largest_network(problem, archs, shortlist: int = SHORTLIST) -> tuple[int, float]:
    """Index in ``archs`` of the network whose training step should need the most memory, and its
    estimated step bytes at the problem's batch: of the ``shortlist`` networks with the most
    :func:`activation_maps`, the one with the most :func:`step_bytes`."""
    maps = np.array([activation_maps(a, problem.network_input) for a in archs])
    best, best_bytes = -1, -1.0
    for i in np.argsort(-maps, kind="stable")[:shortlist]:
        estimate = step_bytes(problem, archs[int(i)])
        if estimate > best_bytes:
            best, best_bytes = int(i), estimate
    return best, best_bytes
