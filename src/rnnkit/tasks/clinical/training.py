"""Clinical risk, training side: read records and outcomes, split stays (stratified, seeded, ids
saved), fit the statistics and the logistic-regression baseline on the training stays only, and
train GRU-D (or GRU-simple) with the shared loop, keeping the checkpoint of best validation AUROC."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from rnnkit.data.batches import PaddedBatches
from rnnkit.data.clinical import CATEGORICAL, ClinicalScaler, ClinicalSet, Representation, encode, summary_features
from rnnkit.data.records import PHYSIONET_STATIC, CleaningRules, Records, Stay, attach_static, read_labels, read_records
from rnnkit.models.clinical import ClinicalModel, ClinicalModelConfig
from rnnkit.models.logistic import LogisticRegression
from rnnkit.training.checkpoint import read_json
from rnnkit.training.config import TrainConfig
from rnnkit.training.distributed import resolve_device
from rnnkit.training.loop import fit
from rnnkit.training.risk import auroc, average_precision
from rnnkit.training.rundir import read_run, write_summary
from rnnkit.training.state import seed_everything

TASK = "clinical"
TRAIN_DEFAULTS = {"epochs": 40, "lr": 1e-3, "clip_norm": 5.0, "early_stopping": 10}


@dataclass(frozen=True)
class ClinicalDataConfig:
    """Where the label is, how records are cleaned and represented, and how stays are split.

    `representation` raw | grid (`bin_hours` over `window_hours`); the cleaning rules
    (`rnnkit.data.records.CleaningRules`): `edge`, `duplicates`, `missing_codes`, `ranges` (None:
    the documented defaults, {}: none), `static` names; `exclude` variables to leave out. Split:
    `val_fraction` and `test_fraction` of the stays, stratified by label with `split_seed`, or the
    id lists of `split` (a JSON file with "train", "val" and "test"). `pos_weight`: "none",
    "balanced" (negatives / positives of the training stays) or a number."""

    label: str = "In-hospital_death"
    representation: str = "raw"
    bin_hours: float = 1.0
    window_hours: float = 48.0
    edge: str = "keep"
    duplicates: str = "mean"
    missing_codes: tuple[float, ...] = (-1.0,)
    ranges: dict | None = None
    static: tuple[str, ...] = PHYSIONET_STATIC
    categorical: tuple[str, ...] = CATEGORICAL
    exclude: tuple[str, ...] = ()
    id_column: str | None = None
    time_unit: str = "hours"
    static_table: str | None = None
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    split_seed: int = 0
    split: str | None = None
    batch_size: int = 32
    pos_weight: str = "none"

    def __post_init__(self) -> None:
        for name in ("missing_codes", "static", "categorical", "exclude"):
            object.__setattr__(self, name, tuple(getattr(self, name)))  # lists when read back from JSON
        if not (0 <= self.val_fraction < 1 and 0 <= self.test_fraction < 1 and self.val_fraction + self.test_fraction < 1):
            raise ValueError(f"val_fraction and test_fraction must be in [0, 1) with a sum below 1; got "
                             f"{self.val_fraction} and {self.test_fraction}")
        if self.pos_weight not in ("none", "balanced"):
            try:
                float(self.pos_weight)
            except ValueError:
                raise ValueError(f"pos_weight must be none, balanced or a number; got {self.pos_weight!r}") from None
        self.rules()
        self.representation_config()

    def rules(self) -> CleaningRules:
        return CleaningRules(self.window_hours, self.edge, self.duplicates, self.missing_codes, self.ranges, self.static)

    def representation_config(self, hours: float | None = None) -> Representation:
        return Representation(self.representation, self.bin_hours, hours or self.window_hours)


@dataclass
class Cohort:
    """Stays with their labels (None when no outcomes were given)."""

    stays: list[Stay]
    labels: np.ndarray | None
    source: str


def load_cohort(records_path: str, outcomes: str | None, config: ClinicalDataConfig, report: bool = True) -> Cohort:
    records: Records = read_records(records_path, config.rules(), id_column=config.id_column, time_unit=config.time_unit)
    if config.static_table:
        attach_static(records, config.static_table)
    if config.exclude:
        kept = {n for stay in records.stays for n in stay.names} - set(config.exclude)
        records.stays = [stay.only(kept) for stay in records.stays]
    if report:
        records.report()
    ids = [s.id for s in records.stays]
    labels = None if outcomes is None else read_labels(outcomes, config.label, ids)
    return Cohort(records.stays, labels, str(records_path))


def stratified_split(labels: np.ndarray, val_fraction: float, test_fraction: float, seed: int) -> dict[str, list[int]]:
    """Row indices of train, val and test: each class shuffled with `seed` and cut in the same
    proportions."""
    rng = np.random.default_rng(seed)
    parts = {"train": [], "val": [], "test": []}
    for value in np.unique(labels):
        rows = np.flatnonzero(labels == value)
        rng.shuffle(rows)
        n_test, n_val = round(len(rows) * test_fraction), round(len(rows) * val_fraction)
        parts["test"] += rows[:n_test].tolist()
        parts["val"] += rows[n_test:n_test + n_val].tolist()
        parts["train"] += rows[n_test + n_val:].tolist()
    return {k: sorted(v) for k, v in parts.items()}


def split_ids(cohort: Cohort, config: ClinicalDataConfig) -> dict[str, list[str]]:
    ids = [s.id for s in cohort.stays]
    if config.split:
        given = json.loads(Path(config.split).read_text())
        known = set(ids)
        for part in ("train", "val", "test"):
            missing = [i for i in given.get(part, []) if str(i) not in known]
            if missing:
                raise ValueError(f"{config.split}: {part} ids not among the records: {missing[:5]}")
        if not given.get("train"):
            raise ValueError(f"{config.split}: no training ids; expected {{\"train\": [...], \"val\": [...], \"test\": [...]}}")
        return {part: [str(i) for i in given.get(part, [])] for part in ("train", "val", "test")}
    rows = stratified_split(cohort.labels, config.val_fraction, config.test_fraction, config.split_seed)
    return {part: [ids[r] for r in rows[part]] for part in rows}


def subset(cohort: Cohort, ids: list[str]) -> Cohort:
    where = {s.id: i for i, s in enumerate(cohort.stays)}
    rows = [where[i] for i in ids]
    labels = None if cohort.labels is None else cohort.labels[rows]
    return Cohort([cohort.stays[r] for r in rows], labels, cohort.source)


@dataclass
class Prepared:
    train: PaddedBatches
    val: ClinicalSet | None
    scaler: ClinicalScaler
    baseline: LogisticRegression
    split: dict[str, list[str]]
    pos_weight: float | None
    cohort: Cohort = field(repr=False)


def prepare(records_path: str, outcomes: str, config: ClinicalDataConfig, scaler: ClinicalScaler | None = None,
            split: dict | None = None) -> Prepared:
    cohort = load_cohort(records_path, outcomes, config)
    split = split or split_ids(cohort, config)
    train_part = subset(cohort, split["train"])
    if len(set(train_part.labels.tolist())) < 2:
        raise ValueError(f"{outcomes}: every training stay has {config.label} = {train_part.labels[0]:g}; need both outcomes")
    scaler = scaler or ClinicalScaler.fit(train_part.stays, config.categorical)
    if scaler.mask_only:
        print(f"rnnkit: {', '.join(scaler.mask_only)} take a single value in the training stays: only whether they "
              "were measured is used", file=sys.stderr)
    rep = config.representation_config()
    train_set = encode(train_part.stays, scaler, rep, train_part.labels, source=records_path)
    val_set = None
    if split["val"]:
        val_part = subset(cohort, split["val"])
        val_set = encode(val_part.stays, scaler, rep, val_part.labels, source=records_path)
    baseline = LogisticRegression.fit(summary_features(train_part.stays, scaler), torch.as_tensor(train_part.labels))
    positives = float(train_part.labels.sum())
    weight = {"none": None, "balanced": (len(train_part.labels) - positives) / positives}.get(config.pos_weight)
    if weight is None and config.pos_weight not in ("none", "balanced"):
        weight = float(config.pos_weight)
    batches = PaddedBatches(train_set.inputs, train_set.labels, config.batch_size)
    return Prepared(batches, val_set, scaler, baseline, split, weight, cohort)


def risk_loss(pos_weight: float | None):
    def loss_fn(model, batch, state):
        logits = model(batch.inputs, batch.lengths)
        weight = None if pos_weight is None else torch.tensor(pos_weight, device=logits.device)
        return F.binary_cross_entropy_with_logits(logits, batch.targets.float(), pos_weight=weight), None

    return loss_fn


@torch.no_grad()
def predict_set(model: ClinicalModel, data: ClinicalSet, device, batch_size: int = 256) -> np.ndarray:
    """Risk (probability) of each stay, in data order."""
    was_training = model.training
    model.eval()
    batches = PaddedBatches(data.inputs, torch.zeros(len(data.inputs)), batch_size, shuffle=False)
    try:
        risks = [torch.sigmoid(model(b.inputs.to(device), b.lengths.to(device))).cpu() for b in batches.batches(0, 0)]
    finally:
        model.train(was_training)
    return torch.cat(risks).double().numpy()


def validation_metrics(model: ClinicalModel, val: ClinicalSet, device) -> dict:
    risk = predict_set(model, val, device)
    y = val.labels.double().numpy()
    clipped = np.clip(risk, 1e-7, 1 - 1e-7)
    loss = float(-np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)))
    return {"loss": loss, "auroc": auroc(y, risk), "auprc": average_precision(y, risk)}


def train(records_path: str, outcomes: str, data_config: ClinicalDataConfig, model_overrides: dict,
          train_overrides: dict, out: Path) -> dict:
    """Train into the run directory `out`; score the held-out test stays (if any) at the end."""
    training = TrainConfig(**{**TRAIN_DEFAULTS, "monitor": "val_auroc", "monitor_mode": "max", **train_overrides})
    data = prepare(records_path, outcomes, data_config)
    config = ClinicalModelConfig(num_variables=len(data.scaler.variables), num_static=len(data.scaler.static_columns),
                                 **model_overrides)
    artifacts = {"clinical": {"data": asdict(data_config), "paths": {"records": str(records_path), "outcomes": str(outcomes)},
                              "pos_weight": data.pos_weight},
                 "split": data.split, "scaler": data.scaler.to_dict(), "baseline": data.baseline.to_dict()}
    seed_everything(training.seed)  # the initial weights follow --seed
    return _fit(ClinicalModel.from_config(config), data, training, out, artifacts=artifacts)


def resume(out: Path, overrides: dict) -> dict:
    run = read_run(out, TASK)
    saved = read_json(Path(out) / "clinical.json")
    config = ClinicalDataConfig(**saved["data"])
    training = TrainConfig.from_dict({**run["training"], **overrides})
    data = prepare(saved["paths"]["records"], saved["paths"]["outcomes"], config,
                   ClinicalScaler.from_dict(read_json(Path(out) / "scaler.json")), read_json(Path(out) / "split.json"))
    return _fit(ClinicalModel.from_config(ClinicalModelConfig(**run["model"]["config"])), data, training, out, resume=True)


def _fit(model: ClinicalModel, data: Prepared, training: TrainConfig, out: Path, **fit_args) -> dict:
    from rnnkit.tasks.clinical.scoring import evaluate_run, plot_decays

    device = resolve_device(training.device)
    evaluate_fn = None if data.val is None else (lambda m: validation_metrics(m, data.val, device))
    history = fit(model, data.train, training, loss_fn=risk_loss(data.pos_weight), run_dir=out, task=TASK,
                  evaluate_fn=evaluate_fn, **fit_args)
    summary = {"steps": history.steps, "stop_reason": history.stop_reason, "best": history.best, "monitor": training.monitor}
    if history.stop_reason == "interrupted":
        write_summary(out, summary)
        return summary
    if model.config.backbone == "grud":
        plot_decays(out)
    if data.split["test"]:
        saved = read_json(Path(out) / "clinical.json")["paths"]
        summary["test"] = evaluate_run(out, saved["records"], saved["outcomes"], split="test", device_name=training.device,
                                       cohort=data.cohort)
    write_summary(out, summary)
    return summary

