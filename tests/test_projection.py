"""LSTM with projections (proj_size, Sak et al. 2014): torch.nn.LSTM's parameters, states and outputs
on both kernels, with lengths, stacking, bidirectional and carried state."""

from __future__ import annotations

import pytest
import torch

import rnnkit
from reference import torch_reference


def pair(kernel, **kwargs):
    torch.manual_seed(0)
    theirs = torch.nn.LSTM(3, 6, batch_first=True, proj_size=4, **kwargs).double()
    ours = rnnkit.LSTM(3, 6, proj_size=4, kernel=kernel, **kwargs).double()
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


@pytest.mark.parametrize("kernel", ["fused", "loop"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_projected_lstm_equals_torch_nn_with_lengths_and_state(kernel, bidirectional):
    ours, theirs = pair(kernel, num_layers=2, bidirectional=bidirectional)
    assert set(ours.state_dict()) == set(theirs.state_dict())
    d = 2 if bidirectional else 1
    x = torch.randn(4, 7, 3, dtype=torch.float64)
    lengths = torch.tensor([7, 2, 5, 0])
    state = (torch.randn(2 * d, 4, 4, dtype=torch.float64), torch.randn(2 * d, 4, 6, dtype=torch.float64))
    ys, (h, c) = ours(x, state, lengths=lengths)
    ref_ys, (ref_h, ref_c) = torch_reference(theirs, x, state, lengths)
    assert ys.shape == (4, 7, 4 * d) and h.shape == (2 * d, 4, 4) and c.shape == (2 * d, 4, 6)
    assert ours.last_kernel.name == kernel
    torch.testing.assert_close(ys, ref_ys)
    torch.testing.assert_close(h, ref_h)
    torch.testing.assert_close(c, ref_c)
    grads = torch.autograd.grad(ys.sum() + h.sum() + c.sum(), list(ours.parameters()))
    ref_grads = torch.autograd.grad(ref_ys.sum() + ref_h.sum() + ref_c.sum(), list(theirs.parameters()))
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r)


def test_projected_lstm_carries_state_across_chunks_and_takes_the_regularisers():
    layer = rnnkit.LSTM(3, 6, num_layers=2, proj_size=2, recurrent_dropout=0.3, zoneout=(0.1, 0.2)).double().eval()
    x = torch.randn(2, 9, 3, dtype=torch.float64)
    whole, (h, c) = layer(x)
    first, state = layer(x[:, :4])
    second, (h2, c2) = layer(x[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), whole)
    torch.testing.assert_close(h2, h)
    layer.train()
    ys, _ = layer(x)  # the recurrent mask has h's projected size
    assert ys.shape == (2, 9, 2) and layer.last_kernel.name == "loop"
    assert "proj_size=2" in repr(layer)


def test_bad_proj_size_is_refused():
    with pytest.raises(ValueError, match=r"proj_size must be an integer in \[0, hidden_size\)"):
        rnnkit.LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match="LayerNormLSTM has no proj_size"):
        rnnkit.LayerNormLSTM(3, 4, proj_size=2)
    with pytest.raises(ValueError, match=r"state.h must have shape \(1, 2, 2\)"):
        rnnkit.LSTM(3, 4, proj_size=2)(torch.randn(2, 5, 3), (torch.zeros(1, 2, 4), torch.zeros(1, 2, 4)))
