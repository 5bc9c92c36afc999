"""A generated clip data set that needs no download: a grey square or disc moving on a noisy dark
background, one motion per class, written as animated GIFs with a manifest `path,label,caption`.

Motions: left-right and up-down (bouncing along one axis), diagonal (bouncing along a diagonal),
circle (orbiting the centre) and pulse (standing still, growing and shrinking). Each clip draws its
shape, size, brightness, speed, starting phase and length (16-24 frames) at random; the caption is
templated from the shape, its size and the motion ("a small disc moves in a circle"). The GIFs lie
beside the manifest.

Anomalies (for frame prediction, `anomaly.csv`): normal clips in which, from a random frame on,
a second shape appears and stays ("appear"; the frames from then on are anomalous), the shape jumps
back along its path and runs in reverse ("reverse"; the jump's two frames are anomalous, a motion
run backwards being a normal motion), or it moves three times as fast ("speed"; every frame from then on).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

MOTIONS = ("left-right", "up-down", "diagonal", "circle", "pulse")
CAPTIONS = {"left-right": "moves left and right", "up-down": "moves up and down", "diagonal": "moves along a diagonal",
            "circle": "moves in a circle", "pulse": "grows and shrinks"}


def _draw(size: int, centre: tuple[float, float], radius: float, disc: bool, brightness: float,
          rng: np.random.Generator) -> np.ndarray:
    """One (size, size) uint8 frame: noise, then the shape at `centre` (row, column)."""
    rows, cols = np.mgrid[0:size, 0:size]
    dr, dc = rows - centre[0], cols - centre[1]
    inside = (dr ** 2 + dc ** 2 <= radius ** 2) if disc else (np.abs(dr) <= radius) & (np.abs(dc) <= radius)
    frame = rng.normal(0.08, 0.03, (size, size))
    frame[inside] = brightness
    return (np.clip(frame, 0, 1) * 255).astype(np.uint8)


ANOMALIES = ("appear", "reverse", "speed")


def moving_shape_clip(motion: str, rng: np.random.Generator, size: int = 32, anomaly: str | None = None,
                      start: int = 0) -> tuple[np.ndarray, str]:
    """((T, size, size) uint8 frames, caption) of one generated clip of `motion`; with `anomaly`
    (one of ANOMALIES) the clip turns anomalous from frame `start` on."""
    steps = int(rng.integers(16, 25))
    disc = bool(rng.random() < 0.5)
    radius = float(rng.uniform(0.08, 0.16) * size)
    brightness = float(rng.uniform(0.6, 1.0))
    increments = np.full(steps, 2 * np.pi * rng.uniform(0.8, 1.6) / (steps - 1))
    increments[0] = rng.uniform(0, 2 * np.pi)
    if anomaly == "speed":
        increments[max(start, 1):] *= 3
    elif anomaly == "reverse":
        increments[max(start, 1):] *= -1
        increments[max(start, 1)] -= 1.0  # a jump back along the path, then the motion runs backwards
    phase = np.cumsum(increments)
    reach = size / 2 - radius - 1
    mid = (size - 1) / 2
    wave = reach * np.sin(phase)
    still = np.full(steps, mid + rng.uniform(-3, 3))
    if motion == "left-right":
        path = np.stack([still, mid + wave], 1)
    elif motion == "up-down":
        path = np.stack([mid + wave, still], 1)
    elif motion == "diagonal":
        path = np.stack([mid + wave, mid + wave * rng.choice([-1, 1])], 1)
    elif motion == "circle":
        path = np.stack([mid + reach * np.sin(phase), mid + reach * np.cos(phase)], 1)
    elif motion == "pulse":
        path = np.stack([still, still[::-1]], 1)
    else:
        raise ValueError(f"unknown motion {motion!r}; expected one of {MOTIONS}")
    radii = radius * (1 + 0.6 * np.sin(phase)) if motion == "pulse" else np.full(steps, radius)
    frames = np.stack([_draw(size, tuple(path[t]), radii[t], disc, brightness, rng) for t in range(steps)])
    if anomaly == "appear":
        corner = rng.uniform(radius + 1, size - radius - 1, 2)
        for t in range(start, steps):
            intruder = _draw(size, tuple(corner), radius * 0.8, not disc, 1.0, rng)
            frames[t] = np.maximum(frames[t], np.where(intruder > 200, intruder, 0))
    elif anomaly is not None and anomaly not in ANOMALIES:
        raise ValueError(f"unknown anomaly {anomaly!r}; expected one of {ANOMALIES}")
    caption = f"a {'small' if radius < 0.12 * size else 'large'} {'disc' if disc else 'square'} {CAPTIONS[motion]}"
    return frames, caption


def write_gif(frames: np.ndarray, path: Path, duration_ms: int = 80) -> None:
    images = [Image.fromarray(f, mode="L") for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=duration_ms, loop=0)


def write_clip_example(root: str | Path, per_class: int = 40, size: int = 32, seed: int = 0) -> Path:
    """Write `per_class` clips of each motion into `root` and return `root`/manifest.csv; also
    `per_class` test clips for anomaly detection, a quarter each normal, appear, reverse and speed,
    listed in `root`/anomaly.csv with their anomalous frames as `start-end` (end exclusive)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    manifest = root / "manifest.csv"
    with open(manifest, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "caption"])
        for motion in MOTIONS:
            for k in range(per_class):
                frames, caption = moving_shape_clip(motion, rng, size)
                name = f"{motion}-{k:03d}.gif"
                write_gif(frames, root / name)
                writer.writerow([name, motion, caption])
    with open(root / "anomaly.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "anomaly", "anomalous_frames"])
        for k in range(per_class):
            motion, anomaly = MOTIONS[k % len(MOTIONS)], (None, *ANOMALIES)[k % 4]
            start = int(rng.integers(6, 12))
            frames, _ = moving_shape_clip(motion, rng, size, anomaly, start)
            name = f"test-{k:03d}-{anomaly or 'normal'}.gif"
            write_gif(frames, root / name)
            end = start + 2 if anomaly == "reverse" else len(frames)
            writer.writerow([name, motion, anomaly or "none", f"{start}-{end}" if anomaly else ""])
    return manifest
