"""Run a NIR graph with torch: the graphs of :mod:`moo_snn.training.nir_export` and of other tools.

A small, generic NIR interpreter. It implements the nodes our networks use (``Input``, ``Output``,
``Conv2d``, ``Affine``, ``Linear``, ``Scale``, ``LIF``, ``Delay``, ``Flatten``, ``AvgPool2d``,
``SumPool2d``) and the other neuron nodes other tools write (norse's exporter writes ``CubaLIF`` for
its ``LIFCell``, ``LI`` and ``IF``; snnTorch's ``CubaLIF``, ``LIF``, ``IF``): ``CubaLIF``, ``CubaLI``,
``LI``, ``IF``, ``I`` and ``Threshold``, with NIR's semantics: per timestep, nodes run in topological
order (:class:`graphlib.TopologicalSorter`; a ``Delay`` breaks cycles: it outputs what it received
``delay / dt`` timesteps earlier, zeros before), and a node with several incoming edges sums them in
the order of ``graph.edges``.

Neurons integrate NIR's equations (the docstrings of ``nir.LIF`` etc., nir 1.0) by forward Euler
with step dt, as NIR's own reference implementation does; x is the node's input, every parameter
may be per neuron:

==========  =====================================================================================
LIF         v ← v + (dt/τ)·(v_leak − v + r·x); z = [v > v_threshold]; v ← v_reset where z
LI          v ← v + (dt/τ)·(v_leak − v + r·x); the output is v (no spikes)
CubaLIF     i ← i + (dt/τ_syn)·(w_in·x − i) and v ← v + (dt/τ_mem)·(v_leak − v + r·i), both from the
            previous step's i and v; then z and the reset as LIF
CubaLI      the same without threshold: the output is v
IF          v ← v + dt·r·x; z = [v > v_threshold]; v ← v_reset where z
I           v ← v + dt·r·x; the output is v
Threshold   z = [x > threshold]
==========  =====================================================================================

The state starts at v = v_leak (leaky neurons, as norse's cells) or 0 (``IF``, ``I``), and i = 0.
Tools that integrate without dt (norse's ``IAFCell``: v ← v + x) give the same trajectory when
read with ``dt=1``.

Graphs written by other tools carry none of our metadata: NIR itself does not say for how many
timesteps a graph runs, so ``timesteps`` must then be given (a missing T is one
:class:`~moo_snn.errors.TrainingError` naming the argument); ``dt`` defaults to norse's 1 ms;
shapes such as ``Conv2d.input_shape`` (None in many files) are not needed: every node works on the
tensor it receives.

Why not norse's ``from_nir`` or ``nirtorch.nir_to_torch`` (2.6): norse reads neither NIR pooling
nor cycles back; nirtorch's default map has no ``LIF``, ``Scale`` or ``Delay`` node, maps
``SumPool2d`` to ``LPPool2d`` without its padding (our avg-pool 3×3 edges are padded) and with
|x| instead of x, and resolves a cycle with the previous step's output whether or not a ``Delay``
sits on it; and neither reproduces our BatchNorm bit for bit (``exact=True`` below).

``exact=True`` evaluates a ``Conv2d`` whose metadata holds ``batchnorm_*`` statistics with torch's
own ``batch_norm`` (bit-identical to the trained network on the same machine); ``exact=False``
uses the node's affine weights, as any NIR consumer would (equal up to float rounding).
"""

from __future__ import annotations

import graphlib
from collections import defaultdict

import nir
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from moo_snn.errors import TrainingError


