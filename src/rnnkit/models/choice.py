"""Choosing a model by name: each task keeps one mapping from the names `--model` takes to
(model class, config class, default settings), and builds and reloads its models through it."""

from __future__ import annotations

from dataclasses import fields

from torch import nn


def build_model(choices: dict, overrides: dict, default: str = "rnn", **shape) -> nn.Module:
    """The model named by overrides["model"] (else `default`) with its defaults updated by the other
    `overrides`; `shape` gives what the data decides (vocabulary size, features, ...). A setting the
    chosen model does not have is an error naming the flag."""
    values = dict(overrides)
    kind = values.pop("model", None) or default
    if kind not in choices:
        raise ValueError(f"model must be one of {', '.join(sorted(choices))}; got {kind!r}")
    model_class, config_class, defaults = choices[kind]
    known = {f.name for f in fields(config_class)}
    unknown = sorted(set(values) - known)
    if unknown:
        flags = ", ".join(f"--{name.replace('_', '-')}" for name in unknown)
        raise ValueError(f"--model {kind} has no option {flags}; leave it out, or use the model that has it")
    return model_class.from_config(config_class(**shape, **{**defaults, **values}))


def model_from_description(choices: dict, saved: dict) -> nn.Module:
    """The model run.json describes ({"class", "config"}), with freshly initialised weights."""
    name = saved["class"].rsplit(".", 1)[-1]
    for model_class, config_class, _ in choices.values():
        if name == model_class.__qualname__:
            values = dict(saved["config"])
            for f in fields(config_class):  # JSON gave tuples back as lists
                if isinstance(values.get(f.name), list) and str(f.type).startswith("tuple"):
                    values[f.name] = tuple(values[f.name])
            return model_class.from_config(config_class(**values))
    raise ValueError(f"run.json names the model {saved['class']!r}, which this rnnkit does not know; "
                     f"this task's models are {', '.join(sorted(choices))}")


def model_name(choices: dict, model: nn.Module) -> str:
    """The name under which `model`'s class appears in `choices`."""
    return next(name for name, (model_class, _, _) in choices.items() if isinstance(model, model_class))


__all__ = ["build_model", "model_from_description", "model_name"]
