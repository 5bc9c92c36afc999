"""Sequence classification: sentiment and topics from text, gestures and heartbeats from numeric
series. Reads the data, builds a classifier (an RNN, or the transformer baseline), trains it with the shared loop, and evaluates
and predicts from a run directory.

Text: CSV/TSV with named columns or label/text line formats (data.labelled_text), tokenized by words,
characters or byte-level BPE (subwords: a word training never saw still reaches the model in pieces).
Numeric: UCR/UEA .ts, label-first tables, NPZ (data.series), standardised per channel with statistics
of the training data. Without --val, a stratified 10% of the training data validates;
with --val-fraction 0 nothing does, and the run keeps its last weights (for tiny sets where a holdout
of a few examples would choose noise: pick the epochs by cross-validation instead).
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from rnnkit.data import PaddedBatches, tokenizer_from_dict
from rnnkit.data.labelled_text import read_labelled_text, read_unlabelled_text
from rnnkit.data.series import Series, Standardizer, fill_missing, read_series
from rnnkit.data.splits import stratified_split
from rnnkit.data.tokenizers import BPETokenizer, CharTokenizer, WordTokenizer
from rnnkit.models import (
    LanguageModelPretraining,
    SequenceClassifier,
    SequenceClassifierConfig,
    TransformerClassifier,
    TransformerClassifierConfig,
)
from rnnkit.models.choice import build_model, model_from_description
from rnnkit.training import TrainConfig, fit
from rnnkit.training.checkpoint import read_json
from rnnkit.training.distributed import resolve_device
from rnnkit.training.metrics import classification_metrics
from rnnkit.training.plots import plot_confusion
from rnnkit.training.rundir import load_trained_weights, read_run, write_summary
from rnnkit.training.state import seed_everything

TASK = "classify"
NUMERIC_SUFFIXES = (".ts", ".npz")


@dataclass(frozen=True)
class ClassifyDataConfig:
    """How examples are read and batched. `input` is text, numeric, or auto (by file).
    `pretrain_epochs` > 0 (text): first train the classifier's embedding and RNN as a language model
    on the training texts for that many epochs (models.LanguageModelPretraining)."""

    input: str = "auto"
    format: str = "auto"
    text_column: str = "text"
    label_column: str = "label"
    skip_bad_rows: bool = False
    encoding_errors: str = "strict"
    tokenizer: str = "word"
    vocab_size: int = 8000
    lowercase: bool = False
    min_freq: int = 1
    fill_missing: str | None = None
    batch_size: int = 32
    val_fraction: float = 0.1
    class_weights: str = "none"
    pretrain_epochs: int = 0

    def __post_init__(self) -> None:
        if self.pretrain_epochs < 0:
            raise ValueError(f"pretrain_epochs must be >= 0; got {self.pretrain_epochs}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1) (0: no validation, keep the last weights); got {self.val_fraction}")


# The one mapping from --model names to classifiers: (class, config class, defaults per kind of input).
CLASSIFIERS = {
    "rnn": (SequenceClassifier, SequenceClassifierConfig, {
        "text": dict(embedding_size=128, cell="lstm", hidden_size=128, bidirectional=True, pooling="max", dropout=0.5),
        "numeric": dict(embedding_size=64, cell="lstm", hidden_size=64, bidirectional=True, pooling="mean", dropout=0.2),
    }),
    "transformer": (TransformerClassifier, TransformerClassifierConfig, {
        "text": dict(d_model=128, num_layers=2, num_heads=4, pooling="mean", dropout=0.1),
        "numeric": dict(d_model=64, num_layers=2, num_heads=4, pooling="mean", dropout=0.1),
    }),
}
TRAIN_DEFAULTS = {
    "text": dict(epochs=8, lr=2e-3, clip_norm=5.0, monitor="val_accuracy", monitor_mode="max"),
    "numeric": dict(epochs=100, lr=3e-3, clip_norm=5.0, monitor="val_accuracy", monitor_mode="max"),
}


def input_kind(path: str | Path, requested: str = "auto") -> str:
    """text or numeric: asked for, or by suffix (.ts, .npz), or by whether the first line is all numbers."""
    if requested != "auto":
        return requested
    path = Path(path)
    if path.suffix in NUMERIC_SUFFIXES:
        return "numeric"
    if path.is_file():
        with open(path, encoding="utf-8", errors="replace") as f:
            first = f.readline().replace(",", " ").replace("\t", " ").split()
        return "numeric" if len(first) > 2 and all(_is_number(v) for v in first) else "text"
    return "text"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# -- examples -> tensors ------------------------------------------------------------------------------
class Encoder:
    """Turns raw examples into model inputs with what was fitted on the training data: a tokenizer
    (text) or a standardizer (numeric). Saved as JSON in the run directory."""

    def __init__(self, kind: str, tokenizer=None, scaler: Standardizer | None = None) -> None:
        self.kind, self.tokenizer, self.scaler = kind, tokenizer, scaler

    @classmethod
    def fit(cls, kind: str, config: ClassifyDataConfig, examples: list) -> Encoder:
        """Fit on the training examples: texts (kind "text") or (T, C) series (kind "numeric")."""
        if kind == "text":
            if config.tokenizer == "char":
                return cls(kind, tokenizer=CharTokenizer.fit(examples))
            if config.tokenizer == "bpe":
                return cls(kind, tokenizer=BPETokenizer.fit(examples, vocab_size=config.vocab_size, lowercase=config.lowercase))
            return cls(kind, tokenizer=WordTokenizer.fit(examples, lowercase=config.lowercase, min_freq=config.min_freq))
        return cls(kind, scaler=Standardizer.fit(examples))

    def texts(self, texts: list[str], source: str) -> list[torch.Tensor]:
        encoded, unknown = [], 0
        for row, text in enumerate(texts, start=1):
            result = self.tokenizer.encode(text)
            if not result.ids:
                raise ValueError(f"{source}: example {row} has no tokens after tokenization ({text[:40]!r})")
            encoded.append(torch.tensor(result.ids, dtype=torch.long))
            unknown += result.unknown
        if unknown:
            print(f"rnnkit: {unknown:,} tokens of {source} are not in the vocabulary; they were mapped to <unk>", file=sys.stderr)
        return encoded

    def series(self, values: list[torch.Tensor]) -> list[torch.Tensor]:
        return [self.scaler(v) for v in values]

    @property
    def input_size(self) -> dict:
        if self.kind == "text":
            return {"vocab_size": self.tokenizer.vocab_size}
        return {"input_size": len(self.scaler.mean)}

    def to_dict(self) -> dict:
        if self.kind == "text":
            return {"kind": "text", "tokenizer": self.tokenizer.to_dict()}
        return {"kind": "numeric", "scaler": asdict(self.scaler)}

    @classmethod
    def from_dict(cls, data: dict) -> Encoder:
        if data["kind"] == "text":
            return cls("text", tokenizer=tokenizer_from_dict(data["tokenizer"]))
        return cls("numeric", scaler=Standardizer(**data["scaler"]))


def load_split(path: str, kind: str, config: ClassifyDataConfig):
    """(raw examples, labels, source) of one file; text comes back as strings, series as tensors."""
    if kind == "numeric":
        series: Series = fill_missing(read_series(Path(path)), config.fill_missing)
        return series.values, series.labels, series.source
    data = read_labelled_text(path, config.format, config.text_column, config.label_column, config.skip_bad_rows, config.encoding_errors)
    return data.texts, data.labels, data.source


def label_indices(labels: list[str], names: list[str], source: str) -> torch.Tensor:
    index = {name: i for i, name in enumerate(names)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise ValueError(f"{source} has label(s) {unknown[:5]} that training never saw; the known labels are {names}")
    return torch.tensor([index[label] for label in labels], dtype=torch.long)


# -- train --------------------------------------------------------------------------------------------
@dataclass
class Prepared:
    """Batches ready for training, and what was fitted on the training data to make them."""

    train: PaddedBatches
    val: PaddedBatches | None
    encoder: Encoder
    names: list[str]


def prepare(train_path: str, val_path: str | None, config: ClassifyDataConfig, seed: int,
            encoder: Encoder | None = None, names: list[str] | None = None) -> Prepared:
    """Read and encode the training and validation data. A resumed run passes its saved encoder and
    class names, so that the data is encoded exactly as before."""
    kind = encoder.kind if encoder is not None else input_kind(train_path, config.input)
    raw, labels, source = load_split(train_path, kind, config)
    if names is None:
        names = sorted(set(labels), key=_label_order)
        if len(names) < 2:
            raise ValueError(f"{source}: every training example has the label {names[0]!r}; a classifier needs at least two classes")
    if val_path is None and config.val_fraction == 0:
        val_raw = None
    elif val_path is None:
        train_rows, val_rows = stratified_split(labels, config.val_fraction, seed)
        val_raw, val_labels, val_source = [raw[i] for i in val_rows], [labels[i] for i in val_rows], f"{source} (held-out {config.val_fraction:.0%})"
        raw, labels = [raw[i] for i in train_rows], [labels[i] for i in train_rows]
    else:
        val_raw, val_labels, val_source = load_split(val_path, kind, config)
    if encoder is None:
        encoder = Encoder.fit(kind, config, raw)
    encode = encoder.texts if kind == "text" else (lambda values, source: encoder.series(values))
    train = PaddedBatches(encode(raw, source), label_indices(labels, names, source), config.batch_size)
    val = None if val_raw is None else PaddedBatches(encode(val_raw, val_source), label_indices(val_labels, names, val_source), 256, shuffle=False)
    return Prepared(train, val, encoder, names)


def train(train_path: str, val_path: str | None, test_path: str | None, data_config: ClassifyDataConfig,
          model_overrides: dict, train_overrides: dict, out: Path) -> dict:
    """Train a classifier into the run directory `out`; return the final metrics (validation, test)."""
    training = TrainConfig(**{**TRAIN_DEFAULTS[input_kind(train_path, data_config.input)], **train_overrides})
    data = prepare(train_path, val_path, data_config, training.seed)
    kind = data.encoder.kind
    family = model_overrides.get("model") or "rnn"
    if family not in CLASSIFIERS:
        raise ValueError(f"model must be one of {', '.join(CLASSIFIERS)}; got {family!r}")
    if data_config.pretrain_epochs and family != "rnn":
        raise ValueError("--pretrain-epochs trains an RNN classifier's layers as a language model; it needs --model rnn")
    model_class, config_class, defaults = CLASSIFIERS[family]
    choice = {family: (model_class, config_class, defaults[kind])}
    weights = class_weights(data.train.targets, len(data.names)) if data_config.class_weights == "balanced" else None
    seed_everything(training.seed)  # the initial weights follow --seed
    model = build_model(choice, {**model_overrides, "model": family}, num_classes=len(data.names), **data.encoder.input_size)
    pretrain_loss = pretrain(model, data.train, data_config.pretrain_epochs, training) if data_config.pretrain_epochs else None
    artifacts = {"labels": {"names": data.names}, "encoder": data.encoder.to_dict(),
                 "classify": {"data": asdict(data_config), "paths": {"train": train_path, "val": val_path, "test": test_path},
                              "class_weights": weights.tolist() if weights is not None else None, "pretrain_loss": pretrain_loss}}
    return _fit(model, data, training, weights, out, test_path, data_config, artifacts=artifacts)


def pretrain(model: SequenceClassifier, texts: PaddedBatches, epochs: int, training: TrainConfig) -> float:
    """Train `model`'s embedding and RNN as a language model on the (labelled) training texts, labels
    unused; return the last epoch's mean loss (nats per predicted token)."""
    settings = {"epochs": epochs, "lr": training.lr, "clip_norm": training.clip_norm, "seed": training.seed,
                "device": training.device, "progress": training.progress, "optimizer": training.optimizer}
    history = fit(LanguageModelPretraining(model), texts, TrainConfig(**settings),
                  loss_fn=lambda lm, batch, state: (lm(batch.inputs, batch.lengths), None))
    last_epoch = history.step_losses[-len(texts):]
    loss = sum(last_epoch) / len(last_epoch)
    print(f"rnnkit: language-model pre-training, {epochs} epochs on the training texts: {loss:.3f} nats per token", file=sys.stderr)
    return loss


