"""Horizons of compute-optimal runs without a constant-LR sweep (an external task that gives none): the law
C*(P) = (P / kappa)^(1 + gamma) through where the runs end. Kept out of frontier.py, whose source is part of
the training code's hash (a change there would rerun every trained run)."""

from __future__ import annotations

import numpy as np

from .frontier import HorizonFit, _r2, _weighted_line


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