SUPPORTED = ("Input", "Output", "Conv2d", "Affine", "Linear", "Scale", "Flatten", "AvgPool2d", "SumPool2d", "Delay",
             "LIF", "CubaLIF", "LI", "CubaLI", "IF", "I", "Threshold")  # the NIR node types this reader runs


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
            self.inv = _inverse(n.tau, "tau")  # norse's tau_mem_inv (a scalar where uniform: bit-exact with norse)
            self.r, self.v_leak = _t(n.r), _t(n.v_leak)
            self.v_th, self.v_reset = _t(n.v_threshold), _t(n.v_reset)
            self.unit_r = bool(np.all(np.asarray(n.r) == 1))
        elif isinstance(n, (nir.LI, nir.CubaLI, nir.CubaLIF, nir.IF, nir.I)):
            self.stateful = True
            self.r = _t(n.r)
            self.v_leak = _t(n.v_leak) if hasattr(n, "v_leak") else None
            if isinstance(n, nir.LI):
                self.inv = _inverse(n.tau, "tau")
            elif isinstance(n, (nir.CubaLI, nir.CubaLIF)):
                self.inv, self.inv_syn = _inverse(n.tau_mem, "tau_mem"), _inverse(n.tau_syn, "tau_syn")
                self.w_in = _t(n.w_in)
            if isinstance(n, (nir.CubaLIF, nir.IF)):
                self.v_th, self.v_reset = _t(n.v_threshold), _t(n.v_reset)
        elif isinstance(n, nir.Threshold):
            self.v_th = _t(n.threshold)
        elif isinstance(n, nir.Delay):
            self.stateful = True
        elif not isinstance(n, (nir.Input, nir.Output, nir.Flatten, nir.AvgPool2d, nir.SumPool2d)):
            raise TrainingError(f"NIR node type {self.kind} is not supported by moo-snn's reader (it runs {', '.join(SUPPORTED)})")

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
            stride, dilation = (tuple(int(v) for v in np.atleast_1d(a)) for a in (n.stride, n.dilation))
            padding = n.padding if isinstance(n.padding, str) else tuple(int(v) for v in np.atleast_1d(n.padding))
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
        if isinstance(n, (nir.LI, nir.CubaLI, nir.CubaLIF, nir.IF, nir.I)):
            return self._neuron_step(x, state, dt)
        if isinstance(n, nir.Threshold):
            return (x - self.v_th > 0).to(x.dtype), None
        if isinstance(n, nir.Delay):  # called when its input is known: the queue moves on
            return None, (list(state) if state is not None else self.initial_queue(x, dt))[1:] + [x]
        if isinstance(n, nir.Flatten):
            return x.flatten(1), None
        if isinstance(n, (nir.AvgPool2d, nir.SumPool2d)):
            k, s, p = (tuple(int(v) for v in np.atleast_1d(a)) for a in (n.kernel_size, n.stride, n.padding))
            divisor = 1 if isinstance(n, nir.SumPool2d) else None
            return F.avg_pool2d(x, k, s, p, count_include_pad=True, divisor_override=divisor), None
        return x, None  # Input, Output


    def _neuron_step(self, x: torch.Tensor, state, dt: float):
        """One forward-Euler step of LI, CubaLI, CubaLIF, IF or I (the table in the module docstring)."""
        n = self.node
        cuba = isinstance(n, (nir.CubaLI, nir.CubaLIF))
        if state is None:
            v = self.v_leak.expand_as(x).clone() if self.v_leak is not None else torch.zeros_like(x)
            state = (torch.zeros_like(x), v) if cuba else v
        if cuba:
            i, v = state
            i_new = i + dt * self.inv_syn * (self.w_in * x - i)
            v = v + dt * self.inv * (self.v_leak - v + self.r * i)
        else:
            i_new, v = None, state
            if isinstance(n, nir.LI):
                v = v + dt * self.inv * (self.v_leak - v + self.r * x)
            else:  # IF, I: no leak
                v = v + dt * self.r * x
        if isinstance(n, (nir.CubaLIF, nir.IF)):
            z = (v - self.v_th > 0).to(x.dtype)
            v = torch.where(z > 0, self.v_reset.expand_as(v), v)
            out = z
        else:
            out = v
        return out, ((i_new, v) if cuba else v)


def _inverse(tau, name: str) -> torch.Tensor:
    """1/τ as a tensor: a scalar where every neuron has the same τ, else per neuron.

    Raises
    ------
    TrainingError
        A time constant that is not positive and finite.
    """
    tau = np.asarray(tau, dtype=np.float64)
    if tau.size == 0 or not np.all(np.isfinite(tau) & (tau > 0)):
        raise TrainingError(f"a neuron's {name} must be positive time constants [s], found {tau.ravel()[:4].tolist()}")
    if np.all(tau == tau.flat[0]):
        return torch.as_tensor(1.0 / float(tau.flat[0]), dtype=torch.float32)
    return torch.as_tensor(1.0 / tau, dtype=torch.float32)


