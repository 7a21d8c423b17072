"""Fit of the compute-optimal loss law L*(C) = L_hat + a C^(-b) (DESIGN §3).

Huber loss (delta = 1e-3) on log residuals log(L_hat + a C^-b) - log L, minimised by L-BFGS-B from a grid
of starting points with L_hat, a, b >= 0 (as Hoffmann et al. and Besiroglu et al. do for Chinchilla).
Compute is rescaled by its geometric mean inside the fit for conditioning; `a` is reported for C in
PFLOP (1e15 FLOPs), the paper's unit. L_hat is the irreducible loss used to normalize the curves.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import OptimizeResult, minimize

PFLOP = 1e15
MAX_EXPONENT = 5.0


@dataclass(frozen=True)
class PowerLawFit:
    l_hat: float
    a: float  # for compute in PFLOP
    b: float
    objective: float

    def predict(self, compute_flops: np.ndarray) -> np.ndarray:
        return self.l_hat + self.a * (np.asarray(compute_flops, dtype=np.float64) / PFLOP) ** (-self.b)

    def to_dict(self) -> dict:
        return asdict(self)


def huber(r: np.ndarray, delta: float) -> np.ndarray:
    """Huber loss of residuals r: quadratic within delta, linear beyond (so a few bad points weigh little)."""
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r**2, delta * (a - 0.5 * delta))


_huber = huber  # the former private name, still imported by tests


def minimize_from_starts(objective, gradient, starts, bounds) -> OptimizeResult:
    """L-BFGS-B (tight tolerances) from each start; the result with the lowest objective, the first on ties."""
    best = None
    for start in starts:
        res = minimize(objective, np.array(start), jac=gradient, method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-12})
        if best is None or res.fun < best.fun:
            best = res
    return best


def fit_power_law(compute_flops, loss, delta: float = 1e-3, init: PowerLawFit | None = None,
                  l_hat_min: float = 0.0) -> PowerLawFit:
    """Fit L = L_hat + a C^-b to compute-optimal end points (compute in FLOPs, seed-mean losses).

    Starts: a grid over L_hat in [l_hat_min, l_hat_min + 0.95 (min L - l_hat_min)] and b, with a set by a
    log-mean match; with `init` (a previous fit, as in a bootstrap) its solution is tried first together
    with a coarser grid. `l_hat_min` is a known lower bound of the irreducible loss (0 for a squared error;
    the data's entropy rate for a next-token loss).
    """
    c = np.asarray(compute_flops, dtype=np.float64)
    y = np.asarray(loss, dtype=np.float64)
    if c.shape != y.shape or c.ndim != 1 or c.size < 3:
        raise ValueError(f"need >= 3 matching (compute, loss) points, got shapes {c.shape} and {y.shape}")
    if np.any(c <= 0) or np.any(y <= 0) or not np.all(np.isfinite(y)):
        raise ValueError("compute and loss must be positive and finite")
    c_ref = float(np.exp(np.mean(np.log(c))))
    s = c / c_ref
    log_y = np.log(y)
    y_min = float(y.min())
    if not 0.0 <= l_hat_min < y_min:
        raise ValueError(f"the lower bound of L_hat ({l_hat_min}) must be >= 0 and below the smallest loss ({y_min})")

    def objective(theta):
        l_hat, a, b = theta
        pred = l_hat + a * s ** (-b)
        return float(np.sum(huber(np.log(np.maximum(pred, 1e-300)) - log_y, delta)))

    def gradient(theta):
        l_hat, a, b = theta
        sb = s ** (-b)
        pred = np.maximum(l_hat + a * sb, 1e-300)
        r = np.log(pred) - log_y
        dh = np.clip(r, -delta, delta) / pred
        return np.array([np.sum(dh), np.sum(dh * sb), np.sum(dh * (-a) * sb * np.log(s))])

    # b is capped so that s^-b stays finite for any compute ratio met in practice.
    bounds = [(l_hat_min, y_min), (0.0, None), (0.0, MAX_EXPONENT)]
    starts = []
    if init is not None:
        starts.append((min(max(init.l_hat, l_hat_min), y_min), init.a * (c_ref / PFLOP) ** (-init.b), init.b))
    fracs, exps = (np.linspace(0.0, 0.95, 8), (0.02, 0.05, 0.1, 0.2, 0.4, 0.8)) if init is None else \
        (np.linspace(0.0, 0.9, 3), (0.05, 0.2, 0.8))
    for frac, b0 in itertools.product(fracs, exps):
        l0 = l_hat_min + frac * (y_min - l_hat_min)
        starts.append((l0, max(float(np.exp(np.mean(np.log(np.maximum(y - l0, 1e-12))))), 1e-12), b0))
    best = minimize_from_starts(objective, gradient, starts, bounds)
    l_hat, a_s, b = (float(v) for v in best.x)
    # a_s is for compute in units of c_ref FLOPs: a_s (C / c_ref)^-b = a_s (c_ref / 1e15)^b (C / 1e15)^-b.
    return PowerLawFit(l_hat=l_hat, a=a_s * (c_ref / PFLOP) ** b, b=b, objective=float(best.fun))
