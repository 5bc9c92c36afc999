"""Frame-level anomaly scores from prediction errors: the regularity score of Hasan et al.,
"Learning Temporal Regularity in Video Sequences" (CVPR 2016), normalised within each clip."""

from __future__ import annotations

import numpy as np


def regularity(errors) -> np.ndarray:
    """s(t) = 1 - (e(t) - min e) / max e over one clip's frame errors e (NaN entries, such as the
    first frame that has no prediction, are ignored and stay NaN): 1 for the clip's most regular
    frame, lower for frames predicted worse. The anomaly score is 1 - s(t)."""
    e = np.asarray(errors, dtype=np.float64)
    valid = ~np.isnan(e)
    out = np.full_like(e, np.nan)
    if not valid.any():
        return out
    low, high = e[valid].min(), e[valid].max()
    out[valid] = 1.0 - (e[valid] - low) / high if high > 0 else 1.0
    return out