class NirNetwork(nn.Module):
    """A NIR graph as a torch module: ``forward(x)`` → the output averaged over T timesteps.

    Parameters
    ----------
    graph : the ``nir.NIRGraph`` (one input, one output).
    timesteps : T; default: the graph's ``timesteps`` metadata (moo-snn's exports write it; a graph
        from another tool usually has none, and then T must be given).
    exact : see the module docstring.
    dt : integration step [s]; default: the graph's ``dt`` metadata, else 1e-3 (norse's).

    Raises
    ------
    TrainingError
        No T (neither given nor in the metadata) or not a positive integer; not one Input and one
        Output node; an edge to a node the graph lacks; a cycle without a Delay; an unsupported node.
    """

    def __init__(self, graph: nir.NIRGraph, timesteps: int | None = None, exact: bool = True, dt: float | None = None):
        super().__init__()
        meta = graph.metadata or {}
        self.metadata = meta
        self.timesteps = _timesteps(timesteps if timesteps is not None else meta.get("timesteps"))
        self.dt = float(dt if dt is not None else meta.get("dt", 1e-3))
        if not self.dt > 0:
            raise TrainingError(f"dt must be a positive time step [s], found {self.dt!r}")
        missing = sorted({k for edge in graph.edges for k in edge if k not in graph.nodes})
        if missing:
            raise TrainingError(f"the NIR graph's edges name nodes it does not have: {', '.join(missing)} "
                                f"(nodes: {', '.join(graph.nodes)})")
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
        sorter = graphlib.TopologicalSorter({k: [s for s in self.inputs[k] if s not in delays] for k in graph.nodes})
        try:
            return list(sorter.static_order())
        except graphlib.CycleError as exc:
            raise TrainingError(f"the NIR graph has a cycle without a Delay node ({' → '.join(exc.args[1])}); "
                                f"cannot order it in time") from None

    def op(self, name: str) -> _Node:
        """The torch module of the NIR node ``name``."""
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


def _timesteps(value) -> int:
    """T as a positive int, or the one-line error that says to pass ``timesteps``."""
    if value is None:
        raise TrainingError("the NIR graph does not say for how many timesteps it runs (no 'timesteps' metadata, as in "
                            "graphs written by other tools); give it: read_nir(path, timesteps=T)")
    try:
        steps = int(np.asarray(value).item())
    except (TypeError, ValueError):
        steps = 0
    if steps < 1 or steps != np.asarray(value).item():
        raise TrainingError(f"timesteps must be a positive integer, found {value!r}")
    return steps


def read_nir(path, *, timesteps: int | None = None, exact: bool = True, dt: float | None = None) -> NirNetwork:
    """Read a NIR file and build the torch module that runs it.

    Parameters
    ----------
    path : str or path-like
        A NIR file (HDF5), ours or another tool's.
    timesteps : int, optional
        T, the timesteps the graph runs for; required where the file's metadata has no ``timesteps``
        (moo-snn's exports have it).
    exact : bool, optional
        Reproduce our BatchNorm bit for bit where the metadata allows (module docstring).
    dt : float, optional
        Integration step [s]; default: the file's ``dt`` metadata, else 1e-3.

    Returns
    -------
    NirNetwork
        ``model(x)`` with ``x`` of shape (B, C, H, W) gives the output averaged over T, (B, classes).

    Raises
    ------
    TrainingError
        Not a readable NIR file, or a graph this reader cannot run (:class:`NirNetwork`).
    """
    from pathlib import Path

    if not Path(path).exists():
        raise TrainingError(f"{path}: no such NIR file")
    if Path(path).is_dir():
        raise TrainingError(f"{path}: is a folder, not a NIR file")
    try:
        graph = nir.read(str(path), type_check=False)
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [""])[0][:200]  # h5py's messages run over several lines
        raise TrainingError(f"{path}: not a readable NIR file ({type(exc).__name__}: {reason})") from None
    try:
        return NirNetwork(graph, timesteps=timesteps, exact=exact, dt=dt)
    except TrainingError as exc:
        raise TrainingError(f"{path}: {exc}") from None
