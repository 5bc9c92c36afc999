"""What `rnnkit serve` runs for each loaded run directory: one service per run, on eager torch or on
its ONNX export (rnnkit.runtime), with the same methods either way. A request's mistakes raise
RequestError naming the field, which the app answers with a 4xx."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from rnnkit.data.tokenizers import decode_incrementally
from rnnkit.runtime import pad_rows
from rnnkit.training.checkpoint import read_json
from rnnkit.training.rundir import read_run

TASKS = ("lm", "classify", "forecast", "translate", "speech")
BACKENDS = ("torch", "onnx")


class RequestError(ValueError):
    """A bad request: `field` is the JSON path of what was wrong ("prompt", "inputs[2]")."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.field, self.status = field, status


def load_service(run_dir: Path, backend: str = "torch", name: str | None = None):
    """The service of one run directory (its export folder, RUN_DIR/export, for the onnx backend)."""
    run_dir = Path(run_dir)
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    task = read_run(run_dir).get("task")
    if task not in TASKS:
        raise ValueError(f"{run_dir} holds a {task!r} run; rnnkit serve handles {', '.join(TASKS)} runs so far")
    name = name or run_dir.resolve().name
    runner = None
    if backend == "onnx":
        from rnnkit.runtime import load as load_export

        if not (run_dir / "export" / "export.json").is_file():
            raise ValueError(f"--backend onnx serves RUN_DIR/export; run 'rnnkit export {run_dir}' first")
        runner = load_export(run_dir / "export")
    services = {"lm": LMService, "classify": ClassifierService, "forecast": ForecastService, "translate": TranslateService,
                "speech": SpeechService}
    return services[task](name, run_dir, runner)


class Service:
    task = ""

    def __init__(self, name: str, run_dir: Path, runner) -> None:
        self.name, self.run_dir, self.runner = name, run_dir, runner
        self.lock = threading.Lock()  # one request at a time per model: the cores are shared anyway
        self.backend = "torch" if runner is None else "onnx"

    def describe(self) -> dict:
        return {"name": self.name, "task": self.task, "backend": self.backend, "run": str(self.run_dir)}


class LMService(Service):
    task = "lm"

    def __init__(self, name: str, run_dir: Path, runner) -> None:
        super().__init__(name, run_dir, runner)
        if runner is None:
            from rnnkit.tasks import lm

            self.model, self.tokenizer = lm.load_model(run_dir)
            self.max_len = getattr(self.model.config, "max_len", None)
        else:
            self.tokenizer = runner.tokenizer
            self.max_len = runner.spec.get("max_len")

    def describe(self) -> dict:
        vocab = getattr(self.tokenizer, "vocab_size", None)
        return {**super().describe(), "vocab_size": vocab, "context": self.max_len}

    def encode(self, prompt: str) -> list[int]:
        """The prompt's token ids; a token the vocabulary lacks is an error that shows it."""
        encoded = self.tokenizer.encode(prompt or "\n")
        if encoded.unknown:
            pieces = [piece for piece in self._pieces(prompt) if self.tokenizer.encode(piece).unknown]
            shown = ", ".join(repr(p) for p in dict.fromkeys(pieces))
            raise RequestError("prompt", f"the prompt holds {encoded.unknown} token(s) this model's vocabulary lacks ({shown[:200]}); "
                                         f"remove or replace them")
        return encoded.ids

    def _pieces(self, prompt: str) -> list[str]:
        split = getattr(self.tokenizer, "split", None)
        return split(prompt) if split else list(prompt)

    def stream(self, ids: list[int], max_tokens: int, temperature: float, top_k: int | None, seed: int) -> Iterator[str]:
        """Text pieces as they are generated."""
        if self.runner is None:
            from rnnkit.tasks.lm import generate_ids

            tokens = generate_ids(self.model, ids, max_tokens, temperature, top_k, seed)
        else:
            tokens = self.runner.generate_ids(ids, max_tokens, temperature, top_k, seed)
        with torch.no_grad():
            yield from decode_incrementally(self.tokenizer, tokens)


