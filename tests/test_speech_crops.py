"""Training on runs of whole words: cuts at the quietest frame between the manifest's word times,
crops that are contiguous runs of words with their own targets, the same crops for the same seed
and epoch (so resuming is exact), and utterances used whole where a crop cannot be made."""

from pathlib import Path

import pytest
import torch

from rnnkit.data.parallel import PairBatches
from rnnkit.data.speech import TextNormalizer, Units, Utterance, Word
from rnnkit.data.word_crops import WordCropBatches, WordCuts, frame_loudness, word_cuts
from rnnkit.models.ctc import min_frames

HOP = 0.01  # seconds per feature frame


def utterance(words, offset=0.0):
    return Utterance(Path("a.wav"), " ".join(w for w, _, _ in words), "test", offset,
                     None, tuple(Word(w, a, b) for w, a, b in words))


def test_cuts_fall_on_the_quietest_frame_between_words():
    loudness = torch.ones(100)
    loudness[33] = -5.0  # the pause between "yes" (ends 0.30 s) and "no" (starts 0.40 s)
    loudness[55] = -9.0  # a quiet frame inside "no" (0.40-0.70 s): not between words, never a cut
    loudness[75] = -3.0
    units = Units.fit(["yes no"], "word")
    cuts = word_cuts(loudness, utterance([("yes", 0.05, 0.30), ("no", 0.40, 0.70), ("yes", 0.80, 0.95)]), "yes no yes", units,
                     TextNormalizer(), HOP)
    assert cuts.cuts == (0, 33, 75, 100)
    assert cuts.pieces == ((units.index["yes"],), (units.index["no"],), (units.index["yes"],))


def test_times_follow_the_segment_offset_and_the_speed():
    loudness = torch.ones(80)
    loudness[[20, 40]] = -1.0
    units, words = Units.fit(["a b"], "char"), [("a", 1.1, 1.3), ("b", 1.5, 1.7)]  # the pause: 0.3-0.5 s into the segment
    recorded = word_cuts(loudness, utterance(words, offset=1.0), "a b", units, TextNormalizer(), HOP)
    assert recorded.cuts == (0, 40, 80) and recorded.pieces == ((units.index["a"],), (units.index["b"],))
    fast = word_cuts(loudness, utterance(words, offset=1.0), "a b", units, TextNormalizer(), HOP, speed=2.0)
    assert fast.cuts == (0, 20, 80)  # played twice as fast, the pause lies at frames 15-25


def test_words_that_do_not_spell_the_transcript_give_no_cuts():
    units, loudness = Units.fit(["yes no"], "word"), torch.ones(50)
    assert word_cuts(loudness, utterance([("yes", 0.0, 0.1), ("no", 0.2, 0.3)]), "no no", units, TextNormalizer(), HOP) is None
    assert word_cuts(loudness, Utterance(Path("a.wav"), "yes", "test"), "yes", units, TextNormalizer(), HOP) is None
    shouted = word_cuts(loudness, utterance([("YES!", 0.0, 0.1), ("No", 0.2, 0.3)]), "yes no", units, TextNormalizer(), HOP)
    assert shouted is not None  # the words are normalised like the transcript


def test_loudness_is_mean_log_mel_or_c0():
    features = torch.randn(5, 8)
    assert torch.equal(frame_loudness(features, "logmel"), features.mean(1))
    assert torch.equal(frame_loudness(features, "mfcc"), features[:, 0])


def crop_batches(probability, frames=40, count=6, batch_size=2):
    """`count` utterances of 4 words (ids 1-4, char-like with separator 9), 10 frames each, frame
    values equal to their index so a crop shows where it was cut."""
    sources = [torch.arange(frames, dtype=torch.float32)[:, None].repeat(1, 2) + 100 * i for i in range(count)]
    pieces = ((1,), (2,), (3,), (4,))
    full = torch.tensor([1, 9, 2, 9, 3, 9, 4])
    cuts = [WordCuts(pieces, (0, 10, 20, 30, frames)) for _ in range(count - 1)] + [None]
    return WordCropBatches(sources, [full] * count, batch_size, cuts, probability, lambda n, ids: n >= min_frames(ids), 9)


def rows_of(batch):
    return [(batch.inputs[i, : batch.lengths[i], 0] % 100, batch.targets[i][batch.targets[i] > 0]) for i in range(len(batch.lengths))]


