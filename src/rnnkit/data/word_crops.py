"""Training a speech recognizer on runs of whole words: where an utterance may be cut between
its words (from its manifest's word times and the loudness of its frames), and training batches in
which an utterance stands, now and then, for a random run of its words."""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from torch import Tensor

from rnnkit.data.parallel import PairBatches
from rnnkit.data.speech import TextNormalizer, Units, Utterance


@dataclass(frozen=True)
class WordCuts:
    """Where one utterance's features may be cut between whole words: each word's unit ids, and the
    frames where the cuts lie: 0 before the first word, the quietest frame of the gap between each
    pair of words, and the number of frames after the last word; `spans` the (first, end) frames of
    each word (empty when unknown)."""

    pieces: tuple[tuple[int, ...], ...]
    cuts: tuple[int, ...]
    spans: tuple[tuple[int, int], ...] = ()


def frame_loudness(features: Tensor, kind: str) -> Tensor:
    """A per-frame level of raw (unnormalised) features: the mean log-mel energy, or MFCC's c0, which
    is proportional to it."""
    return features[:, 0] if kind == "mfcc" else features.mean(1)


def word_cuts(loudness: Tensor, utterance: Utterance, text: str, units: Units, normalizer: TextNormalizer,
              hop_seconds: float, speed: float = 1.0) -> WordCuts | None:
    """The cuts of one utterance, from its manifest's word times (seconds in the file, so a
    segment's offset is subtracted; a copy at `speed` f has them divided by f) and the `loudness` of
    its frames; None when it has no word times, or when its words, normalised, do not spell its
    (normalised) transcript `text`."""
    words = utterance.words
    if not words:
        return None
    names = [normalizer(w.word) for w in words]
    if " ".join(names) != text or not all(names):
        return None
    pieces = tuple(tuple(units.encode(name)[0]) for name in names)
    frames = loudness.shape[0]
    at = lambda seconds: min(frames, max(0, round((seconds - utterance.offset) / speed / hop_seconds)))  # noqa: E731
    cuts = [0]
    for before, after in zip(words, words[1:]):
        lo, hi = at(before.end), at(after.start)
        if hi <= lo:  # touching or overlapping words: cut where one ends
            cuts.append(max(cuts[-1], lo))
            continue
        cuts.append(max(cuts[-1], lo + int(loudness[lo:hi].argmin())))
    cuts.append(frames)
    return WordCuts(pieces, tuple(cuts), tuple((at(w.start), at(w.end)) for w in words))


class WordCropBatches(PairBatches):
    """PairBatches of CTC training pairs where, with `probability` per utterance and epoch, an
    utterance that has word cuts stands for a random run of its whole words (uniform over the
    runs), its features cut at the pauses around them, its target those words' units (joined by
    `separator`, the space unit of character units). The crops follow seed, epoch and row alone, so
    a resumed run sees the same ones. `fits(frames, ids)` says whether CTC can align a crop; one it
    cannot is used whole.

    With `lead_fragments` q > 0, a crop that does not start at the first word starts, with
    probability q, inside the word before it instead, keeping the last 10-50% of that word's frames
    with nothing in the target for them: recordings cut off mid-word at their start (yesno's test
    file 1_1_1_1_0_1_0_0 opens with the end of a word) then do not read as a whole word.

    Learning from parts of utterances undoes positional habits: a model trained only on files that
    open with "no" learns to hear "no" at the start, whatever is said there."""

    def __init__(self, sources: list[Tensor], targets: list[Tensor], batch_size: int, cuts: list[WordCuts | None],
                 probability: float, fits, separator: int | None, lead_fragments: float = 0.0) -> None:
        super().__init__(sources, targets, batch_size)
        if len(cuts) != len(sources):
            raise ValueError(f"need word cuts (or None) for each of the {len(sources)} utterances; got {len(cuts)}")
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"the crop probability must lie in [0, 1]; got {probability}")
        if not 0.0 <= lead_fragments <= 1.0:
            raise ValueError(f"the lead-fragment probability must lie in [0, 1]; got {lead_fragments}")
        self.cuts, self.probability, self.fits, self.separator = cuts, probability, fits, separator
        self.lead_fragments = lead_fragments

    def pair(self, row: int, epoch: int, seed: int) -> tuple[Tensor, Tensor]:
        """(features, target) of training row `row` in `epoch`: the whole utterance or a run of its words."""
        cuts = self.cuts[row]
        rng = random.Random((seed * 1_000_003 + epoch) * 1_000_003 + row)
        if cuts is None or rng.random() >= self.probability:
            return super().pair(row, epoch, seed)
        count = len(cuts.pieces)
        pick, first = rng.randrange(count * (count + 1) // 2), 0  # one of the runs [first, last]
        while pick >= count - first:
            pick -= count - first
            first += 1
        last = first + pick
        ids: list[int] = []
        for piece in cuts.pieces[first : last + 1]:
            if ids and self.separator is not None:
                ids.append(self.separator)
            ids += piece
        start, stop = cuts.cuts[first], cuts.cuts[last + 1]
        # no draw without lead fragments, so runs made before them crop as they did
        if self.lead_fragments and first > 0 and cuts.spans and rng.random() < self.lead_fragments:
            begin, end = cuts.spans[first - 1]
            if end > begin:
                start = min(start, end - max(1, round(rng.uniform(0.1, 0.5) * (end - begin))))
        if not ids or not self.fits(stop - start, ids):
            return super().pair(row, epoch, seed)
        return self.sources[row][start:stop], torch.tensor(ids, dtype=torch.long)
