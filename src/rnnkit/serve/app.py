"""The HTTP app of `rnnkit serve` (FastAPI): health and readiness, what is loaded, and one endpoint
per task. Every error is a JSON body {"error": {"code", "message", "field"}} with a 4xx status for a
bad request (422 for a malformed or invalid one, 404 for an unknown model, 413 for a body over the
limit, 503 when too many requests are in flight or the models are still loading) and a bare 500
without a traceback for a fault of the server. No request field names a file on the server."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import threading
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Annotated

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from rnnkit.serve.services import MicroBatcher, RequestError

log = logging.getLogger("rnnkit.serve")
Number = Annotated[float, Field(allow_inf_nan=False)]


@dataclass(frozen=True)
class Limits:
    """What one request may ask for; each has a flag of `rnnkit serve` and shows in /v1/models."""

    max_body_bytes: int = 1 << 20
    max_items: int = 64  # texts or series per classify request
    max_chars: int = 20_000  # characters of a prompt or of one text
    max_steps: int = 100_000  # time steps of one series, rows of a forecast history
    max_tokens: int = 1_000  # tokens one generation may ask for
    max_in_flight: int = 8  # requests being answered at once; more get 503
    max_batch: int = 1  # rows of concurrent classify requests run together (1: no micro-batching)
    max_wait_ms: float = 5.0  # how long the first of them waits for others
    max_audio_seconds: float = 60.0  # length of one speech request's audio


class LMRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    model: str | None = None
    prompt: str = ""
    max_tokens: int | None = Field(None, ge=1)  # None: 100, or the server's limit if lower
    temperature: Number = Field(0.8, ge=0.0, le=10.0)
    top_k: int | None = Field(None, ge=1)
    seed: int = 0
    stream: bool = False


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    model: str | None = None
    inputs: list[str | list[Number] | list[list[Number]]] = Field(min_length=1)


class SpeechRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    model: str | None = None
    audio: str = Field(min_length=1)  # a WAV file (integer PCM), base64-encoded
    beam: int = Field(1, ge=1, le=64)


class TranslateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    model: str | None = None
    texts: list[str] = Field(min_length=1)
    beam: int = Field(5, ge=1, le=16)


class ForecastRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    model: str | None = None
    columns: dict[str, list[Number | str | None]] = Field(min_length=1)


def build_app(services: list | Callable[[], list], limits: Limits = Limits()) -> FastAPI:
    """The app serving `services` (or what the callable loads, in a background thread at start-up,
    so that /readyz answers 503 until it is done)."""
    state = {"services": None, "error": None}

    def load(loader):
        try:
            loaded = {s.name: s for s in loader()}
            if limits.max_batch > 1:
                for s in loaded.values():
                    if s.task == "classify":
                        s.batcher = MicroBatcher(s.probabilities, s.lock, limits.max_batch, limits.max_wait_ms / 1000)
            state["services"] = loaded
        except Exception as err:  # the server stays up and says why it is not ready
            log.exception("loading the models failed")
            state["error"] = f"{type(err).__name__}: {err}"

    @asynccontextmanager
    async def lifespan(app):
        if callable(services):
            threading.Thread(target=load, args=(services,), daemon=True).start()
        yield

    if not callable(services):
        load(lambda: services)
    app = FastAPI(title="rnnkit serve", lifespan=lifespan)
    app.add_middleware(_InFlightLimit, limit=limits.max_in_flight)
    app.add_middleware(_BodyLimit, limit=limits.max_body_bytes)

    def error(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
        return JSONResponse({"error": {"code": code, "message": message, "field": field}}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc: RequestValidationError):
        first = exc.errors()[0]
        location = [str(p) for p in first.get("loc", ()) if p != "body"]
        field = ".".join(location) or None
        if first.get("type") == "json_invalid":
            return error(422, "invalid_json", f"the body is not valid JSON: {first.get('ctx', {}).get('error', first.get('msg'))}")
        return error(422, "invalid_request", f"{field or 'the body'}: {first.get('msg')}", field)

    @app.exception_handler(RequestError)
    async def bad(request, exc: RequestError):
        code = {404: "not_found", 503: "not_ready"}.get(exc.status, "invalid_request")
        return error(exc.status, code, str(exc), exc.field)

    @app.exception_handler(HTTPException)
    async def http(request, exc: HTTPException):
        codes = {404: "not_found", 405: "method_not_allowed"}
        return error(exc.status_code, codes.get(exc.status_code, "error"), str(exc.detail))

    @app.exception_handler(Exception)
    async def fault(request, exc: Exception):
        log.exception("request failed")
        return error(500, "internal", "the server failed to answer this request; its log says why")

    def service(task: str, name: str | None):
        loaded = state["services"]
        if loaded is None:
            raise RequestError(None, state["error"] or "the models are still loading; try again shortly", 503)
        of_task = [s for s in loaded.values() if s.task == task]
        if not of_task:
            raise RequestError("model", f"no {task} model is loaded (loaded: {', '.join(loaded) or 'none'})", 404)
        if name is None:
            if len(of_task) > 1:
                raise RequestError("model", f"several {task} models are loaded; name one: {', '.join(s.name for s in of_task)}")
            return of_task[0]
        chosen = loaded.get(name)
        if chosen is None or chosen.task != task:
            raise RequestError("model", f"no {task} model is called {name!r}; loaded: {', '.join(s.name for s in of_task)}", 404)
        return chosen

    def check_items(field: str, items: list) -> None:
        """A list of texts or series within the limits: its length, each text's characters and each series' steps."""
        if len(items) > limits.max_items:
            raise RequestError(field, f"{field} has {len(items)} items; the limit is {limits.max_items}")
        for i, item in enumerate(items):
            limit, unit = (limits.max_chars, "characters") if isinstance(item, str) else (limits.max_steps, "steps")
            if len(item) > limit:
                raise RequestError(f"{field}[{i}]", f"{field}[{i}] has {len(item):,} {unit}; the limit is {limit:,}")

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz():
        if state["services"] is None:
            return error(503, "not_ready", state["error"] or "the models are still loading")
        return {"status": "ready", "models": sorted(state["services"])}

    @app.get("/v1/models")
    def models():
        if state["services"] is None:
            return error(503, "not_ready", state["error"] or "the models are still loading")
        return {"models": [s.describe() for s in state["services"].values()], "limits": asdict(limits)}

    @app.post("/v1/lm")
    def lm(body: LMRequest):
        chosen = service("lm", body.model)
        if len(body.prompt) > limits.max_chars:
            raise RequestError("prompt", f"the prompt has {len(body.prompt):,} characters; the limit is {limits.max_chars:,}")
        max_tokens = min(100, limits.max_tokens) if body.max_tokens is None else body.max_tokens
        if max_tokens > limits.max_tokens:
            raise RequestError("max_tokens", f"max_tokens is {body.max_tokens:,}; this server generates at most {limits.max_tokens:,}")
        ids = chosen.encode(body.prompt)
        if chosen.max_len and len(ids) > chosen.max_len:
            raise RequestError("prompt", f"the prompt has {len(ids)} tokens; this transformer reads at most {chosen.max_len}")
        pieces = chosen.stream(ids, max_tokens, body.temperature, body.top_k, body.seed)
        if not body.stream:
            start = time.perf_counter()
            with chosen.lock:
                text = list(pieces)
            return {"model": chosen.name, "text": "".join(text), "finish_reason": "length",
                    "seconds": round(time.perf_counter() - start, 4)}
        return StreamingResponse(_events(chosen, pieces), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.post("/v1/classify")
    def classify(body: ClassifyRequest):
        chosen = service("classify", body.model)
        check_items("inputs", body.inputs)
        rows, unknown = chosen.prepare(body.inputs)  # every check before any model runs
        batcher = getattr(chosen, "batcher", None)
        if batcher is None:
            with chosen.lock:
                probabilities = chosen.probabilities(rows)
        else:  # run with whatever else arrives now
            probabilities = batcher.submit(rows)
        labels = [chosen.labels[i] for i in probabilities.argmax(axis=1)]
        return {"model": chosen.name, "labels": labels,
                "probabilities": [dict(zip(chosen.labels, (round(float(p), 6) for p in row))) for row in probabilities],
                "unknown_tokens": unknown}

    @app.post("/v1/translate")
    def translate(body: TranslateRequest):
        chosen = service("translate", body.model)
        check_items("texts", body.texts)
        with chosen.lock:
            return {"model": chosen.name, "translations": chosen.translate(body.texts, body.beam), "beam": body.beam}

    @app.post("/v1/speech")
    def speech(body: SpeechRequest):
        chosen = service("speech", body.model)
        try:
            wav = base64.b64decode(body.audio, validate=True)
        except binascii.Error:
            raise RequestError("audio", "audio must be a WAV file encoded as base64") from None
        with chosen.lock:
            result = chosen.transcribe(wav, body.beam, limits.max_audio_seconds)
        return {"model": chosen.name, **result, "beam": body.beam}

    @app.post("/v1/forecast")
    def forecast(body: ForecastRequest):
        chosen = service("forecast", body.model)
        longest = max(len(v) for v in body.columns.values())
        if longest > limits.max_steps:
            raise RequestError("columns", f"a column has {longest:,} rows; the limit is {limits.max_steps:,}")
        with chosen.lock:
            result = chosen.forecast(body.columns)
        plain = lambda x: None if x is None else [[float(v) for v in row] for row in x]  # noqa: E731
        return {"model": chosen.name, "targets": result["targets"], "times": result.get("times"), "mean": plain(result["mean"]),
                "lower": plain(result["lower"]), "upper": plain(result["upper"]), "level": result["level"]}

    return app


async def _events(service, pieces):
    """Server-sent events: one `token` event per piece of text, then `done` (or `error`). The pieces
    are generated in a thread of their own, holding the model's lock, and handed over as they come;
    when the client goes away the server stops iterating this generator, and its `finally` tells the
    thread to stop after the piece in hand, so an abandoned generation frees the model at once."""
    loop = asyncio.get_running_loop()
    frames: asyncio.Queue = asyncio.Queue()
    stop = threading.Event()

    def put(frame) -> None:
        try:
            loop.call_soon_threadsafe(frames.put_nowait, frame)
        except RuntimeError:  # the event loop has closed: the server is gone
            stop.set()

    worker = threading.Thread(target=_generate, args=(service, pieces, stop, put), name="rnnkit-generate", daemon=True)
    worker.start()
    try:
        while (frame := await frames.get()) is not None:
            yield frame
    finally:
        stop.set()


def _generate(service, pieces, stop: threading.Event, put) -> None:
    """The body of `_events`' thread: frames to `put`, then None; stops early once `stop` is set."""
    count = 0
    try:
        with service.lock:
            for count, piece in enumerate(pieces, start=1):
                if stop.is_set():
                    log.info("generation stopped after %d pieces: the client went away", count - 1)
                    return
                put(_frame("token", {"text": piece, "i": count - 1}))
        put(_frame("done", {"finish_reason": "length", "pieces": count}))
    except Exception as err:  # the status line has gone out: say it in the stream
        log.exception("generation failed")
        put(_frame("error", {"message": f"generation failed: {type(err).__name__}"}))
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()
        put(None)


def _frame(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


class _TooLarge(Exception):
    pass


class _BodyLimit:
    """ASGI middleware: 413 for a request body over `limit` bytes, by its Content-Length or, without
    one, as soon as the bytes read pass the limit (the body is never read further)."""

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope, receive, send):
        response = JSONResponse({"error": {"code": "too_large", "message": f"the body is over the limit of {self.limit:,} bytes",
                                           "field": None}}, status_code=413)
        await response(scope, receive, send)


class _InFlightLimit:
    """ASGI middleware: 503 for an HTTP request that arrives while `limit` are being answered."""

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit, self.active = app, limit, 0
        self.guard = threading.Lock()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in ("/healthz", "/readyz"):
            await self.app(scope, receive, send)
            return
        with self.guard:
            busy = self.active >= self.limit
            if not busy:
                self.active += 1
        if busy:
            response = JSONResponse({"error": {"code": "busy", "message": f"{self.limit} requests are being answered; retry shortly",
                                               "field": None}}, status_code=503, headers={"Retry-After": "1"})
            await response(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            with self.guard:
                self.active -= 1
