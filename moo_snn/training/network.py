"""The spiking network of an architecture (DESIGN §3), built on norse's ``LIFBoxCell``.

Layout, time-first tensors ``(T, B, ...)``:

1. stem: conv3×3 (in → C) + BatchNorm, computed once; its real-valued output is the input at
   every timestep (direct encoding);
2. cell at C channels; 3. reduction: BN → LIF → conv3×3 (C → 2C) → BN → avg-pool 2×2;
4. the same cell at 2C channels; 5. BN → LIF → avg-pool s×s;
6. classifier: dropout → linear (→ hidden) → LIF → linear (→ classes), or one linear;
7. output: the classifier output averaged over the T timesteps.

Neuron: LIF without synaptic current, ``v ← v + dt·τ⁻¹·(x − v)`` (0.75 with the defaults), threshold
1, hard reset to 0, surrogate gradient (norse, SuperSpike by default). Cell ops: ``skip``,
``conv1x1`` / ``conv3x3`` (LIF → conv → BN, each edge with its own LIF), ``avgpool3x3``.

A cell without backward edges runs layer by layer over all timesteps at once (convs and BatchNorm
on ``T·B`` samples, the LIF loops over T). A cell with backward edges runs timestep by timestep:
node j at t sums its forward inputs at t and its backward inputs, the ops on nodes k > j at t − 1;
at t = 0 backward edges contribute nothing. BatchNorm statistics in training are therefore taken
over ``T·B`` samples in the first case and over ``B`` samples per timestep in the second; running
statistics (used at evaluation) are the same kind of average in both.

Recording: ``forward(x, recorder)`` hands every crossbar layer's input to ``recorder.record`` under
the layer's name (:mod:`moo_snn.layers`), so measured activity comes from the tensors themselves:
:class:`RateRecorder` turns them into input spike rates for the energy model; the training-free
score reads the binary spike maps of every LIF layer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from norse.torch import LIFBoxCell, LIFBoxParameters
from norse.torch.functional.lif_box import LIFBoxFeedForwardState
from torch import nn

from moo_snn.architecture import CONV_KERNEL, Architecture, Edge
from moo_snn.config.problem import TrainingSpec
from moo_snn.layers import NetworkInput, classifier_features
from moo_snn.training import lif
from moo_snn.training.quant import QuantConv2d, QuantLinear

class SpikeRecorder:
    """Receives what the network's layers see. Subclasses override :meth:`record`."""

    def record(self, name: str, values: torch.Tensor, *, per_step: bool = False, spikes: bool = True,
               crossbar: bool = True) -> None:
        """``values``: ``(T, B, ...)``, or ``(B, ...)`` for one timestep when ``per_step``.

        ``spikes``: the values are the binary output of a LIF layer, recorded once per LIF layer and
        timestep (not an image, pooled or dropped-out spikes, nor the silent t = 0 input of a backward
        edge: those count for rates only);
        ``crossbar``: they are the input of the crossbar layer ``name``.
        """


class RateRecorder(SpikeRecorder):
    """Input spike rate of every crossbar layer: the fraction of its inputs that spike per timestep."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def record(self, name, values, *, per_step=False, spikes=True, crossbar=True):
        """Add the sum and count of ``values`` of crossbar layers (``crossbar=True``) to the layer's totals."""
        if crossbar:
            self.sums[name] = self.sums.get(name, 0.0) + float(values.detach().sum())
            self.counts[name] = self.counts.get(name, 0) + values.numel()

    def rates(self) -> dict[str, float]:
        """Mean input spike rate per recorded layer: spikes / inputs over every call."""
        return {name: self.sums[name] / max(self.counts[name], 1) for name in self.sums}


def _record(recorder: SpikeRecorder | None, name: str, values: torch.Tensor, **kind) -> None:
    if recorder is not None:
        recorder.record(name, values, **kind)


