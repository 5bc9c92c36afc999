"""A generated speech-recognition data set that needs no download: touch-tone (DTMF) key strings.

Each key of a telephone keypad sounds two sine tones, a row frequency and a column frequency
(ITU-T Q.23). An utterance is 1-6 keys with varied tone lengths (60-220 ms), gaps (40-250 ms),
levels (-30 to -6 dBFS), twist between the two tones (+-3 dB), frequency error (+-1.5%, which the
standard tolerates) and background noise (SNR 8-30 dB); repeats occur, so a CTC model must learn the
blank between them. The transcript names the keys ("4 0 a 7"); every key's true start and end are
kept in the manifest for timestamp checks.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from rnnkit.data.audio import write_wav

ROWS = (697.0, 770.0, 852.0, 941.0)
COLUMNS = (1209.0, 1336.0, 1477.0, 1633.0)
KEYPAD = ("123a", "456b", "789c", "*0#d")
KEYS = "0123456789abcd"  # * and # are left out: transcripts keep letters and digits only
SPLITS = {"train": 600, "val": 60, "test": 120}


def key_frequencies(key: str) -> tuple[float, float]:
    for r, row in enumerate(KEYPAD):
        if key in row:
            return ROWS[r], COLUMNS[row.index(key)]
    raise ValueError(f"{key!r} is not a DTMF key")


def dtmf_utterance(rng: np.random.Generator, sample_rate: int = 8000, max_keys: int = 6) -> tuple[np.ndarray, list[dict]]:
    """(samples in [-1, 1], [{"word", "start", "end"}] per key) of one random key string."""
    keys = [KEYS[i] for i in rng.integers(0, len(KEYS), size=int(rng.integers(1, max_keys + 1)))]
    level = 10 ** (rng.uniform(-30, -6) / 20)
    lead = np.zeros(int(rng.uniform(0.05, 0.3) * sample_rate))
    pieces, words, t = [lead], [], len(lead) / sample_rate
    for i, key in enumerate(keys):
        low, high = (f * (1 + rng.uniform(-0.015, 0.015)) for f in key_frequencies(key))
        n = int(rng.uniform(0.06, 0.22) * sample_rate)
        time = np.arange(n) / sample_rate
        twist = 10 ** (rng.uniform(-3, 3) / 20)
        tone = np.sin(2 * np.pi * low * time + rng.uniform(0, 2 * np.pi)) + twist * np.sin(2 * np.pi * high * time + rng.uniform(0, 2 * np.pi))
        ramp = min(n // 2, int(0.005 * sample_rate))  # 5 ms fades: no clicks
        envelope = np.ones(n)
        envelope[:ramp], envelope[n - ramp :] = np.linspace(0, 1, ramp), np.linspace(1, 0, ramp)
        pieces.append(level / (1 + twist) * tone * envelope)
        words.append({"word": key, "start": round(t, 4), "end": round(t + n / sample_rate, 4)})
        t += n / sample_rate
        gap = int((rng.uniform(0.04, 0.25) if i < len(keys) - 1 else rng.uniform(0.05, 0.3)) * sample_rate)
        pieces.append(np.zeros(gap))
        t += gap / sample_rate
    signal = np.concatenate(pieces)
    noise_level = level / math.sqrt(2) / 10 ** (rng.uniform(8, 30) / 20)
    return signal + rng.normal(0, noise_level, size=signal.shape), words


def write_dtmf_example(directory: str | Path, sizes: dict[str, int] | None = None, seed: int = 0, sample_rate: int = 8000) -> dict[str, Path]:
    """WAV files under DIRECTORY/wav and one JSONL manifest per split (train, val, test); returns
    the manifests' paths. The same seed writes the same files."""
    directory = Path(directory)
    (directory / "wav").mkdir(parents=True, exist_ok=True)
    manifests = {}
    for offset, (split, count) in enumerate((sizes or SPLITS).items()):
        rng = np.random.default_rng([seed, offset])
        lines = []
        for i in range(count):
            samples, words = dtmf_utterance(rng, sample_rate)
            name = f"wav/{split}-{i:04d}.wav"
            write_wav(directory / name, samples, sample_rate)
            lines.append(json.dumps({"audio_filepath": name, "text": " ".join(w["word"] for w in words),
                                     "duration": round(len(samples) / sample_rate, 4), "words": words}))
        manifests[split] = directory / f"{split}.jsonl"
        manifests[split].write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifests
