"""SNASNet's training-free score (SAHD): the kernel by hand and by a second implementation, the recorder,
and the score of real digits networks.

Timing (2 CPU threads, torch 2.13, digits, B = 256, 2 mini-batches, per score): about 0.02 s for
``0001-0000-0000-0000_c4_t2_w4_p2_h0``, 0.2 s for the reference ``0303-0030-0003-0000_c16_t4_w4_p1_h0``,
0.8 s for ``0303-0030-2002-0200_c32_t6_w8_p1_h128`` (86 layer-timestep calls per mini-batch). About
a third of it is the kernel, the rest the forward pass. This file runs in a few seconds.
"""

import dataclasses
import math

import numpy as np
import pytest
import torch

from moo_snn.architecture import Architecture
from moo_snn.config.problem import TrainingSpec, load_problem
from moo_snn.data import load_problem_data
from moo_snn.errors import TrainingError
from moo_snn.layers import NetworkInput
from moo_snn.training.network import SpikingNetwork
from moo_snn.training.sahd import SahdRecorder, best_scored, distinct_samples, sahd_kernel, training_free_score


@pytest.fixture(scope="module")
def digits():
    problem = load_problem("digits")
    return problem, load_problem_data(problem)


def test_kernel_against_a_hand_computed_example():
    """x = [[1,1,0,0], [1,0,0,0], [0,0,0,0]]: N = 4, rates p = (0.5, 0.25, 0).

    Hamming distances: d_H(a,b) = 1, d_H(a,c) = 2, d_H(b,c) = 1.
    q_ab = 0.5·0.75 + 0.5·0.25 = 0.5;  q_ac = 0.5·1 + 0.5·0 = 0.5;  q_bc = 0.25·1 + 0.75·0 = 0.25.
    "rate" (public code), d = 0.5·d_H / (q + 0.001):
        K_ab = 4 − 0.5/0.501 = 3.001996,  K_ac = 4 − 1/0.501 = 2.003992,  K_bc = 4 − 0.5/0.251 = 2.007968.
    "count" (REFERENCE.md), d = 0.5·d_H / (4·q + 0.001):
        K_ab = 4 − 0.5/2.001 = 3.750125,  K_ac = 4 − 1/2.001 = 3.500250,  K_bc = 4 − 0.5/1.001 = 3.500500.
    The diagonal is N = 4 (d_H = 0, also for the silent sample c, whose q_cc = 0).
    """
    x = torch.tensor([[1.0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    rate = torch.tensor([[4.0, 4 - 0.5 / 0.501, 4 - 1 / 0.501],
                         [4 - 0.5 / 0.501, 4.0, 4 - 0.5 / 0.251],
                         [4 - 1 / 0.501, 4 - 0.5 / 0.251, 4.0]], dtype=torch.float64)
    count = torch.tensor([[4.0, 4 - 0.5 / 2.001, 4 - 1 / 2.001],
                          [4 - 0.5 / 2.001, 4.0, 4 - 0.5 / 1.001],
                          [4 - 1 / 2.001, 4 - 0.5 / 1.001, 4.0]], dtype=torch.float64)
    torch.testing.assert_close(sahd_kernel(x), rate)
    torch.testing.assert_close(sahd_kernel(x, normalise="count"), count)
    assert sahd_kernel(x)[0, 1].item() == pytest.approx(3.001996, abs=1e-6)
    assert sahd_kernel(x, normalise="count")[1, 2].item() == pytest.approx(3.5005, abs=1e-6)


def _kernel_by_loops(x: torch.Tensor, normalise: str) -> torch.Tensor:
    """A second implementation: Python integers and a double loop over the samples."""
    rows = [[int(v > 0) for v in row] for row in x.flatten(1).tolist()]
    n = len(rows[0])
    out = torch.empty(len(rows), len(rows), dtype=torch.float64)
    for a, ra in enumerate(rows):
        for b, rb in enumerate(rows):
            hamming = sum(u != v for u, v in zip(ra, rb))
            pa, pb = sum(ra) / n, sum(rb) / n
            expected = pa * (1 - pb) + (1 - pa) * pb
            if normalise == "count":
                expected *= n
            out[a, b] = n - 0.5 * hamming / (expected + 1e-3)
    return out


@pytest.mark.parametrize("normalise", ["rate", "count"])
@pytest.mark.parametrize("shape", [(7, 13), (6, 3, 4, 4), (2, 1)])
def test_kernel_against_a_double_loop_on_random_maps(shape, normalise):
    g = torch.Generator().manual_seed(sum(shape))
    rates = torch.rand(shape[0], *[1] * (len(shape) - 1), generator=g)
    x = (torch.rand(shape, generator=g) < rates).float()
    x[0] = 0  # a silent sample
    if shape[0] > 2:
        x[1] = 1  # a saturated one
    k = sahd_kernel(x, normalise=normalise)
    assert k.dtype == torch.float64 and k.shape == (shape[0], shape[0])
    torch.testing.assert_close(k, _kernel_by_loops(x, normalise), rtol=1e-12, atol=1e-9)


def test_kernel_is_symmetric_with_n_on_the_diagonal_and_binarises():
    g = torch.Generator().manual_seed(3)
    x = (torch.rand(32, 200, generator=g) < 0.1).float()
    k = sahd_kernel(x)
    assert torch.equal(k, k.T)
    assert torch.equal(k.diagonal(), torch.full((32,), 200.0, dtype=torch.float64))
    torch.testing.assert_close(sahd_kernel(x * 2.5), k)  # values > 0 are spikes


def test_recorder_counts_spike_maps_only_and_per_step_equals_time_first():
    g = torch.Generator().manual_seed(4)
    maps = (torch.rand(3, 5, 2, 4, 4, generator=g) < 0.3).float()  # (T, B, C, H, W)
    whole, steps = SahdRecorder(), SahdRecorder()
    whole.record("cell1.fwd0-1", maps)
    for t in range(3):
        steps.record("cell1.fwd0-1", maps[t], per_step=True)
    for rec in (whole, steps):  # none of these count
        rec.record("stem", torch.ones(3, 5, 1, 8, 8), spikes=False)
        rec.record("fc2", torch.rand(3, 5, 32, generator=g), spikes=False)
        rec.record("cell1.bwd2-0", torch.zeros(5, 2, 4, 4), per_step=True, spikes=False)
    assert whole.calls == steps.calls == 3
    expected = sum(sahd_kernel(m) for m in maps) / 3
    torch.testing.assert_close(whole.kernel(), expected)
    torch.testing.assert_close(steps.kernel(), expected)
    assert whole.log_abs_det() == pytest.approx(torch.linalg.slogdet(expected).logabsdet.item())


def test_silent_layers_give_a_singular_kernel_and_minus_infinity():
    rec = SahdRecorder()
    rec.record("reduction", torch.zeros(2, 4, 3, 2, 2))
    torch.testing.assert_close(rec.kernel(), torch.full((4, 4), 12.0, dtype=torch.float64))  # N·11ᵀ, rank 1
    assert rec.log_abs_det() == -math.inf
    with pytest.raises(TrainingError):
        SahdRecorder().kernel()


@pytest.mark.parametrize("text, lif_calls", [
    # forward only: 4 conv edges × 2 cells + reduction + head, T = 2; no hidden LIF (h0), final pool 1
    ("0303-0030-0003-0000_c4_t2_w4_p1_h0", (8 + 2) * 2),
    # backward 2→0 and 3→1 (conv1x1): T − 1 calls each (t = 0 is silent), + hidden LIF (h16), pool 1
    ("0303-0030-2002-0200_c4_t3_w4_p1_h16", (8 + 3) * 3 + 4 * 2),
])
def test_one_call_per_lif_layer_and_timestep_in_a_real_network(text, lif_calls):
    torch.manual_seed(0)
    net = SpikingNetwork(Architecture.parse(text), NetworkInput(1, 8, 10), TrainingSpec()).train()
    rec = SahdRecorder()
    with torch.no_grad():
        net(torch.randn(6, 1, 8, 8) * 2, rec)
    assert rec.calls == lif_calls
    assert rec.kernel().shape == (6, 6)


def test_score_of_real_digits_networks_is_finite_and_deterministic(digits):
    problem, data = digits
    state = torch.random.get_rng_state()
    score = training_free_score(problem, problem.reference_arch, data)  # B = 256, 2 batches: ~0.2 s
    assert math.isfinite(score)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is left alone
    small = "0001-0000-0000-0000_c4_t2_w4_p2_h0"
    assert training_free_score(problem, small, data, batch_size=64, seed=1) == training_free_score(
        problem, small, data, batch_size=64, seed=1)
    assert training_free_score(problem, small, data, batch_size=64, seed=1) != training_free_score(
        problem, small, data, batch_size=64, seed=2)
    with pytest.raises(TrainingError):
        training_free_score(problem, small, data, batch_size=1)


def _with_duplicates(data, repeat):
    """The same splits with training images ``repeat`` appended again (an oversampled data set)."""
    return dataclasses.replace(data, x_train=np.concatenate([data.x_train, data.x_train[repeat]]),
                               y_train=np.concatenate([data.y_train, data.y_train[repeat]]))


def test_distinct_samples_keeps_first_occurrences_in_order():
    x = np.array([[0, 1], [2, 3], [0, 1], [4, 5], [2, 3]], dtype=np.float32)
    assert distinct_samples(x).tolist() == [0, 1, 3]
    assert distinct_samples(torch.as_tensor(x)).tolist() == [0, 1, 3]
    assert distinct_samples(np.arange(12.0).reshape(4, 3)).tolist() == [0, 1, 2, 3]


def test_a_repeated_image_makes_any_kernel_singular():
    """Why mini-batches must hold distinct samples: two equal rows of spike maps, two equal rows of K."""
    torch.manual_seed(0)
    net = SpikingNetwork(Architecture.parse("0303-0030-0003-0000_c8_t2_w4_p1_h0"), NetworkInput(1, 8, 10), TrainingSpec()).train()
    x = torch.randn(6, 1, 8, 8) * 2
    for batch, singular in ((x, False), (torch.cat([x, x[:1]]), True)):
        rec = SahdRecorder()
        with torch.no_grad():
            net(batch, rec)
        assert (rec.log_abs_det() == -math.inf) == singular


def test_score_on_duplicated_data_is_the_score_on_the_distinct_images(digits):
    """Every training image twice (same mean and std): the score of the distinct images, finite."""
    problem, data = digits
    doubled = _with_duplicates(data, np.arange(len(data.x_train)))
    np.testing.assert_array_equal(doubled.mean, data.mean)
    for arch in ("0001-0000-0000-0000_c4_t2_w4_p2_h0", problem.reference_arch):
        score = training_free_score(problem, arch, doubled, batch_size=256, seed=3)
        assert math.isfinite(score)
        assert score == training_free_score(problem, arch, data, batch_size=256, seed=3)


def test_oversampled_data_scores_every_cell_finite(digits):
    """The shared case score-duplicates: a third of the images repeated; the old draw gave -inf for every cell."""
    problem, data = digits
    rng = np.random.default_rng(0)
    over = _with_duplicates(data, rng.choice(len(data.x_train), len(data.x_train) // 3, replace=False))
    assert len(distinct_samples(over.x_train)) == len(data.x_train)
    for arch in ("0001-0000-0000-0000_c4_t2_w4_p2_h0", "0303-0030-0003-0000_c4_t2_w4_p1_h0", "0002-0030-0000-0000_c4_t4_w4_p2_h0"):
        assert math.isfinite(training_free_score(problem, arch, over, batch_size=256, seed=0))


def test_fewer_than_two_distinct_images_is_an_error(digits):
    problem, data = digits
    same = dataclasses.replace(data, x_train=np.repeat(data.x_train[:1], 50, axis=0), y_train=np.repeat(data.y_train[:1], 50))
    with pytest.raises(TrainingError, match="1 distinct sample"):
        training_free_score(problem, "0001-0000-0000-0000_c4_t2_w4_p2_h0", same)


def test_best_scored_never_decides_on_no_information():
    assert best_scored([1.0, -math.inf, 3.0, 3.0]) == 2  # the first of the best finite
    assert best_scored([-math.inf, -math.inf, 0.5]) == 2
    with pytest.raises(TrainingError, match=r"-inf for all 3 candidates \(e.g. a\)"):
        best_scored([-math.inf] * 3, ["a", "b", "c"])
    with pytest.raises(TrainingError, match="-inf for all 0"):
        best_scored([])


def test_hasnas_stops_with_one_message_when_no_cell_can_be_ranked(tmp_path, monkeypatch):
    """Every score -inf: the run says so (exit 2) and trains nothing, instead of training the first cell."""
    from typer.testing import CliRunner

    from moo_snn.cli import app
    from moo_snn.training import sahd

    monkeypatch.setattr(sahd, "training_free_score", lambda *args, **kwargs: -math.inf)
    text = (load_problem("digits").source.replace("epochs = 10", "epochs = 1"))
    (tmp_path / "p.toml").write_text(text)
    result = CliRunner().invoke(app, ["optimize", str(tmp_path / "p.toml"), "--strategy", "hasnas", "--samples", "200",
                                      "--out", str(tmp_path / "o.nc"), "--torch-threads", "1"])
    assert result.exit_code == 2, result.output
    assert "training-free score (SAHD) is -inf for all" in result.output
    assert "training 1/1" not in result.output
    from moo_snn import open_results

    ds = open_results(tmp_path / "o.nc")  # the scores are kept; nothing was trained
    assert int(ds.trained.sum()) == 0 and np.isneginf(ds.training_free_score.values[np.isfinite(ds.training_free_score.values) | np.isinf(ds.training_free_score.values)]).all()
