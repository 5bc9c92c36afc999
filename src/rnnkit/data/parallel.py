"""Parallel text for translation: line-aligned source/target files (plain or .gz) or a TSV of pairs,
checked for matching line counts and empty lines; batches of (source, target) id sequences bucketed
by length; and a generated number-words corpus (German <-> English through num2words) for demos.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from rnnkit.data.batches import Batch, epoch_order, pad_sequences
from rnnkit.data.text import read_text_file


@dataclass
class Pairs:
    sources: list[str]
    targets: list[str]
    source: str  # where they came from, for messages


def read_lines(path: str | Path) -> list[str]:
    """The lines of a UTF-8 file (.gz read transparently), split on newlines only."""
    return read_text_file(Path(path)).rstrip("\n").split("\n")


def read_pairs(src: str | Path, tgt: str | Path | None = None, skip_empty: bool = False) -> Pairs:
    """Pairs from two line-aligned files, or from one TSV of `source<TAB>target` lines (tgt None)."""
    if tgt is None:
        lines = read_lines(src)
        sources, targets = [], []
        for number, line in enumerate(lines, start=1):
            if "\t" not in line:
                raise ValueError(f"{src}, line {number}: expected 'source<TAB>target'; got {line[:40]!r}")
            a, b = line.split("\t", 1)
            sources.append(a.strip())
            targets.append(b.strip())
        return _check_empty(Pairs(sources, targets, str(src)), skip_empty)
    sources, targets = read_lines(src), read_lines(tgt)
    if len(sources) != len(targets):
        shorter, longer = (src, tgt) if len(sources) < len(targets) else (tgt, src)
        raise ValueError(f"{src} has {len(sources):,} lines and {tgt} has {len(targets):,}; line-aligned files need the same "
                         f"number of lines ({shorter} ends first, after line {min(len(sources), len(targets)):,} of {longer})")
    return _check_empty(Pairs([s.strip() for s in sources], [t.strip() for t in targets], f"{src} / {tgt}"), skip_empty)


def _check_empty(pairs: Pairs, skip_empty: bool) -> Pairs:
    empty = [i for i, (a, b) in enumerate(zip(pairs.sources, pairs.targets)) if not a or not b]
    if empty and not skip_empty:
        where = ", ".join(str(i + 1) for i in empty[:5])
        raise ValueError(f"{pairs.source}: {len(empty)} empty line(s) (line {where}{' ...' if len(empty) > 5 else ''}); "
                         "every line needs a sentence on both sides, or pass --skip-empty to leave those pairs out")
    dropped = set(empty)
    keep = [i for i in range(len(pairs.sources)) if i not in dropped]
    if not keep:
        raise ValueError(f"{pairs.source} holds no sentence pairs")
    return Pairs([pairs.sources[i] for i in keep], [pairs.targets[i] for i in keep], pairs.source)


class PairBatches:
    """Batches of (source ids, target ids) pairs: inputs (B, S) padded with 0 and `lengths` (B,) of
    the sources; targets (B, T) padded with 0 (each target already holds <bos> ... <eos>).

    Each epoch shuffles (from seed and epoch alone), sorts pools of 50 batches by source length so a
    batch holds similar lengths, and shuffles the batches.
    """

    def __init__(self, sources: list[Tensor], targets: list[Tensor], batch_size: int, shuffle: bool = True, pool: int = 50) -> None:
        if not sources or len(sources) != len(targets):
            raise ValueError(f"need as many targets as sources (and at least one); got {len(sources)} and {len(targets)}")
        self.sources, self.targets = sources, targets
        self.batch_size, self.shuffle, self.pool = batch_size, shuffle, pool

    def __len__(self) -> int:
        return -(-len(self.sources) // self.batch_size)

    def order(self, epoch: int, seed: int) -> list[list[int]]:
        if not self.shuffle:
            rows = sorted(range(len(self.sources)), key=lambda i: len(self.sources[i]))
            return [rows[i : i + self.batch_size] for i in range(0, len(rows), self.batch_size)]
        rows = epoch_order(len(self.sources), epoch, seed, True).tolist()
        span = self.batch_size * self.pool
        batches = []
        for start in range(0, len(rows), span):
            pool = sorted(rows[start : start + span], key=lambda i: len(self.sources[i]))
            batches += [pool[i : i + self.batch_size] for i in range(0, len(pool), self.batch_size)]
        random.Random(seed * 100_003 + epoch).shuffle(batches)
        return batches

    def batches(self, epoch: int, seed: int, start: int = 0, rank: int = 0, world_size: int = 1) -> Iterator[Batch]:
        for rows in self.order(epoch, seed)[start:]:
            yield self.collate(rows[rank::world_size], epoch, seed)

    def pair(self, row: int, epoch: int, seed: int) -> tuple[Tensor, Tensor]:
        """(source, target) of `row` in `epoch`: as stored (subclasses may vary it by epoch)."""
        return self.sources[row], self.targets[row]

    def collate(self, rows: list[int], epoch: int = 0, seed: int = 0) -> Batch:
        pairs = [self.pair(i, epoch, seed) for i in rows]
        src, lengths = pad_sequences([source for source, _ in pairs])
        tgt, _ = pad_sequences([target for _, target in pairs])
        return Batch(src, tgt, lengths)


# -- a generated corpus ------------------------------------------------------------------------------------
def number_pairs(numbers: list[int]) -> Pairs:
    """German and English number words for `numbers` (num2words): 87 -> "siebenundachtzig" /
    "eighty-seven", whose units and tens swap places, so attention has to reorder."""
    try:
        from num2words import num2words
    except ImportError:
        raise ValueError("the number-words example needs num2words: pip install 'rnnkit[translate]'") from None
    return Pairs([num2words(n, lang="de") for n in numbers], [num2words(n, lang="en") for n in numbers], "num2words")


def write_number_corpus(directory: Path, limit: int = 10_000, seed: int = 0) -> dict[str, Path]:
    """train/val/test .de and .en files of the numbers 1..limit-1 in a seeded shuffle (80/10/10)."""
    numbers = list(range(1, limit))
    random.Random(seed).shuffle(numbers)
    cut1, cut2 = int(len(numbers) * 0.8), int(len(numbers) * 0.9)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, part in (("train", numbers[:cut1]), ("val", numbers[cut1:cut2]), ("test", numbers[cut2:])):
        pairs = number_pairs(part)
        for lang, lines in (("de", pairs.sources), ("en", pairs.targets)):
            path = directory / f"{split}.{lang}"
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            written[f"{split}.{lang}"] = path
    return written
