"""Normalized loss curves (DESIGN §3): x = C / C*, ell(x) = (L(x) - L_hat) / (L(C*) - L_hat).

Each (width, seed) curve is normalized by its own final compute and its own final loss, so every curve
passes through (1, 1) by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from ..schemas import NORMALIZED


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


def normalized_curves(df: pl.DataFrame, l_hat: float) -> pa.Table:
    """Every (width, seed) curve of a run table (schema CURVES) normalized at `l_hat` (schema NORMALIZED)."""
    rows = []
    for (width, params, seed), g in df.sort("step").group_by("width", "params", "seed", maintain_order=True):
        x, e = normalize_curve(g["compute"].to_numpy(), g["eval_loss"].to_numpy(), l_hat)
        # g is sorted by step, hence by compute: x and ell line up with its rows.
        rows.append(pl.DataFrame({"x": x, "ell": e, "loss": g["eval_loss"], "compute": g["compute"]}).with_columns(
            pl.lit(g["task"][0]).alias("task"), pl.lit(g["study"][0]).alias("study"),
            pl.lit(width, pl.Int64).alias("width"), pl.lit(params, pl.Int64).alias("params"),
            pl.lit(seed, pl.Int64).alias("seed")))
    return pl.concat(rows).select(NORMALIZED.names).sort("width", "seed", "x").to_arrow().cast(NORMALIZED)


@dataclass(frozen=True)
class GridCurves:
    """Every width's curves on a shared x grid, the same seed count for each width (the smallest count)."""

    widths: list[int]  # ascending
    ell: np.ndarray  # [width, seed, x]: the normalized curves
    # [width, seed, x]: raw loss over the width's seed-mean reducible end loss (mean end loss - L_hat)
    rel_raw: np.ndarray


def grid_curves(df: pl.DataFrame, l_hat: float, grid: np.ndarray) -> GridCurves:
    """The curves of a run table normalized at `l_hat`, interpolated onto `grid` (seeds beyond the smallest
    per-width count are left out of the arrays, but their end losses still enter the reducible end loss)."""
    widths = sorted(df["width"].unique().to_list())
    per_width = []
    for w in widths:
        g = df.filter(pl.col("width") == w).sort("seed", "step")
        seeds = sorted(g["seed"].unique().to_list())
        curves = [g.filter(pl.col("seed") == s) for s in seeds]
        per_width.append(curves)
    n = min(len(c) for c in per_width)
    ell = np.empty((len(widths), n, grid.size))
    raw = np.empty_like(ell)
    for i, curves in enumerate(per_width):
        ends = np.array([c["eval_loss"][-1] for c in curves])
        reducible = ends.mean() - l_hat
        for j, c in enumerate(curves[:n]):
            x, e = normalize_curve(c["compute"].to_numpy(), c["eval_loss"].to_numpy(), l_hat)
            ell[i, j] = on_grid(x, e, grid)
            raw[i, j] = on_grid(x, c["eval_loss"].to_numpy(), grid) / reducible
    return GridCurves(widths=widths, ell=ell, rel_raw=raw)
