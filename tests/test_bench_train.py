"""benchmarks/bench_train.py's plain-torch reference computes what moo-snn's network computes."""

import importlib.util
from pathlib import Path

import pytest
import torch

from moo_snn.architecture import Architecture
from moo_snn.config.problem import TrainingSpec
from moo_snn.layers import NetworkInput
from moo_snn.training.network import SpikingNetwork

_spec = importlib.util.spec_from_file_location("bench_train", Path(__file__).parents[1] / "benchmarks" / "bench_train.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def _net_and_batch(text, net_input=NetworkInput(1, 8, 10)):
    torch.manual_seed(0)
    net = SpikingNetwork(Architecture.parse(text).pruned(), net_input, TrainingSpec())
    x = torch.randn(16, net_input.channels, net_input.side, net_input.side) * 2
    return net, x, torch.randint(0, 10, (16,))


@pytest.mark.parametrize("text", ["0303-0030-0003-0000_c8_t4_w4_p1_h0", "0303-0030-2002-0200_c8_t3_w4_p2_h32",
                                  "0313-0002-0204-0000_c4_t3_w2_p1_h0"])
def test_plain_loop_gives_the_same_loss_and_gradients(text):
    net, x, y = _net_and_batch(text)
    assert bench.same_loss(net, x, y)
    with torch.no_grad():
        torch.testing.assert_close(bench.plain_forward(net.eval(), x), net.eval()(x))


def test_the_check_sees_a_different_surrogate(monkeypatch):
    net, x, y = _net_and_batch("0303-0030-0003-0000_c8_t4_w4_p1_h0")
    monkeypatch.setattr(bench.PlainSuperSpike, "backward", staticmethod(lambda ctx, g: g / (ctx.saved_tensors[0].abs() + 2.0).pow(2)))
    assert not bench.same_loss(net, x, y)
