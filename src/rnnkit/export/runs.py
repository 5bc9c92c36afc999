"""`rnnkit export RUN_DIR`: a trained run directory to ONNX files and an export.json that says how to
run them with onnxruntime and numpy alone (rnnkit.runtime does exactly that).

Per task:
- lm: `model.onnx` (tokens and state in, logits and state out, symbolic batch and time) and
  `step.onnx` (one token per row, a keep mask and the state in; next-token logits and the state
  out) for generation and streaming; a transformer has `model.onnx` only;
- classify: `model.onnx` (inputs and lengths in, class logits out; recurrent layers by masking);
- translate: `encoder.onnx` (padded sources and lengths in; the attention memory and the decoder's
  initial state out) and `decoder_step.onnx` (one target token per row, the memory and the state in;
  log-probabilities, attention weights and the new state out);
- forecast: `model.onnx` (scaled windows in; the forecast's mean, and its interval for Gaussian and
  quantile outputs, out; symbolic batch, the run's lookback and horizon);
- speech: `features.onnx` (one clip's padded frames of samples in; normalised log-mel or MFCC
  features out) and `model.onnx` (padded features and lengths in; CTC log-probabilities and their
  lengths out), decoded greedily by the runtime.

Each export is checked before it is kept: every symbolic axis must still be symbolic in the file,
and onnxruntime must agree with the eager model at batch sizes and lengths the trace did not see
(with mixed lengths inside a batch); otherwise the command fails and says where.
"""

from __future__ import annotations

import hashlib
import platform
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from rnnkit.export import models
from rnnkit.export.graph import TOLERANCE, Port, compare, export_graph, require_onnx, session
from rnnkit.export.masked import whole_sequence_blocker
from rnnkit.training.checkpoint import find_checkpoint, read_json, write_json
from rnnkit.training.rundir import package_version, read_run

TASKS = ("lm", "classify", "forecast", "translate", "speech")
FORMAT_VERSION = 1
RNG = np.random.default_rng(0)  # draws the parity-check inputs; reset by every export_run


def export_run(run_dir: Path, out: Path | None = None, opset: int = 18, progress=print) -> dict:
    """Export `run_dir` into `out` (default RUN_DIR/export); returns export.json's content."""
    run_dir = Path(run_dir)
    run = read_run(run_dir)
    task = run.get("task")
    if task not in TASKS:
        raise ValueError(f"{run_dir} holds a {task!r} run; rnnkit export handles {', '.join(TASKS)} runs so far")
    onnx, ort = require_onnx()
    out = Path(out) if out is not None else run_dir / "export"
    if out.exists() and not (out / "export.json").exists():
        raise ValueError(f"{out} exists and is not an rnnkit export (no export.json); choose another --out")
    global RNG
    RNG = np.random.default_rng(0)  # the parity inputs are random: the same ones at every export
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=out.parent))
    work.chmod(0o755)
    try:
        with torch.random.fork_rng():
            torch.manual_seed(0)
            exporters = {"lm": _export_lm, "classify": _export_classify, "forecast": _export_forecast, "translate": _export_translate,
                         "speech": _export_speech}
            spec = exporters[task](run_dir, work, opset, progress)
        checkpoint = find_checkpoint(run_dir / "best") or find_checkpoint(run_dir / "last")
        spec = {"format": "rnnkit-export", "format_version": FORMAT_VERSION, "task": task, "run": str(run_dir.resolve()),
                "checkpoint": {"path": str(checkpoint), "sha256": _sha256(checkpoint)}, "opset": opset,
                "tolerance": TOLERANCE, **spec,
                "versions": {"rnnkit": package_version(), "torch": torch.__version__, "onnx": onnx.__version__,
                             "onnxruntime": ort.__version__, "python": platform.python_version()}}
        for graph in spec["graphs"].values():
            _stamp(onnx, work / graph["file"], spec)
        write_json(work / "export.json", spec)
        old = out.with_name(f".{out.name}.old")
        if out.exists():  # the previous export stays whole until the new one is in place
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
        work.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        if work.exists():
            shutil.rmtree(work)
    return spec


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in Path(path).rglob("*") if p.is_file()) if Path(path).is_dir() else [Path(path)]:
        digest.update(file.read_bytes())
    return digest.hexdigest()


