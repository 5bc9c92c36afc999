"""One module to one ONNX file, with its axes named and checked, and its outputs compared with eager.

torch's exporter does not raise when it freezes an axis it was told is dynamic (it does that to the
time axis of a loop-kernel layer or of a bidirectional torch.nn.LSTM), and it declares the time axis
of an RNN's outputs at the example's length even when the graph computes any length. So every export
here names each input's and output's axes, rewrites the declared output axes to those names, refuses
a file whose inputs came out with a fixed size where a name was asked for, and is then run through
onnxruntime at shapes it was not traced with and compared with the eager module.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

# (B) batch and (T) time: the axes an exported graph keeps symbolic
AXIS_LIMITS = {"batch": 1 << 16, "time": 1 << 20}
TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}


@dataclass(frozen=True)
class Port:
    """One graph input or output: its name, its axes (a symbolic name or a fixed size each) and dtype."""

    name: str
    axes: tuple[str | int, ...]
    dtype: str = "float32"

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.axes), "dtype": self.dtype}

    def shape_at(self, batch: int) -> list[int]:
        """The shape with the batch axis at `batch` (for the state ports, whose other axes are fixed)."""
        return [batch if axis == "batch" else axis for axis in self.axes]


def require_onnx():
    """onnx and onnxruntime, or an error that says how to install them."""
    try:
        import onnx
        import onnxruntime
        import onnxscript  # noqa: F401  (the exporter needs it)
    except ImportError as err:
        raise ValueError(f"export needs onnx, onnxscript and onnxruntime ({err.name} is missing): "
                         "pip install 'rnnkit[export]'") from err
    return onnx, onnxruntime


def export_graph(module: nn.Module, example: tuple[Tensor, ...], inputs: list[Port], outputs: list[Port], path: Path,
                 opset: int = 18) -> Path:
    """Trace `module(*example)` into `path` (one file, no external weights), with the symbolic axes
    the ports name; raises ValueError when the exporter fixed one of them."""
    onnx, _ = require_onnx()
    dims = {}

    def dim(name: str):
        if name not in dims:
            dims[name] = torch.export.Dim(name, min=1, max=AXIS_LIMITS.get(name, 1 << 20))
        return dims[name]

    shapes = _grouped(module, [{i: dim(axis) for i, axis in enumerate(port.axes) if isinstance(axis, str)} or None for port in inputs])
    path.parent.mkdir(parents=True, exist_ok=True)
    with _quiet(), _fresh_rnn_dispatch():
        program = torch.onnx.export(
            module, example, None, dynamo=True, external_data=False, opset_version=opset,
            input_names=[p.name for p in inputs], output_names=[p.name for p in outputs], dynamic_shapes=shapes, verbose=False)
    model = program.model_proto
    _check_inputs(model, inputs, path)
    _name_output_axes(model, outputs)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _grouped(module: nn.Module, shapes: list):
    """dynamic_shapes in the structure torch.export sees: forward(a, b, *rest) takes (a, b, (rest...))."""
    parameters = list(inspect.signature(module.forward).parameters.values())
    if parameters and parameters[-1].kind is inspect.Parameter.VAR_POSITIONAL:
        fixed = len(parameters) - 1
        return (*shapes[:fixed], tuple(shapes[fixed:]))
    return tuple(shapes)


def _check_inputs(model, inputs: list[Port], path: Path) -> None:
    declared = {v.name: v for v in model.graph.input}
    for port in inputs:
        if port.name not in declared:
            raise ValueError(f"exporting {path.name}: the graph lost its input {port.name!r} (is it unused?)")
        got = [d.dim_param or d.dim_value for d in declared[port.name].type.tensor_type.shape.dim]
        for axis, value in zip(port.axes, got):
            if isinstance(axis, str) and not isinstance(value, str):
                raise ValueError(f"exporting {path.name}: the {axis} axis of {port.name!r} came out fixed at {value}; "
                                 f"the graph would only run at that size")


def _name_output_axes(model, outputs: list[Port]) -> None:
    declared = {v.name: v for v in model.graph.output}
    for port in outputs:
        shape = declared[port.name].type.tensor_type.shape
        for axis, d in zip(port.axes, shape.dim):
            if isinstance(axis, str):
                d.Clear()
                d.dim_param = axis
    del model.graph.value_info[:]  # intermediate shapes may carry the example's T as well; ORT infers them


@contextlib.contextmanager
def _fresh_rnn_dispatch():
    """Clear the dispatch caches of torch's LSTM and GRU ops before and after an export.

    With dynamic shapes, torch.onnx swaps in a while-loop decomposition of these ops by editing their
    `py_kernels` directly, which leaves each op's dispatch cache as it was: after one export and an
    eager call, a second export of the same op in the process used the cached kernel and froze the
    time axis at the example's length (torch 2.13; the symbolic-axis check caught it)."""
    ops = [getattr(torch.ops.aten, name).input for name in ("lstm", "gru")]

    def clear():
        for op in ops:
            cache = getattr(op, "_dispatch_cache", None)
            if cache is not None:
                cache.clear()

    clear()
    try:
        yield
    finally:
        clear()


@contextlib.contextmanager
def _quiet():
    """The exporter prints progress and warnings meant for torch's developers; keep them out of the
    user's terminal unless something fails."""
    noisy = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._dynamo", "torch.fx", "onnxscript")]
    levels = [logger.level for logger in noisy]
    try:
        for logger in noisy:
            logger.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(noisy, levels):
            logger.setLevel(level)


def session(path: Path):
    """An onnxruntime session on the CPU provider, with ORT's own log kept to errors."""
    _, ort = require_onnx()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def compare(sess, module: nn.Module, feeds: dict[str, np.ndarray], what: str) -> float:
    """Run the graph and the eager module on the same inputs; raise when an output differs beyond
    TOLERANCE, else return the largest absolute difference."""
    got = sess.run(None, feeds)
    with torch.no_grad():
        expected = module(*(torch.from_numpy(np.ascontiguousarray(v)) for v in feeds.values()))
    expected = expected if isinstance(expected, (tuple, list)) else (expected,)
    worst = 0.0
    for port, g, e in zip(sess.get_outputs(), got, expected):
        e = e.numpy()
        if g.shape != e.shape:
            raise ValueError(f"{what}: output {port.name} has shape {g.shape} in onnxruntime and {e.shape} in torch")
        if not np.allclose(g, e, **TOLERANCE):
            raise ValueError(f"{what}: output {port.name} differs from torch by up to {float(np.abs(g - e).max()):.3g} "
                             f"(tolerance rtol {TOLERANCE['rtol']}, atol {TOLERANCE['atol']})")
        finite = np.isfinite(e)  # -inf log-probabilities (never-generated tokens) match as they are
        worst = max(worst, float(np.abs(g[finite] - e[finite]).max()) if finite.any() else 0.0)
    return worst
