"""The shared training loop: `fit(model, train_data, config, loss_fn=...)`.

Full backpropagation through time for whole sequences (PaddedBatches) and truncated BPTT for streams
(StreamBatches: the state is carried across chunks, detached at each boundary and zeroed where a
sequence ends). Around it: clipping with statistics, schedules, a NaN/Inf guard, evaluation, early
stopping, checkpoints with exact resume, metrics, plots, and multi-process training under torchrun.

Determinism: with the same seed, a single-process CPU run is repeatable step for step, resumed or
not. `deterministic=True` also asks torch for deterministic kernels (it raises where one has none);
CUDA runs are otherwise not bit-for-bit repeatable, and multi-process runs restore rank 0's RNG
states on every rank when they resume.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from rnnkit.ops.state import detach_state
from rnnkit.training import checkpoint as ckpt
from rnnkit.training import distributed
from rnnkit.training.config import UNCAPPED, TrainConfig
from rnnkit.training.diagnostics import gradient_flow
from rnnkit.training.evaluate import carry_into, evaluate
from rnnkit.training.optim import build_optimizer, build_scheduler
from rnnkit.training.plots import plot_gradient_flow, plot_losses
from rnnkit.training.rundir import check_resumable, describe_run
from rnnkit.training.runlog import RunLog, read_metrics
from rnnkit.training.state import Progress, capture_rng, restore_rng, seed_everything, state_from_tensors, state_to_tensors


class StopTraining(Exception):
    """Raise from a callback to end training cleanly (a checkpoint is saved)."""


@dataclass
class History:
    """What a run did: every record it logged, each update's loss, and why it stopped."""

    records: list[dict] = field(default_factory=list)
    step_losses: list[float] = field(default_factory=list)
    stop_reason: str = "completed"
    steps: int = 0
    best: float | None = None
    best_step: int | None = None
    clip_fraction: float = 0.0

    def metric(self, split: str, key: str) -> list[float]:
        return [r[key] for r in self.records if r.get("split") == split and key in r]


@dataclass
class _Run:
    """Everything one call of fit works with."""

    model: nn.Module
    net: nn.Module  # the model, wrapped for DDP when several processes train
    data: object
    val_data: object
    loss_fn: Callable
    config: TrainConfig
    processes: distributed.Processes
    optimizer: torch.optim.Optimizer
    scheduler: object
    progress: Progress
    log: RunLog
    run_dir: Path | None
    history: History
    callbacks: Sequence[Callable]
    carried: object = None
    evaluate_fn: Callable | None = None
    last_eval_step: int = -1
    clock: float = field(default_factory=time.perf_counter)  # when progress.elapsed was last brought up to date
    saved_at: float = field(default_factory=time.perf_counter)  # when last/ was last written (or training began)
    window: dict = field(default_factory=lambda: _new_window())
    budget: dict = field(default_factory=lambda: {"spent": 0.0})  # fraction of max_minutes used, agreed by all processes


def _new_window() -> dict:
    """Sums over the updates since the last train record."""
    return {"loss": 0.0, "targets": 0, "tokens": 0, "norm": 0.0, "steps": 0, "clipped": 0, "start": time.perf_counter()}