class ClassifierService(Service):
    task = "classify"

    def __init__(self, name: str, run_dir: Path, runner) -> None:
        super().__init__(name, run_dir, runner)
        if runner is None:
            from rnnkit.tasks.classify import load_run

            self.model, self.encoder, self.labels, _ = load_run(run_dir)
            self.kind = self.encoder.kind
            self.tokenizer = self.encoder.tokenizer
            self.channels = None if self.kind == "text" else len(self.encoder.scaler.mean)
        else:
            self.labels, self.kind, self.tokenizer = runner.labels, runner.kind, runner.tokenizer
            self.channels = None if self.kind == "text" else len(runner.scaler["mean"])

    def describe(self) -> dict:
        inputs = "text" if self.kind == "text" else f"series of {self.channels} channel(s)"
        return {**super().describe(), "labels": self.labels, "inputs": inputs}

    def prepare(self, examples: list) -> tuple[list, list[int]]:
        """(encoded rows, unknown tokens per example): every check of a request, before any model runs."""
        unknown = []
        if self.kind == "text":
            rows = []
            for i, text in enumerate(examples):
                if not isinstance(text, str):
                    raise RequestError(f"inputs[{i}]", f"this model classifies text; inputs[{i}] is not a string")
                encoded = self.tokenizer.encode(text)
                if not encoded.ids:
                    raise RequestError(f"inputs[{i}]", f"inputs[{i}] has no tokens after tokenization")
                rows.append(encoded.ids)
                unknown.append(encoded.unknown)
        else:
            rows = [self._series(values, i) for i, values in enumerate(examples)]
            unknown = [0] * len(rows)
        return rows, unknown

    def probabilities(self, rows: list) -> np.ndarray:
        """(N, C) class probabilities of prepared rows (of one request or of several batched together)."""
        if self.runner is None:
            return self._torch(rows)
        if self.kind == "text":
            return self.runner.probabilities(*pad_rows([np.asarray(r, dtype=np.int64) for r in rows]))
        return self.runner.predict(rows)[1]

    def _series(self, values, i: int) -> np.ndarray:
        array = np.asarray(values, dtype=np.float64)
        if array.ndim == 1:
            array = array[:, None]
        if array.ndim != 2 or array.shape[1] != self.channels or len(array) == 0:
            raise RequestError(f"inputs[{i}]", f"inputs[{i}] has shape {list(array.shape)}; expected (time steps >= 1, {self.channels})")
        if not np.isfinite(array).all():
            raise RequestError(f"inputs[{i}]", f"inputs[{i}] holds NaN or infinite values")
        return array

    def _torch(self, rows: list) -> np.ndarray:
        from rnnkit.data import PaddedBatches
        from rnnkit.tasks.classify import predict_batches

        if self.kind == "text":
            inputs = [torch.tensor(r, dtype=torch.long) for r in rows]
        else:
            inputs = self.encoder.series([torch.tensor(r, dtype=torch.float32) for r in rows])
        probabilities, _ = predict_batches(self.model, PaddedBatches(inputs, torch.zeros(len(inputs), dtype=torch.long), 256,
                                                                     shuffle=False), "cpu")
        return probabilities.numpy()



class ForecastService(Service):
    task = "forecast"

    def __init__(self, name: str, run_dir: Path, runner) -> None:
        super().__init__(name, run_dir, runner)
        saved = read_json(run_dir / "forecast.json")["data"]
        self.targets, self.covariates = list(saved["targets"]), list(saved.get("covariates") or [])
        self.known, self.time_column = list(saved.get("known") or []), saved.get("time_column")
        self.lookback, self.horizon = saved["lookback"], saved["horizon"]
        self.columns = ([self.time_column] if self.time_column else []) + self.targets + self.covariates + self.known  # what a request gives
        if saved.get("id_column"):
            raise ValueError(f"{run_dir} is a panel forecaster (--id-column); rnnkit serve handles single series so far")
        if runner is None:
            from rnnkit.tasks.forecast.inference import load_run

            self.loaded = load_run(run_dir)

    def describe(self) -> dict:
        return {**super().describe(), "columns": self.columns, "targets": self.targets, "lookback": self.lookback, "horizon": self.horizon,
                "known_future": self.known}

    def forecast(self, columns: dict) -> dict:
        """columns: {name: [values]} with at least the run's lookback rows; known-future covariates
        add `horizon` rows after the history with the targets null."""
        needed = self.columns
        missing = [c for c in needed if c not in columns]
        if missing:
            raise RequestError(f"columns.{missing[0]}", f"columns lacks {missing}; this model reads {needed}")
        lengths = {len(columns[c]) for c in needed}
        if len(lengths) != 1:
            raise RequestError("columns", f"every column must have the same number of rows; got {sorted(lengths)}")
        for c in needed:
            if c == self.time_column:
                continue
            for r, v in enumerate(columns[c]):
                if v is None:
                    continue
                if isinstance(v, str) or isinstance(v, bool):
                    raise RequestError(f"columns.{c}[{r}]", f"columns.{c}[{r}] is {v!r}; {c} is a numeric column, so give a number "
                                       "(or null for a missing value)")
                if not np.isfinite(v):
                    raise RequestError(f"columns.{c}[{r}]", f"columns.{c}[{r}] is NaN or infinite")
        if self.runner is not None:  # the export takes single series without known-future covariates
            history = np.asarray([columns[c] for c in self.targets + self.covariates], dtype=np.float64).T
            try:
                result = self.runner.forecast(history)
            except ValueError as err:
                raise RequestError("columns", str(err)) from None
            return {**result, "times": None}
        from rnnkit.tasks.forecast.inference import forecast_rows

        header = needed
        rows = [["" if columns[c][r] is None else str(columns[c][r]) for c in header] for r in range(lengths.pop())]
        try:
            _, result = forecast_rows(self.loaded, header, rows, "the request", "cpu")
        except ValueError as err:
            raise RequestError("columns", str(err)) from None
        times = result["times"]
        return {**result, "times": [str(t) for t in times] if times is not None else None}


