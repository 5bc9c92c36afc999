"""Exported rnnkit models on onnxruntime and numpy alone: no torch is imported.

`rnnkit export RUN_DIR` writes ONNX files and an export.json; `load(EXPORT_DIR)` reads them back as
the task's runner, with the same pre- and post-processing as rnnkit's own commands:

    >>> from rnnkit import runtime
    >>> lm = runtime.load("runs/lm/export")
    >>> lm.generate("The ", max_tokens=40, temperature=0)          # greedy: the same text as `rnnkit lm generate --temperature 0`
    >>> clf = runtime.load("runs/sst2/export")
    >>> clf.predict(["a gripping, funny film"])                     # (labels, probabilities (N, C))
    >>> fc = runtime.load("runs/forecast/export")
    >>> fc.forecast(history)                                        # history (N >= lookback, columns) in the data's units
    >>> asr = runtime.load("runs/speech/export")
    >>> asr.transcribe(["clip.wav"])                                 # greedy CTC: the text of `rnnkit speech transcribe`

Sampling (temperature > 0) draws from numpy's generator, so sampled text differs from rnnkit's
torch-seeded text for the same seed; greedy output is the same.
Needs `pip install onnxruntime numpy` (and `tokenizers` for BPE vocabularies).
"""

from __future__ import annotations

import io
import json
import wave
from pathlib import Path

import numpy as np

from rnnkit.data.pcm import pcm_to_float
from rnnkit.data.tokenizers import detokenize, tokenizer_from_dict

FORMAT_VERSION = 1


def read_spec(folder: str | Path) -> dict:
    """export.json of an export folder, checked to be one this runtime reads."""
    path = Path(folder) / "export.json"
    if not path.is_file():
        raise ValueError(f"{folder} has no export.json; write one with 'rnnkit export RUN_DIR --out {folder}'")
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err})") from None
    if not isinstance(spec, dict) or spec.get("format") != "rnnkit-export":
        raise ValueError(f"{path} is not an rnnkit export description (no \"format\": \"rnnkit-export\")")
    if spec.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(f"{path} has format version {spec['format_version']}; this rnnkit reads up to {FORMAT_VERSION}: upgrade rnnkit")
    return spec


def load(folder: str | Path):
    """The runner for the export in `folder`: LanguageModelRuntime, ClassifierRuntime, ForecasterRuntime,
    TranslatorRuntime or SpeechRuntime."""
    spec = read_spec(folder)
    runners = {"lm": LanguageModelRuntime, "classify": ClassifierRuntime, "forecast": ForecasterRuntime,
               "translate": TranslatorRuntime, "speech": SpeechRuntime}
    if spec["task"] not in runners:
        raise ValueError(f"{folder} holds a {spec['task']!r} export, which this runtime does not run")
    return runners[spec["task"]](Path(folder), spec)


class _Runtime:
    def __init__(self, folder: Path, spec: dict) -> None:
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise ValueError("running an exported model needs onnxruntime: pip install onnxruntime") from err
        self.folder, self.spec = folder, spec
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.sessions = {}
        for name, graph in spec["graphs"].items():
            path = folder / graph["file"]
            if not path.is_file():
                raise ValueError(f"{folder}: export.json names {graph['file']}, which is missing")
            self.sessions[name] = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(self, graph: str, feeds: dict) -> dict:
        """{output name: array} of one graph."""
        session = self.sessions[graph]
        names = [o.name for o in session.get_outputs()]
        return dict(zip(names, session.run(names, feeds)))


