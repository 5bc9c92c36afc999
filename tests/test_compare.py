"""`rnnkit compare`, and what it builds on: the time budget of the loop, --params sizing and summary.json."""

import json
import math

import pytest
import torch

from rnnkit.cli import main
from rnnkit.data import StreamBatches
from rnnkit.models import LanguageModel, LanguageModelConfig
from rnnkit.models.choice import build_model, parameter_count
from rnnkit.tasks import compare
from rnnkit.tasks.classify import CLASSIFIERS
from rnnkit.tasks.forecast.inference import FORECASTERS
from rnnkit.tasks.lm import LANGUAGE_MODELS
from rnnkit.training import TrainConfig, fit, masked_cross_entropy, model_loss


# -- the time budget -----------------------------------------------------------------------------------
def test_a_time_budget_stops_training_and_the_last_weights_are_evaluated(tmp_path):
    torch.manual_seed(0)
    ids = torch.randint(0, 20, (4000,))
    data = StreamBatches([(ids[:-1], ids[1:])], batch_size=4, bptt=16)
    model = LanguageModel(LanguageModelConfig(vocab_size=20, embedding_size=8, hidden_size=16))
    config = TrainConfig(epochs=100, max_minutes=1e-4, progress=False, device="cpu")  # 6 ms: over after the first update
    history = fit(model, data, config, loss_fn=model_loss(masked_cross_entropy), val_data=data, run_dir=tmp_path / "run")
    assert history.stop_reason == "time budget"
    assert 1 <= history.steps < 100 * len(data)
    assert history.metric("val", "loss")[-1:] and history.records[-1]["step"] == history.steps


def test_a_cosine_schedule_follows_the_time_budget_when_it_runs_out_before_the_steps():
    from rnnkit.training.optim import lr_factor

    config = TrainConfig(lr=1.0, min_lr=0.0, schedule="cosine", warmup_steps=0, max_steps=1000, max_minutes=1)
    spent = {"value": 0.0}
    factor = lr_factor(config, 1000, lambda: spent["value"])
    assert factor(0) == pytest.approx(1.0) and factor(500) == pytest.approx(0.5)  # no time spent: the steps lead
    spent["value"] = 0.5
    assert factor(10) == pytest.approx(0.5) and factor(750) == pytest.approx(0.5 * (1 + math.cos(0.75 * math.pi)))
    spent["value"] = 1.0
    assert factor(10) == pytest.approx(0.0)  # the budget is spent: the schedule is at its floor


def test_a_time_budget_decays_the_learning_rate_of_a_run_it_ends(tmp_path):
    torch.manual_seed(0)
    ids = torch.randint(0, 20, (4000,))
    data = StreamBatches([(ids[:-1], ids[1:])], batch_size=4, bptt=16)
    model = LanguageModel(LanguageModelConfig(vocab_size=20, embedding_size=8, hidden_size=16))
    config = TrainConfig(epochs=1000, max_minutes=0.02, lr=1e-2, min_lr=0.0, schedule="cosine", warmup_steps=0, log_every=1,
                         progress=False, device="cpu")  # 1.2 s of a schedule planned over thousands of steps
    history = fit(model, data, config, loss_fn=model_loss(masked_cross_entropy), run_dir=tmp_path / "run")
    assert history.stop_reason == "time budget" and history.steps < 1000 * len(data) / 10
    rates = [r["lr"] for r in history.records if r["split"] == "train"]
    assert rates[-1] < 0.05 * rates[0]  # a step-only cosine would still be near 1e-2 here


def test_a_time_budget_must_be_positive():
    with pytest.raises(ValueError, match="max_minutes must be positive"):
        TrainConfig(max_minutes=0)


# -- --params -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("target", [20_000, 60_000, 400_000])
def test_params_sizes_every_model_within_ten_percent(target):
    built = [build_model(LANGUAGE_MODELS, {"model": family, "params": target, **cell}, vocab_size=70)
             for family, cell in (("rnn", {"cell": "lstm"}), ("rnn", {"cell": "gru"}), ("rnn", {"cell": "mingru"}),
                                  ("transformer", {}))]
    for kind, (model_class, config_class, defaults) in CLASSIFIERS.items():
        built.append(build_model({kind: (model_class, config_class, defaults["numeric"])}, {"model": kind, "params": target},
                                 num_classes=4, input_size=6))
    for kind in FORECASTERS:
        built.append(build_model(FORECASTERS, {"model": kind, "params": target}, num_features=1, num_targets=1, lookback=48,
                                 horizon=12, num_known=0))
    for model in built:
        assert abs(parameter_count(model) / target - 1) <= 0.10, (type(model).__name__, parameter_count(model))


def test_params_below_the_smallest_model_is_refused():
    with pytest.raises(ValueError, match="below the smallest rnn model"):
        build_model(LANGUAGE_MODELS, {"model": "rnn", "params": 100}, vocab_size=70)


