"""GRU-D (Che et al. 2018): delta on the paper's Figure 2 fixture, the imputation and both decays
against a float64 reference written here, and one test for each bug known in public
implementations (each also shows the buggy formula giving a different answer); the layer equals its
cell stepped by hand, with lengths, padding, carried state and gradcheck."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.cells.grud import GRUDCell, GRUDState
from rnnkit.layers.grud import GRUD
from rnnkit.ops.fill import forward_fill, time_since_observed

# Figure 2 of the paper: time stamps, the mask of variable 1 and its delta
FIG2_TIMES = [0.0, 0.1, 0.6, 1.6, 2.2, 2.5, 3.1]
FIG2_MASK = [1, 1, 0, 1, 0, 1, 1]
FIG2_DELTA = [0.0, 0.1, 0.5, 1.5, 0.6, 0.9, 0.6]


def delta_from_current_mask(times, mask):
    """The bug of zhiyongc/GRU-D #4 and PyPOTS #294: reset on m_t instead of m_{t-1}."""
    delta = [0.0]
    for t in range(1, len(times)):
        gap = times[t] - times[t - 1]
        delta.append(gap if mask[t] else gap + delta[-1])
    return delta


def test_delta_matches_the_papers_figure_2():
    times = torch.tensor([FIG2_TIMES], dtype=torch.float64)
    mask = torch.tensor(FIG2_MASK, dtype=torch.float64).view(1, -1, 1)
    delta = time_since_observed(times, mask)[0, :, 0]
    assert torch.allclose(delta, torch.tensor(FIG2_DELTA, dtype=torch.float64))
    buggy = torch.tensor(delta_from_current_mask(FIG2_TIMES, FIG2_MASK), dtype=torch.float64)
    assert not torch.allclose(buggy, delta)


def test_delta_before_the_first_observation_is_the_time_since_the_start():
    times = torch.tensor([[0.0, 2.0, 5.0, 6.0]])
    mask = torch.tensor([[[0.0], [0.0], [1.0], [0.0]]])
    assert time_since_observed(times, mask)[0, :, 0].tolist() == [0.0, 2.0, 5.0, 1.0]


def test_forward_fill_never_fills_backwards():
    values = torch.tensor([[[0.0], [0.0], [7.0], [0.0]]])
    mask = torch.tensor([[[0.0], [0.0], [1.0], [0.0]]])
    filled = forward_fill(values, mask, torch.tensor([[-3.0]]))
    assert filled[0, :, 0].tolist() == [-3.0, -3.0, 7.0, 7.0]  # PyPOTS's backward fill would give 7 at steps 0-1


def reference_step(cell: GRUDCell, x, m, delta, h, x_last):
    """The paper's equations in float64, written independently of the cell's code."""
    p = {k: v.detach().double() for k, v in cell.named_parameters()}
    mean = cell.x_mean.double()
    H = cell.hidden_size
    gx = torch.exp(-torch.clamp(p["decay_input_weight"] * delta + p["decay_input_bias"], min=0))
    gh = torch.exp(-torch.clamp(delta @ p["decay_hidden_weight"].T + p["decay_hidden_bias"], min=0))
    x_hat = m * x + (1 - m) * (gx * x_last + (1 - gx) * mean)
    h_hat = gh * h
    W, U, V, b = p["weight_ih"], p["weight_hh"], p["weight_mh"], p["bias"]
    gate = lambda k, hh: x_hat @ W[k * H:(k + 1) * H].T + hh @ U[k * H:(k + 1) * H].T + m @ V[k * H:(k + 1) * H].T + b[k * H:(k + 1) * H]  # noqa: E731
    r = torch.sigmoid(gate(0, h_hat))
    z = torch.sigmoid(gate(1, h_hat))
    n = torch.tanh(gate(2, r * h_hat))
    return (1 - z) * h_hat + z * n, m * x + (1 - m) * x_last


