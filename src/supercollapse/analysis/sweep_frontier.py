"""The frontier of a constant-LR sweep from its run table: seed-mean curves, the horizon fit (frontier.py)
with the IsoFLOP estimator's second opinion (isoflop.py), and bootstrap CIs of the fit's exponent.

Inputs are run tables (schema CURVES, diverged seeds already dropped); compute in FLOPs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from ..schemas import FRONTIER
from .frontier import (Envelope, fit_horizon, horizon_points, line_through, log_curves, log_loss_table,
                       lower_envelope)
from .horizon import HorizonFit
from .isoflop import IsoflopFit, isoflop_frontier

METHOD = {"centres": "lower envelope of seed-mean constant-LR curves; per-width argmin centres; weighted least "
                     "squares of log C on log P",
          "crossings": "lower envelope of seed-mean constant-LR curves; crossings of adjacent widths at the "
                       "geometric mean of their parameters; least squares of log C on log P"}


def seed_mean_curves(df: pl.DataFrame) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """params -> (compute, seed-mean eval loss), compute increasing.

    Seeds of a width evaluated at the same (step, compute) points are averaged point by point. Seeds evaluated
    at different points (runs logged at their own steps) are first interpolated, log L against log C as the
    envelope does (frontier.py), onto the union of their compute points inside the range every seed covers:
    never extrapolated. That grid leaves out zero compute (step 0), which the envelope's log axes drop anyway.
    """
    means = df.group_by("params", "step").agg(pl.col("compute").first(), pl.col("eval_loss").mean()).sort("params", "step")
    curves = {int(p): (g["compute"].to_numpy(), g["eval_loss"].to_numpy())
              for (p,), g in means.group_by("params", maintain_order=True)}
    for (p,), runs in df.sort("seed", "step").group_by("params", maintain_order=True):
        seeds = [g for _, g in runs.group_by("seed", maintain_order=True)]
        if not all(g["step"].equals(seeds[0]["step"]) and g["compute"].equals(seeds[0]["compute"]) for g in seeds):
            curves[int(p)] = interpolated_mean(int(p), [(g["compute"].to_numpy(), g["eval_loss"].to_numpy())
                                                        for g in seeds])
    return curves


def interpolated_mean(params: int, seeds: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """(compute, mean loss) of one width's seed curves (compute increasing) evaluated at different compute
    points: each interpolated in log-log onto the union of their points inside the range all of them cover."""
    compute, losses = common_grid(params, seeds)
    return compute, losses.mean(axis=0)


def common_grid(params: int, seeds: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """(compute, loss [seed, point]): one width's seed curves interpolated as in `interpolated_mean`."""
    logs = [log_curves({params: curve})[params] for curve in seeds]
    lo, hi = max(lc[0] for lc, _ in logs), min(lc[-1] for lc, _ in logs)
    if lo > hi:
        raise ValueError(f"sweep curves with {params} params: the compute ranges of its seeds do not overlap "
                         f"(latest start {np.exp(lo):.4g} FLOPs, earliest end {np.exp(hi):.4g} FLOPs), so they "
                         "have no common grid to average on")
    with np.errstate(divide="ignore"):  # zero compute: log -inf, outside [lo, hi]
        compute = np.unique(np.concatenate([c[(np.log(c) >= lo) & (np.log(c) <= hi)] for c, _ in seeds]))
    return compute, np.exp(log_loss_table(dict(enumerate(logs)), np.log(compute)))


RESAMPLED = {"seeds": "seeds within each sweep width", "widths": "the horizon fit's points (argmin widths or crossings)"}


@dataclass(frozen=True)
class FrontierBootstrap:
    """Percentile CIs of the horizon fit's gamma and kappa ((None, None) when no resample could be fitted)."""

    gamma_ci: tuple[float | None, float | None]
    kappa_ci: tuple[float | None, float | None]
    level: float
    n_boot: int  # resamples drawn (0 when skipped)
    failed: int  # resamples that could not be fitted
    resampled: str  # what was resampled (a value of RESAMPLED)
    skipped: str | None = None  # why no resample was drawn

    def to_dict(self) -> dict:
        return {"ci": {"gamma": list(self.gamma_ci), "kappa": list(self.kappa_ci)}, "ci_level": self.level,
                "n_boot": self.n_boot, "failed": self.failed, "resampled": self.resampled,
                **({} if self.skipped is None else {"skipped": self.skipped})}