class LIF(nn.Module):
    """A layer of LIF neurons: ``step`` for one timestep, ``forward`` for all.

    With the SuperSpike surrogate (``super``, the default) the neuron runs as
    :mod:`moo_snn.training.lif` (norse's ``LIFBoxCell`` maths, bit for bit, as one autograd node per
    sequence or step); with another surrogate method it runs norse's ``LIFBoxCell`` itself.
    ``step`` returns norse's state tuple (``state.v``) either way.
    """

    def __init__(self, spec: TrainingSpec):
        super().__init__()
        self.cell = LIFBoxCell(LIFBoxParameters(
            tau_mem_inv=torch.as_tensor(spec.tau_mem_inv),
            v_th=torch.as_tensor(spec.v_th),
            method=spec.surrogate,
            alpha=torch.as_tensor(spec.surrogate_alpha),
        ))
        self.fused = spec.surrogate == "super"
        # not in the state dict: weights files and NIR graphs are unchanged by them
        self.register_buffer("decay", lif.decay_factor(spec.tau_mem_inv), persistent=False)
        self.register_buffer("v_th", torch.as_tensor(float(spec.v_th)), persistent=False)

    def step(self, x: torch.Tensor, state=None):
        """One timestep: ``(spikes, state)``; ``state=None`` starts from v = 0."""
        if not self.fused:
            return self.cell(x, state)
        z, v = lif.lif_step(x, None if state is None else state.v, self.decay, self.v_th)
        return z, LIFBoxFeedForwardState(v=v)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Spikes for a whole sequence ``(T, B, ...)``."""
        if self.fused:
            return lif.lif_sequence(x, self.decay, self.v_th)
        state, out = None, []
        for x_t in x:
            z, state = self.cell(x_t, state)
            out.append(z)
        return torch.stack(out)


def _flat(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply a per-sample ``module`` to a ``(T, B, ...)`` tensor as one batch of ``T·B`` samples."""
    y = module(x.flatten(0, 1))
    return y.view(x.shape[0], x.shape[1], *y.shape[1:])


class SpikingConv(nn.Module):
    """LIF → quantised conv → BN: the conv ops of a cell (a crossbar layer named ``name``)."""

    def __init__(self, name: str, channels: int, kernel: int, bits: int, spec: TrainingSpec):
        super().__init__()
        self.name = name
        self.lif = LIF(spec)
        self.conv = QuantConv2d(channels, channels, kernel, bits)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor, recorder: SpikeRecorder | None = None) -> torch.Tensor:
        """``x``: ``(T, B, C, H, W)`` currents → LIF spikes (recorded) → conv → BN, ``(T, B, C_out, H, W)``."""
        spikes = self.lif(x)
        _record(recorder, self.name, spikes)
        return _flat(lambda s: self.bn(self.conv(s)), spikes)

    def step(self, x: torch.Tensor, state, recorder: SpikeRecorder | None = None):
        """One timestep, ``(B, C, H, W)`` → ``(y, state)``; ``state`` is the LIF's (None at t = 0)."""
        spikes, state = self.lif.step(x, state)
        _record(recorder, self.name, spikes, per_step=True)
        return self.bn(self.conv(spikes)), state


def _stateless_op(op: str):
    return (lambda x: x) if op == "skip" else (lambda x: F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False))


class Cell(nn.Module):
    """The 4-node cell with forward and backward edges (only the active edges are built)."""

    def __init__(self, arch: Architecture, channels: int, bits: int, prefix: str, spec: TrainingSpec):
        super().__init__()
        self.edges: list[Edge] = arch.active_edges()
        self.ops = nn.ModuleList(
            SpikingConv(f"{prefix}.{e.name}", channels, CONV_KERNEL[e.op], bits, spec) if e.op in CONV_KERNEL
            else WeightFreeEdge(e.op)
            for e in self.edges
        )
        self.recurrent = any(e.backward for e in self.edges)

    def forward(self, x: torch.Tensor, recorder: SpikeRecorder | None = None) -> torch.Tensor:
        """``x``: ``(T, B, C, H, W)`` → the output node over all timesteps, same shape."""
        if self.recurrent:
            return self._forward_stepwise(x, recorder)
        nodes = [x, 0, 0, 0]
        for edge, op in zip(self.edges, self.ops):  # genome order is topological for forward edges
            nodes[edge.target] = nodes[edge.target] + op(nodes[edge.source], recorder)
        return nodes[3]

    def _forward_stepwise(self, x: torch.Tensor, recorder: SpikeRecorder | None) -> torch.Tensor:
        states = [None] * len(self.ops)
        previous, outputs = None, []
        for x_t in x:
            nodes = [x_t, 0, 0, 0]
            for target in range(4):
                for k, (edge, op) in enumerate(zip(self.edges, self.ops)):
                    if edge.target != target:
                        continue
                    if edge.backward:
                        if previous is None:  # no feedback before the first timestep:
                            if isinstance(op, SpikingConv):  # its crossbar input is silent
                                _record(recorder, op.name, torch.zeros_like(x_t), per_step=True, spikes=False)
                            continue
                        source = previous[edge.source]
                    else:
                        source = nodes[edge.source]
                    y, states[k] = op.step(source, states[k], recorder)
                    nodes[target] = nodes[target] + y
            previous = nodes
            outputs.append(nodes[3])
        return torch.stack(outputs)


