"""The training loop: it learns with every optimizer, truncated BPTT carries, detaches and resets the
state and equals full BPTT when chunks cover the sequences, clipping is recorded, schedules follow
their formulas, non-finite steps are skipped, early stopping stops."""

import math

import pytest
import torch

from rnnkit.data import StreamBatches
from rnnkit.ops.state import state_leaves
from rnnkit.training import StopTraining, TrainConfig, evaluate, fit, masked_cross_entropy, masked_mse, model_loss
from toy import LastStepRegressor, TokenModel, ToyConfig, counting_documents, lm_pairs, sum_sign_data, token_padded, token_streams

LM_LOSS = model_loss(masked_cross_entropy)
QUIET = dict(progress=False, log_every=1, device="cpu")  # CPU: exactness tests, also on GPU machines


def _bce(outputs, targets, lengths):
    return torch.nn.functional.binary_cross_entropy_with_logits(outputs, targets)


@pytest.mark.parametrize(
    "settings",
    [
        dict(optimizer="sgd", lr=0.5, momentum=0.9),
        dict(optimizer="sgd", lr=0.5, momentum=0.9, nesterov=True),
        dict(optimizer="adam", lr=0.02),
        dict(optimizer="adamw", lr=0.02, weight_decay=0.01),
    ],
    ids=["sgd_momentum", "sgd_nesterov", "adam", "adamw"],
)
def test_overfits_a_tiny_task_with_each_optimizer(settings):
    model = TokenModel(ToyConfig(hidden_size=24))
    history = fit(model, token_streams(), TrainConfig(epochs=40, clip_norm=5.0, **settings, **QUIET), loss_fn=LM_LOSS)
    first, last = history.step_losses[0], sum(history.step_losses[-5:]) / 5
    assert first > 2.0 and last < 0.1 * first, (first, last)


def test_classifier_with_lengths_learns():
    model = LastStepRegressor(cell="gru")
    history = fit(model, sum_sign_data(), TrainConfig(epochs=60, lr=0.02, **QUIET), loss_fn=model_loss(_bce))
    assert sum(history.step_losses[-3:]) / 3 < 0.3 < history.step_losses[0]


def test_chunks_longer_than_the_sequences_give_full_bptt_gradients():
    """One document per row: a stream with bptt >= every length is exactly full BPTT."""
    reference = TokenModel(ToyConfig()).state_dict()
    grads = []
    for data in (token_streams(batch_size=6, bptt=64, n_docs=6), token_padded(batch_size=6, n_docs=6)):
        model = TokenModel(ToyConfig())
        model.load_state_dict(reference)
        batch = next(iter(data.batches(0, 0)))
        loss, _ = LM_LOSS(model, batch, None)
        loss.backward()
        grads.append({n: p.grad for n, p in model.named_parameters()})
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], msg=name)


def test_streams_with_carried_state_score_like_whole_sequences():
    """Evaluation over 5-step chunks, state carried and reset at document starts, equals one pass."""
    model = TokenModel(ToyConfig())
    chunked = evaluate(model, token_streams(batch_size=2, bptt=5), LM_LOSS, "cpu")
    whole = evaluate(model, token_padded(batch_size=6), LM_LOSS, "cpu")
    assert chunked["targets"] == whole["targets"]
    assert math.isclose(chunked["loss"], whole["loss"], rel_tol=1e-5)


def test_carried_state_is_detached_and_reset_rows_start_from_zero():
    seen = []

    def spying_loss(model, batch, state):
        if state is not None:
            for leaf in state_leaves(state):
                assert leaf.grad_fn is None and not leaf.requires_grad, "carried state must be detached"
                if batch.reset.any():
                    assert torch.all(leaf[:, batch.reset] == 0), "rows that start a document must start from zero"
                    seen.append(int(batch.reset.sum()))
        return LM_LOSS(model, batch, state)

    fit(TokenModel(ToyConfig()), token_streams(batch_size=2, bptt=4, n_docs=8), TrainConfig(epochs=2, **QUIET), loss_fn=spying_loss)
    assert seen, "the data should reset some rows mid-epoch"


