"""Speech features from samples: log-mel filterbank energies and MFCCs through `torch.stft`, with an
HTK mel filterbank written here; one `num_frames` function for the frame count; and a streaming
extractor that gives the offline features frame for frame from chunks of samples.

Framing: the signal is reflect-padded by n_fft // 2 samples at both ends (as `torch.stft(center=True)`
does), so frame t is centred on sample t * hop and a clip of N samples gives 1 + N // hop frames.
Every frame: Hann window of `window_ms`, |FFT|^2 over n_fft (the next power of two), mel filters,
log(energy + 1e-6); MFCC adds an orthonormal DCT-II and keeps the first `n_mfcc` coefficients.

    >>> features = FeatureExtractor(FeatureConfig(sample_rate=8000, n_mels=40))
    >>> features(torch.randn(8000)).shape        # one second: 1 + 8000 // 80 frames
    torch.Size([101, 40])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

KINDS = ("logmel", "mfcc")
LOG_FLOOR = 1e-6


@dataclass(frozen=True)
class FeatureConfig:
    """Which features and how they are framed. `f_max` None means the Nyquist frequency."""

    sample_rate: int = 16000
    kind: str = "logmel"
    n_mels: int = 40
    n_mfcc: int = 13
    window_ms: float = 25.0
    hop_ms: float = 10.0
    f_min: float = 20.0
    f_max: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"features must be one of {KINDS}; got {self.kind!r}")
        if self.sample_rate <= 0 or self.n_mels < 1 or self.hop_ms <= 0 or self.window_ms < self.hop_ms:
            raise ValueError("features need a positive sample rate, n_mels >= 1 and window_ms >= hop_ms > 0; "
                             f"got {self.sample_rate} Hz, {self.n_mels} mels, window {self.window_ms} ms, hop {self.hop_ms} ms")
        if self.kind == "mfcc" and not 1 <= self.n_mfcc <= self.n_mels:
            raise ValueError(f"n_mfcc must be in 1..n_mels ({self.n_mels}); got {self.n_mfcc}")
        nyquist = self.sample_rate / 2
        if not 0 <= self.f_min < (self.f_max or nyquist) <= nyquist:
            raise ValueError(f"need 0 <= f_min < f_max <= {nyquist:g} Hz (the Nyquist frequency); got {self.f_min}, {self.f_max}")

    @property
    def hop_length(self) -> int:
        return round(self.sample_rate * self.hop_ms / 1000)

    @property
    def win_length(self) -> int:
        return round(self.sample_rate * self.window_ms / 1000)

    @property
    def n_fft(self) -> int:
        return 1 << (self.win_length - 1).bit_length()

    @property
    def size(self) -> int:
        """Features per frame."""
        return self.n_mfcc if self.kind == "mfcc" else self.n_mels

    @property
    def min_samples(self) -> int:
        """The shortest clip that can be framed (reflect padding needs more samples than it pads)."""
        return self.n_fft // 2 + 1


def num_frames(num_samples: int | Tensor, config: FeatureConfig):
    """Frames of a clip of `num_samples` samples: 1 + N // hop (ints or a tensor of them)."""
    return num_samples // config.hop_length + 1


def hz_to_mel(hz):
    """HTK mel scale: 2595 log10(1 + f / 700)."""
    return 2595.0 * torch.log10(1.0 + torch.as_tensor(hz, dtype=torch.float64) / 700.0)


def mel_to_hz(mel):
    return 700.0 * (10.0 ** (torch.as_tensor(mel, dtype=torch.float64) / 2595.0) - 1.0)


def mel_filterbank(n_freqs: int, sample_rate: int, n_mels: int, f_min: float = 0.0, f_max: float | None = None) -> Tensor:
    """(n_freqs, n_mels) triangular filters over the linear FFT-bin frequencies: filter m rises from
    centre m-1 to centre m and falls to centre m+1, with n_mels + 2 centres evenly spaced in mel
    between f_min and f_max. Peak 1 at its centre (no area normalisation). Raises ValueError when a
    filter falls between FFT bins and would be empty."""
    f_max = sample_rate / 2 if f_max is None else f_max
    freqs = torch.linspace(0, sample_rate / 2, n_freqs, dtype=torch.float64)
    centres = mel_to_hz(torch.linspace(float(hz_to_mel(f_min)), float(hz_to_mel(f_max)), n_mels + 2, dtype=torch.float64))
    lower, centre, upper = centres[:-2], centres[1:-1], centres[2:]
    rising = (freqs[:, None] - lower[None, :]) / (centre - lower)[None, :]
    falling = (upper[None, :] - freqs[:, None]) / (upper - centre)[None, :]
    filters = torch.clamp(torch.minimum(rising, falling), min=0.0)
    empty = (filters.sum(0) == 0).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f"{len(empty)} of {n_mels} mel filters cover no FFT bin ({n_freqs} bins at {sample_rate} Hz); "
                         "use fewer mels (--n-mels) or a longer window")
    return filters.float()


