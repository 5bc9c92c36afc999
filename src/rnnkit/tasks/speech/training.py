"""Training a speech recognizer: manifests -> features normalised with training statistics ->
CTC targets in characters or words -> a SpeechRecognizer trained with the shared loop, validated
by greedy WER/CER each epoch; optionally an n-gram model of the training transcripts for beam search.

Utterances too short for their transcript under CTC (fewer output frames than tokens plus repeats)
are found before training and refused, or left out and counted with `skip_bad`; none is zeroed
silently inside the loss.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from rnnkit.data.audio import read_audio
from rnnkit.data.features import FeatureConfig, FeatureExtractor, subtract_mean
from rnnkit.data.parallel import PairBatches
from rnnkit.data.series import Standardizer
from rnnkit.data.speech import SpeechSet, TextNormalizer, Units, Utterance, load_speech, read_manifest
from rnnkit.data.word_crops import WordCropBatches, frame_loudness, word_cuts
from rnnkit.models.ctc import collapse, min_frames
from rnnkit.models.ngram import NGramModel
from rnnkit.models.recognizer import SpeechRecognizer, SpeechRecognizerConfig, stacked_lengths
from rnnkit.tasks.lm import Preset
from rnnkit.tasks.speech.recognize import TASK, Decoding, evaluate_run, log_probs_of
from rnnkit.training import TrainConfig, fit
from rnnkit.training.checkpoint import read_json, write_json
from rnnkit.training.distributed import resolve_device
from rnnkit.training.losses import ctc_loss
from rnnkit.training.metrics import error_rates
from rnnkit.training.rundir import read_run, write_summary
from rnnkit.training.state import seed_everything


@dataclass(frozen=True)
class SpeechDataConfig:
    """Units (char | word), transcript normalisation, features, the model's sample rate (None: the
    first training file's), batching, and what to do with bad utterances. Without a validation
    manifest, `val_fraction` of the training utterances validate (0: none, keep the last weights).
    `lm_order` > 0 estimates an n-gram model of that order from the training transcripts.
    `speeds` lists the speed factors each training utterance is used at (speed perturbation; the
    validation data is used as recorded). `crop_words` > 0 trains, with that probability per
    utterance and epoch, on a random run of an utterance's whole words, cut at the pauses its
    manifest's word times give (data.speech.WordCropBatches); `crop_fragments` of those crops start
    inside the word before, its tail unlabelled. `utterance_norm` subtracts each
    utterance's own mean of every feature before the training statistics apply (cepstral mean
    normalisation: it removes a fixed gain and a microphone's colouring; offline only, since a
    stream's mean is not known until it ends)."""

    units: str = "char"
    lowercase: bool = True
    punctuation: bool = False
    features: str = "logmel"
    n_mels: int = 40
    n_mfcc: int = 13
    window_ms: float = 25.0
    hop_ms: float = 10.0
    sample_rate: int | None = None
    batch_size: int = 16
    skip_bad: bool = False
    pattern: str | None = None
    val_fraction: float = 0.1
    lm_order: int = 0
    speeds: tuple[float, ...] = (1.0,)
    crop_words: float = 0.0
    crop_fragments: float = 0.0
    utterance_norm: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "speeds", tuple(float(f) for f in self.speeds))  # a list when read back from JSON
        if not self.speeds or not all(0.5 <= f <= 2.0 for f in self.speeds):
            raise ValueError(f"speed factors must lie in [0.5, 2]; got {list(self.speeds)}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1); got {self.val_fraction}")
        if not 0.0 <= self.crop_words <= 1.0:
            raise ValueError(f"crop_words is a probability in [0, 1]; got {self.crop_words}")
        if not 0.0 <= self.crop_fragments <= 1.0 or (self.crop_fragments and not self.crop_words):
            raise ValueError(f"crop_fragments is a probability in [0, 1] that applies to word crops (crop_words > 0); "
                             f"got {self.crop_fragments} with crop_words {self.crop_words}")
        if self.lm_order < 0:
            raise ValueError(f"lm_order must be >= 0 (0: no language model); got {self.lm_order}")

    def feature_config(self, sample_rate: int) -> FeatureConfig:
        return FeatureConfig(sample_rate=sample_rate, kind=self.features, n_mels=self.n_mels, n_mfcc=self.n_mfcc,
                             window_ms=self.window_ms, hop_ms=self.hop_ms)