def test_crops_are_runs_of_whole_words_with_their_targets():
    data, seen = crop_batches(1.0), set()
    for epoch in range(8):
        for batch in data.batches(epoch, seed=3):
            for frames, target in rows_of(batch):
                words = [int(t) for t in target if t != 9]
                assert words == list(range(words[0], words[-1] + 1))  # a contiguous run
                assert target.tolist() == [t for w in words for t in (9, w)][1:]  # joined by the separator
                start, stop = 10 * (words[0] - 1), 10 * words[-1]
                assert torch.equal(frames, torch.arange(start, stop, dtype=torch.float32))
                seen.add((words[0], words[-1]))
    assert len(seen) == 10  # every one of the 4 * 5 / 2 runs turns up


def test_the_same_seed_and_epoch_give_the_same_crops_and_start_resumes_midway():
    a, b = crop_batches(0.5), crop_batches(0.5)
    first = [rows_of(batch) for batch in a.batches(2, seed=1)]
    again = [rows_of(batch) for batch in b.batches(2, seed=1)]
    later = [rows_of(batch) for batch in b.batches(2, seed=1, start=1)]
    for x, y in zip(first, again):
        assert all(torch.equal(p, q) and torch.equal(s, t) for (p, s), (q, t) in zip(x, y))
    for x, y in zip(first[1:], later):
        assert all(torch.equal(p, q) and torch.equal(s, t) for (p, s), (q, t) in zip(x, y))
    other = [rows_of(batch) for batch in b.batches(3, seed=1)]
    flat = lambda batches: [s.tolist() for rows in batches for _, s in rows]  # noqa: E731
    assert flat(first) != flat(other)


def test_probability_zero_is_plain_pair_batches_and_uncut_rows_stay_whole():
    data = crop_batches(0.0)
    plain = PairBatches(data.sources, data.targets, data.batch_size)
    for x, y in zip(data.batches(1, seed=5), plain.batches(1, seed=5)):
        assert torch.equal(x.inputs, y.inputs) and torch.equal(x.targets, y.targets)
    always = crop_batches(1.0)
    for epoch in range(4):  # row 5 has no cuts
        frames, target = always.pair(5, epoch, 0)
        assert torch.equal(frames, always.sources[5]) and torch.equal(target, always.targets[5])


def test_a_crop_ctc_cannot_align_is_used_whole():
    data = crop_batches(1.0)
    data.fits = lambda frames, ids: frames >= 40  # only the whole utterance fits
    for row in range(5):
        for epoch in range(4):
            frames, target = data.pair(row, epoch, 0)
            assert frames.shape[0] == 40 and len(target) == 7


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="probability"):
        crop_batches(1.5)
    data = crop_batches(0.5)
    with pytest.raises(ValueError, match="word cuts"):
        WordCropBatches(data.sources, data.targets, 2, data.cuts[:2], 0.5, data.fits, 9)


def test_lead_fragments_start_inside_the_word_before_and_leave_it_out_of_the_target():
    sources = [torch.arange(40, dtype=torch.float32)[:, None].repeat(1, 2) for _ in range(4)]
    full = torch.tensor([1, 9, 2, 9, 3, 9, 4])
    spans = ((2, 8), (12, 18), (22, 28), (32, 38))  # words with pauses around them
    cuts = [WordCuts(((1,), (2,), (3,), (4,)), (0, 10, 20, 30, 40), spans)] * 4
    data = WordCropBatches(sources, [full] * 4, 2, cuts, 1.0, lambda n, ids: n >= min_frames(ids), 9, lead_fragments=1.0)
    seen = 0
    for epoch in range(6):
        for batch in data.batches(epoch, seed=0):
            for frames, target in rows_of(batch):
                first = int(target[0])
                if first == 1:
                    assert int(frames[0]) == 0  # nothing before the first word to keep
                    continue
                begin, end = spans[first - 2]
                kept = end - int(frames[0])
                assert 1 <= kept <= 0.5 * (end - begin) + 1 and int(frames[0]) >= begin  # the tail of the word before
                assert 9 not in target[:1].tolist() and target.tolist()[0] == first  # which the target leaves out
                seen += 1
    assert seen > 5
    plain = WordCropBatches(sources, [full] * 4, 2, cuts, 1.0, lambda n, ids: n >= min_frames(ids), 9)
    for batch in plain.batches(3, seed=0):
        for frames, target in rows_of(batch):
            assert int(frames[0]) == 10 * (int(target[0]) - 1)  # without them crops start at the cuts