def _stamp(onnx, path: Path, spec: dict) -> None:
    """Copy the key facts into the file's metadata, so a lone .onnx still says what it is."""
    model = onnx.load(str(path))
    for key, value in (("rnnkit_task", spec["task"]), ("rnnkit_version", spec["versions"]["rnnkit"]),
                       ("rnnkit_checkpoint_sha256", spec["checkpoint"]["sha256"])):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))


def _graph_entry(file: str, inputs: list[Port], outputs: list[Port], parity: dict) -> dict:
    return {"file": file, "inputs": [p.to_dict() for p in inputs], "outputs": [p.to_dict() for p in outputs], "parity": parity}


# -- language models ------------------------------------------------------------------------------------------
def _export_lm(run_dir: Path, work: Path, opset: int, progress) -> dict:
    from rnnkit.tasks import lm

    model, tokenizer = lm.load_model(run_dir)
    vocab = model.config.vocab_size
    spec = {"tokenizer": read_json(run_dir / "vocab.json"),
            "generation": {"never": [0], "empty_prompt": "\n",
                           "notes": "token 0 (<unk>) is never generated; an empty prompt is read as a newline"}}
    if not hasattr(model, "rnn"):  # a transformer: one graph, its context window re-read per token
        graph = models.TransformerLMSequence(model).eval()
        inputs = [Port("tokens", ("batch", "time"), "int64")]
        outputs = [Port("logits", ("batch", "time", vocab))]
        progress("exporting model.onnx (transformer language model)")
        export_graph(graph, (torch.randint(1, vocab, (2, 7)),), inputs, outputs, work / "model.onnx", opset)
        sess = session(work / "model.onnx")
        cases = [(1, 1), (3, 17), (2, model.config.max_len)]
        worst = max(compare(sess, graph, {"tokens": RNG.integers(0, vocab, (b, t)).astype(np.int64)}, f"model.onnx at B={b}, T={t}")
                    for b, t in cases)
        spec.update(max_len=model.config.max_len, state=[], graphs={
            "model": _graph_entry("model.onnx", inputs, outputs, {"cases": cases, "max_abs_diff": worst})})
        return spec
    rnn = model.rnn
    leaves = models.state_names(rnn)
    shapes = {leaf: models.state_shape(rnn, leaf) for leaf in leaves}
    state_in = [Port(f"state_in_{leaf}", tuple(shapes[leaf])) for leaf in leaves]
    state_out = [Port(f"state_out_{leaf}", tuple(shapes[leaf])) for leaf in leaves]

    def random_state(batch: int) -> dict:
        return {p.name: (0.5 * RNG.standard_normal(p.shape_at(batch))).astype(np.float32) for p in state_in}

    graphs = {}
    blocker = whole_sequence_blocker(rnn)
    if blocker is None:
        graph = models.LMSequence(model).eval()
        inputs = [Port("tokens", ("batch", "time"), "int64"), *state_in]
        outputs = [Port("logits", ("batch", "time", vocab)), *state_out]
        progress("exporting model.onnx (whole sequences)")
        example = (torch.randint(1, vocab, (2, 7)), *(torch.zeros(p.shape_at(2)) for p in state_in))
        export_graph(graph, example, inputs, outputs, work / "model.onnx", opset)
        sess = session(work / "model.onnx")
        cases = [(1, 1), (3, 19), (2, 64)]
        worst = max(compare(sess, graph, {"tokens": RNG.integers(0, vocab, (b, t)).astype(np.int64), **random_state(b)},
                            f"model.onnx at B={b}, T={t}") for b, t in cases)
        graphs["model"] = _graph_entry("model.onnx", inputs, outputs, {"cases": cases, "max_abs_diff": worst})
    step = models.LMStep(model).eval()
    inputs = [Port("token", ("batch",), "int64"), Port("keep", ("batch",), "bool"), *state_in]
    outputs = [Port("logits", ("batch", vocab)), *state_out]
    progress("exporting step.onnx (one token per row, for generation)")
    example = (torch.randint(1, vocab, (2,)), torch.tensor([True, False]), *(torch.zeros(p.shape_at(2)) for p in state_in))
    export_graph(step, example, inputs, outputs, work / "step.onnx", opset)
    sess = session(work / "step.onnx")
    worst = max(compare(sess, step, {"token": RNG.integers(0, vocab, (b,)).astype(np.int64),
                                     "keep": RNG.random(b) < 0.7, **random_state(b)}, f"step.onnx at B={b}")
                for b in (1, 5))
    rollout = _lm_rollout(sess, model, vocab, state_in)
    graphs["step"] = _graph_entry("step.onnx", inputs, outputs, {"batches": [1, 5], "max_abs_diff": worst,
                                                                  "rollout_steps": 24, "rollout_max_abs_diff": rollout})
    spec.update(state=[{"name": leaf, "shape": shapes[leaf], "initial": "zeros"} for leaf in leaves], graphs=graphs,
                whole_sequence=None if blocker is None else f"no model.onnx: {blocker}")
    return spec