def frontier_bootstrap(df: pl.DataFrame, n_grid: int, n_boot: int, seed: int, level: float = 0.95,
                       resample: str = "seeds", truncated: str = "exclude", points: str = "centres") -> FrontierBootstrap:
    """Percentile CIs of gamma and kappa from refitting the frontier on resampled data.

    `resample="seeds"`: the seeds of every sweep width, with replacement, then envelope and fit again. With
    few seeds per width the resamples take few distinct values (3 per width for 2 seeds): a coarse interval.
    `resample="widths"`: the horizon fit's points of the full envelope (`points`: one per interior width, its
    mean log C and its grid-point count; or one per crossing), with replacement, then the line again; draws
    with fewer than 2 distinct points are counted as `failed`. The envelope is not rebuilt from subsets of the sweep: a
    missing width widens its neighbours' argmin ranges and shifts their centres, which on noiseless power
    laws spreads gamma over [0.5, 2.5] around a true 1 (measured), a property of the gaps, not of the data.
    """
    if resample not in RESAMPLED:
        raise ValueError(f"resample must be 'seeds' or 'widths', got {resample!r}")
    rng = np.random.default_rng(seed)
    gammas, kappas, failed = [], [], 0
    if resample == "seeds":
        per_width = [[g for _, g in w.group_by("seed", maintain_order=True)]
                     for _, w in df.sort("params", "seed", "step").group_by("params", maintain_order=True)]
        for _ in range(n_boot):
            # A seed drawn twice counts twice, also where seeds are interpolated before averaging.
            sample = pl.concat([runs[i].with_columns(seed=pl.lit(k, pl.Int64)) for runs in per_width
                                for k, i in enumerate(rng.integers(0, len(runs), len(runs)))])
            try:
                fit = fit_horizon(lower_envelope(seed_mean_curves(sample), n_grid=n_grid, truncated=truncated),
                                  points)
            except ValueError:
                failed += 1
                continue
            gammas.append(fit.gamma)
            kappas.append(fit.kappa)
    else:
        envelope = lower_envelope(seed_mean_curves(df), n_grid=n_grid, truncated=truncated)
        widths, log_c, weight = horizon_points(envelope, points)
        log_p = np.log(widths.astype(np.float64))
        if widths.size < 3:
            # Two points: every usable resample is the same line, a zero-width interval that means nothing.
            return FrontierBootstrap(gamma_ci=(None, None), kappa_ci=(None, None), level=level, n_boot=0, failed=0,
                                     resampled=RESAMPLED[resample], skipped=f"{widths.size} points ({points}); "
                                     "resampling them needs at least 3")
        for _ in range(n_boot):
            i = rng.integers(0, widths.size, widths.size)
            if np.unique(i).size < 2:
                failed += 1
                continue
            kappa, gamma = line_through(log_p[i], log_c[i], weight[i])
            gammas.append(gamma)
            kappas.append(kappa)
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    gamma_ci, kappa_ci = ((tuple(float(v) for v in np.percentile(values, q)) for values in (gammas, kappas))
                          if gammas else ((None, None), (None, None)))
    return FrontierBootstrap(gamma_ci=gamma_ci, kappa_ci=kappa_ci, level=level, n_boot=n_boot, failed=failed,
                             resampled=RESAMPLED[resample])


