"""The graphs each task exports: thin modules around a trained model whose inputs and outputs are
plain tensors (states as one tensor per leaf), and whose recurrent layers run as an exported graph
can run them (export.masked)."""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from rnnkit.export.masked import MaskedRecurrent, whole_sequence_blocker
from rnnkit.ops.state import state_leaves


def state_names(layer: nn.Module) -> list[str]:
    """The leaf names of a recurrent layer's state: ["h", "c"] for an LSTM, ["h"] otherwise."""
    example = layer.init_state(1, device="meta")
    fields = getattr(example, "_fields", None)
    return list(fields) if fields else ["h"]


def state_shape(layer: nn.Module, leaf: str) -> list:
    """(L * D, "batch", H) of one state leaf."""
    size = layer.output_size if leaf == "h" else layer.hidden_size
    return [layer.num_layers * layer.num_directions, "batch", size]


def pack_state(leaves: tuple[Tensor, ...]):
    """State leaves as a recurrent layer takes its state: the tensor, or the tuple (h, c) an LSTM
    turns into its named state itself."""
    return leaves[0] if len(leaves) == 1 else tuple(leaves)


class LMSequence(nn.Module):
    """tokens (B, T) int64 and the state leaves -> logits (B, T, V) and the state after step T. Every
    row runs all T steps (for prompts of different lengths, use the step graph with `keep`)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: Tensor, *state: Tensor):
        logits, new = self.model(tokens, pack_state(state))
        return (logits, *state_leaves(new))


class LMStep(nn.Module):
    """token (B,) int64, keep (B,) bool and the state leaves -> logits (B, V) for the next token and
    the new state; rows where keep is False return their state unchanged (their logits are
    meaningless), so a batch of different-length prompts is read one position at a time exactly."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, token: Tensor, keep: Tensor, *state: Tensor):
        logits, new = self.model(token.unsqueeze(1), pack_state(state))
        mask = keep.view(1, -1, 1)
        kept = [torch.where(mask, n, old) for n, old in zip(state_leaves(new), state)]
        return (logits[:, 0], *kept)


class TransformerLMSequence(nn.Module):
    """tokens (B, T) int64 -> logits (B, T, V) of a transformer language model (no cache: the
    runtime re-reads its context window for every new token)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: Tensor):
        return self.model(tokens)[0]


class ClassifierSequence(nn.Module):
    """inputs (B, T) int64 ids or (B, T, F) float32 features and lengths (B,) int64 -> logits (B, C),
    the recurrent layer computed by masking (export.masked)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = with_masked(model, "rnn") if hasattr(model, "rnn") else model

    def forward(self, inputs: Tensor, lengths: Tensor):
        return self.model(inputs, lengths)


class ForecasterWindow(nn.Module):
    """windows (B, L + H, F) float32, scaled as in training with the unknown future zeroed -> the
    forecast's mean (B, H, D) on the same scale, and for probabilistic outputs its interval at `level`
    (lower, upper). L and H are the run's: the graph has a symbolic batch only."""

    def __init__(self, model: nn.Module, level: float, probabilistic: bool) -> None:
        super().__init__()
        self.model, self.level, self.probabilistic = model, level, probabilistic

    def forward(self, windows: Tensor):
        forecast = self.model.forecast(self.model(windows), self.level)
        return (forecast.mean, forecast.lower, forecast.upper) if self.probabilistic else forecast.mean


class SpeechFeatures(nn.Module):
    """frames (T, n_fft) float32 of one clip -> the recognizer's input features (T, F).

    The frames are the clip reflect-padded by n_fft // 2 samples at both ends and cut every hop
    samples (the runtime does that in numpy); the graph applies the Hann window (centred in n_fft,
    as torch.stft pads it), |rFFT|^2, the mel filters, log(energy + 1e-6), the DCT for MFCCs, the
    per-utterance mean subtraction when the run uses it, and the training z-scores: exactly
    data.features.FeatureExtractor and the Recognizer's normalisation."""

    def __init__(self, extractor, scaler, utterance_norm: bool) -> None:
        super().__init__()
        from rnnkit.data.features import LOG_FLOOR

        c = extractor.config
        window = torch.zeros(c.n_fft)
        left = (c.n_fft - c.win_length) // 2
        window[left : left + c.win_length] = extractor.window
        self.register_buffer("window", window)
        self.register_buffer("filters", extractor.filters.float())
        self.register_buffer("dct", extractor.dct.float() if extractor.dct is not None else torch.eye(c.n_mels))
        self.register_buffer("mean", torch.tensor(scaler.mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(scaler.std, dtype=torch.float32))
        self.utterance_norm, self.floor = utterance_norm, LOG_FLOOR

    def forward(self, frames: Tensor):
        energy = torch.fft.rfft(frames * self.window, dim=-1).abs().square() @ self.filters
        features = torch.log(energy + self.floor) @ self.dct
        if self.utterance_norm:
            features = features - features.mean(dim=0, keepdim=True)
        return (features - self.mean) / self.std


class SpeechSequence(nn.Module):
    """stacked (B, T', k F) float32 and lengths (B,) int64 in stacked frames -> CTC log-probabilities
    (B, T', U). The runtime stacks the normalised features itself (k frames side by side, ceil(n / k)
    per row, zeros past each row's end: models.recognizer.stack_frames); inside the graph the
    exporter's RNN decomposition loses the symbolic time axis when T' = ceil(T / k) is derived from
    it. Evaluation mode: SpecAugment and dropout are identities."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = with_masked(model, "rnn")

    def forward(self, stacked: Tensor, lengths: Tensor):
        m = self.model
        xs = m.convs(stacked, lengths) if m.convs is not None else stacked
        ys, _ = m.rnn(xs, None, lengths=lengths)
        return m.output(ys).float().log_softmax(-1)


def with_masked(model: nn.Module, attribute: str) -> nn.Module:
    """A shallow copy of `model` whose recurrent layer `attribute` runs by masking (the trained
    model keeps its own layer); refuses a layer that cannot run as a whole-sequence graph."""
    layer = getattr(model, attribute)
    blocker = whole_sequence_blocker(layer)
    if blocker:
        raise ValueError(f"this model cannot be exported: {blocker}")
    clone = copy.copy(model)
    clone._modules = dict(model._modules)
    clone._modules[attribute] = MaskedRecurrent(layer)
    return clone


class TranslateEncoder(nn.Module):
    """src (B, S) int64 and src_lengths (B,) -> the attention memory (outputs (B, S, M), keys
    (B, S, K), summary (B, M)) and the decoder's initial state leaves."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = with_masked(model, "encoder")

    def forward(self, src: Tensor, src_lengths: Tensor):
        memory, state = self.model.encode(src, src_lengths)
        return (memory.outputs, memory.keys, memory.summary, *state_leaves(state))


class TranslateDecoderStep(nn.Module):
    """The previous target token (B,), the memory, src_lengths and the state leaves -> log-
    probabilities of the next token (B, V) (<pad> and <bos> at -inf), attention weights (B, S) (zeros
    without attention) and the new state."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, token: Tensor, outputs: Tensor, keys: Tensor, summary: Tensor, src_lengths: Tensor, *state: Tensor):
        from rnnkit.models.seq2seq import Memory

        memory = Memory(outputs, keys, src_lengths, summary)
        logp, new, weights = self.model.step(token, memory, pack_state(state))
        if weights is None:
            weights = outputs.new_zeros(outputs.shape[:2])
        return (logp, weights, *state_leaves(new))
