"""CUDA checks: the fused kernel runs cuDNN on rnnkit's weights and matches torch.nn, the kernels agree,
eval-mode backpropagation works, weights stay in one cuDNN buffer, and mixed precision runs.
Skipped without a CUDA device."""

import warnings

import pytest
import torch

import rnnkit
from reference import VARIANTS, leaves, make_pair, torch_reference

pytestmark = pytest.mark.gpu
CUDA = torch.device("cuda")


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_fused_is_cudnn_and_matches_torch(variant, bidirectional):
    ours, theirs = make_pair(variant, 8, 16, kernel="fused", num_layers=2, bidirectional=bidirectional)
    ours, theirs = ours.to(CUDA), theirs.to(CUDA)
    x = torch.randn(5, 9, 8, device=CUDA, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    lengths = torch.tensor([9, 4, 0, 1, 7], device=CUDA)  # lengths on the GPU too
    ys, state = ours(x, lengths=lengths)
    ref_ys, ref_state = torch_reference(theirs, x_ref, None, lengths.cpu())
    assert "cuDNN" in ours.last_kernel.reason
    torch.testing.assert_close(ys, ref_ys)
    for a, b in zip(leaves(state), leaves(ref_state)):
        torch.testing.assert_close(a, b)
    (ys.sum() + sum(s.sum() for s in leaves(state))).backward()
    (ref_ys.sum() + sum(s.sum() for s in leaves(ref_state))).backward()
    torch.testing.assert_close(x.grad, x_ref.grad)
    ref_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        torch.testing.assert_close(p.grad, ref_params[name].grad, msg=name)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_kernels_agree_on_cuda_in_float64(variant):
    fused, _ = make_pair(variant, 8, 16, kernel="fused", num_layers=2, bidirectional=True, dtype=torch.float64)
    loop, _ = make_pair(variant, 8, 16, kernel="loop", num_layers=2, bidirectional=True, dtype=torch.float64)
    loop.load_state_dict(fused.state_dict())
    fused, loop = fused.to(CUDA), loop.to(CUDA)
    x = torch.randn(4, 11, 8, device=CUDA, dtype=torch.float64)
    lengths = torch.tensor([11, 3, 6, 1])
    outputs = []
    for layer in (fused, loop):
        ys, state = layer(x, lengths=lengths)
        (ys.square().sum() + sum(s.sum() for s in leaves(state))).backward()
        outputs.append((ys, [p.grad for p in layer.parameters()]))
    torch.testing.assert_close(outputs[0][0], outputs[1][0])
    for a, b in zip(outputs[0][1], outputs[1][1]):
        torch.testing.assert_close(a, b)


def test_eval_mode_backward_works():
    """cuDNN cannot backpropagate in eval mode; rnnkit runs torch's native CUDA kernel there."""
    layer = rnnkit.LSTM(8, 16, num_layers=2).to(CUDA).eval()
    x = torch.randn(3, 7, 8, device=CUDA, requires_grad=True)
    ys, _ = layer(x)
    ys.sum().backward()
    assert layer.last_kernel.name == "fused" and "eval mode" in layer.last_kernel.reason
    assert torch.isfinite(x.grad).all()
    with torch.no_grad():
        layer(x)
    assert "cuDNN" == layer.last_kernel.reason.split(";")[0]


def test_weights_stay_in_one_cudnn_buffer():
    layer = rnnkit.GRU(8, 16, num_layers=2, bidirectional=True).to(CUDA)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns when it must compact the weights on every call
        layer(torch.randn(3, 7, 8, device=CUDA))[0].sum().backward()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("kernel", ["fused", "loop"])
@pytest.mark.parametrize("variant", ["lstm", "gru"])
def test_autocast(variant, kernel, dtype):
    layer, _ = make_pair(variant, 8, 32, kernel=kernel, num_layers=2)
    layer = layer.to(CUDA)
    x = torch.randn(4, 20, 8, device=CUDA)
    reference, _ = layer(x)
    with torch.autocast("cuda", dtype=dtype):
        ys, state = layer(x, lengths=torch.tensor([20, 5, 11, 1]))
        loss = ys.float().square().mean()
    loss.backward()
    mask = torch.arange(20, device=CUDA)[None, :] < torch.tensor([20, 5, 11, 1], device=CUDA)[:, None]
    torch.testing.assert_close(ys.float()[0], reference[0], atol=5e-2, rtol=0)
    assert torch.all(ys[~mask] == 0)
    assert all(torch.isfinite(p.grad).all() for p in layer.parameters())


def test_fit_on_cuda_checkpoints_and_resumes(tmp_path):
    from rnnkit.training import StopTraining, TrainConfig, fit, masked_cross_entropy, model_loss, read_checkpoint
    from toy import TokenModel, ToyConfig, token_streams

    def stop(record):
        if record["step"] == 4:
            raise StopTraining

    config = TrainConfig(epochs=3, lr=0.01, device="cuda", progress=False, grad_flow=True)
    loss = model_loss(masked_cross_entropy)
    fit(TokenModel(ToyConfig()), token_streams(), config, loss_fn=loss, val_data=token_streams(seed=1), run_dir=tmp_path / "run", callbacks=[stop])
    assert read_checkpoint(tmp_path / "run" / "last").trainer["progress"]["step"] == 4
    model = TokenModel(ToyConfig())
    history = fit(model, token_streams(), config, loss_fn=loss, val_data=token_streams(seed=1), run_dir=tmp_path / "run", resume=True)
    assert history.steps == 3 * len(token_streams()) and next(model.parameters()).is_cuda
    assert (tmp_path / "run" / "plots" / "grad_flow.png").exists()
