"""Choosing a model by name: each task keeps one mapping from the names `--model` takes to
(model class, config class, default settings), and builds and reloads its models through it."""

from __future__ import annotations

import functools
import sys
from dataclasses import fields

import torch
from torch import nn


def build_model(choices: dict, overrides: dict, default: str = "rnn", **shape) -> nn.Module:
    """The model named by overrides["model"] (else `default`) with its defaults updated by the other
    `overrides`; `shape` gives what the data decides (vocabulary size, features, ...). A setting the
    chosen model does not have is an error naming the flag. overrides["params"] = N sizes the model's
    width (d_model for a transformer, else hidden_size) so that it has about N parameters."""
    values = dict(overrides)
    kind = values.pop("model", None) or default
    target = values.pop("params", None)
    if kind not in choices:
        raise ValueError(f"model must be one of {', '.join(sorted(choices))}; got {kind!r}")
    model_class, config_class, defaults = choices[kind]
    known = {f.name for f in fields(config_class)}
    unknown = sorted(set(values) - known)
    if unknown:
        flags = ", ".join(f"--{name.replace('_', '-')}" for name in unknown)
        raise ValueError(f"--model {kind} has no option {flags}; leave it out, or use the model that has it")
    settings = {**defaults, **values}
    if target is not None:
        settings = sized_settings(model_class, config_class, shape, settings, int(target), kind)
    return model_class.from_config(config_class(**shape, **settings))


def parameter_count(model: nn.Module) -> int:
    """Trainable numbers in `model`, each shared (tied) tensor counted once."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def sized_settings(model_class, config_class, shape: dict, settings: dict, target: int, kind: str = "model") -> dict:
    """`settings` with the width (d_model in steps of num_heads, or hidden_size) whose model has the
    parameter count nearest `target`. Candidates are built on the meta device, so no memory is used."""
    if target < 1:
        raise ValueError(f"--params must be a positive number of parameters; got {target}")
    base = config_class(**shape, **settings)
    width = "d_model" if hasattr(base, "d_model") else "hidden_size"
    step = base.num_heads if width == "d_model" else 1
    lowest = max(1, -(-2 // step)) if width == "d_model" else 1

    @functools.cache  # the search asks for some widths twice
    def count(units: int) -> int:
        with torch.device("meta"):
            return parameter_count(model_class.from_config(config_class(**shape, **{**settings, width: units * step})))

    for _ in range(64):  # the narrowest width the model accepts
        try:
            smallest = count(lowest)
            break
        except ValueError:
            lowest += 1
    else:
        smallest = count(lowest)  # raises the model's own message
    low = lowest
    if smallest >= target:
        if smallest > 1.1 * target:
            raise ValueError(f"--params {target:,} is below the smallest {kind} model for this data "
                             f"({smallest:,} parameters at {width} {lowest * step}); ask for more, or shrink other settings")
        return {**settings, width: lowest * step}
    high = low * 2
    while count(high) < target:  # parameters grow with the width: double, then bisect
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if count(middle) < target else (low, middle)
    units = min((low, high), key=lambda u: abs(count(u) - target))
    got = count(units)
    print(f"rnnkit: --params {target:,}: {width} {units * step} gives {got:,} parameters ({got / target - 1:+.1%})", file=sys.stderr)
    return {**settings, width: units * step}


def model_from_description(choices: dict, saved: dict) -> nn.Module:
    """The model run.json describes ({"class", "config"}), with freshly initialised weights."""
    name = saved["class"].rsplit(".", 1)[-1]
    for model_class, config_class, _ in choices.values():
        if name == model_class.__qualname__:
            # a field added later takes, for a run saved without it, the value that run was trained with
            values = {**getattr(config_class, "LEGACY_DEFAULTS", {}), **saved["config"]}
            for f in fields(config_class):  # JSON gave tuples back as lists
                if isinstance(values.get(f.name), list) and str(f.type).startswith("tuple"):
                    values[f.name] = tuple(values[f.name])
            return model_class.from_config(config_class(**values))
    raise ValueError(f"run.json names the model {saved['class']!r}, which this rnnkit does not know; "
                     f"this task's models are {', '.join(sorted(choices))}")


def model_name(choices: dict, model: nn.Module) -> str:
    """The name under which `model`'s class appears in `choices`."""
    return next(name for name, (model_class, _, _) in choices.items() if isinstance(model, model_class))


__all__ = ["build_model", "model_from_description", "model_name", "parameter_count", "sized_settings"]
