"""The speech front end: the HTK mel scale, filter peaks at their mel-spaced centres, one frame equal
to numpy's rFFT through the filters, frame counts equal to num_frames, MFCC's orthonormal DCT, and
streaming features equal to the offline ones."""

import numpy as np
import pytest
import torch

from rnnkit.data.features import (
    FeatureConfig,
    FeatureExtractor,
    StreamingFeatures,
    dct_matrix,
    hz_to_mel,
    mel_filterbank,
    mel_to_hz,
    num_frames,
)


def test_htk_mel_scale():
    assert abs(float(hz_to_mel(1000.0)) - 1000.0) < 0.1
    assert float(hz_to_mel(0.0)) == 0.0
    freqs = torch.tensor([50.0, 440.0, 3999.0])
    torch.testing.assert_close(mel_to_hz(hz_to_mel(freqs)).float(), freqs)


def test_filters_peak_at_their_mel_spaced_centres():
    n_freqs, rate, n_mels = 257, 8000, 23
    filters = mel_filterbank(n_freqs, rate, n_mels, f_min=0.0)
    centres = mel_to_hz(torch.linspace(0.0, float(hz_to_mel(4000.0)), n_mels + 2))[1:-1]
    bin_hz = rate / 2 / (n_freqs - 1)
    peaks = filters.argmax(0).double() * bin_hz
    assert torch.all((peaks - centres).abs() <= bin_hz)  # the best bin of an asymmetric triangle: within one bin
    assert torch.all(filters >= 0) and torch.all(filters.max(0).values <= 1.0)


def test_an_empty_filter_is_an_error():
    with pytest.raises(ValueError, match="cover no FFT bin"):
        mel_filterbank(65, 8000, 80)


def test_one_frame_equals_numpy_rfft_through_the_filters():
    config = FeatureConfig(sample_rate=8000, n_mels=40)
    x = torch.randn(2000)
    features = FeatureExtractor(config)(x)
    pad, n_fft, win, hop = config.n_fft // 2, config.n_fft, config.win_length, config.hop_length
    padded = np.pad(x.numpy().astype(np.float64), pad, mode="reflect")
    window = np.zeros(n_fft)
    left = (n_fft - win) // 2  # torch.stft centres a shorter window inside n_fft
    window[left : left + win] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)
    filters = mel_filterbank(n_fft // 2 + 1, 8000, 40, config.f_min).double().numpy()
    for t in (0, 7, features.shape[0] - 1):
        power = np.abs(np.fft.rfft(padded[t * hop : t * hop + n_fft] * window)) ** 2
        np.testing.assert_allclose(features[t].numpy(), np.log(power @ filters + 1e-6), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("rate", [8000, 16000])
@pytest.mark.parametrize("samples", [129 * 2, 1000, 4321, 16000])
def test_frame_counts_equal_num_frames(rate, samples):
    config = FeatureConfig(sample_rate=rate)
    if samples < config.min_samples:
        with pytest.raises(ValueError, match="at least"):
            FeatureExtractor(config)(torch.randn(samples))
        return
    assert FeatureExtractor(config)(torch.randn(samples)).shape == (num_frames(samples, config), config.size)


def test_mfcc_is_an_orthonormal_dct_of_the_log_mels():
    d = dct_matrix(40, 40).double()
    torch.testing.assert_close(d.T @ d, torch.eye(40, dtype=torch.float64), atol=1e-6, rtol=0)
    x = torch.randn(3000)
    logmel = FeatureExtractor(FeatureConfig(sample_rate=8000))(x)
    mfcc = FeatureExtractor(FeatureConfig(sample_rate=8000, kind="mfcc", n_mfcc=13))(x)
    torch.testing.assert_close(mfcc, logmel @ dct_matrix(40, 13), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", ["logmel", "mfcc"])
@pytest.mark.parametrize("chunk", [1, 37, 160, 1000, 10_000])
def test_streaming_features_equal_offline(kind, chunk):
    config = FeatureConfig(sample_rate=16000, kind=kind)
    x = torch.randn(8123)
    stream = StreamingFeatures(config)
    parts = [stream.push(x[i : i + chunk]) for i in range(0, len(x), chunk)] + [stream.finish()]
    torch.testing.assert_close(torch.cat(parts), FeatureExtractor(config)(x), rtol=1e-5, atol=2e-5)


def test_feature_config_errors_name_the_setting():
    with pytest.raises(ValueError, match="features must be one of"):
        FeatureConfig(kind="spectrogram")
    with pytest.raises(ValueError, match="f_max"):
        FeatureConfig(sample_rate=8000, f_max=6000)
    with pytest.raises(ValueError, match="n_mfcc"):
        FeatureConfig(kind="mfcc", n_mels=10, n_mfcc=13)
