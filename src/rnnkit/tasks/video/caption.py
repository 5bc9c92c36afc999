"""Captioning clips: a manifest `path,caption` (the clips' own frames, sampled as `ClipFormat` says),
a word vocabulary fitted on the training captions (lower-cased), the translation task's attention
decoder over frame features, beam search, and corpus BLEU (sacreBLEU) on held-out clips."""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

import torch

from rnnkit.data.batches import pad_sequences
from rnnkit.data.clips import manifest_column
from rnnkit.data.parallel import PairBatches
from rnnkit.data.tokenizers import WordTokenizer
from rnnkit.models.captioner import CaptionerConfig, ClipCaptioner
from rnnkit.models.decoding import beam_search
from rnnkit.models.seq2seq import BOS, EOS, LEGACY_DEFAULTS
from rnnkit.tasks.translate import Vocab, _sacrebleu, pair_loss, validation_metrics
from rnnkit.tasks.video import clips as clip_kind
from rnnkit.tasks.video.common import TASK, random_split, read_video_run
from rnnkit.training.checkpoint import read_json
from rnnkit.training.config import TrainConfig
from rnnkit.training.distributed import resolve_device
from rnnkit.training.loop import fit
from rnnkit.training.plots import plot_attention
from rnnkit.training.rundir import load_trained_weights, write_summary
from rnnkit.training.state import seed_everything

TRAIN_DEFAULTS = {"epochs": 20, "lr": 2e-3, "clip_norm": 5.0}


def read_captions(manifest: str | Path, column: str = "caption") -> dict[str, str]:
    """{clip name: caption} from a manifest column; an empty caption is an error with its line."""
    captions = {}
    for n, name, text in manifest_column(manifest, column):
        if not text:
            raise ValueError(f"{manifest}, line {n}: empty {column}")
        captions[name] = text
    return captions


def _pairs(clips, captions: dict[str, str], vocab: Vocab, names: list[str]):
    index = {n: i for i, n in enumerate(clips.names)}
    sources, targets, unknown = [], [], 0
    for name in names:
        ids, missing = vocab.encode(captions[name])
        unknown += missing
        sources.append(clips.sequences[index[name]])
        targets.append(torch.tensor([BOS, *ids, EOS]))
    if unknown:
        print(f"rnnkit: {unknown} caption words are not in the vocabulary; they became <unk>", file=sys.stderr)
    return sources, targets


def train(path: str, data_config: clip_kind.ClipDataConfig, model_overrides: dict, train_overrides: dict,
          out: Path) -> dict:
    """Train a captioner on the clips and captions of the manifest `path` into `out`; score BLEU on
    the test clips (a `test_fraction`) at the end."""
    training = TrainConfig(**{**TRAIN_DEFAULTS, **train_overrides})
    clips = clip_kind.load(path, data_config, labelled=False)
    captions = read_captions(path)
    parts = random_split(clips.names, data_config.test_fraction, data_config.val_fraction, data_config.split_seed)
    vocab = Vocab(WordTokenizer.fit([captions[n].lower() for n in parts["train"]]), lowercase=True)
    config = CaptionerConfig(vocab_size=vocab.size, channels=clips.sequences[0].shape[1], **model_overrides)
    artifacts = {"video": {"kind": "clips", "objective": "caption", "data": asdict(data_config), "path": str(path)},
                 "split": parts, "vocab": vocab.to_dict()}
    seed_everything(training.seed)
    model = ClipCaptioner.from_config(config)
    history = _fit(model, clips, captions, vocab, parts, data_config, training, out, artifacts=artifacts)
    summary = {"steps": history.steps, "stop_reason": history.stop_reason, "best_val_loss": history.best,
               "clips": {part: len(rows) for part, rows in parts.items()}}
    if parts["test"] and history.stop_reason != "interrupted":
        summary["test"] = evaluate_run(out, path, split_name="test", device_name=training.device)
    write_summary(out, summary)
    return summary


def _fit(model, clips, captions, vocab, parts, config, training, out, **fit_args):
    data = PairBatches(*_pairs(clips, captions, vocab, parts["train"]), config.batch_size)
    device = resolve_device(training.device)
    val = PairBatches(*_pairs(clips, captions, vocab, parts["val"]), 32, shuffle=False) if parts["val"] else None
    evaluate_fn = None if val is None else (lambda m: validation_metrics(m, val, device))
    return fit(model, data, training, loss_fn=lambda m, batch, state: (pair_loss(m, batch), None), run_dir=out,
               task=TASK, evaluate_fn=evaluate_fn, **fit_args)


