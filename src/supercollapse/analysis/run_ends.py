"""Horizons of compute-optimal runs without a constant-LR sweep (an external task that gives none): the law
C*(P) = (P / kappa)^(1 + gamma) through where the runs end. Kept out of frontier.py, whose source is part of
the training code's hash (a change there would rerun every trained run)."""

from __future__ import annotations

import numpy as np
import polars as pl

from .frontier import _r2, _weighted_line
from .horizon import HorizonFit


def fit_run_ends(params: np.ndarray, end_compute: np.ndarray) -> HorizonFit:
    """C*(P) = (P / kappa)^(1 + gamma) by least squares through where compute-optimal runs end, for runs without
    a constant-LR sweep (an external task): one point per width, `end_compute` its seeds' geometric mean."""
    log_p, log_c = np.log(np.asarray(params, np.float64)), np.log(np.asarray(end_compute, np.float64))
    weight = np.ones(log_p.size)
    slope, intercept, slope_se = _weighted_line(log_p, log_c, weight)
    r2 = _r2(log_c, slope * log_p + intercept, weight)
    return HorizonFit(kappa=float(np.exp(-intercept / slope)), gamma=float(slope - 1.0), exponent_se=float(slope_se),
                      r2=r2, r2_grid=r2, points_params=[int(p) for p in params],
                      points_compute=[float(c) for c in np.exp(log_c)])


def end_computes(runs: pl.DataFrame) -> pl.DataFrame:
    """Where each width's runs end: one row per (width, params), `compute` the geometric mean over its seeds of
    their final compute (FLOPs), sorted by params. `runs`: a run table (schema CURVES), healthy seeds only."""
    return (runs.sort("step").group_by("width", "seed").last().group_by("width", "params")
            .agg(pl.col("compute").log().mean().exp()).sort("params"))


def run_end_horizon(runs: pl.DataFrame) -> HorizonFit:
    """fit_run_ends through end_computes(runs): the horizons of runs without a sweep (rule run_end_horizon, and
    the `horizon` of a prediction for such runs)."""
    ends = end_computes(runs)
    return fit_run_ends(ends["params"].to_numpy(), ends["compute"].to_numpy())