def test_clipping_statistics():
    history = fit(TokenModel(ToyConfig()), token_streams(), TrainConfig(epochs=2, clip_norm=1e-3, **QUIET), loss_fn=LM_LOSS)
    train = [r for r in history.records if r["split"] == "train"]
    assert history.clip_fraction == 1.0
    assert all(r["clip_rate"] == 1.0 and r["grad_norm"] > 1e-3 for r in train)
    unclipped = fit(TokenModel(ToyConfig()), token_streams(), TrainConfig(epochs=1, clip_norm=1e6, **QUIET), loss_fn=LM_LOSS)
    assert unclipped.clip_fraction == 0.0


def test_clip_by_value():
    limits = []

    def check(record):
        limits.append(max(float(p.grad.abs().max()) for p in model.parameters() if p.grad is not None))

    model = TokenModel(ToyConfig())
    fit(model, token_streams(), TrainConfig(epochs=1, clip_value=1e-4, **QUIET), loss_fn=LM_LOSS, callbacks=[check])
    assert limits and max(limits) <= 1e-4


def _lrs(config, steps=12):
    lrs = []
    model = TokenModel(ToyConfig())
    optimizer_lr = lambda record: lrs.append(model_optimizer[0].param_groups[0]["lr"])  # noqa: E731
    model_optimizer = []
    original = torch.optim.Optimizer.__init__

    def remember(self, *args, **kwargs):
        original(self, *args, **kwargs)
        model_optimizer.append(self)

    torch.optim.Optimizer.__init__ = remember
    try:
        fit(model, token_streams(batch_size=1, bptt=2), TrainConfig(max_steps=steps, epochs=99, **QUIET, **config), loss_fn=LM_LOSS, callbacks=[optimizer_lr])
    finally:
        torch.optim.Optimizer.__init__ = original
    return lrs


def test_cosine_schedule_with_warmup():
    lrs = _lrs(dict(lr=1.0, schedule="cosine", warmup_steps=4, min_lr=0.1), steps=12)
    # lr after update s (1-based) is the factor of s: warm-up (s+1)/4, then cosine over 8 steps to 0.1
    expected = [(s + 1) / 4 if s < 4 else 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (s - 4) / 8)) for s in range(1, 13)]
    assert lrs == pytest.approx(expected)


def test_step_schedule():
    assert _lrs(dict(lr=1.0, schedule="step", step_size=3, gamma=0.5), steps=7) == pytest.approx([1, 1, 0.5, 0.5, 0.5, 0.25, 0.25])


def _opposite_streams():
    """Validation data that wants the opposite of the training data: it gets worse as training goes on."""
    pairs = lm_pairs(counting_documents())
    return StreamBatches([(x, (x - 1) % 11) for x, _ in pairs], batch_size=3, bptt=5)


def test_plateau_schedule_lowers_the_rate_when_validation_stalls():
    config = TrainConfig(epochs=8, lr=0.02, schedule="plateau", plateau_patience=1, gamma=0.5, **QUIET)
    history = fit(TokenModel(ToyConfig()), token_streams(), config, loss_fn=LM_LOSS, val_data=_opposite_streams())
    lrs = history.metric("train", "lr")
    assert lrs[0] == 0.02 and lrs[-1] <= 0.01


def test_non_finite_steps_are_skipped_then_stop_the_run():
    calls = {"n": 0}

    def flaky(model, batch, state):
        loss, state = LM_LOSS(model, batch, state)
        calls["n"] += 1
        return (loss * float("nan") if calls["n"] >= 3 else loss), state

    model = TokenModel(ToyConfig())
    with pytest.warns(RuntimeWarning, match="non-finite loss or gradient"):
        history = fit(model, token_streams(), TrainConfig(epochs=5, max_bad_steps=4, **QUIET), loss_fn=flaky)
    assert history.stop_reason == "non-finite loss"
    assert history.steps == 2 and len(history.step_losses) == 6
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_one_bad_step_is_skipped_and_training_goes_on():
    calls = {"n": 0}

    def once(model, batch, state):
        loss, state = LM_LOSS(model, batch, state)
        calls["n"] += 1
        return (loss + float("inf") if calls["n"] == 2 else loss), state

    with pytest.warns(RuntimeWarning):
        history = fit(TokenModel(ToyConfig()), token_streams(), TrainConfig(epochs=2, **QUIET), loss_fn=once)
    assert history.stop_reason == "completed" and math.isinf(history.step_losses[1])


def test_early_stopping_when_validation_gets_worse():
    train = token_streams()
    history = fit(TokenModel(ToyConfig()), train, TrainConfig(epochs=50, lr=0.02, early_stopping=2, **QUIET), loss_fn=LM_LOSS, val_data=_opposite_streams())
    assert history.stop_reason == "early_stopping"
    assert history.steps < 50 * len(train)
    val = history.metric("val", "loss")
    assert min(val[-2:]) > history.best


