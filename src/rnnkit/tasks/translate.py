"""Machine translation: parallel text -> per-side tokenizers (word, char or byte-level BPE) -> a
Seq2Seq model trained with the shared loop -> greedy or beam-search decoding, BLEU and chrF from
sacrebleu on detokenized output, and attention maps.

Ids: each side's tokenizer ids are shifted past <pad> 0, <bos> 1, <eos> 2 (the tokenizer's <unk>
becomes 3). Training pairs longer than `max_length` tokens on either side are left out (and counted);
decoding is limited to `max_len_a * source_length + max_len_b` tokens, whatever the input.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from rnnkit.data import tokenizer_from_dict
from rnnkit.data.parallel import PairBatches, Pairs, read_pairs
from rnnkit.data.tokenizers import BPETokenizer, CharTokenizer, WordTokenizer, detokenize
from rnnkit.models.decoding import Hypothesis, beam_search, greedy_decode
from rnnkit.models.seq2seq import BOS, EOS, LEGACY_DEFAULTS, PAD, Seq2Seq, Seq2SeqConfig
from rnnkit.training import TrainConfig, fit
from rnnkit.training.checkpoint import read_json
from rnnkit.training.distributed import resolve_device
from rnnkit.training.plots import plot_attention
from rnnkit.training.rundir import load_trained_weights, read_run, write_summary
from rnnkit.training.state import seed_everything

TASK = "translate"
SPECIALS = 3  # <pad>, <bos>, <eos>
MODEL_DEFAULTS = dict(embedding_size=256, hidden_size=256, cell="gru", bidirectional=True, attention="additive", dropout=0.3)
TRAIN_DEFAULTS = dict(epochs=10, lr=1e-3, clip_norm=1.0, monitor="val_loss", monitor_mode="min")


@dataclass(frozen=True)
class TranslateDataConfig:
    """Tokenizers per side (word | char | bpe; `shared_vocab` fits one on both sides), BPE vocabulary
    size, word `min_freq`, `lowercase`, the longest training pair kept, batch size, label smoothing."""

    src_tokenizer: str = "bpe"
    tgt_tokenizer: str = "bpe"
    vocab_size: int = 8000
    min_freq: int = 1
    lowercase: bool = False
    shared_vocab: bool = False
    max_length: int = 80
    skip_empty: bool = False
    batch_size: int = 64
    label_smoothing: float = 0.1
    val_size: int = 500

    def __post_init__(self) -> None:
        for name in ("src_tokenizer", "tgt_tokenizer"):
            if getattr(self, name) not in ("word", "char", "bpe"):
                raise ValueError(f"{name} must be word, char or bpe; got {getattr(self, name)!r}")
        if self.shared_vocab and self.src_tokenizer != self.tgt_tokenizer:
            raise ValueError("shared_vocab needs the same tokenizer on both sides")


class Vocab:
    """A tokenizer with ids shifted past the three specials, and text back from ids."""

    def __init__(self, tokenizer, lowercase: bool = False) -> None:
        self.tokenizer, self.lowercase = tokenizer, lowercase

    @classmethod
    def fit(cls, kind: str, texts: list[str], config: TranslateDataConfig) -> Vocab:
        texts = [t.lower() for t in texts] if config.lowercase else texts
        if kind == "word":
            return cls(WordTokenizer.fit(texts, min_freq=config.min_freq), config.lowercase)
        if kind == "char":
            return cls(CharTokenizer.fit(texts), config.lowercase)
        return cls(BPETokenizer.fit(texts, vocab_size=config.vocab_size), config.lowercase)

    @property
    def size(self) -> int:
        return self.tokenizer.vocab_size + SPECIALS

    def encode(self, text: str) -> tuple[list[int], int]:
        encoded = self.tokenizer.encode(text.lower() if self.lowercase else text)
        return [i + SPECIALS for i in encoded.ids], encoded.unknown

    def decode(self, ids: list[int]) -> str:
        text = self.tokenizer.decode([i - SPECIALS for i in ids if i >= SPECIALS])
        return detokenize(text) if self.tokenizer.kind == "word" else text

    def pieces(self, ids: list[int]) -> list[str]:
        """One display string per id (for attention maps)."""
        if self.tokenizer.kind == "bpe":
            return [self.tokenizer.backend.decode([i - SPECIALS]) or "?" for i in ids]
        return [self.tokenizer.tokens[i - SPECIALS] if i >= SPECIALS else "<?>" for i in ids]

    def to_dict(self) -> dict:
        return {"tokenizer": self.tokenizer.to_dict(), "lowercase": self.lowercase}

    @classmethod
    def from_dict(cls, data: dict) -> Vocab:
        return cls(tokenizer_from_dict(data["tokenizer"]), data["lowercase"])


# -- data ---------------------------------------------------------------------------------------------------
def encode_pairs(pairs: Pairs, src: Vocab, tgt: Vocab, max_length: int | None) -> tuple[list, list]:
    """(source id tensors, target id tensors with <bos> ... <eos>); pairs longer than `max_length`
    tokens on a side are left out with a count on stderr (`max_length` None keeps all)."""
    sources, targets, dropped, unknown = [], [], 0, [0, 0]
    for a, b in zip(pairs.sources, pairs.targets):
        (src_ids, src_unk), (tgt_ids, tgt_unk) = src.encode(a), tgt.encode(b)
        unknown[0] += src_unk
        unknown[1] += tgt_unk
        if not src_ids or not tgt_ids:
            raise ValueError(f"{pairs.source}: the pair {a[:30]!r} / {b[:30]!r} has no tokens on one side")
        if max_length is not None and max(len(src_ids), len(tgt_ids)) > max_length:
            dropped += 1
            continue
        sources.append(torch.tensor(src_ids))
        targets.append(torch.tensor([BOS, *tgt_ids, EOS]))
    if dropped:
        print(f"rnnkit: left out {dropped:,} of {len(pairs.sources):,} pairs of {pairs.source} longer than {max_length} tokens "
              "(--max-length)", file=sys.stderr)
    if not sources:
        raise ValueError(f"{pairs.source}: no pair is within --max-length {max_length} tokens")
    for side, count in zip(("source", "target"), unknown):
        if count:
            print(f"rnnkit: {count:,} {side} tokens of {pairs.source} are not in the vocabulary; they became <unk>", file=sys.stderr)
    return sources, targets


def _split_validation(pairs: Pairs, size: int, seed: int) -> tuple[Pairs, Pairs]:
    order = torch.randperm(len(pairs.sources), generator=torch.Generator().manual_seed(seed)).tolist()
    size = min(size, max(1, len(order) // 10))
    val, train = sorted(order[:size]), sorted(order[size:])
    pick = lambda rows, name: Pairs([pairs.sources[i] for i in rows], [pairs.targets[i] for i in rows], name)  # noqa: E731
    return pick(train, pairs.source), pick(val, f"{pairs.source} (held-out {size})")


def load_training_pairs(src: str, tgt: str | None, val, config: TranslateDataConfig, seed: int) -> tuple[Pairs, Pairs]:
    """(training pairs, validation pairs): from `val` (source, target files) when given, else held out
    of the training pairs with `seed` (the same pairs again when a run resumes)."""
    pairs = read_pairs(src, tgt, config.skip_empty)
    if val is None:
        return _split_validation(pairs, config.val_size, seed)
    return pairs, read_pairs(val[0], val[1], config.skip_empty)


# -- train ----------------------------------------------------------------------------------------------------
def train(src: str, tgt: str | None, val: tuple[str, str | None] | None, test: tuple[str, str] | None, config: TranslateDataConfig,
          model_overrides: dict, train_overrides: dict, out: Path) -> dict:
    """Train a translation model on `src`/`tgt` (or a TSV `src` with tgt None) into `out`; evaluate
    BLEU on `test` (source file, reference file) with beam search at the end when given."""
    training = TrainConfig(**{**TRAIN_DEFAULTS, **train_overrides})
    pairs, val_pairs = load_training_pairs(src, tgt, val, config, training.seed)
    if config.shared_vocab:
        src_vocab = tgt_vocab = Vocab.fit(config.src_tokenizer, pairs.sources + pairs.targets, config)
    else:
        src_vocab = Vocab.fit(config.src_tokenizer, pairs.sources, config)
        tgt_vocab = Vocab.fit(config.tgt_tokenizer, pairs.targets, config)
    model_config = Seq2SeqConfig(src_vocab_size=src_vocab.size, tgt_vocab_size=tgt_vocab.size, **{**MODEL_DEFAULTS, **model_overrides})
    artifacts = {"vocab_src": src_vocab.to_dict(), "vocab_tgt": tgt_vocab.to_dict(),
                 "translate": {"data": asdict(config), "paths": {"src": src, "tgt": tgt, "val": val, "test": test}}}
    seed_everything(training.seed)  # the initial weights follow --seed
    return _fit(Seq2Seq.from_config(model_config), pairs, val_pairs, src_vocab, tgt_vocab, config, training, out, test, artifacts=artifacts)


def resume(out: Path, overrides: dict) -> dict:
    """Continue the run in `out` on its data, encoded with its saved vocabularies."""
    run = read_run(out, TASK)
    saved = read_json(Path(out) / "translate.json")
    config, paths = TranslateDataConfig(**saved["data"]), saved["paths"]
    training = TrainConfig.from_dict({**run["training"], **overrides})
    pairs, val_pairs = load_training_pairs(paths["src"], paths["tgt"], paths["val"], config, training.seed)
    src_vocab = Vocab.from_dict(read_json(Path(out) / "vocab_src.json"))
    tgt_vocab = Vocab.from_dict(read_json(Path(out) / "vocab_tgt.json"))
    model = Seq2Seq.from_config(Seq2SeqConfig(**{**LEGACY_DEFAULTS, **run["model"]["config"]}))
    return _fit(model, pairs, val_pairs, src_vocab, tgt_vocab, config, training, out, paths["test"], resume=True)


def _fit(model, pairs, val_pairs, src_vocab, tgt_vocab, config, training, out, test, **fit_args) -> dict:
    device = resolve_device(training.device)
    train_data = PairBatches(*encode_pairs(pairs, src_vocab, tgt_vocab, config.max_length), config.batch_size)
    val_data = PairBatches(*encode_pairs(val_pairs, src_vocab, tgt_vocab, None), 128, shuffle=False)

    def loss_fn(model, batch, state):
        return pair_loss(model, batch, config.label_smoothing), None

    history = fit(model, train_data, training, loss_fn=loss_fn, run_dir=out, task=TASK,
                  evaluate_fn=lambda m: validation_metrics(m, val_data, device), **fit_args)
    summary = {"steps": history.steps, "stop_reason": history.stop_reason, "best_val_loss": history.best}
    if test is not None and history.stop_reason != "interrupted":
        summary["test"] = evaluate_run(out, test[0], test[1], beam_size=5, device_name=training.device)
    write_summary(out, summary)
    return summary


def pair_loss(model, batch, label_smoothing: float = 0.0):
    logits = model(batch.inputs, batch.lengths, batch.targets[:, :-1])
    gold = batch.targets[:, 1:]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), gold.reshape(-1), ignore_index=PAD, label_smoothing=label_smoothing)


@torch.no_grad()
def validation_metrics(model, data: PairBatches, device) -> dict:
    """Per-token cross-entropy (no smoothing) and perplexity on the validation pairs, teacher-forced."""
    was_training = model.training
    model.eval()
    total, tokens = 0.0, 0
    try:
        for batch in data.batches(epoch=0, seed=0):
            count = int((batch.targets[:, 1:] != PAD).sum())
            batch = batch.to(device)
            total += float(pair_loss(model, batch)) * count
            tokens += count
    finally:
        model.train(was_training)
    loss = total / max(tokens, 1)
    return {"loss": loss, "perplexity": float(torch.tensor(loss).exp())}


# -- decode, evaluate, run -----------------------------------------------------------------------------------------
@dataclass
class Translator:
    model: Seq2Seq
    src: Vocab
    tgt: Vocab
    device: torch.device

    @classmethod
    def load(cls, run_dir: Path, device_name: str = "auto") -> Translator:
        device = resolve_device(device_name)
        run = read_run(run_dir, TASK)
        model = Seq2Seq.from_config(Seq2SeqConfig(**{**LEGACY_DEFAULTS, **run["model"]["config"]}))
        load_trained_weights(run_dir, model)
        src = Vocab.from_dict(read_json(Path(run_dir) / "vocab_src.json"))
        tgt = Vocab.from_dict(read_json(Path(run_dir) / "vocab_tgt.json"))
        return cls(model.to(device).eval(), src, tgt, device)

    def translate(self, texts: list[str], beam_size: int = 5, length_penalty: float = 1.0, max_len_a: float = 1.5,
                  max_len_b: int = 10, batch_size: int = 64) -> list[tuple[str, Hypothesis, list[int]]]:
        """(translation, hypothesis, source ids) per text, in input order; beam_size 1 decodes greedily."""
        encoded, unknown = [], 0
        for number, text in enumerate(texts, start=1):
            ids, unk = self.src.encode(text)
            if not ids:
                raise ValueError(f"input line {number} is empty; give one sentence per line")
            encoded.append(ids)
            unknown += unk
        if unknown:
            print(f"rnnkit: {unknown:,} source tokens are not in the vocabulary; they became <unk>", file=sys.stderr)
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        results: list = [None] * len(encoded)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            lengths = torch.tensor([len(encoded[i]) for i in rows])
            src = torch.zeros(len(rows), int(lengths.max()), dtype=torch.long)
            for r, i in enumerate(rows):
                src[r, : len(encoded[i])] = torch.tensor(encoded[i])
            src = src.to(self.device)
            if beam_size == 1:
                hyps = greedy_decode(self.model, src, lengths, max_len_a, max_len_b)
            else:
                hyps = beam_search(self.model, src, lengths, beam_size, length_penalty, max_len_a, max_len_b)
            for i, hyp in zip(rows, hyps):
                results[i] = (self.tgt.decode(hyp.tokens), hyp, encoded[i])
        return results


def evaluate_run(run_dir: Path, src_path: str, ref_path: str, beam_size: int = 5, length_penalty: float = 1.0,
                 max_len_a: float = 1.5, max_len_b: int = 10, device_name: str = "auto") -> dict:
    """BLEU and chrF (sacrebleu, on detokenized text against the raw references) of the run's
    translations of `src_path`; also lower-cased BLEU and the decoding speed."""
    sacrebleu = _sacrebleu()
    pairs = read_pairs(src_path, ref_path)
    translator = Translator.load(run_dir, device_name)
    start = time.perf_counter()
    outputs = translator.translate(pairs.sources, beam_size, length_penalty, max_len_a, max_len_b)
    seconds = time.perf_counter() - start
    hypotheses = [text for text, _, _ in outputs]
    bleu = sacrebleu.metrics.BLEU()
    score = bleu.corpus_score(hypotheses, [pairs.targets]).score
    return {"bleu": score, "chrf": sacrebleu.metrics.CHRF().corpus_score(hypotheses, [pairs.targets]).score,
            "bleu_lowercase": sacrebleu.metrics.BLEU(lowercase=True).corpus_score(hypotheses, [pairs.targets]).score,
            "bleu_signature": str(bleu.get_signature()), "sentences": len(hypotheses), "beam": beam_size,
            "decode_seconds": seconds, "unfinished": sum(1 for _, h, _ in outputs if not h.finished)}


def run(run_dir: Path, texts: list[str], beam_size: int = 5, attention_plot: Path | None = None, device_name: str = "auto",
        **decode) -> list[str]:
    """Translations of `texts`; with `attention_plot`, the first one's attention map is saved there."""
    translator = Translator.load(run_dir, device_name)
    outputs = translator.translate(texts, beam_size, **decode)
    if attention_plot is not None:
        _, hyp, src_ids = outputs[0]
        if hyp.attention is None:
            raise ValueError("this model has no attention (trained with --attention none); there is no map to plot")
        rows = translator.tgt.pieces(hyp.tokens) + (["</s>"] if hyp.finished else [])
        weights = hyp.attention[: len(rows), : len(src_ids)].numpy()  # the batch may have padded the source
        plot_attention(weights, translator.src.pieces(src_ids), rows, Path(attention_plot))
    return [text for text, _, _ in outputs]


def _sacrebleu():
    try:
        import sacrebleu
    except ImportError:
        raise ValueError("BLEU and chrF need sacrebleu: pip install 'rnnkit[translate]'") from None
    return sacrebleu
