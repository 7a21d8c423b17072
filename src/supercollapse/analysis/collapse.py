"""Normalized loss curves (DESIGN §3): x = C / C*, ell(x) = (L(x) - L_hat) / (L(C*) - L_hat).

Each (width, seed) curve is normalized by its own final compute and its own final loss, so every curve
passes through (1, 1) by construction.
"""

from __future__ import annotations

import numpy as np


def normalize_curve(compute: np.ndarray, loss: np.ndarray, l_hat: float) -> tuple[np.ndarray, np.ndarray]:
    """(x, ell) of one curve ordered by compute; the last point is the run's end (C*, L(C*))."""
    compute = np.asarray(compute, dtype=np.float64)
    loss = np.asarray(loss, dtype=np.float64)
    order = np.argsort(compute, kind="stable")
    compute, loss = compute[order], loss[order]
    reducible_end = loss[-1] - l_hat
    if not reducible_end > 0:
        raise ValueError(f"final loss {loss[-1]:.6g} is not above L_hat = {l_hat:.6g}; cannot normalize")
    return compute / compute[-1], (loss - l_hat) / reducible_end


def on_grid(x: np.ndarray, values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Linear interpolation of a curve onto a shared x grid (grid must lie inside [x_min, 1])."""
    return np.interp(grid, x, values)