PRESETS = {
    "tiny": Preset(
        "2 x BiGRU 128 over 3 stacked frames: minutes on 2 CPU cores",
        model=dict(cell="gru", hidden_size=128, num_layers=2, bidirectional=True, stack=3, dropout=0.1),
        training=dict(epochs=30, lr=2e-3, clip_norm=5.0, schedule="cosine", warmup_steps=100),
        data=dict(batch_size=16),
    ),
    "small": Preset(
        "3 x BiLSTM 256 over 3 stacked frames, SpecAugment: tens of minutes on 2 CPU cores",
        model=dict(cell="lstm", hidden_size=256, num_layers=3, bidirectional=True, stack=3, dropout=0.25),
        training=dict(epochs=40, lr=1.5e-3, clip_norm=5.0, schedule="cosine", warmup_steps=200),
        data=dict(batch_size=16),
    ),
}


def preset_configs(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of: " + ", ".join(f"{k} ({p.description})" for k, p in PRESETS.items()))
    return PRESETS[name]


# -- data -----------------------------------------------------------------------------------------------------
@dataclass
class Prepared:
    """Training batches and their transcripts, validation utterances (normalised features and
    transcripts), and what was fitted on the training data: units and feature statistics."""

    train: PairBatches | WordCropBatches
    texts: list[str]
    val: SpeechSet | None
    units: Units
    scaler: Standardizer
    features: FeatureConfig


def split_utterances(utterances: list[Utterance], fraction: float, seed: int) -> tuple[list[Utterance], list[Utterance]]:
    order = torch.randperm(len(utterances), generator=torch.Generator().manual_seed(seed)).tolist()
    cut = max(1, round(len(order) * fraction)) if fraction else 0
    return [utterances[i] for i in sorted(order[cut:])], [utterances[i] for i in sorted(order[:cut])]


def prepare(train_path: str, val_path: str | None, config: SpeechDataConfig, stack: int, seed: int,
            units: Units | None = None, scaler: Standardizer | None = None, sample_rate: int | None = None,
            progress: bool = True) -> Prepared:
    """Read, featurise and encode the training and validation utterances. A resumed run passes its
    units, statistics and sample rate, so that the data is encoded exactly as before."""
    train_utts = read_manifest(train_path, config.pattern)
    val_utts = read_manifest(val_path, config.pattern) if val_path else None
    if val_utts is None and config.val_fraction:
        train_utts, val_utts = split_utterances(train_utts, config.val_fraction, seed)
    rate = sample_rate or config.sample_rate or read_audio(train_utts[0].audio).sample_rate
    features = config.feature_config(rate)
    extractor, normalizer = FeatureExtractor(features), TextNormalizer(config.lowercase, config.punctuation)
    train_set = load_speech(train_utts, extractor, normalizer, str(train_path), config.skip_bad, progress, config.speeds)
    if config.utterance_norm:
        train_set.features = [subtract_mean(f) for f in train_set.features]
    units = units or Units.fit(train_set.texts, config.units)
    scaler = scaler or Standardizer.fit(train_set.features)
    kept, targets = encode_targets(train_set, units, stack, config.skip_bad)
    inputs = [scaler(train_set.features[i]) for i in kept]
    if config.crop_words:
        cuts = [word_cuts(frame_loudness(train_set.features[i], features.kind), train_set.utterances[i], train_set.texts[i],
                          units, normalizer, features.hop_ms / 1000, train_set.speeds[i]) for i in kept]
        batches = WordCropBatches(inputs, targets, config.batch_size, _report_cuts(cuts, str(train_path)), config.crop_words,
                                  lambda frames, ids: output_frames(frames, stack) >= min_frames(ids), units.separator,
                                  config.crop_fragments)
    else:
        batches = PairBatches(inputs, targets, config.batch_size)
    val = None
    if val_utts:
        val = load_speech(val_utts, extractor, normalizer, f"{val_path or train_path} (validation)", config.skip_bad, progress)
        val.features = [scaler(subtract_mean(f) if config.utterance_norm else f) for f in val.features]
    return Prepared(batches, train_set.texts, val, units, scaler, features)


def output_frames(frames: int, stack: int) -> int:
    """The model's output frames for `frames` input frames (what CTC aligns)."""
    return int(stacked_lengths(torch.tensor(frames), stack))


def _report_cuts(cuts: list, source: str) -> list:
    usable = sum(c is not None for c in cuts)
    if not usable:
        raise ValueError(f"{source}: --crop-words needs word times that spell the transcripts (a manifest's \"words\", "
                         "as 'rnnkit speech align' writes them); no training utterance has them")
    print(f"rnnkit: {source}: {usable} of {len(cuts)} training utterances can be cut between words"
          + (" (the others have no word times, or times whose words do not spell the transcript)" if usable < len(cuts) else ""),
          file=sys.stderr)
    return cuts


def encode_targets(data: SpeechSet, units: Units, stack: int, skip_bad: bool) -> tuple[list[int], list]:
    """(indices into `data`, target ids) of the utterances CTC can align: each needs at least
    min_frames(target) output frames. Others are refused, or left out with a count (sped-up copies
    always are: the recording itself fits)."""
    kept, targets, short, fast = [], [], [], 0
    speeds = data.speeds or [1.0] * len(data.features)
    for index, (feats, text, utt, speed) in enumerate(zip(data.features, data.texts, data.utterances, speeds)):
        ids, unknown = units.encode(text)
        if unknown:
            raise ValueError(f"{utt.where}: the units {sorted(set(unknown))[:5]} are not among the run's {units.kind} units")
        frames = output_frames(feats.shape[0], stack)
        if frames < min_frames(ids):
            if speed == 1.0:
                short.append(f"{utt.where} ({frames} output frames, {min_frames(ids)} needed)")
            else:
                fast += 1
            continue
        kept.append(index)
        targets.append(torch.tensor(ids, dtype=torch.long))
    if short and not skip_bad:
        raise ValueError(f"{len(short)} utterance(s) of {data.source} are too short for their transcript under CTC, e.g. "
                         + "; ".join(short[:3]) + ". Use a smaller --stack, word units, or --skip-bad to leave them out")
    if short:
        print(f"rnnkit: {data.source}: left out {len(short)} utterance(s) too short for their transcript (--skip-bad)", file=sys.stderr)
    if fast:
        print(f"rnnkit: {data.source}: left out {fast} sped-up cop(ies) too short for their transcript", file=sys.stderr)
    if not kept:
        raise ValueError(f"{data.source}: no utterance is long enough for its transcript")
    return kept, targets


def fit_language_model(texts: list[str], units: Units, order: int) -> NGramModel:
    """An n-gram model of `order` over the run's units, from normalised texts (units the run does
    not know are dropped from them)."""
    sentences = [units.encode(text)[0] for text in texts]
    return NGramModel.fit([s for s in sentences if s], order=order, vocab_size=units.size)


# -- train ---------------------------------------------------------------------------------------------------
def train(train_path: str, val_path: str | None, test_path: str | None, data_config: SpeechDataConfig,
          model_overrides: dict, train_overrides: dict, out: Path, preset: str = "tiny") -> dict:
    """Train a recognizer into the run directory `out`; evaluate `test_path` (greedy) at the end."""
    chosen = preset_configs(preset)
    monitor = "val_cer" if data_config.units == "char" else "val_wer"
    training = TrainConfig(**{**chosen.training, "monitor": monitor, "monitor_mode": "min", **train_overrides})
    model_values = {**chosen.model, **model_overrides}
    data = prepare(train_path, val_path, data_config, model_values["stack"], training.seed, progress=training.progress)
    config = SpeechRecognizerConfig(input_size=data.features.size, num_units=data.units.size,
                                    sample_rate=data.features.sample_rate, **model_values)
    artifacts = {"speech": {"data": asdict(data_config), "features": asdict(data.features), "preset": preset,
                            "paths": {"train": train_path, "val": val_path, "test": test_path}},
                 "units": data.units.to_dict(), "scaler": asdict(data.scaler)}
    if data_config.lm_order:  # the training transcripts only: never the held-out validation ones
        artifacts["lm"] = fit_language_model(data.texts, data.units, data_config.lm_order).to_dict()
    seed_everything(training.seed)  # the initial weights follow --seed
    return _fit(SpeechRecognizer.from_config(config), data, training, out, test_path, artifacts=artifacts)


def load_texts(path: str, config: SpeechDataConfig) -> list[str]:
    """The normalised transcripts of a manifest (no audio is read)."""
    normalizer = TextNormalizer(config.lowercase, config.punctuation)
    return [normalizer(u.text) for u in read_manifest(path, config.pattern) if u.text and normalizer(u.text)]


def resume(out: Path, overrides: dict) -> dict:
    """Continue the run in `out` on its data, encoded with its saved units and statistics."""
    run = read_run(out, TASK)
    saved = read_json(Path(out) / "speech.json")
    config, paths = SpeechDataConfig(**saved["data"]), saved["paths"]
    training = TrainConfig.from_dict({**run["training"], **overrides})
    model_config = SpeechRecognizerConfig(**run["model"]["config"])
    data = prepare(paths["train"], paths["val"], config, model_config.stack, training.seed,
                   Units.from_dict(read_json(Path(out) / "units.json")), Standardizer(**read_json(Path(out) / "scaler.json")),
                   model_config.sample_rate, progress=training.progress)
    return _fit(SpeechRecognizer.from_config(model_config), data, training, out, paths["test"], resume=True)


def _fit(model: SpeechRecognizer, data: Prepared, training: TrainConfig, out: Path, test_path, **fit_args) -> dict:
    device = resolve_device(training.device)
    stack = model.config.stack

    def loss_fn(net, batch, state):
        logits, _ = net(batch.inputs, batch.lengths)
        return ctc_loss(logits, stacked_lengths(batch.lengths, stack), batch.targets, (batch.targets > 0).sum(1)), None

    evaluate_fn = None if data.val is None else (lambda m: validation_metrics(m, data.val, data.units, device))
    history = fit(model, data.train, training, loss_fn=loss_fn, run_dir=out, task=TASK, evaluate_fn=evaluate_fn, **fit_args)
    summary = {"steps": history.steps, "stop_reason": history.stop_reason, "best": history.best, "monitor": training.monitor}
    if test_path is not None and history.stop_reason != "interrupted":
        saved = read_json(Path(out) / "speech.json")["data"]
        utterances = read_manifest(test_path, saved["pattern"])
        summary["test"], _ = evaluate_run(out, utterances, str(test_path), Decoding(), training.device, saved["skip_bad"])
    write_summary(out, summary)
    return summary


def validation_metrics(model: SpeechRecognizer, val: SpeechSet, units: Units, device) -> dict:
    """Greedy WER, CER and SER on the validation utterances, and the mean CTC loss over those whose
    transcript the units spell and CTC can align."""
    log_probs = log_probs_of(model, val.features, device)
    hypotheses = [units.decode(collapse(lp.argmax(-1).tolist())) for lp in log_probs]
    rates = error_rates(val.texts, hypotheses)
    losses = []
    for lp, text in zip(log_probs, val.texts):
        ids, unknown = units.encode(text)
        if not unknown and lp.shape[0] >= min_frames(ids):
            target = torch.tensor([ids], dtype=torch.long)
            losses.append(float(ctc_loss(lp[None], torch.tensor([lp.shape[0]]), target, torch.tensor([len(ids)]))))
    loss = sum(losses) / len(losses) if losses else float("nan")
    return {"loss": loss, "wer": rates["wer"], "cer": rates["cer"], "ser": rates["ser"]}


def write_language_model(run_dir: Path, text_paths: list[str], order: int) -> dict:
    """Estimate an n-gram model of `order` over the run's units from text files (one sentence a
    line) or manifests (their transcripts) and save it as RUN_DIR/lm.json; returns its summary."""
    run_dir = Path(run_dir)
    read_run(run_dir, TASK)
    saved = read_json(run_dir / "speech.json")["data"]
    config = SpeechDataConfig(**saved)
    units = Units.from_dict(read_json(run_dir / "units.json"))
    normalizer = TextNormalizer(config.lowercase, config.punctuation)
    texts = []
    for path in text_paths:
        if Path(path).suffix.lower() in (".jsonl", ".json", ".csv", ".tsv"):
            texts += load_texts(path, config)
        else:
            texts += [normalizer(line) for line in Path(path).read_text(encoding="utf-8").split("\n") if normalizer(line)]
    if not texts:
        raise ValueError(f"{', '.join(map(str, text_paths))} hold no text for a language model")
    lm = fit_language_model(texts, units, order)
    write_json(run_dir / "lm.json", lm.to_dict())
    sentences = [units.encode(t)[0] for t in texts]
    return {"order": order, "sentences": len(texts), "training_perplexity": lm.perplexity([s for s in sentences if s])}
