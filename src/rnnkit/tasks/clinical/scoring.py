"""Clinical risk, using a run: load it, score labelled stays (the model beside its logistic-
regression baseline; AUROC, AUPRC, Brier, ECE, sensitivity and specificity; a reliability plot),
early prediction from the first K hours, each stay's risk (or its risk after every step), and the
learned input decays."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rnnkit.data.clinical import ClinicalScaler, encode, summary_features
from rnnkit.data.records import Stay
from rnnkit.models.clinical import ClinicalModel, ClinicalModelConfig
from rnnkit.models.logistic import LogisticRegression
from rnnkit.tasks.clinical.training import TASK, ClinicalDataConfig, Cohort, load_cohort, predict_set, subset
from rnnkit.training.checkpoint import read_json
from rnnkit.training.distributed import resolve_device
from rnnkit.training.plots import plot_decays as draw_decays
from rnnkit.training.plots import plot_reliability
from rnnkit.training.risk import reliability, risk_metrics
from rnnkit.training.rundir import load_trained_weights, read_run

SPLITS = ("auto", "all", "train", "val", "test")


@dataclass
class ClinicalRun:
    """What a run directory holds for scoring."""

    path: Path
    model: ClinicalModel
    scaler: ClinicalScaler
    baseline: LogisticRegression
    config: ClinicalDataConfig
    split: dict[str, list[str]]
    records: str

    @classmethod
    def load(cls, run_dir: Path, device="cpu") -> ClinicalRun:
        run_dir = Path(run_dir)
        run = read_run(run_dir, TASK)
        model = ClinicalModel.from_config(ClinicalModelConfig(**run["model"]["config"]))
        load_trained_weights(run_dir, model)
        saved = read_json(run_dir / "clinical.json")
        return cls(run_dir, model.to(device).eval(), ClinicalScaler.from_dict(read_json(run_dir / "scaler.json")),
                   LogisticRegression.from_dict(read_json(run_dir / "baseline.json")), ClinicalDataConfig(**saved["data"]),
                   read_json(run_dir / "split.json"), saved["paths"]["records"])


def choose_stays(run: ClinicalRun, cohort: Cohort, records_path: str, split: str) -> tuple[Cohort, str]:
    """The stays to score: a part of the run's split, or all. "auto" scores the held-out test stays
    when the records hold any of the run's training stays (found by id), and every stay otherwise."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}; got {split!r}")
    ids = {s.id for s in cohort.stays}
    if split == "auto":
        if not ids & set(run.split["train"]):
            return cohort, "all"
        if not run.split["test"]:
            raise ValueError(f"{records_path} holds the run's training stays and the run kept no test stays; "
                             "pass --split val or --split all to score them anyway")
        split = "test"
    if split == "all":
        return cohort, split
    missing = [i for i in run.split[split] if i not in ids]
    if missing:
        raise ValueError(f"--split {split} names stays of the run's records ({run.records}); {len(missing)} of them are not in "
                         f"{records_path}, e.g. {missing[:3]}")
    return subset(cohort, run.split[split]), split


def evaluate_run(run_dir: Path | ClinicalRun, records_path: str, outcomes: str, *, split: str = "auto", hours: float | None = None,
                 threshold: float = 0.5, device_name: str = "auto", cohort: Cohort | None = None,
                 ignore_unknown: bool = False, plot: bool = True) -> dict:
    """The model's and the baseline's risk metrics on labelled stays; with `hours`, from only the
    observations of the first `hours` (early prediction). `run_dir` may be a loaded run (scoring
    several horizons reads it once)."""
    device = resolve_device(device_name)
    run = run_dir if isinstance(run_dir, ClinicalRun) else ClinicalRun.load(run_dir, device)
    run.model.to(device)
    cohort = cohort or load_cohort(records_path, outcomes, run.config)
    if cohort.labels is None:
        raise ValueError("scoring needs outcomes (--outcomes FILE)")
    chosen, split = choose_stays(run, cohort, records_path, split)
    stays = [s.until(hours) for s in chosen.stays] if hours is not None else chosen.stays
    data = encode(stays, run.scaler, run.config.representation_config(hours), chosen.labels,
                  "ignore" if ignore_unknown else "error", records_path)
    y = chosen.labels
    risk = predict_set(run.model, data, device)
    baseline = run.baseline.predict(summary_features(stays, run.scaler)).double().numpy()
    result = {**risk_metrics(y, risk, threshold), "split": split, "hours": hours if hours is not None else run.config.window_hours,
              "backbone": run.model.config.backbone,
              "baselines": {"logistic_regression": risk_metrics(y, baseline, threshold)}}
    if plot:
        name = f"reliability-{split}" + (f"-{hours:g}h" if hours is not None else "") + ".png"
        plot_reliability({run.model.config.backbone: reliability(y, risk), "logistic regression": reliability(y, baseline)},
                         run.path / "plots" / name, f"{len(y)} stays ({split})")
    return result


