"""Kernel selection: "auto" picks fused when it can serve, says why when it cannot, "fused" refuses
clearly where it cannot serve, and `last_kernel` reports what ran."""

import pytest
import torch
from torch.autograd import forward_ad

import rnnkit


def test_auto_picks_fused_on_cpu():
    layer = rnnkit.LSTM(3, 4)
    layer(torch.randn(2, 5, 3))
    assert layer.last_kernel.name == "fused"
    assert "fused CPU kernel" in layer.last_kernel.reason


def test_loop_reports_itself():
    layer = rnnkit.GRU(3, 4, kernel="loop")
    layer(torch.randn(2, 5, 3))
    assert layer.last_kernel == rnnkit.KernelChoice("loop", "kernel='loop' was requested")


def _dual_input():
    return forward_ad.make_dual(torch.randn(2, 5, 3), torch.randn(2, 5, 3))


def test_auto_falls_back_to_loop_for_forward_mode_ad():
    layer = rnnkit.LSTM(3, 4)
    reference = rnnkit.LSTM(3, 4, kernel="loop")
    reference.load_state_dict(layer.state_dict())
    with forward_ad.dual_level():
        x = _dual_input()
        ys, _ = layer(x)
        tangent = forward_ad.unpack_dual(ys).tangent
        assert layer.last_kernel.name == "loop"
        assert "forward-mode AD" in layer.last_kernel.reason
    # the tangent is the directional derivative: compare with a finite difference in float64
    layer.double()
    with forward_ad.dual_level():
        primal, direction = torch.randn(2, 5, 3, dtype=torch.float64), torch.randn(2, 5, 3, dtype=torch.float64)
        exact = forward_ad.unpack_dual(layer(forward_ad.make_dual(primal, direction))[0]).tangent
    eps = 1e-6
    numeric = (layer(primal + eps * direction)[0] - layer(primal - eps * direction)[0]) / (2 * eps)
    torch.testing.assert_close(exact, numeric, rtol=1e-5, atol=1e-7)
    assert tangent.shape == (2, 5, 4)


def test_fused_refuses_where_it_cannot_serve():
    layer = rnnkit.LSTM(3, 4, kernel="fused")
    with forward_ad.dual_level(), pytest.raises(ValueError, match="kernel='fused' cannot run this call.*kernel='auto'"):
        layer(_dual_input())


def test_auto_runs_under_vmap():
    layer = rnnkit.GRU(3, 4)
    xs = torch.randn(6, 2, 5, 3)  # six independent batches
    batched = torch.func.vmap(lambda x: layer(x)[0])(xs)
    torch.testing.assert_close(batched, torch.stack([layer(x)[0] for x in xs]))


def test_unknown_kernel_name():
    with pytest.raises(ValueError, match=r"kernel must be one of \('auto', 'fused', 'loop'\); got 'cudnn'"):
        rnnkit.RNN(3, 4, kernel="cudnn")


def test_select_kernel_without_running():
    layer = rnnkit.RNN(3, 4)
    x = torch.randn(2, 5, 3)
    assert layer.select_kernel(x).name == "fused"
    assert layer.select_kernel(x, layer.init_state(2)).name == "fused"
    assert layer.last_kernel is None


def test_a_single_lstm_step_on_cpu_runs_natively_with_the_same_result_and_leaves_onednn_as_it_was():
    torch.manual_seed(0)
    layer = rnnkit.LSTM(3, 8, num_layers=2)
    reference = rnnkit.LSTM(3, 8, num_layers=2, kernel="loop")
    reference.load_state_dict(layer.state_dict())
    x, state = torch.randn(4, 1, 3), None
    before = torch.backends.mkldnn.enabled
    for _ in range(3):  # one step at a time, the state carried, as generation runs
        ys, new = layer(x, state)
        expected, expected_state = reference(x, state)
        torch.testing.assert_close(ys, expected)
        torch.testing.assert_close(tuple(new), tuple(expected_state))
        state = new
    assert layer.last_kernel.name == "fused"
    assert torch.backends.mkldnn.enabled == before
