"""A trained :class:`~moo_snn.training.network.SpikingNetwork` as a NIR graph (the ``nir`` package).

norse's own ``to_nir`` handles linear/LIF chains only; this module maps every layer of our network
to NIR nodes itself, so that convolutions, BatchNorm, pooling and the cell's recurrent (backward)
edges survive. NIR is a per-timestep graph: every node runs once per timestep, a node with several
incoming edges sums them (in the order of ``graph.edges``), and a ``Delay`` node outputs what it
received one timestep earlier (zeros at the first timestep). With dt = 1 ms (norse's):

=========================  ==================================================================
network part               NIR nodes
=========================  ==================================================================
input                      ``Input`` (C, H, W): the image normalised with the ``input_mean`` /
                           ``input_std`` metadata, fed unchanged at every timestep (direct encoding)
quantised conv             ``Conv2d`` with the *quantised* weights (integer levels × the node's
                           ``weight_scale`` metadata; ``weight_bits`` there too), zero bias
BatchNorm (eval)           ``Conv2d`` 1×1, α on the diagonal, bias β: the affine ``x·α + β`` with
                           α = γ/√(var + ε), β = b − mean·α; the statistics stay in the node's
                           metadata (``batchnorm_*``) so a reader can reproduce torch bit for bit
LIF (norse ``LIFBoxCell``)  ``LIF`` per neuron: τ = 1/τ⁻¹ [s], r = 1, v_leak = 0, v_threshold,
                           v_reset = 0; v ← v + dt/τ·(v_leak − v + r·I), spike if v > v_threshold
cell node j                ``Scale`` of ones (identity: the place where the node's edges add up)
skip edge                  a plain graph edge
avgpool3×3 edge            ``SumPool2d`` 3×3 (stride 1, zero padding 1) → ``Scale`` by 1/(number
                           of window positions inside the image): PyTorch's count_include_pad=False
backward edge j → i        the edge's ops, then ``Delay`` (one timestep) into node i
2×2 / s×s average pools    ``AvgPool2d`` (no padding)
classifier                 ``Flatten`` → ``Affine`` (quantised weights, bias) [→ ``LIF`` →
                           ``Affine``] → ``Output``
readout                    the mean over the T timesteps of the output (metadata ``readout``)
=========================  ==================================================================

Node names follow the network's layer names (``stem.conv``, ``cell1.bwd2-0.lif``,
``cell2.node3``, ``fc2``…). The graph's metadata holds the architecture string, T, dt, weight bits,
the problem's ``[hardware]`` table and whatever the caller adds (accuracy, costs).
"""

from __future__ import annotations

import json
from dataclasses import asdict

import nir
import numpy as np
import torch
import torch.nn.functional as F

from moo_snn.architecture import Architecture
from moo_snn.training.network import LIF, Cell, SpikingConv, SpikingNetwork
from moo_snn.training.quant import fake_quantize

FORMAT = "moo-snn-nir-1"
DT = 1e-3
"""Integration step of norse's ``LIFBoxCell`` [s] (its default, which the network uses)."""


def _np(t: torch.Tensor, dtype=np.float32) -> np.ndarray:
    return t.detach().cpu().numpy().astype(dtype)


class _Builder:
    def __init__(self):
        self.nodes: dict[str, nir.NIRNode] = {}
        self.edges: list[tuple[str, str]] = []

    def add(self, name: str, node, source: str | None = None) -> str:
        self.nodes[name] = node
        if source is not None:
            self.edges.append((source, name))
        return name

    def chain(self, source: str, *named_nodes) -> str:
        for name, node in named_nodes:
            source = self.add(name, node, source)
        return source


def _conv(conv, shape) -> nir.Conv2d:
    """A (quantised) conv layer: the quantised weights, zero bias, its quantisation step."""
    weight = fake_quantize(conv.weight, conv.bits)
    levels = 2 ** (conv.bits - 1) - 1 if conv.bits > 1 else 1
    scale = float(conv.weight.detach().abs().max()) / levels if conv.bits > 1 else float(conv.weight.detach().abs().mean())
    return nir.Conv2d(input_shape=tuple(shape[1:]), weight=_np(weight), stride=conv.stride, padding=conv.padding,
                      dilation=conv.dilation, groups=1, bias=np.zeros(conv.out_channels, np.float32),
                      metadata={"weight_bits": int(conv.bits), "weight_scale": scale})


