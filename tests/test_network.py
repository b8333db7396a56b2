"""The spiking network: LIF dynamics, quantisation, cell semantics, gradients, spike rates."""

import pytest
import torch

from moo_snn.architecture import Architecture
from moo_snn.config.problem import TrainingSpec
from moo_snn.layers import NetworkInput, crossbar_layers
from moo_snn.training.network import LIF, Cell, RateRecorder, SpikingConv, SpikingNetwork
from moo_snn.training.quant import QuantConv2d, fake_quantize

SPEC = TrainingSpec()
DIGITS = NetworkInput(1, 8, 10)


def test_lif_membrane_against_hand_computed_values():
    """v ← v + 0.75·(x − v), threshold 1, reset to 0.

    x = 1.0: v = 0.75 (no spike); x = 1.0: v = 0.75 + 0.75·0.25 = 0.9375 (no spike);
    x = 2.0: v = 0.9375 + 0.75·1.0625 = 1.734375 → spike, v = 0; x = 0.4: v = 0.3;
    x = -1.0: v = 0.3 + 0.75·(-1.3) = -0.675.
    """
    lif = LIF(SPEC)
    state, spikes, volts = None, [], []
    for x in (1.0, 1.0, 2.0, 0.4, -1.0):
        z, state = lif.step(torch.tensor([x]), state)
        spikes.append(float(z.detach()))
        volts.append(float(state.v.detach()))
    assert spikes == [0.0, 0.0, 1.0, 0.0, 0.0]
    assert volts == pytest.approx([0.75, 0.9375, 0.0, 0.3, -0.675])
    # the sequence form gives the same spikes
    seq = lif(torch.tensor([[1.0], [1.0], [2.0], [0.4], [-1.0]]))
    assert seq.flatten().tolist() == spikes


def test_lif_surrogate_gradient_flows_through_a_spike():
    x = torch.tensor([1.5], requires_grad=True)
    z, _ = LIF(SPEC).step(x)
    z.sum().backward()
    assert float(z.detach()) == 1.0 and float(x.grad) > 0


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 8])
def test_quantised_weights_take_at_most_2_pow_bits_values(bits):
    w = torch.randn(64, 64, 3, 3)
    q = fake_quantize(w, bits)
    assert q.unique().numel() <= 2**bits
    assert q.abs().max() <= w.abs().max() + 1e-6
    if bits >= 2:  # symmetric: the largest weight keeps its value, levels are evenly spaced
        assert torch.isclose(q.abs().max(), w.abs().max())
    conv = QuantConv2d(4, 4, 3, bits)
    out = conv(torch.ones(1, 4, 5, 5))
    ref = torch.nn.functional.conv2d(torch.ones(1, 4, 5, 5), fake_quantize(conv.weight, bits), padding=1)
    torch.testing.assert_close(out, ref)


def test_quantisation_passes_gradients_straight_through():
    w = torch.randn(10, requires_grad=True)
    (fake_quantize(w, 2) * torch.arange(10.0)).sum().backward()
    torch.testing.assert_close(w.grad, torch.arange(10.0))


def test_gradients_reach_every_parameter_of_a_cell_with_all_edge_kinds():
    # forward conv3x3 0→1, skip 0→2, conv1x1 1→3, avgpool 2→3; backward conv3x3 2→... (pair 1-2 backward)
    # rows: 0→1 conv3x3, 0→2 skip; [2][1] backward conv1x1 2→1; 1→3 conv1x1; 2→3 avgpool; 0→3 conv3x3
    arch = Architecture.parse("0313-0002-0204-0000_c4_t3_w4_p1_h0")
    kinds = {(e.op, e.backward) for e in arch.active_edges()}
    assert kinds == {("conv3x3", False), ("skip", False), ("conv1x1", False), ("conv1x1", True), ("avgpool3x3", False)}
    torch.manual_seed(0)
    cell = Cell(arch, 4, 4, "cell1", SPEC)
    x = torch.randn(3, 2, 4, 5, 5) * 3 + 1  # strong input so that every LIF spikes
    cell(x).square().sum().backward()
    for name, p in cell.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_backward_edge_changes_the_output_at_t_ge_1_only():
    """The same cell, once with the backward edge 3→1 silenced (its BN output forced to 0)."""
    arch = Architecture.parse("0303-0030-0003-0200_c4_t4_w8_p1_h0")
    torch.manual_seed(1)
    cell = Cell(arch, 4, 8, "cell1", SPEC)
    x = torch.randn(4, 2, 4, 5, 5) * 2 + 1
    with torch.no_grad():
        with_feedback = cell(x)
        backward_op = next(op for e, op in zip(cell.edges, cell.ops) if e.backward)
        backward_op.bn.weight.zero_()
        backward_op.bn.bias.zero_()
        without_feedback = cell(x)
    torch.testing.assert_close(with_feedback[0], without_feedback[0])
    for t in range(1, 4):
        assert not torch.allclose(with_feedback[t], without_feedback[t]), t


def test_forward_only_cell_is_the_same_function_stepwise_and_batched():
    """In eval mode (fixed BN statistics) the time-batched path equals the stepwise path."""
    arch = Architecture.parse("0303-0030-0003-0000_c4_t3_w4_p1_h0")
    torch.manual_seed(2)
    cell = Cell(arch, 4, 4, "cell1", SPEC).eval()
    x = torch.randn(3, 2, 4, 5, 5) * 2
    with torch.no_grad():
        batched = cell(x)
        stepwise = cell._forward_stepwise(x, None)
    torch.testing.assert_close(batched, stepwise)


@pytest.mark.parametrize("text", ["0303-0030-2002-0200_c8_t3_w4_p2_h16", "0001-0000-0000-0000_c4_t2_w2_p4_h0",
                                  "0412-0003-0001-0000_c4_t2_w8_p1_h0"])
def test_network_output_and_spike_rates_name_every_crossbar_layer(text):
    arch = Architecture.parse(text)
    torch.manual_seed(0)
    net = SpikingNetwork(arch, DIGITS, SPEC)
    recorder = RateRecorder()
    out = net(torch.randn(5, 1, 8, 8), recorder)
    assert out.shape == (5, 10)
    rates = recorder.rates()
    assert set(rates) == {l.name for l in crossbar_layers(arch, DIGITS)}
    for name, rate in rates.items():
        assert 0 <= rate <= 1, name
    assert rates["stem"] == 1.0  # the stem reads the image: rate 1
    n_weights = sum(m.weight.numel() for m in net.modules() if hasattr(m, "bits"))
    assert n_weights == sum(l.params for l in crossbar_layers(arch, DIGITS))


def test_spiking_conv_counts_input_spikes():
    op = SpikingConv("cell1.fwd0-1", 2, 3, 4, SPEC)
    recorder = RateRecorder()
    x = torch.zeros(2, 1, 2, 3, 3)
    x[:, :, 0] = 5.0  # channel 0 spikes at t = 0 (v = 3.75), resets, spikes again at t = 1
    op(x, recorder)
    assert recorder.counts["cell1.fwd0-1"] == 2 * 1 * 2 * 3 * 3 and recorder.sums["cell1.fwd0-1"] == 2 * 9
