"""Speech data: NeMo JSONL, CSV/TSV and folder manifests (relative paths, file-name patterns, sidecar
transcripts), errors that name the line, transcript normalisation, units, loading with resampling,
and --skip-bad counting what it leaves out."""

import json

import numpy as np
import pytest

from rnnkit.data.audio import write_wav
from rnnkit.data.features import FeatureConfig, FeatureExtractor, num_frames
from rnnkit.data.speech import TextNormalizer, Units, load_speech, read_manifest


def tone_file(path, seconds=0.3, rate=8000):
    path.parent.mkdir(parents=True, exist_ok=True)
    write_wav(path, 0.3 * np.sin(np.arange(int(seconds * rate)) * 0.3), rate)
    return path


def test_jsonl_manifest_resolves_relative_paths_and_keeps_word_times(tmp_path):
    tone_file(tmp_path / "wav" / "a.wav")
    entries = [{"audio_filepath": "wav/a.wav", "text": "Hello", "words": [{"word": "hello", "start": 0.1, "end": 0.2}]},
               {"audio_filepath": str(tmp_path / "wav" / "a.wav"), "text": "x", "offset": 0.1, "duration": 0.1}]
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(e) for e in entries) + "\n\n")
    first, second = read_manifest(tmp_path / "m.jsonl")
    assert first.audio == tmp_path / "wav" / "a.wav" and first.words[0].start == 0.1 and first.where.endswith("line 1")
    assert (second.offset, second.duration) == (0.1, 0.1)


@pytest.mark.parametrize("suffix, sep", [(".csv", ","), (".tsv", "\t")])
def test_table_manifests(tmp_path, suffix, sep):
    tone_file(tmp_path / "a.wav")
    (tmp_path / f"m{suffix}").write_text(f"ID{sep}wav{sep}wrd\n1{sep}a.wav{sep}one two\n")
    (utt,) = read_manifest(tmp_path / f"m{suffix}")
    assert utt.audio == tmp_path / "a.wav" and utt.text == "one two" and utt.where.endswith("line 2")


def test_folder_with_a_pattern_or_sidecars(tmp_path):
    tone_file(tmp_path / "d" / "7_jackson_3.wav")
    tone_file(tmp_path / "d" / "sub" / "2_theo_0.wav")
    texts = {u.audio.name: u.text for u in read_manifest(tmp_path / "d", "{text}_{speaker}_{take}.wav")}
    assert texts == {"7_jackson_3.wav": "7", "2_theo_0.wav": "2"}
    tone_file(tmp_path / "e" / "x.wav")
    (tmp_path / "e" / "x.txt").write_text("spoken words\n")
    assert read_manifest(tmp_path / "e")[0].text == "spoken words"
    with pytest.raises(ValueError, match="no transcript"):
        read_manifest(tmp_path / "d")
    with pytest.raises(ValueError, match="needs a {text} field"):
        read_manifest(tmp_path / "d", "{speaker}.wav")


def test_manifest_errors_name_the_line(tmp_path):
    (tmp_path / "m.jsonl").write_text('{"audio_filepath": "a.wav", "text": "x"}\n{not json}\n')
    with pytest.raises(ValueError, match="m.jsonl, line 2: not a JSON object"):
        read_manifest(tmp_path / "m.jsonl")
    (tmp_path / "n.jsonl").write_text('{"audio_filepath": "a.wav"}\n')
    with pytest.raises(ValueError, match="line 1: no text"):
        read_manifest(tmp_path / "n.jsonl")
    assert read_manifest(tmp_path / "n.jsonl", labelled=False)[0].text is None
    (tmp_path / "t.csv").write_text("path,label\na.wav,x\n")
    with pytest.raises(ValueError, match="needs an audio column"):
        read_manifest(tmp_path / "t.csv")
    (tmp_path / "e.jsonl").write_text("\n")
    with pytest.raises(ValueError, match="lists no utterances"):
        read_manifest(tmp_path / "e.jsonl")


