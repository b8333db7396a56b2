r"""Accuracy of a trained network on non-ideal RRAM crossbars: Monte-Carlo over programmed chips.

Mapping (the one the cost model prices, :mod:`moo_snn.cost.model`): every weight layer (the quantised
convs and linears, :class:`~moo_snn.training.quant.QuantConv2d` / ``QuantLinear``) holds its w-bit
weights W = q·s (q an integer in [−L, L], L = 2^(w−1) − 1, s the per-tensor scale of
:func:`~moo_snn.training.quant.fake_quantize`) in offset binary, u = q + 2^(w−1) ∈ [0, 2^w), sliced over
S = ⌈w / b⌉ cells of b = ``cell_bits`` bits side by side: u = Σ_j d_j·2^(b·j), d_j ∈ [0, t_j], where
slice j holds w_j = min(b, w − b·j) bits and t_j = 2^(w_j) − 1 (1-bit weights: u = (q + 1)/2, q = ±1).
A slice that holds fewer bits than its cell spreads its t_j + 1 levels over the cell's whole
conductance range (a 2-bit weight in a 4-bit cell uses conductances 0, 1/3, 2/3, 1 of the range), as
a designer maps it: errors below are therefore in units of t_j. The offset is removed digitally, exactly, from the input sum
(Σ q·x = Σ u·x − 2^(w−1)·Σ x: SpikeSim's subtractor). The input channels are split into row blocks of
X = ``crossbar_size``; one crossbar read sums one row block (its k² kernel taps included, as the
cost model's PE) for one slice: that partial sum is what one ADC converts.

Non-idealities of one chip (one draw), per cell, with common random numbers (the same normal ε and
uniform υ for every setting, so a larger σ is the same chip programmed worse):

* programming variation: d' = clip(d + σ·t_j·ε, 0, t_j), σ = ``conductance_sigma`` (a fraction of the range);
* stuck cells: d' = 0 where υ < p_off (stuck-off), d' = t_j where p_off ≤ υ < p_off + p_on (stuck-on);
* ADC: each crossbar partial sum P is converted with a = ``adc_bits`` bits over [0, P_max]:
  Q(P) = P_max · round(min(P, P_max) / P_max · (2^a − 1)) / (2^a − 1), where P_max is the largest
  ideal partial sum of that layer, row block and slice on one calibration batch (an ADC range set
  from data, as IMC chips calibrate theirs). The first layer reads the signed image, not spikes: its
  weights get the device errors, its partial sums are not quantised (its bit-serial input path is
  not simulated).

Every draw evaluates the whole split; the result keeps every draw's accuracy, their mean and
standard deviation. With σ = 0, no stuck cells and the ADC off, the programmed weights are the
trained ones bit for bit and the accuracy is the ideal accuracy (a test).

Why not IBM's aihwkit-lightning (tried, 2.1.0): its analog layers model input/output quantisation,
weight noise during training and tile size limits, but not stuck cells, not bit-sliced multi-level
cells with a digital offset, and they replace our quantised layers (and their weight quantiser)
rather than evaluate them; the mapping above is ~150 lines of torch over the network's own modules.
"""

from __future__ import annotations

import contextlib
import math
import types
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from moo_snn.cost.nonideal import NonidealConfig
from moo_snn.errors import ProblemError
from moo_snn.training.quant import QuantConv2d, QuantLinear


@dataclass
class NonidealResult:
    """Accuracy on non-ideal crossbars: every draw's, their mean and standard deviation (fractions)."""

    accuracy_mean: float
    accuracy_std: float
    accuracies: list[float] = field(default_factory=list)
    ideal_accuracy: float = float("nan")

    def to_dict(self) -> dict:
        """The measurement as the plain dict that ``moo-snn train --json`` and the results file carry."""
        return {"accuracy_nonideal": self.accuracy_mean, "accuracy_nonideal_std": self.accuracy_std,
                "accuracy_nonideal_draws": list(self.accuracies), "accuracy_ideal": self.ideal_accuracy}


