"""The fused LIF neuron against norse's ``LIFBoxCell`` itself: the same numbers, bit for bit."""

import pytest
import torch
from norse.torch import LIFBoxCell, LIFBoxParameters

from moo_snn.config.problem import TrainingSpec
from moo_snn.training.lif import decay_factor, lif_sequence, lif_step
from moo_snn.training.network import LIF


def _norse_sequence(x, tau_mem_inv=750.0, v_th=1.0):
    cell = LIFBoxCell(LIFBoxParameters(tau_mem_inv=torch.as_tensor(tau_mem_inv), v_th=torch.as_tensor(v_th), method="super",
                                       alpha=torch.as_tensor(100.0)))
    state, out = None, []
    for x_t in x:
        z, state = cell(x_t, state)
        out.append(z)
    return torch.stack(out), state.v


@pytest.mark.parametrize("tau_mem_inv, v_th, scale", [(750.0, 1.0, 2.0), (300.0, 0.5, 1.0), (900.0, 1.5, 4.0)])
def test_sequence_matches_norse_bit_for_bit_forward_and_backward(tau_mem_inv, v_th, scale):
    torch.manual_seed(0)
    x = (torch.randn(6, 4, 3, 5, 5) * scale + 0.5).requires_grad_()
    weights = torch.randn(6, 4, 3, 5, 5)  # a loss that weighs every spike differently
    ours = lif_sequence(x, decay_factor(tau_mem_inv), torch.as_tensor(v_th))
    (ours * weights).sum().backward()
    grad_ours, x.grad = x.grad.clone(), None
    reference, _ = _norse_sequence(x, tau_mem_inv, v_th)
    (reference * weights).sum().backward()
    assert 0 < ours.mean() < 1  # some neurons spike, some do not
    assert torch.equal(ours, reference)
    assert torch.equal(grad_ours, x.grad)
    assert grad_ours.abs().sum() > 0


def test_steps_match_norse_bit_for_bit_with_a_loss_on_the_potential():
    """Recurrent cells step one timestep at a time and carry the state: gradients through v too."""
    torch.manual_seed(1)
    x = (torch.randn(5, 3, 7) * 2).requires_grad_()
    a, th = decay_factor(750.0), torch.as_tensor(1.0)

    def run(step):
        state, loss = None, 0
        for t, x_t in enumerate(x):
            z, state = step(x_t, state)
            loss = loss + (z * (t + 1)).sum() + 0.3 * state.square().sum()
        loss.backward()
        grad = x.grad.clone()
        x.grad = None
        return grad

    def ours(x_t, v):
        return lif_step(x_t, v, a, th)

    cell = LIFBoxCell(LIFBoxParameters(tau_mem_inv=torch.as_tensor(750.0), v_th=torch.as_tensor(1.0), method="super"))

    def norse(x_t, v):
        z, s = cell(x_t, None if v is None else type(cell.initial_state(x_t))(v=v))
        return z, s.v

    assert torch.equal(run(ours), run(norse))


def test_module_uses_norse_for_other_surrogates_and_agrees_on_spikes():
    x = torch.randn(4, 2, 6) * 2
    fused, plain = LIF(TrainingSpec()), LIF(TrainingSpec(surrogate="tanh"))
    assert fused.fused and not plain.fused
    assert torch.equal(fused(x), plain(x))  # the surrogate changes gradients only
    assert "decay" not in fused.state_dict() and "v_th" not in fused.state_dict()


def test_without_gradients_the_plain_loop_gives_the_same_spikes():
    x = torch.randn(5, 3, 4) * 2
    with torch.no_grad():
        a = lif_sequence(x, decay_factor(750.0), torch.as_tensor(1.0))
    b, _ = _norse_sequence(x)
    assert torch.equal(a, b)