def test_normalisation():
    normalize = TextNormalizer()
    assert normalize("  Three, ONE!  don't 'quote' ") == "three one don't quote"
    assert normalize("Ｈｅｌｌｏ-world") == "hello world"  # NFKC folds full-width letters
    assert TextNormalizer(lowercase=False, punctuation=True)("Hi,  there.") == "Hi, there."


def test_units_encode_decode_and_report_unknowns():
    chars = Units.fit(["ab ba", "c"], "char")
    assert chars.symbols == [" ", "a", "b", "c"] and chars.size == 5 and chars.separator == 1
    assert chars.encode("ab d") == ([2, 3, 1], ["d"])
    assert chars.decode([2, 3, 1, 4]) == "ab c"
    words = Units.fit(["one two", "two three"], "word")
    assert words.decode(words.encode("three one")[0]) == "three one" and words.separator is None
    assert Units.from_dict(words.to_dict()).symbols == words.symbols


def test_loading_resamples_and_skips_bad_utterances_with_counts(tmp_path, capsys):
    tone_file(tmp_path / "ok16k.wav", rate=16000)
    tone_file(tmp_path / "ok.wav")
    tone_file(tmp_path / "tiny.wav", seconds=0.005)
    (tmp_path / "broken.wav").write_bytes(b"RIFF....WAVEjunk")
    lines = [("ok16k.wav", "a b"), ("ok.wav", "c"), ("tiny.wav", "d"), ("broken.wav", "e"), ("ok.wav", "!!!")]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps({"audio_filepath": a, "text": t}) + "\n" for a, t in lines))
    utterances = read_manifest(tmp_path / "m.jsonl")
    extractor = FeatureExtractor(FeatureConfig(sample_rate=8000))
    with pytest.raises(ValueError, match="line 3: .*tiny.wav has 40 samples"):
        load_speech(utterances, extractor, TextNormalizer(), "m.jsonl")
    data = load_speech(utterances, extractor, TextNormalizer(), "m.jsonl", skip_bad=True)
    assert data.texts == ["a b", "c"] and data.skipped == {"too short": 1, "unreadable": 1, "empty transcript": 1}
    assert data.features[0].shape == data.features[1].shape  # 16 kHz resampled to 8 kHz: same frames
    assert abs(data.seconds - 0.6) < 1e-3
    err = capsys.readouterr().err
    assert "resampled 16000 -> 8000 Hz (1 file)" in err and "left out 3 utterance(s)" in err


def test_nan_samples_are_refused(tmp_path):
    sf = pytest.importorskip("soundfile")
    samples = np.zeros(800, dtype=np.float32)
    samples[100] = np.nan
    sf.write(str(tmp_path / "nan.wav"), samples, 8000, subtype="FLOAT")
    (tmp_path / "m.jsonl").write_text(json.dumps({"audio_filepath": "nan.wav", "text": "x"}) + "\n")
    with pytest.raises(ValueError, match="NaN or infinite samples"):
        load_speech(read_manifest(tmp_path / "m.jsonl"), FeatureExtractor(FeatureConfig(sample_rate=8000)), TextNormalizer(), "m")


def test_speed_perturbation_adds_copies_at_each_speed(tmp_path):
    tone_file(tmp_path / "a.wav", seconds=1.0)
    (tmp_path / "m.jsonl").write_text(json.dumps({"audio_filepath": "a.wav", "text": "a"}) + "\n")
    config = FeatureConfig(sample_rate=8000)
    data = load_speech(read_manifest(tmp_path / "m.jsonl"), FeatureExtractor(config), TextNormalizer(), "m", speeds=(0.9, 1.0, 1.1))
    assert data.speeds == [0.9, 1.0, 1.1] and data.texts == ["a"] * 3
    assert [f.shape[0] for f in data.features] == [num_frames(n, config) for n in (8889, 8000, 7273)]
