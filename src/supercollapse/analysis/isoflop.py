"""A second frontier estimator beside the lower envelope: IsoFLOP minima from interpolated sweep curves.

At each compute level C (a log grid), every sweep width has an interpolated loss L_p(C); near the discrete
argmin, log L is fitted by a parabola in log P (the argmin and its two neighbours) and its vertex gives a
continuous loss-minimising size P*(C). Regressing log C on log P* gives C*(P) = (P / kappa)^(1 + gamma) as
the envelope fit does, without its step-like argmin. Levels are used only where the argmin is interior and
the three widths around it all reach C, and (as in the envelope) not past the end of a curve that was
still the best when it ended. Units: compute in FLOPs, P in parameters.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .frontier import Envelope, _r2, _weighted_line, log_curves, log_loss_table


@dataclass(frozen=True)
class IsoflopFit:
    kappa: float  # parameters; C*(P) = (P / kappa)^(1 + gamma) FLOPs
    gamma: float
    exponent_se: float  # standard error of (1 + gamma)
    r2: float
    levels_compute: list[float]  # FLOPs of the compute levels used
    levels_params: list[float]  # the parabola vertex P*(C) at each level

    def optimal_compute(self, params: float) -> float:
        return float((params / self.kappa) ** (1.0 + self.gamma))

    def to_dict(self) -> dict:
        return asdict(self)


def isoflop_frontier(curves: dict[int, tuple[np.ndarray, np.ndarray]], envelope: Envelope,
                     n_levels: int = 40) -> IsoflopFit:
    """Fit the horizon law to IsoFLOP parabola minima; `envelope` supplies the uncensored compute range."""
    sizes = np.array(sorted(curves), dtype=np.float64)
    usable = envelope.compute[~envelope.censored]
    if usable.size < 2:
        raise ValueError("isoflop: no uncensored compute range in the envelope")
    levels = np.geomspace(usable.min(), usable.max(), n_levels)
    log_l = log_loss_table(log_curves(curves), np.log(levels))
    log_p = np.log(sizes)
    used_c, used_p = [], []
    for j in range(n_levels):
        col = log_l[:, j]
        k = int(np.argmin(col))
        if k == 0 or k == sizes.size - 1 or not np.isfinite(col[k - 1:k + 2]).all():
            continue
        a, b, _ = np.polyfit(log_p[k - 1:k + 2], col[k - 1:k + 2], 2)
        if a <= 0:
            continue
        vertex = -b / (2 * a)
        if log_p[k - 1] <= vertex <= log_p[k + 1]:
            used_c.append(levels[j])
            used_p.append(float(np.exp(vertex)))
    if len(used_c) < 3:
        raise ValueError(f"isoflop: only {len(used_c)} compute levels with an interior, bracketed minimum; "
                         "the sweep needs more widths or longer runs")
    x, y = np.log(used_p), np.log(used_c)
    ones = np.ones(x.size)
    slope, intercept, se = _weighted_line(x, y, ones)
    return IsoflopFit(kappa=float(np.exp(-intercept / slope)), gamma=float(slope - 1.0), exponent_se=se,
                      r2=_r2(y, slope * x + intercept, ones),
                      levels_compute=[float(v) for v in used_c], levels_params=used_p)