def resume(out: Path, overrides: dict) -> dict:
    """Continue the run in `out` on the data it was trained on, encoded as before."""
    run = read_run(out, TASK)
    saved = read_json(Path(out) / "classify.json")
    config = ClassifyDataConfig(**saved["data"])
    training = TrainConfig.from_dict({**run["training"], **overrides})
    encoder = Encoder.from_dict(read_json(Path(out) / "encoder.json"))
    names = read_json(Path(out) / "labels.json")["names"]
    paths = saved["paths"]
    data = prepare(paths["train"], paths["val"], config, training.seed, encoder, names)
    weights = torch.tensor(saved["class_weights"]) if saved["class_weights"] is not None else None
    model = model_from_description(CLASSIFIERS, run["model"])
    return _fit(model, data, training, weights, out, paths["test"], config, resume=True)


def _fit(model, data: Prepared, training: TrainConfig, weights, out: Path, test_path, config, **fit_args) -> dict:
    device = resolve_device(training.device)
    loss_fn = classification_loss(weights)
    evaluate_fn = None if data.val is None else (lambda m: evaluate_batches(m, data.val, data.names, device))
    history = fit(model, data.train, training, loss_fn=loss_fn, run_dir=out, task=TASK, evaluate_fn=evaluate_fn, **fit_args)
    summary = {"steps": history.steps, "stop_reason": history.stop_reason, "best_val_accuracy": history.best}
    if test_path is not None:
        summary["test"] = evaluate_run(out, test_path, config, training.device)
    write_summary(out, summary)
    return summary


