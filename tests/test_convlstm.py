"""ConvLSTM (Shi et al. 2015): the cell and layer against a float64 reference of the paper's equations,
against torch.nn.LSTMCell at kernel size 1, gradcheck, lengths, chunking and errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import rnnkit
from rnnkit.cells.lstm import LSTMState


def reference_step(cell, x, h, c):
    """The paper's equations one gate at a time, in float64, from the cell's parameters."""
    k = cell.hidden_channels
    pad = cell.padding
    w_x, w_h = cell.weight_ih.double(), cell.weight_hh.double()
    b = torch.zeros(4 * k, dtype=torch.float64) if cell.bias is None else cell.bias.double()

    def conv(gate, inp, hid):
        rows = slice(gate * k, (gate + 1) * k)
        return (F.conv2d(inp, w_x[rows], b[rows], padding=pad) + F.conv2d(hid, w_h[rows], padding=pad))

    peep = (lambda name, s: getattr(cell, name).double() * s) if cell.peephole else (lambda name, s: 0.0)
    i = torch.sigmoid(conv(0, x, h) + peep("weight_ci", c))
    f = torch.sigmoid(conv(1, x, h) + peep("weight_cf", c))
    c = f * c + i * torch.tanh(conv(2, x, h))
    o = torch.sigmoid(conv(3, x, h) + peep("weight_co", c))
    return o * torch.tanh(c), c


def reference_layer(layer, x, lengths):
    """Each clip on its own for exactly its length, layer after layer, in float64."""
    outs, hs, cs = torch.zeros(*x.shape[:2], layer.hidden_channels, *x.shape[3:], dtype=torch.float64), [], []
    for b in range(x.shape[0]):
        seq = x[b: b + 1, : int(lengths[b])].double()
        h_b, c_b = [], []
        for cell in layer.cells:
            h = torch.zeros(1, layer.hidden_channels, *x.shape[3:], dtype=torch.float64)
            c = torch.zeros_like(h)
            steps = []
            for t in range(seq.shape[1]):
                h, c = reference_step(cell, seq[:, t], h, c)
                steps.append(h)
            seq = torch.stack(steps, 1) if steps else seq.new_zeros(1, 0, *h.shape[1:])
            h_b.append(h)
            c_b.append(c)
        outs[b, : seq.shape[1]] = seq[0]
        hs.append(torch.cat(h_b))
        cs.append(torch.cat(c_b))
    return outs, torch.stack(hs, 1), torch.stack(cs, 1)


def randomised(layer):
    """Non-zero peepholes and biases, so every term of the equations is exercised."""
    with torch.no_grad():
        for p in layer.parameters():
            p.uniform_(-0.5, 0.5)
    return layer


@pytest.mark.parametrize("peephole,frame_size", [(False, None), (True, None), (True, (5, 4))])
def test_layer_equals_the_float64_reference_of_the_papers_equations(peephole, frame_size):
    torch.manual_seed(0)
    layer = randomised(rnnkit.ConvLSTM(2, 3, kernel_size=(3, 5), num_layers=2, peephole=peephole,
                                       frame_size=frame_size)).double()
    x = torch.randn(3, 4, 2, 5, 4, dtype=torch.float64)
    lengths = torch.tensor([4, 1, 3])
    out, (h, c) = layer(x, lengths=lengths)
    ref_out, ref_h, ref_c = reference_layer(layer, x, lengths)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(h, ref_h)
    torch.testing.assert_close(c, ref_c)
    # gradients of every parameter agree too
    weights = torch.randn_like(out)
    grads = torch.autograd.grad((out * weights).sum() + h.sum() + c.sum(), list(layer.parameters()))
    ref_grads = torch.autograd.grad((ref_out * weights).sum() + ref_h.sum() + ref_c.sum(), list(layer.parameters()))
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r)


def test_kernel_size_one_is_torch_lstm_cell_at_every_pixel():
    torch.manual_seed(1)
    cell = randomised(rnnkit.ConvLSTMCell(3, 4, kernel_size=1))
    lstm = torch.nn.LSTMCell(3, 4)
    with torch.no_grad():
        lstm.weight_ih.copy_(cell.weight_ih[:, :, 0, 0])
        lstm.weight_hh.copy_(cell.weight_hh[:, :, 0, 0])
        lstm.bias_ih.copy_(cell.bias)
        lstm.bias_hh.zero_()
    x, h, c = torch.randn(2, 3, 5, 6), torch.randn(2, 4, 5, 6), torch.randn(2, 4, 5, 6)
    out, (h1, c1) = cell(x, (h, c))

    def pixels(t):
        return t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])

    h_ref, c_ref = lstm(pixels(x), (pixels(h), pixels(c)))
    torch.testing.assert_close(pixels(h1), h_ref)
    torch.testing.assert_close(pixels(c1), c_ref)


def test_gradcheck_in_float64_with_peepholes_and_lengths():
    torch.manual_seed(2)
    layer = randomised(rnnkit.ConvLSTM(1, 2, kernel_size=3, peephole=True)).double()
    x = torch.randn(2, 3, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([3, 2])

    def run(x, *params):
        out, (h, c) = torch.func.functional_call(layer, dict(zip(dict(layer.named_parameters()), params)), (x,),
                                                 {"lengths": lengths})
        return out, h, c

    assert torch.autograd.gradcheck(run, (x, *[p.detach().requires_grad_() for p in layer.parameters()]))


def test_padding_never_changes_a_valid_step_and_outputs_past_the_length_are_zero():
    torch.manual_seed(3)
    layer = rnnkit.ConvLSTM(2, 3, num_layers=2)
    x = torch.randn(2, 6, 2, 4, 4)
    lengths = torch.tensor([6, 3])
    out, state = layer(x, lengths=lengths)
    noisy = x.clone()
    noisy[1, 3:] = 1e3
    out2, state2 = layer(noisy, lengths=lengths)
    torch.testing.assert_close(out, out2)
    torch.testing.assert_close(state.h, state2.h)
    assert bool((out[1, 3:] == 0).all())
    # the short row's state is the one after its own last step
    _, alone = layer(x[1:, :3])
    torch.testing.assert_close(state.c[:, 1], alone.c[:, 0])


def test_two_chunks_with_the_state_carried_equal_one_pass():
    torch.manual_seed(4)
    layer = rnnkit.ConvLSTM(1, 3, num_layers=2, peephole=True)
    randomised(layer)
    x = torch.randn(2, 7, 1, 5, 5)
    whole, final = layer(x)
    first, state = layer(x[:, :4])
    second, final2 = layer(x[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), whole)
    torch.testing.assert_close(final2.h, final.h)
    torch.testing.assert_close(final2.c, final.c)


def test_the_forget_bias_starts_at_one_and_dropout_acts_only_while_training():
    layer = rnnkit.ConvLSTM(1, 2, num_layers=2, dropout=0.5)
    bias = layer.cells[0].bias.detach()
    assert bias[2:4].tolist() == [1.0, 1.0] and bias[:2].abs().sum() == 0
    x = torch.randn(1, 3, 1, 4, 4)
    layer.eval()
    torch.testing.assert_close(layer(x)[0], layer(x)[0])
    layer.train()
    torch.manual_seed(0)
    a = layer(x)[0]
    torch.manual_seed(1)
    assert not torch.allclose(a, layer(x)[0])


def test_bad_inputs_name_what_was_expected():
    layer = rnnkit.ConvLSTM(3, 4)
    with pytest.raises(ValueError, match="5-D clip batch"):
        layer(torch.randn(2, 3, 8, 8))
    with pytest.raises(ValueError, match="3 channels"):
        layer(torch.randn(2, 5, 1, 8, 8))
    with pytest.raises(ValueError, match=r"state h must have shape \(1, 2, 4, 8, 8\)"):
        layer(torch.randn(2, 5, 3, 8, 8), LSTMState(torch.zeros(1, 2, 4, 4, 4), torch.zeros(1, 2, 4, 4, 4)))
    with pytest.raises(ValueError, match="lengths must lie in 0..5"):
        layer(torch.randn(2, 5, 3, 8, 8), lengths=torch.tensor([6, 2]))
    with pytest.raises(ValueError, match="kernel_size must be an odd"):
        rnnkit.ConvLSTM(3, 4, kernel_size=2)
    with pytest.raises(ValueError, match="frame_size only shapes the peephole"):
        rnnkit.ConvLSTM(3, 4, frame_size=(8, 8))
    fixed = rnnkit.ConvLSTM(3, 4, peephole=True, frame_size=(8, 8))
    with pytest.raises(ValueError, match=r"frames must be \(8, 8\)"):
        fixed(torch.randn(1, 2, 3, 6, 8))
