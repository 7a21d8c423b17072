"""The horizon law C*(P) = (P / kappa)^(1 + gamma) and the run lengths it gives: what the compute-optimal
runs depend on, apart from how the law is fitted (frontier.py, run_ends.py). Training code hashes this module
(codehash.py), not the fits, so a change in how a frontier is fitted reruns a run only through its horizon.

Units: compute in FLOPs, P in parameters, so kappa is in parameters with C* in FLOPs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class HorizonFit:
    kappa: float  # parameters; C*(P) = (P / kappa)^(1 + gamma) FLOPs
    gamma: float  # t*(P) proportional to P^gamma
    exponent_se: float  # standard error of (1 + gamma)
    r2: float  # over the per-width points
    r2_grid: float  # over all interior grid points (the paper's regression)
    points_params: list[float]  # parameters: the widths' (centres, ints) or pairs' geometric means (crossings)
    points_compute: list[float]

    def optimal_compute(self, params: float) -> float:
        """C*(P) in FLOPs."""
        return float((params / self.kappa) ** (1.0 + self.gamma))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "HorizonFit":
        """The fit from a `horizon.json` (extra keys such as the method or the bootstrap are ignored)."""
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})


def horizon_compute(fit: HorizonFit, params: int, gamma_scale: float = 1.0) -> float:
    """Compute (FLOPs) of a compute-optimal run of `params` parameters: C*(P) from the fit.

    `gamma_scale` != 1 gives the "wrong data exponent" horizons t*(P) proportional to P^(gamma_scale gamma),
    anchored at the geometric mean of the fit's points, so the horizons there are unchanged.
    """
    if gamma_scale == 1.0:
        return fit.optimal_compute(params)
    anchor = float(np.exp(np.mean(np.log(fit.points_params))))
    return fit.optimal_compute(anchor) * (params / anchor) ** (1.0 + gamma_scale * fit.gamma)


def horizon_steps(fit: HorizonFit, params: int, tokens_per_step: int, scale: float = 1.0,
                  gamma_scale: float = 1.0) -> int:
    """Updates in a compute-optimal run: horizon_compute / (6 P tokens_per_step), times `scale`, at least 1."""
    compute = horizon_compute(fit, params, gamma_scale)
    return max(1, int(round(scale * compute / (6.0 * params * tokens_per_step))))
