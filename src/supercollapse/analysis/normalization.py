"""Normalized loss curves (DESIGN §3): x = C / C*, ell(x) = (L(x) - L_hat) / (L(C*) - L_hat).

Each (width, seed) curve is normalized by its own final compute and its own final loss, so every curve
passes through (1, 1) by construction. Curves are compared on a shared x grid and never extrapolated: the grid
keeps the x where every curve has data (`shared_grid`), and `on_grid` refuses x outside a curve.
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
    """Linear interpolation of a curve (x increasing) onto a shared x grid; ValueError where the grid leaves
    the curve's x range, which np.interp would fill with the curve's first or last value."""
    if grid.min() < x[0] or grid.max() > x[-1]:
        raise ValueError(f"x grid [{grid.min():.4g}, {grid.max():.4g}] leaves the curve's x range "
                         f"[{x[0]:.4g}, {x[-1]:.4g}]; curves are not extrapolated")
    return np.interp(grid, x, values)


def shared_grid(df: pl.DataFrame, grid: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """The points of `grid` where every (width, seed) curve of a run table has data: from the latest first x
    over the curves (C / C* of its first evaluation) to 1, every curve's last x.

    The two ranges are treated differently. Grid points outside the curves' common range are dropped: the
    grid beyond the statistics window only draws the statistics' context. The window [x_min, x_max] is the
    study's result (its means): ValueError naming the run whose first evaluation lies after x_min, rather
    than means over a shorter window, or over x where a curve was held flat at its first loss.
    """
    firsts = (df.group_by("width", "seed").agg((pl.col("compute").min() / pl.col("compute").max()).alias("x"))
              .sort("x", "width", "seed", descending=[True, False, False]))
    width, seed, first = firsts.row(0)
    x_min, x_max = window  # x_max < 1 (config_checks): the window's end is always covered
    if first > x_min:
        raise ValueError(f"width {width}, seed {seed}: first evaluated at x = {first:.4g} (C / C*), after the "
                         f"statistics window's start x_min = {x_min:g} (window [{x_min:g}, {x_max:g}]); curves "
                         "are not extrapolated: raise analysis.x_min, or evaluate that run from earlier on")
    return grid[(grid >= first) & (grid <= 1.0)]


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
    per-width count are left out of the arrays, but their end losses still enter the reducible end loss).

    ValueError naming the run where `grid` leaves a curve's x range (restrict it with `shared_grid`)."""
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
            try:
                ell[i, j] = on_grid(x, e, grid)
            except ValueError as err:
                raise ValueError(f"width {widths[i]}, seed {c['seed'][0]}: {err}") from err
            raw[i, j] = on_grid(x, c["eval_loss"].to_numpy(), grid) / reducible
    return GridCurves(widths=widths, ell=ell, rel_raw=raw)
