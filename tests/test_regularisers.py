"""Recurrent dropout, variational (locked) dropout, zoneout and weight-drop on rnnkit's recurrent layers:
zero is the plain layer, masks are per sequence and fixed over time, evaluation is the expectation,
weight-drop keeps the fused kernel and the stored weights, and the kernel report names the option."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import rnnkit
import rnnkit.ops.dropout as dropout_ops
from rnnkit.cells.layernorm import Norms, ln_gru_step, project_normalised
from rnnkit.layers import recurrent_layer

CLASSES = {"rnn": rnnkit.RNN, "lstm": rnnkit.LSTM, "gru": rnnkit.GRU, "lnlstm": rnnkit.LayerNormLSTM,
           "lngru": rnnkit.LayerNormGRU}


def pair(cls, **options):
    """A plain layer and one with `options`, with the same weights, in float64."""
    torch.manual_seed(0)
    plain = cls(3, 5, num_layers=2).double()
    regularised = cls(3, 5, num_layers=2, **options).double()
    regularised.load_state_dict(plain.state_dict())
    return plain, regularised


@pytest.fixture
def masks(monkeypatch):
    """Every per-sequence mask the layers draw, in order."""
    drawn = []
    original = dropout_ops.sequence_mask

    def spy(*args, **kwargs):
        drawn.append(original(*args, **kwargs))
        return drawn[-1]

    monkeypatch.setattr(dropout_ops, "sequence_mask", spy)
    monkeypatch.setattr(rnnkit.layers.recurrent, "sequence_mask", spy)
    return drawn


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_probability_zero_is_the_plain_layer_exactly(name):
    plain, zero = pair(CLASSES[name], variational_dropout=0.0, recurrent_dropout=0.0, zoneout=0.0, weight_drop=0.0)
    x, lengths = torch.randn(4, 6, 3, dtype=torch.float64), torch.tensor([6, 2, 0, 5])
    for mode in (True, False):
        plain.train(mode), zero.train(mode)
        ys, state = plain(x, lengths=lengths)
        ys0, state0 = zero(x, lengths=lengths)
        assert torch.equal(ys, ys0)
        assert plain.last_kernel == zero.last_kernel


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_evaluation_ignores_dropout_and_weight_drop_and_is_deterministic(name):
    plain, regularised = pair(CLASSES[name], variational_dropout=0.4, recurrent_dropout=0.4, weight_drop=0.4)
    plain.eval(), regularised.eval()
    x = torch.randn(3, 7, 3, dtype=torch.float64)
    torch.testing.assert_close(regularised(x)[0], plain(x)[0])
    assert torch.equal(regularised(x)[0], regularised(x)[0])
    regularised.train()
    assert not torch.allclose(regularised(x)[0], plain(x)[0])


def lstm_reference(layer, x, masks):
    """LSTM equations with h_{t-1} * mask where W_hh meets it, mask fixed per layer over time."""
    h_in = x
    for layer_index in range(layer.num_layers):
        w_ih, w_hh, b_ih, b_hh = (getattr(layer, f"{k}_l{layer_index}") for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
        h = c = x.new_zeros(x.shape[0], layer.hidden_size)
        outputs = []
        for t in range(x.shape[1]):
            i, f, g, o = (F.linear(h_in[:, t], w_ih, b_ih) + F.linear(h * masks[layer_index], w_hh, b_hh)).chunk(4, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outputs.append(h)
        h_in = torch.stack(outputs, 1)
    return h_in


def test_recurrent_dropout_uses_one_mask_per_sequence_at_every_step(masks):
    layer = rnnkit.LSTM(3, 6, num_layers=2, recurrent_dropout=0.5).double()
    x = torch.randn(8, 9, 3, dtype=torch.float64)
    ys, _ = layer(x)
    assert len(masks) == 2 and masks[0].shape == (8, 6)
    assert set(masks[0].unique().tolist()) == {0.0, 2.0}
    assert len({tuple(row.tolist()) for row in masks[0]}) > 1  # differs between sequences
    torch.testing.assert_close(ys, lstm_reference(layer, x, masks))
    assert layer.last_kernel.reason == "recurrent_dropout=0.5 needs the loop kernel"


def test_recurrent_dropout_of_a_gru_reaches_only_the_recurrent_product(masks):
    """GRU: the mask multiplies h_{t-1} inside W_hh h_{t-1}, not the h_{t-1} that z carries over."""
    layer = rnnkit.LayerNormGRU(3, 4, recurrent_dropout=0.5).double()
    x = torch.randn(5, 6, 3, dtype=torch.float64)
    ys, _ = layer(x)
    (mask,) = masks
    norms = Norms(layer.ln_ih_weight_l0, layer.ln_hh_weight_l0)
    xp = project_normalised(x, layer.weight_ih_l0, layer.bias_ih_l0, norms)
    h, expected = x.new_zeros(5, 4), []
    for t in range(6):
        hp = F.layer_norm(F.linear(h * mask, layer.weight_hh_l0), (12,), layer.ln_hh_weight_l0) + layer.bias_hh_l0
        (x_r, x_z, x_n), (h_r, h_z, h_n) = xp[:, t].chunk(3, 1), hp.chunk(3, 1)
        r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
        h = (1 - z) * torch.tanh(x_n + r * h_n) + z * h
        expected.append(h)
    torch.testing.assert_close(ys, torch.stack(expected, 1))
    # and the step function agrees with the same mask
    torch.testing.assert_close(ln_gru_step(xp[:, 0], x.new_zeros(5, 4), layer.weight_hh_l0, layer.bias_hh_l0, norms,
                                           recurrent_mask=mask)[0], expected[0])


def test_variational_dropout_locks_the_mask_between_layers_and_keeps_the_fused_kernel(masks):
    torch.manual_seed(1)
    layer = rnnkit.GRU(3, 5, num_layers=2, variational_dropout=0.5).double()
    x, lengths = torch.randn(6, 8, 3, dtype=torch.float64), torch.tensor([8, 3, 5, 1, 0, 8])
    ys, state = layer(x, lengths=lengths)
    assert layer.last_kernel.name == "fused" and "variational_dropout=0.5" in layer.last_kernel.reason
    (mask,) = masks
    assert mask.shape == (6, 5) and len({tuple(row.tolist()) for row in mask}) > 1
    first = rnnkit.GRU(3, 5).double()
    second = rnnkit.GRU(5, 5).double()
    first.load_state_dict({k.replace("l0", "l0"): v for k, v in layer.state_dict().items() if k.endswith("l0")})
    second.load_state_dict({k.replace("l1", "l0"): v for k, v in layer.state_dict().items() if k.endswith("l1")})
    hidden, h1 = first(x, lengths=lengths)
    expected, h2 = second(hidden * mask.unsqueeze(1), lengths=lengths)  # one mask for every step
    torch.testing.assert_close(ys, expected)
    torch.testing.assert_close(state, torch.cat([h1, h2]))
    loop = rnnkit.GRU(3, 5, num_layers=2, variational_dropout=0.5, kernel="loop").double()
    loop.load_state_dict(layer.state_dict())
    masks.clear()
    ys_loop, _ = loop(x, lengths=lengths)
    (loop_mask,) = masks
    torch.testing.assert_close(ys_loop, second(first(x, lengths=lengths)[0] * loop_mask.unsqueeze(1), lengths=lengths)[0])


def test_locked_dropout_module_masks_whole_sequences():
    drop = rnnkit.LockedDropout(0.5)
    y = drop(torch.ones(16, 10, 8))
    assert torch.equal(y, y[:, :1].expand_as(y))
    assert len({tuple(row.tolist()) for row in y[:, 0]}) > 1
    drop.eval()
    x = torch.randn(2, 3, 4)
    assert drop(x) is x
    with pytest.raises(ValueError, match="probability"):
        rnnkit.LockedDropout(1.0)
    with pytest.raises(ValueError, match="batch, time, features"):
        rnnkit.LockedDropout(0.1)(torch.ones(3, 4))


def test_zoneout_keeps_each_unit_or_updates_it_and_evaluation_is_the_expectation():
    torch.manual_seed(0)
    layer = rnnkit.GRU(3, 64, zoneout=0.3).double()
    x = torch.randn(16, 12, 3, dtype=torch.float64)
    ys, _ = layer(x)
    assert layer.last_kernel.reason == "zoneout=0.3 needs the loop kernel"
    previous = torch.cat([x.new_zeros(16, 1, 64), ys[:, :-1]], dim=1)
    updated = torch.stack([rnnkit.cells.gru_step(F.linear(x[:, t], layer.weight_ih_l0, layer.bias_ih_l0), previous[:, t],
                                                 layer.weight_hh_l0, layer.bias_hh_l0)[0] for t in range(12)], 1)
    kept = ys == previous
    assert torch.all(kept | (ys == updated))
    assert abs(kept.double().mean().item() - 0.3) < 0.03  # 12,288 draws
    layer.eval()
    ys_eval, _ = layer(x)
    h, expected = x.new_zeros(16, 64), []
    for t in range(12):
        new = rnnkit.cells.gru_step(F.linear(x[:, t], layer.weight_ih_l0, layer.bias_ih_l0), h, layer.weight_hh_l0, layer.bias_hh_l0)[0]
        h = 0.3 * h + 0.7 * new
        expected.append(h)
    torch.testing.assert_close(ys_eval, torch.stack(expected, 1))
    assert torch.equal(ys_eval, layer(x)[0])


def test_lstm_zoneout_takes_separate_probabilities_for_h_and_c():
    layer = rnnkit.LSTM(3, 4, zoneout=(0.0, 0.5)).double().eval()
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    ys, (h, c) = layer(x)
    ref_h, ref_c, outputs = x.new_zeros(2, 4), x.new_zeros(2, 4), []
    for t in range(5):
        new_h, (_, new_c) = rnnkit.cells.lstm_step(F.linear(x[:, t], layer.weight_ih_l0, layer.bias_ih_l0),
                                                   (ref_h, ref_c), layer.weight_hh_l0, layer.bias_hh_l0)
        ref_h, ref_c = new_h, 0.5 * ref_c + 0.5 * new_c
        outputs.append(ref_h)
    torch.testing.assert_close(ys, torch.stack(outputs, 1))
    torch.testing.assert_close(c[0], ref_c)
    with pytest.raises(ValueError, match=r"pair \(p_h, p_c\)"):
        rnnkit.LSTM(3, 4, zoneout=(0.1, 0.2, 0.3))
    with pytest.raises(ValueError, match="one probability for GRU"):
        rnnkit.GRU(3, 4, zoneout=(0.1, 0.2))


def test_weight_drop_keeps_the_fused_kernel_and_the_stored_weights(monkeypatch):
    torch.manual_seed(0)
    layer = rnnkit.LSTM(3, 8, num_layers=2, weight_drop=0.5)
    before = {k: v.clone() for k, v in layer.state_dict().items()}
    dropped = []
    original = rnnkit.layers.recurrent.drop_weight
    monkeypatch.setattr(rnnkit.layers.recurrent, "drop_weight", lambda *a: dropped.append(original(*a)) or dropped[-1])
    x = torch.randn(4, 6, 3)
    ys1, _ = layer(x)
    assert layer.last_kernel.name == "fused" and "weight_drop=0.5" in layer.last_kernel.reason
    assert len(dropped) == 2  # one W_hh per layer
    w = dropped[0]
    assert torch.all((w == 0) | torch.isclose(w, 2 * layer.weight_hh_l0))
    assert 0.3 < (w == 0).float().mean().item() < 0.7
    # the call equals torch.nn.LSTM run with the dropped copies
    reference = torch.nn.LSTM(3, 8, num_layers=2, batch_first=True)
    reference.load_state_dict({**layer.state_dict(), "weight_hh_l0": dropped[0].detach(), "weight_hh_l1": dropped[1].detach()})
    torch.testing.assert_close(ys1, reference(x)[0])
    ys2, _ = layer(x)  # a fresh mask per call
    assert not torch.allclose(ys1, ys2)
    assert not torch.equal(dropped[0], dropped[2])
    assert set(layer.state_dict()) == set(before) and all(torch.equal(before[k], v) for k, v in layer.state_dict().items())
    ys2.sum().backward()
    assert layer.weight_hh_l0.grad is not None and layer.weight_hh_l0.grad.abs().sum() > 0
    # gradients reach only the entries the mask kept
    assert torch.all(layer.weight_hh_l0.grad[dropped[2] == 0] == 0)


def test_loop_only_options_refuse_the_fused_kernel_and_say_why():
    with pytest.raises(ValueError, match="recurrent_dropout=0.2 and zoneout=0.1 need the loop kernel"):
        rnnkit.GRU(3, 4, recurrent_dropout=0.2, zoneout=0.1, kernel="fused")(torch.randn(1, 2, 3))
    layer = rnnkit.GRU(3, 4, recurrent_dropout=0.2).eval()
    assert layer.select_kernel(torch.randn(1, 2, 3)).name == "fused"  # no recurrent dropout in evaluation
    assert rnnkit.LayerNormLSTM(3, 4, zoneout=0.1).select_kernel(torch.randn(1, 2, 3)).reason == (
        "layer norm and zoneout=0.1 need the loop kernel")


def test_bad_regularisers_are_refused_clearly():
    with pytest.raises(ValueError, match=r"recurrent_dropout must be a probability in \[0, 1\); got 1.0"):
        rnnkit.LSTM(3, 4, recurrent_dropout=1.0)
    with pytest.raises(ValueError, match="weight_drop must be a probability"):
        rnnkit.GRU(3, 4, weight_drop=-0.1)
    with pytest.raises(ValueError, match="not both"):
        rnnkit.GRU(3, 4, num_layers=2, dropout=0.2, variational_dropout=0.2)
    with pytest.raises(ValueError, match="unknown regulariser"):
        recurrent_layer("lstm", 3, 4, {"zonout": 0.1})
    # the models' helper: a variational dropout takes the place of the per-step one
    layer = recurrent_layer("gru", 3, 4, {"variational_dropout": 0.3}, num_layers=2, dropout=0.2)
    assert layer.dropout == 0.0 and layer.variational_dropout == 0.3
    assert "variational_dropout=0.3" in repr(layer)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_zoneout_in_evaluation_keeps_the_layer_properties(name):
    """Padding, chunking with carried state, row independence and zero lengths with zoneout's
    expectation in the recurrence (bidirectional, two layers)."""
    zone = (0.2, 0.3) if name in ("lstm", "lnlstm") else 0.2
    layer = CLASSES[name](3, 4, num_layers=2, bidirectional=True, zoneout=zone).double().eval()
    x = torch.randn(3, 6, 3, dtype=torch.float64)
    lengths = torch.tensor([6, 0, 4])
    ys, state = layer(x, lengths=lengths)
    padded, padded_state = layer(torch.cat([x, 100 * torch.randn(3, 2, 3, dtype=torch.float64)], 1), lengths=lengths)
    torch.testing.assert_close(padded[:, :6], ys)
    assert torch.all(padded[:, 6:] == 0) and torch.all(ys[1] == 0)
    for a, b in zip(padded_state if isinstance(state, tuple) else (padded_state,), state if isinstance(state, tuple) else (state,)):
        torch.testing.assert_close(a, b)
    alone, _ = layer(x[2:], lengths=lengths[2:])
    torch.testing.assert_close(alone, ys[2:])
    forward = CLASSES[name](3, 4, num_layers=2, zoneout=zone).double().eval()
    whole, whole_state = forward(x)
    first, carried = forward(x[:, :2])
    second, chunked_state = forward(x[:, 2:], carried)
    torch.testing.assert_close(torch.cat([first, second], 1), whole)
    for a, b in zip(chunked_state if isinstance(whole_state, tuple) else (chunked_state,),
                    whole_state if isinstance(whole_state, tuple) else (whole_state,)):
        torch.testing.assert_close(a, b)
