"""Action recognition from skeleton sequences: a (bidirectional, stacked) RNN over the whole body's
joints, or the hierarchical body-part RNN of Du, Wang & Wang ("Hierarchical recurrent neural network
for skeleton based action recognition", CVPR 2015).

Inputs are (B, T, J*D): J joints of D = 3 coordinates per frame, normalised by `rnnkit.data.pose`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import torch
from torch import Tensor, nn

from rnnkit.layers import RECURRENT_LAYERS, check_regularisers, recurrent_layer
from rnnkit.layers.pose_augment import PoseAugment
from rnnkit.models.classifier import POOLINGS, SequenceClassifier, SequenceClassifierConfig
from rnnkit.ops.lengths import masked_max, masked_mean

ARCHITECTURES = ("rnn", "parts")


@dataclass(frozen=True)
class PoseModelConfig:
    """`architecture` rnn (one RNN over all joints) | parts (Du et al.'s hierarchy over `parts`, five
    joint lists: arm, arm, trunk, leg, leg). `velocity` adds each joint's displacement since the
    previous frame to its position. `distances` (whole-body RNN only) adds the distance between every
    pair of joints in each frame, J (J - 1) / 2 features that no rotation or translation of the body
    changes (with `velocity`, their changes since the previous frame too). Augmentation while
    training (`layers.PoseAugment`): `rotate_degrees` about `vertical_axis`, `scale`, `jitter`."""

    num_classes: int
    joints: int
    dims: int = 3
    architecture: str = "rnn"
    cell: str = "lstm"
    hidden_size: int = 128
    num_layers: int = 2
    bidirectional: bool = True
    pooling: str = "mean"
    dropout: float = 0.3
    parts: tuple[tuple[int, ...], ...] | None = None
    part_size: int = 32
    velocity: bool = True
    distances: bool = False
    vertical_axis: int = 1
    rotate_degrees: float = 0.0
    scale: float = 0.0
    jitter: float = 0.0

    regularisers: dict = field(default_factory=dict)  # recurrent-layer regularisers (layers.REGULARISERS)

    def __post_init__(self) -> None:
        check_regularisers(self.regularisers)
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}; got {self.architecture!r}")
        if self.cell not in RECURRENT_LAYERS:
            raise ValueError(f"cell must be one of {sorted(RECURRENT_LAYERS)}; got {self.cell!r}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}; got {self.pooling!r}")
        if self.num_classes < 2 or self.joints < 1 or self.dims < 1:
            raise ValueError(f"num_classes must be >= 2 and joints, dims positive; got {self.num_classes}, "
                             f"{self.joints}, {self.dims}")
        if (self.rotate_degrees or self.scale or self.jitter) and self.dims != 3:
            raise ValueError(f"rotation, scale and jitter augmentation need 3-D joints; the data has dims={self.dims}")
        if self.parts is not None:
            object.__setattr__(self, "parts", tuple(tuple(int(j) for j in part) for part in self.parts))
        if self.architecture == "parts":
            if self.parts is None or len(self.parts) != 5:
                raise ValueError("architecture 'parts' needs parts: five joint lists (arm, arm, trunk, leg, leg)")
            bad = [j for part in self.parts for j in part if not 0 <= j < self.joints]
            if bad or any(not part for part in self.parts):
                raise ValueError(f"every part needs joints in 0..{self.joints - 1}; got {self.parts}")
            if self.distances:
                raise ValueError("distances feed the whole-body RNN (architecture 'rnn'); the body-part RNN reads joints per part")
            if self.pooling not in ("mean", "max"):
                raise ValueError(f"architecture 'parts' pools with mean or max; got pooling={self.pooling!r}")

    @property
    def frame_features(self) -> int:
        """Features per joint after the velocity, if any, is added."""
        return self.dims * (2 if self.velocity else 1)

    @property
    def input_size(self) -> int:
        """Features per frame: every joint's, then the pairwise distances (and their changes), if any."""
        pairs = self.joints * (self.joints - 1) // 2 if self.distances else 0
        return self.joints * self.frame_features + pairs * (2 if self.velocity else 1)


def pose_features(config: PoseModelConfig, augment: PoseAugment, x: Tensor) -> Tensor:
    """(B, T, J*D) -> augmented (B, T, J, F), positions then velocities per joint."""
    x = augment(x).unflatten(2, (config.joints, config.dims))
    return torch.cat([x, _velocity(x)], dim=3) if config.velocity else x


def _velocity(x: Tensor) -> Tensor:
    """Change since the previous frame along dim 1 (zero at the first frame)."""
    return torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]], dim=1)


def joint_distances(joints: Tensor) -> Tensor:
    """(B, T, J, D) positions -> (B, T, J (J - 1) / 2) distances between every pair of joints i < j."""
    i, j = torch.triu_indices(joints.shape[2], joints.shape[2], offset=1, device=joints.device)
    return (joints[:, :, i] - joints[:, :, j]).norm(dim=-1)


