"""Training: the shared loop (full and truncated BPTT), losses, optimizers and schedules,
checkpoints with exact resume, metrics and plots, gradient-flow diagnostics, multi-process runs."""

from rnnkit.training.checkpoint import CheckpointError, find_checkpoint, load_weights, read_checkpoint
from rnnkit.training.config import TrainConfig
from rnnkit.training.diagnostics import gradient_flow
from rnnkit.training.evaluate import evaluate
from rnnkit.training.loop import History, StopTraining, fit
from rnnkit.training.losses import masked_cross_entropy, masked_mse, model_loss
from rnnkit.training.rundir import read_run

__all__ = [
    "CheckpointError", "History", "StopTraining", "TrainConfig", "evaluate", "find_checkpoint", "fit",
    "gradient_flow", "load_weights", "masked_cross_entropy", "masked_mse", "model_loss", "read_checkpoint",
    "read_run",
]
