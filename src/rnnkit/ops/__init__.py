"""Pure tensor functions: the time loop, length masks, state trees, masked softmax."""

from rnnkit.ops.attention import masked_softmax
from rnnkit.ops.lengths import check_lengths, length_mask
from rnnkit.ops.state import detach_state, map_state, reset_rows, state_leaves
from rnnkit.ops.unroll import unroll

__all__ = [
    "check_lengths", "detach_state", "length_mask", "map_state", "masked_softmax", "reset_rows", "state_leaves",
    "unroll",
]
