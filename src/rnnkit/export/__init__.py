"""Deployment: trained runs exported to ONNX (`export_run`), checked against the eager model, with an
export.json that `rnnkit.runtime` (onnxruntime and numpy, no torch) runs them from."""

from rnnkit.export.runs import TASKS, export_run

__all__ = ["TASKS", "export_run"]