def _augment(config: PoseModelConfig) -> PoseAugment:
    return PoseAugment(config.joints, config.vertical_axis, config.rotate_degrees, config.scale, config.jitter)


class PoseRNN(nn.Module):
    """`logits = model(x (B, T, J*D), lengths)`: every frame's joints (and velocities) through a
    linear layer, a stacked (bidirectional) RNN, pooled over the valid frames, then class scores
    (a `SequenceClassifier` on the joint features).

    >>> model = PoseRNN(PoseModelConfig(num_classes=4, joints=20, hidden_size=16))
    >>> model(torch.randn(2, 30, 60), torch.tensor([30, 12])).shape
    torch.Size([2, 4])
    """

    def __init__(self, config: PoseModelConfig) -> None:
        super().__init__()
        self.config = config
        self.augment = _augment(config)
        self.classifier = SequenceClassifier(SequenceClassifierConfig(
            num_classes=config.num_classes, input_size=config.input_size,
            embedding_size=config.hidden_size, cell=config.cell, hidden_size=config.hidden_size,
            num_layers=config.num_layers, bidirectional=config.bidirectional, pooling=config.pooling,
            dropout=config.dropout, regularisers=config.regularisers))

    @classmethod
    def from_config(cls, config: PoseModelConfig) -> PoseRNN:
        return cls(config)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        per_joint = pose_features(self.config, self.augment, x)
        features = per_joint.flatten(2)
        if self.config.distances:
            distances = joint_distances(per_joint[..., : self.config.dims])
            features = torch.cat([features, distances] + ([_velocity(distances)] if self.config.velocity else []), dim=2)
        return self.classifier(features, lengths)


class BodyPartRNN(nn.Module):
    """Du, Wang & Wang (2015)'s hierarchy: five body parts (arm, arm, trunk, leg, leg) each through its
    own bidirectional RNN; each limb fused with the trunk (4 RNNs); the arms-with-trunk fused into the
    upper body and the legs-with-trunk into the lower (2 RNNs); both fused into the whole body (1 RNN
    of `hidden_size`); its outputs pooled over the valid frames into class scores. Fusion is
    concatenation of the outputs below. Widths: `part_size` for the first two levels, 2 * part_size
    for the third. The paper uses tanh RNNs below an LSTM on top; here `cell` is used throughout.

    >>> parts = ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9))
    >>> model = BodyPartRNN(PoseModelConfig(num_classes=3, joints=10, architecture="parts", parts=parts))
    >>> model(torch.randn(2, 7, 30), torch.tensor([7, 4])).shape
    torch.Size([2, 3])
    """

    FUSIONS = (((0, 2), (1, 2), (3, 2), (4, 2)), ((0, 1), (2, 3)), ((0, 1),))

    def __init__(self, config: PoseModelConfig) -> None:
        super().__init__()
        self.config = config
        self.augment = _augment(config)
        layer = partial(recurrent_layer, config.cell, regularisers=config.regularisers)
        directions = 2 if config.bidirectional else 1
        size = config.part_size

        def rnns(inputs: list[int], hidden: int) -> nn.ModuleList:
            return nn.ModuleList(layer(i, hidden, bidirectional=config.bidirectional) for i in inputs)

        self.levels = nn.ModuleList([rnns([len(p) * config.frame_features for p in config.parts], size)])
        widths = [size * directions] * 5
        for fusion, hidden in zip(self.FUSIONS, (size, 2 * size, config.hidden_size)):
            self.levels.append(rnns([sum(widths[i] for i in group) for group in fusion], hidden))
            widths = [hidden * directions] * len(fusion)
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(widths[0], config.num_classes)
        self.register_buffer("part_index", torch.tensor([j for p in config.parts for j in p]), persistent=False)

    @classmethod
    def from_config(cls, config: PoseModelConfig) -> BodyPartRNN:
        return cls(config)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        features = pose_features(self.config, self.augment, x)  # (B, T, J, F)
        sizes = [len(p) for p in self.config.parts]
        streams = [part.flatten(2) for part in features[:, :, self.part_index].split(sizes, dim=2)]
        streams = [self.dropout(rnn(s, lengths=lengths)[0]) for rnn, s in zip(self.levels[0], streams)]
        for fusion, rnns in zip(self.FUSIONS, self.levels[1:]):
            streams = [rnn(torch.cat([streams[i] for i in group], dim=2), lengths=lengths)[0]
                       for rnn, group in zip(rnns, fusion)]
            streams = [self.dropout(s) for s in streams]
        ys = streams[0]  # (B, T, D*H), 0 past each length
        if self.config.pooling == "max":
            pooled = masked_max(ys, lengths)
        else:  # mean (the paper sums the per-frame scores over time; the mean is that divided by T)
            pooled = masked_mean(ys, lengths)
        return self.output(pooled)


POSE_MODELS = {"rnn": PoseRNN, "parts": BodyPartRNN}


def build_pose_model(config: PoseModelConfig) -> nn.Module:
    """The model class of `config.architecture`, built from the config."""
    return POSE_MODELS[config.architecture].from_config(config)