def resume(out: Path, overrides: dict) -> dict:
    run, info = read_video_run(out)
    config = clip_kind.ClipDataConfig(**info["data"])
    training = TrainConfig.from_dict({**run["training"], **overrides})
    clips = clip_kind.load(info["path"], config, labelled=False)
    vocab = Vocab.from_dict(read_json(Path(out) / "vocab.json"))
    model = ClipCaptioner.from_config(CaptionerConfig(**{**LEGACY_DEFAULTS, **run["model"]["config"]}))
    history = _fit(model, clips, read_captions(info["path"]), vocab, read_json(Path(out) / "split.json"), config,
                   training, out, resume=True)
    return {"steps": history.steps, "stop_reason": history.stop_reason, "best_val_loss": history.best}


def load_captioner(run_dir: Path, device="cpu"):
    run, info = read_video_run(run_dir)
    if info.get("objective") != "caption":
        raise ValueError(f"{run_dir} is not a captioning run (rnnkit video train --objective caption)")
    model = ClipCaptioner.from_config(CaptionerConfig(**{**LEGACY_DEFAULTS, **run["model"]["config"]}))
    load_trained_weights(run_dir, model)
    vocab = Vocab.from_dict(read_json(Path(run_dir) / "vocab.json"))
    return model.to(device).eval(), vocab, clip_kind.ClipDataConfig(**info["data"]), read_json(Path(run_dir) / "split.json")


def caption(run_dir: Path, path: str, beam_size: int = 5, device_name: str = "auto", names: set[str] | None = None,
            batch_size: int = 32, attention_plot: Path | None = None) -> list[tuple[str, str]]:
    """(clip name, caption) for every clip at `path` (or those in `names`), by beam search; with
    `attention_plot`, the first clip's attention over its frames for every word is drawn there."""
    device = resolve_device(device_name)
    model, vocab, config, _ = load_captioner(run_dir, device)
    clips = clip_kind.load(path, config, labelled=False)
    if names is not None:
        clips = clips.subset(i for i, n in enumerate(clips.names) if n in names)
    out = []
    for start in range(0, len(clips.names), batch_size):
        padded, lengths = pad_sequences(clips.sequences[start: start + batch_size])
        hyps = beam_search(model, padded.to(device), lengths.to(device), beam_size=beam_size)
        out += [(name, vocab.decode(h.tokens)) for name, h in zip(clips.names[start: start + batch_size], hyps)]
        if start == 0 and attention_plot is not None and hyps[0].attention is not None:
            words = vocab.pieces(hyps[0].tokens) + (["<eos>"] if hyps[0].finished else [])
            frames = [f"frame {t}" for t in range(int(lengths[0]))]
            weights = hyps[0].attention[: len(words), : len(frames)].numpy()
            plot_attention(weights, frames, words, Path(attention_plot), title=clips.names[0])
    return out


def evaluate_run(run_dir: Path, path: str, *, split_name: str | None = None, beam_size: int = 5,
                 device_name: str = "auto") -> dict:
    """Corpus BLEU (sacreBLEU, lower-cased references, as trained) of beam-search captions against
    the manifest's captions, over its clips or the run's own `split_name`."""
    references = read_captions(path)
    names = None
    if split_name is not None:
        names = set(read_json(Path(run_dir) / "split.json")[split_name])
        if not names:
            raise ValueError(f"{run_dir} has no {split_name} clips")
    pairs = caption(run_dir, path, beam_size, device_name, names)
    sacrebleu = _sacrebleu()
    hypotheses = [text for _, text in pairs]
    refs = [references[name].lower() for name, _ in pairs]
    bleu = sacrebleu.corpus_bleu(hypotheses, [refs])
    exact = sum(h == r for h, r in zip(hypotheses, refs)) / max(len(refs), 1)
    return {"bleu": bleu.score, "exact_match": exact, "examples": len(pairs),
            "samples": [{"clip": n, "caption": h, "reference": r} for (n, h), r in list(zip(pairs, refs))[:5]]}