class WeightFreeEdge(nn.Module):
    """A cell edge without weights: ``skip`` (identity) or ``avgpool3x3`` (3×3, stride 1).

    Parameters
    ----------
    op : {"skip", "avgpool3x3"}
        The edge's operation.
    """

    def __init__(self, op: str):
        super().__init__()
        self.fn = _stateless_op(op)

    def forward(self, x: torch.Tensor, recorder: SpikeRecorder | None = None) -> torch.Tensor:
        """``x``: ``(T, B, C, H, W)`` → the same shape (nothing is recorded: no crossbar, no LIF)."""
        return _flat(self.fn, x)

    def step(self, x: torch.Tensor, state, recorder: SpikeRecorder | None = None):
        """One timestep, ``(B, C, H, W)`` → ``(y, None)``: the edge has no state."""
        return self.fn(x), None


class SpikingNetwork(nn.Module):
    """The network of ``arch`` for inputs ``net_input``, trained with ``spec``.

    ``forward(x, recorder=None)``: ``x`` of shape ``(B, C, H, W)`` → logits ``(B, classes)``, the
    classifier output averaged over T timesteps.
    """

    def __init__(self, arch: Architecture, net_input: NetworkInput, spec: TrainingSpec):
        super().__init__()
        c, bits = arch.channels, arch.weight_bits
        self.timesteps = arch.timesteps
        self.final_pool = arch.final_pool
        self.stem = nn.Sequential(QuantConv2d(net_input.channels, c, 3, bits, stride=net_input.stem_stride), nn.BatchNorm2d(c))
        self.cell1 = Cell(arch, c, bits, "cell1", spec)
        self.reduction_bn = nn.BatchNorm2d(c)
        self.reduction_lif = LIF(spec)
        self.reduction = nn.Sequential(QuantConv2d(c, 2 * c, 3, bits), nn.BatchNorm2d(2 * c), nn.AvgPool2d(2))
        self.cell2 = Cell(arch, 2 * c, bits, "cell2", spec)
        self.head_bn = nn.BatchNorm2d(2 * c)
        self.head_lif = LIF(spec)
        self.dropout = nn.Dropout(spec.dropout)
        features = classifier_features(arch, net_input)
        if arch.hidden:
            self.fc1 = QuantLinear(features, arch.hidden, bits)
            self.fc1_lif = LIF(spec)
            self.fc2 = QuantLinear(arch.hidden, net_input.n_classes, bits)
        else:
            self.fc1 = None
            self.fc2 = QuantLinear(features, net_input.n_classes, bits)

    def forward(self, x: torch.Tensor, recorder: SpikeRecorder | None = None) -> torch.Tensor:
        """Logits of a batch of images.

        Parameters
        ----------
        x : torch.Tensor, shape (B, C, H, W)
            Normalised images, fed unchanged at every timestep (direct encoding, DESIGN §3).
        recorder : SpikeRecorder, optional
            Receives every crossbar layer's input (spike rates, the SAHD kernel).

        Returns
        -------
        torch.Tensor, shape (B, classes)
            The classifier output averaged over the T timesteps.
        """
        # the stem reads the image, not spikes: its input "rate" is 1 (every input drives its rows)
        _record(recorder, "stem", torch.ones(()).expand(self.timesteps, *x.shape), spikes=False)
        current = self.stem(x)
        h = self.cell1(current.unsqueeze(0).expand(self.timesteps, *current.shape), recorder)
        spikes = self.reduction_lif(_flat(self.reduction_bn, h))
        _record(recorder, "reduction", spikes)
        h = self.cell2(_flat(self.reduction, spikes), recorder)
        spikes = self.head_lif(_flat(self.head_bn, h))
        _record(recorder, "head", spikes, crossbar=False)
        features = self.dropout(_flat(lambda s: F.avg_pool2d(s, self.final_pool), spikes).flatten(2))
        if self.fc1 is not None:
            _record(recorder, "fc1", features, spikes=False)  # the head LIF's spikes, pooled
            features = self.fc1_lif(self.fc1(features))
            _record(recorder, "fc2", features)
        else:
            _record(recorder, "fc2", features, spikes=False)  # the head LIF's spikes, pooled
        return self.fc2(features).mean(0)
