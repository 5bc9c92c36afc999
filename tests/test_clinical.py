"""Clinical risk models and `rnnkit clinical` end to end on the generated ward: the risk after the
last step equals the whole-stay prediction, padding changes nothing, GRU-D learns a rule that
needs the mask and the time since observation; train -> evaluate (JSON, early hours) -> predict
(also over time) -> resume; bad inputs are clear errors."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
import torch

from rnnkit.cli import main
from rnnkit.data.batches import PaddedBatches
from rnnkit.models.clinical import ClinicalModel, ClinicalModelConfig
from rnnkit.ops.fill import time_since_observed
from rnnkit.tasks.clinical.training import risk_loss
from rnnkit.training import TrainConfig, fit


@pytest.mark.parametrize("backbone, static", [("grud", "head"), ("grud", "init"), ("simple", "head"), ("simple", "init"), ("grud", "none")])
def test_the_last_risk_over_time_is_the_whole_stay_prediction(backbone, static):
    torch.manual_seed(0)
    model = ClinicalModel(ClinicalModelConfig(num_variables=3, num_static=2, hidden_size=8, backbone=backbone, static=static)).eval()
    inputs, lengths = torch.randn(4, 6, 11), torch.tensor([6, 3, 1, 5])
    inputs[..., 3:6] = (inputs[..., 3:6] > 0).float()
    inputs[..., 6:9] = inputs[..., 6:9].abs()
    inputs[..., 9:] = inputs[:, :1, 9:]
    logits, over_time = model(inputs, lengths), model.step_logits(inputs, lengths)
    assert torch.allclose(logits, over_time[torch.arange(4), lengths - 1], atol=1e-6)
    padded = torch.cat([inputs, torch.randn(4, 3, 11)], dim=1)
    assert torch.allclose(model(padded, lengths), logits, atol=1e-6)


def test_the_head_norm_uses_batch_statistics_while_training_and_running_ones_after():
    torch.manual_seed(0)
    model = ClinicalModel(ClinicalModelConfig(num_variables=3, num_static=2, hidden_size=8, head_norm=True))
    inputs, lengths = torch.randn(6, 5, 11), torch.tensor([5, 4, 3, 5, 2, 1])
    inputs[..., 3:6] = (inputs[..., 3:6] > 0).float()
    inputs[..., 6:9] = inputs[..., 6:9].abs()
    norm = model.head_norm
    assert norm.num_features == 10  # the hidden state and the two descriptors beside it
    model.train()
    model(inputs, lengths).sum().backward()
    assert int(norm.num_batches_tracked) == 1 and not torch.equal(norm.running_mean, torch.zeros(10))
    assert norm.weight.grad is not None
    running = norm.running_mean.clone()
    model(inputs[:1], lengths[:1])  # one row has no batch statistics: the running ones are used, not updated
    assert torch.equal(norm.running_mean, running) and int(norm.num_batches_tracked) == 1
    model.eval()
    logits, over_time = model(inputs, lengths), model.step_logits(inputs, lengths)
    assert torch.allclose(logits, over_time[torch.arange(6), lengths - 1], atol=1e-6)
    assert torch.allclose(model(inputs[2:3], lengths[2:3]), logits[2:3], atol=1e-6)  # rows independent in evaluation
    assert torch.equal(norm.running_mean, running)


def test_grud_learns_a_rule_carried_by_the_mask_and_the_time_since_observation():
    # label 1: variable 0 was observed within the last 2 hours of the stay; its values are noise
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    inputs, labels = [], []
    for _ in range(160):
        steps = 8
        mask = (torch.rand(steps, 2, generator=g) < 0.3).float()
        times = torch.arange(steps, dtype=torch.float32)
        delta = time_since_observed(times[None], mask[None])[0]
        since = delta[-1, 0] + times[-1] - times[-2] if mask[-1, 0] == 0 else torch.tensor(0.0)
        labels.append(float(mask[-1, 0] == 1 or since <= 2))
        inputs.append(torch.cat([torch.randn(steps, 2, generator=g) * mask, mask, delta], dim=1))
    data = PaddedBatches(inputs, torch.tensor(labels), batch_size=16)
    model = ClinicalModel(ClinicalModelConfig(num_variables=2, hidden_size=16, dropout=0, recurrent_dropout=0, head_dropout=0))
    fit(model, data, TrainConfig(epochs=40, lr=1e-2, progress=False), loss_fn=risk_loss(None))
    with torch.no_grad():
        predicted = torch.sigmoid(model(torch.stack(inputs))) > 0.5
    assert (predicted.float() == torch.tensor(labels)).float().mean() > 0.9


@pytest.fixture(scope="module")
def ward(tmp_path_factory):
    root = tmp_path_factory.mktemp("clinical")
    assert main(["clinical", "example", str(root / "ward"), "--stays", "120"]) == 0
    return root


def records(ward):
    return ["--records", str(ward / "ward" / "records")]


@pytest.fixture(scope="module")
def run(ward):
    out = ward / "run"
    assert main(["clinical", "train", *records(ward), "--outcomes", str(ward / "ward" / "outcomes.csv"), "--label", "died",
                 "--val-fraction", "0.2", "--test-fraction", "0.2", "--hidden-size", "8", "--epochs", "2", "--no-progress",
                 "--out", str(out)]) == 0
    return out


def test_train_writes_a_complete_run(run):
    config = json.loads((run / "run.json").read_text())
    assert config["task"] == "clinical" and config["training"]["monitor"] == "val_auroc"
    for name in ("clinical.json", "scaler.json", "split.json", "baseline.json", "best/model.safetensors", "plots/input_decay.png",
                 "plots/reliability-test.png"):
        assert (run / name).is_file(), name
    split = json.loads((run / "split.json").read_text())
    assert len(split["test"]) == 24 and not set(split["test"]) & set(split["train"])


def test_evaluate_json_scores_the_held_out_stays_beside_the_baseline(run, ward, capsys):
    capsys.readouterr()
    assert main(["clinical", "evaluate", str(run), *records(ward), "--outcomes", str(ward / "ward" / "outcomes.csv"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"auroc", "auprc", "brier", "ece", "sensitivity", "specificity"} <= set(result)
    assert result["split"] == "test" and result["count"] == 24
    assert {"auroc", "auprc", "brier", "ece"} <= set(result["baselines"]["logistic_regression"])
    assert main(["clinical", "evaluate", str(run), *records(ward), "--outcomes", str(ward / "ward" / "outcomes.csv"),
                 "--hours", "6", "24", "--json"]) == 0
    curve = json.loads(capsys.readouterr().out)["by_hours"]
    assert [r["hours"] for r in curve] == [6, 24] and (run / "plots" / "early_prediction.png").is_file()


def test_predict_over_time_ends_at_the_whole_stay_risk(run, ward, capsys):
    capsys.readouterr()
    assert main(["clinical", "predict", str(run), *records(ward)]) == 0
    final = {row["id"]: float(row["risk"]) for row in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    plot = ward / "risk.png"
    assert main(["clinical", "predict", str(run), *records(ward), "--over-time", "--plot", str(plot), "--plot-stays", "3"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    last = {}
    for row in rows:
        last[row["id"]] = float(row["risk"])
    assert len(final) == 120 and last.keys() == final.keys()
    assert all(abs(last[i] - final[i]) < 1e-5 for i in final) and plot.is_file()


def test_resume_continues_the_run(run, ward, capsys):
    steps_per_epoch = 3  # 72 training stays in batches of 32
    capsys.readouterr()
    assert main(["clinical", "train", "--resume", str(run), "--epochs", "3", "--no-progress"]) == 0
    assert capsys.readouterr().out.startswith(f"{3 * steps_per_epoch} steps (completed)")


def test_bad_inputs_are_clear_errors(run, ward, tmp_path, capsys):
    outcomes = tmp_path / "outcomes.csv"
    outcomes.write_text("RecordID,died\n100000,1\n")
    capsys.readouterr()
    assert main(["clinical", "train", *records(ward), "--outcomes", str(outcomes), "--label", "died", "--out", str(tmp_path / "r")]) == 1
    assert "have no row in the outcomes" in capsys.readouterr().err
    other = tmp_path / "other"
    other.mkdir()
    (other / "1.txt").write_text("Time,Parameter,Value\n00:10,Troponin,3\n")
    assert main(["clinical", "predict", str(run), "--records", str(other)]) == 1
    assert "variables the model was not trained on: ['Troponin']" in capsys.readouterr().err
    assert main(["clinical", "predict", str(run), "--records", str(other), "--split", "test"]) == 1
    assert "names stays of the run's records" in capsys.readouterr().err


def test_risk_monitor_updated_one_observation_time_at_a_time_equals_predict_over_time(run, ward, capsys):
    from rnnkit.data.records import read_records
    from rnnkit.tasks.clinical import ClinicalRun, RiskMonitor

    loaded = ClinicalRun.load(run)
    stay = next(s for s in read_records(ward / "ward" / "records").stays if len(s.times) > 20)
    capsys.readouterr()
    assert main(["clinical", "predict", str(run), *records(ward), "--over-time"]) == 0
    expected = [float(r["risk"]) for r in csv.DictReader(io.StringIO(capsys.readouterr().out)) if r["id"] == stay.id]
    monitor = RiskMonitor(loaded, static=stay.static)
    risks = []
    for t in np.unique(stay.times):
        at = stay.times == t
        risks.append(monitor.push(float(t), dict(zip([n for n, a in zip(stay.names, at) if a], stay.values[at]))))
    assert risks == pytest.approx(expected, abs=1e-5)
    with pytest.raises(ValueError, match="observation times must increase"):
        monitor.push(1.0, {})
