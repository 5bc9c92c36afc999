"""rnnkit's RNN/LSTM/GRU against torch.nn: outputs, final states and parameter gradients, for both
kernels, 1 and 2 layers, uni- and bidirectional, with and without lengths, and weights both ways."""

import pytest
import torch

from reference import VARIANTS, leaves, make_pair, torch_reference

LENGTHS = [7, 3, 0, 7, 1]  # unsorted, with a zero and a full-length row


def _randomised_state(ours, batch):
    state = ours.init_state(batch)
    return type(state)(*(torch.randn_like(s) for s in state)) if isinstance(state, tuple) else torch.randn_like(state)


@pytest.mark.parametrize("with_state", [False, True], ids=["zero_state", "given_state"])
@pytest.mark.parametrize("with_lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("kernel", ["fused", "loop"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_matches_torch(variant, kernel, num_layers, bidirectional, with_lengths, with_state):
    ours, theirs = make_pair(variant, 4, 6, kernel=kernel, num_layers=num_layers, bidirectional=bidirectional)
    x = torch.randn(5, 7, 4)
    x_ref = x.clone().requires_grad_()
    x.requires_grad_()
    lengths = torch.tensor(LENGTHS) if with_lengths else None
    state = _randomised_state(ours, 5) if with_state else None

    ys, final = ours(x, state, lengths=lengths)
    ref_ys, ref_final = torch_reference(theirs, x_ref, state, lengths)

    assert ours.last_kernel.name == kernel
    torch.testing.assert_close(ys, ref_ys)
    for got, want in zip(leaves(final), leaves(ref_final)):
        torch.testing.assert_close(got, want)
    if with_lengths:
        mask = torch.arange(7)[None, :] >= lengths[:, None]
        assert torch.all(ys[mask] == 0), "outputs past each length must be exactly 0"

    # one loss through every output and every final state tensor
    weights = torch.randn_like(ys)
    loss = (ys * weights).sum() + sum(s.pow(2).sum() for s in leaves(final))
    ref_loss = (ref_ys * weights).sum() + sum(s.pow(2).sum() for s in leaves(ref_final))
    loss.backward()
    ref_loss.backward()
    torch.testing.assert_close(x.grad, x_ref.grad)
    ref_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        torch.testing.assert_close(p.grad, ref_params[name].grad, msg=f"gradient of {name}")


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_state_dict_keys_and_shapes_equal_torch(variant):
    ours, theirs = make_pair(variant, 3, 5, num_layers=3, bidirectional=True)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [p.shape for p in ours.state_dict().values()] == [p.shape for p in theirs.state_dict().values()]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_weights_load_from_torch(variant):
    """torch.nn -> rnnkit (make_pair goes rnnkit -> torch.nn)."""
    ours_cls, torch_cls, extra = VARIANTS[variant]
    theirs = torch_cls(3, 5, num_layers=2, batch_first=True, **extra)
    ours = ours_cls(3, 5, num_layers=2, **extra)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 4, 3)
    torch.testing.assert_close(ours(x)[0], theirs(x)[0])


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_without_bias(variant):
    ours, theirs = make_pair(variant, 3, 5, num_layers=2, bias=False)
    assert "bias_ih_l0" not in ours.state_dict()
    x = torch.randn(2, 4, 3)
    for kernel in ("fused", "loop"):
        ours.kernel = kernel
        torch.testing.assert_close(ours(x)[0], theirs(x)[0])


def test_state_from_torch_lstm_and_back():
    ours, theirs = make_pair("lstm", 3, 5, num_layers=2)
    x1, x2 = torch.randn(2, 4, 3), torch.randn(2, 6, 3)
    _, their_state = theirs(x1)
    _, our_state = ours(x1)
    torch.testing.assert_close(ours(x2, their_state)[0], theirs(x2, our_state)[0])


def test_dropout_between_layers_is_active_in_training_only():
    ours, theirs = make_pair("gru", 3, 5, num_layers=2, dropout=0.5)
    x = torch.randn(4, 6, 3)
    for kernel in ("fused", "loop"):
        ours.kernel = kernel
        ours.eval()
        theirs.eval()
        torch.testing.assert_close(ours(x)[0], theirs(x)[0])
        ours.train()
        assert not torch.allclose(ours(x)[0], theirs.eval()(x)[0])
