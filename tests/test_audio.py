"""Audio in: integer-PCM WAV of every width and channel count, NIST SPHERE (both byte orders, shorten
refused), clear errors for what the standard library cannot read, and the windowed-sinc resampler
(a tone keeps its frequency and level; a tone above the new Nyquist frequency is suppressed)."""

import math
import struct
import sys
import wave

import numpy as np
import pytest
import torch

from rnnkit.data.audio import ConversionLog, load_mono, read_audio, resample, write_wav


def write_pcm_wav(path, samples: np.ndarray, rate: int, width: int):
    """samples (N, C) floats in [-1, 1) written as integer PCM of `width` bytes with the stdlib."""
    scale = 1 << (8 * width - 1)
    ints = np.round(samples * scale).astype(np.int64).clip(-scale, scale - 1)
    if width == 1:
        data = (ints + 128).astype(np.uint8).tobytes()
    elif width == 3:
        data = b"".join(int(v).to_bytes(3, "little", signed=True) for v in ints.flatten())
    else:
        data = ints.astype(f"<i{width}").tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(samples.shape[1])
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(data)


@pytest.mark.parametrize("width", [1, 2, 3, 4])
@pytest.mark.parametrize("channels", [1, 2])
def test_integer_wav_of_every_width_reads_back(tmp_path, width, channels):
    rng = np.random.default_rng(width)
    samples = rng.uniform(-0.9, 0.9, size=(500, channels))
    write_pcm_wav(tmp_path / "a.wav", samples, 8000, width)
    audio = read_audio(tmp_path / "a.wav")
    assert audio.sample_rate == 8000 and audio.channels == channels and audio.reader == "wave"
    np.testing.assert_allclose(audio.samples.numpy().T, samples, atol=1.5 / (1 << (8 * width - 1)))


def test_stereo_is_downmixed_and_reported(tmp_path):
    left, right = np.full(800, 0.5), np.full(800, -0.1)
    write_pcm_wav(tmp_path / "s.wav", np.stack([left, right], axis=1), 8000, 2)
    log = ConversionLog()
    mono = load_mono(tmp_path / "s.wav", 8000, log)
    assert mono.shape == (800,) and torch.allclose(mono, torch.full((800,), 0.2), atol=1e-4)
    assert log.counts == {"downmixed 2 -> 1 channels": 1}


def sphere_bytes(samples: np.ndarray, rate: int, byte_format: str = "01", coding: str = "pcm") -> bytes:
    fields = [f"sample_rate -i {rate}", "channel_count -i 1", "sample_n_bytes -i 2", f"sample_count -i {len(samples)}",
              f"sample_byte_format -s2 {byte_format}", f"sample_coding -s{len(coding)} {coding}", "end_head"]
    header = ("NIST_1A\n   1024\n" + "\n".join(fields) + "\n").encode("ascii").ljust(1024, b" ")
    order = "<" if byte_format == "01" else ">"
    return header + np.round(samples * 32768).astype(f"{order}i2").tobytes()


@pytest.mark.parametrize("byte_format", ["01", "10"])
def test_nist_sphere_pcm_reads_in_both_byte_orders(tmp_path, byte_format):
    samples = np.sin(np.arange(1600) / 7.0) * 0.5
    (tmp_path / "a.sph").write_bytes(sphere_bytes(samples, 16000, byte_format))
    audio = read_audio(tmp_path / "a.sph")
    assert audio.sample_rate == 16000 and audio.reader == "sphere"
    np.testing.assert_allclose(audio.samples[0].numpy(), samples, atol=1 / 32768)


def test_shorten_compressed_sphere_is_refused_clearly(tmp_path):
    (tmp_path / "a.sph").write_bytes(sphere_bytes(np.zeros(100), 16000, coding="pcm,embedded-shorten-v2.00"))
    with pytest.raises(ValueError, match="shorten.*uncompressed PCM only"):
        read_audio(tmp_path / "a.sph")


def float_wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    data = samples.astype("<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)
    return b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)) + b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt \
        + b"data" + struct.pack("<I", len(data)) + data


def test_float_wav_without_soundfile_names_the_extra(tmp_path, monkeypatch):
    (tmp_path / "f.wav").write_bytes(float_wav_bytes(np.zeros(100), 8000))
    monkeypatch.setitem(sys.modules, "soundfile", None)  # import soundfile now fails
    with pytest.raises(ValueError, match=r"f\.wav.*not integer PCM.*rnnkit\[audio\]"):
        read_audio(tmp_path / "f.wav")


def test_float_wav_reads_through_soundfile(tmp_path):
    pytest.importorskip("soundfile")
    samples = np.linspace(-0.5, 0.5, 300)
    (tmp_path / "f.wav").write_bytes(float_wav_bytes(samples, 8000))
    audio = read_audio(tmp_path / "f.wav")
    assert audio.reader == "soundfile"
    np.testing.assert_allclose(audio.samples[0].numpy(), samples, atol=1e-6)


def test_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="no such audio file"):
        read_audio(tmp_path / "missing.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        read_audio(tmp_path / "empty.wav")
    (tmp_path / "short.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt ")
    with pytest.raises(ValueError, match="short.wav"):
        read_audio(tmp_path / "short.wav")


def tone(freq, rate, seconds=1.0):
    t = torch.arange(int(rate * seconds), dtype=torch.float64) / rate
    return torch.sin(2 * math.pi * freq * t).float()


def test_resampling_keeps_a_1khz_tone():
    out = resample(tone(1000, 16000), 16000, 8000)
    assert out.shape == (8000,)
    middle = out[500:7500].double()
    spectrum = torch.fft.rfft(middle * torch.hann_window(len(middle), dtype=torch.float64)).abs()
    assert abs(int(spectrum.argmax()) * 8000 / len(middle) - 1000) < 2
    assert abs(float(middle.square().mean()) - 0.5) < 0.01  # the power of a unit sine


def test_resampling_suppresses_a_tone_above_the_new_nyquist():
    out = resample(tone(6000, 16000), 16000, 8000)  # would alias to 2 kHz
    assert float(out[500:7500].square().mean()) < 1e-4


@pytest.mark.parametrize("orig, new", [(8000, 16000), (44100, 8000), (16000, 11025)])
def test_resampling_lengths_and_tone_for_other_ratios(orig, new):
    out = resample(tone(440, orig), orig, new)
    assert out.shape == (math.ceil(orig * new / orig),)
    t = torch.arange(out.shape[0], dtype=torch.float64) / new
    reference = torch.sin(2 * math.pi * 440 * t).float()
    assert float((out - reference)[200:-200].abs().max()) < 0.02


def test_write_wav_round_trips(tmp_path):
    samples = np.sin(np.arange(400) / 5.0) * 0.3
    write_wav(tmp_path / "w.wav", samples, 8000)
    np.testing.assert_allclose(read_audio(tmp_path / "w.wav").samples[0].numpy(), samples, atol=1 / 32768)