@given(st.integers(0, 1000), st.integers(1, 4), st.integers(1, 5), st.integers(1, 6))
@settings(max_examples=25, deadline=None)
def test_cell_equals_the_float64_reference(seed, batch, d, h):
    torch.manual_seed(seed)
    cell = GRUDCell(d, h, x_mean=torch.randn(d)).double()
    x, delta = torch.randn(batch, d, dtype=torch.float64), 5 * torch.rand(batch, d, dtype=torch.float64)
    m = (torch.rand(batch, d) < 0.5).double()
    h0, x_last = torch.randn(batch, h, dtype=torch.float64), torch.randn(batch, d, dtype=torch.float64)
    out, state = cell(x, m, delta, GRUDState(h0, x_last))
    want_h, want_last = reference_step(cell, x, m, delta, h0, x_last)
    assert torch.allclose(out, want_h, atol=1e-12) and torch.allclose(state.x_last, want_last)


def one_variable_cell(w: float, b: float, mean: float) -> GRUDCell:
    cell = GRUDCell(1, 2, x_mean=torch.tensor([mean]))
    with torch.no_grad():
        cell.decay_input_weight.fill_(w)
        cell.decay_input_bias.fill_(b)
    return cell


def test_a_missing_value_decays_from_the_last_observation_toward_the_mean():
    # zhiyongc/GRU-D #3 decayed the current, zero-filled x: that gives gamma * 0 + (1 - gamma) * mean
    cell = one_variable_cell(0.5, 0.0, mean=2.0)
    x_hat = cell.impute(torch.tensor([[0.0]]), torch.tensor([[0.0]]), torch.tensor([[1.0]]), torch.tensor([[10.0]])).detach()
    gamma = math.exp(-0.5)
    assert x_hat.item() == pytest.approx(gamma * 10.0 + (1 - gamma) * 2.0)
    assert x_hat.item() != pytest.approx((1 - gamma) * 2.0)


def test_longer_gaps_trust_the_last_value_less():
    # BRITS's gru_d.py used (1 - gamma) * x_last: the longer the gap, the more it kept the last value
    cell = one_variable_cell(0.3, 0.0, mean=0.0)
    gaps = torch.tensor([[0.0], [1.0], [4.0], [24.0]])
    x_hat = cell.impute(torch.zeros(4, 1), torch.zeros(4, 1), gaps, torch.full((4, 1), 5.0))[:, 0].detach()
    assert x_hat[0] == pytest.approx(5.0) and (x_hat.diff() < 0).all() and x_hat[-1] < 0.01
    inverted = (1 - torch.exp(-0.3 * gaps[:, 0])) * 5.0
    assert (inverted.diff() > 0).all()


def test_before_the_first_observation_the_input_is_the_training_mean():
    grud = GRUD(1, 3, x_mean=torch.tensor([4.0]))
    values = torch.tensor([[[0.0], [0.0], [9.0]]])
    mask = torch.tensor([[[0.0], [0.0], [1.0]]])
    delta = time_since_observed(torch.tensor([[0.0, 1.0, 2.0]]), mask)
    first, _ = grud.cell(values[:, 0], mask[:, 0], delta[:, 0])
    out, _ = grud(values, mask, delta)
    assert torch.allclose(out[:, 0], first)
    x_hat = grud.cell.impute(values[:, 1], mask[:, 1], delta[:, 1], grud.cell.init_state(1).x_last).detach()
    assert x_hat.item() == pytest.approx(4.0)


def test_hidden_decay_maps_variables_to_hidden_units():
    # zhiyongc/GRU-D #6 sized gamma_h by the input, which only runs when H == D
    grud = GRUD(3, 7)
    assert grud.cell.hidden_decay(torch.ones(2, 5, 3)).shape == (2, 5, 7)
    out, state = grud(torch.randn(2, 5, 3), torch.ones(2, 5, 3), torch.ones(2, 5, 3))
    assert out.shape == (2, 5, 7) and state.h.shape == (1, 2, 7) and state.x_last.shape == (1, 2, 3)


