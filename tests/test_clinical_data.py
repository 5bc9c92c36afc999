"""Irregular records: the reader and its cleaning rules, errors naming file and line, both
representations (raw times and a grid), statistics from the training stays only, summary features
for the baseline, and the generated ward example."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from rnnkit.data.clinical import ClinicalScaler, Representation, encode, observations, summary_features
from rnnkit.data.records import CleaningRules, read_labels, read_records
from rnnkit.data.ward import write_ward_example
from rnnkit.tasks.clinical.training import ClinicalDataConfig, prepare, stratified_split

STAY_A = """Time,Parameter,Value
00:00,RecordID,1
00:00,Age,54
00:00,Gender,0
00:00,Height,-1
00:00,ICUType,4
00:00,Weight,80
00:07,HR,73
00:07,HR,75
00:07,Temp,35.1
00:37,HR,0
01:30,pH,735
02:00,MechVent,1
48:00,HR,90
49:10,HR,91
"""


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "1.txt").write_text(STAY_A)
    (tmp_path / "2.txt").write_text("Time,Parameter,Value\n00:00,RecordID,2\n00:00,Age,70\n")
    return tmp_path


def test_physionet_layout_cleaning_rules_and_counts(folder):
    records = read_records(folder)
    a, b = records.stays
    assert a.id == "1" and a.static["Age"] == 54 and math.isnan(a.static["Height"]) and a.static["Weight"] == 80
    assert "RecordID" not in a.names and "Weight" not in a.names  # a time-0 descriptor, not a series value
    assert list(zip(a.times.round(4), a.names, a.values)) == [
        (round(7 / 60, 4), "HR", 74.0), (round(7 / 60, 4), "Temp", 35.1), (2.0, "MechVent", 1.0), (48.0, "HR", 90.0)]
    assert records.dropped[("implausible", "HR")] == 1 and records.dropped[("implausible", "pH")] == 1
    assert records.dropped[("outside the window", "HR")] == 1
    assert records.dropped[("duplicates at one time (mean kept)", "HR")] == 1
    assert records.dropped[("descriptor missing or implausible", "Height")] == 1
    assert records.empty == ["2"] and len(b.times) == 0


def test_rules_are_flags(folder):
    records = read_records(folder, CleaningRules(edge="drop", duplicates="last", ranges={}))
    a = records.stays[0]
    hr = [v for n, v in zip(a.names, a.values) if n == "HR"]
    assert hr == [75.0, 0.0]  # the last duplicate, the 0 kept without ranges, 48:00 dropped
    assert "pH" in a.names


@pytest.mark.parametrize("line, message", [("0x:07,HR,73", r"1.txt:2: time '0x:07' is neither HH:MM nor a number"),
                                           ("00:07,HR,abc", r"1.txt:2: value 'abc' is not a number"),
                                           ("00:07,HR,nan", r"1.txt:2: value 'nan' is not finite"),
                                           ("00:07,HR", r"1.txt:2: expected at least 3 fields")])
def test_malformed_lines_name_file_and_line(tmp_path, line, message):
    (tmp_path / "1.txt").write_text(f"Time,Parameter,Value\n{line}\n")
    with pytest.raises(ValueError, match=message):
        read_records(tmp_path)


def test_empty_file_and_missing_columns(tmp_path):
    (tmp_path / "1.txt").write_text("")
    with pytest.raises(ValueError, match="is empty"):
        read_records(tmp_path)
    (tmp_path / "1.txt").write_text("When,What,Value\n1,HR,3\n")
    with pytest.raises(ValueError, match="no time column"):
        read_records(tmp_path)


def test_one_long_table_with_an_id_column_and_numeric_minutes(tmp_path):
    path = tmp_path / "obs.csv"
    path.write_text("stay_id,time,variable,value\nx,30,HR,70\ny,0,HR,80\nx,90,HR,72\n")
    records = read_records(path, time_unit="minutes")
    by_id = {s.id: s for s in records.stays}
    assert by_id["x"].times.tolist() == [0.5, 1.5] and by_id["y"].values.tolist() == [80.0]


def test_labels_by_id_list_what_is_missing_or_not_binary(tmp_path):
    path = tmp_path / "outcomes.csv"
    path.write_text("RecordID,died\n1,0\n2,1\n3,2\n")
    assert read_labels(path, "died", ["2", "1"]).tolist() == [1.0, 0.0]
    with pytest.raises(ValueError, match=r"1 stay\(s\) have no row in the outcomes: \['9'\]"):
        read_labels(path, "died", ["1", "9"])
    with pytest.raises(ValueError, match="id 3: died is '2'; expected 0 or 1"):
        read_labels(path, "died", ["3"])
    with pytest.raises(ValueError, match="no column 'dead'"):
        read_labels(path, "dead", ["1"])


def test_raw_and_grid_representations(folder):
    stay = read_records(folder).stays[0]
    scaler = ClinicalScaler.fit([stay])
    assert scaler.variables == ["HR", "MechVent", "Temp"] and scaler.mask_only == ["MechVent", "Temp"]
    times, values, mask = observations(stay, scaler, Representation("raw"))
    assert times.tolist() == pytest.approx([7 / 60, 2.0, 48.0])
    assert mask.tolist() == [[1, 0, 1], [0, 1, 0], [1, 0, 0]]
    hr_mean, hr_std = np.mean([74, 90]), np.std([74, 90])
    assert values[0, 0].item() == pytest.approx((74 - hr_mean) / hr_std)
    times, values, mask = observations(stay, scaler, Representation("grid", bin_hours=1.0, window_hours=48))
    assert len(times) == 48 and times[1].item() == 1.0
    assert mask[0].tolist() == [1, 0, 1] and mask[2].tolist() == [0, 1, 0] and mask[47].tolist() == [1, 0, 0]  # 48:00 in the last bin


def test_encoded_layout_and_unknown_variables(folder):
    records = read_records(folder)
    scaler = ClinicalScaler.fit(records.stays[:1])
    data = encode(records.stays, scaler, Representation("raw"))
    parts = data.parts(0)
    assert data.inputs[0].shape == (3, 3 * 3 + len(scaler.static_columns))
    assert parts["delta"][:, 0].tolist() == pytest.approx([0.0, 2.0 - 7 / 60, 48.0 - 7 / 60])  # HR unseen at 2:00
    assert data.inputs[1].shape[0] == 1 and data.parts(1)["mask"].sum() == 0  # a stay without series: one empty step
    other = read_records(folder).stays
    other[0].names[0] = "Lactate"
    with pytest.raises(ValueError, match=r"variables the model was not trained on: \['Lactate'\]"):
        encode(other, scaler, Representation("raw"))
    assert encode(other, scaler, Representation("raw"), unknown="ignore").parts(0)["mask"].sum() == 3


def test_static_columns_z_scored_with_missing_flags_and_one_hot_categories(folder):
    stays = read_records(folder).stays
    scaler = ClinicalScaler.fit(stays)
    assert scaler.static_columns == ["Age", "Age missing", "Weight", "Weight missing", "Gender=0", "ICUType=4"]
    age_mean, age_std = 62.0, 8.0
    assert scaler.encode_static(stays[0]).tolist() == pytest.approx([(54 - age_mean) / age_std, 0, 0, 0, 1, 1])
    assert scaler.encode_static(stays[1]).tolist() == pytest.approx([(70 - age_mean) / age_std, 0, 0, 1, 0, 0])


def test_summary_features_for_the_baseline(folder):
    stays = read_records(folder).stays
    scaler = ClinicalScaler.fit(stays)
    features = summary_features(stays, scaler)
    d = len(scaler.variables)
    assert features.shape == (2, 6 * d + len(scaler.static_columns))
    hr = features[0, :6 * d].view(6, d)[:, 0]  # last, mean, min, max, log count, present of HR
    z = (np.array([74.0, 90.0]) - scaler.mean[0]) / scaler.std[0]
    assert hr.tolist() == pytest.approx([z[1], z.mean(), z.min(), z.max(), math.log(3), 1.0], abs=1e-6)
    assert features[1, :6 * d].abs().sum() == 0


def test_statistics_come_from_the_training_stays_only(tmp_path):
    paths = write_ward_example(tmp_path / "ward", stays=60, seed=1)
    config = ClinicalDataConfig(label="died", val_fraction=0.2, test_fraction=0.2)
    first = prepare(str(paths["records"]), str(paths["outcomes"]), config)
    held_out = first.split["val"] + first.split["test"]
    for stay_id in held_out:  # change every held-out stay's values
        path = paths["records"] / f"{stay_id}.txt"
        lines = path.read_text().splitlines()
        changed = [line if i < 7 or line.split(",")[1] == "MechVent" else f"{line.rsplit(',', 1)[0]},{float(line.rsplit(',', 1)[1]) * 3 + 1:g}"
                   for i, line in enumerate(lines)]
        path.write_text("\n".join(changed) + "\n")
    second = prepare(str(paths["records"]), str(paths["outcomes"]), config)
    assert second.split == first.split
    assert json.dumps(second.scaler.to_dict()) == json.dumps(first.scaler.to_dict())
    assert second.baseline.to_dict() == first.baseline.to_dict()
    assert not torch.equal(torch.cat(first.val.inputs), torch.cat(second.val.inputs))


def test_stratified_split_keeps_the_class_balance():
    labels = np.array([1] * 20 + [0] * 80)
    split = stratified_split(labels, 0.1, 0.2, seed=3)
    assert sorted(split["train"] + split["val"] + split["test"]) == list(range(100))
    assert labels[split["test"]].sum() == 4 and labels[split["val"]].sum() == 2
    assert split == stratified_split(labels, 0.1, 0.2, seed=3) != stratified_split(labels, 0.1, 0.2, seed=4)


def test_ward_example_is_deterministic_and_holds_the_planted_errors(tmp_path):
    a = write_ward_example(tmp_path / "a", stays=40, seed=0)
    b = write_ward_example(tmp_path / "b", stays=40, seed=0)
    assert a["outcomes"].read_text() == b["outcomes"].read_text()
    assert (a["records"] / "100007.txt").read_text() == (b["records"] / "100007.txt").read_text()
    records = read_records(a["records"])
    assert len(records.stays) == 40 and records.dropped[("implausible", "HR")] > 0
    assert any(rule.startswith("duplicates") for rule, _ in records.dropped)