class LanguageModelRuntime(_Runtime):
    """Next-token logits, state carried between calls, and text generation."""

    def __init__(self, folder: Path, spec: dict) -> None:
        super().__init__(folder, spec)
        self.tokenizer = tokenizer_from_dict(spec["tokenizer"])
        self.state_names = [leaf["name"] for leaf in spec["state"]]
        self.vocab_size = next(iter(spec["graphs"].values()))["outputs"][0]["shape"][-1]

    def initial_state(self, batch: int) -> dict:
        """Zeros for every state leaf, {name: (L*D, batch, H)}."""
        return {leaf["name"]: np.zeros([batch if a == "batch" else a for a in leaf["shape"]], dtype=np.float32)
                for leaf in self.spec["state"]}

    def step(self, tokens, state: dict | None = None, keep=None) -> tuple[np.ndarray, dict]:
        """(B,) token ids -> (logits (B, V), new state); rows where `keep` is False keep their state."""
        tokens = _ids(tokens, 1, "tokens", self.vocab_size)
        if "step" not in self.sessions:
            raise ValueError("this export has no step graph (a transformer): use logits() on the whole context")
        state = self.initial_state(len(tokens)) if state is None else state
        keep = np.ones(len(tokens), dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
        out = self.run("step", {"token": tokens, "keep": keep, **{f"state_in_{n}": state[n] for n in self.state_names}})
        return out["logits"], {n: out[f"state_out_{n}"] for n in self.state_names}

    def logits(self, tokens, state: dict | None = None) -> tuple[np.ndarray, dict]:
        """(B, T) token ids -> (logits (B, T, V), the state after step T)."""
        tokens = _ids(tokens, 2, "tokens", self.vocab_size)
        if "model" not in self.sessions:  # a cell with no whole-sequence graph: one step at a time
            steps = []
            for t in range(tokens.shape[1]):
                step_logits, state = self.step(tokens[:, t], state)
                steps.append(step_logits)
            return np.stack(steps, axis=1), state
        if not self.state_names:
            limit = self.spec["max_len"]
            if tokens.shape[1] > limit:
                raise ValueError(f"tokens has {tokens.shape[1]} steps; this transformer reads at most {limit}")
            return self.run("model", {"tokens": tokens})["logits"], {}
        state = self.initial_state(tokens.shape[0]) if state is None else state
        out = self.run("model", {"tokens": tokens, **{f"state_in_{n}": state[n] for n in self.state_names}})
        return out["logits"], {n: out[f"state_out_{n}"] for n in self.state_names}

    def generate_ids(self, prompt: list[int], max_tokens: int, temperature: float = 0.0, top_k: int | None = None, seed: int = 0):
        """Token ids after `prompt`, one at a time (as rnnkit.tasks.lm.generate_ids; <unk> never comes out)."""
        if not prompt:
            raise ValueError("the prompt must hold at least one token")
        rng = np.random.default_rng(seed)
        context = list(prompt)
        logits, state = self.logits(np.asarray([prompt], dtype=np.int64))
        for i in range(max_tokens):
            scores = logits[0, -1].astype(np.float64)
            for token in self.spec["generation"]["never"]:
                scores[token] = -np.inf
            token = _sample(scores, temperature, top_k, rng)
            yield token
            if i + 1 == max_tokens:
                break
            if self.state_names:
                step_logits, state = self.step([token], state)
                logits = step_logits[:, None]
            else:  # a transformer re-reads its window
                context = (context + [token])[-self.spec["max_len"]:]
                logits, _ = self.logits(np.asarray([context], dtype=np.int64))

    def generate(self, prompt: str = "", max_tokens: int = 200, temperature: float = 0.0, top_k: int | None = None,
                 seed: int = 0) -> str:
        """The text generated after `prompt` (an empty prompt reads as a newline, as in rnnkit)."""
        encoded = self.tokenizer.encode(prompt or self.spec["generation"]["empty_prompt"])
        return self.tokenizer.decode(list(self.generate_ids(encoded.ids, max_tokens, temperature, top_k, seed)))


class ClassifierRuntime(_Runtime):
    """Class probabilities for texts (token vocabularies) or numeric series (z-scored as in training)."""

    def __init__(self, folder: Path, spec: dict) -> None:
        super().__init__(folder, spec)
        self.labels = list(spec["labels"])
        encoder = spec["encoder"]
        self.kind = encoder["kind"]
        self.tokenizer = tokenizer_from_dict(encoder["tokenizer"]) if self.kind == "text" else None
        self.scaler = encoder.get("scaler")

    def encode(self, examples: list) -> tuple[np.ndarray, np.ndarray]:
        """(inputs padded with zeros, lengths) of texts or (T, C) series."""
        if not examples:
            raise ValueError("nothing to classify: give at least one example")
        return pad_rows([self._encoded(e, i) for i, e in enumerate(examples)])

    def _encoded(self, example, i: int) -> np.ndarray:
        if self.kind == "text":
            if not isinstance(example, str):
                raise ValueError(f"example {i} is a {type(example).__name__}; this model classifies text (str)")
            ids = self.tokenizer.encode(example).ids
            if not ids:
                raise ValueError(f"example {i} has no tokens after tokenization ({example[:40]!r})")
            return np.asarray(ids, dtype=np.int64)
        values = np.asarray(example, dtype=np.float64)
        if values.ndim == 1:
            values = values[:, None]
        channels = len(self.scaler["mean"])
        if values.ndim != 2 or values.shape[1] != channels or len(values) == 0:
            raise ValueError(f"example {i} has shape {values.shape}; expected (time steps >= 1, {channels} channels)")
        if not np.isfinite(values).all():
            raise ValueError(f"example {i} holds NaN or infinite values; fill or drop them first")
        return ((values - np.asarray(self.scaler["mean"])) / np.asarray(self.scaler["std"])).astype(np.float32)

    def predict(self, examples: list) -> tuple[list[str], np.ndarray]:
        """(predicted label per example, probabilities (N, C) in the order of `labels`)."""
        probabilities = self.probabilities(*self.encode(examples))
        return [self.labels[i] for i in probabilities.argmax(axis=1)], probabilities

    def probabilities(self, inputs: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """(N, C) class probabilities of encoded, padded inputs (token ids, or z-scored series)."""
        logits = self.run("model", {"inputs": inputs, "lengths": lengths})["logits"].astype(np.float64)
        probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
        return probabilities / probabilities.sum(axis=1, keepdims=True)


class ForecasterRuntime(_Runtime):
    """The next `horizon` steps of a series from its last `lookback` rows, in the data's units."""

    def forecast(self, history) -> dict:
        """history (N >= lookback, columns) with the run's columns (targets first, then covariates) ->
        {"mean": (H, D), "lower"/"upper": (H, D) or None, "level"}."""
        s = self.spec
        values = np.asarray(history, dtype=np.float64)
        if values.ndim == 1:
            values = values[:, None]
        columns = len(s["columns"])
        if values.ndim != 2 or values.shape[1] != columns:
            raise ValueError(f"history has shape {values.shape}; expected (rows, {columns}) for columns {s['columns']}")
        if len(values) < s["lookback"]:
            raise ValueError(f"history has {len(values)} rows; the model needs the last {s['lookback']} (its lookback)")
        values = values[-s["lookback"] :]
        if not np.isfinite(values).all():
            raise ValueError("the last lookback rows of history hold NaN or infinite values; fill them first")
        mean, std = np.asarray(s["scaler"]["mean"]), np.asarray(s["scaler"]["std"])
        window = np.zeros((1, s["lookback"] + s["horizon"], columns), dtype=np.float32)
        window[0, : s["lookback"]] = (values - mean) / std
        out = self.run("model", {"windows": window})
        d = len(s["targets"])
        back = lambda x: None if x is None else x[0].astype(np.float64) * std[:d] + mean[:d]  # noqa: E731
        return {"targets": list(s["targets"]), "mean": back(out["forecast_mean"]), "lower": back(out.get("forecast_lower")),
                "upper": back(out.get("forecast_upper")), "level": s["level"]}


class TranslatorRuntime(_Runtime):
    """Translation with the encoder graph once per batch and the decoder step graph per token,
    greedy or by beam search (as `rnnkit translate run --beam K`)."""

    def __init__(self, folder: Path, spec: dict) -> None:
        super().__init__(folder, spec)
        self.source, self.target = spec["source"], spec["target"]
        self.source_tokenizer = tokenizer_from_dict(self.source["tokenizer"])
        self.target_tokenizer = tokenizer_from_dict(self.target["tokenizer"])
        self.state_names = [leaf["name"] for leaf in spec["state"]]

    def encode(self, text: str, i: int = 0) -> list[int]:
        """A source text's ids (the tokenizer's ids shifted past the specials)."""
        if not isinstance(text, str):
            raise ValueError(f"text {i} is a {type(text).__name__}; expected a string")
        encoded = self.source_tokenizer.encode(text.lower() if self.source["lowercase"] else text)
        if not encoded.ids:
            raise ValueError(f"text {i} is empty; give one sentence per text")
        return [t + self.spec["specials"]["offset"] for t in encoded.ids]

    def decode(self, ids: list[int]) -> str:
        offset = self.spec["specials"]["offset"]
        text = self.target_tokenizer.decode([t - offset for t in ids if t >= offset])
        return detokenize(text) if self.target["tokenizer"]["kind"] == "word" else text

    def translate(self, texts: list[str], beam: int = 1, length_penalty: float = 1.0) -> list[str]:
        """Translations of `texts`, in order: greedy with beam 1, else beam search ranked by GNMT's
        length penalty (as `rnnkit translate run --beam K`)."""
        if not texts:
            raise ValueError("nothing to translate: give at least one text")
        if beam < 1:
            raise ValueError(f"beam must be at least 1; got {beam}")
        src, lengths = pad_rows([np.asarray(self.encode(t, i), dtype=np.int64) for i, t in enumerate(texts)])  # <pad> is 0
        encoded = self.run("encoder", {"src": src, "src_lengths": lengths})
        d = self.spec["decoding"]
        limits = np.maximum(1, np.floor(lengths * d["max_len_a"] + d["max_len_b"])).astype(int)
        search = self._greedy if beam == 1 else self._beam
        return [self.decode(ids) for ids in search(encoded, lengths, limits, beam, length_penalty)]

    def _step(self, token: np.ndarray, memory: dict, lengths: np.ndarray, state: dict) -> tuple[np.ndarray, dict]:
        step = self.run("decoder_step", {"token": token, **memory, "src_lengths": lengths, **state})
        return step["log_probs"], {f"state_in_{n}": step[f"state_out_{n}"] for n in self.state_names}

    def _start(self, encoded: dict, rows: np.ndarray):
        memory = {name: encoded[name][rows] for name in ("memory_outputs", "memory_keys", "memory_summary")}
        state = {f"state_in_{n}": encoded[f"state_init_{n}"][:, rows] for n in self.state_names}
        return memory, state

    def _greedy(self, encoded, lengths, limits, beam, alpha) -> list[list[int]]:
        specials = self.spec["specials"]
        memory, state = self._start(encoded, np.arange(len(lengths)))
        token = np.full(len(lengths), specials["bos"], dtype=np.int64)
        out, done = [[] for _ in lengths], np.zeros(len(lengths), dtype=bool)
        for _ in range(int(limits.max())):
            logp, state = self._step(token, memory, lengths, state)
            token = logp.argmax(axis=1).astype(np.int64)
            for b in np.flatnonzero(~done):
                if token[b] == specials["eos"]:
                    done[b] = True
                else:
                    out[b].append(int(token[b]))
                    done[b] = len(out[b]) >= limits[b]
            if done.all():
                break
        return out

    def _beam(self, encoded, lengths, limits, k: int, alpha: float) -> list[list[int]]:
        """rnnkit.models.decoding.beam_search over the exported graphs: `k` live hypotheses per source;
        an <eos> among the best k candidates of a step ends one; a source is done when no live one can
        beat its best ended one, or at its maximum length."""
        bos, eos = self.spec["specials"]["bos"], self.spec["specials"]["eos"]
        batch = len(lengths)
        rows = np.repeat(np.arange(batch), k)
        memory, state = self._start(encoded, rows)
        beam_lengths = lengths[rows]
        tokens = np.full(batch * k, bos, dtype=np.int64)
        scores = np.full((batch, k), -np.inf, dtype=np.float32)
        scores[:, 0] = 0.0
        prefixes = [[] for _ in range(batch * k)]
        ended = [[] for _ in range(batch)]  # (normalised score, tokens)
        done = [False] * batch
        penalty = lambda score, length: score / (((5 + length) / 6) ** alpha) if alpha else score  # noqa: E731
        for t in range(int(limits.max())):
            logp, state = self._step(tokens, memory, beam_lengths, state)
            vocab = logp.shape[-1]
            total = (scores[:, :, None] + logp.reshape(batch, k, vocab)).reshape(batch, -1)
            width = min(2 * k, total.shape[1])
            next_rows, next_tokens, next_scores = [], [], []
            for b in range(batch):
                alive = []
                if not done[b]:
                    order = np.argsort(-total[b], kind="stable")[:width]
                    for rank, index in enumerate(order):
                        score = float(total[b, index])
                        if score == -np.inf or len(alive) == k:
                            break
                        source_row, token = b * k + int(index) // vocab, int(index) % vocab
                        if token != eos:
                            alive.append((source_row, token, score))
                        elif rank < k:
                            ended[b].append((penalty(score, len(prefixes[source_row]) + 1), prefixes[source_row]))
                    last_step = t + 1 >= limits[b]
                    if last_step:
                        ended[b] += [(penalty(score, len(prefixes[r]) + 1), prefixes[r] + [tok]) for r, tok, score in alive]
                    settled = bool(ended[b]) and bool(alive) and \
                        max(n for n, _ in ended[b]) >= penalty(max(s for _, _, s in alive), limits[b] + 1)
                    if last_step or not alive or settled:
                        done[b] = True
                if done[b]:
                    alive = []
                alive += [(b * k, bos, -np.inf)] * (k - len(alive))
                for source_row, token, score in alive:
                    next_rows.append(source_row)
                    next_tokens.append(token)
                    next_scores.append(score)
            if all(done):
                break
            prefixes = [prefixes[r] + [tok] for r, tok in zip(next_rows, next_tokens)]
            tokens = np.asarray(next_tokens, dtype=np.int64)
            scores = np.asarray(next_scores, dtype=np.float32).reshape(batch, k)
            state = {name: value[:, next_rows] for name, value in state.items()}
        return [max(hyps, key=lambda h: h[0])[1] for hyps in ended]


class SpeechRuntime(_Runtime):
    """Transcripts of clips: 1-D float arrays in [-1, 1] at the run's sample rate, or integer-PCM WAV
    files (paths or bytes) at that rate (mono or downmixed). Greedy CTC decoding, the same text as `rnnkit speech
    transcribe` without --beam; resampling, other audio formats, beam search and the n-gram model are
    rnnkit's own commands' job."""

    def __init__(self, folder: Path, spec: dict) -> None:
        super().__init__(folder, spec)
        self.sample_rate = int(spec["sample_rate"])
        self.frame = spec["frame"]
        self.symbols, self.kind = list(spec["units"]["symbols"]), spec["units"]["kind"]

    def features(self, clip) -> np.ndarray:
        """(frames, F) normalised features of one clip (array or WAV path)."""
        samples = read_wav(clip, self.sample_rate) if isinstance(clip, (str, Path, bytes)) else np.asarray(clip, dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError(f"a clip must be one channel of samples, shape (N,); got {samples.shape}")
        if len(samples) < self.frame["min_samples"]:
            raise ValueError(f"the clip has {len(samples)} samples; features need at least {self.frame['min_samples']} "
                             f"({1000 * self.frame['min_samples'] / self.sample_rate:.0f} ms)")
        if not np.isfinite(samples).all():
            raise ValueError("the clip holds NaN or infinite samples")
        frames = frame_clip(samples.astype(np.float32), self.frame["n_fft"], self.frame["hop"])
        return self.run("features", {"frames": frames})["features"]

    def log_probs(self, clips: list) -> list[np.ndarray]:
        """Per clip, the (T', U) CTC log-probabilities (blank 0)."""
        if not clips:
            raise ValueError("nothing to transcribe: give at least one clip")
        stacked, lengths = stack_features(*pad_rows([self.features(clip) for clip in clips]), self.spec["stack"])
        log_probs = self.run("model", {"stacked": stacked, "lengths": lengths})["log_probs"]
        return [lp[:n] for lp, n in zip(log_probs, lengths)]

    def transcribe(self, clips: list) -> list[str]:
        """The greedy transcript of each clip."""
        return [self.decode(ctc_collapse(lp.argmax(axis=1))) for lp in self.log_probs(clips)]

    def decode(self, ids: list[int]) -> str:
        pieces = [self.symbols[i - 1] for i in ids if 0 < i <= len(self.symbols)]
        return "".join(pieces).strip() if self.kind == "char" else " ".join(pieces)


def stack_features(features: np.ndarray, lengths: np.ndarray, stack: int) -> tuple[np.ndarray, np.ndarray]:
    """(B, T, F) features padded with zeros after each row's length -> (B, ceil(T / k), k F) with k
    consecutive frames side by side, and each row's ceil(n / k): models.recognizer.stack_frames."""
    batch, steps, size = features.shape
    groups = -(-steps // stack)
    padded = np.zeros((batch, groups * stack, size), dtype=np.float32)
    padded[:, :steps] = features * (np.arange(steps)[None, :] < lengths[:, None])[..., None]
    return padded.reshape(batch, groups, stack * size), (-(-lengths // stack)).astype(np.int64)


def frame_clip(samples: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """(1 + N // hop, n_fft) frames of a clip reflect-padded by n_fft // 2 at both ends, one every
    `hop` samples: the frames torch.stft(center=True) reads (data.features)."""
    pad = n_fft // 2
    if len(samples) <= pad:
        raise ValueError(f"the clip has {len(samples)} samples; reflect padding needs more than {pad}")
    padded = np.pad(samples, (pad, pad), mode="reflect")
    count = 1 + (len(padded) - n_fft) // hop
    return np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:count].astype(np.float32)


def ctc_collapse(best: np.ndarray) -> list[int]:
    """Greedy CTC: merge repeats, then drop blanks (0)."""
    out, previous = [], 0
    for token in best.tolist():
        if token != previous and token != 0:
            out.append(token)
        previous = token
    return out


def read_wav(source, sample_rate: int) -> np.ndarray:
    """(N,) float32 samples of an integer-PCM WAV file (a path, or its bytes) at `sample_rate`
    (channels averaged)."""
    samples, rate = wav_samples(source)
    if rate != sample_rate:
        raise ValueError(f"{_wav_name(source)} is at {rate} Hz; this model reads {sample_rate} Hz (resample it, or use "
                         "rnnkit speech transcribe, which resamples)")
    return samples


def wav_samples(source) -> tuple[np.ndarray, int]:
    """((N,) float32 samples with the channels averaged, the sample rate) of an integer-PCM WAV file
    given as a path or as its bytes."""
    try:
        with wave.open(io.BytesIO(source) if isinstance(source, bytes) else str(source), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            data = w.readframes(w.getnframes())
    except (wave.Error, EOFError, OSError) as err:
        raise ValueError(f"{_wav_name(source)}: not a readable integer-PCM WAV file ({err}); rnnkit speech transcribe "
                         "reads other formats") from None
    return pcm_to_float(data, width, channels, "<", _wav_name(source)).mean(axis=0), rate


def _wav_name(source) -> str:
    return "the audio" if isinstance(source, bytes) else str(source)


def pad_rows(rows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(rows padded with zeros after their ends, (N,) lengths)."""
    lengths = np.asarray([len(r) for r in rows], dtype=np.int64)
    inputs = np.zeros((len(rows), int(lengths.max())) + rows[0].shape[1:], dtype=rows[0].dtype)
    for i, r in enumerate(rows):
        inputs[i, : len(r)] = r
    return inputs, lengths


def _ids(tokens, dims: int, name: str, vocab_size: int) -> np.ndarray:
    array = np.asarray(tokens)
    if array.ndim != dims or array.size == 0 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must be a non-empty {dims}-D array of integer token ids; got shape {array.shape} and dtype {array.dtype}")
    if array.min() < 0 or array.max() >= vocab_size:
        raise ValueError(f"{name} holds the id {int(array.min() if array.min() < 0 else array.max())}; "
                         f"ids run from 0 to {vocab_size - 1} (the vocabulary)")
    return array.astype(np.int64)


def _sample(scores: np.ndarray, temperature: float, top_k: int | None, rng: np.random.Generator) -> int:
    """Greedy at temperature 0, else softmax(scores / T) over the top k (as rnnkit.tasks.lm.sample_next)."""
    if temperature <= 0:
        return int(scores.argmax())
    scores = scores / temperature
    if top_k is not None and 0 < top_k < len(scores):
        threshold = np.sort(scores)[-top_k]
        scores = np.where(scores < threshold, -np.inf, scores)
    p = np.exp(scores - scores.max())
    return int(rng.choice(len(p), p=p / p.sum()))
