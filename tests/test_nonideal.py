"""Accuracy on non-ideal crossbars (moo_snn.training.nonideal): the mapping and the ADC by hand, the
ideal case bit for bit, and accuracy that falls as the devices get worse (fixed draws)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from moo_snn.config.problem import load_problem
from moo_snn.cost.nonideal import NonidealConfig
from moo_snn.data import load_problem_data
from moo_snn.errors import ProblemError
from moo_snn.training.nonideal import _on_crossbars, _program, _slice, evaluate_nonideal
from moo_snn.training.quant import QuantLinear
from moo_snn.training.trainer import evaluate, load_weights, normalised, train_architecture

OFF = NonidealConfig(conductance_sigma=0.0, stuck_off_fraction=0.0, stuck_on_fraction=0.0, adc=False, draws=2)
ARCH = "0003-0000-0000-0000_c8_t2_w4_p2_h0"


def hand_layer() -> QuantLinear:
    """3 → 1, 3-bit weights [0.3, −0.3, 0.15]: L = 3, s = 0.1, q = [3, −3, 2], u = q + 4 = [7, 1, 6]."""
    layer = QuantLinear(3, 1, bits=3)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.3, -0.3, 0.15]]))
        layer.bias.zero_()
    return layer


def test_offset_binary_slices_by_hand():
    """2-bit cells: u = [7, 1, 6] → low digits u mod 4 = [3, 1, 2] (2 bits, top 3), high digits u // 4 = [1, 0, 1]
    (the third bit alone, top 1: its two levels span the cell's whole range)."""
    layer = _slice(hand_layer(), cell_bits=2, reads_image=False)
    assert layer.digits.squeeze(1).tolist() == [[3, 1, 2], [1, 0, 1]]
    assert layer.tops.flatten().tolist() == [3, 1]
    torch.testing.assert_close(layer.weight(layer.digits), torch.tensor([[0.3, -0.3, 0.2]]))
    # a stuck-on high cell of weight 2 (digit 0 → its top, 1): u = 1 + 4·1 = 5, q = 1, W = 0.1
    stuck = layer.digits.clone()
    stuck[1, 0, 1] = 1
    torch.testing.assert_close(layer.weight(stuck)[0, 1], torch.tensor(0.1))


def test_adc_quantises_each_crossbar_partial_sum_by_hand():
    """X = 2: row blocks {0, 1} and {2}. Calibration input [1, 1, 1]: partial sums (slice 0, slice 1)
    block 0: (3 + 1, 1 + 0) = (4, 1), block 1: (2, 1) → the ADC ranges. Input [1, 0, 1] with 1-bit ADCs:
    block 0: slice 0 sum 3 → 4·round(3/4) = 4, slice 1 sum 1 → 1; block 1: 2 and 1 unchanged.
    Σ u·x = (4 + 4·1) + (2 + 4·1) = 14; minus the offset 4·Σx = 8 → 6; × s = 0.6 (ideal: 7 + 6 − 8 = 5 → 0.5)."""
    module = hand_layer()
    layer = _slice(module, cell_bits=2, reads_image=False)
    with _on_crossbars([layer], crossbar_size=2, adc_bits=1, calibrate=True):
        module(torch.ones(1, 3))
    assert layer.p_max.tolist() == [[4.0, 1.0], [2.0, 1.0]]
    layer.programmed = layer.digits.clone()
    with _on_crossbars([layer], crossbar_size=2, adc_bits=1):
        y = module(torch.tensor([[1.0, 0.0, 1.0]]))
    torch.testing.assert_close(y, torch.tensor([[0.6]]))
    torch.testing.assert_close(module(torch.tensor([[1.0, 0.0, 1.0]])), torch.tensor([[0.5]]))  # forward restored


def test_programming_errors_and_stuck_cells_by_rule():
    """σ moves a digit by σ·t_j·ε, clipped to [0, t_j] (t = 3 low, 1 high); p_on = 1 sticks every cell at its top."""
    layer = _slice(hand_layer(), cell_bits=2, reads_image=False)
    _program(layer, NonidealConfig(conductance_sigma=0.0, stuck_off_fraction=0.0, stuck_on_fraction=1.0), torch.Generator().manual_seed(0))
    assert layer.programmed.squeeze(1).tolist() == [[3, 3, 3], [1, 1, 1]]
    _program(layer, NonidealConfig(conductance_sigma=0.2, stuck_off_fraction=0.0, stuck_on_fraction=0.0), torch.Generator().manual_seed(1))
    eps = torch.randn(layer.digits.shape, generator=torch.Generator().manual_seed(1))
    tops = torch.tensor([3.0, 1.0]).view(2, 1, 1)
    torch.testing.assert_close(layer.programmed, torch.minimum((layer.digits + 0.2 * tops * eps).clamp_min(0), tops))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small digits network trained for 3 epochs, its validation split, and the problem."""
    spec = load_problem("digits")
    data = load_problem_data(spec)
    path = tmp_path_factory.mktemp("w") / "net.pt"
    torch.set_num_threads(1)
    train_architecture(spec, ARCH, data, epochs=3, seed=0, weights_path=path)
    model = load_weights(spec, path)
    x, y = normalised(data, data.x_val), torch.as_tensor(data.y_val)
    return model, x, y, spec


def test_no_nonideality_gives_the_ideal_accuracy_exactly(trained):
    model, x, y, _ = trained
    result = evaluate_nonideal(model, x, y, config=OFF, crossbar_size=64, cell_bits=2, adc_bits=4)
    ideal = evaluate(model, x, y, 256, "cpu")
    assert result.accuracies == [ideal, ideal] and result.accuracy_mean == ideal == result.ideal_accuracy
    assert result.accuracy_std == 0.0
    assert evaluate(model, x, y, 256, "cpu") == ideal  # the model is left as it was


def test_accuracy_falls_as_the_variation_grows(trained):
    model, x, y, _ = trained
    means = []
    for sigma in (0.0, 0.02, 0.05, 0.1, 0.2):  # down to about chance (0.1), where the order is noise
        config = dataclasses.replace(OFF, conductance_sigma=sigma, draws=2)
        means.append(evaluate_nonideal(model, x, y, config=config, crossbar_size=64, cell_bits=4, adc_bits=4).accuracy_mean)
    assert all(a >= b for a, b in zip(means, means[1:])), means
    assert means[-1] < means[0] - 0.2, means
    assert means[1] < means[0]  # already 2 % of the conductance range costs accuracy


def test_stuck_cells_and_adc_cost_accuracy_and_the_spread_is_kept(trained):
    model, x, y, _ = trained
    ideal = evaluate(model, x, y, 256, "cpu")
    stuck = evaluate_nonideal(model, x, y, config=dataclasses.replace(OFF, stuck_on_fraction=0.2, draws=3),
                              crossbar_size=64, cell_bits=4, adc_bits=4)
    assert stuck.accuracy_mean < ideal and len(stuck.accuracies) == 3
    assert stuck.accuracy_std == pytest.approx(np.std(stuck.accuracies, ddof=1))
    fine = evaluate_nonideal(model, x, y, config=dataclasses.replace(OFF, adc=True, draws=1), crossbar_size=64, cell_bits=4, adc_bits=12)
    coarse = evaluate_nonideal(model, x, y, config=dataclasses.replace(OFF, adc=True, draws=1), crossbar_size=64, cell_bits=4, adc_bits=1)
    assert abs(fine.accuracy_mean - ideal) <= 0.02
    assert coarse.accuracy_mean < fine.accuracy_mean


def test_impossible_stuck_fractions_are_a_clear_error(trained):
    model, x, y, _ = trained
    with pytest.raises(ProblemError, match="stuck"):
        evaluate_nonideal(model, x, y, config=dataclasses.replace(OFF, stuck_off_fraction=0.6, stuck_on_fraction=0.6),
                          crossbar_size=64, cell_bits=4, adc_bits=4)


@pytest.mark.slow  # one short training (about 10 s on a busy machine)
def test_train_nonideal_json_prints_the_mean_and_its_spread():
    import json

    from typer.testing import CliRunner

    from moo_snn.cli import app

    result = CliRunner().invoke(app, ["train", "digits", "--arch", ARCH, "--epochs", "1", "--torch-threads", "1", "--nonideal", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    draws = out["nonideal"]["accuracy_nonideal_draws"]
    assert len(draws) == 5 and out["accuracy_nonideal"] == pytest.approx(np.mean(draws))
    assert out["accuracy_nonideal_std"] == pytest.approx(np.std(draws, ddof=1))
    assert out["nonideal"]["accuracy_ideal"] == out["val_accuracy"]
    assert out["nonideal"]["crossbar_size"] == 64 and out["nonideal"]["adc_bits"] == 4


def test_weight_noise_in_training_passes_only_with_a_straight_through_gradient():
    """σ = 0.5: the training pass sees W_q + 0.5·max|W_q|·ε (ε from the seed's generator); eval sees W_q;
    the gradient of the noisy pass w.r.t. the weights equals the clean one (the noise is a constant)."""
    from moo_snn.training.nonideal import inject_weight_noise

    layer = hand_layer()  # W_q = [0.3, −0.3, 0.2], max|W_q| = 0.3
    model = torch.nn.Sequential(layer)
    x = torch.tensor([[1.0, 2.0, 3.0]])
    restore = inject_weight_noise(model, 0.5, seed=7)
    model.train()
    y = model(x)
    eps = torch.randn((1, 3), generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(y, x @ (torch.tensor([[0.3, -0.3, 0.2]]) + 0.5 * 0.3 * eps).T)
    y.sum().backward()
    torch.testing.assert_close(layer.weight.grad, x)  # d(x·W)/dW = x, straight through the quantiser
    model.eval()
    torch.testing.assert_close(model(x), torch.tensor([[0.3 - 0.6 + 0.6]]))
    restore()
    assert "forward" not in vars(layer)
    assert inject_weight_noise(model, 0.0)() is None and "forward" not in vars(layer)  # σ = 0 changes nothing
