"""Integer PCM bytes to float samples with numpy alone (no torch), shared by data.audio and the
ONNX runtime."""

from __future__ import annotations

import numpy as np


def pcm_to_float(data: bytes, width: int, channels: int, order: str, path) -> np.ndarray:
    """Interleaved integer PCM bytes ("<" little- or ">" big-endian) -> (channels, N) float32 in [-1, 1)."""
    usable = len(data) - len(data) % (width * channels)
    data = data[:usable]
    if width == 1:  # 8-bit WAV is unsigned
        values = np.frombuffer(data, dtype=np.uint8).astype(np.float32) - 128.0
    elif width in (2, 4):
        values = np.frombuffer(data, dtype=f"{order}i{width}").astype(np.float32)
    elif width == 3:
        raw = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        if order == ">":
            raw = raw[:, ::-1]
        values = (raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)).astype(np.int32)
        values = np.where(values >= 1 << 23, values - (1 << 24), values).astype(np.float32)
    else:
        raise ValueError(f"{path}: {8 * width}-bit samples are not supported (8, 16, 24 or 32-bit PCM)")
    scale = float(1 << (8 * width - 1))
    return (values / scale).reshape(-1, channels).T.copy()