def dct_matrix(n_mels: int, n_mfcc: int) -> Tensor:
    """(n_mels, n_mfcc) orthonormal DCT-II: mfcc = log_mel @ D."""
    n = torch.arange(n_mels, dtype=torch.float64)
    k = torch.arange(n_mfcc, dtype=torch.float64)
    basis = torch.cos(math.pi / n_mels * (n[:, None] + 0.5) * k[None, :]) * math.sqrt(2.0 / n_mels)
    basis[:, 0] /= math.sqrt(2.0)
    return basis.float()


class FeatureExtractor:
    """(N,) samples at `config.sample_rate` -> (num_frames(N), config.size) features."""

    def __init__(self, config: FeatureConfig) -> None:
        self.config = config
        self.window = torch.hann_window(config.win_length, periodic=True)
        self.filters = mel_filterbank(config.n_fft // 2 + 1, config.sample_rate, config.n_mels, config.f_min, config.f_max)
        self.dct = dct_matrix(config.n_mels, config.n_mfcc) if config.kind == "mfcc" else None

    def __call__(self, samples: Tensor) -> Tensor:
        if samples.dim() != 1:
            raise ValueError(f"samples must be one channel, shape (N,); got {tuple(samples.shape)} (downmix first)")
        if samples.shape[0] < self.config.min_samples:
            raise ValueError(f"the clip has {samples.shape[0]} samples; features need at least {self.config.min_samples} "
                             f"({1000 * self.config.min_samples / self.config.sample_rate:.0f} ms)")
        pad = self.config.n_fft // 2
        padded = torch.nn.functional.pad(samples.float()[None, None], (pad, pad), mode="reflect")[0, 0]
        return self.frames(padded)

    def frames(self, padded: Tensor) -> Tensor:
        """Features of every full frame of already-padded samples: 1 + (len - n_fft) // hop frames."""
        c = self.config
        if padded.shape[0] < c.n_fft:
            return torch.zeros(0, c.size)
        spectrum = torch.stft(padded, c.n_fft, hop_length=c.hop_length, win_length=c.win_length, window=self.window,
                              center=False, return_complex=True)  # (n_fft // 2 + 1, frames)
        energy = spectrum.abs().square().T @ self.filters  # (frames, n_mels)
        logmel = torch.log(energy + LOG_FLOOR)
        return logmel if self.dct is None else logmel @ self.dct


def subtract_mean(features: Tensor) -> Tensor:
    """(T, F) features less their mean over the frames (cepstral mean normalisation, per utterance)."""
    return features - features.mean(0, keepdim=True)


class StreamingFeatures:
    """The offline features of a clip, from its samples pushed in chunks: `push(chunk)` returns the
    frames that chunk completes, `finish()` the rest (those that reach into the end padding).
    Concatenated they equal FeatureExtractor(config)(whole clip)."""

    def __init__(self, config: FeatureConfig) -> None:
        self.extract = FeatureExtractor(config)
        self.config = config
        self.buffer = torch.zeros(0)  # padded samples from frame `emitted` on
        self.started = False
        self.pending = torch.zeros(0)  # samples before the reflection at the start can be made

    def push(self, samples: Tensor) -> Tensor:
        pad = self.config.n_fft // 2
        samples = samples.float().flatten()
        if not self.started:
            self.pending = torch.cat([self.pending, samples])
            if self.pending.shape[0] <= pad:
                return torch.zeros(0, self.config.size)
            samples, self.started = self.pending, True
            samples = torch.cat([samples[1 : pad + 1].flip(0), samples])  # reflect padding, as offline
        self.buffer = torch.cat([self.buffer, samples])
        return self._take(final=False)

    def finish(self) -> Tensor:
        pad = self.config.n_fft // 2
        if not self.started:
            if self.pending.shape[0] == 0:
                return torch.zeros(0, self.config.size)
            return self.extract(self.pending)  # too short to have started: offline rules (and errors) apply
        self.buffer = torch.cat([self.buffer, self.buffer[-pad - 1 : -1].flip(0)])
        return self._take(final=True)

    def _take(self, final: bool) -> Tensor:
        c = self.config
        ready = self.buffer.shape[0] - (0 if final else c.n_fft // 2)  # keep room for the end padding
        count = (ready - c.n_fft) // c.hop_length + 1 if ready >= c.n_fft else 0
        if count <= 0:
            return torch.zeros(0, c.size)
        frames = self.extract.frames(self.buffer[: (count - 1) * c.hop_length + c.n_fft])
        self.buffer = self.buffer[count * c.hop_length :]
        return frames
