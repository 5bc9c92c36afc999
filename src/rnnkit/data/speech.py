"""Speech data sets: manifests of (audio, transcript) pairs, transcript normalisation, output units
(characters or words, with the CTC blank at id 0), and loading audio into features.

Manifests:
- JSON lines (NeMo's format): `audio_filepath` (or `audio`), `text`, optional `offset` and
  `duration` in seconds, and rnnkit's optional `words`: [{"word", "start", "end"}] ground-truth times;
- CSV/TSV with a header: an audio column (`audio`, `wav`, `audio_filepath`, `path` or `file`) and a
  text column (`text`, `wrd`, `transcript` or `sentence`);
- a folder of audio files: each transcript from a sidecar `NAME.txt`, or from the file name through a
  pattern such as FSDD's "{text}_{speaker}_{take}.wav".
Relative paths resolve against the manifest's folder.

Normalisation (the same for training targets and for scoring): Unicode NFKC, lower case, every
character that is not a letter, digit, apostrophe or space becomes a space, apostrophes not inside a
word are dropped, and runs of spaces become one.
"""

from __future__ import annotations

import csv
import json
import math
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor
from tqdm import tqdm

from rnnkit.data.audio import ConversionLog, load_mono, resample
from rnnkit.data.features import FeatureExtractor

AUDIO_SUFFIXES = (".wav", ".sph", ".flac", ".ogg", ".oga", ".opus", ".aiff", ".aif", ".au")
AUDIO_COLUMNS = ("audio_filepath", "audio", "wav", "path", "file")
TEXT_COLUMNS = ("text", "wrd", "transcript", "sentence")
UNIT_KINDS = ("char", "word")


@dataclass(frozen=True)
class Word:
    word: str
    start: float
    end: float


@dataclass(frozen=True)
class Utterance:
    """One entry of a manifest: the audio file, its transcript (None when unlabelled), where it was
    listed (for messages), an optional segment, and optional ground-truth word times."""

    audio: Path
    text: str | None
    where: str
    offset: float = 0.0
    duration: float | None = None
    words: tuple[Word, ...] | None = None


# -- manifests ---------------------------------------------------------------------------------------------
def read_manifest(path: str | Path, pattern: str | None = None, labelled: bool = True) -> list[Utterance]:
    """Utterances of a JSONL/CSV/TSV manifest or of a folder of audio files (see the module doc).
    With `labelled`, every entry needs a transcript."""
    path = Path(path)
    if path.is_dir():
        items = _read_folder(path, pattern, labelled)
    elif not path.is_file():
        raise ValueError(f"{path}: no such manifest file or folder")
    elif path.suffix.lower() in (".jsonl", ".json"):
        items = _read_jsonl(path, labelled)
    elif path.suffix.lower() in (".csv", ".tsv"):
        items = _read_table(path, labelled)
    else:
        raise ValueError(f"{path}: a manifest is a .jsonl (NeMo), .csv or .tsv file, or a folder of audio files")
    if not items:
        raise ValueError(f"{path} lists no utterances")
    return items


def _read_jsonl(path: Path, labelled: bool) -> list[Utterance]:
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{where}: not a JSON object ({err.msg}); a manifest has one object per line") from None
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected a JSON object with audio_filepath and text")
        audio = entry.get("audio_filepath", entry.get("audio"))
        if not isinstance(audio, str) or not audio:
            raise ValueError(f"{where}: no audio_filepath")
        text = entry.get("text")
        if labelled and not isinstance(text, str):
            raise ValueError(f"{where}: no text (a transcript is needed here)")
        words = None
        if entry.get("words") is not None:
            try:
                words = tuple(Word(str(w["word"]), float(w["start"]), float(w["end"])) for w in entry["words"])
            except (KeyError, TypeError, ValueError):
                raise ValueError(f"{where}: words must be a list of {{\"word\", \"start\", \"end\"}} objects") from None
        duration = entry.get("duration")
        items.append(Utterance(_resolve(path, audio), text, where, float(entry.get("offset") or 0.0),
                               None if duration is None or "offset" not in entry else float(duration), words))
    return items