def _batchnorm(bn, shape) -> nir.Conv2d:
    """BatchNorm in evaluation mode as a 1×1 conv (x·α + β), its statistics in the metadata."""
    invstd = 1.0 / torch.sqrt(bn.running_var.double() + bn.eps)
    alpha = bn.weight.double() * invstd
    beta = bn.bias.double() - bn.running_mean.double() * alpha
    c = bn.num_features
    meta = {"role": "batchnorm", "batchnorm_mean": _np(bn.running_mean), "batchnorm_var": _np(bn.running_var),
            "batchnorm_weight": _np(bn.weight), "batchnorm_bias": _np(bn.bias), "batchnorm_eps": float(bn.eps)}
    # a 1×1 conv with α on the diagonal (not a depthwise one: NIR's type inference ignores groups)
    weight = np.diag(_np(alpha)).reshape(c, c, 1, 1)
    return nir.Conv2d(input_shape=tuple(shape[1:]), weight=weight, stride=1, padding=0, dilation=1, groups=1,
                      bias=_np(beta), metadata=meta)


def _lif(lif: LIF, shape) -> nir.LIF:
    p = lif.cell.p
    full = lambda value, dtype=np.float32: np.full(shape, value, dtype=dtype)  # noqa: E731
    return nir.LIF(tau=full(1.0 / float(p.tau_mem_inv), np.float64), r=full(1.0), v_leak=full(float(p.v_leak)),
                   v_threshold=full(float(p.v_th)), v_reset=full(float(p.v_reset)))


def _identity(shape) -> nir.Scale:
    return nir.Scale(scale=np.ones(shape, np.float32), metadata={"role": "cell node (identity: its inputs add up here)"})


def _avgpool3x3(shape) -> tuple[nir.SumPool2d, nir.Scale]:
    """3×3, stride 1, zero padding 1, divided by the window positions inside the image."""
    h, w = shape[1:]
    counts = F.avg_pool2d(torch.ones(1, 1, h, w), 3, stride=1, padding=1, divisor_override=1)[0, 0]
    scale = np.broadcast_to(1.0 / counts.numpy(), shape).astype(np.float32)
    return (nir.SumPool2d(kernel_size=np.array([3, 3]), stride=np.array([1, 1]), padding=np.array([1, 1])),
            nir.Scale(scale=scale, metadata={"role": "avgpool3x3 (count_include_pad=False)"}))


def _avgpool(k: int) -> nir.AvgPool2d:
    return nir.AvgPool2d(kernel_size=np.array([k, k]), stride=np.array([k, k]), padding=np.array([0, 0]))


def _cell(g: _Builder, cell: Cell, prefix: str, source: str, shape) -> str:
    """Nodes ``prefix.node0..3`` and the cell's edges; returns the output node's name."""
    used = {0, 3} | {e.i for e in cell.edges} | {e.j for e in cell.edges}  # nodes off every 0 → 3 path are pruned
    nodes = [g.add(f"{prefix}.node0", _identity(shape), source)]
    nodes += [g.add(f"{prefix}.node{j}", _identity(shape)) if j in used else None for j in (1, 2, 3)]
    for edge, op in zip(cell.edges, cell.ops):  # genome order: the order in which the network adds them
        name = f"{prefix}.{edge.name}"
        if isinstance(op, SpikingConv):
            ops = [(f"{name}.lif", _lif(op.lif, shape)), (f"{name}.conv", _conv(op.conv, shape)),
                   (f"{name}.bn", _batchnorm(op.bn, shape))]
        elif edge.op == "avgpool3x3":
            pool, scale = _avgpool3x3(shape)
            ops = [(f"{name}.pool", pool), (f"{name}.scale", scale)]
        else:  # skip
            ops = []
        if edge.backward:
            ops.append((f"{name}.delay", nir.Delay(delay=np.full(shape, DT))))
        last = g.chain(nodes[edge.source], *ops)
        g.edges.append((last, nodes[edge.target]))
    return nodes[3]


def _check_model_is(model: SpikingNetwork, arch: Architecture) -> None:
    """A :class:`TrainingError` unless ``model`` was built from ``arch`` (pruned)."""
    from moo_snn.errors import TrainingError

    built = [(e.i, e.j, e.op, e.backward) for e in model.cell1.edges]
    wanted = [(e.i, e.j, e.op, e.backward) for e in arch.active_edges()]
    if built != wanted or model.timesteps != arch.timesteps or model.final_pool != arch.final_pool:
        raise TrainingError(f"the model is not the network of {arch}: its cell has the edges {built}, T = {model.timesteps}, "
                            f"final pool {model.final_pool}; give the architecture the weights were saved with (their "
                            f"file's 'arch'), not an equivalent form of it (the layers of each form are named after "
                            f"its own edges)")


