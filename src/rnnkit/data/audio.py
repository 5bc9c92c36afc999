"""Audio in: WAV through the standard library (8/16/24/32-bit integer PCM), NIST SPHERE with
uncompressed PCM (as AN4 ships), and through soundfile (the `audio` extra) float, extensible, FLAC
and OGG files; mono downmix and a windowed-sinc resampler in torch.

    >>> audio = Audio(torch.zeros(2, 16000), 16000, "wave")
    >>> mono = to_mono(audio.samples)               # (16000,)
    >>> resample(mono, 16000, 8000).shape
    torch.Size([8000])
"""

from __future__ import annotations

import math
import sys
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.data.pcm import pcm_to_float

SPHERE_MAGIC = b"NIST_1A"
SOUNDFILE_SUFFIXES = (".flac", ".ogg", ".oga", ".opus", ".aiff", ".aif", ".au")
INSTALL_HINT = "install the audio extra (pip install 'rnnkit[audio]', which brings soundfile)"


@dataclass(frozen=True)
class Audio:
    """samples (channels, N) float32 in [-1, 1), the file's sample rate, and which reader read it."""

    samples: Tensor
    sample_rate: int
    reader: str

    @property
    def channels(self) -> int:
        return self.samples.shape[0]

    @property
    def seconds(self) -> float:
        return self.samples.shape[1] / self.sample_rate


