"""A generated data set of irregular clinical records that needs no download, in PhysioNet 2012's
layout: one `Time,Parameter,Value` file per stay (times HH:MM over 48 hours, descriptors at 00:00)
and an outcomes table.

Each stay has a hidden severity s ~ N(0, 1). The outcome is drawn with logit -2.2 + 2 s + 0.03
(age - 60). Severity shows in the series as they unfold: heart rate and lactate drift up and mean
arterial pressure down over the stay in proportion to s, and sicker patients have lactate drawn
more often (missingness carries information, as in real wards). Vitals come about hourly with gaps,
temperature every 4 hours, labs every 6-12 hours; MechVent is recorded (always 1) for ventilated
patients. Recording errors are planted for the cleaning rules to catch: heart rates of 0, a
missing height (-1), repeated rows; a few stays have descriptors only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

STAYS = 1000


def _stay(rng: np.random.Generator, record: int) -> tuple[list[tuple[float, str, float]], int]:
    s, age = rng.normal(), float(rng.integers(18, 91))
    rows = [(0.0, "RecordID", record), (0.0, "Age", age), (0.0, "Gender", float(rng.integers(0, 2))),
            (0.0, "Height", -1.0 if rng.random() < 0.3 else round(float(rng.normal(170, 10)), 1)),
            (0.0, "ICUType", float(rng.integers(1, 5))), (0.0, "Weight", round(float(rng.normal(80, 15)), 1))]
    died = int(rng.random() < 1 / (1 + np.exp(-(-2.2 + 2.0 * s + 0.03 * (age - 60)))))
    if rng.random() < 0.01:
        return rows, died  # descriptors only
    drift = lambda t: t / 48  # noqa: E731  (0 at admission, 1 at 48 h)
    t = rng.uniform(0, 1)
    while t < 48:
        if rng.random() > 0.15:
            rows.append((t, "HR", round(80 + (4 + 16 * drift(t)) * s + rng.normal(0, 6), 0) if rng.random() > 0.005 else 0.0))
            rows.append((t, "MAP", round(85 - (3 + 10 * drift(t)) * s + rng.normal(0, 7), 1)))
            rows.append((t, "RespRate", round(18 + 3 * s * drift(t) + rng.normal(0, 3), 0)))
        t += rng.uniform(0.5, 1.5)
    for start, step, name, value in ((rng.uniform(0, 4), 4.0, "Temp", lambda t: 37 + 0.5 * s * drift(t) + rng.normal(0, 0.4)),
                                     (rng.uniform(0, 6), 6 + 6 * rng.random() / (1 + max(s, 0)), "Lactate",
                                      lambda t: max(0.3, 1.4 + 1.6 * max(s, 0) * drift(t) + rng.normal(0, 0.4))),
                                     (rng.uniform(0, 12), 12.0, "WBC", lambda t: max(1.0, 10 + 2 * s + rng.normal(0, 2)))):
        t = start
        while t < 48:
            rows.append((t, name, round(float(value(t)), 2)))
            if rng.random() < 0.03:
                rows.append(rows[-1])  # the same row twice
            t += step * rng.uniform(0.8, 1.2)
    if rng.random() < 0.3 + 0.2 * (s > 1):
        rows += [(t, "MechVent", 1.0) for t in np.sort(rng.uniform(0, 48, rng.integers(2, 8)))]
    return rows, died


def write_ward_example(out: str | Path, stays: int = STAYS, seed: int = 0) -> dict[str, Path]:
    """Write OUT/records/{id}.txt and OUT/outcomes.csv (RecordID, died); return their paths."""
    out = Path(out)
    records = out / "records"
    records.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    outcomes = ["RecordID,died"]
    for k in range(stays):
        record = 100000 + k
        rows, died = _stay(rng, record)
        descriptors, series = rows[:6], sorted(rows[6:], key=lambda r: r[0])
        lines = ["Time,Parameter,Value"]
        for t, name, value in descriptors + series:
            minutes = int(round(t * 60))
            lines.append(f"{minutes // 60:02d}:{minutes % 60:02d},{name},{value:g}")
        (records / f"{record}.txt").write_text("\n".join(lines) + "\n")
        outcomes.append(f"{record},{died}")
    (out / "outcomes.csv").write_text("\n".join(outcomes) + "\n")
    return {"records": records, "outcomes": out / "outcomes.csv"}
