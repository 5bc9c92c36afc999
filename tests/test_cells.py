"""Cells against torch.nn's cells: one step, outputs, states and parameter gradients."""

import pytest
import torch

import rnnkit

CELLS = {
    "rnn_tanh": (rnnkit.RNNCell, torch.nn.RNNCell, {"nonlinearity": "tanh"}),
    "rnn_relu": (rnnkit.RNNCell, torch.nn.RNNCell, {"nonlinearity": "relu"}),
    "lstm": (rnnkit.LSTMCell, torch.nn.LSTMCell, {}),
    "gru": (rnnkit.GRUCell, torch.nn.GRUCell, {}),
}


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("name", sorted(CELLS))
def test_cell_matches_torch(name, bias):
    ours_cls, theirs_cls, extra = CELLS[name]
    ours, theirs = ours_cls(5, 7, bias=bias, **extra), theirs_cls(5, 7, bias=bias, **extra)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(3, 5)
    state = ours.init_state(3)
    is_lstm = name == "lstm"
    state = tuple(s + torch.randn_like(s) for s in state) if is_lstm else state + torch.randn_like(state)
    h, new = ours(x, state)
    ref = theirs(x, state)
    ref_h, ref_c = ref if is_lstm else (ref, None)
    torch.testing.assert_close(h, ref_h)
    loss, ref_loss = h.sum(), ref_h.sum()
    if is_lstm:
        torch.testing.assert_close(new.c, ref_c)
        loss, ref_loss = loss + new.c.sum(), ref_loss + ref_c.sum()
    loss.backward()
    ref_loss.backward()
    for (pname, p), q in zip(ours.named_parameters(), theirs.parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=pname)


def test_cell_state_dict_keys_match_torch():
    assert rnnkit.LSTMCell(3, 4).state_dict().keys() == torch.nn.LSTMCell(3, 4).state_dict().keys()


def test_init_state_shapes():
    assert rnnkit.GRUCell(3, 4).init_state(2).shape == (2, 4)
    h, c = rnnkit.LSTMCell(3, 4).init_state(2)
    assert h.shape == c.shape == (2, 4)


def test_cell_none_state_is_zeros():
    cell = rnnkit.LSTMCell(3, 4)
    x = torch.randn(2, 3)
    torch.testing.assert_close(cell(x)[0], cell(x, cell.init_state(2))[0])


def test_cell_bad_input_shape():
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 3\).*got \(2, 4\)"):
        rnnkit.GRUCell(3, 4)(torch.randn(2, 4))


def test_cell_bad_state_shape():
    with pytest.raises(ValueError, match=r"state must have shape \(2, 4\).*got \(2, 5\)"):
        rnnkit.RNNCell(3, 4)(torch.randn(2, 3), torch.zeros(2, 5))


def test_cell_bad_nonlinearity():
    with pytest.raises(ValueError, match="nonlinearity must be one of"):
        rnnkit.RNNCell(3, 4, nonlinearity="sigmoid")