def fit(
    model: nn.Module,
    train_data,
    config: TrainConfig,
    *,
    loss_fn: Callable,
    val_data=None,
    run_dir: str | Path | None = None,
    resume: bool = False,
    callbacks: Sequence[Callable[[dict], None]] = (),
    artifacts: dict[str, dict] | None = None,
    evaluate_fn: Callable[[nn.Module], dict] | None = None,
    task: str | None = None,
) -> History:
    """Train `model` on `train_data` (PaddedBatches or StreamBatches) and return its History.

    loss_fn(model, batch, state) -> (mean loss, new state). With `run_dir`, the run keeps run.json,
    metrics.jsonl, last/ and best/ checkpoints, plots/, and `artifacts` as NAME.json files (a
    vocabulary, a scaler); `resume=True` continues from run_dir/last exactly where it stopped.
    `callbacks` get each update's record and may raise StopTraining. `evaluate_fn(model) -> metrics`
    replaces the default validation (mean loss over val_data); `task` names the run in run.json.
    """
    processes = distributed.setup(config.device)
    seed_everything(config.seed + processes.rank)
    if config.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    model.to(processes.device)
    run_dir = Path(run_dir) if run_dir is not None else None
    total = _total_steps(config, len(train_data))
    optimizer = build_optimizer(model.parameters(), config)
    budget = {"spent": 0.0}
    scheduler = build_scheduler(optimizer, config, total, (lambda: budget["spent"]) if config.max_minutes else None)
    progress, carried = Progress(), None
    if resume:
        progress, carried = _restore(run_dir, model, optimizer, scheduler, config, processes)
        if config.max_minutes:
            budget["spent"] = distributed.largest(progress.elapsed / (60 * config.max_minutes), processes)
    elif run_dir is not None and processes.is_main:
        _start_run_dir(run_dir, model, config, artifacts, task)
    # a step total no budget reaches (a run the time budget ends) would show a meaningless ETA
    log = RunLog(run_dir, enabled=processes.is_main, tensorboard=config.tensorboard,
                 progress_total=None if config.max_minutes and total >= UNCAPPED else total,
                 show_progress=config.progress, start=progress.step)
    run = _Run(model, distributed.wrap(model, processes), train_data, val_data, loss_fn, config, processes,
               optimizer, scheduler, progress, log, run_dir, History(), callbacks, carried, evaluate_fn, budget=budget)
    try:
        try:
            _train(run, total)
        except KeyboardInterrupt:
            run.history.stop_reason = "interrupted"
            _save(run, "last")
            where = f"; resume with resume=True (or --resume {run_dir})" if run_dir else ""
            log.message(f"interrupted at step {progress.step}{where}")
        return _finish(run)
    finally:
        log.close()


def _total_steps(config: TrainConfig, per_epoch: int) -> int:
    if per_epoch == 0:
        raise ValueError("the training data has no batches")
    total = config.epochs * per_epoch
    return min(total, config.max_steps) if config.max_steps else total


def _train(run: _Run, total: int) -> None:
    config, progress = run.config, run.progress
    while progress.step < total and progress.epoch < config.epochs:
        batches = run.data.batches(progress.epoch, config.seed, start=progress.batch,
                                   rank=run.processes.rank, world_size=run.processes.world_size)
        for batch in batches:
            counts = (batch.num_targets, batch.num_tokens)  # read on the host, before the batch moves
            if not _step(run, batch.to(run.processes.device), *counts):
                return
            if progress.step >= total:
                break
        else:
            progress.epoch, progress.batch, run.carried = progress.epoch + 1, 0, None
            if config.eval_every is None and not _evaluate(run):
                return
    if run.history.stop_reason == "completed" and config.max_steps and progress.step >= config.max_steps:
        run.history.stop_reason = "max_steps"


def _step(run: _Run, batch, targets: int, tokens: int) -> bool:
    """One update; False when training must stop."""
    config, progress = run.config, run.progress
    run.optimizer.zero_grad(set_to_none=True)
    loss, state = run.loss_fn(run.net, batch, carry_into(batch, run.carried))
    loss.backward()
    params = [p for p in run.model.parameters() if p.grad is not None]
    norm = _total_norm([p.grad for p in params], loss.device)  # before clipping
    value, norm = torch.stack([loss.detach().float(), norm.float()]).tolist()  # the step's one device sync
    finite = distributed.all_ranks_agree(math.isfinite(value) and math.isfinite(norm), run.processes)
    progress.batch += 1
    if not finite:
        return _bad_step(run, value)
    _clip(run, params, norm)
    run.optimizer.step()
    if run.scheduler is not None and config.schedule != "plateau":
        run.scheduler.step()
    progress.step += 1
    progress.bad_steps = 0
    run.carried = detach_state(state) if batch.reset is not None else None
    run.history.step_losses.append(value)
    _accumulate(run, value, norm, targets, tokens)
    record = {"step": progress.step, "epoch": progress.epoch, "loss": value, "grad_norm": norm}
    for callback in run.callbacks:
        try:
            callback(record)
        except StopTraining:
            run.history.stop_reason = "stopped by callback"
            _save(run, "last")
            return False
    if progress.step % config.log_every == 0:
        _log_window(run)
    if config.eval_every and progress.step % config.eval_every == 0 and not _evaluate(run):
        return False
    if config.max_minutes:
        run.budget["spent"] = distributed.largest(_elapsed(run) / (60 * config.max_minutes), run.processes)
        if run.budget["spent"] >= 1:
            run.history.stop_reason = "time budget"
            return False
    if config.checkpoint_every and progress.step % config.checkpoint_every == 0:
        _save(run, "last")
    elif config.checkpoint_minutes and time.perf_counter() - run.saved_at >= 60 * config.checkpoint_minutes:
        _save(run, "last")
    return True


