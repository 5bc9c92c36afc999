"""Time-based checkpoints: a run killed with SIGKILL (no chance to save) after its last time-based
checkpoint resumes from that checkpoint, mid-epoch and with the carried truncated-BPTT state, and
ends with exactly the weights of a run that was never interrupted."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rnnkit.training import TrainConfig, fit, masked_cross_entropy, model_loss
from toy import TokenModel, ToyConfig, token_streams

TESTS = Path(__file__).resolve().parent
CONFIG = dict(epochs=2, checkpoint_minutes=0.25 / 60, progress=False, log_every=1, device="cpu")
CHILD = """
import os, signal, sys, time
sys.path.insert(0, {tests!r})
import torch
from rnnkit.training import TrainConfig, fit, masked_cross_entropy, model_loss
from toy import TokenModel, ToyConfig, token_streams

def callback(record):
    if record["step"] == 4:
        time.sleep(0.4)  # past checkpoint_minutes: the time-based checkpoint follows this step
    if record["step"] == 7:
        os.kill(os.getpid(), signal.SIGKILL)

torch.manual_seed(0)
fit(TokenModel(ToyConfig()), token_streams(bptt=2), TrainConfig(**{config!r}), loss_fn=model_loss(masked_cross_entropy),
    run_dir={run!r}, callbacks=[callback])
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_killed_run_resumes_from_its_time_based_checkpoint_exactly(tmp_path):
    assert len(token_streams(bptt=2)) > 7  # the kill comes mid-epoch, before any end-of-epoch checkpoint
    run = tmp_path / "run"
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(tests=str(TESTS), config=CONFIG, run=str(run)))
    child = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                           env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    saved = json.loads((run / "last" / "state.json").read_text())["trainer"]["progress"]
    assert 4 <= saved["step"] < 7 and saved["batch"] == saved["step"]  # written by time, mid-epoch, before the kill
    loss = model_loss(masked_cross_entropy)
    resumed_model = TokenModel(ToyConfig())
    resumed = fit(resumed_model, token_streams(bptt=2), TrainConfig(**CONFIG), loss_fn=loss, run_dir=run, resume=True)
    torch.manual_seed(0)
    whole_model = TokenModel(ToyConfig())
    whole = fit(whole_model, token_streams(bptt=2), TrainConfig(**CONFIG), loss_fn=loss, run_dir=tmp_path / "whole")
    assert resumed.steps == whole.steps == 2 * len(token_streams(bptt=2))
    for (name, a), b in zip(resumed_model.state_dict().items(), whole_model.state_dict().values()):
        assert torch.equal(a, b), name


def test_checkpoint_minutes_is_checked():
    with pytest.raises(ValueError, match="checkpoint_minutes must be positive"):
        TrainConfig(checkpoint_minutes=0)
    assert TrainConfig().checkpoint_minutes == 10.0 and TrainConfig(checkpoint_minutes=None).checkpoint_minutes is None
