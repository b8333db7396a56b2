"""Example moo-snn objective plug-in: energy-delay product and total spike count.

Each objective is one call over a batch of candidates (a :class:`moo_snn.objectives.Batch`)
that returns one number per candidate. Registered under the entry-point group
``moo_snn.objectives`` in this package's ``pyproject.toml``; once installed, a problem file names
them like the built-ins (``names = ["accuracy", "edp"]``), or ``moo-snn optimize --objective edp``.
"""

from __future__ import annotations

import numpy as np

from moo_snn.objectives import objective


@objective(units="uJ*ms", direction="minimize")
def edp(batch):
    """Energy-delay product of one inference: energy_uJ × latency_ms [µJ·ms]."""
    return np.asarray(batch.costs.energy_uJ, dtype=float) * np.asarray(batch.costs.latency_ms, dtype=float)


@objective(units="spikes", direction="minimize")
def spike_count(batch):
    """Spikes delivered to the crossbars in one inference.

    T · Σ_l r_l · c_in,l · d_in,l², over every crossbar layer l but the stem (which reads the image,
    not spikes): r_l is the layer's input spike rate (measured on the validation split for a
    trained network, the problem's assumed ``[hardware] spike_rate`` before training), c_in,l·d_in,l²
    its number of inputs per timestep. Every conv edge of a cell reads its own LIF layer, so this
    counts the spikes the network's LIF neurons emit, except that the classifier reads the head's
    spikes after the s×s average pool (the head's spikes / s²).
    """
    layers = batch.layers
    inputs = np.where(layers.active, layers.c_in * layers.d_in.astype(float) ** 2, 0.0)
    inputs[:, 0] = 0.0  # the stem's input is the image
    timesteps = np.array([a.timesteps for a in batch.archs], dtype=float)
    return timesteps * (batch.spike_rate * inputs).sum(axis=1)
