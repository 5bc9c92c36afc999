"""Shared by the layer speed benchmarks (layers.py, cells.py): forward+backward passes of several
layers on one input, timed in turns so that drifts in machine load hit all alike."""

from __future__ import annotations

import math
import statistics
import time

import torch

MIN_SAMPLE_S = 0.1  # each timed sample runs back-to-back passes for at least this long


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def one_pass(layer, x, grad) -> None:
    ys, _ = layer(x)
    ys.backward(grad)


def seconds_per_pass(layer, x, grad, device, number: int = 1) -> float:
    """Seconds per forward+backward pass, averaged over `number` passes in a row."""
    sync(device)
    start = time.perf_counter()
    for _ in range(number):
        one_pass(layer, x, grad)
    sync(device)
    return (time.perf_counter() - start) / number


def race(contenders: dict, x, grad, device, repeats: int, *, warmup: int = 1, fewer: dict | None = None) -> dict:
    """Tokens (B*T) per second of each contender: the median over `repeats` samples (or the count in
    `fewer` for the slow ones), the contenders timed in turns."""
    fewer = fewer or {}
    number = {}
    for name, layer in contenders.items():
        for _ in range(warmup):
            one_pass(layer, x, grad)
        number[name] = max(1, math.ceil(MIN_SAMPLE_S / seconds_per_pass(layer, x, grad, device)))
    times = {name: [] for name in contenders}
    for i in range(repeats):
        for name, layer in contenders.items():
            if i < fewer.get(name, repeats):
                times[name].append(seconds_per_pass(layer, x, grad, device, number[name]))
    tokens = x.shape[0] * x.shape[1]
    return {name: tokens / statistics.median(ts) for name, ts in times.items()}
