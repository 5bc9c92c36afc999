"""Pose sequences: readers (MSR Action3D and the generic layout) and their errors, cleaning,
normalisation, augmentation, the two pose models, and `rnnkit video` end to end on generated data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.cli import main
from rnnkit.data.pose import MSR_BODY_PARTS, PoseNormalisation, parse_msr_name, read_msr_file, read_poses, resample
from rnnkit.data.skeletons import ACTIONS, write_pose_example
from rnnkit.layers.pose_augment import PoseAugment
from rnnkit.models.pose import PoseModelConfig, build_pose_model, joint_distances

MSR = Path(__file__).resolve().parents[2] / "shared" / "data" / "msr_action3d"


def write_msr(path: Path, frames: int, value: float | None = None) -> Path:
    rng = np.random.default_rng(frames)
    rows = rng.normal(size=(frames * 20, 4)) if value is None else np.full((frames * 20, 4), value)
    np.savetxt(path, rows)
    return path


def test_msr_files_parse_names_drop_the_fourth_column_and_check_the_row_count(tmp_path):
    joints = read_msr_file(write_msr(tmp_path / "a01_s02_e03_skeleton3D.txt", 3))
    assert joints.shape == (3, 20, 3)
    assert parse_msr_name("a12_s07_e02_skeleton3D.txt") == (12, 7, 2) and parse_msr_name("x.txt") is None
    bad = tmp_path / "a01_s01_e01_skeleton3D.txt"
    np.savetxt(bad, np.zeros((30, 4)) + 1)
    with pytest.raises(ValueError, match="30 rows is not a whole number of frames of 20 joints"):
        read_msr_file(bad)


def test_an_msr_folder_keeps_the_listing_drops_zero_frames_and_reports_broken_sequences(tmp_path):
    write_msr(tmp_path / "a01_s01_e01_skeleton3D.txt", 4)
    write_msr(tmp_path / "a02_s02_e01_skeleton3D.txt", 3, value=0.0)  # tracking lost throughout
    with_gap = tmp_path / "a02_s03_e01_skeleton3D.txt"
    rows = np.random.default_rng(0).normal(size=(5 * 20, 4))
    rows[20:40] = 0.0  # frame 1 lost
    np.savetxt(with_gap, rows)
    write_msr(tmp_path / "a03_s01_e02_skeleton3D.txt", 2)
    (tmp_path / "used.txt").write_text("a01_s01_e01\na02_s02_e01\na02_s03_e01\n")
    poses = read_poses(tmp_path, listing=tmp_path / "used.txt")
    assert poses.labels == ["a01", "a02"] and poses.subjects == [1, 3]
    assert [len(s) for s in poses.sequences] == [4, 4]
    assert poses.report.zero_frames == 4 and poses.report.sequences_with_zero_frames == 2
    assert poses.report.skipped == [("a02_s02_e01_skeleton3D.txt", "all frames are zero")]
    assert any("skipped a02_s02_e01" in line for line in poses.report.lines())


def test_generic_layouts_csv_whitespace_and_npy_through_a_manifest(tmp_path):
    seq = np.arange(4 * 5 * 3, dtype=np.float32).reshape(4, 5, 3) + 1
    np.savetxt(tmp_path / "a.csv", seq.reshape(4, -1), delimiter=",")
    np.savetxt(tmp_path / "b.txt", seq.reshape(4, -1))
    np.save(tmp_path / "c.npy", seq)
    np.save(tmp_path / "d.npy", seq.reshape(4, -1))
    (tmp_path / "m.csv").write_text("path,label,subject\na.csv,x,1\nb.txt,y,2\nc.npy,x,3\nd.npy,y,4\n")
    poses = read_poses(tmp_path / "m.csv")
    assert poses.labels == ["x", "y", "x", "y"] and poses.subjects == [1, 2, 3, 4]
    for s in poses.sequences:
        torch.testing.assert_close(s, torch.from_numpy(seq))


def test_class_subfolders_label_the_sequences(tmp_path):
    for label in ("jump", "sit"):
        (tmp_path / label).mkdir()
        np.savetxt(tmp_path / label / "one.csv", np.ones((3, 6)), delimiter=",")
    poses = read_poses(tmp_path)
    assert poses.labels == ["jump", "sit"] and poses.joints == 2 and poses.subjects == [None, None]


def test_reader_errors_name_the_file_and_line(tmp_path):
    (tmp_path / "ragged.csv").write_text("1,2,3,4,5,6\n1,2,3\n")
    (tmp_path / "words.csv").write_text("1,2,3\n1,two,3\n")
    (tmp_path / "nan.csv").write_text("1,2,3\n1,nan,3\n")
    (tmp_path / "empty.csv").write_text("\n")
    np.savetxt(tmp_path / "three.csv", np.ones((2, 9)), delimiter=",")
    np.savetxt(tmp_path / "two.csv", np.ones((2, 6)), delimiter=",")
    cases = {"ragged.csv": "ragged.csv, line 2: 3 values; expected 6", "words.csv": "line 2: not all values are numbers",
             "nan.csv": "NaN or infinite", "empty.csv": "the pose file is empty"}
    for name, message in cases.items():
        (tmp_path / "m.csv").write_text(f"path,label\n{name},a\n")
        with pytest.raises(ValueError, match=message):
            read_poses(tmp_path / "m.csv")
    (tmp_path / "m.csv").write_text("path,label\nthree.csv,a\ntwo.csv,b\n")
    with pytest.raises(ValueError, match="two.csv: 2 joints x 3 coordinates, but three.csv has 3 x 3"):
        read_poses(tmp_path / "m.csv")
    (tmp_path / "m.csv").write_text("file,label\nthree.csv,a\n")
    with pytest.raises(ValueError, match=r"needs the columns path and label; missing \['path'\]"):
        read_poses(tmp_path / "m.csv")
    (tmp_path / "m.csv").write_text("path,label\nmissing.csv,a\n")
    with pytest.raises(ValueError, match="missing.csv: the pose file does not exist"):
        read_poses(tmp_path / "m.csv")
    np.savetxt(tmp_path / "seven.csv", np.ones((2, 7)), delimiter=",")
    (tmp_path / "m.csv").write_text("path,label\nseven.csv,a\n")
    with pytest.raises(ValueError, match="7 columns is not a whole number of joints of 3"):
        read_poses(tmp_path / "m.csv")


def test_normalisation_centres_on_the_root_scales_by_the_body_length_and_resamples():
    torch.manual_seed(0)
    seq = torch.randn(10, 20, 3) + torch.tensor([0.3, 1.0, 2.5])
    out = PoseNormalisation(center="frame")(seq)
    assert out[:, 6].abs().max() < 1e-6
    assert abs(float((out[:, 6] - out[:, 2]).norm(dim=-1).mean()) - 1.0) < 1e-5
    moving = PoseNormalisation(center="sequence", scale=None)(seq)
    torch.testing.assert_close(moving[:, 6].mean(0), torch.zeros(3), atol=1e-6, rtol=0)
    short = PoseNormalisation(center="none", scale=None, frames=4)(seq)
    assert short.shape == (4, 20, 3)
    torch.testing.assert_close(short[[0, -1]], seq[[0, -1]])
    torch.testing.assert_close(resample(torch.tensor([[0.0], [2.0]]), 3)[:, 0], torch.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="root and scale joints must be in 0..4"):
        PoseNormalisation(root=6).check(5)


def test_augmentation_rotates_about_the_vertical_axis_only_while_training():
    aug = PoseAugment(joints=4, vertical_axis=1, rotate_degrees=90)
    x = torch.randn(3, 5, 12)
    assert aug.eval()(x) is x
    out = aug.train()(x)
    joints, rotated = x.unflatten(2, (4, 3)), out.unflatten(2, (4, 3))
    torch.testing.assert_close(rotated[..., 1], joints[..., 1])  # heights unchanged
    torch.testing.assert_close(rotated[..., [0, 2]].norm(dim=-1), joints[..., [0, 2]].norm(dim=-1))
    assert not torch.allclose(rotated, joints)
    # one angle per sequence: the angle between joint vectors in the ground plane is preserved
    angle = torch.atan2(rotated[..., 2], rotated[..., 0]) - torch.atan2(joints[..., 2], joints[..., 0])
    spread = torch.remainder(angle - angle[:, :1, :1] + math.pi, 2 * math.pi) - math.pi
    assert spread.abs().max() < 1e-4


@pytest.mark.parametrize("architecture", ["rnn", "parts"])
def test_pose_models_ignore_padding_and_overfit_a_tiny_set(architecture):
    torch.manual_seed(0)
    config = PoseModelConfig(num_classes=3, joints=20, architecture=architecture, parts=MSR_BODY_PARTS,
                             hidden_size=16, part_size=8, dropout=0.0)
    model = build_pose_model(config).eval()
    x = torch.randn(2, 9, 60)
    lengths = torch.tensor([9, 4])
    both = model(x, lengths)
    torch.testing.assert_close(both[1], model(x[1:, :4])[0])
    model.train()
    targets = torch.tensor([0, 1, 2, 0, 1, 2])
    inputs = torch.randn(6, 7, 60)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(inputs), targets)
        loss.backward()
        optimiser.step()
    assert loss.item() < 0.05


def test_joint_distances_are_every_pair_and_ignore_rotation_and_translation():
    joints = torch.randn(2, 5, 4, 3, dtype=torch.float64)
    distances = joint_distances(joints)
    assert distances.shape == (2, 5, 6)
    pairs = [(i, j) for i in range(4) for j in range(i + 1, 4)]
    for k, (i, j) in enumerate(pairs):
        torch.testing.assert_close(distances[..., k], (joints[:, :, i] - joints[:, :, j]).norm(dim=-1))
    rotation, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64))
    torch.testing.assert_close(joint_distances(joints @ rotation.T + torch.randn(3, dtype=torch.float64)), distances)


def test_the_distance_features_widen_the_rnn_input_and_keep_padding_invariance():
    torch.manual_seed(0)
    config = PoseModelConfig(num_classes=3, joints=20, hidden_size=16, dropout=0.0, distances=True)
    assert config.input_size == 20 * 6 + 190 * 2
    assert PoseModelConfig(num_classes=3, joints=20, distances=True, velocity=False).input_size == 60 + 190
    model = build_pose_model(config).eval()
    assert model.classifier.config.input_size == 500
    x, lengths = torch.randn(2, 9, 60), torch.tensor([9, 4])
    torch.testing.assert_close(model(x, lengths)[1], model(x[1:, :4])[0])


def test_pose_config_errors():
    with pytest.raises(ValueError, match="distances feed the whole-body RNN"):
        PoseModelConfig(num_classes=2, joints=20, architecture="parts", parts=MSR_BODY_PARTS, distances=True)
    with pytest.raises(ValueError, match="needs parts: five joint lists"):
        PoseModelConfig(num_classes=2, joints=20, architecture="parts")
    with pytest.raises(ValueError, match=r"every part needs joints in 0..9"):
        PoseModelConfig(num_classes=2, joints=10, architecture="parts", parts=((0,), (1,), (2,), (3,), (12,)))
    with pytest.raises(ValueError, match="rotation, scale and jitter augmentation need 3-D joints"):
        PoseModelConfig(num_classes=2, joints=10, dims=2, rotate_degrees=10)


def test_video_cli_trains_evaluates_and_predicts_on_the_generated_example(tmp_path, capsys):
    assert main(["video", "example", str(tmp_path / "ex"), "--per-class", "6"]) == 0
    manifest = tmp_path / "ex" / "poses" / "manifest.csv"
    run = tmp_path / "run"
    assert main(["video", "train", "--data", str(manifest), "--test-subjects", "6", "--val-fraction", "0.2",
                 "--epochs", "3", "--hidden-size", "16", "--num-layers", "1", "--rotate", "15", "--out", str(run),
                 "--no-progress"]) == 0
    assert "test accuracy" in capsys.readouterr().out
    split = json.loads((run / "split.json").read_text())
    assert split["test"] and all("_s06_" in name for name in split["test"]) and split["val"]
    assert main(["video", "evaluate", str(run), "--data", str(manifest), "--split", "test", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert set(metrics) >= {"accuracy", "macro_f1", "per_class", "confusion"} and metrics["examples"] == len(split["test"])
    assert set(metrics["per_class"]) == set(ACTIONS) and Path(metrics["confusion_plot"]).is_file()
    assert main(["video", "predict", str(run), "--data", str(manifest)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("name,label,p_") and len(lines) == 1 + 6 * len(ACTIONS)
    assert main(["video", "train", "--resume", str(run), "--epochs", "4", "--no-progress"]) == 0
    # a second seed: the two runs scored as one ensemble, by the mean of their probabilities
    other = tmp_path / "run2"
    assert main(["video", "train", "--data", str(manifest), "--test-subjects", "6", "--val-fraction", "0.2", "--epochs", "2",
                 "--hidden-size", "16", "--num-layers", "1", "--seed", "1", "--out", str(other), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["video", "evaluate", str(run), str(other), "--data", str(manifest), "--split", "test", "--json"]) == 0
    ensemble = json.loads(capsys.readouterr().out)
    assert ensemble["runs"] == 2 and ensemble["examples"] == metrics["examples"]
    from rnnkit.tasks.video import common, pose
    probs = [common.predict(pose, r, str(manifest), "cpu") for r in (run, other)]
    names = sorted(ACTIONS)
    test = set(split["test"])
    mean = [[(a["probabilities"][n] + b["probabilities"][n]) / 2 for n in names] for a, b in zip(*probs) if a["name"] in test]
    truth = [row["name"].split("_")[0] for row in probs[0] if row["name"] in test]
    expected = sum(names[max(range(len(names)), key=p.__getitem__)] == t for p, t in zip(mean, truth)) / len(truth)
    assert abs(ensemble["accuracy"] - expected) < 1e-9
    narrow = tmp_path / "run3"
    assert main(["video", "train", "--data", str(manifest), "--classes", "wave", "kick", "--epochs", "1", "--hidden-size", "8",
                 "--num-layers", "1", "--out", str(narrow), "--no-progress"]) == 0
    assert main(["video", "evaluate", str(run), str(narrow), "--data", str(manifest)]) == 1
    assert "an ensemble needs runs trained on the same classes" in capsys.readouterr().err
    assert main(["video", "evaluate", str(run), "--data", str(tmp_path / "nowhere")]) == 1
    assert "no such pose file or folder" in capsys.readouterr().err
    assert main(["video", "train", "--data", str(manifest), "--architecture", "convlstm", "--out", str(tmp_path / "x")]) == 1
    assert "is not for pose data" in capsys.readouterr().err


def test_the_example_writes_every_action_for_every_subject(tmp_path):
    manifest = write_pose_example(tmp_path, per_class=6)
    poses = read_poses(manifest)
    assert sorted(set(poses.labels)) == sorted(ACTIONS) and set(poses.subjects) == set(range(1, 7))


@pytest.mark.skipif(not MSR.is_dir(), reason="MSR Action3D is not in ../shared/data")
def test_msr_action3d_reads_the_557_listed_sequences_with_the_cross_subject_split():
    poses = read_poses(MSR / "MSRAction3DSkeletonReal3D", listing=MSR / "files_used_in_cvpr12_paper.txt")
    assert len(poses.sequences) == 557 and len(set(poses.labels)) == 20
    train = sum(1 for s in poses.subjects if s % 2 == 1)
    assert (train, len(poses.subjects) - train) == (284, 273)
    assert poses.report.zero_frames > 0 and not poses.report.skipped
