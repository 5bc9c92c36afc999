"""Language modelling and text generation: tokenize a corpus, train a recurrent language model with
truncated BPTT (or the transformer baseline on windows of the same length), evaluate perplexity and
bits per character, generate text token by token.

Data: the user's UTF-8 files (each split 90/10 into train/validation by characters), or, with no
files, the English reference text embedded in Python (see data.text.embedded_corpus), split by
characters into the first 90% (train), the next 5% (validation) and the last 5% (test).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from rnnkit.data import Document, StreamBatches, embedded_corpus, read_documents, tokenizer_from_dict
from rnnkit.data.tokenizers import BPETokenizer, CharTokenizer, WordTokenizer, decode_incrementally
from rnnkit.models import LanguageModel, LanguageModelConfig, TransformerLanguageModel, TransformerLanguageModelConfig
from rnnkit.models.choice import build_model, model_from_description, parameter_count
from rnnkit.training import TrainConfig, evaluate, fit, masked_cross_entropy, model_loss
from rnnkit.training.checkpoint import read_json
from rnnkit.training.distributed import resolve_device
from rnnkit.training.rundir import load_trained_weights, read_run, write_summary
from rnnkit.training.state import seed_everything

TASK = "lm"
LOSS = model_loss(masked_cross_entropy)

# The one mapping from --model names to language models: (class, config class, defaults).
LANGUAGE_MODELS = {
    "rnn": (LanguageModel, LanguageModelConfig, {}),
    "transformer": (TransformerLanguageModel, TransformerLanguageModelConfig, {}),
}


@dataclass(frozen=True)
class LMDataConfig:
    """Where the text comes from and how it becomes batches. `paths` empty: the embedded corpus."""

    paths: tuple[str, ...] = ()
    tokenizer: str = "char"
    lowercase: bool = False
    min_freq: int = 1
    bpe_vocab_size: int = 2000
    encoding_errors: str = "strict"
    val_fraction: float = 0.1
    bptt: int = 64
    batch_size: int = 32


@dataclass(frozen=True)
class Preset:
    """A named configuration: the model, the training and the batching it was tuned with."""

    description: str
    model: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)


PRESETS = {
    "tiny": Preset(
        "1-layer LSTM, 128 units: trains in about a minute on 2 CPU cores",
        model=dict(cell="lstm", embedding_size=64, hidden_size=128, num_layers=1, dropout=0.0, embedding_dropout=0.0),
        training=dict(epochs=15, max_steps=3000, lr=3e-3, clip_norm=1.0, schedule="cosine", warmup_steps=50, eval_every=1000),
        data=dict(bptt=64, batch_size=32),
    ),
    "small": Preset(
        "2-layer LSTM, 256 units: minutes to tens of minutes on a CPU",
        model=dict(cell="lstm", embedding_size=128, hidden_size=256, num_layers=2, dropout=0.2, embedding_dropout=0.05),
        training=dict(epochs=10, lr=2e-3, clip_norm=1.0, schedule="cosine", warmup_steps=100, eval_every=500),
        data=dict(bptt=100, batch_size=32),
    ),
    "medium": Preset(
        "2-layer LSTM, 512 units: for a GPU, or an hour or more on a CPU",
        model=dict(cell="lstm", embedding_size=256, hidden_size=512, num_layers=2, dropout=0.25, embedding_dropout=0.1),
        training=dict(epochs=20, lr=2e-3, clip_norm=1.0, schedule="cosine", warmup_steps=200, eval_every=1000),
        data=dict(bptt=128, batch_size=64),
    ),
    "awd": Preset(
        "AWD-style 3-layer LSTM, 512 units (Merity et al. 2018): locked dropout on embeddings, between layers "
        "and on outputs, weight-drop on the recurrent weights, tied embeddings; about 2x slower per step than small",
        model=dict(cell="lstm", embedding_size=512, hidden_size=512, num_layers=3, dropout=0.1, embedding_dropout=0.1,
                   tie_weights=True, locked_dropout=True,
                   regularisers={"weight_drop": 0.25, "variational_dropout": 0.2}),
        training=dict(epochs=20, lr=2e-3, clip_norm=0.25, schedule="cosine", warmup_steps=200, eval_every=500,
                      weight_decay=1.2e-6),
        data=dict(bptt=150, batch_size=32),
    ),
    "transformer": Preset(
        "the transformer baseline (--model transformer): nanoGPT's CPU recipe, 4 blocks of 128 with 4 heads, windows of 64 "
        "tokens; a few minutes on 2 CPU cores",
        model=dict(model="transformer", d_model=128, num_layers=4, num_heads=4, dropout=0.0),
        training=dict(epochs=15, max_steps=2000, lr=1e-3, clip_norm=1.0, schedule="cosine", warmup_steps=100, eval_every=500,
                      optimizer="adamw", weight_decay=0.1),
        data=dict(bptt=64, batch_size=12),
    ),
}


# -- data ---------------------------------------------------------------------------------------------
def load_splits(config: LMDataConfig) -> tuple[list[Document], list[Document], str]:
    """(train documents, validation documents, a description of the corpus and its split)."""
    if not config.paths:
        corpus = embedded_corpus()
        train, val, _ = _embedded_split(corpus.text)
        return [Document(corpus.name, train)], [Document(corpus.name, val)], (
            f"embedded corpus {corpus.name} ({len(corpus.text):,} characters): first 90% train, next 5% validation, last 5% test"
        )
    documents = read_documents(list(config.paths), config.encoding_errors)
    train, val = [], []
    for doc in documents:
        cut = int(len(doc.text) * (1 - config.val_fraction))
        train.append(Document(doc.name, doc.text[:cut]))
        val.append(Document(doc.name, doc.text[cut:]))
    total = sum(len(d.text) for d in documents)
    return train, val, f"{len(documents)} file(s), {total:,} characters: each split {1 - config.val_fraction:.0%}/{config.val_fraction:.0%} train/validation"


def _embedded_split(text: str) -> tuple[str, str, str]:
    """The embedded corpus by characters: first 90% train, next 5% validation, last 5% test."""
    a, b = int(0.9 * len(text)), int(0.95 * len(text))
    return text[:a], text[a:b], text[b:]


def embedded_test_text() -> str:
    return _embedded_split(embedded_corpus().text)[2]


def build_tokenizer(config: LMDataConfig, texts: list[str]):
    if config.tokenizer == "char":
        return CharTokenizer.fit(texts)
    if config.tokenizer == "word":
        return WordTokenizer.fit(texts, lowercase=config.lowercase, min_freq=config.min_freq)
    if config.tokenizer == "bpe":
        return BPETokenizer.fit(texts, vocab_size=config.bpe_vocab_size)
    raise ValueError(f"tokenizer must be char, word or bpe; got {config.tokenizer!r}")


def encode_documents(tokenizer, documents: list[Document], what: str) -> list[torch.Tensor]:
    """Token ids per document, reporting text the vocabulary lacks (mapped to <unk>)."""
    encoded, unknown = [], 0
    for doc in documents:
        result = tokenizer.encode(doc.text)
        encoded.append(torch.tensor(result.ids, dtype=torch.long))
        unknown += result.unknown
    if unknown:
        print(f"rnnkit: {unknown:,} tokens of the {what} text are not in the vocabulary; they were mapped to <unk>", file=sys.stderr)
    return encoded


def stream_batches(ids: list[torch.Tensor], batch_size: int, bptt: int, what: str) -> StreamBatches:
    pairs = [(t[:-1], t[1:]) for t in ids if len(t) > 1]
    tokens = sum(len(x) for x, _ in pairs)
    needed = 2 * batch_size if what == "training" else 1
    if tokens < needed:
        raise ValueError(
            f"the {what} text has {tokens} tokens to predict; at least {needed} are needed"
            + (f" for one batch of {batch_size} rows: add text or lower --batch-size" if what == "training" else ": add text")
        )
    return StreamBatches(pairs, batch_size=batch_size, bptt=bptt)


# -- metrics ------------------------------------------------------------------------------------------
def lm_metrics(model, data: StreamBatches, characters: int, device) -> dict[str, float]:
    """loss (nats per token), perplexity, and bits per character of the text the tokens cover."""
    result = evaluate(model, data, LOSS, device)
    loss = result["loss"]
    return {
        "loss": loss,
        "perplexity": math.exp(min(loss, 700.0)),
        "bits_per_char": loss * result["targets"] / max(characters, 1) / math.log(2),
        "tokens": result["targets"],
    }


def _predicted_characters(tokenizer, documents: list[Document]) -> int:
    """Characters covered by the predicted tokens (all but each document's first token)."""
    if isinstance(tokenizer, CharTokenizer):
        return sum(max(len(d.text) - 1, 0) for d in documents)
    return sum(len(d.text) for d in documents)


# -- train --------------------------------------------------------------------------------------------
def train(data_config: LMDataConfig, model_config: dict, train_config: TrainConfig, out: Path, callbacks=()) -> dict:
    """Train a language model into the run directory `out`; return the final validation metrics."""
    train_docs, val_docs, description = load_splits(data_config)
    tokenizer = build_tokenizer(data_config, [d.text for d in train_docs])
    seed_everything(train_config.seed)  # the initial weights follow --seed
    if model_config.get("model") == "transformer":  # its context is the training window unless told otherwise
        model_config = {"max_len": data_config.bptt, **model_config}
    model = build_model(LANGUAGE_MODELS, model_config, vocab_size=tokenizer.vocab_size)
    artifacts = {"vocab": tokenizer.to_dict(), "lm": {"data": asdict(data_config), "corpus": description}}
    return _fit(model, tokenizer, data_config, train_config, out, description, artifacts=artifacts, callbacks=callbacks)


def resume(out: Path, overrides: dict) -> dict:
    """Continue the run in `out` (its data, tokenizer and model as saved), with new epochs/max_steps."""
    run = read_run(out, TASK)
    lm = read_json(Path(out) / "lm.json")
    data_config = LMDataConfig(**{**lm["data"], "paths": tuple(lm["data"]["paths"])})
    train_config = TrainConfig.from_dict({**run["training"], **overrides})
    model = model_from_description(LANGUAGE_MODELS, run["model"])
    return _fit(model, load_tokenizer(out), data_config, train_config, out, lm["corpus"], resume=True)


def _fit(model, tokenizer, data_config: LMDataConfig, train_config: TrainConfig, out: Path, description: str, **fit_args) -> dict:
    """Encode the splits with `tokenizer`, batch them as streams and train (or resume) `model`."""
    train_docs, val_docs, _ = load_splits(data_config)
    train_ids = encode_documents(tokenizer, train_docs, "training")
    train_data = stream_batches(train_ids, data_config.batch_size, data_config.bptt, "training")
    val_data = stream_batches(encode_documents(tokenizer, val_docs, "validation"), data_config.batch_size, data_config.bptt, "validation")
    print(f"rnnkit lm: {description}; {tokenizer.kind} vocabulary of {tokenizer.vocab_size:,}; "
          f"{sum(len(t) for t in train_ids):,} training tokens; {parameter_count(model):,} parameters", file=sys.stderr)
    characters = _predicted_characters(tokenizer, val_docs)
    device = resolve_device(train_config.device)
    history = fit(model, train_data, train_config, loss_fn=LOSS, run_dir=out, task=TASK,
                  evaluate_fn=lambda m: lm_metrics(m, val_data, characters, device), **fit_args)
    summary = _summary(history)
    if not data_config.paths and history.stop_reason != "interrupted":  # the embedded corpus has a test split
        summary["test"] = evaluate_run(out, [], device_name=train_config.device)
    write_summary(out, summary)
    return summary


def _summary(history) -> dict:
    """Steps, why training stopped, the best validation loss and the last validation figures."""
    val = [r for r in history.records if r.get("split") == "val"]
    return {"steps": history.steps, "stop_reason": history.stop_reason, "best_val_loss": history.best,
            **({k: v for k, v in val[-1].items() if k not in ("split", "epoch")} if val else {})}


# -- load, evaluate, generate -------------------------------------------------------------------------
def load_tokenizer(run_dir: Path):
    return tokenizer_from_dict(read_json(Path(run_dir) / "vocab.json"))


def load_model(run_dir: Path, device="cpu"):
    """The trained model (best checkpoint, else last) and its tokenizer."""
    run = read_run(run_dir, TASK)
    model = model_from_description(LANGUAGE_MODELS, run["model"])
    load_trained_weights(run_dir, model)
    return model.to(device).eval(), load_tokenizer(run_dir)


def evaluate_run(run_dir: Path, paths: list[str], errors: str = "strict", device_name: str = "auto") -> dict:
    """Metrics of a trained model on held-out text (the embedded test split when `paths` is empty
    and the run was trained on the embedded corpus)."""
    device = resolve_device(device_name)
    model, tokenizer = load_model(run_dir, device)
    lm = read_json(Path(run_dir) / "lm.json")
    if paths:
        documents = read_documents(paths, errors)
    elif not lm["data"]["paths"]:
        documents = [Document("embedded test split", embedded_test_text())]
    else:
        raise ValueError("--data FILE is needed: the run was trained on the user's files, so rnnkit has no test split for it")
    ids = encode_documents(tokenizer, documents, "evaluation")
    data = stream_batches(ids, lm["data"]["batch_size"], lm["data"]["bptt"], "evaluation")
    return lm_metrics(model, data, _predicted_characters(tokenizer, documents), device)


def sample_next(logits: torch.Tensor, temperature: float, top_k: int | None, generator: torch.Generator) -> int:
    """One token id from (V,) logits: greedy at temperature 0, else softmax(logits / T) over the top k."""
    if temperature <= 0:
        return int(logits.argmax())
    logits = logits.float() / temperature
    if top_k is not None and 0 < top_k < logits.shape[-1]:
        threshold = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < threshold, float("-inf"))
    probs = torch.softmax(logits, dim=-1).cpu()
    return int(torch.multinomial(probs, 1, generator=generator))


