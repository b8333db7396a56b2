"""SNASNet's training-free score: the sparsity-aware Hamming distance (SAHD) kernel.

Source: Kim, Li, Park, Venkatesha, Panda, "Neural Architecture Search for Spiking Neural Networks",
ECCV 2022, arXiv 2201.10355, section 3.2, and its public code (``search_snn.py``, the hook
``computing_K_eachtime`` and ``logdet``). An architecture that separates the samples of a
mini-batch into distinct spike patterns already at initialisation tends to train well.

The score is taken on the UNTRAINED network in train mode (BatchNorm uses batch statistics), without
gradients. For every LIF layer ``l`` and every timestep ``t`` (one *call*), with ``x ∈ {0,1}^(B×N)``
the layer's spike map for a mini-batch of ``B`` samples flattened to ``N`` neurons:

- firing rate of sample ``a``: ``p_a = (1/N) Σ_n x[a, n]``;
- Hamming distance: ``d_H(a, b) = Σ_n |x[a, n] − x[b, n]| = [x(1−x)ᵀ + (1−x)xᵀ]_ab``, computed as
  ``s_a + s_b − 2·[x xᵀ]_ab`` with ``s_a = N·p_a`` (one matrix product instead of two; exact, since
  the entries are integers below 2²⁴ in float32);
- expected Hamming distance per neuron of two independent maps with these rates:
  ``q_ab = p_a(1 − p_b) + (1 − p_a)p_b``;
- sparsity-aware distance, α = 0.5, ε = 1e-3::

      d(a, b) = α · d_H(a, b) / (q_ab + ε)          normalise="rate"  (the public code; default)
      d(a, b) = α · d_H(a, b) / (N · q_ab + ε)      normalise="count" (the formula in REFERENCE.md)

- kernel contribution ``K_lt[a, b] = N − d(a, b)``, so ``K_lt[a, a] = N``.

``K = (1/L) Σ_(l,t) K_lt`` averages over the ``L`` calls; the score of one mini-batch is
``log|det K|`` (slogdet; the sign is ignored, as in the public code); the score of the network is
the mean over ``n_batches`` mini-batches (2, of 256 samples, in the public code). Higher is better.

The two normalisations differ by the factor N: the public code divides by the per-neuron rate
``q_ab`` (so ``d ≈ α·N`` for unrelated samples and ``K ≈ N/2`` off the diagonal), while
REFERENCE.md's summary divides by ``N·q_ab`` (so ``d ≈ α`` and ``K ≈ N − 1/2`` off the
diagonal). We follow the code by default: it is what the published numbers (Kendall τ = 0.646)
were measured with.

What counts as a call: every record that the network hands to the recorder with ``spikes=True``
(:class:`~moo_snn.training.network.SpikeRecorder`): the LIF of every conv edge of both cells (a
backward edge from t = 1 on: its silent t = 0 input is recorded with ``spikes=False``), the
reduction LIF, the head LIF and the classifier's hidden LIF. The stem's input, the pooled classifier
inputs and the silent inputs are ignored. Values are binarised as ``x > 0`` (as in the public code).

Distinct samples: two identical images give identical spike maps in every layer, hence two equal
rows of ``K`` and ``det K = 0`` whatever the architecture. A mini-batch is therefore drawn from the
*distinct* images of the training split (exact duplicates, e.g. of an oversampled data set, are
kept once, at their first occurrence; a split without duplicates draws exactly as before), and a
split with fewer than 2 distinct images is a :class:`~moo_snn.errors.TrainingError`.

Singular kernels: when ``det K = 0`` exactly for distinct samples (e.g. every LIF layer silent for
every sample, so that ``K = N̄·11ᵀ`` has rank 1) ``log|det K| = −inf`` and
:func:`training_free_score` returns ``-inf``: an architecture whose spikes cannot tell samples
apart ranks last, and ``-inf`` still sorts (NaN would not). ``K`` is always finite (binary inputs,
``ε > 0``), so NaN does not arise; any non-finite value is returned as ``-inf`` all the same. A
score that is ``-inf`` for *every* candidate carries no information to rank them by:
:func:`best_scored` refuses to pick one (the ``hasnas`` strategy stops with that message).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from moo_snn.architecture import Architecture
from moo_snn.config.problem import ProblemSpec
from moo_snn.errors import TrainingError
from moo_snn.training.network import SpikeRecorder, SpikingNetwork

ALPHA = 0.5
"""Weight α of the sparsity-aware distance (SNASNet's code)."""
EPSILON = 1e-3
"""Added to the expected distance so that two silent (or two saturated) samples do not divide by 0."""
NORMALISATIONS = ("rate", "count")


def sahd_kernel(spike_map: torch.Tensor, *, alpha: float = ALPHA, normalise: str = "rate") -> torch.Tensor:
    """One call's kernel contribution ``N − d(a, b)`` (module docstring).

    Parameters
    ----------
    spike_map : ``(B, ...)`` spike map of one layer at one timestep, flattened to ``(B, N)``;
        entries ``> 0`` are spikes.
    alpha : weight α of the sparsity-aware distance.
    normalise : ``"rate"`` (divide by ``q_ab + ε``, the public code) or ``"count"`` (divide by
        ``N·q_ab + ε``, REFERENCE.md).

    Returns
    -------
    torch.Tensor
        float64 ``(B, B)``, symmetric, ``N`` on the diagonal, on the device of ``spike_map``.
    """
    if normalise not in NORMALISATIONS:
        raise ValueError(f"normalise must be one of {NORMALISATIONS}, found {normalise!r}")
    spikes = spike_map.detach().flatten(1) > 0
    n = spikes.shape[1]
    x = spikes.to(torch.float32 if n < 2**24 else torch.float64)  # integer sums stay exact
    counts = spikes.sum(1).to(torch.float64)  # (B,) spikes per sample
    hamming = counts[:, None] + counts[None, :] - 2.0 * (x @ x.T).to(torch.float64)
    rate = counts / n
    expected = rate[:, None] * (1.0 - rate[None, :]) + (1.0 - rate[:, None]) * rate[None, :]
    if normalise == "count":
        expected = n * expected
    return n - alpha * hamming / (expected + EPSILON)


class SahdRecorder(SpikeRecorder):
    """Accumulates :func:`sahd_kernel` over every LIF layer and timestep (records with ``spikes=True``).

    Attributes
    ----------
    total : float64 ``(B, B)`` sum of the contributions (None before the first call).
    calls : number of (layer, timestep) calls summed.
    """

    def __init__(self, *, alpha: float = ALPHA, normalise: str = "rate"):
        self.alpha = alpha
        self.normalise = normalise
        self.total: torch.Tensor | None = None
        self.calls = 0

    def record(self, name, values, *, per_step=False, spikes=True, crossbar=True):
        """Add the kernel of each timestep of ``values`` (``(T, B, ...)``, or ``(B, ...)`` with ``per_step``);
        records with ``spikes=False`` (the stem's image, silent inputs) are ignored."""
        if not spikes:
            return
        for spike_map in (values.unsqueeze(0) if per_step else values):
            contribution = sahd_kernel(spike_map, alpha=self.alpha, normalise=self.normalise)
            self.total = contribution if self.total is None else self.total + contribution
            self.calls += 1

    def kernel(self) -> torch.Tensor:
        """``K``: the mean contribution over all calls, float64 ``(B, B)``."""
        if self.total is None:
            raise TrainingError("SahdRecorder: no spike map recorded; run the network with this recorder first")
        return self.total / self.calls

    def log_abs_det(self) -> float:
        """``log|det K|``; ``-inf`` where ``K`` is singular (module docstring)."""
        logabsdet = torch.linalg.slogdet(self.kernel().cpu()).logabsdet.item()
        return logabsdet if math.isfinite(logabsdet) else -math.inf


def distinct_samples(images) -> np.ndarray:
    """Indices of the first occurrence of each distinct image, in their original order.

    Parameters
    ----------
    images : array_like or torch.Tensor, shape (n, ...)
        The samples; two are the same if every value is equal.

    Returns
    -------
    numpy.ndarray of int, shape (n_distinct,)
        ``arange(n)`` when no image repeats.
    """
    flat = np.asarray(images.detach().cpu() if isinstance(images, torch.Tensor) else images).reshape(len(images), -1)
    _, first = np.unique(flat, axis=0, return_index=True)
    return np.sort(first)


def best_scored(scores, archs=None) -> int:
    """Index of the highest training-free score; an error where no score carries information.

    Parameters
    ----------
    scores : sequence of float, shape (n,)
        :func:`training_free_score` of each candidate (``-inf`` for a singular kernel).
    archs : sequence of str, shape (n,), optional
        The candidates, named in the error.

    Returns
    -------
    int
        The first index of the largest finite score.

    Raises
    ------
    TrainingError
        Every score is ``-inf`` (or none is given): an argmax over them would pick the first
        candidate for no reason.
    """
    values = np.asarray(scores, dtype=float)
    finite = np.isfinite(values)
    if not finite.any():
        example = f" (e.g. {archs[0]})" if archs is not None and len(archs) else ""
        raise TrainingError(f"the training-free score (SAHD) is -inf for all {len(values)} candidates{example}: every kernel "
                            f"is singular, so the score cannot rank them; the spike maps of the untrained networks do not "
                            f"tell the mini-batch samples apart (check the data, or search with --strategy nsga2, which "
                            f"trains and predicts instead)")
    return int(np.flatnonzero(finite)[np.argmax(values[finite])])


def training_free_score(problem: ProblemSpec, arch: Architecture | str, data=None, *, batch_size: int = 256,
                        n_batches: int = 2, seed: int = 0, device: str = "cpu", normalise: str = "rate") -> float:
    """SNASNet's SAHD score of ``arch`` at initialisation (higher is better).

    Parameters
    ----------
    problem : the problem (input shape, neuron parameters).
    arch : an :class:`Architecture` or its string; scored in its pruned form.
    data : the :class:`~moo_snn.data.DataSplits` (loaded from the problem when None); mini-batches are
        drawn from the distinct images of the training split (:func:`distinct_samples`), normalised
        with its per-channel mean and std as in training, without augmentation.
    batch_size : samples per mini-batch ``B`` (at most the number of distinct training images).
    n_batches : mini-batches averaged over; each is an independent random draw (seeded).
    seed : seeds the weight initialisation (forked global RNG) and the draw of the mini-batches.
    device : ``cpu`` or ``cuda[:N]``.
    normalise : :func:`sahd_kernel`'s normalisation.

    Returns
    -------
    float
        The mean over the mini-batches of ``log|det K|``; ``-inf`` if any kernel is singular.
    """
    from moo_snn.training.trainer import normalised, resolve_device

    if isinstance(arch, str):
        arch = Architecture.parse(arch)
    if not arch.is_valid:
        raise TrainingError(f"architecture {arch} has no forward path from node 0 to node 3; repair it first "
                              f"(moo-snn train/cost --arch ... --repair shows the repaired architecture; in Python: SearchSpace.repair)")
    if batch_size < 2 or n_batches < 1:
        raise TrainingError(f"need batch_size >= 2 and n_batches >= 1, found {batch_size} and {n_batches}")
    if normalise not in NORMALISATIONS:
        raise TrainingError(f"normalise must be one of {NORMALISATIONS}, found {normalise!r}")
    dev = resolve_device(device)
    if data is None:
        from moo_snn.data import load_problem_data
        data = load_problem_data(problem)
    keep = distinct_samples(data.x_train)  # a repeated image would make every kernel singular
    x_train = normalised(data, data.x_train)[torch.as_tensor(keep)]
    n = len(x_train)
    if n < 2:
        raise TrainingError(f"the training split has {n} distinct sample(s) (of {len(data.x_train)}); the score needs "
                            f"at least 2 different images")
    batch = min(batch_size, n)

    scores = []
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []), torch.no_grad():
        torch.manual_seed(seed)
        model = SpikingNetwork(arch.pruned(), problem.network_input, problem.training).to(dev).train()
        generator = torch.Generator().manual_seed(seed)
        for _ in range(n_batches):
            idx = torch.randperm(n, generator=generator)[:batch]
            xb = x_train[idx].to(dev)
            recorder = SahdRecorder(normalise=normalise)
            model(xb, recorder)
            scores.append(recorder.log_abs_det())
    return float(sum(scores) / len(scores))