def test_best_counts_the_final_evaluation(tmp_path):
    calls = []

    def improving(model):  # every evaluation is better than the one before, the final one best of all
        calls.append(len(calls))
        return {"accuracy": float(len(calls))}

    history = fit(TokenModel(ToyConfig()), token_streams(), TrainConfig(epochs=2, monitor="val_accuracy", monitor_mode="max", **QUIET),
                  loss_fn=LM_LOSS, evaluate_fn=improving, run_dir=tmp_path / "run")
    assert history.metric("val", "accuracy")[-1] == history.best == float(len(calls)) and len(calls) >= 2


def test_callback_can_stop_training():
    def stop(record):
        if record["step"] == 3:
            raise StopTraining

    history = fit(TokenModel(ToyConfig()), token_streams(), TrainConfig(epochs=5, **QUIET), loss_fn=LM_LOSS, callbacks=[stop])
    assert history.stop_reason == "stopped by callback" and history.steps == 3


def test_max_steps():
    history = fit(TokenModel(ToyConfig()), token_streams(), TrainConfig(epochs=100, max_steps=7, **QUIET), loss_fn=LM_LOSS)
    assert history.steps == 7 and history.stop_reason == "max_steps"


def test_masked_mse_ignores_padding():
    pred, target = torch.zeros(2, 3), torch.tensor([[1.0, 1.0, 9.0], [2.0, 9.0, 9.0]])
    assert masked_mse(pred, target, torch.tensor([2, 1])).item() == pytest.approx((1 + 1 + 4) / 3)


def test_losses_with_no_valid_target_are_zero_and_differentiable():
    logits = torch.randn(1, 2, 3, requires_grad=True)
    loss = masked_cross_entropy(logits, torch.tensor([[1, 2]]), torch.tensor([0]))
    loss.backward()
    assert loss.item() == 0 and torch.all(logits.grad == 0)
    assert masked_mse(torch.ones(1, 2), torch.zeros(1, 2), torch.tensor([0])).item() == 0


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(optimizer="rmsprop"), "optimizer must be one of"),
        (dict(schedule="linear"), "schedule must be one of"),
        (dict(lr=0), "lr must be positive"),
        (dict(clip_norm=0), "clip_norm must be positive"),
        (dict(nesterov=True), "nesterov=True needs optimizer='sgd' with momentum > 0"),
        (dict(max_steps=0), "max_steps must be at least 1"),
    ],
)
def test_bad_configuration(settings, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**settings)


def test_ctrl_c_saves_a_checkpoint_to_resume_from(tmp_path, capsys):
    def interrupt(record):
        if record["step"] == 2:
            raise KeyboardInterrupt

    history = fit(TokenModel(ToyConfig()), token_streams(), TrainConfig(epochs=3, **QUIET), loss_fn=LM_LOSS,
                  run_dir=tmp_path / "run", callbacks=[interrupt])
    assert history.stop_reason == "interrupted" and history.steps == 2
    assert f"interrupted at step 2; resume with resume=True (or --resume {tmp_path / 'run'})" in capsys.readouterr().err
    resumed = fit(TokenModel(ToyConfig()), token_streams(), TrainConfig(epochs=3, **QUIET), loss_fn=LM_LOSS, run_dir=tmp_path / "run", resume=True)
    assert resumed.steps == 3 * len(token_streams())


def test_progress_bar_shows_loss_rate_and_throughput(capsys):
    fit(TokenModel(ToyConfig()), token_streams(), TrainConfig(epochs=1, device="cpu"), loss_fn=LM_LOSS)
    err = capsys.readouterr().err
    assert "loss=" in err and "lr=" in err and "tok/s=" in err


def test_tensorboard_logging(tmp_path):
    config = TrainConfig(epochs=1, tensorboard=True, **QUIET)
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="tensorboard=True needs the tensorboard package: pip install tensorboard"):
            fit(TokenModel(ToyConfig()), token_streams(), config, loss_fn=LM_LOSS, run_dir=tmp_path / "run")
        return
    fit(TokenModel(ToyConfig()), token_streams(), config, loss_fn=LM_LOSS, run_dir=tmp_path / "run")
    assert any((tmp_path / "run" / "tensorboard").iterdir())
