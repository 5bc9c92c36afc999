"""Gradient-flow diagnostics: ||dL/dh_t|| is measured exactly, and shows the vanishing gradient of a
vanilla RNN that an LSTM trained on a long-dependency task does not have."""

import pytest
import torch

from rnnkit.data import PaddedBatches
from rnnkit.tasks.demo import adding_batch
from rnnkit.training import TrainConfig, fit, gradient_flow, model_loss
from toy import LastStepRegressor, TokenModel, ToyConfig, token_streams

MSE = model_loss(lambda outputs, targets, lengths: torch.nn.functional.mse_loss(outputs, targets))


def _adding(n, steps, seed):
    x, y = adding_batch(n, steps, torch.Generator().manual_seed(seed))
    return PaddedBatches(list(x), y, 64)


def test_norms_equal_the_gradient_with_respect_to_each_hidden_state():
    """Reference: run the cell by hand, keep every h_t, differentiate the same loss."""
    model = LastStepRegressor("gru", 2, 8)
    batch = next(iter(_adding(4, 6, 0).batches(0, 0)))
    norms = gradient_flow(model, MSE, batch)["rnn.l0"]
    rnn = model.rnn
    h, hs = torch.zeros(4, 8), []
    for t in range(6):
        xp = torch.nn.functional.linear(batch.inputs[:, t], rnn.weight_ih_l0, rnn.bias_ih_l0)
        h, _ = rnn.step(xp, h, rnn.weight_hh_l0, rnn.bias_hh_l0)
        h.retain_grad()
        hs.append(h)
    loss = torch.nn.functional.mse_loss(model.head(h).squeeze(1), batch.targets)
    loss.backward()
    expected = [float(x.grad.norm()) for x in hs]
    assert norms == pytest.approx(expected, rel=1e-5)
    assert model.rnn.kernel == "auto" and "step" not in vars(model.rnn), "the probes must be removed"


def test_parameter_gradients_are_left_alone_and_every_layer_is_reported():
    model = TokenModel(ToyConfig())
    model.rnn = type(model.rnn)(16, 16, num_layers=2, bidirectional=True)
    model.out = torch.nn.Linear(32, 11)
    batch = next(iter(token_streams().batches(0, 0)))
    norms = gradient_flow(model, model_loss(lambda o, t, n: torch.nn.functional.cross_entropy(o.flatten(0, 1), t.flatten(), ignore_index=-100)), batch)
    assert set(norms) == {"rnn.l0", "rnn.l0_reverse", "rnn.l1", "rnn.l1_reverse"}
    assert all(len(v) == batch.inputs.shape[1] for v in norms.values())
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.slow
def test_vanilla_rnn_gradients_vanish_where_a_trained_lstm_keeps_them(tmp_path):
    """The adding problem over 40 steps: after the same training, ||dL/dh_1|| / ||dL/dh_T|| is orders of
    magnitude smaller for a vanilla RNN (which fails the task) than for an LSTM (which solves it)."""
    ratios, finals = {}, {}
    for cell in ("rnn", "lstm"):
        torch.manual_seed(0)
        model = LastStepRegressor(cell, 2, 32)
        config = TrainConfig(epochs=100, max_steps=500, lr=1e-2, clip_norm=1.0, progress=False, grad_flow=True, device="cpu")
        history = fit(model, _adding(2048, 40, 0), config, loss_fn=MSE, val_data=_adding(256, 40, 1), run_dir=tmp_path / cell)
        norms = history.records[-1]["norms"]["rnn.l0"]
        ratios[cell], finals[cell] = norms[0] / norms[-1], sum(history.step_losses[-20:]) / 20
        assert (tmp_path / cell / "plots" / "grad_flow.png").stat().st_size > 1000
    assert finals["lstm"] < 0.02 < 0.1 < finals["rnn"], finals
    assert ratios["rnn"] < 1e-2 * ratios["lstm"], ratios