def predict(run_dir: Path, records_path: str, *, over_time: bool = False, split: str = "all", device_name: str = "auto",
            ignore_unknown: bool = False) -> list[dict]:
    """Each stay's risk ({"id", "risk"}), or with `over_time` its risk after every step ({"id",
    "hours", "risk", "observed"}: time of the step, risk then, values observed at it)."""
    device = resolve_device(device_name)
    run = ClinicalRun.load(run_dir, device)
    cohort = load_cohort(records_path, None, run.config)
    chosen, _ = choose_stays(run, cohort, records_path, split)
    data = encode(chosen.stays, run.scaler, run.config.representation_config(), None,
                  "ignore" if ignore_unknown else "error", records_path)
    if not over_time:
        return [{"id": i, "risk": float(r)} for i, r in zip(data.ids, predict_set(run.model, data, device))]
    rows = []
    with torch.no_grad():
        for i, (stay_id, inputs, times) in enumerate(zip(data.ids, data.inputs, data.times)):
            risks = torch.sigmoid(run.model.step_logits(inputs[None].to(device)))[0].cpu()
            observed = data.parts(i)["mask"].sum(1)
            rows += [{"id": stay_id, "hours": float(t), "risk": float(r), "observed": int(o)}
                     for t, r, o in zip(times, risks, observed)]
    return rows


def decay_curves(model: ClinicalModel, variables: list[str], hours: np.ndarray) -> dict[str, list[float]]:
    cell = model.rnn.cell
    with torch.no_grad():
        delta = torch.as_tensor(hours, dtype=torch.float32).unsqueeze(1).expand(-1, len(variables))
        gamma = cell.input_decay(delta.to(cell.decay_input_weight.device)).cpu()  # (len(hours), D)
    return {name: gamma[:, d].tolist() for d, name in enumerate(variables)}


def plot_decays(run_dir: Path) -> Path | None:
    """RUN_DIR/plots/input_decay.png for a GRU-D run (None for other backbones)."""
    run = ClinicalRun.load(run_dir)
    if run.model.config.backbone != "grud":
        return None
    hours = np.linspace(0, 24, 97)
    path = draw_decays(hours, decay_curves(run.model, run.scaler.variables, hours), run.path / "plots" / "input_decay.png")
    print(f"rnnkit: learned input decays plotted in {path}", file=sys.stderr)
    return path


class RiskMonitor:
    """Risk of one stay, updated as each observation time arrives: O(1) work per update, the GRU-D
    state (and each variable's last value and time since observation) carried between calls.

        monitor = RiskMonitor(ClinicalRun.load("runs/ward"), static={"Age": 71, "ICUType": 2})
        monitor.push(0.5, {"HR": 96, "MAP": 70})  # -> risk after this observation time

    It follows the raw-time representation (`predict --over-time` of a raw-time run gives the same
    risks) and needs a GRU-D run: GRU-simple fills values across the whole stay at once."""

    def __init__(self, run: ClinicalRun, static: dict[str, float] | None = None) -> None:
        if run.model.config.backbone != "grud" or run.config.representation != "raw":
            raise ValueError("RiskMonitor follows GRU-D runs on raw observation times; use predict --over-time for others")
        self.run, self.model = run, run.model
        stay = Stay("monitor", np.zeros(0), [], np.zeros(0), {k: float(v) for k, v in (static or {}).items()})
        self.static = run.scaler.encode_static(stay)
        self.index = {n: i for i, n in enumerate(run.scaler.variables)}
        d = len(self.index)
        self.delta, self.mask, self.time, self.state = torch.zeros(d), torch.zeros(d), None, None

    @torch.no_grad()
    def push(self, hours: float, observed: dict[str, float]) -> float:
        """Add the values observed at `hours` (later than the previous call's); return the risk."""
        unknown = sorted(set(observed) - set(self.index))
        if unknown:
            raise ValueError(f"variables the model was not trained on: {unknown}")
        if self.time is not None and not hours > self.time:
            raise ValueError(f"observation times must increase; got {hours} after {self.time}")
        scaler, d = self.run.scaler, len(self.index)
        values, mask = torch.zeros(d), torch.zeros(d)
        for name, value in observed.items():
            i = self.index[name]
            values[i], mask[i] = (value - scaler.mean[i]) / scaler.std[i], 1.0
        if self.time is not None:
            self.delta = (hours - self.time) + (1 - self.mask) * self.delta
        self.time, self.mask = hours, mask
        inputs = torch.cat([values, mask, self.delta, self.static])[None, None].to(next(self.model.parameters()).device)
        hidden, self.state = self.model.states(inputs, state=self.state)
        return float(torch.sigmoid(self.model.head_logits(hidden, self.model.split(inputs)[3]))[0, 0])
