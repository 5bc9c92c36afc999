"""The convolutional front end: masked batch norm agrees with BatchNorm1d, padding never reaches a
valid step (in training or evaluation), and bad settings are errors."""

import pytest
import torch
from torch import nn

from rnnkit.layers import ConvFrontEnd, MaskedBatchNorm1d
from rnnkit.ops.lengths import length_mask


def test_masked_batch_norm_without_padding_is_batch_norm():
    torch.manual_seed(0)
    ours, reference = MaskedBatchNorm1d(4), nn.BatchNorm1d(4)
    x = torch.randn(3, 4, 6) * 2 + 1
    full = torch.ones(3, 1, 6, dtype=torch.bool)
    for _ in range(3):
        torch.testing.assert_close(ours(x, full), reference(x))
    torch.testing.assert_close(ours.running_mean, reference.running_mean)
    torch.testing.assert_close(ours.running_var, reference.running_var)
    ours.eval(), reference.eval()
    torch.testing.assert_close(ours(x, full), reference(x))


def test_masked_batch_norm_statistics_come_from_valid_steps_only():
    norm = MaskedBatchNorm1d(2, affine=False)
    x = torch.randn(2, 2, 5)
    lengths = torch.tensor([5, 2])
    mask = length_mask(lengths, 5, x.device).unsqueeze(1)
    garbage = x.masked_fill(~mask, 1e4)
    valid = torch.cat([x[0], x[1, :, :2]], dim=1)  # (C, 7): the valid steps only
    expected = (valid - valid.mean(1, keepdim=True)) / torch.sqrt(valid.var(1, unbiased=False, keepdim=True) + norm.eps)
    out = norm(garbage, mask)
    torch.testing.assert_close(torch.cat([out[0], out[1, :, :2]], dim=1), expected)


@pytest.mark.parametrize("training", [True, False])
def test_padding_never_reaches_a_valid_step(training):
    torch.manual_seed(0)
    layer = ConvFrontEnd(3, 8, num_layers=3, kernel_size=5).train(training)
    x = torch.randn(3, 9, 3)
    lengths = torch.tensor([9, 4, 6])
    mask = length_mask(lengths, 9, x.device).unsqueeze(2)
    a = layer(x.masked_fill(~mask, 0.0), lengths)
    b = layer(torch.cat([x.masked_fill(~mask, 50.0), torch.randn(3, 4, 3) * 1e3], dim=1), lengths)
    torch.testing.assert_close(a * mask, b[:, :9] * mask)
    if not training:  # batch statistics are per batch in training; in evaluation a row alone agrees
        torch.testing.assert_close(a[1:2, :4], layer(x[1:2, :4]))


def test_bad_settings_and_inputs():
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        ConvFrontEnd(3, 8, kernel_size=4)
    with pytest.raises(ValueError, match="num_layers must be at least 1"):
        ConvFrontEnd(3, 8, num_layers=0)
    with pytest.raises(ValueError, match=r"inputs must be \(batch, time, 3\)"):
        ConvFrontEnd(3, 8)(torch.randn(2, 5, 4))
    with pytest.raises(ValueError, match="at least two valid steps"):
        MaskedBatchNorm1d(2)(torch.randn(1, 2, 3), torch.tensor([[[True, False, False]]]))
