"""Layer-normalised LSTM and GRU (Ba, Kiros & Hinton 2016): against a float64 reference written from
the equations (outputs, states, gradients; stacked, bidirectional, lengths), gradcheck, chunking,
the invariance layer norm promises, and the kernel report."""

from __future__ import annotations

import pytest
import torch

import rnnkit

EPS = 1e-5


def ln(z, gain, bias=None):
    mean = z.mean(-1, keepdim=True)
    var = ((z - mean) ** 2).mean(-1, keepdim=True)
    out = (z - mean) / torch.sqrt(var + EPS) * gain
    return out if bias is None else out + bias


def reference(layer, x, lengths):
    """Each row alone for its own length, every layer and direction from the class docstring's equations."""
    lstm = isinstance(layer, rnnkit.LayerNormLSTM)
    p = {name: t.double() for name, t in layer.named_parameters()}
    H, D = layer.hidden_size, layer.num_directions
    outs, finals_h, finals_c = [], [], []
    for b in range(x.shape[0]):
        seq = x[b, : int(lengths[b])].double()
        row_h, row_c = [], []
        for layer_index in range(layer.num_layers):
            directions = []
            for d, suffix in enumerate(("", "_reverse")[:D]):
                key = f"l{layer_index}{suffix}"
                h = torch.zeros(H, dtype=torch.float64)
                c = torch.zeros(H, dtype=torch.float64)
                steps = range(len(seq) - 1, -1, -1) if d else range(len(seq))
                ys = [None] * len(seq)
                for t in steps:
                    a = ln(p[f"weight_ih_{key}"] @ seq[t], p[f"ln_ih_weight_{key}"]) + p[f"bias_ih_{key}"]
                    r = ln(p[f"weight_hh_{key}"] @ h, p[f"ln_hh_weight_{key}"]) + p[f"bias_hh_{key}"]
                    if lstm:
                        i, f, g, o = (a + r).chunk(4)
                        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                        h = torch.sigmoid(o) * torch.tanh(ln(c, p[f"ln_c_weight_{key}"], p[f"ln_c_bias_{key}"]))
                    else:
                        a_r, a_z, a_n = a.chunk(3)
                        b_r, b_z, b_n = r.chunk(3)
                        rr, z = torch.sigmoid(a_r + b_r), torch.sigmoid(a_z + b_z)
                        n = torch.tanh(a_n + rr * b_n)
                        h = (1 - z) * n + z * h
                    ys[t] = h
                directions.append(torch.stack(ys) if ys else seq.new_zeros(0, H))
                row_h.append(h)
                row_c.append(c)
            seq = torch.cat(directions, dim=1)
        padded = x.new_zeros(x.shape[1], H * D, dtype=torch.float64)
        padded[: len(seq)] = seq
        outs.append(padded)
        finals_h.append(torch.stack(row_h))
        finals_c.append(torch.stack(row_c))
    return torch.stack(outs), torch.stack(finals_h, 1), torch.stack(finals_c, 1)


def randomised(layer):
    with torch.no_grad():
        for p in layer.parameters():
            p.uniform_(-0.8, 0.8)
    return layer


@pytest.mark.parametrize("cls", [rnnkit.LayerNormLSTM, rnnkit.LayerNormGRU])
def test_layers_equal_the_float64_reference_of_their_equations(cls):
    torch.manual_seed(0)
    layer = randomised(cls(3, 4, num_layers=2, bidirectional=True)).double()
    x = torch.randn(3, 5, 3, dtype=torch.float64)
    lengths = torch.tensor([5, 2, 4])
    ys, state = layer(x, lengths=lengths)
    ref_ys, ref_h, ref_c = reference(layer, x, lengths)
    h = state.h if cls is rnnkit.LayerNormLSTM else state
    torch.testing.assert_close(ys, ref_ys)
    torch.testing.assert_close(h, ref_h)
    if cls is rnnkit.LayerNormLSTM:
        torch.testing.assert_close(state.c, ref_c)
    weights = torch.randn_like(ys)
    grads = torch.autograd.grad((ys * weights).sum() + h.sum(), list(layer.parameters()))
    ref_grads = torch.autograd.grad((ref_ys * weights).sum() + ref_h.sum(), list(layer.parameters()))
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r)


@pytest.mark.parametrize("cls", [rnnkit.LayerNormLSTM, rnnkit.LayerNormGRU])
def test_gradcheck_and_chunking(cls):
    torch.manual_seed(1)
    layer = randomised(cls(2, 3)).double()
    x = torch.randn(2, 4, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: layer(x, lengths=torch.tensor([4, 2]))[0], (x,))
    whole, final = layer(x)
    first, state = layer(x[:, :2])
    second, final2 = layer(x[:, 2:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), whole)
    for a, b in zip(final if isinstance(final, tuple) else (final,), final2 if isinstance(final2, tuple) else (final2,)):
        torch.testing.assert_close(a, b)


def test_layer_norm_makes_the_layer_blind_to_the_scale_of_its_weights():
    torch.manual_seed(2)
    layer = randomised(rnnkit.LayerNormLSTM(3, 5))
    x = torch.randn(2, 6, 3)
    ys, _ = layer(x)
    with torch.no_grad():
        layer.weight_ih_l0.mul_(7.0)
        layer.weight_hh_l0.mul_(3.0)  # (scaling down would let eps show where variances are small)
    torch.testing.assert_close(layer(x)[0], ys, atol=1e-4, rtol=1e-4)
    plain = rnnkit.LSTM(3, 5)
    plain.load_state_dict({k: v for k, v in layer.state_dict().items() if not k.startswith("ln_")})
    assert not torch.allclose(plain(x)[0], ys, atol=1e-3)  # without the norms the scale matters


def test_gains_start_at_one_torch_weights_load_and_the_fused_kernel_is_refused():
    layer = rnnkit.LayerNormGRU(3, 4, bidirectional=True)
    assert bool((layer.ln_hh_weight_l0_reverse == 1).all()) and layer.ln_ih_weight_l0.shape == (12,)
    missing, unexpected = layer.load_state_dict(torch.nn.GRU(3, 4, bidirectional=True).state_dict(), strict=False)
    assert not unexpected and all(k.startswith("ln_") for k in missing)
    with pytest.raises(ValueError, match="layer norm needs the loop kernel"):
        rnnkit.LayerNormLSTM(3, 4, kernel="fused")(torch.randn(1, 2, 3))
    assert rnnkit.LayerNormLSTM(3, 4).select_kernel(torch.randn(1, 2, 3)).name == "loop"