def generate_ids(model, prompt: list[int], max_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None, seed: int = 0) -> Iterator[int]:
    """Token ids after `prompt`, one at a time: the prompt is read once, then each new token is one
    step of the model with the carried state (constant work per token). <unk> is never generated."""
    if not prompt:
        raise ValueError("the prompt must hold at least one token")
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    logits, state = model.step(torch.tensor([prompt], device=device))
    for i in range(max_tokens):
        scores = logits[0].clone()
        scores[0] = float("-inf")  # never <unk>: every tokenizer keeps it at id 0
        token = sample_next(scores, temperature, top_k, generator)
        yield token
        if i + 1 < max_tokens:
            logits, state = model.step(torch.tensor([[token]], device=device), state)


def generate(run_dir: Path, prompt: str = "", max_tokens: int = 200, temperature: float = 0.8,
             top_k: int | None = None, seed: int = 0, device_name: str = "auto") -> Iterator[str]:
    """Text pieces as they are generated (decoded incrementally, so multi-byte tokens come out whole)."""
    model, tokenizer = load_model(run_dir, resolve_device(device_name))
    encoded = tokenizer.encode(prompt or "\n")
    if encoded.unknown:
        print(f"rnnkit: {encoded.unknown} token(s) of the prompt are not in the vocabulary; they were mapped to <unk>", file=sys.stderr)
    yield from generate_text(model, tokenizer, encoded.ids, max_tokens, temperature, top_k, seed)


def generate_text(model, tokenizer, prompt: list[int], max_tokens: int, temperature: float = 0.8, top_k: int | None = None,
                  seed: int = 0) -> Iterator[str]:
    """The pieces of text generated after the token ids `prompt`, each as soon as it decodes whole."""
    yield from decode_incrementally(tokenizer, generate_ids(model, prompt, max_tokens, temperature, top_k, seed))


def preset_configs(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of: " + ", ".join(f"{k} ({p.description})" for k, p in PRESETS.items()))
    return PRESETS[name]


__all__ = ["LANGUAGE_MODELS", "LMDataConfig", "PRESETS", "evaluate_run", "generate", "generate_ids", "generate_text", "load_model", "preset_configs", "resume", "train"]