@dataclass
class _Crossbars:
    """One weight layer programmed on crossbars: integer weights, slices, scale and the chip's cells."""

    module: torch.nn.Module
    digits: torch.Tensor  # (S, *weight.shape), ideal slice digits d_j
    scale: torch.Tensor
    offset: float  # u = (q + offset) / step, q = step·u − offset
    step: float
    base: int  # 2^b: place value between slices
    tops: torch.Tensor  # (S, 1, ...): t_j = 2^(w_j) − 1, the top digit of each slice (the cell's full range)
    reads_image: bool
    programmed: torch.Tensor | None = None  # d' of the current draw
    p_max: torch.Tensor | None = None  # (row blocks, S) ADC ranges

    def weight(self, cells: torch.Tensor) -> torch.Tensor:
        """W = (step·Σ_j d_j·2^(b·j) − offset)·s from cell levels ``cells`` (S, *weight.shape)."""
        u = sum(cells[j] * float(self.base**j) for j in range(len(cells)))
        return (self.step * u - self.offset) * self.scale


def weight_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The network's crossbar layers (quantised convs and linears), in module order."""
    return [m for m in model.modules() if isinstance(m, (QuantConv2d, QuantLinear))]


def _slice(module: torch.nn.Module, cell_bits: int, reads_image: bool) -> _Crossbars:
    """Integer weights of ``module`` as offset-binary cell levels (module docstring)."""
    w, bits = module.weight.detach(), int(module.bits)
    if bits == 1:
        scale = w.abs().mean()
        q = torch.where(w >= 0, 1.0, -1.0)
        u, offset, step = (q + 1) / 2, 1.0, 2.0
    else:
        levels = 2 ** (bits - 1) - 1
        scale = w.abs().max().clamp_min(1e-12) / levels
        q = torch.round(w / scale).clamp(-levels, levels)
        offset, step = float(2 ** (bits - 1)), 1.0
        u = q + offset
    base = 2**cell_bits
    slices = max(1, math.ceil(bits / cell_bits))
    digits = torch.stack([torch.div(u, base**j, rounding_mode="floor") % base for j in range(slices)])
    slice_bits = [min(cell_bits, bits - cell_bits * j) for j in range(slices)]
    tops = torch.tensor([2.0**b - 1 for b in slice_bits], dtype=digits.dtype, device=digits.device)
    return _Crossbars(module, digits, scale, offset, step, base, tops.view(-1, *[1] * w.dim()), reads_image)


def _program(layer: _Crossbars, config: NonidealConfig, generator: torch.Generator) -> None:
    """Draw one chip's cells for ``layer`` (common random numbers: ε and υ do not depend on the rates)."""
    eps = torch.randn(layer.digits.shape, generator=generator).to(layer.digits)
    ups = torch.rand(layer.digits.shape, generator=generator).to(layer.digits)
    top = layer.tops.expand_as(layer.digits)
    d = layer.digits
    if config.conductance_sigma > 0:
        d = torch.minimum((d + config.conductance_sigma * top * eps).clamp_min(0.0), top)
    d = torch.where(ups < config.stuck_off_fraction, torch.zeros_like(d), d)
    stuck_on = (ups >= config.stuck_off_fraction) & (ups < config.stuck_off_fraction + config.stuck_on_fraction)
    layer.programmed = torch.where(stuck_on, top, d)


def _blocks(channels: int, crossbar_size: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + crossbar_size, channels)) for lo in range(0, channels, crossbar_size)]


