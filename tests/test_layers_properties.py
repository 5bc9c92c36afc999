"""Properties of the recurrent layers that streaming, truncated BPTT and padding rely on, checked on
small random shapes with hypothesis, plus gradcheck of the loop kernel in float64. They run over
torch.nn's variants and over the layers torch.nn lacks (layer-norm, min cells)."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import rnnkit
from reference import VARIANTS, leaves, make_pair

# layers without a torch.nn counterpart: their "fused" below means kernel="auto" (the scan for the
# min cells; the loop for layer norm)
NEW_LAYERS = {"lnlstm": rnnkit.LayerNormLSTM, "lngru": rnnkit.LayerNormGRU, "mingru": rnnkit.MinGRU,
              "minlstm": rnnkit.MinLSTM}
ALL = sorted(VARIANTS) + sorted(NEW_LAYERS)
variants = st.sampled_from(ALL)
kernels = st.sampled_from(["fused", "loop"])


def _layer(variant, kernel, num_layers=1, bidirectional=False, dtype=torch.float64):
    if variant in NEW_LAYERS:
        kernel = "auto" if kernel == "fused" else kernel
        return NEW_LAYERS[variant](3, 4, kernel=kernel, num_layers=num_layers, bidirectional=bidirectional).to(dtype)
    ours, _ = make_pair(variant, 3, 4, kernel=kernel, num_layers=num_layers, bidirectional=bidirectional, dtype=dtype)
    return ours


@given(variant=variants, kernel=kernels, layers=st.integers(1, 2), steps=st.integers(2, 9), data=st.data())
def test_two_chunks_with_carried_state_equal_one_pass(variant, kernel, layers, steps, data):
    layer = _layer(variant, kernel, layers)
    split = data.draw(st.integers(1, steps - 1))
    x = torch.randn(3, steps, 3, dtype=torch.float64)
    whole, whole_state = layer(x)
    first, state = layer(x[:, :split])
    second, chunked_state = layer(x[:, split:], state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole)
    for a, b in zip(leaves(chunked_state), leaves(whole_state)):
        torch.testing.assert_close(a, b)


@given(variant=variants, kernel=kernels, steps=st.integers(2, 8), data=st.data())
def test_causal(variant, kernel, steps, data):
    """Changing x[:, t] leaves outputs before t unchanged (unidirectional)."""
    layer = _layer(variant, kernel, 2)
    t = data.draw(st.integers(0, steps - 1))
    x = torch.randn(2, steps, 3, dtype=torch.float64)
    changed = x.clone()
    changed[:, t] += 1.0
    before, after = layer(x)[0], layer(changed)[0]
    torch.testing.assert_close(before[:, :t], after[:, :t], rtol=0, atol=0)
    if variant != "rnn_relu":  # relu units may all be off, hiding the change
        assert not torch.allclose(before[:, t], after[:, t])


@given(variant=variants, kernel=kernels, bidirectional=st.booleans(), batch=st.integers(2, 5), data=st.data())
def test_batch_rows_are_independent(variant, kernel, bidirectional, batch, data):
    layer = _layer(variant, kernel, bidirectional=bidirectional)
    row = data.draw(st.integers(0, batch - 1))
    lengths = torch.tensor(data.draw(st.lists(st.integers(0, 6), min_size=batch, max_size=batch)))
    x = torch.randn(batch, 6, 3, dtype=torch.float64)
    ys, state = layer(x, lengths=lengths)
    alone, alone_state = layer(x[row : row + 1], lengths=lengths[row : row + 1])
    torch.testing.assert_close(ys[row : row + 1], alone)
    for a, b in zip(leaves(state), leaves(alone_state)):
        torch.testing.assert_close(a[:, row : row + 1], b)


@given(variant=variants, kernel=kernels, bidirectional=st.booleans(), extra=st.integers(1, 4), data=st.data())
def test_extra_padding_changes_nothing(variant, kernel, bidirectional, extra, data):
    layer = _layer(variant, kernel, num_layers=2, bidirectional=bidirectional)
    lengths = torch.tensor(data.draw(st.lists(st.integers(0, 5), min_size=3, max_size=3)))
    x = torch.randn(3, 5, 3, dtype=torch.float64)
    padded = torch.cat([x, torch.randn(3, extra, 3, dtype=torch.float64) * 100], dim=1)
    ys, state = layer(x, lengths=lengths)
    ys_padded, state_padded = layer(padded, lengths=lengths)
    torch.testing.assert_close(ys_padded[:, :5], ys)
    assert torch.all(ys_padded[:, 5:] == 0)
    for a, b in zip(leaves(state), leaves(state_padded)):
        torch.testing.assert_close(a, b)


@given(variant=variants, bidirectional=st.booleans(), data=st.data())
def test_kernels_agree_on_outputs_and_gradients(variant, bidirectional, data):
    fused = _layer(variant, "fused", num_layers=2, bidirectional=bidirectional)
    loop = _layer(variant, "loop", num_layers=2, bidirectional=bidirectional)
    loop.load_state_dict(fused.state_dict())
    lengths = torch.tensor(data.draw(st.lists(st.integers(0, 6), min_size=3, max_size=3)))
    x = torch.randn(3, 6, 3, dtype=torch.float64)
    grads = []
    for layer in (fused, loop):
        ys, state = layer(x, lengths=lengths)
        loss = ys.sum() + sum(s.sum() for s in leaves(state))
        if loss.requires_grad:  # all rows of length 0 leave nothing to differentiate in the fused path
            loss.backward()
        grads.append([torch.zeros_like(p) if p.grad is None else p.grad for p in layer.parameters()])
        torch.testing.assert_close(ys, fused(x, lengths=lengths)[0].detach())
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


def test_zero_length_rows_return_initial_state_and_zero_outputs():
    for variant in ALL:
        for kernel in ("fused", "loop"):
            layer = _layer(variant, kernel, num_layers=2, bidirectional=True)
            state = layer.init_state(2, dtype=torch.float64)
            state = type(state)(*(torch.randn_like(s) for s in state)) if isinstance(state, tuple) else torch.randn_like(state)
            ys, final = layer(torch.randn(2, 4, 3, dtype=torch.float64), state, lengths=torch.tensor([0, 0]))
            assert torch.all(ys == 0)
            for a, b in zip(leaves(final), leaves(state)):
                torch.testing.assert_close(a, b)


def test_empty_time_axis_returns_state_unchanged():
    layer = _layer("lstm", "auto")
    state = layer.init_state(2, dtype=torch.float64)
    ys, final = layer(torch.randn(2, 0, 3, dtype=torch.float64), state)
    assert ys.shape == (2, 0, 4)
    assert all(a is b for a, b in zip(final, state))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("bidirectional", [False, True])
def test_gradcheck_loop_kernel(variant, bidirectional):
    layer = _layer(variant, "loop", num_layers=2, bidirectional=bidirectional)
    x = torch.randn(3, 4, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([4, 2, 1])

    def run(x, *params):
        out = torch.func.functional_call(layer, dict(zip(names, params)), (x,), {"lengths": lengths})
        return (out[0], *leaves(out[1]))

    names = [n for n, _ in layer.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in layer.parameters()]
    assert torch.autograd.gradcheck(run, (x, *params))


def test_gradcheck_fused_kernel_lstm_with_lengths():
    layer = _layer("lstm", "fused", bidirectional=True)
    x = torch.randn(3, 4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: layer(x, lengths=torch.tensor([4, 2, 1]))[0], (x,))