# -- names and flags ------------------------------------------------------------------------------------
def test_model_names_map_to_the_tasks_flags():
    assert compare.model_flags("lm", "gru") == ["--model", "rnn", "--cell", "gru"]
    assert compare.model_flags("lm", "transformer") == ["--model", "transformer"]
    assert compare.model_flags("forecast", "segrnn") == ["--model", "segrnn"]
    with pytest.raises(ValueError, match="unknown model 'segrnn' for lm"):
        compare.parse_models("lstm,segrnn", "lm")
    with pytest.raises(ValueError, match="twice"):
        compare.parse_models("lstm,lstm", "lm")
    with pytest.raises(ValueError, match="compare runs the tasks"):
        compare.model_flags("speech", "lstm")
    with pytest.raises(ValueError, match="give a budget"):
        compare.Budget()


def test_flags_compare_sets_itself_are_refused_and_only_compare_takes_a_double_dash(tmp_path, capsys):
    assert main(["compare", "lm", "--models", "lstm", "--max-steps", "2", "--out", str(tmp_path), "--", "--seed", "3"]) == 1
    assert "--seed is set by compare itself" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["lm", "train", "--", "--seed", "3"])
    assert "only 'rnnkit compare' takes flags after --" in capsys.readouterr().err


# -- end to end -------------------------------------------------------------------------------------------
def test_compare_trains_every_model_to_the_same_budget_and_tabulates_them(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("it was the best of times, it was the worst of times.\n" * 40, encoding="utf-8")
    out = tmp_path / "cmp"
    task_flags = ["--data", str(corpus), "--batch-size", "4", "--bptt", "16", "--no-progress", "--device", "cpu",
                  "--num-layers", "1"]
    assert main(["compare", "lm", "--models", "lstm,gru,transformer", "--params", "20000", "--max-steps", "6",
                 "--out", str(out), "--json", "--", *task_flags]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert list(printed) == ["lstm", "gru", "transformer"]
    for name, row in printed.items():
        assert row["steps"] == 6 and row["stop_reason"] == "max_steps"
        assert abs(row["parameters"] / 20000 - 1) <= 0.10
        assert math.isfinite(row["val"]) and row["test"] is None  # the user's own text has no test split
        assert row["tokens_per_s"] is None or row["tokens_per_s"] > 0
        assert row["generate_ms_per_token"] > 0 and row["peak_rss_mib"] > 10
        assert (out / name / "summary.json").is_file() and (out / "logs" / f"{name}.txt").is_file()
    saved = json.loads((out / "compare.json").read_text())
    assert saved["models"] == printed and saved["task_args"] == task_flags
    table = (out / "compare.md").read_text()
    for column in ("model", "parameters", "val bits/char", "test bits/char", "train s", "tokens/s", "peak RSS MiB",
                   "generate ms/token"):
        assert column in table.splitlines()[0]
    assert len(table.splitlines()) == 2 + 3
    assert (out / "plots" / "vs_time.png").stat().st_size > 1000 and (out / "plots" / "vs_params.png").is_file()
    assert main(["compare", "lm", "--models", "lstm", "--max-steps", "2", "--out", str(out), "--", *task_flags]) == 1
    assert "already holds runs of lstm" in capsys.readouterr().err


def test_compare_forecasters_reports_the_baselines_and_a_failed_model(tmp_path, capsys):
    table = tmp_path / "demand.csv"
    assert main(["forecast", "example", str(table), "--days", "30"]) == 0
    out = tmp_path / "cmp"
    code = main(["compare", "forecast", "--models", "gru,transformer", "--max-steps", "4", "--out", str(out), "--",
                 "--data", str(table), "--time-column", "time", "--target", "demand", "--lookback", "24", "--horizon", "6",
                 "--d-model", "8", "--no-progress", "--device", "cpu"])
    assert code == 1  # the flags after -- reach every model, and the GRU has no --d-model
    result = json.loads((out / "compare.json").read_text())
    assert result["failed"] == ["gru"] and "training failed" in result["models"]["gru"]["error"]
    assert "--model rnn has no option --d-model" in (out / "logs" / "gru.txt").read_text()
    assert math.isfinite(result["models"]["transformer"]["test"])
    assert set(result["baselines"]) >= {"linear", "persistence"}
    assert "linear (baseline)" in (out / "compare.md").read_text()


def test_throughput_windows_leave_validation_out(tmp_path):
    import time

    torch.manual_seed(0)
    ids = torch.randint(0, 20, (4000,))
    data = StreamBatches([(ids[:-1], ids[1:])], batch_size=4, bptt=16)
    model = LanguageModel(LanguageModelConfig(vocab_size=20, embedding_size=8, hidden_size=16))
    calls = []

    def slow_validation(m):
        calls.append(1)
        if len(calls) == 1:
            time.sleep(2.0)  # far longer than a window of two updates
        return {"loss": 1.0}

    config = TrainConfig(max_steps=24, log_every=2, eval_every=20, progress=False, device="cpu")
    history = fit(model, data, config, loss_fn=model_loss(masked_cross_entropy), evaluate_fn=slow_validation,
                  run_dir=tmp_path / "run")
    window = next(r for r in history.records if r["split"] == "train" and r["step"] == 22)  # began with the validation
    seconds = 2 * 4 * 16 / window["tokens_per_s"]
    assert seconds < 1.0, seconds  # counted, the 2 s of validation would be in it