@torch.no_grad()
def network_to_nir(model: SpikingNetwork, arch: Architecture | str, problem, *, input_mean=None, input_std=None,
                   metadata: dict | None = None) -> nir.NIRGraph:
    """The NIR graph of a trained ``model`` (the network of ``arch`` for ``problem``).

    Parameters
    ----------
    model : the trained network (weights as trained; it is not modified).
    arch : its architecture.
    problem : the :class:`~moo_snn.config.problem.ProblemSpec` (input shape, ``[hardware]``).
    input_mean, input_std : per-channel normalisation the network was trained with (metadata).
    metadata : more graph metadata (numbers, strings or arrays), e.g. measured accuracy and costs.

    Raises
    ------
    TrainingError
        ``model`` is not the network of ``arch``: its cells' edges, timesteps or final pool differ.
        The graph is built from the model's layers and its metadata names ``arch``; an equivalent
        form of the cell (:meth:`Architecture.canonical`) builds other layers, so the two would
        disagree (node names, metadata) without this check.
    """
    arch = Architecture.parse(arch) if isinstance(arch, str) else arch
    arch = arch.pruned()
    _check_model_is(model, arch)
    model = model.eval()
    net = problem.network_input
    c, side = arch.channels, net.cell_side
    g = _Builder()
    x = g.add("input", nir.Input(input_type=np.array([net.channels, net.side, net.side])))
    stem_conv, stem_bn = model.stem
    x = g.chain(x, ("stem.conv", _conv(stem_conv, (net.channels, net.side, net.side))), ("stem.bn", _batchnorm(stem_bn, (c, side, side))))
    x = _cell(g, model.cell1, "cell1", x, (c, side, side))
    red_conv, red_bn, _ = model.reduction
    x = g.chain(x, ("reduction.bn_in", _batchnorm(model.reduction_bn, (c, side, side))),
                ("reduction.lif", _lif(model.reduction_lif, (c, side, side))),
                ("reduction", _conv(red_conv, (c, side, side))), ("reduction.bn", _batchnorm(red_bn, (2 * c, side, side))),
                ("reduction.pool", _avgpool(2)))
    half = side // 2
    x = _cell(g, model.cell2, "cell2", x, (2 * c, half, half))
    pooled = (2 * c, half // arch.final_pool, half // arch.final_pool)
    x = g.chain(x, ("head.bn", _batchnorm(model.head_bn, (2 * c, half, half))), ("head.lif", _lif(model.head_lif, (2 * c, half, half))),
                ("head.pool", _avgpool(arch.final_pool)),
                ("flatten", nir.Flatten(input_type={"input": np.array(pooled)}, start_dim=0, end_dim=-1)))

    def affine(layer):
        return nir.Affine(weight=_np(fake_quantize(layer.weight, layer.bits)), bias=_np(layer.bias),
                          metadata={"weight_bits": int(layer.bits)})

    if model.fc1 is not None:
        x = g.chain(x, ("fc1", affine(model.fc1)), ("fc1.lif", _lif(model.fc1_lif, (arch.hidden,))))
    x = g.chain(x, ("fc2", affine(model.fc2)))
    g.add("output", nir.Output(output_type={"output": np.array([net.n_classes])}), x)
    info = {
        "format": FORMAT,
        "arch": str(arch),
        "timesteps": int(arch.timesteps),
        "dt": DT,
        "weight_bits": int(arch.weight_bits),
        "readout": "mean over the timesteps of the output node",
        "input": "the image normalised per channel, (x - input_mean) / input_std, fed at every timestep",
        "delay": "Delay nodes output zeros at the first timestep",
        "problem": problem.name,
        "hardware": json.dumps({k: v for k, v in asdict(problem.hardware).items() if v is not None}),
        "n_classes": int(net.n_classes),
    }
    if input_mean is not None:
        info["input_mean"] = np.asarray(input_mean, np.float32).reshape(-1)
        info["input_std"] = np.asarray(input_std, np.float32).reshape(-1)
    info.update(metadata or {})
    return nir.NIRGraph(nodes=g.nodes, edges=g.edges, metadata=info)


def write_nir(graph: nir.NIRGraph, path) -> None:
    """Write ``graph`` to ``path`` (HDF5, the ``nir`` package's format)."""
    nir.write(str(path), graph)