def _lm_rollout(sess, model, vocab: int, state_in: list[Port], steps: int = 24) -> float:
    """24 steps of step.onnx from a zero state against the eager model over the whole sequence."""
    tokens = torch.randint(1, vocab, (2, steps))
    with torch.no_grad():
        expected, _ = model(tokens)
    feeds = {p.name: np.zeros(p.shape_at(2), dtype=np.float32) for p in state_in}
    worst = 0.0
    for t in range(steps):
        logits, *state = sess.run(None, {"token": tokens[:, t].numpy(), "keep": np.ones(2, dtype=bool), **feeds})
        feeds = dict(zip(feeds, state))
        diff = np.abs(logits - expected[:, t].numpy())
        if not np.allclose(logits, expected[:, t].numpy(), **TOLERANCE):
            raise ValueError(f"step.onnx: step {t + 1} of a roll-out differs from the whole-sequence model by {float(diff.max()):.3g}")
        worst = max(worst, float(diff.max()))
    return worst


# -- classifiers ----------------------------------------------------------------------------------------------
def _export_classify(run_dir: Path, work: Path, opset: int, progress) -> dict:
    from rnnkit.tasks import classify

    model, encoder, names, data_config = classify.load_run(run_dir)
    graph = models.ClassifierSequence(model).eval()
    c = model.config
    text = c.vocab_size is not None
    inputs = [Port("inputs", ("batch", "time"), "int64") if text else Port("inputs", ("batch", "time", c.input_size)),
              Port("lengths", ("batch",), "int64")]
    outputs = [Port("logits", ("batch", len(names)))]

    def batch(b: int, t: int, lengths=None):
        x = RNG.integers(1, c.vocab_size, (b, t)).astype(np.int64) if text else RNG.standard_normal((b, t, c.input_size)).astype(np.float32)
        lengths = RNG.integers(1, t + 1, b) if lengths is None else np.asarray(lengths)
        lengths[0] = t  # one full row in every batch
        return {"inputs": x, "lengths": lengths.astype(np.int64)}

    progress("exporting model.onnx (padded batches with lengths)")
    example = batch(2, 7, [7, 4])
    export_graph(graph, tuple(torch.from_numpy(v) for v in example.values()), inputs, outputs, work / "model.onnx", opset)
    sess = session(work / "model.onnx")
    cases = [(1, 1), (4, 23), (3, 80)]
    worst = max(compare(sess, graph, batch(b, t), f"model.onnx at B={b}, T={t}") for b, t in cases)
    worst = max(worst, _classifier_padding_check(sess, model, batch(3, 30)))
    return {"labels": names, "encoder": encoder.to_dict(), "data": asdict(data_config),
            "graphs": {"model": _graph_entry("model.onnx", inputs, outputs, {"cases": cases, "max_abs_diff": worst})}}


