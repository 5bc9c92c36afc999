"""Pure tensor functions: the time loop, length masks, state trees, masked softmax."""

from rnnkit.ops.attention import masked_softmax
from rnnkit.ops.lengths import check_lengths, length_mask
from rnnkit.ops.state import map_state, state_leaves
from rnnkit.ops.unroll import unroll

__all__ = ["check_lengths", "length_mask", "map_state", "masked_softmax", "state_leaves", "unroll"]