@dataclass(frozen=True)
class SweepFrontier:
    """The frontier of a sweep: what horizon.json and envelope.parquet record."""

    fit: HorizonFit
    envelope: Envelope
    width_of: dict[int, int]  # sweep parameter count -> width
    truncated_widths: list[int]  # widths (the largest aside) still the argmin when their runs ended
    truncated_policy: str  # "exclude" or "include" (frontier.py)
    points: str  # what the horizon line is fitted to: "centres" or "crossings" (frontier.py)
    isoflop: IsoflopFit | None  # None: the IsoFLOP estimator could not fit this sweep
    isoflop_error: str | None  # why not
    bootstrap: FrontierBootstrap  # resampling seeds
    bootstrap_widths: FrontierBootstrap  # resampling interior argmin widths

    @property
    def isoflop_horizon_ratios(self) -> list[float]:
        """C*(P) of the IsoFLOP fit over the envelope fit's, at the envelope fit's points."""
        return [self.isoflop.optimal_compute(p) / self.fit.optimal_compute(p) for p in self.fit.points_params]

    def envelope_table(self) -> pa.Table:
        """Schema FRONTIER: one row per grid point of the envelope."""
        env = self.envelope
        return pa.Table.from_pydict({
            "compute": env.compute, "loss": env.loss,
            "width": np.array([self.width_of[int(p)] for p in env.params], dtype=np.int64),
            "params": env.params.astype(np.int64), "interior": env.interior, "censored": env.censored,
            "truncated": env.truncated, "transient": env.transient}, schema=FRONTIER)

    def to_dict(self) -> dict:
        """The content of horizon.json, less the rule's extras."""
        isoflop = ({"error": self.isoflop_error} if self.isoflop is None else
                   {**self.isoflop.to_dict(), "horizon_ratio_to_envelope": self.isoflop_horizon_ratios})
        return {**self.fit.to_dict(), "compute_unit": "FLOP", "method": METHOD[self.points], "points": self.points,
                "sweep_widths": sorted(self.width_of.values()), "truncated_widths": self.truncated_widths,
                "truncated_policy": self.truncated_policy, "isoflop": isoflop, "bootstrap": self.bootstrap.to_dict(),
                "bootstrap_widths": self.bootstrap_widths.to_dict()}


def sweep_frontier(df: pl.DataFrame, n_grid: int, n_boot: int, seed: int, truncated: str = "exclude",
                   points: str = "centres") -> SweepFrontier:
    """Envelope and horizon fit of a sweep's seed-mean curves on `n_grid` compute points, the IsoFLOP fit
    beside it, and `n_boot` resamples (from `seed`) of seeds and of argmin widths.

    `truncated`: the policy for widths whose sweep run ended while still the argmin (frontier.py; centres only);
    `points`: argmin centres or crossings (frontier.py). Raises
    ValueError when the fitted gamma is not positive: the sweep does not resolve the frontier.
    """
    curves = seed_mean_curves(df)
    envelope = lower_envelope(curves, n_grid=n_grid, truncated=truncated)
    width_of = dict(df.select("params", "width").unique().iter_rows())
    largest = max(width_of)
    # The largest width always ends as the argmin; it is never interior, so only the others are news.
    cut = sorted({width_of[int(p)] for p in envelope.params[envelope.truncated] if int(p) != largest})
    fit = fit_horizon(envelope, points)
    if fit.gamma <= 0:
        raise ValueError(
            f"frontier: the fitted horizon exponent gamma = {fit.gamma:.3g} is not positive (widths of "
            f"{fit.points_params} parameters at compute-optimal {[f'{c:.3g}' for c in fit.points_compute]} FLOPs): "
            "wider models would train for fewer steps, so the sweep does not resolve the frontier; lengthen "
            "tasks.<task>.sweep.steps, add seeds, or drop sweep widths whose argmin lies in the first steps")
    # A second opinion only (the horizons come from the envelope, as in the paper): a sweep it cannot fit
    # records the reason instead of failing.
    try:
        isoflop, isoflop_error = isoflop_frontier(curves, envelope), None
    except ValueError as err:
        isoflop, isoflop_error = None, str(err)
    return SweepFrontier(
        fit=fit, envelope=envelope, width_of=width_of, truncated_widths=cut, truncated_policy=truncated,
        points=points, isoflop=isoflop, isoflop_error=isoflop_error,
        bootstrap=frontier_bootstrap(df, n_grid, n_boot, seed, truncated=truncated, points=points),
        bootstrap_widths=frontier_bootstrap(df, n_grid, n_boot, seed, resample="widths", truncated=truncated,
                                            points=points))