def _partial_sums(layer: _Crossbars, x: torch.Tensor, cells: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
    """Partial sums of one row block for every slice: shape (S, *output shape)."""
    m, slices = layer.module, cells.shape[0]
    if isinstance(m, QuantConv2d):
        w = cells[:, :, lo:hi].flatten(0, 1)
        y = F.conv2d(x[:, lo:hi], w, None, m.stride, m.padding, m.dilation, m.groups)
        return y.view(y.shape[0], slices, -1, *y.shape[2:]).movedim(1, 0)
    y = F.linear(x[..., lo:hi], cells[:, :, lo:hi].flatten(0, 1))
    return y.view(*y.shape[:-1], slices, -1).movedim(-2, 0)


def _input_sum(layer: _Crossbars, x: torch.Tensor) -> torch.Tensor:
    """Σ x over each output's receptive field (the digital offset correction), broadcastable to the output."""
    m = layer.module
    if isinstance(m, QuantConv2d):
        ones = torch.ones(1, m.in_channels, *m.kernel_size, dtype=x.dtype, device=x.device)
        return F.conv2d(x, ones, None, m.stride, m.padding, m.dilation)
    return x.sum(-1, keepdim=True)


def _adc_forward(layer: _Crossbars, x: torch.Tensor, crossbar_size: int, adc_bits: int, calibrate: bool) -> torch.Tensor:
    """Σ q·x through per-crossbar ADCs (or recording the ADC ranges when ``calibrate``), times the scale."""
    cells = layer.digits if calibrate else layer.programmed
    base = layer.base
    blocks = _blocks(x.shape[1] if isinstance(layer.module, QuantConv2d) else x.shape[-1], crossbar_size)
    if calibrate and layer.p_max is None:
        layer.p_max = torch.zeros(len(blocks), cells.shape[0], dtype=x.dtype, device=x.device)
    full = 2**adc_bits - 1
    total = 0.0
    for r, (lo, hi) in enumerate(blocks):
        sums = _partial_sums(layer, x, cells, lo, hi)
        if calibrate:
            layer.p_max[r] = torch.maximum(layer.p_max[r], sums.flatten(1).amax(1))
        else:
            p_max = layer.p_max[r].clamp_min(1e-12).view(-1, *[1] * (sums.dim() - 1))
            sums = p_max * torch.round(torch.minimum(sums, p_max) / p_max * full) / full
        total = total + sum(sums[j] * float(base**j) for j in range(sums.shape[0]))
    return (layer.step * total - layer.offset * _input_sum(layer, x)) * layer.scale


@contextlib.contextmanager
def _on_crossbars(layers: list[_Crossbars], crossbar_size: int, adc_bits: int | None, calibrate: bool = False):
    """Route every layer's forward through its programmed crossbars while inside the block."""
    def forward(layer: _Crossbars):
        def run(module, x):
            if adc_bits is None or layer.reads_image:
                weight = layer.weight(layer.digits if calibrate else layer.programmed)
                if isinstance(module, QuantConv2d):
                    return module._conv_forward(x, weight, None)
                return F.linear(x, weight, module.bias)
            y = _adc_forward(layer, x, crossbar_size, adc_bits, calibrate)
            return y if isinstance(module, QuantConv2d) else y + module.bias
        return run

    try:
        for layer in layers:
            layer.module.forward = types.MethodType(forward(layer), layer.module)
        yield
    finally:
        for layer in layers:
            del layer.module.forward  # back to the class's forward


def evaluate_nonideal(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *, config: NonidealConfig,
                      crossbar_size: int, cell_bits: int, adc_bits: int, batch_size: int = 256,
                      device: torch.device | str = "cpu") -> NonidealResult:
    """Monte-Carlo accuracy of a trained ``model`` on non-ideal crossbars (module docstring).

    Parameters
    ----------
    model : the trained :class:`~moo_snn.training.network.SpikingNetwork` (its weights are not changed).
    x, y : normalised images (N, C, H, W) and labels (N,) of the split to measure.
    config : the problem's ``[nonideal]`` table.
    crossbar_size, cell_bits, adc_bits : the crossbars the cost model prices (``[hardware]`` or the
        architecture's co-design genes).
    batch_size, device : as :func:`~moo_snn.training.trainer.evaluate`.

    Returns
    -------
    NonidealResult
        Accuracy of each of ``config.draws`` chips, their mean and standard deviation, and the ideal
        accuracy of the same split.

    Raises
    ------
    ProblemError
        Stuck-off and stuck-on fractions that add up to more than 1.
    """
    from moo_snn.training.trainer import evaluate

    if config.stuck_off_fraction + config.stuck_on_fraction > 1:
        raise ProblemError(f"[nonideal] stuck_off_fraction + stuck_on_fraction = "
                           f"{config.stuck_off_fraction + config.stuck_on_fraction:g} > 1: a cell is stuck one way at most")
    modules = weight_layers(model)
    first = model.stem[0] if hasattr(model, "stem") else (modules[0] if modules else None)  # reads the image
    layers = [_slice(m, cell_bits, reads_image=m is first) for m in modules]
    ideal = evaluate(model, x, y, batch_size, device)
    adc = adc_bits if config.adc else None
    if adc is not None:  # ADC ranges from one batch of ideal partial sums
        with _on_crossbars(layers, crossbar_size, adc, calibrate=True):
            evaluate(model, x[:batch_size], y[:batch_size], batch_size, device)
    seeds = np.random.SeedSequence(config.seed).spawn(config.draws)
    accuracies = []
    for seq in seeds:
        generator = torch.Generator().manual_seed(int(seq.generate_state(1, dtype=np.uint64)[0] >> 1))
        for layer in layers:
            _program(layer, config, generator)
        with _on_crossbars(layers, crossbar_size, adc):
            accuracies.append(evaluate(model, x, y, batch_size, device))
    values = np.asarray(accuracies, dtype=float)
    return NonidealResult(float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                          accuracies, ideal)


def crossbar_settings(problem, arch) -> dict[str, int]:
    """``crossbar_size``, ``cell_bits``, ``adc_bits`` of ``arch`` on ``problem``'s accelerator (its co-design
    genes where it has them, else ``[hardware]``): the crossbars the cost model prices."""
    return {name: int(getattr(arch, name, None) or getattr(problem.hardware, name))
            for name in ("crossbar_size", "cell_bits", "adc_bits")}


def measure_nonideal(problem, weights_path, data=None, *, device: str = "cpu") -> dict:
    """The ``[nonideal]`` accuracy of a saved network (``moo-snn train --save``) on ``problem``'s crossbars.

    Returns :meth:`NonidealResult.to_dict` plus ``split`` and the crossbar settings used.
    """
    from moo_snn.architecture import Architecture
    from moo_snn.training.trainer import as_problem, load_weights, normalised, resolve_device

    problem = as_problem(problem)
    device = resolve_device(device)
    if data is None:
        from moo_snn.data import load_problem_data
        data = load_problem_data(problem)
    model = load_weights(problem, weights_path).to(device)
    saved = torch.load(weights_path, map_location="cpu", weights_only=True)
    settings = crossbar_settings(problem, Architecture.parse(saved["arch"]))
    split = problem.nonideal.split
    x, y = normalised(data, getattr(data, f"x_{split}")), torch.as_tensor(getattr(data, f"y_{split}"))
    result = evaluate_nonideal(model, x, y, config=problem.nonideal, batch_size=problem.training.eval_batch_size,
                               device=device, **settings)
    return {**result.to_dict(), "split": split, **settings}


NONIDEAL_METRIC = "accuracy_nonideal"
"""The metric (objective or limit) that asks every training for its non-ideal accuracy."""


def needs_nonideal(problem) -> bool:
    """True when ``problem``'s objectives or limits use :data:`NONIDEAL_METRIC`."""
    return NONIDEAL_METRIC in {*problem.objectives.names, *(c.name for c in problem.constraints)}


def measure_trained(problem, arch, model, tensors: dict, labels: dict, device) -> dict[str, float]:
    """``accuracy_nonideal`` and ``accuracy_nonideal_std`` of a just-trained ``model`` on the ``[nonideal]``
    split (``tensors``/``labels``: normalised splits by name), or ``{}`` where the problem does not use them."""
    if not needs_nonideal(problem):
        return {}
    split = problem.nonideal.split
    result = evaluate_nonideal(model, tensors[split], labels[split], config=problem.nonideal,
                               batch_size=problem.training.eval_batch_size, device=device, **crossbar_settings(problem, arch))
    return {"accuracy_nonideal": result.accuracy_mean, "accuracy_nonideal_std": result.accuracy_std}


def inject_weight_noise(model: torch.nn.Module, sigma: float, seed: int = 0):
    """Noise-aware training (``[training] weight_noise``): while enabled, every training-mode forward pass of
    a weight layer uses W_q + σ·max|W_q|·ε, with W_q the quantised weights and ε ~ N(0, 1) drawn afresh each
    pass (the noise is a constant to autograd: the gradient reaches the weights unchanged, as in
    hardware-aware training with weight noise, e.g. Joshi et al., Nature Communications 2020). Evaluation
    (``model.eval()``) sees the clean weights. With offset-binary cells whose levels span their whole
    range (module docstring), a conductance error of σ_g of the range is a weight error of about 2·σ_g·max|W|.

    Returns a callable that switches it off again (a no-op for σ = 0, which changes nothing).
    """
    from moo_snn.training.quant import fake_quantize

    modules = weight_layers(model) if sigma > 0 else []
    generator = torch.Generator().manual_seed(seed)

    def noisy(module):
        def run(self, x):
            weight = fake_quantize(self.weight, self.bits)
            if self.training:
                eps = torch.randn(weight.shape, generator=generator).to(weight)
                weight = weight + sigma * weight.detach().abs().max() * eps
            if isinstance(self, QuantConv2d):
                return self._conv_forward(x, weight, None)
            return F.linear(x, weight, self.bias)
        return run

    for module in modules:
        module.forward = types.MethodType(noisy(module), module)

    def restore() -> None:
        for module in modules:
            del module.forward

    return restore
