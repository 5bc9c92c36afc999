"""Checkpoints: the run directory, exact resume, crash safety, and clear errors for corrupted or
mismatched checkpoints. Nothing here unpickles: files are safetensors and JSON."""

import json
import os

import pytest
import torch

from rnnkit.training import (
    CheckpointError,
    StopTraining,
    TrainConfig,
    find_checkpoint,
    fit,
    load_weights,
    masked_cross_entropy,
    model_loss,
    read_checkpoint,
    read_run,
)
from rnnkit.training import checkpoint as ckpt
from toy import TokenModel, ToyConfig, token_streams

LM_LOSS = model_loss(masked_cross_entropy)
CONFIG = TrainConfig(epochs=3, lr=0.01, seed=5, progress=False, log_every=2, schedule="cosine", warmup_steps=2, device="cpu")


def _model(**kwargs):
    torch.manual_seed(1)
    return TokenModel(ToyConfig(dropout=0.3, **kwargs))  # dropout: the RNG state must be restored too


def _train(run_dir, stop_at=None, resume=False, model=None, config=CONFIG):
    def stop(record):
        if record["step"] == stop_at:
            raise StopTraining

    model = model or _model()
    history = fit(model, token_streams(batch_size=2, bptt=4), config, loss_fn=LM_LOSS, val_data=token_streams(seed=2),
                  run_dir=run_dir, resume=resume, callbacks=[stop] if stop_at else [])
    return model, history


def test_run_directory_layout(tmp_path):
    _train(tmp_path / "run", model=None)
    run = tmp_path / "run"
    assert {p.name for p in run.iterdir()} >= {"run.json", "metrics.jsonl", "last", "best", "plots"}
    assert {p.name for p in (run / "last").iterdir()} == {"model.safetensors", "optimizer.safetensors", "trainer.safetensors", "state.json"}
    assert (run / "plots" / "loss.png").stat().st_size > 1000
    info = read_run(run)
    assert info["model"]["config"]["hidden_size"] == 16 and info["training"]["lr"] == 0.01
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {"train", "val"} <= {r["split"] for r in lines}
    assert all({"step", "epoch", "split"} <= set(r) for r in lines)


def test_resume_equals_an_uninterrupted_run(tmp_path):
    """N steps == N/2 steps, stop, resume, N/2 more: the same losses step by step and the same weights.
    The data is a stream (truncated BPTT), so the carried state and the data position are restored too."""
    whole_model, whole = _train(tmp_path / "whole")
    steps = whole.steps
    assert steps >= 20
    _, first = _train(tmp_path / "split", stop_at=steps // 2)
    assert first.stop_reason == "stopped by callback" and first.steps == steps // 2
    resumed_model, second = _train(tmp_path / "split", resume=True, model=_model())
    assert first.step_losses + second.step_losses == whole.step_losses
    for (name, a), b in zip(whole_model.state_dict().items(), resumed_model.state_dict().values()):
        assert torch.equal(a, b), name


def test_a_second_fit_into_a_used_run_directory_is_refused(tmp_path):
    _train(tmp_path / "run")
    with pytest.raises(ValueError, match="already holds a run; resume it"):
        _train(tmp_path / "run")


def test_resume_with_a_different_model_lists_the_mismatch(tmp_path):
    _train(tmp_path / "run", stop_at=2)
    with pytest.raises(CheckpointError, match=r"model config hidden_size: run has 16, given 8"):
        _train(tmp_path / "run", resume=True, model=TokenModel(ToyConfig(hidden_size=8, dropout=0.3)))


def test_loading_weights_of_other_shapes_lists_every_mismatch(tmp_path):
    _train(tmp_path / "run", stop_at=2)
    saved = read_checkpoint(tmp_path / "run" / "last")
    with pytest.raises(CheckpointError, match=r"(?s)does not fit this model:.*shape of embed.weight: checkpoint \(11, 16\), model \(11, 8\)"):
        load_weights(TokenModel(ToyConfig(hidden_size=8)), saved.model, saved.path)
    with pytest.raises(CheckpointError, match="missing: extra.weight"):
        model = TokenModel(ToyConfig())
        model.extra = torch.nn.Linear(2, 2)
        load_weights(model, saved.model, saved.path)


def test_truncated_weights_are_reported(tmp_path):
    _train(tmp_path / "run", stop_at=2)
    weights = tmp_path / "run" / "last" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="model.safetensors is not a readable safetensors file .* truncated or corrupted"):
        read_checkpoint(tmp_path / "run" / "last")


