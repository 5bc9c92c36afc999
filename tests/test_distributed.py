"""Two processes on CPU (gloo) under torchrun: training finishes, the processes stay in step, only
rank 0 writes the run, its checkpoint loads, and the run resumes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rnnkit.training import read_checkpoint, read_run

WORKER = Path(__file__).parent / "ddp_worker.py"


def _torchrun(run_dir, steps, *extra):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(WORKER), str(run_dir), str(steps), *extra]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads((run_dir / f"rank{r}.json").read_text()) for r in (0, 1)]


@pytest.mark.slow
def test_two_processes_train_resume_and_write_once(tmp_path):
    run_dir = tmp_path / "run"
    ranks = _torchrun(run_dir, 6)
    assert ranks[0]["steps"] == ranks[1]["steps"] == 6
    assert ranks[0]["checksum"] == ranks[1]["checksum"], "DDP keeps the processes' weights identical"
    saved = read_checkpoint(run_dir / "last")
    assert saved.trainer["progress"]["step"] == 6
    assert read_run(run_dir)["training"]["max_steps"] == 6
    steps_logged = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert len(steps_logged) == len(set((s, i) for i, s in enumerate(steps_logged)))
    assert steps_logged.count(2) == 1, "only rank 0 writes metrics"

    ranks = _torchrun(run_dir, 10, "resume")
    assert ranks[0]["steps"] == 10 and ranks[0]["checksum"] == ranks[1]["checksum"]
    assert read_checkpoint(run_dir / "last").trainer["progress"]["step"] == 10
