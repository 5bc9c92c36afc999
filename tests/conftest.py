"""Shared test settings: a hypothesis profile sized for a 2-core machine, seeded torch, helpers."""

from __future__ import annotations

import pytest
import torch
from hypothesis import settings

settings.register_profile("rnnkit", max_examples=25, deadline=None, derandomize=True)
settings.load_profile("rnnkit")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
