"""Using a trained speech recognizer: load a run directory, turn audio into normalised features,
decode (greedy, or prefix beam search with the run's n-gram model), word timestamps from a forced
alignment of the result, corpus WER/CER/SER with timestamp errors, and streaming recognition that
gives the offline greedy result token for token."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from rnnkit.data.audio import ConversionLog, load_mono
from rnnkit.data.batches import pad_sequences
from rnnkit.data.features import FeatureConfig, FeatureExtractor, StreamingFeatures, subtract_mean
from rnnkit.data.series import Standardizer
from rnnkit.data.speech import AUDIO_SUFFIXES, SpeechSet, TextNormalizer, Units, Utterance, load_speech, read_manifest
from rnnkit.models.ctc import align, beam_search, collapse, forced_align, min_frames, word_spans
from rnnkit.models.ngram import NGramModel
from rnnkit.models.recognizer import SpeechRecognizer, SpeechRecognizerConfig
from rnnkit.training.checkpoint import read_json
from rnnkit.training.distributed import resolve_device
from rnnkit.training.metrics import align_edits, error_rates
from rnnkit.training.rundir import load_trained_weights, read_run

TASK = "speech"


@torch.no_grad()
def log_probs_of(model: SpeechRecognizer, features: list[Tensor], device, batch_size: int = 32) -> list[Tensor]:
    """Per utterance, the (T', V) log-probabilities on the CPU, in input order; batches of similar
    lengths, the model in evaluation mode (restored afterwards)."""
    was_training = model.training
    model.eval()
    order = sorted(range(len(features)), key=lambda i: features[i].shape[0])
    out: list = [None] * len(features)
    try:
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            xs, lengths = pad_sequences([features[i] for i in rows])
            logits, _ = model(xs.to(device), lengths)
            log_probs = logits.float().log_softmax(-1).cpu()
            for r, i, n in zip(range(len(rows)), rows, model.output_lengths(lengths).tolist()):
                out[i] = log_probs[r, :n]
    finally:
        model.train(was_training)
    return out


@dataclass
class Transcript:
    """One decoded utterance; `words` holds {"word", "start", "end"} (seconds) when asked for."""

    audio: str
    text: str
    tokens: list[int]
    seconds: float
    words: list[dict] | None = None


@dataclass
class Decoding:
    """How to decode: beam 1 is greedy; `lm_weight` > 0 fuses the run's n-gram model."""

    beam: int = 1
    lm_weight: float = 0.0
    bonus: float = 0.0


class Recognizer:
    """A trained run, ready to transcribe: model, units, feature extractor, normaliser, statistics."""

    def __init__(self, model: SpeechRecognizer, units: Units, features: FeatureConfig, scaler: Standardizer,
                 normalizer: TextNormalizer, lm: NGramModel | None, device, utterance_norm: bool = False) -> None:
        self.model, self.units, self.features, self.scaler = model, units, features, scaler
        self.utterance_norm = utterance_norm
        self.normalizer, self.lm, self.device = normalizer, lm, device
        self.extractor = FeatureExtractor(features)
        self.frame_seconds = features.hop_ms / 1000 * model.config.stack

    @classmethod
    def load(cls, run_dir: Path, device_name: str = "auto") -> Recognizer:
        run_dir, device = Path(run_dir), resolve_device(device_name)
        run = read_run(run_dir, TASK)
        model = SpeechRecognizer.from_config(SpeechRecognizerConfig(**run["model"]["config"]))
        load_trained_weights(run_dir, model)
        saved = read_json(run_dir / "speech.json")
        features = FeatureConfig(**saved["features"])
        if features.sample_rate != model.config.sample_rate or features.size != model.config.input_size:
            raise ValueError(f"{run_dir}: speech.json's features ({features.size} at {features.sample_rate} Hz) do not match "
                             f"the model's ({model.config.input_size} at {model.config.sample_rate} Hz)")
        lm = NGramModel.from_dict(read_json(run_dir / "lm.json")) if (run_dir / "lm.json").is_file() else None
        normalizer = TextNormalizer(saved["data"]["lowercase"], saved["data"]["punctuation"])
        return cls(model.to(device).eval(), Units.from_dict(read_json(run_dir / "units.json")), features,
                   Standardizer(**read_json(run_dir / "scaler.json")), normalizer, lm, device,
                   bool(saved["data"].get("utterance_norm", False)))

    def load_audio(self, utterances: list[Utterance], source: str, skip_bad: bool = False) -> SpeechSet:
        data = load_speech(utterances, self.extractor, self.normalizer, source, skip_bad)
        data.features = [self.normalised(f) for f in data.features]
        return data

    def normalised(self, features: Tensor) -> Tensor:
        """Raw (T, F) features as the model reads them: less their mean when the run uses
        per-utterance normalisation, then the training z-scores."""
        return self.scaler(subtract_mean(features) if self.utterance_norm else features)

    def transcribe_samples(self, samples: Tensor, decoding: Decoding) -> str:
        """The transcript of (N,) samples at the run's sample rate."""
        log_probs = log_probs_of(self.model, [self.normalised(self.extractor(samples))], self.device)[0]
        return self.units.decode(self.decode(log_probs, decoding))

    def decode(self, log_probs: Tensor, decoding: Decoding) -> list[int]:
        if decoding.lm_weight and self.lm is None:
            raise ValueError("--lm-weight needs an n-gram model in the run: train with --lm-order N, or run 'rnnkit speech lm'")
        if decoding.beam == 1 and not decoding.lm_weight:
            return collapse(log_probs.argmax(-1).tolist())
        return beam_search(log_probs, max(decoding.beam, 1), self.lm, decoding.lm_weight, decoding.bonus)[0].tokens

    def words(self, log_probs: Tensor, tokens: list[int], spans: list[tuple[int, int]] | None = None) -> list[dict]:
        """Word times of decoded `tokens`: each word from its first token's first frame to its last
        token's last frame of the most likely path (forced alignment, unless `spans` are given), in
        seconds from the start of the features."""
        spans = align(log_probs, tokens) if spans is None else spans
        words = []
        for ids, start, end in word_spans(tokens, spans, self.units.separator):
            words.append({"word": self.units.decode(ids), "start": round(start * self.frame_seconds, 3),
                          "end": round(end * self.frame_seconds, 3)})
        return words

    def transcribe(self, data: SpeechSet, decoding: Decoding, timestamps: bool = False) -> tuple[list[Transcript], list[Tensor]]:
        """(transcripts, their log-probabilities) of loaded audio."""
        log_probs = log_probs_of(self.model, data.features, self.device)
        out = []
        for utt, feats, lp in zip(data.utterances, data.features, log_probs):
            tokens = self.decode(lp, decoding)
            seconds = feats.shape[0] * self.features.hop_ms / 1000
            out.append(Transcript(str(utt.audio), self.units.decode(tokens), tokens, seconds, self.words(lp, tokens) if timestamps else None))
        return out, log_probs


def evaluate_run(run_dir: Path, utterances: list[Utterance], source: str, decoding: Decoding, device_name: str = "auto",
                 skip_bad: bool = False) -> tuple[dict, list[dict]]:
    """(corpus WER/CER/SER with counts, the decoding settings and speed, and, when the manifest has
    word times, the word-start error of correctly recognised words; one record per utterance)."""
    recognizer = Recognizer.load(run_dir, device_name)
    data = recognizer.load_audio(utterances, source, skip_bad)
    start = time.perf_counter()
    timed = any(u.words for u in data.utterances)
    transcripts, _ = recognizer.transcribe(data, decoding, timestamps=timed)
    seconds = time.perf_counter() - start
    metrics = error_rates(data.texts, [t.text for t in transcripts])
    metrics.update({"beam": decoding.beam, "lm_weight": decoding.lm_weight, "bonus": decoding.bonus,
                    "audio_seconds": round(data.seconds, 3), "decode_seconds": round(seconds, 3),
                    "real_time_factor": seconds / max(data.seconds, 1e-9)})
    if timed:
        metrics.update(timestamp_errors(data, transcripts, recognizer.normalizer))
    records = [{"audio": t.audio, "reference": ref, "hypothesis": t.text, **({"words": t.words} if t.words else {})}
               for t, ref in zip(transcripts, data.texts)]
    return metrics, records


def align_run(run_dir: Path, utterances: list[Utterance], source: str, device_name: str = "auto",
              skip_bad: bool = False) -> tuple[list[dict], dict]:
    """Forced alignment of each utterance's own transcript (not a decoded one): manifest entries
    with the transcript's word times (seconds in the file, a segment's offset added) and the mean
    per-frame log-probability of the aligned path (`align_score`: near 0 where the model agrees
    with the transcript, very negative where audio and text disagree), and a summary.

    Transcripts with units the run does not know, or too long for their audio under CTC, raise
    ValueError, or with `skip_bad` are left out and counted."""
    if any(u.text is None for u in utterances):
        raise ValueError(f"{source}: every utterance needs a transcript to be aligned")
    recognizer = Recognizer.load(run_dir, device_name)
    data = recognizer.load_audio(utterances, source, skip_bad)
    log_probs = log_probs_of(recognizer.model, data.features, recognizer.device)
    entries, problems, scores = [], [], []
    for utt, text, lp in zip(data.utterances, data.texts, log_probs):
        tokens, unknown = recognizer.units.encode(text)
        if unknown or lp.shape[0] < min_frames(tokens):
            problems.append(f"{utt.where}: " + (f"the units {sorted(set(unknown))[:5]} are not the run's" if unknown else
                            f"{lp.shape[0]} output frames cannot hold {len(tokens)} units"))
            continue
        alignment = forced_align(lp, tokens)
        words = recognizer.words(lp, tokens, alignment.spans)
        for word in words:
            word["start"], word["end"] = round(word["start"] + utt.offset, 3), round(word["end"] + utt.offset, 3)
        entry = {"audio_filepath": str(utt.audio.resolve()), "text": utt.text}
        if utt.offset or utt.duration is not None:
            entry.update(offset=utt.offset, duration=utt.duration)
        scores.append(alignment.log_prob / lp.shape[0])  # lp holds at least min_frames(tokens) >= 1 frames
        entries.append({**entry, "words": words, "align_score": round(scores[-1], 4)})
    if problems and not skip_bad:
        raise ValueError(f"{len(problems)} utterance(s) of {source} cannot be aligned, e.g. " + "; ".join(problems[:3])
                         + " (--skip-bad leaves them out)")
    if not entries:
        raise ValueError(f"{source}: no utterance could be aligned")
    ordered = sorted(scores)
    summary = {"aligned": len(entries), "left_out": len(problems), "align_score_median": ordered[len(ordered) // 2],
               "align_score_min": ordered[0]}
    return entries, summary


def timestamp_errors(data: SpeechSet, transcripts: list[Transcript], normalizer: TextNormalizer) -> dict:
    """|hypothesised - true| word start over the words both sides agree on (Levenshtein matches)."""
    errors = []
    for utt, transcript in zip(data.utterances, transcripts):
        if not utt.words or not transcript.words:
            continue
        ref = [normalizer(w.word) for w in utt.words]
        hyp = [w["word"] for w in transcript.words]
        for i, j in align_edits(ref, hyp).matches:
            errors.append(abs(transcript.words[j]["start"] - (utt.words[i].start - utt.offset)))
    if not errors:
        return {"timed_words": 0}
    errors_t = torch.tensor(errors)
    return {"timed_words": len(errors), "start_error_ms_mean": float(errors_t.mean()) * 1000,
            "start_error_ms_median": float(errors_t.median()) * 1000, "start_within_50ms": float((errors_t <= 0.05).float().mean())}


class StreamingRecognizer:
    """Transcribes audio as it arrives: `push(samples)` returns the tokens the new samples complete
    (greedy), `finish()` the rest. Needs a streamable model (unidirectional, no convolution front
    end); the features, the carried RNN state and the collapsing of repeats across chunks make the
    result equal to offline greedy decoding of the whole clip."""

    def __init__(self, recognizer: Recognizer) -> None:
        if not recognizer.model.config.streamable:
            raise ValueError("streaming needs a unidirectional model without convolution blocks "
                             "(train with --no-bidirectional and --conv-layers 0)")
        if recognizer.utterance_norm:
            raise ValueError("streaming cannot use a run trained with --utterance-norm: each utterance's mean is "
                             "known only once it has ended (train without it to stream)")
        self.recognizer = recognizer
        self.features = StreamingFeatures(recognizer.features)
        self.pending = torch.zeros(0, recognizer.features.size)
        self.state, self.previous, self.tokens = None, None, []

    @torch.no_grad()
    def _run(self, frames: Tensor) -> list[int]:
        model = self.recognizer.model
        logits, self.state = model(frames.unsqueeze(0).to(self.recognizer.device), state=self.state)
        new = []
        for token in logits[0].argmax(-1).tolist():
            if token != self.previous and token != 0:
                new.append(token)
            self.previous = token
        self.tokens += new
        return new

    def push(self, samples: Tensor) -> list[int]:
        frames = self.features.push(samples)
        if frames.shape[0]:
            self.pending = torch.cat([self.pending, self.recognizer.scaler(frames)])
        stack = self.recognizer.model.config.stack
        ready = self.pending.shape[0] // stack * stack
        if ready == 0:
            return []
        frames, self.pending = self.pending[:ready], self.pending[ready:]
        return self._run(frames)

    def finish(self) -> list[int]:
        frames = self.features.finish()
        if frames.shape[0]:
            self.pending = torch.cat([self.pending, self.recognizer.scaler(frames)])
        frames, self.pending = self.pending, self.pending[:0]
        return self._run(frames) if frames.shape[0] else []

    @property
    def text(self) -> str:
        return self.recognizer.units.decode(self.tokens)


def utterances_of(inputs: list[str], pattern: str | None = None) -> list[Utterance]:
    """Unlabelled utterances from audio files, folders and manifests (transcripts, if any, kept)."""
    out = []
    for item in inputs:
        path = Path(item)
        if path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES:
            out.append(Utterance(path, None, str(path)))
        else:
            out += read_manifest(path, pattern, labelled=False)
    return out


def transcribe(run_dir: Path, inputs: list[str], decoding: Decoding, timestamps: bool = False, device_name: str = "auto",
               pattern: str | None = None, plot: Path | None = None) -> list[Transcript]:
    """Transcripts of audio files, folders or manifests; with `plot`, the first clip's features,
    words and posteriors are drawn there."""
    recognizer = Recognizer.load(run_dir, device_name)
    data = recognizer.load_audio(utterances_of(inputs, pattern), ", ".join(inputs))
    transcripts, log_probs = recognizer.transcribe(data, decoding, timestamps or plot is not None)
    if plot is not None:
        from rnnkit.training.plots import plot_transcript

        hop = recognizer.features.hop_ms / 1000
        plot_transcript(data.features[0].numpy(), log_probs[0].exp().numpy(), transcripts[0].words or [], hop,
                        recognizer.frame_seconds, plot, title=Path(transcripts[0].audio).name)
    if not timestamps:
        for t in transcripts:
            t.words = None
    return transcripts


def stream_file(run_dir: Path, path: str, chunk_ms: float = 100.0, device_name: str = "auto"):
    """Recognise an audio file as a stream of `chunk_ms` chunks: a StreamEvent after every chunk
    that adds tokens, then the final one (with the compute time the recognizer spent)."""
    recognizer = Recognizer.load(run_dir, device_name)
    stream = StreamingRecognizer(recognizer)
    rate = recognizer.features.sample_rate
    log = ConversionLog()
    samples = load_mono(path, rate, log)  # a file is resampled whole; the recognizer itself streams
    log.report(path)
    step = max(1, round(rate * chunk_ms / 1000))
    compute = 0.0
    for start in range(0, samples.shape[0], step):
        clock = time.perf_counter()
        new = stream.push(samples[start : start + step])
        compute += time.perf_counter() - clock
        if new:
            yield StreamEvent(min(start + step, samples.shape[0]) / rate, stream.text, False)
    clock = time.perf_counter()
    stream.finish()
    compute += time.perf_counter() - clock
    yield StreamEvent(samples.shape[0] / rate, stream.text, True, compute)


@dataclass
class StreamEvent:
    """What a stream knows after `seconds` of audio; the final event carries the compute time."""

    seconds: float
    text: str
    final: bool
    compute_seconds: float | None = None