def _classifier_padding_check(sess, model, feeds: dict) -> float:
    """Each row of a mixed-length batch against the eager model on that row alone (no padding at all)."""
    logits = sess.run(None, feeds)[0]
    worst = 0.0
    for row, length in enumerate(feeds["lengths"]):
        alone = torch.from_numpy(feeds["inputs"][row : row + 1, :length])
        with torch.no_grad():
            expected = model(alone, torch.tensor([int(length)])).numpy()
        if not np.allclose(logits[row : row + 1], expected, **TOLERANCE):
            raise ValueError(f"model.onnx: row {row} (length {length}) of a padded batch differs from the same row alone "
                             f"by {float(np.abs(logits[row] - expected).max()):.3g}")
        worst = max(worst, float(np.abs(logits[row] - expected[0]).max()))
    return worst


# -- translation ----------------------------------------------------------------------------------------------
def _export_translate(run_dir: Path, work: Path, opset: int, progress) -> dict:
    from rnnkit.models.seq2seq import BOS, EOS, PAD
    from rnnkit.tasks.translate import SPECIALS, Translator

    translator = Translator.load(run_dir, "cpu")
    model = translator.model
    c = model.config
    encoder = models.TranslateEncoder(model).eval()
    step = models.TranslateDecoderStep(model).eval()
    width = c.hidden_size * (2 if c.bidirectional else 1)
    key_width = c.hidden_size if c.attention == "dot" else width
    leaves = models.state_names(model.decoder)
    shapes = {leaf: models.state_shape(model.decoder, leaf) for leaf in leaves}
    memory = [Port("memory_outputs", ("batch", "source", width)), Port("memory_keys", ("batch", "source", key_width)),
              Port("memory_summary", ("batch", width))]
    lengths = Port("src_lengths", ("batch",), "int64")
    state_in = [Port(f"state_in_{leaf}", tuple(shapes[leaf])) for leaf in leaves]
    state_out = [Port(f"state_out_{leaf}", tuple(shapes[leaf])) for leaf in leaves]
    vocab = c.tgt_vocab_size

    def sources(b: int, s: int) -> dict:
        src_lengths = RNG.integers(1, s + 1, b)
        src_lengths[0] = s
        src = RNG.integers(SPECIALS, c.src_vocab_size, (b, s)).astype(np.int64)
        src[np.arange(s)[None, :] >= src_lengths[:, None]] = PAD
        return {"src": src, "src_lengths": src_lengths.astype(np.int64)}

    progress("exporting encoder.onnx (padded sources with lengths)")
    example = sources(2, 7)
    enc_inputs = [Port("src", ("batch", "source"), "int64"), lengths]
    enc_outputs = memory + [Port(f"state_init_{leaf}", tuple(shapes[leaf])) for leaf in leaves]
    export_graph(encoder, tuple(torch.from_numpy(v) for v in example.values()), enc_inputs, enc_outputs, work / "encoder.onnx", opset)
    sess = session(work / "encoder.onnx")
    cases = [(1, 1), (4, 13), (3, 40)]
    worst = max(compare(sess, encoder, sources(b, s), f"encoder.onnx at B={b}, S={s}") for b, s in cases)

    progress("exporting decoder_step.onnx (one target token per row)")
    step_inputs = [Port("token", ("batch",), "int64"), *memory, lengths, *state_in]
    step_outputs = [Port("log_probs", ("batch", vocab)), Port("attention", ("batch", "source")), *state_out]

    enc_names = [p.name for p in enc_outputs]

    def step_feeds(b: int, s: int) -> dict:
        """A decoder step's inputs: random tokens, and the memory and state the exported encoder gives."""
        src = sources(b, s)
        encoded = dict(zip(enc_names, sess.run(None, src)))
        return {"token": RNG.integers(SPECIALS, vocab, (b,)).astype(np.int64), **{p.name: encoded[p.name] for p in memory},
                "src_lengths": src["src_lengths"], **{f"state_in_{leaf}": encoded[f"state_init_{leaf}"] for leaf in leaves}}

    example = step_feeds(2, 7)
    export_graph(step, tuple(torch.from_numpy(v) for v in example.values()), step_inputs, step_outputs, work / "decoder_step.onnx", opset)
    step_sess = session(work / "decoder_step.onnx")
    step_worst = max(compare(step_sess, step, step_feeds(b, s), f"decoder_step.onnx at B={b}, S={s}") for b, s in ((1, 1), (3, 21)))
    return {"source": translator.src.to_dict(), "target": translator.tgt.to_dict(), "specials": {"pad": PAD, "bos": BOS, "eos": EOS,
            "offset": SPECIALS}, "decoding": {"max_len_a": 1.5, "max_len_b": 10, "never": [PAD, BOS]},
            "state": [{"name": leaf, "shape": shapes[leaf]} for leaf in leaves],
            "graphs": {"encoder": _graph_entry("encoder.onnx", enc_inputs, enc_outputs, {"cases": cases, "max_abs_diff": worst}),
                       "decoder_step": _graph_entry("decoder_step.onnx", step_inputs, step_outputs,
                                                    {"cases": [[1, 1], [3, 21]], "max_abs_diff": step_worst})}}