def read_audio(path: str | Path) -> Audio:
    """Read an audio file: WAV (integer PCM through the standard library, anything else through
    soundfile), NIST SPHERE (uncompressed PCM), or any format soundfile reads. Raises ValueError
    naming the file and what to install when it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such audio file")
    with open(path, "rb") as f:
        head = f.read(12)
    if not head:
        raise ValueError(f"{path}: the file is empty")
    if head.startswith(SPHERE_MAGIC):
        return _read_sphere(path)
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        try:
            return _read_wave(path)
        except wave.Error as err:
            return _read_soundfile(path, f"this WAV file is not integer PCM ({err}), which the standard library cannot read")
        except EOFError:
            raise ValueError(f"{path}: the WAV file is truncated (it ends inside its header)") from None
    return _read_soundfile(path, f"{path.suffix or 'this'} files are read through soundfile")


def _read_wave(path: Path) -> Audio:
    with wave.open(str(path), "rb") as w:
        channels, width, rate, frames = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
        data = w.readframes(frames)
    return Audio(_pcm_to_float(data, width, channels, "<", path), rate, "wave")


def _pcm_to_float(data: bytes, width: int, channels: int, order: str, path: Path) -> Tensor:
    """Interleaved integer PCM bytes -> (channels, N) float32 in [-1, 1)."""
    return torch.from_numpy(pcm_to_float(data, width, channels, order, path))


def _read_sphere(path: Path) -> Audio:
    """NIST SPHERE: an ASCII header ("NIST_1A", its size, then `name -type value` lines up to
    end_head) followed by samples. Only uncompressed PCM is read; shorten and mu-law are refused."""
    raw = path.read_bytes()
    lines = raw[:1024].split(b"\n")
    try:
        header_size = int(lines[1].strip())
    except (IndexError, ValueError):
        raise ValueError(f"{path}: not a readable NIST SPHERE header (no header size on its second line)") from None
    fields = {}
    for line in raw[:header_size].decode("ascii", errors="replace").split("\n")[2:]:
        parts = line.split(None, 2)
        if parts and parts[0] == "end_head":
            break
        if len(parts) == 3:
            fields[parts[0]] = parts[2].strip()
    coding = fields.get("sample_coding", "pcm")
    if coding != "pcm":
        raise ValueError(f"{path}: NIST SPHERE with sample_coding {coding!r}; rnnkit reads uncompressed PCM only. "
                         "Decompress it first (e.g. sph2pipe -f wav), or " + INSTALL_HINT)
    try:
        rate, width = int(fields["sample_rate"]), int(fields.get("sample_n_bytes", 2))
        channels = int(fields.get("channel_count", 1))
    except (KeyError, ValueError):
        raise ValueError(f"{path}: the NIST SPHERE header lacks a sample_rate, or a field is not a number") from None
    order = ">" if fields.get("sample_byte_format", "01") == "10" else "<"
    return Audio(_pcm_to_float(raw[header_size:], width, channels, order, path), rate, "sphere")


def _read_soundfile(path: Path, why: str) -> Audio:
    try:
        import soundfile
    except ImportError:
        raise ValueError(f"{path}: {why}; {INSTALL_HINT}") from None
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)  # (N, channels)
    except Exception as err:  # soundfile raises its own LibsndfileError and RuntimeError
        raise ValueError(f"{path}: not a readable audio file ({err})") from None
    return Audio(torch.from_numpy(np.ascontiguousarray(data.T)), int(rate), "soundfile")


def to_mono(samples: Tensor) -> Tensor:
    """(channels, N) -> (N,): the mean of the channels."""
    return samples.mean(dim=0) if samples.shape[0] > 1 else samples[0]


def resample(samples: Tensor, orig_rate: int, new_rate: int, lowpass_width: int = 6, rolloff: float = 0.99) -> Tensor:
    """Band-limited resampling of (..., N) samples by a Hann-windowed sinc (Smith's method): the rate
    ratio is reduced by its gcd, each of the `new` output phases gets its own kernel, and one strided
    convolution applies them. The cut-off is `rolloff` times the lower Nyquist frequency, so nothing
    above the new Nyquist folds back. Output length ceil(N * new / orig)."""
    if orig_rate <= 0 or new_rate <= 0:
        raise ValueError(f"sample rates must be positive; got {orig_rate} and {new_rate}")
    if orig_rate == new_rate:
        return samples
    g = math.gcd(orig_rate, new_rate)
    orig, new = orig_rate // g, new_rate // g
    kernels, width = _sinc_kernels(orig, new, lowpass_width, rolloff, samples.dtype)
    shape, length = samples.shape[:-1], samples.shape[-1]
    flat = F.pad(samples.reshape(-1, 1, length), (width, width + orig))
    out = F.conv1d(flat, kernels.to(samples.device), stride=orig)  # (C, new, frames)
    out = out.transpose(1, 2).reshape(flat.shape[0], -1)
    return out[:, : math.ceil(new * length / orig)].reshape(*shape, -1)


def _sinc_kernels(orig: int, new: int, lowpass_width: int, rolloff: float, dtype) -> tuple[Tensor, int]:
    """(new, 1, taps) kernels, one per output phase, and the padding they need on each side."""
    cutoff = min(orig, new) * rolloff  # in units where the input rate is `orig`
    width = math.ceil(lowpass_width * orig / cutoff)
    taps = torch.arange(-width, width + orig, dtype=torch.float64) / orig
    phases = -torch.arange(new, dtype=torch.float64)[:, None] / new
    t = ((phases + taps[None, :]) * cutoff).clamp(-lowpass_width, lowpass_width)
    window = torch.cos(t * math.pi / lowpass_width / 2) ** 2
    t = t * math.pi
    sinc = torch.where(t == 0, torch.ones_like(t), torch.sin(t) / torch.where(t == 0, torch.ones_like(t), t))
    return (sinc * window * (cutoff / orig)).to(dtype).unsqueeze(1), width


class ConversionLog:
    """Counts how many files were resampled or downmixed (and from what), so a data set reports each
    kind of conversion once: "resampled 12 files 16000 -> 8000 Hz"."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def add(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def report(self, source: str, stream=None) -> None:
        for what, count in self.counts.items():
            print(f"rnnkit: {source}: {what} ({count:,} file{'s' if count != 1 else ''})", file=stream or sys.stderr)


def load_mono(path: str | Path, sample_rate: int, log: ConversionLog | None = None) -> Tensor:
    """(N,) float32 samples of `path` at `sample_rate`: downmixed and resampled as needed, each
    conversion counted in `log` (upsampling is marked: it adds no content above the old Nyquist)."""
    audio = read_audio(path)
    samples = audio.samples
    if audio.channels > 1:
        samples = to_mono(samples).unsqueeze(0)
        if log is not None:
            log.add(f"downmixed {audio.channels} -> 1 channels")
    if audio.sample_rate != sample_rate:
        samples = resample(samples, audio.sample_rate, sample_rate)
        if log is not None:
            note = " (upsampled: nothing above the original Nyquist frequency is recovered)" if sample_rate > audio.sample_rate else ""
            log.add(f"resampled {audio.sample_rate} -> {sample_rate} Hz{note}")
    return samples[0]


def write_wav(path: str | Path, samples: Tensor | np.ndarray, sample_rate: int) -> None:
    """Write (N,) float samples in [-1, 1] as 16-bit mono PCM WAV (clipped)."""
    values = np.asarray(samples, dtype=np.float64)
    pcm = np.clip(np.round(values * 32768.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())
