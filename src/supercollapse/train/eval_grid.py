"""Evaluation steps: the union of a linear and a geometric grid over [0, steps], plus the last step."""

from __future__ import annotations

import numpy as np


def eval_steps(steps: int, n_evals: int) -> np.ndarray:
    """Sorted unique steps in [0, steps] at which a run is evaluated (step = updates applied so far).

    Half the points lie on a linear grid, half on a geometric grid from step 1, so early training (where
    the loss moves fastest in log compute) and late training (where the collapse is measured) are both
    resolved. Step 0 (the initial model) and the final step are always included.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if n_evals < 2:
        raise ValueError(f"n_evals must be >= 2, got {n_evals}")
    half = max(n_evals // 2, 2)
    linear = np.linspace(0, steps, half)
    geometric = np.geomspace(1, steps, half)
    grid = np.concatenate([[0, steps], np.round(linear), np.round(geometric)]).astype(np.int64)
    return np.unique(grid)
