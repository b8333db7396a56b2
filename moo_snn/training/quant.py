"""Weight fake-quantisation: symmetric, per-tensor, straight-through estimator.

A w-bit weight takes one of the 2^(w-1) - 1 positive levels, their negatives or zero
(``round(W / s)·s`` with ``s = max|W| / (2^(w-1) - 1)``), so at most 2^w - 1 distinct values; 1-bit
weights are binary, ``±mean|W|``. The forward pass uses the quantised weights, the backward pass
passes the gradient straight through to the real-valued weights (Bengio et al., 2013), so the
network that is measured is the network whose memory the cost model counts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def fake_quantize(weight: torch.Tensor, bits: int) -> torch.Tensor:
    """Quantise ``weight`` to ``bits`` bits in the forward pass, identity in the backward pass."""
    if bits >= 32:
        return weight
    if bits == 1:
        scale = weight.abs().mean()
        quantised = torch.where(weight >= 0, scale, -scale)
    else:
        levels = 2 ** (bits - 1) - 1
        scale = weight.abs().max().clamp_min(1e-12) / levels
        quantised = torch.round(weight / scale).clamp(-levels, levels) * scale
    # exactly the quantised values forward (w - w.detach() is exactly 0), identity backward
    return quantised.detach() + (weight - weight.detach())


class QuantConv2d(nn.Conv2d):
    """A bias-free ``Conv2d`` whose weights are fake-quantised to ``bits`` bits."""

    def __init__(self, c_in: int, c_out: int, kernel: int, bits: int, stride: int = 1):
        super().__init__(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False)
        self.bits = bits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolution of ``x`` ``(B, C_in, H, W)`` with the weights fake-quantised to ``bits`` (straight-through gradient)."""
        return self._conv_forward(x, fake_quantize(self.weight, self.bits), None)


class QuantLinear(nn.Linear):
    """A ``Linear`` layer whose weights are fake-quantised to ``bits`` bits (bias kept in full precision)."""

    def __init__(self, c_in: int, c_out: int, bits: int):
        super().__init__(c_in, c_out)
        self.bits = bits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x @ Wᵀ + b`` for ``x`` ``(..., in_features)``, W fake-quantised to ``bits`` (straight-through gradient)."""
        return F.linear(x, fake_quantize(self.weight, self.bits), self.bias)