def _clip(run: _Run, params: list[nn.Parameter], norm: float) -> None:
    """Clip by global norm (given, computed before clipping) and/or by value, as configured."""
    limit = run.config.clip_norm
    if limit is not None and norm > limit:
        scale = limit / (norm + 1e-6)
        for p in params:
            p.grad.mul_(scale)
        run.progress.clipped_steps += 1
        run.window["clipped"] += 1
    if run.config.clip_value is not None:
        nn.utils.clip_grad_value_(params, run.config.clip_value)


def _total_norm(grads: list[torch.Tensor], device) -> torch.Tensor:
    if not grads:
        return torch.zeros((), device=device)
    if hasattr(nn.utils, "get_total_norm"):  # torch >= 2.6
        return nn.utils.get_total_norm(grads)
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))


def _bad_step(run: _Run, loss: float) -> bool:
    run.progress.bad_steps += 1
    run.carried = None
    run.history.step_losses.append(loss)
    warnings.warn(f"step {run.progress.step + 1}: non-finite loss or gradient ({loss}); the update was skipped", RuntimeWarning, stacklevel=2)
    if run.progress.bad_steps >= run.config.max_bad_steps:
        run.history.stop_reason = "non-finite loss"
        run.log.message(f"stopped: {run.progress.bad_steps} non-finite steps in a row; the last good checkpoint is kept")
        return False
    return True


def _accumulate(run: _Run, loss: float, norm: float, targets: int, tokens: int) -> None:
    w = run.window
    w["loss"] += loss * targets
    w["targets"] += targets
    w["tokens"] += tokens
    w["norm"] += norm
    w["steps"] += 1
    if run.log.bar is not None:
        lr = run.optimizer.param_groups[0]["lr"]
        rate = w["tokens"] * run.processes.world_size / max(time.perf_counter() - w["start"], 1e-9)
        run.log.advance({"loss": f"{loss:.4f}", "lr": f"{lr:.2e}", "tok/s": f"{rate:,.0f}"})


def _elapsed(run: _Run) -> float:
    now = time.perf_counter()
    run.progress.elapsed += now - run.clock
    run.clock = now
    return round(run.progress.elapsed, 3)


def _log_window(run: _Run) -> None:
    w = run.window
    if w["steps"] == 0:
        return
    elapsed = max(time.perf_counter() - w["start"], 1e-9)
    record = {
        "step": run.progress.step, "epoch": run.progress.epoch, "split": "train",
        "loss": w["loss"] / max(w["targets"], 1), "lr": run.optimizer.param_groups[0]["lr"],
        "grad_norm": w["norm"] / w["steps"], "clip_rate": w["clipped"] / w["steps"],
        "tokens_per_s": w["tokens"] * run.processes.world_size / elapsed, "elapsed_s": _elapsed(run),
    }
    run.log.record(record)
    run.history.records.append(record)
    run.window = _new_window()


def _evaluate(run: _Run) -> bool:
    """Validate, keep best/, step the plateau schedule, decide early stopping; False to stop. The
    next training window starts after it, so its throughput does not count validation or saving."""
    _log_window(run)
    try:
        return _validate(run)
    finally:
        run.window["start"] = time.perf_counter()


