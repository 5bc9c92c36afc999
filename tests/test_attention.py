"""Attention layers: formulas against a direct computation, masks, shapes, gradcheck, errors."""

import pytest
import torch

import rnnkit

B, TQ, TK, Q, K, V = 3, 2, 5, 6, 4, 7
LENGTHS = torch.tensor([5, 2, 3])


def _layers():
    return {
        "additive": rnnkit.AdditiveAttention(Q, K, attention_size=8),
        "general": rnnkit.GeneralAttention(Q, K),
        "dot": rnnkit.DotAttention(),
    }


def _direct_scores(name, layer, q, k):
    """Scores written out one (query, key) pair at a time."""
    scores = torch.empty(q.shape[0], q.shape[1], k.shape[1], dtype=q.dtype)
    for b in range(q.shape[0]):
        for i in range(q.shape[1]):
            for j in range(k.shape[1]):
                if name == "additive":
                    hidden = torch.tanh(layer.query_proj.weight @ q[b, i] + layer.key_proj.weight @ k[b, j] + layer.key_proj.bias)
                    scores[b, i, j] = layer.v.weight[0] @ hidden
                elif name == "general":
                    scores[b, i, j] = q[b, i] @ layer.key_proj.weight @ k[b, j]
                else:
                    scores[b, i, j] = q[b, i] @ k[b, j]
    return scores


@pytest.mark.parametrize("name", ["additive", "general", "dot"])
def test_matches_direct_formula_with_mask(name):
    layer = _layers()[name].double()
    key_size = Q if name == "dot" else K
    q = torch.randn(B, TQ, Q, dtype=torch.float64)
    k = torch.randn(B, TK, key_size, dtype=torch.float64)
    v = torch.randn(B, TK, V, dtype=torch.float64)
    context, weights = layer(q, k, v, lengths=LENGTHS)
    scores = _direct_scores(name, layer, q, k)
    expected = torch.zeros_like(scores)
    for b, n in enumerate(LENGTHS.tolist()):
        expected[b, :, :n] = torch.softmax(scores[b, :, :n], dim=-1)
    torch.testing.assert_close(weights, expected)
    torch.testing.assert_close(context, expected @ v)
    for b, n in enumerate(LENGTHS.tolist()):
        assert torch.all(weights[b, :, n:] == 0), "masked positions must get exactly zero weight"


def test_single_query_step_shapes_and_values_default_to_keys():
    layer = _layers()["additive"]
    q, k = torch.randn(B, Q), torch.randn(B, TK, K)
    context, weights = layer(q, k)
    assert context.shape == (B, K) and weights.shape == (B, TK)
    torch.testing.assert_close(weights.sum(-1), torch.ones(B))
    torch.testing.assert_close(context, layer(q.unsqueeze(1), k)[0].squeeze(1))


def test_scaled_dot():
    q, k = torch.randn(B, TQ, K), torch.randn(B, TK, K)
    _, weights = rnnkit.DotAttention(scaled=True)(q, k)
    torch.testing.assert_close(weights, torch.softmax(q @ k.transpose(1, 2) / K**0.5, dim=-1))


def test_scaled_general():
    layer = rnnkit.GeneralAttention(query_size=K, key_size=3, scaled=True)
    q, k = torch.randn(B, TQ, K), torch.randn(B, TK, 3)
    _, weights = layer(q, k)
    torch.testing.assert_close(weights, torch.softmax(q @ layer.key_proj(k).transpose(1, 2) / K**0.5, dim=-1))


def test_attention_pooling_formula_and_mask():
    pool = rnnkit.AttentionPooling(K, attention_size=5).double()
    x = torch.randn(B, TK, K, dtype=torch.float64)
    pooled, weights = pool(x, lengths=LENGTHS)
    for b, n in enumerate(LENGTHS.tolist()):
        u = torch.tanh(x[b, :n] @ pool.proj.weight.T + pool.proj.bias)
        a = torch.softmax(u @ pool.context.weight[0], dim=0)
        torch.testing.assert_close(weights[b, :n], a)
        torch.testing.assert_close(pooled[b], a @ x[b, :n])
        assert torch.all(weights[b, n:] == 0)


def test_padding_values_do_not_leak():
    pool = rnnkit.AttentionPooling(K, attention_size=5)
    x = torch.randn(B, TK, K)
    noisy = x.clone()
    noisy[1, 2:] = 1e6
    torch.testing.assert_close(pool(x, lengths=LENGTHS)[0], pool(noisy, lengths=LENGTHS)[0])


@pytest.mark.parametrize("name", ["additive", "general", "dot"])
def test_gradcheck(name):
    layer = _layers()[name].double()
    key_size = Q if name == "dot" else K
    q = torch.randn(2, 2, Q, dtype=torch.float64, requires_grad=True)
    k = torch.randn(2, 4, key_size, dtype=torch.float64, requires_grad=True)
    v = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([4, 2])
    assert torch.autograd.gradcheck(lambda q, k, v: layer(q, k, v, lengths=lengths), (q, k, v))


def test_gradcheck_pooling():
    pool = rnnkit.AttentionPooling(3, attention_size=4).double()
    x = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: pool(x, lengths=torch.tensor([4, 1])), (x,))


def test_all_masked_row_is_an_error_not_nan():
    with pytest.raises(ValueError, match=r"lengths\[1\] is 0: a row with no valid positions has nothing to attend to"):
        _layers()["general"](torch.randn(B, Q), torch.randn(B, TK, K), lengths=torch.tensor([5, 0, 1]))
    with pytest.raises(ValueError, match=r"lengths\[0\] is 0"):
        rnnkit.AttentionPooling(K, 3)(torch.randn(B, TK, K), lengths=torch.tensor([0, 1, 1]))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda a: a(torch.randn(B, Q), torch.randn(B, K)), r"keys must be 3-D \(batch, time, features\); got \(3, 4\)"),
        (lambda a: a(torch.randn(B, Q), torch.randn(B, TK, K + 1)), r"keys must have 4 features.*got shape \(3, 5, 5\)"),
        (lambda a: a(torch.randn(B, Q + 1), torch.randn(B, TK, K)), r"query must have 6 features"),
        (lambda a: a(torch.randn(B + 1, Q), torch.randn(B, TK, K)), r"query, keys and values must share the batch size; got 4, 3, 3"),
        (lambda a: a(torch.randn(B, Q), torch.randn(B, TK, K), torch.randn(B, TK + 1, V)), r"values must have as many steps as keys \(5\); got 6"),
        (lambda a: a(torch.randn(B, Q), torch.randn(B, TK, K), lengths=torch.tensor([6, 1, 1])), r"lengths must lie in 0\.\.5"),
    ],
)
def test_bad_inputs(call, message):
    with pytest.raises(ValueError, match=message):
        call(_layers()["additive"])


def test_dot_needs_equal_sizes():
    with pytest.raises(ValueError, match="dot attention needs query and keys of one size; got 6 and 4"):
        rnnkit.DotAttention()(torch.randn(B, Q), torch.randn(B, TK, K))
