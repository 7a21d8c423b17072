"""When a run counts as diverged: one rule for the engine (which flags it) and the analysis (which reports it).

A seed's run diverged at the first evaluation from which it never recovers: a non-finite loss anywhere, or a
stretch of evaluations reaching the end of the run whose eval loss all exceed DIVERGENCE_FACTOR times the
initial one (step 0). A spike that comes back down is not a divergence; a run that ends far above where it
started (an LR too large: losses of 1e3-1e4 against 0.4 at the start, measured) is, though its losses are
finite. Pure NumPy.
"""

from __future__ import annotations

import numpy as np

DIVERGENCE_FACTOR = 2.0


def divergence_index(eval_loss: np.ndarray, train_loss: np.ndarray | None = None) -> int | None:
    """Index of the evaluation from which a seed's run counts as diverged, or None for a healthy run.

    `eval_loss` (evaluations,) in step order, the first at step 0; `train_loss` likewise, NaN at step 0 (no
    update yet) and finite after it in a healthy run."""
    eval_loss = np.asarray(eval_loss, dtype=np.float64)
    bad = ~np.isfinite(eval_loss)
    if train_loss is not None:
        train_loss = np.asarray(train_loss, dtype=np.float64)
        bad[1:] |= ~np.isfinite(train_loss[1:])
    if bad.any():
        return int(np.argmax(bad))
    above = eval_loss > DIVERGENCE_FACTOR * eval_loss[0]
    if not above[-1]:
        return None
    healthy = np.flatnonzero(~above)
    return int(healthy[-1] + 1) if healthy.size else 0
