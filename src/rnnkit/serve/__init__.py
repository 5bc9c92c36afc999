"""Serving trained runs over HTTP (`rnnkit serve`, the `serve` extra: FastAPI and uvicorn)."""

from rnnkit.serve.services import BACKENDS, RequestError, load_service

__all__ = ["BACKENDS", "RequestError", "load_service"]