def _read_table(path: Path, labelled: bool) -> list[Utterance]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter=delimiter))
    if not rows:
        raise ValueError(f"{path} is empty")
    header = [h.strip().lower() for h in rows[0]]
    audio_col = next((header.index(c) for c in AUDIO_COLUMNS if c in header), None)
    text_col = next((header.index(c) for c in TEXT_COLUMNS if c in header), None)
    if audio_col is None or (labelled and text_col is None):
        raise ValueError(f"{path}: the header {rows[0]} needs an audio column ({', '.join(AUDIO_COLUMNS)}) "
                         f"and a text column ({', '.join(TEXT_COLUMNS)})")
    items = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        where = f"{path}, line {number}"
        if len(row) != len(header):
            raise ValueError(f"{where}: {len(row)} fields; the header has {len(header)}")
        text = row[text_col] if text_col is not None else None
        items.append(Utterance(_resolve(path, row[audio_col].strip()), text, where))
    return items


def _read_folder(folder: Path, pattern: str | None, labelled: bool) -> list[Utterance]:
    matcher = _pattern(pattern) if pattern else None
    items = []
    for audio in sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()):
        text, sidecar = None, audio.with_suffix(".txt")
        if sidecar.is_file():
            text = sidecar.read_text(encoding="utf-8").strip()
        elif matcher is not None:
            match = matcher.fullmatch(audio.name)
            if match is None:
                raise ValueError(f"{audio}: the file name does not match the pattern {pattern!r}")
            text = match.group("text")
        if labelled and text is None:
            raise ValueError(f"{audio}: no transcript: give a sidecar {sidecar.name} or a --pattern with {{text}}")
        items.append(Utterance(audio, text, str(audio)))
    return items


def _pattern(pattern: str) -> re.Pattern:
    """"{text}_{speaker}_{take}.wav" -> a regular expression with one group per field."""
    if "{text}" not in pattern:
        raise ValueError(f"the pattern {pattern!r} needs a {{text}} field (the transcript)")
    parts = re.split(r"\{(\w+)\}", pattern)
    regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts))
    return re.compile(regex)


def _resolve(manifest: Path, audio: str) -> Path:
    path = Path(audio)
    return path if path.is_absolute() else manifest.parent / path


# -- text ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TextNormalizer:
    """How transcripts are normalised, for training targets and scoring alike (module doc);
    `lowercase` False keeps case, `punctuation` True keeps punctuation."""

    lowercase: bool = True
    punctuation: bool = False

    def __call__(self, text: str) -> str:
        text = unicodedata.normalize("NFKC", text)
        if self.lowercase:
            text = text.lower()
        if not self.punctuation:
            text = "".join(c if c.isalnum() or c == "'" or c.isspace() else " " for c in text)
            text = re.sub(r"(?<!\w)'|'(?!\w)", "", text)
        return " ".join(text.split())


class Units:
    """The recognizer's output units: characters (the space among them) or words; id 0 is the
    CTC blank and unit i has id i + 1.

    >>> units = Units.fit(["ab ba"], "char")
    >>> units.encode("ab"), units.decode([2, 1, 3])
    (([2, 3], []), 'a b')
    """

    def __init__(self, kind: str, symbols: list[str]) -> None:
        if kind not in UNIT_KINDS:
            raise ValueError(f"units must be one of {UNIT_KINDS}; got {kind!r}")
        self.kind, self.symbols = kind, list(symbols)
        self.index = {s: i + 1 for i, s in enumerate(self.symbols)}

    @classmethod
    def fit(cls, texts: list[str], kind: str) -> Units:
        if kind not in UNIT_KINDS:
            raise ValueError(f"units must be one of {UNIT_KINDS}; got {kind!r}")
        symbols = sorted({s for text in texts for s in (text if kind == "char" else text.split())})
        return cls(kind, symbols)

    @property
    def size(self) -> int:
        """Outputs of the model: the units and the blank."""
        return len(self.symbols) + 1

    @property
    def separator(self) -> int | None:
        """The id of the space between words (character units), else None."""
        return self.index.get(" ") if self.kind == "char" else None

    def split(self, text: str) -> list[str]:
        return list(text) if self.kind == "char" else text.split()

    def encode(self, text: str) -> tuple[list[int], list[str]]:
        """(ids of the known units, the units not in the inventory)."""
        pieces = self.split(text)
        return [self.index[p] for p in pieces if p in self.index], [p for p in pieces if p not in self.index]

    def decode(self, ids: list[int]) -> str:
        pieces = [self.symbols[i - 1] for i in ids if 0 < i <= len(self.symbols)]
        return "".join(pieces).strip() if self.kind == "char" else " ".join(pieces)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "symbols": self.symbols}

    @classmethod
    def from_dict(cls, data: dict) -> Units:
        return cls(data["kind"], data["symbols"])


