"""Run a NIR graph with torch: our reader for the graphs of :mod:`moo_snn.training.nir_export`.

norse's ``from_nir`` cannot read NIR pooling back nor cycles, so this is a small, generic NIR
interpreter of its own. It implements the nodes our networks use (``Input``, ``Output``,
``Conv2d``, ``Affine``, ``Linear``, ``Scale``, ``LIF``, ``Delay``, ``Flatten``, ``AvgPool2d``,
``SumPool2d``) with NIR's semantics: per timestep, nodes run in topological order (a ``Delay``
breaks cycles: it outputs what it received ``delay / dt`` timesteps earlier, zeros before), a node
with several incoming edges sums them in the order of ``graph.edges``, a LIF neuron integrates
v ← v + (dt/τ)·(v_leak − v + r·I), spikes where v > v_threshold and resets to v_reset.

``exact=True`` evaluates a ``Conv2d`` whose metadata holds ``batchnorm_*`` statistics with torch's
own ``batch_norm`` (bit-identical to the trained network on the same machine); ``exact=False``
uses the node's affine weights, as any NIR consumer would (equal up to float rounding).
"""

from __future__ import annotations

from collections import defaultdict

import nir
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from moo_snn.errors import TrainingError


def _t(a, dtype=torch.float32) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a), dtype=dtype)


class _Node(nn.Module):
    """One NIR node as a per-timestep function ``step(x, state) -> (y, state)``."""

    stateful = False

    def __init__(self, node, exact: bool):
        super().__init__()
        self.node = node
        self.exact = exact
        self.kind = type(node).__name__
        n = node
        if isinstance(n, nir.Conv2d):
            self.weight, self.bias = _t(n.weight), _t(n.bias)
            meta = n.metadata or {}
            self.bn = None
            if exact and "batchnorm_mean" in meta:
                self.bn = tuple(_t(meta[f"batchnorm_{k}"]) for k in ("mean", "var", "weight", "bias")) + (float(meta["batchnorm_eps"]),)
            self.has_bias = bool(np.any(np.asarray(n.bias) != 0))
        elif isinstance(n, (nir.Affine, nir.Linear)):
            self.weight = _t(n.weight)
            self.bias = _t(n.bias) if isinstance(n, nir.Affine) else None
        elif isinstance(n, nir.Scale):
            self.scale = _t(n.scale)
        elif isinstance(n, nir.LIF):
            self.stateful = True
            tau = np.asarray(n.tau, dtype=np.float64)
            if not np.all(tau == tau.flat[0]):
                raise TrainingError("LIF nodes with per-neuron time constants are not supported by this reader")
            self.inv = torch.as_tensor(1.0 / float(tau.flat[0]), dtype=torch.float32)  # norse's tau_mem_inv
            self.r, self.v_leak = _t(n.r), _t(n.v_leak)
            self.v_th, self.v_reset = _t(n.v_threshold), _t(n.v_reset)
            self.unit_r = bool(np.all(np.asarray(n.r) == 1))
        elif isinstance(n, nir.Delay):
            self.stateful = True
        elif not isinstance(n, (nir.Input, nir.Output, nir.Flatten, nir.AvgPool2d, nir.SumPool2d)):
            raise TrainingError(f"NIR node type {self.kind} is not supported by moo-snn's reader")

    def initial_queue(self, like: torch.Tensor, dt: float) -> list[torch.Tensor]:
        """A Delay's queue before the first timestep: ``delay / dt`` zero outputs."""
        steps = max(int(round(float(np.asarray(self.node.delay).flat[0]) / dt)), 1)
        shape = np.asarray(self.node.delay).shape
        return [torch.zeros(like.shape[0], *shape, dtype=like.dtype, device=like.device)] * steps

    def step(self, x: torch.Tensor, state, dt: float):
        n = self.node
        if isinstance(n, nir.Conv2d):
            if self.bn is not None:
                mean, var, weight, bias, eps = self.bn
                return F.batch_norm(x, mean, var, weight, bias, False, 0.0, eps), None
            stride, padding, dilation = (tuple(int(v) for v in np.atleast_1d(a)) for a in (n.stride, n.padding, n.dilation))
            return F.conv2d(x, self.weight, self.bias if self.has_bias else None, stride, padding, dilation, int(n.groups)), None
        if isinstance(n, (nir.Affine, nir.Linear)):
            return F.linear(x, self.weight, self.bias), None
        if isinstance(n, nir.Scale):
            return x * self.scale, None
        if isinstance(n, nir.LIF):
            v = self.v_leak.expand_as(x) if state is None else state
            current = x if self.unit_r else self.r * x
            v = v + dt * self.inv * (current + self.v_leak - v)  # norse LIFBoxCell's operation order
            z = (v - self.v_th > 0).to(x.dtype)
            return z, torch.where(z > 0, self.v_reset.expand_as(v), v)
        if isinstance(n, nir.Delay):  # called when its input is known: the queue moves on
            return None, (list(state) if state is not None else self.initial_queue(x, dt))[1:] + [x]
        if isinstance(n, nir.Flatten):
            return x.flatten(1), None
        if isinstance(n, (nir.AvgPool2d, nir.SumPool2d)):
            k, s, p = (tuple(int(v) for v in np.atleast_1d(a)) for a in (n.kernel_size, n.stride, n.padding))
            divisor = 1 if isinstance(n, nir.SumPool2d) else None
            return F.avg_pool2d(x, k, s, p, count_include_pad=True, divisor_override=divisor), None
        return x, None  # Input, Output