# -- forecasters ----------------------------------------------------------------------------------------------
def _export_forecast(run_dir: Path, work: Path, opset: int, progress) -> dict:
    from rnnkit.tasks.forecast.inference import load_run

    loaded = load_run(run_dir)
    c = loaded.data_config
    if c.id_column or c.calendar or c.known:
        parts = [name for name, on in (("a panel (--id-column)", c.id_column), ("calendar features", c.calendar),
                                       ("known-future covariates", c.known)) if on]
        raise ValueError(f"this forecast run uses {' and '.join(parts)}; rnnkit export handles single series with "
                         f"targets and past covariates so far")
    model = loaded.model
    width = len(loaded.scaler.mean)
    probabilistic = getattr(model.config, "distribution", "point") != "point"
    graph = models.ForecasterWindow(model, c.level, probabilistic).eval()
    window = c.lookback + c.horizon
    d = len(c.targets)
    inputs = [Port("windows", ("batch", window, width))]
    # "forecast_" keeps the names apart from the graph's own values (RevIN computes one called "mean")
    outputs = [Port(f"forecast_{part}", ("batch", c.horizon, d)) for part in (("mean", "lower", "upper") if probabilistic else ("mean",))]

    def batch(b: int) -> dict:
        x = RNG.standard_normal((b, window, width)).astype(np.float32)
        x[:, c.lookback :] = 0.0  # the unknown future, zeroed as in training
        return {"windows": x}

    progress("exporting model.onnx (scaled windows)")
    export_graph(graph, (torch.from_numpy(batch(2)["windows"]),), inputs, outputs, work / "model.onnx", opset)
    sess = session(work / "model.onnx")
    worst = max(compare(sess, graph, batch(b), f"model.onnx at B={b}") for b in (1, 5))
    return {"targets": list(c.targets), "columns": list(c.targets) + list(c.covariates), "lookback": c.lookback,
            "horizon": c.horizon, "level": c.level if probabilistic else None,
            "scaler": {"mean": list(loaded.scaler.mean), "std": list(loaded.scaler.std)},
            "time_column": c.time_column, "graphs": {"model": _graph_entry("model.onnx", inputs, outputs,
                                                                           {"batches": [1, 5], "max_abs_diff": worst})}}