class TranslateService(Service):
    task = "translate"

    def __init__(self, name: str, run_dir: Path, runner) -> None:
        super().__init__(name, run_dir, runner)
        if runner is None:
            from rnnkit.tasks.translate import Translator

            self.translator = Translator.load(run_dir, "cpu")

    def describe(self) -> dict:
        return {**super().describe(), "decoding": "greedy (beam 1) or beam search"}

    def translate(self, texts: list[str], beam: int) -> list[str]:
        for i, text in enumerate(texts):
            if not text.strip():
                raise RequestError(f"texts[{i}]", f"texts[{i}] is empty; give one sentence per text")
        if self.runner is not None:
            return self.runner.translate(texts, beam)
        with torch.no_grad():
            return [text for text, _, _ in self.translator.translate(texts, beam_size=beam)]


class SpeechService(Service):
    task = "speech"

    def __init__(self, name: str, run_dir: Path, runner) -> None:
        super().__init__(name, run_dir, runner)
        if runner is None:
            from rnnkit.tasks.speech.recognize import Recognizer

            self.recognizer = Recognizer.load(run_dir, "cpu")
            self.sample_rate = self.recognizer.features.sample_rate
        else:
            self.sample_rate = runner.sample_rate

    def describe(self) -> dict:
        return {**super().describe(), "sample_rate": self.sample_rate,
                "decoding": "greedy or beam search" if self.runner is None else "greedy (the onnx backend)"}

    def transcribe(self, wav: bytes, beam: int, max_seconds: float) -> dict:
        """{"text", "seconds"} of one integer-PCM WAV file's bytes."""
        from rnnkit.runtime import wav_samples

        try:
            samples, rate = wav_samples(wav)
        except ValueError as err:
            raise RequestError("audio", str(err)) from None
        seconds = len(samples) / rate
        if seconds > max_seconds:
            raise RequestError("audio", f"the audio is {seconds:.1f} s long; the limit is {max_seconds:g} s")
        if not np.isfinite(samples).all():
            raise RequestError("audio", "the audio holds NaN or infinite samples")
        if self.runner is not None:
            if beam > 1:
                raise RequestError("beam", "the onnx backend decodes greedily (beam 1); serve with --backend torch for beam search")
            if rate != self.sample_rate:
                raise RequestError("audio", f"the audio is at {rate} Hz; this export reads {self.sample_rate} Hz (resample it, "
                                            "or serve with --backend torch, which resamples)")
            try:
                return {"text": self.runner.transcribe([samples])[0], "seconds": round(seconds, 3)}
            except ValueError as err:
                raise RequestError("audio", str(err)) from None
        from rnnkit.data.audio import resample
        from rnnkit.tasks.speech.recognize import Decoding

        clip = torch.from_numpy(samples)
        if rate != self.sample_rate:
            clip = resample(clip.unsqueeze(0), rate, self.sample_rate)[0]
        if clip.shape[0] < self.recognizer.features.min_samples:
            raise RequestError("audio", f"the audio has {clip.shape[0]} samples at {self.sample_rate} Hz; the model needs at least "
                                        f"{self.recognizer.features.min_samples}")
        with torch.no_grad():
            return {"text": self.recognizer.transcribe_samples(clip, Decoding(beam=beam)), "seconds": round(seconds, 3)}


class MicroBatcher:
    """Requests to one model that arrive within `max_wait_s` of each other run as one batch of up to
    `max_batch` rows: the first request to arrive waits that long, then runs everything queued
    (several batches if need be) while the others wait for their share. `run(rows) -> outputs` is
    called under `lock`, one batch at a time; a request's rows stay together and in order."""

    def __init__(self, run, lock: threading.Lock, max_batch: int, max_wait_s: float) -> None:
        self.run, self.lock, self.max_batch, self.max_wait_s = run, lock, max_batch, max_wait_s
        self.guard = threading.Lock()
        self.queue: list[tuple[list, dict]] = []
        self.leading = False
        self.batches = 0  # batches run so far (for tests and /v1/models)

    def submit(self, rows: list):
        slot = {"done": threading.Event(), "result": None, "error": None}
        with self.guard:
            self.queue.append((rows, slot))
            lead = not self.leading
            self.leading = self.leading or lead
        if lead:
            self._lead()
        slot["done"].wait()
        if slot["error"] is not None:
            raise slot["error"]
        return slot["result"]

    def _lead(self) -> None:
        time.sleep(self.max_wait_s)
        while True:
            with self.guard:
                if not self.queue:
                    self.leading = False
                    return
                taken, size = [], 0
                while self.queue and (not taken or size + len(self.queue[0][0]) <= self.max_batch):
                    rows, slot = self.queue.pop(0)
                    taken.append((rows, slot))
                    size += len(rows)
            combined = [row for rows, _ in taken for row in rows]
            try:
                with self.lock:
                    outputs = self.run(combined)
                self.batches += 1
                start = 0
                for rows, slot in taken:
                    slot["result"] = outputs[start : start + len(rows)]
                    start += len(rows)
            except Exception as err:  # every request of the batch hears of it
                for _, slot in taken:
                    slot["error"] = err
            for _, slot in taken:
                slot["done"].set()
