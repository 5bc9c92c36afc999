"""Tokenizers with a vocabulary saved as JSON: characters, words, and subword BPE (through the
`tokenizers` library, the `bpe` extra).

Every tokenizer maps text the vocabulary lacks to `<unk>` and says how often it did, never failing:

    >>> tok = CharTokenizer.fit(["hello"])
    >>> encoded = tok.encode("help!")
    >>> encoded.unknown, tok.decode(encoded.ids)
    (2, 'hel<unk><unk>')
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

UNK = "<unk>"
_WORD = re.compile(r"\w+|[^\w\s]|\n")


@dataclass(frozen=True)
class Encoded:
    ids: list[int]
    unknown: int  # how many tokens were not in the vocabulary (mapped to <unk>)


class VocabTokenizer:
    """Shared by the character and word tokenizers: a list of tokens, `<unk>` first."""

    kind = ""

    def __init__(self, tokens: list[str]) -> None:
        if not tokens or tokens[0] != UNK:
            raise ValueError(f"a vocabulary starts with {UNK!r}")
        self.tokens = tokens
        self.index = {t: i for i, t in enumerate(tokens)}

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def split(self, text: str) -> list[str]:
        raise NotImplementedError

    def join(self, tokens: list[str]) -> str:
        raise NotImplementedError

    def encode(self, text: str) -> Encoded:
        ids = [self.index.get(t, 0) for t in self.split(text)]
        return Encoded(ids, sum(1 for i in ids if i == 0))

    def decode(self, ids: Iterable[int]) -> str:
        return self.join([self.tokens[i] if 0 <= i < len(self.tokens) else UNK for i in ids])

    def to_dict(self) -> dict:
        return {"kind": self.kind, "tokens": self.tokens}


class CharTokenizer(VocabTokenizer):
    """One token per character; the vocabulary is every character seen, in sorted order."""

    kind = "char"

    @classmethod
    def fit(cls, texts: Iterable[str]) -> CharTokenizer:
        chars = set()
        for text in texts:
            chars.update(text)
        return cls([UNK, *sorted(chars)])

    def split(self, text: str) -> list[str]:
        return list(text)

    def join(self, tokens: list[str]) -> str:
        return "".join(tokens)


class WordTokenizer(VocabTokenizer):
    """Words and punctuation marks (and newlines) as tokens; words seen fewer than `min_freq` times
    become `<unk>`. Decoding joins tokens with spaces, so spacing is not restored exactly."""

    kind = "word"

    def __init__(self, tokens: list[str], lowercase: bool = False) -> None:
        super().__init__(tokens)
        self.lowercase = lowercase

    @classmethod
    def fit(cls, texts: Iterable[str], *, lowercase: bool = False, min_freq: int = 1) -> WordTokenizer:
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(_WORD.findall(text.lower() if lowercase else text))
        kept = sorted((t for t, n in counts.items() if n >= min_freq), key=lambda t: (-counts[t], t))
        return cls([UNK, *kept], lowercase=lowercase)

    def split(self, text: str) -> list[str]:
        return _WORD.findall(text.lower() if self.lowercase else text)

    def join(self, tokens: list[str]) -> str:
        return re.sub(r" ?\n ?", "\n", " ".join(tokens))

    def to_dict(self) -> dict:
        return {**super().to_dict(), "lowercase": self.lowercase}


class BPETokenizer:
    """Byte-level BPE from the `tokenizers` library (pip install 'rnnkit[bpe]'). Bytes cover all
    text, so `<unk>` only appears for ids outside the vocabulary."""

    kind = "bpe"

    def __init__(self, backend) -> None:
        self.backend = backend

    @classmethod
    def fit(cls, texts: Iterable[str], *, vocab_size: int = 2000, lowercase: bool = False) -> BPETokenizer:
        """Learn merges from `texts`; `lowercase` folds case before everything (kept when saved)."""
        tokenizers = _tokenizers()
        backend = tokenizers.Tokenizer(tokenizers.models.BPE(unk_token=UNK))
        if lowercase:
            backend.normalizer = tokenizers.normalizers.Lowercase()
        backend.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
        backend.decoder = tokenizers.decoders.ByteLevel()
        trainer = tokenizers.trainers.BpeTrainer(
            vocab_size=vocab_size, special_tokens=[UNK], initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(), show_progress=False
        )
        backend.train_from_iterator(texts, trainer)
        return cls(backend)

    @property
    def vocab_size(self) -> int:
        return self.backend.get_vocab_size()

    def encode(self, text: str) -> Encoded:
        ids = self.backend.encode(text).ids
        return Encoded(ids, sum(1 for i in ids if i == 0))

    def decode(self, ids: Iterable[int]) -> str:
        return self.backend.decode(list(ids))

    def to_dict(self) -> dict:
        return {"kind": self.kind, "tokenizer": self.backend.to_str()}


def _tokenizers():
    try:
        import tokenizers
    except ImportError as err:
        raise ValueError("the bpe tokenizer needs the tokenizers library: pip install 'rnnkit[bpe]'") from err
    return tokenizers


def detokenize(text: str) -> str:
    """Undo the word tokenizer's spaces around punctuation ("a man , in a t - shirt ." -> "a man, in a t-shirt.")."""
    text = re.sub(r" ([.,!?;:%)\]}])", r"\1", text)
    text = re.sub(r"([(\[{]) ", r"\1", text)
    return re.sub(r"(\w) ([-'’]) (\w)", r"\1\2\3", text)


def decode_incrementally(tokenizer, ids: Iterable[int]):
    """Text pieces as token ids arrive: each piece as soon as the text decodes whole (a multi-byte
    character split over BPE tokens waits for its last token)."""
    done, shown = [], ""
    for token in ids:
        done.append(token)
        text = tokenizer.decode(done)
        if text.startswith(shown) and not text.endswith("\ufffd"):
            yield text[len(shown):]
            shown = text
    text = tokenizer.decode(done)
    if text.startswith(shown) and len(text) > len(shown):
        yield text[len(shown):]


TOKENIZERS = {"char": CharTokenizer, "word": WordTokenizer, "bpe": BPETokenizer}


def tokenizer_from_dict(data: dict):
    """Rebuild a tokenizer from its to_dict() form (as saved in a run directory)."""
    kind = data.get("kind")
    if kind == "char":
        return CharTokenizer(list(data["tokens"]))
    if kind == "word":
        return WordTokenizer(list(data["tokens"]), lowercase=bool(data.get("lowercase", False)))
    if kind == "bpe":
        return BPETokenizer(_tokenizers().Tokenizer.from_str(data["tokenizer"]))
    raise ValueError(f"unknown tokenizer kind {kind!r}; expected one of {sorted(TOKENIZERS)}")
