"""norse's ``LIFBoxCell`` step with the SuperSpike surrogate, as one autograd node per sequence.

The maths is norse 1.1.0's ``lif_box_feed_forward_step`` with ``v_leak = v_reset = 0`` and
``method="super"``, operation for operation, so outputs *and* gradients are bit-for-bit those of
norse's cell (``tests/test_lif.py`` checks this against norse itself)::

    u_t = v_{t-1} + a·(x_t − v_{t-1})          a = dt·τ_mem⁻¹ (0.75 with the defaults)
    z_t = H(u_t − v_th)                        H(d) = 1 if d > 0 else 0
    v_t = (1 − z_t)·u_t + z_t·0                hard reset to 0, the reset not detached

Backward (what autograd computes through norse's graph, written out): with ``g_z`` the gradient
reaching the spikes and ``g_v`` the one reaching the new membrane potential,

    g_d = (g_z − g_v·u_t) / (|u_t − v_th| + 1)²     SuperSpike (Zenke & Ganguli 2018, §3.3.2; norse
                                                    ignores ``alpha`` in this surrogate)
    g_u = g_v·(1 − z_t) + g_d
    g_x = g_u·a,   g_{v_{t−1}} = g_u − g_u·a

Why not norse's cell itself: it builds ~12 autograd nodes per neuron layer and timestep (a state
tuple, a fallback state, a surrogate node, the reset arithmetic), which cost as much as the
convolutions on small networks. One node per sequence (or per step for recurrent cells) keeps only
``u_t`` for the backward pass: fewer dispatches and less memory for the same numbers. Other
surrogate methods (``tanh``, ``circ``, …) keep using norse's cell (see :class:`~moo_snn.training.network.LIF`).
"""

from __future__ import annotations

import torch

DT_S = 0.001
"""norse's default integration step [s] (``LIFBoxCell(dt=0.001)``)."""


def decay_factor(tau_mem_inv: float) -> torch.Tensor:
    """``a = dt·τ_mem⁻¹`` as norse computes it (a float32 0-d tensor: ``0.001 * tensor(750.)``)."""
    return DT_S * torch.as_tensor(float(tau_mem_inv))


def _forward_step(x: torch.Tensor, v: torch.Tensor, a: torch.Tensor, v_th: torch.Tensor):
    """One step: ``(z, u, v_new)`` (``u``: the membrane potential before the reset)."""
    u = v + a * (x - v)
    spiking = (u - v_th) > 0
    z = spiking.to(u.dtype)
    return z, u, torch.where(spiking, 0.0, u)  # (1 − z)·u + z·0, exact for finite u


def _backward_step(u: torch.Tensor, g_z: torch.Tensor, g_v: torch.Tensor, a: torch.Tensor, v_th: torch.Tensor):
    """Gradients ``(g_x, g_v_previous)`` of one step from those of its spikes and new potential."""
    d = u - v_th
    g_d = (g_z - g_v * u) / (torch.abs(d) + 1.0).pow(2)
    g_u = torch.where(d > 0, 0.0, g_v) + g_d
    g_x = g_u * a
    return g_x, g_u - g_x


class LIFSequence(torch.autograd.Function):
    """Spikes ``(T, ...)`` of a LIF layer for inputs ``x`` ``(T, ...)``, starting from v = 0."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, a: torch.Tensor, v_th: torch.Tensor) -> torch.Tensor:
        """Spikes ``(T, ...)`` of inputs ``x`` ``(T, ...)``; keeps the potentials for :meth:`backward`."""
        spikes = torch.empty_like(x)
        potentials = torch.empty_like(x)
        v = torch.zeros_like(x[0])
        for t in range(x.shape[0]):
            z, u, v = _forward_step(x[t], v, a, v_th)
            spikes[t] = z
            potentials[t] = u
        ctx.save_for_backward(potentials, a, v_th)
        return spikes

    @staticmethod
    def backward(ctx, g_spikes: torch.Tensor):
        """Gradient with respect to ``x`` through time (SuperSpike surrogate), newest timestep first."""
        potentials, a, v_th = ctx.saved_tensors
        g_x = torch.empty_like(potentials)
        g_v = torch.zeros_like(potentials[0])
        for t in range(potentials.shape[0] - 1, -1, -1):
            g_x[t], g_v = _backward_step(potentials[t], g_spikes[t], g_v, a, v_th)
        return g_x, None, None


class LIFStep(torch.autograd.Function):
    """One timestep ``(z, v_new)`` from input ``x`` and potential ``v`` (for recurrent cells)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, v: torch.Tensor, a: torch.Tensor, v_th: torch.Tensor):
        """``(z, v_new)``: spikes and the potential after reset, for input ``x`` and potential ``v``."""
        z, u, v_new = _forward_step(x, v, a, v_th)
        ctx.save_for_backward(u, a, v_th)
        return z, v_new

    @staticmethod
    def backward(ctx, g_z: torch.Tensor | None, g_v: torch.Tensor | None):
        """Gradients with respect to ``x`` and ``v`` from those of ``z`` and ``v_new`` (SuperSpike surrogate)."""
        u, a, v_th = ctx.saved_tensors
        g_z = torch.zeros_like(u) if g_z is None else g_z
        g_v = torch.zeros_like(u) if g_v is None else g_v
        g_x, g_v_previous = _backward_step(u, g_z, g_v, a, v_th)
        return g_x, g_v_previous, None, None


def lif_sequence(x: torch.Tensor, a: torch.Tensor, v_th: torch.Tensor) -> torch.Tensor:
    """Spikes of a LIF layer over ``x`` ``(T, ...)`` (one autograd node; plain loop without gradients).

    ``a`` and ``v_th``: 0-d tensors on ``x``'s device (:func:`decay_factor`, the threshold).
    """
    if torch.is_grad_enabled() and x.requires_grad:
        return LIFSequence.apply(x, a, v_th)
    spikes, v = torch.empty_like(x), torch.zeros_like(x[0])
    for t in range(x.shape[0]):
        spikes[t], _, v = _forward_step(x[t], v, a, v_th)
    return spikes


def lif_step(x: torch.Tensor, v: torch.Tensor | None, a: torch.Tensor, v_th: torch.Tensor):
    """One step ``(z, v_new)``; ``v=None`` starts from 0."""
    v = torch.zeros_like(x) if v is None else v
    if torch.is_grad_enabled() and (x.requires_grad or v.requires_grad):
        return LIFStep.apply(x, v, a, v_th)
    z, _, v_new = _forward_step(x, v, a, v_th)
    return z, v_new