class NirNetwork(nn.Module):
    """A NIR graph as a torch module: ``forward(x)`` → the output averaged over T timesteps.

    Parameters
    ----------
    graph : the ``nir.NIRGraph`` (one input, one output).
    timesteps : T; default: the graph's ``timesteps`` metadata.
    exact : see the module docstring.
    """

    def __init__(self, graph: nir.NIRGraph, timesteps: int | None = None, exact: bool = True):
        super().__init__()
        meta = graph.metadata or {}
        self.metadata = meta
        self.timesteps = int(timesteps if timesteps is not None else meta["timesteps"])
        self.dt = float(meta.get("dt", 1e-3))
        self.names = list(graph.nodes)
        self.ops = nn.ModuleDict({name.replace(".", "/"): _Node(node, exact) for name, node in graph.nodes.items()})
        self.inputs: dict[str, list[str]] = defaultdict(list)
        for source, target in graph.edges:
            self.inputs[target].append(source)
        ins = [k for k, v in graph.nodes.items() if isinstance(v, nir.Input)]
        outs = [k for k, v in graph.nodes.items() if isinstance(v, nir.Output)]
        if len(ins) != 1 or len(outs) != 1:
            raise TrainingError(f"expected a NIR graph with one Input and one Output node, found {len(ins)} and {len(outs)}")
        self.input_name, self.output_name = ins[0], outs[0]
        self.order = self._topological(graph)

    def _topological(self, graph) -> list[str]:
        """Order within one timestep: edges out of Delay nodes carry the previous step, not this one."""
        delays = {k for k, v in graph.nodes.items() if isinstance(v, nir.Delay)}
        pending = {k: {s for s in self.inputs[k] if s not in delays} for k in graph.nodes}
        order, ready = [], [k for k in graph.nodes if not pending[k]]
        while ready:
            name = ready.pop(0)
            order.append(name)
            for k in graph.nodes:
                if name in pending[k]:
                    pending[k].discard(name)
                    if not pending[k] and k not in order and k not in ready:
                        ready.append(k)
        if len(order) != len(graph.nodes):
            raise TrainingError("the NIR graph has a cycle without a Delay node; cannot order it in time")
        return order

    def op(self, name: str) -> _Node:
        return self.ops[name.replace(".", "/")]

    def forward(self, x: torch.Tensor, return_sequence: bool = False) -> torch.Tensor:
        """``x``: ``(B, C, H, W)`` normalised images → ``(B, classes)`` (or ``(T, B, classes)``)."""
        states: dict[str, object] = {}
        outputs = []
        delays = [n for n in self.order if self.op(n).kind == "Delay"]
        for _ in range(self.timesteps):
            # a Delay's output this timestep was fixed by earlier timesteps (zeros at first)
            values = {d: (states[d] if d in states else self.op(d).initial_queue(x, self.dt))[0] for d in delays}
            for name in self.order:
                op = self.op(name)
                inp = x if name == self.input_name else None
                for source in self.inputs[name]:
                    inp = values[source] if inp is None else inp + values[source]
                y, state = op.step(inp, states.get(name), self.dt)
                if op.stateful:
                    states[name] = state
                if y is not None:
                    values[name] = y
            outputs.append(values[self.output_name])
        sequence = torch.stack(outputs)
        return sequence if return_sequence else sequence.mean(0)


def read_nir(path, *, exact: bool = True) -> NirNetwork:
    """Read a NIR file and build the torch module that runs it (see :class:`NirNetwork`)."""
    try:
        graph = nir.read(str(path), type_check=False)
    except Exception as exc:
        raise TrainingError(f"{path}: not a readable NIR file ({type(exc).__name__}: {exc})") from None
    return NirNetwork(graph, exact=exact)