def test_corrupted_state_is_reported(tmp_path):
    _train(tmp_path / "run", stop_at=2)
    (tmp_path / "run" / "last" / "state.json").write_text('{"format": 1, "trai')
    with pytest.raises(CheckpointError, match="state.json is not valid JSON"):
        read_checkpoint(tmp_path / "run" / "last")


def test_not_a_run_directory(tmp_path):
    with pytest.raises(CheckpointError, match="is not an rnnkit run directory"):
        read_run(tmp_path)
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        read_checkpoint(tmp_path / "last")


def test_a_kill_while_writing_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    model, _ = _train(tmp_path / "run", stop_at=3)
    before = read_checkpoint(tmp_path / "run" / "last")

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies half-way through writing the optimizer file

    monkeypatch.setattr(ckpt, "save_file", killed)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_checkpoint(tmp_path / "run" / "last", model, None, {"progress": {}}, {"x": torch.zeros(1)})
    monkeypatch.undo()
    after = read_checkpoint(tmp_path / "run" / "last")
    assert after.trainer["progress"] == before.trainer["progress"]
    for name in before.model:
        assert torch.equal(before.model[name], after.model[name])


def test_a_kill_between_the_renames_falls_back_to_the_previous_checkpoint(tmp_path):
    _train(tmp_path / "run", stop_at=3)
    last = tmp_path / "run" / "last"
    os.replace(last, tmp_path / "run" / ".last.old")  # the first rename happened, the second did not
    assert find_checkpoint(last) == tmp_path / "run" / ".last.old"
    assert read_checkpoint(last).trainer["progress"]["step"] == 3
    _train(tmp_path / "run", resume=True, model=_model())  # and the run resumes from it


def test_checkpoint_files_hold_no_pickles(tmp_path):
    _train(tmp_path / "run", stop_at=2)
    for path in (tmp_path / "run" / "last").iterdir():
        assert not path.read_bytes().startswith(b"\x80"), f"{path.name} looks like a pickle"


def test_tied_weights_round_trip(tmp_path):
    model = TokenModel(ToyConfig())
    model.out.weight = model.embed.weight  # weight tying, as language models do
    fit(model, token_streams(), TrainConfig(max_steps=2, progress=False, device="cpu"), loss_fn=LM_LOSS, run_dir=tmp_path / "run")
    fresh = TokenModel(ToyConfig())
    fresh.out.weight = fresh.embed.weight
    saved = read_checkpoint(tmp_path / "run" / "last")
    load_weights(fresh, saved.model, saved.path)
    assert torch.equal(fresh.out.weight, model.out.weight) and fresh.out.weight is fresh.embed.weight


def test_weights_in_one_flat_buffer_are_saved(tmp_path):
    """cuDNN keeps an RNN's weights as views of one buffer; saving must copy them apart."""
    model = TokenModel(ToyConfig())
    params = list(model.rnn.parameters())
    flat = torch.cat([p.detach().flatten() for p in params])
    offset = 0
    with torch.no_grad():
        for p in params:
            p.set_(flat[offset : offset + p.numel()].view_as(p))
            offset += p.numel()
    assert len({p.untyped_storage().data_ptr() for p in params}) == 1
    fit(model, token_streams(), TrainConfig(max_steps=2, progress=False, device="cpu"), loss_fn=LM_LOSS, run_dir=tmp_path / "run")
    saved = read_checkpoint(tmp_path / "run" / "last")
    for name, value in model.state_dict().items():
        assert torch.equal(saved.model[name], value), name