def _validate(run: _Run) -> bool:
    config, progress = run.config, run.progress
    run.last_eval_step = progress.step
    if run.val_data is None and run.evaluate_fn is None:
        _save(run, "last")
        return True
    if run.evaluate_fn is not None:
        metrics = run.evaluate_fn(run.model)
    else:
        metrics = evaluate(run.model, run.val_data, run.loss_fn, run.processes.device, seed=config.seed)
    record = {"step": progress.step, "epoch": progress.epoch, "split": "val", **metrics, "elapsed_s": _elapsed(run)}
    run.log.record(record)
    run.history.records.append(record)
    key = config.monitor.removeprefix("val_")
    if key not in metrics:
        raise ValueError(f"monitor {config.monitor!r} is not among the validation metrics {sorted(metrics)}")
    value = metrics[key]
    if config.schedule == "plateau":
        run.scheduler.step(value)
    better = progress.best is None or (value < progress.best if config.monitor_mode == "min" else value > progress.best)
    if better:
        progress.best, progress.best_step, progress.bad_evals = value, progress.step, 0
        _save(run, "best")
    else:
        progress.bad_evals += 1
    _save(run, "last")
    if config.early_stopping and progress.bad_evals >= config.early_stopping:
        run.history.stop_reason = "early_stopping"
        run.log.message(f"early stopping at step {progress.step}: no better {config.monitor} in {progress.bad_evals} evaluations")
        return False
    return True


def _save(run: _Run, name: str) -> None:
    if run.run_dir is None or not run.processes.is_main:
        return
    _elapsed(run)
    rng_plain, rng_tensors = capture_rng()
    spec, carried = state_to_tensors(run.carried)
    trainer = {"progress": run.progress.to_dict(), "rng": rng_plain, "carried": spec,
               "scheduler": run.scheduler.state_dict() if run.scheduler is not None else None,
               "config": run.config.to_dict()}
    ckpt.save_checkpoint(run.run_dir / name, run.model, run.optimizer, trainer, {**rng_tensors, **carried})
    if name == "last":
        run.saved_at = time.perf_counter()


def _start_run_dir(run_dir: Path, model: nn.Module, config: TrainConfig, artifacts: dict | None, task: str | None) -> None:
    if ckpt.find_checkpoint(run_dir / "last") is not None:
        raise ValueError(f"{run_dir} already holds a run; resume it (resume=True, --resume) or choose another directory")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.jsonl").unlink(missing_ok=True)
    ckpt.write_json(run_dir / "run.json", describe_run(model, config, task))
    for name, value in (artifacts or {}).items():
        ckpt.write_json(run_dir / f"{name}.json", value)


def _restore(run_dir, model, optimizer, scheduler, config, processes):
    if run_dir is None:
        raise ValueError("resume=True needs the run_dir of the run to continue")
    check_resumable(run_dir, model, config)
    saved = ckpt.read_checkpoint(run_dir / "last")
    ckpt.load_weights(model, saved.model, saved.path)
    optimizer.load_state_dict(saved.optimizer)
    if scheduler is not None and saved.trainer["scheduler"] is not None:
        scheduler.load_state_dict(saved.trainer["scheduler"])
    restore_rng(saved.trainer["rng"], saved.trainer_tensors)
    carried = state_from_tensors(saved.trainer["carried"], saved.trainer_tensors, processes.device)
    return Progress(**saved.trainer["progress"]), carried


def _finish(run: _Run) -> History:
    history, progress = run.history, run.progress
    if history.stop_reason in ("completed", "max_steps", "time budget") and run.last_eval_step != progress.step:
        _evaluate(run)  # the final state is evaluated and saved
    history.steps, history.best, history.best_step = progress.step, progress.best, progress.best_step
    history.clip_fraction = progress.clipped_steps / max(progress.step, 1)
    if run.processes.is_main and run.run_dir is not None:
        plot_losses(read_metrics(run.run_dir), run.run_dir / "plots" / "loss.png")
        if run.config.grad_flow:
            _grad_flow_plot(run)
    return history


def _grad_flow_plot(run: _Run) -> None:
    source = run.val_data if run.val_data is not None else run.data
    batch = next(iter(source.batches(epoch=0, seed=run.config.seed))).to(run.processes.device)
    norms = gradient_flow(run.model, run.loss_fn, batch)
    record = {"step": run.progress.step, "epoch": run.progress.epoch, "split": "grad_flow", "norms": norms}
    run.log.record(record)
    run.history.records.append(record)
    plot_gradient_flow(norms, run.run_dir / "plots" / "grad_flow.png")
