"""L_hat of a study: the law L = L_hat + a C^-b fitted to its runs' end points, with seed-bootstrap CIs.

The end points are one (compute, eval loss) per run (width and seed); the fit (scaling_fit.py) takes their
seed means per width, and its CIs come from resampling the seeds within each width. A token task whose
data has a known entropy rate (the offline chess corpus) bounds L_hat from below by it: no model's expected
loss can go lower.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from .scaling_fit import PowerLawFit, fit_power_law

METHOD = "Huber on log residuals, multi-start L-BFGS-B"


def end_points(df: pl.DataFrame) -> pl.DataFrame:
    """One row per (width, seed) of a run table: the final compute and eval loss of the run."""
    return (df.sort("step").group_by("width", "params", "seed", maintain_order=True)
            .agg(pl.col("compute").last(), pl.col("eval_loss").last()).sort("width", "seed"))


def fit_end_points(ends: pl.DataFrame, delta: float, init: PowerLawFit | None = None,
                   l_hat_min: float = 0.0) -> PowerLawFit:
    """The law fitted to the seed-mean end loss of each width (at the width's compute, FLOPs)."""
    m = ends.group_by("width").agg(pl.col("compute").first(), pl.col("eval_loss").mean()).sort("width")
    return fit_power_law(m["compute"].to_numpy(), m["eval_loss"].to_numpy(), delta=delta, init=init,
                         l_hat_min=l_hat_min)


@dataclass(frozen=True)
class LhatFit:
    """The fit of a study's end points with percentile CIs of its parameters (NaN without resamples)."""

    fit: PowerLawFit
    l_hat_ci: tuple[float, float]
    a_ci: tuple[float, float]  # for compute in PFLOP, as `fit.a`
    b_ci: tuple[float, float]
    level: float
    n_boot: int
    huber_delta: float
    entropy_floor: float | None  # nats/token: the data's entropy rate, L_hat's lower bound (None: unknown)
    end_points: pl.DataFrame  # `end_points` of the runs

    @property
    def at_entropy_floor(self) -> bool:
        """Whether L_hat sits on its lower bound (the end points alone would put it lower)."""
        return self.entropy_floor is not None and bool(
            np.isclose(self.fit.l_hat, self.entropy_floor, rtol=0, atol=1e-9))

    def to_dict(self) -> dict:
        """The content of lhat.json."""
        floor = {} if self.entropy_floor is None else {
            "entropy_floor": self.entropy_floor, "l_hat_minus_entropy_floor": self.fit.l_hat - self.entropy_floor,
            "l_hat_at_entropy_floor": self.at_entropy_floor}
        return {**self.fit.to_dict(), "ci": {"l_hat": list(self.l_hat_ci), "a": list(self.a_ci), "b": list(self.b_ci)},
                "ci_level": self.level, "n_boot": self.n_boot, "compute_unit_for_a": "PFLOP",
                "huber_delta": self.huber_delta, **floor, "end_points": self.end_points.to_dicts(), "method": METHOD}


def fit_lhat(ends: pl.DataFrame, delta: float, n_boot: int, seed: int, level: float = 0.95,
             entropy_floor: float | None = None) -> LhatFit:
    """Fit the end points (`end_points`) and bootstrap over the seeds within each width.

    Each resample's fit starts from the full fit's solution; `entropy_floor` (None: 0) bounds L_hat below.
    """
    l_hat_min = 0.0 if entropy_floor is None else entropy_floor
    fit = fit_end_points(ends, delta, l_hat_min=l_hat_min)
    rng = np.random.default_rng(seed)
    groups = [g for _, g in ends.group_by("width", maintain_order=True)]
    boot = []
    for _ in range(n_boot):
        sample = pl.concat([g[rng.integers(0, g.height, g.height)] for g in groups])
        b = fit_end_points(sample, delta, init=fit, l_hat_min=l_hat_min)
        boot.append((b.l_hat, b.a, b.b))
    boot = np.array(boot) if boot else np.full((1, 3), np.nan)
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    l_hat_ci, a_ci, b_ci = (tuple(float(v) for v in np.percentile(boot[:, i], q)) for i in range(3))
    return LhatFit(fit=fit, l_hat_ci=l_hat_ci, a_ci=a_ci, b_ci=b_ci, level=level, n_boot=n_boot, huber_delta=delta,
                   entropy_floor=entropy_floor, end_points=ends)
