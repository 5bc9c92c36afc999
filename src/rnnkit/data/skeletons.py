"""A generated pose data set that needs no download: stick figures with MSR Action3D's 20-joint layout
performing six actions, written in the generic layout (one CSV per sequence, a frame per row, x y z of
each joint as columns) beside a manifest `path,label,subject`.

Actions: wave (one arm swings overhead), punch (one arm thrusts forward), clap (both hands meet in
front), kick (one leg swings forward), squat (knees bend, the body drops), raise (both arms go up and
down). Every sequence varies: its subject's body size, tempo (18-60 frames), amplitude, the facing
angle (up to 25 degrees about the vertical), where it stands, and tracker noise; a few sequences lose
tracking for some frames (all-zero rows, which the reader drops and reports).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

ACTIONS = ("wave", "punch", "clap", "kick", "squat", "raise")
SUBJECTS = 6


def _arm(shoulder: np.ndarray, raise_angle: np.ndarray, forward: np.ndarray, bend: np.ndarray, side: float, size: float):
    """Elbow, wrist, hand (T, 3) from the arm's angle up from hanging (in the side plane), its swing
    forward (toward the camera, -z) and the elbow's bend."""
    def direction(up, fwd):
        return np.stack([side * np.sin(up) * np.cos(fwd), -np.cos(up) * np.cos(fwd), -np.sin(fwd)], axis=-1)

    elbow = shoulder + 0.28 * size * direction(raise_angle, forward)
    wrist = elbow + 0.26 * size * direction(raise_angle + bend, forward + 0.5 * bend)
    hand = wrist + 0.08 * size * direction(raise_angle + bend, forward + 0.5 * bend)
    return elbow, wrist, hand


def _leg(hip: np.ndarray, swing: np.ndarray, knee_bend: np.ndarray, size: float):
    """Knee, ankle, foot (T, 3) from the thigh's swing forward and the knee's bend."""
    def direction(angle):
        return np.stack([np.zeros_like(angle), -np.cos(angle), -np.sin(angle)], axis=-1)

    knee = hip + 0.42 * size * direction(swing)
    ankle = knee + 0.42 * size * direction(swing - knee_bend)
    foot = ankle + 0.10 * size * direction(swing - knee_bend + np.pi / 2)
    return knee, ankle, foot


def pose_sequence(action: str, rng: np.random.Generator, size: float) -> np.ndarray:
    """(T, 20, 3) joints of one generated sequence of `action`, in metres, camera coordinates."""
    steps = int(rng.integers(18, 61))
    phase = np.linspace(0, 2 * np.pi * rng.uniform(1.0, 2.5), steps) + rng.uniform(0, 0.5)
    swing = 0.5 * (1 - np.cos(phase))  # 0 -> 1 -> 0 per cycle
    amp = rng.uniform(0.8, 1.2)
    zeros, rest = np.zeros(steps), np.full(steps, 0.15)
    drop = 0.35 * size * amp * swing if action == "squat" else zeros
    centre = np.stack([zeros, -drop, zeros], axis=-1)
    neck, spine = centre + [0, 0.40 * size, 0], centre + [0, 0.20 * size, 0]
    head = centre + [0, 0.62 * size, 0]
    shoulders = [neck + [-0.18 * size, -0.02, 0], neck + [0.18 * size, -0.02, 0]]
    hips = [centre + [-0.10 * size, -0.02, 0], centre + [0.10 * size, -0.02, 0]]
    arms = [dict(raise_angle=rest, forward=zeros, bend=np.full(steps, 0.2)) for _ in range(2)]
    legs = [dict(swing=zeros, knee_bend=zeros) for _ in range(2)]
    if action == "wave":
        arms[1] = dict(raise_angle=2.4 + 0.5 * amp * np.sin(phase), forward=zeros, bend=np.full(steps, 0.3))
    elif action == "punch":
        arms[1] = dict(raise_angle=rest + 0.2, forward=1.4 * amp * swing, bend=1.6 * (1 - swing))
    elif action == "clap":
        for side in (0, 1):
            arms[side] = dict(raise_angle=0.6 + 0.5 * amp * swing, forward=np.full(steps, 1.1), bend=0.4 + 0.6 * swing)
    elif action == "kick":
        legs[1] = dict(swing=1.1 * amp * swing, knee_bend=0.8 * (1 - swing) * swing * 4)
    elif action == "squat":
        for side in (0, 1):
            legs[side] = dict(swing=1.0 * amp * swing, knee_bend=2.0 * amp * swing)
    elif action == "raise":
        for side in (0, 1):
            arms[side] = dict(raise_angle=rest + 2.6 * amp * swing, forward=zeros, bend=np.full(steps, 0.1))
    elbows, wrists, hands = zip(*(_arm(shoulders[s], side=(-1, 1)[s], size=size, **arms[s]) for s in (0, 1)))
    knees, ankles, feet = zip(*(_leg(hips[s], size=size, **legs[s]) for s in (0, 1)))
    joints = np.stack([shoulders[0], shoulders[1], neck, spine, hips[0], hips[1], centre, elbows[0], elbows[1],
                       wrists[0], wrists[1], hands[0], hands[1], knees[0], knees[1], ankles[0], ankles[1],
                       feet[0], feet[1], head], axis=1)  # (T, 20, 3), MSR Action3D's joint order
    facing = np.radians(rng.uniform(-25, 25))
    rotation = np.array([[np.cos(facing), 0, np.sin(facing)], [0, 1, 0], [-np.sin(facing), 0, np.cos(facing)]])
    joints = joints @ rotation.T + [rng.uniform(-0.5, 0.5), 0.1, rng.uniform(2.2, 3.0)]
    joints = joints + rng.normal(0, 0.01, joints.shape)
    if rng.random() < 0.05:
        start = int(rng.integers(0, steps - 5))
        joints[start: start + 5] = 0.0  # the tracker lost the body
    return joints


def write_pose_example(root: str | Path, per_class: int = 30, seed: int = 0) -> Path:
    """Write `per_class` sequences of each action over six subjects into `root` and return the
    manifest `root`/manifest.csv (columns path, label, subject)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sizes = rng.uniform(0.85, 1.15, SUBJECTS + 1)
    manifest = root / "manifest.csv"
    with open(manifest, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "subject"])
        for action in ACTIONS:
            for k in range(per_class):
                subject = k % SUBJECTS + 1
                joints = pose_sequence(action, rng, sizes[subject])
                name = f"{action}_s{subject:02d}_e{k:02d}.csv"
                np.savetxt(root / name, joints.reshape(len(joints), -1), delimiter=",", fmt="%.4f")
                writer.writerow([name, action, subject])
    return manifest