def random_inputs(seed: int, batch: int, steps: int, d: int, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    values = torch.randn(batch, steps, d, generator=g, dtype=dtype)
    mask = (torch.rand(batch, steps, d, generator=g) < 0.4).to(dtype)
    times = torch.cumsum(torch.rand(batch, steps, generator=g, dtype=dtype) * 2, dim=1)
    return values, mask, time_since_observed(times, mask)


@given(st.integers(0, 1000), st.integers(1, 3), st.integers(1, 7), st.integers(1, 4))
@settings(max_examples=20, deadline=None)
def test_layer_equals_its_cell_stepped_by_hand_in_time_order(seed, batch, steps, d):
    # zhiyongc/GRU-D #5 returned the outputs reversed: output t must be the state after step t
    torch.manual_seed(seed)
    grud = GRUD(d, 5, x_mean=torch.randn(d)).double()
    values, mask, delta = random_inputs(seed, batch, steps, d, torch.float64)
    lengths = torch.randint(1, steps + 1, (batch,))
    out, state = grud(values, mask, delta, lengths)
    for b in range(batch):
        s = None
        for t in range(int(lengths[b])):
            h, s = grud.cell(values[b:b + 1, t], mask[b:b + 1, t], delta[b:b + 1, t], s)
            assert torch.allclose(out[b, t], h[0], atol=1e-12)
        assert torch.allclose(state.h[0, b], s.h[0]) and torch.allclose(state.x_last[0, b], s.x_last[0])
        assert (out[b, int(lengths[b]):] == 0).all()


def test_padding_and_what_stands_at_unobserved_entries_change_nothing():
    torch.manual_seed(0)
    grud = GRUD(3, 4).eval()
    values, mask, delta = random_inputs(1, 1, 6, 3)
    out, state = grud(values, mask, delta)
    noisy = torch.where(mask.bool(), values, torch.full_like(values, float("nan")))
    padded = [torch.cat([t, torch.randn(1, 3, 3)], dim=1) for t in (noisy, mask, delta)]
    out2, state2 = grud(*padded, lengths=torch.tensor([6]))
    assert torch.allclose(out, out2[:, :6]) and torch.allclose(state.h, state2.h) and torch.allclose(state.x_last, state2.x_last)


def test_two_chunks_with_the_state_carried_equal_one_pass():
    torch.manual_seed(0)
    grud = GRUD(3, 4, x_mean=torch.randn(3)).eval()
    values, mask, delta = random_inputs(2, 2, 9, 3)
    whole, final = grud(values, mask, delta)
    first, state = grud(values[:, :4], mask[:, :4], delta[:, :4])
    second, state = grud(values[:, 4:], mask[:, 4:], delta[:, 4:], state=state)
    assert torch.allclose(torch.cat([first, second], 1), whole, atol=1e-6)
    assert torch.allclose(state.h, final.h, atol=1e-6) and torch.allclose(state.x_last, final.x_last)


def test_gradcheck_in_float64():
    torch.manual_seed(0)
    grud = GRUD(2, 3, x_mean=torch.randn(2)).double()
    values, mask, delta = random_inputs(3, 2, 4, 2, torch.float64)
    values.requires_grad_(True)
    delta = (delta + 0.1).requires_grad_(True)  # away from max(0, .)'s kink at 0
    assert torch.autograd.gradcheck(lambda v, dl: grud(v, mask, dl, torch.tensor([4, 2]))[0], (values, delta))


def test_dropout_uses_one_mask_per_sequence_and_only_while_training():
    torch.manual_seed(0)
    grud = GRUD(3, 4, dropout=0.5, recurrent_dropout=0.5)
    values, mask, delta = random_inputs(4, 2, 5, 3)
    grud.eval()
    a, _ = grud(values, mask, delta)
    b, _ = grud(values, mask, delta)
    assert torch.equal(a, b)
    grud.train()
    keep = GRUD._dropout_mask(torch.ones(2, 5, 3), 0.5)
    assert keep.shape == (2, 1, 3) and set(keep.unique().tolist()) <= {0.0, 2.0}
    c, _ = grud(values, mask, delta)
    assert not torch.allclose(a, c)


def test_bad_inputs_name_what_was_expected():
    grud = GRUD(3, 4)
    with pytest.raises(ValueError, match=r"values must have shape \(batch, time, 3\)"):
        grud(torch.zeros(2, 5, 4), torch.zeros(2, 5, 4), torch.zeros(2, 5, 4))
    with pytest.raises(ValueError, match="mask must have the shape of values"):
        grud(torch.zeros(2, 5, 3), torch.zeros(2, 4, 3), torch.zeros(2, 5, 3))
    with pytest.raises(ValueError, match="x_mean must have shape"):
        GRUDCell(3, 4, x_mean=torch.zeros(2))
