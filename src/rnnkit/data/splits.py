"""Splitting labelled examples for validation and testing."""

from __future__ import annotations

import torch


def stratified_split(labels: list[str], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train rows, validation rows): `fraction` of each class (at least one) held out."""
    generator = torch.Generator().manual_seed(seed)
    train, val = [], []
    for name in sorted(set(labels)):
        rows = [i for i, label in enumerate(labels) if label == name]
        order = [rows[i] for i in torch.randperm(len(rows), generator=generator).tolist()]
        cut = max(1, round(len(rows) * fraction)) if len(rows) > 1 else 0
        val += order[:cut]
        train += order[cut:]
    return sorted(train), sorted(val)


__all__ = ["stratified_split"]