# -- speech recognizers ---------------------------------------------------------------------------------------
def _export_speech(run_dir: Path, work: Path, opset: int, progress) -> dict:
    from rnnkit.data.features import subtract_mean
    from rnnkit.runtime import frame_clip, stack_features
    from rnnkit.tasks.speech.recognize import Recognizer

    recognizer = Recognizer.load(run_dir, "cpu")
    model, fc = recognizer.model, recognizer.features
    features = models.SpeechFeatures(recognizer.extractor, recognizer.scaler, recognizer.utterance_norm).eval()
    f_in, f_out = [Port("frames", ("frames", fc.n_fft))], [Port("features", ("frames", fc.size))]

    def clip(seconds: float) -> np.ndarray:
        return (0.1 * RNG.standard_normal(max(int(seconds * fc.sample_rate), fc.min_samples))).astype(np.float32)

    progress("exporting features.onnx (framed samples of one clip)")
    export_graph(features, (torch.from_numpy(frame_clip(clip(0.3), fc.n_fft, fc.hop_length)),), f_in, f_out, work / "features.onnx", opset)
    f_sess = session(work / "features.onnx")
    seconds = (0.05, 0.7, 2.3)
    f_worst = 0.0
    for length in seconds:
        samples = clip(length)
        frames = frame_clip(samples, fc.n_fft, fc.hop_length)
        f_worst = max(f_worst, compare(f_sess, features, {"frames": frames}, f"features.onnx on {length} s"))
        raw = recognizer.extractor(torch.from_numpy(samples))  # the path rnnkit's own commands take
        expected = recognizer.scaler(subtract_mean(raw) if recognizer.utterance_norm else raw).numpy()
        with torch.no_grad():
            got = features(torch.from_numpy(frames)).numpy()
        if got.shape != expected.shape or not np.allclose(got, expected, rtol=1e-4, atol=1e-3):
            raise ValueError(f"features.onnx's module differs from the run's feature extractor on {length} s of audio")
    c = model.config
    graph = models.SpeechSequence(model).eval()
    width = c.input_size * c.stack
    inputs = [Port("stacked", ("batch", "steps", width)), Port("lengths", ("batch",), "int64")]
    outputs = [Port("log_probs", ("batch", "steps", c.num_units))]

    def batch(b: int, t: int) -> tuple[dict, dict]:
        """(the graph's feeds: stacked features and stacked lengths; the features and lengths before stacking)."""
        lengths = RNG.integers(1, t + 1, b)
        lengths[0] = t
        x = RNG.standard_normal((b, t, c.input_size)).astype(np.float32)
        x[np.arange(t)[None, :] >= lengths[:, None]] = 0.0
        stacked, steps = stack_features(x, lengths, c.stack)
        return {"stacked": stacked, "lengths": steps}, {"features": x, "lengths": lengths.astype(np.int64)}

    progress("exporting model.onnx (stacked features with lengths)")
    example, _ = batch(2, 31)
    example["lengths"][1] = 6
    export_graph(graph, tuple(torch.from_numpy(v) for v in example.values()), inputs, outputs, work / "model.onnx", opset)
    sess = session(work / "model.onnx")
    cases = [(1, 1), (3, 50), (2, 301)]
    worst = max(compare(sess, graph, batch(b, t)[0], f"model.onnx at B={b}, T={t}") for b, t in cases)
    worst = max(worst, _speech_padding_check(sess, model, *batch(3, 120)), _speech_padding_check(sess, model, *batch(4, 7)))
    return {"units": recognizer.units.to_dict(), "features": asdict(fc), "frame": {"n_fft": fc.n_fft, "hop": fc.hop_length,
            "min_samples": fc.min_samples}, "sample_rate": fc.sample_rate, "stack": c.stack,
            "decoding": "greedy CTC (blank 0); beam search and the run's n-gram model need rnnkit speech transcribe",
            "graphs": {"features": _graph_entry("features.onnx", f_in, f_out, {"seconds": list(seconds), "max_abs_diff": f_worst}),
                       "model": _graph_entry("model.onnx", inputs, outputs, {"cases": cases, "max_abs_diff": worst})}}


def _speech_padding_check(sess, model, feeds: dict, plain: dict) -> float:
    """Each row of a mixed-length batch through the runtime's stacking and the graph, against the
    eager model (which stacks inside) on that row alone, unpadded."""
    log_probs = sess.run(None, feeds)[0]
    worst = 0.0
    for row, length in enumerate(plain["lengths"]):
        alone = torch.from_numpy(plain["features"][row : row + 1, :length])
        with torch.no_grad():
            logits, _ = model(alone, torch.tensor([int(length)]))
        expected = logits.float().log_softmax(-1)[0].numpy()
        got = log_probs[row, : int(feeds["lengths"][row])]
        if got.shape != expected.shape or not np.allclose(got, expected, **TOLERANCE):
            raise ValueError(f"model.onnx: row {row} (length {length}) of a padded batch differs from the same row alone")
        worst = max(worst, float(np.abs(got - expected).max()))
    return worst
