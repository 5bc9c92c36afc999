"""Tokenizers: round trips, saved vocabularies, unknown text mapped to <unk> and counted."""

import json

import pytest

from rnnkit.data import BPETokenizer, CharTokenizer, WordTokenizer, tokenizer_from_dict

TEXT = "The cat sat on the mat.\nThe dog, too!\n"


def test_char_round_trip_and_unknowns():
    tok = CharTokenizer.fit([TEXT])
    encoded = tok.encode(TEXT)
    assert encoded.unknown == 0 and tok.decode(encoded.ids) == TEXT
    assert tok.vocab_size == len(set(TEXT)) + 1
    other = tok.encode("Zebra!")
    assert other.unknown == 3  # Z, b, r
    assert tok.decode(other.ids) == "<unk>e<unk><unk>a!"


def test_word_tokenizer_lowercase_and_min_freq():
    tok = WordTokenizer.fit([TEXT], lowercase=True, min_freq=2)
    assert tok.tokens == ["<unk>", "the", "\n"]  # "the" 3 times, newline twice, the rest once
    encoded = tok.encode("the cat")
    assert encoded.unknown == 1 and tok.decode(encoded.ids) == "the <unk>"


def test_word_round_trip_up_to_spacing():
    tok = WordTokenizer.fit([TEXT])
    assert tok.decode(tok.encode(TEXT).ids) == "The cat sat on the mat .\nThe dog , too !\n"


def test_bpe_round_trip_is_exact_even_for_unseen_characters():
    tok = BPETokenizer.fit([TEXT * 20], vocab_size=300)
    for text in (TEXT, "naïve café ☕ — unseen"):
        encoded = tok.encode(text)
        assert encoded.unknown == 0 and tok.decode(encoded.ids) == text


@pytest.mark.parametrize("make", [
    lambda: CharTokenizer.fit([TEXT]),
    lambda: WordTokenizer.fit([TEXT], lowercase=True),
    lambda: BPETokenizer.fit([TEXT * 10], vocab_size=280),
], ids=["char", "word", "bpe"])
def test_saved_vocabulary_round_trips_through_json(make):
    tok = make()
    again = tokenizer_from_dict(json.loads(json.dumps(tok.to_dict())))
    assert again.encode(TEXT).ids == tok.encode(TEXT).ids and again.vocab_size == tok.vocab_size


def test_unknown_kind_is_an_error():
    with pytest.raises(ValueError, match="unknown tokenizer kind 'sentencepiece'"):
        tokenizer_from_dict({"kind": "sentencepiece"})


def test_bpe_can_fold_case_and_keeps_doing_so_after_saving():
    tok = BPETokenizer.fit([TEXT * 10], vocab_size=280, lowercase=True)
    again = tokenizer_from_dict(json.loads(json.dumps(tok.to_dict())))
    assert again.encode("THE CAT").ids == tok.encode("the cat").ids == again.encode("the cat").ids
