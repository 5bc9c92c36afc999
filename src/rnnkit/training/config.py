"""The one configuration of a training run, a frozen dataclass saved as JSON in every run directory."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine", "plateau")


UNCAPPED = 10**9  # epochs or max_steps this large: no cap, training ends by its time budget (max_minutes)


@dataclass(frozen=True)
class TrainConfig:
    """How to train. Steps count optimizer updates; evaluations happen every `eval_every` steps, or at
    the end of each epoch when it is None.

    Optimizer: `optimizer` in sgd | adam | adamw with `lr`, `weight_decay`, `momentum` and `nesterov`
    (SGD), `betas` (Adam/AdamW). Schedule: constant | step (x `gamma` every `step_size` steps) |
    cosine (to `min_lr` over the run) | plateau (x `gamma` after `plateau_patience` evaluations
    without improvement), each after `warmup_steps` of linear warm-up (not for plateau).
    Clipping: by global norm (`clip_norm`) and/or by value (`clip_value`).
    Time budget: `max_minutes` stops training once that much training time (validation included, summed
    over resumes) has passed; a cosine schedule then follows whichever runs out first, the steps or the
    time, so it still decays to `min_lr` when the budget ends the run.
    Checkpoints: `last/` is written at every evaluation, every `checkpoint_every` steps, and whenever
    `checkpoint_minutes` have passed since it was last written (None: never by time), so a killed run
    loses at most that much work even between evaluations.
    """

    epochs: int = 1
    max_steps: int | None = None
    max_minutes: float | None = None
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    momentum: float = 0.0
    nesterov: bool = False
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: str = "constant"
    warmup_steps: int = 0
    step_size: int = 1000
    gamma: float = 0.5
    min_lr: float = 0.0
    plateau_patience: int = 2
    clip_norm: float | None = None
    clip_value: float | None = None
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"
    log_every: int = 10
    eval_every: int | None = None
    checkpoint_every: int | None = None
    checkpoint_minutes: float | None = 10.0
    monitor: str = "val_loss"
    monitor_mode: str = "min"
    early_stopping: int | None = None
    max_bad_steps: int = 5
    grad_flow: bool = False
    progress: bool = True
    tensorboard: bool = False

    def __post_init__(self) -> None:
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("monitor_mode", self.monitor_mode, ("min", "max"))
        _choice("device", self.device, ("auto", "cpu", "cuda"), prefix_ok=True)
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1; got {self.epochs}")
        for name in ("max_steps", "eval_every", "checkpoint_every", "early_stopping"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1 (or None); got {value}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ValueError(f"max_minutes must be positive (or None for no time budget); got {self.max_minutes}")
        if self.checkpoint_minutes is not None and not self.checkpoint_minutes > 0:
            raise ValueError(f"checkpoint_minutes must be positive (or None for no time-based checkpoints); got {self.checkpoint_minutes}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive; got {self.lr}")
        for name in ("clip_norm", "clip_value"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive (or None to turn it off); got {value}")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum <= 0):
            raise ValueError("nesterov=True needs optimizer='sgd' with momentum > 0")
        if self.log_every < 1 or self.max_bad_steps < 1:
            raise ValueError("log_every and max_bad_steps must be at least 1")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training settings {unknown}; known: {sorted(known)}")
        if "betas" in values:
            values = {**values, "betas": tuple(values["betas"])}
        return cls(**values)


def _choice(name: str, value: str, options: tuple[str, ...], prefix_ok: bool = False) -> None:
    if value in options or (prefix_ok and value.startswith("cuda:")):
        return
    raise ValueError(f"{name} must be one of {options}; got {value!r}")