def _label_order(name: str):
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)


def class_weights(targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """n / (C * count_c): rarer classes weigh more ("balanced")."""
    counts = torch.bincount(torch.as_tensor(targets), minlength=num_classes).double()
    return (counts.sum() / (num_classes * counts.clamp(min=1))).float()


def classification_loss(weights: torch.Tensor | None):
    def loss_fn(model, batch, state):
        logits = model(batch.inputs, lengths=batch.lengths)
        w = None if weights is None else weights.to(logits.device)
        return F.cross_entropy(logits, batch.targets, weight=w), None

    return loss_fn


@torch.no_grad()
def predict_batches(model, data: PaddedBatches, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(probabilities (N, C), targets (N,)) in data order."""
    was_training = model.training
    model.eval()
    probs, targets = [], []
    try:
        for batch in data.batches(epoch=0, seed=0):
            batch = batch.to(device)
            probs.append(torch.softmax(model(batch.inputs, lengths=batch.lengths).float(), dim=-1).cpu())
            targets.append(batch.targets.cpu())
    finally:
        model.train(was_training)
    return torch.cat(probs), torch.cat(targets)


def evaluate_batches(model, data: PaddedBatches, names: list[str], device) -> dict:
    probs, targets = predict_batches(model, data, device)
    metrics = classification_metrics(targets, probs.argmax(1), names)
    loss = float(F.nll_loss(probs.clamp(min=1e-12).log(), targets))
    return {"loss": loss, "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}


# -- evaluate and predict from a run directory -----------------------------------------------------------
def load_run(run_dir: Path, device="cpu"):
    """(model, encoder, class names, saved data config) of a trained run (best checkpoint, else last)."""
    run = read_run(run_dir, TASK)
    model = model_from_description(CLASSIFIERS, run["model"])
    load_trained_weights(run_dir, model)
    saved_data = read_json(Path(run_dir) / "classify.json")
    names = read_json(Path(run_dir) / "labels.json")["names"]
    encoder = Encoder.from_dict(read_json(Path(run_dir) / "encoder.json"))
    return model.to(device).eval(), encoder, names, ClassifyDataConfig(**saved_data["data"])


def evaluate_run(run_dirs: Path | list[Path], path: str, overrides: ClassifyDataConfig | None = None, device_name: str = "auto") -> dict:
    """Accuracy, macro-F1, per-class precision/recall and the confusion matrix on a labelled file;
    the matrix is also saved as RUN_DIR/plots/confusion-<file>.png (of the first run). Several run
    directories are scored as one ensemble: their class probabilities are averaged."""
    run_dirs = _as_list(run_dirs)
    names, probs, targets = _run_probabilities(run_dirs, path, overrides, resolve_device(device_name), labelled=True)
    metrics = classification_metrics(targets, probs.argmax(1), names)
    metrics["examples"] = len(targets)
    prefix = "confusion" if len(run_dirs) == 1 else f"confusion-ensemble{len(run_dirs)}"
    plot = plot_confusion(metrics["confusion"], names, Path(run_dirs[0]) / "plots" / f"{prefix}-{Path(path).stem}.png", title=Path(path).name)
    metrics["confusion_plot"] = str(plot)
    return metrics


def predict(run_dirs: Path | list[Path], path: str | None, stdin: str | None = None, device_name: str = "auto") -> tuple[list[str], torch.Tensor]:
    """(class names, probabilities (N, C)) for unlabelled inputs: text lines or a CSV/TSV text column
    (from a file or standard input), or numeric series (their labels, if any, are ignored). Several
    run directories predict as one ensemble (probabilities averaged)."""
    names, probs, _ = _run_probabilities(_as_list(run_dirs), path, None, resolve_device(device_name), labelled=False, stdin=stdin)
    return names, probs


def _as_list(run_dirs) -> list[Path]:
    return [Path(d) for d in run_dirs] if isinstance(run_dirs, (list, tuple)) else [Path(run_dirs)]


def _run_probabilities(run_dirs: list[Path], path, overrides, device, labelled: bool, stdin: str | None = None):
    """(class names, mean probabilities over the runs (N, C), targets or None); each run encodes the
    data with its own tokenizer or scaler."""
    names, total, targets = None, None, None
    for run_dir in run_dirs:
        model, encoder, run_names, config = load_run(run_dir, device)
        if names is not None and run_names != names:
            raise ValueError(f"{run_dir} predicts the classes {run_names}, but {run_dirs[0]} predicts {names}; "
                             "an ensemble needs runs trained on the same labels")
        names = run_names
        if labelled:
            raw, labels, source = load_split(path, encoder.kind, overrides or config)
            inputs = encoder.texts(raw, source) if encoder.kind == "text" else encoder.series(raw)
            indices = label_indices(labels, names, source)
        else:
            inputs = _unlabelled_inputs(encoder, config, path, stdin)
            indices = torch.zeros(len(inputs), dtype=torch.long)
        probs, targets = predict_batches(model, PaddedBatches(inputs, indices, 256, shuffle=False), device)
        total = probs if total is None else total + probs
    return names, total / len(run_dirs), targets if labelled else None


def _unlabelled_inputs(encoder: Encoder, config: ClassifyDataConfig, path: str | None, stdin: str | None) -> list[torch.Tensor]:
    if encoder.kind == "text":
        texts = read_unlabelled_text(path, stdin, config.format if config.format in ("csv", "tsv") else "auto", config.text_column)
        return encoder.texts(texts, path or "<stdin>")
    if stdin is not None:
        raise ValueError("numeric series cannot come from standard input; pass --data FILE")
    return encoder.series(load_split(path, "numeric", config)[0])