# -- audio -> features -------------------------------------------------------------------------------------
@dataclass
class SpeechSet:
    """Loaded utterances: features (T, F) each (not yet normalised), normalised transcripts (None
    when unlabelled), the utterances they came from, the speed of each copy (1.0: as recorded), and
    the audio's total length."""

    features: list[Tensor]
    texts: list[str | None]
    utterances: list[Utterance]
    seconds: float
    source: str
    skipped: dict[str, int] = field(default_factory=dict)
    speeds: list[float] = field(default_factory=list)


def load_speech(utterances: list[Utterance], extractor: FeatureExtractor, normalizer: TextNormalizer, source: str,
                skip_bad: bool = False, progress: bool = True, speeds: tuple[float, ...] = (1.0,)) -> SpeechSet:
    """Read, downmix, resample and featurise every utterance; normalise its transcript. With
    `speeds`, each utterance comes once per speed factor (speed perturbation, Ko et al. 2015: a
    factor f plays the audio f times faster, shifting pitch and formants with it).

    Unreadable audio, audio shorter than one analysis window, NaN or infinite samples and empty
    transcripts raise ValueError naming the manifest line, or with `skip_bad` are left out and
    counted (printed on stderr)."""
    rate = extractor.config.sample_rate
    log, data = ConversionLog(), SpeechSet([], [], [], 0.0, source)
    bar = tqdm(utterances, desc=f"reading {Path(source).name}", unit="file", file=sys.stderr, leave=False,
               disable=not progress or len(utterances) < 200)
    for utt in bar:
        try:
            text = None if utt.text is None else normalizer(utt.text)
            if text == "":
                raise _Bad("empty transcript", f"{utt.where}: the transcript is empty after normalisation ({utt.text!r})")
            samples = _samples(utt, rate, log)
            if samples.shape[0] < extractor.config.min_samples:
                raise _Bad("too short", f"{utt.where}: {utt.audio} has {samples.shape[0]} samples; at least "
                           f"{extractor.config.min_samples} ({1000 * extractor.config.min_samples / rate:.0f} ms) are needed")
            if not bool(torch.isfinite(samples).all()):
                raise _Bad("NaN or infinite samples", f"{utt.where}: {utt.audio} holds NaN or infinite samples")
        except (_Bad, ValueError) as err:
            kind, message = (err.kind, err.message) if isinstance(err, _Bad) else ("unreadable", f"{utt.where}: {err}")
            if not skip_bad:
                raise ValueError(f"{message} (--skip-bad leaves such utterances out)") from None
            data.skipped[kind] = data.skipped.get(kind, 0) + 1
            continue
        for speed in speeds:
            copy = samples if speed == 1.0 else resample(samples, round(rate * speed), rate)
            data.features.append(extractor(copy))
            data.texts.append(text)
            data.utterances.append(utt)
            data.speeds.append(speed)
            data.seconds += copy.shape[0] / rate
    log.report(source)
    if data.skipped:
        what = ", ".join(f"{n} {kind}" for kind, n in data.skipped.items())
        print(f"rnnkit: {source}: left out {sum(data.skipped.values())} utterance(s) (--skip-bad): {what}", file=sys.stderr)
    if not data.features:
        raise ValueError(f"{source}: no usable utterance")
    return data


class _Bad(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind, self.message = kind, message


def _samples(utt: Utterance, rate: int, log: ConversionLog) -> Tensor:
    samples = load_mono(utt.audio, rate, log)
    if utt.offset or utt.duration is not None:
        start = int(round(utt.offset * rate))
        stop = None if utt.duration is None else start + int(math.ceil(utt.duration * rate))
        samples = samples[start:stop]
    return samples

