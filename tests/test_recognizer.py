"""The CTC recognizer: output lengths equal the real shapes, padding never changes a valid frame,
frame stacking pads with zeros, SpecAugment masks only valid frames and only in training, a
streamable model run in chunks with carried state equals one pass, and a tiny model overfits a few
generated utterances to zero errors."""

import numpy as np
import pytest
import torch

from rnnkit.data.dtmf import dtmf_utterance
from rnnkit.data.features import FeatureConfig, FeatureExtractor
from rnnkit.data.parallel import PairBatches
from rnnkit.data.series import Standardizer
from rnnkit.layers import SpecAugment
from rnnkit.models.ctc import greedy_decode
from rnnkit.models.recognizer import SpeechRecognizer, SpeechRecognizerConfig, stack_frames, stacked_lengths
from rnnkit.training import TrainConfig, fit
from rnnkit.training.losses import ctc_loss


def model(**kw) -> SpeechRecognizer:
    values = dict(input_size=6, num_units=5, hidden_size=8, num_layers=2, dropout=0.0, freq_masks=0, time_masks=0)
    return SpeechRecognizer(SpeechRecognizerConfig(**{**values, **kw})).eval()


@pytest.mark.parametrize("stack", [1, 2, 3, 4])
@pytest.mark.parametrize("conv_layers", [0, 2])
def test_output_lengths_equal_the_real_shapes(stack, conv_layers):
    net = model(stack=stack, conv_layers=conv_layers)
    for steps in (1, 5, 12, 13):
        logits, _ = net(torch.randn(1, steps, 6))
        assert logits.shape[1] == int(net.output_lengths(torch.tensor([steps]))) == -(-steps // stack)


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("conv_layers", [0, 2])
def test_padding_never_changes_a_valid_output(bidirectional, conv_layers):
    net = model(stack=3, bidirectional=bidirectional, conv_layers=conv_layers)
    xs, lengths = torch.randn(3, 14, 6), torch.tensor([14, 7, 10])
    batched, _ = net(xs, lengths)
    out = net.output_lengths(lengths)
    for row in range(3):
        alone, _ = net(xs[row : row + 1, : lengths[row]])
        torch.testing.assert_close(batched[row, : out[row]], alone[0], rtol=1e-5, atol=1e-5)


def test_frame_stacking_zeroes_frames_past_the_length():
    xs = torch.arange(1, 2 * 5 * 2 + 1, dtype=torch.float32).view(2, 5, 2)
    stacked = stack_frames(xs, torch.tensor([5, 4]), 3)
    assert stacked.shape == (2, 2, 6)
    assert stacked[0, 1].tolist() == [7, 8, 9, 10, 0, 0] and stacked[1, 1].tolist() == [17, 18, 0, 0, 0, 0]
    assert stacked_lengths(torch.tensor([5, 4, 3, 1]), 3).tolist() == [2, 2, 1, 1]


def test_specaugment_masks_valid_frames_in_training_only():
    aug = SpecAugment(freq_masks=2, freq_width=3, time_masks=2, time_width=4)
    xs, lengths = torch.rand(8, 20, 10) + 1.0, torch.tensor([20, 5, 12, 20, 3, 9, 20, 1])
    assert torch.equal(aug.eval()(xs, lengths), xs)
    masked = aug.train()(xs, lengths)
    zeroed = masked == 0
    assert zeroed.any()
    assert torch.equal(masked[~zeroed], xs[~zeroed])
    padded = torch.arange(20)[None, :] >= lengths[:, None]
    time_masked = zeroed.all(dim=2)  # two frequency masks of <= 3 bins never cover all 10
    assert time_masked.any() and not (time_masked & padded).any()  # time masks stay inside each row's length
    assert float(zeroed.float().mean()) < 0.6


@pytest.mark.parametrize("cell", ["lstm", "mingru", "minlstm", "lnlstm"])
def test_a_streamable_model_in_chunks_equals_one_pass(cell):
    net = model(stack=2, bidirectional=False, cell=cell)
    xs = torch.randn(1, 23, 6)
    whole, _ = net(xs)
    parts, state = [], None
    for start in range(0, 23, 6):  # chunks of 6 frames (a multiple of the stack), the last 5
        out, state = net(xs[:, start : start + 6], state=state)
        parts.append(out)
    torch.testing.assert_close(torch.cat(parts, dim=1), whole, rtol=1e-5, atol=1e-5)


def test_carried_state_needs_a_streamable_model():
    with pytest.raises(ValueError, match="streamable"):
        model(bidirectional=True)(torch.randn(1, 6, 6), state=torch.zeros(4, 1, 8))
    assert not SpeechRecognizerConfig(input_size=4, num_units=3, bidirectional=False, conv_layers=1).streamable


def test_config_and_input_errors_name_the_problem():
    with pytest.raises(ValueError, match="num_units"):
        SpeechRecognizerConfig(input_size=4, num_units=1)
    with pytest.raises(ValueError, match=r"features must be \(batch, frames, 6\)"):
        model()(torch.randn(2, 5, 7))


def test_a_tiny_model_overfits_a_few_utterances():
    rng = np.random.default_rng(3)
    config = FeatureConfig(sample_rate=8000, n_mels=20)
    extract = FeatureExtractor(config)
    features, targets = [], []
    for _ in range(6):
        samples, words = dtmf_utterance(rng, max_keys=3)
        features.append(extract(torch.tensor(samples, dtype=torch.float32)))
        targets.append(torch.tensor([1 + "0123456789abcd".index(w["word"]) for w in words]))
    scaler = Standardizer.fit(features)
    features = [scaler(f) for f in features]
    net = SpeechRecognizer(SpeechRecognizerConfig(input_size=20, num_units=15, hidden_size=48, num_layers=1, dropout=0.0,
                                                  freq_masks=0, time_masks=0))

    def loss_fn(m, batch, state):
        logits, _ = m(batch.inputs, batch.lengths)
        return ctc_loss(logits, stacked_lengths(batch.lengths, 3), batch.targets, (batch.targets > 0).sum(1)), None

    fit(net, PairBatches(features, targets, 6), TrainConfig(epochs=250, lr=1e-2, clip_norm=5.0, progress=False), loss_fn=loss_fn)
    xs, lengths = PairBatches(features, targets, 6).collate(list(range(6))).inputs, torch.tensor([len(f) for f in features])
    logits, _ = net.eval()(xs, lengths)
    assert greedy_decode(logits, net.output_lengths(lengths)) == [t.tolist() for t in targets]
