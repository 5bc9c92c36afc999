"""minGRU and minLSTM (Feng et al. 2024) and the chunked linear scan under them: a float64 reference from
the paper's equations, the scan against the step loop, stability at T = 16,384. The layer properties
(padding, chunking with carried state, batch independence, lengths of 0) are in test_layers_properties."""

from __future__ import annotations

import pytest
import torch

import rnnkit
from rnnkit.ops.lengths import reverse_padded
from rnnkit.ops.scan import chunk_size, linear_scan, scan_forward

LAYERS = {"mingru": rnnkit.MinGRU, "minlstm": rnnkit.MinLSTM}


def loop_scan(a, b, h0):
    h, out = h0, []
    for t in range(a.shape[1]):
        h = a[:, t] * h + b[:, t]
        out.append(h)
    return torch.stack(out, 1)


@pytest.mark.parametrize("steps", [1, 2, 5, 16, 17, 97, 1000])
@pytest.mark.parametrize("chunk", [None, 1, 3, 64])
def test_linear_scan_equals_the_loop_with_gradients(steps, chunk):
    torch.manual_seed(steps)
    a = (torch.rand(2, steps, 3, dtype=torch.float64) * 2 - 1).requires_grad_()  # any sign
    b = torch.randn(2, steps, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(2, steps, 3, dtype=torch.float64)
    expected = loop_scan(a, b, h0)
    got = linear_scan(a, b, h0, chunk=chunk)
    torch.testing.assert_close(got, expected)
    for g, e in zip(torch.autograd.grad((got * weights).sum(), (a, b, h0)),
                    torch.autograd.grad((expected * weights).sum(), (a, b, h0))):
        torch.testing.assert_close(g, e)


def test_reverse_scan_and_gradcheck():
    a, b, h0 = torch.rand(2, 11, 3, dtype=torch.float64), torch.randn(2, 11, 3, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64)
    expected = loop_scan(a.flip(1), b.flip(1), h0).flip(1)
    torch.testing.assert_close(scan_forward(a, b, h0, reverse=True), expected)
    torch.testing.assert_close(scan_forward(a, b, h0, 4, reverse=True), expected)  # with padding
    inputs = tuple(t.clone().requires_grad_() for t in (a[:, :6], b[:, :6], h0))
    assert torch.autograd.gradcheck(lambda a, b, h: linear_scan(a, b, h, chunk=2), inputs)


def test_chunk_size_prefers_a_divisor_near_the_square_root():
    assert chunk_size(4096) == 64 and chunk_size(4095) in (63, 65) and chunk_size(1) == 1
    assert chunk_size(16_381) == 127  # a prime: padded
    with pytest.raises(ValueError, match=r"h0 must be \(B, H\)"):
        linear_scan(torch.rand(2, 3, 4), torch.rand(2, 3, 4), torch.zeros(3, 4))


def test_reverse_padded_reverses_each_row_within_its_length():
    x = torch.arange(10.0).view(2, 5, 1)
    y = reverse_padded(x, torch.tensor([3, 0]))
    assert y[0, :, 0].tolist() == [2.0, 1.0, 0.0, 3.0, 4.0] and torch.equal(y[1], x[1])
    assert torch.equal(reverse_padded(y, torch.tensor([3, 0])), x)


def reference(layer, x, lengths, h0=None):
    """Each row alone for its own length, every layer and direction from the paper's equations."""
    d, hidden = layer.num_directions, layer.hidden_size
    outputs, finals = [], []
    for row in range(x.shape[0]):
        n = int(lengths[row])
        layer_in = x[row, :n]
        row_finals = []
        for k_layer in range(layer.num_layers):
            outs = []
            for direction in range(d):
                suffix = "_reverse" if direction else ""
                w = getattr(layer, f"weight_ih_l{k_layer}{suffix}")
                bias = getattr(layer, f"bias_ih_l{k_layer}{suffix}")
                k = k_layer * d + direction
                h = x.new_zeros(hidden) if h0 is None else h0[k, row]
                seq = layer_in.flip(0) if direction else layer_in
                hs = []
                for x_t in seq:
                    proj = w @ x_t + bias
                    if isinstance(layer, rnnkit.MinGRU):
                        z, cand = torch.sigmoid(proj[:hidden]), proj[hidden:]
                        h = (1 - z) * h + z * cand
                    else:
                        f, i, cand = torch.sigmoid(proj[:hidden]), torch.sigmoid(proj[hidden:2 * hidden]), proj[2 * hidden:]
                        h = f / (f + i) * h + i / (f + i) * cand
                    hs.append(h)
                row_finals.append(h)
                ys = torch.stack(hs) if hs else x.new_zeros(0, hidden)
                outs.append(ys.flip(0) if direction else ys)
            layer_in = torch.cat(outs, dim=1)
        padded = x.new_zeros(x.shape[1], d * hidden)
        padded[:n] = layer_in
        outputs.append(padded)
        finals.append(torch.stack(row_finals))
    return torch.stack(outputs), torch.stack(finals, dim=1)


def randomised(layer):
    with torch.no_grad():
        for p in layer.parameters():
            p.uniform_(-1.0, 1.0)
    return layer


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("kernel", ["scan", "loop"])
def test_layers_equal_the_float64_reference_of_the_papers_equations(name, kernel):
    torch.manual_seed(0)
    layer = randomised(LAYERS[name](3, 4, num_layers=2, bidirectional=True, kernel=kernel).double())
    x = torch.randn(4, 7, 3, dtype=torch.float64)
    lengths = torch.tensor([7, 3, 0, 5])
    h0 = torch.randn(4, 4, 4, dtype=torch.float64)
    ys, state = layer(x, h0, lengths=lengths)
    assert layer.last_kernel.name == kernel
    ref_ys, ref_state = reference(layer, x, lengths, h0)
    torch.testing.assert_close(ys, ref_ys)
    torch.testing.assert_close(state, ref_state)
    weights = torch.randn_like(ys)
    grads = torch.autograd.grad((ys * weights).sum() + state.sum(), list(layer.parameters()))
    ref_grads = torch.autograd.grad((ref_ys * weights).sum() + ref_state.sum(), list(layer.parameters()))
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_scan_equals_the_step_loop_over_thousands_of_steps(name):
    torch.manual_seed(1)
    scan = LAYERS[name](4, 8, bidirectional=True).double()
    loop = LAYERS[name](4, 8, bidirectional=True, kernel="loop").double()
    loop.load_state_dict(scan.state_dict())
    x = torch.randn(2, 3000, 4, dtype=torch.float64)
    lengths = torch.tensor([3000, 1234])
    (ys, h), (ys_loop, h_loop) = scan(x, lengths=lengths), loop(x, lengths=lengths)
    torch.testing.assert_close(ys, ys_loop)
    torch.testing.assert_close(h, h_loop)
    grads = torch.autograd.grad(ys.sum() + h.sum(), list(scan.parameters()))
    for g, r in zip(grads, torch.autograd.grad(ys_loop.sum() + h_loop.sum(), list(loop.parameters()))):
        torch.testing.assert_close(g, r)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_no_nan_or_inf_at_16384_steps_with_saturated_gates(name):
    torch.manual_seed(2)
    layer = LAYERS[name](8, 16)
    with torch.no_grad():
        layer.weight_ih_l0.mul_(300.0)  # pre-activations in the hundreds: every gate at 0 or 1
    x = torch.randn(2, 16_384, 8, requires_grad=True)
    ys, h = layer(x)
    (ys.square().mean() + h.sum()).backward()
    assert torch.isfinite(ys).all() and torch.isfinite(h).all()
    assert torch.isfinite(x.grad).all() and all(torch.isfinite(p.grad).all() for p in layer.parameters())
    # the float32 scan still matches the float64 loop at this length
    ref = LAYERS[name](8, 16, kernel="loop").double()
    ref.load_state_dict(layer.state_dict())
    torch.testing.assert_close(ys.detach().double(), ref(x.detach().double())[0], rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_gradcheck_of_the_scan_layer(name):
    layer = LAYERS[name](2, 3, bidirectional=True).double()
    x = torch.randn(2, 5, 2, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([5, 3])
    names = [n for n, _ in layer.named_parameters()]

    def run(x, *params):
        ys, h = torch.func.functional_call(layer, dict(zip(names, params)), (x,), {"lengths": lengths})
        return ys, h

    params = [p.detach().clone().requires_grad_() for p in layer.parameters()]
    assert torch.autograd.gradcheck(run, (x, *params))


def test_zoneout_inside_the_scan_matches_the_loop_in_evaluation_and_keeps_units_in_training():
    scan = rnnkit.MinGRU(3, 32, zoneout=0.25).double()
    loop = rnnkit.MinGRU(3, 32, zoneout=0.25, kernel="loop").double()
    loop.load_state_dict(scan.state_dict())
    x = torch.randn(8, 20, 3, dtype=torch.float64)
    scan.eval(), loop.eval()
    torch.testing.assert_close(scan(x)[0], loop(x)[0])
    scan.train()
    ys, _ = scan(x)
    previous = torch.cat([x.new_zeros(8, 1, 32), ys[:, :-1]], 1)
    kept = (ys == previous).double().mean().item()
    assert 0.2 < kept < 0.3


def test_min_cells_refuse_regularisers_that_need_recurrent_weights():
    with pytest.raises(ValueError, match="MinGRU has no recurrent weights, so recurrent_dropout does not apply"):
        rnnkit.MinGRU(3, 4, recurrent_dropout=0.1)
    with pytest.raises(ValueError, match="MinLSTM has no recurrent weights, so weight_drop"):
        rnnkit.MinLSTM(3, 4, weight_drop=0.1)
    with pytest.raises(ValueError, match="kernel must be one of"):
        rnnkit.MinGRU(3, 4, kernel="fused")
    layer = rnnkit.MinLSTM(3, 4)
    assert not any("hh" in name for name in layer.state_dict()) and layer.weight_ih_l0.shape == (12, 3)
