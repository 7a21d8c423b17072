"""The collapse of one study's runs: Delta/sigma on a shared x grid with its CIs, the means over the x window,
their sensitivity to L_hat, and the table of every study of a task side by side.

Inputs are run tables (schema CURVES, diverged seeds already dropped); the statistics themselves are in
collapse_statistics.py, the normalization in normalization.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from ..schemas import LHAT_SENSITIVITY, STATISTICS, STUDIES
from .collapse_statistics import RATIO_CI_METHOD, CollapseStats, RatioIntervals, bootstrap_ratios, collapse_stats
from .lhat import end_points
from .normalization import grid_curves, shared_grid

# Trial L_hat values, as fractions of the gap between the fitted L_hat and the smallest end loss.
LHAT_OFFSETS = (-1.0, -0.5, -0.25, -0.1, -0.05, 0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9)

# The level of the Delta/sigma intervals.
CI_LEVEL = 0.95


@dataclass(frozen=True)
class WindowSummary:
    """The collapse statistics averaged over the x window."""

    mean_ratio_norm: float  # mean Delta / sigma_norm
    mean_ratio_raw: float  # mean Delta / sigma_raw
    frac_x_delta_below_sigma_raw: float  # fraction of the window's x where Delta < sigma_raw
    frac_x_delta_below_sigma_norm: float
    mean_delta_std: float
    mean_sigma_norm: float
    mean_sigma_raw: float
    frac_x_anova_p_below_005: float  # fraction of x where the widths' ANOVA rejects at 5%
    median_anova_p: float

    def to_dict(self) -> dict:
        return {"mean_ratio_norm": self.mean_ratio_norm, "mean_ratio_raw": self.mean_ratio_raw,
                "frac_x_delta_below_sigma_raw": self.frac_x_delta_below_sigma_raw,
                "frac_x_delta_below_sigma_norm": self.frac_x_delta_below_sigma_norm,
                "mean_delta_std": self.mean_delta_std, "mean_sigma_norm": self.mean_sigma_norm,
                "mean_sigma_raw": self.mean_sigma_raw, "frac_x_anova_p_below_0.05": self.frac_x_anova_p_below_005,
                "median_anova_p": self.median_anova_p}


def window_summary(s: CollapseStats, window: np.ndarray) -> WindowSummary:
    """The statistics' means over the bool mask `window` of the x grid."""
    return WindowSummary(
        mean_ratio_norm=float(np.mean(s.ratio_norm[window])), mean_ratio_raw=float(np.mean(s.ratio_raw[window])),
        frac_x_delta_below_sigma_raw=float(np.mean(s.delta_std[window] < s.sigma_raw[window])),
        frac_x_delta_below_sigma_norm=float(np.mean(s.delta_std[window] < s.sigma_norm[window])),
        mean_delta_std=float(np.mean(s.delta_std[window])), mean_sigma_norm=float(np.mean(s.sigma_norm[window])),
        mean_sigma_raw=float(np.mean(s.sigma_raw[window])),
        frac_x_anova_p_below_005=float(np.mean(s.p_value[window] < 0.05)),
        median_anova_p=float(np.median(s.p_value[window])))


@dataclass(frozen=True)
class LhatTrial:
    """The window summary with the curves normalized at a trial L_hat."""

    l_hat: float
    summary: WindowSummary | None  # None: some run's final loss is not above this L_hat
    error: str | None = None  # why there is no summary


def lhat_trial(df: pl.DataFrame, l_hat: float, grid: np.ndarray, window: np.ndarray) -> LhatTrial:
    try:
        curves = grid_curves(df, l_hat, grid)
        return LhatTrial(l_hat, window_summary(collapse_stats(curves.ell, curves.rel_raw), window))
    except ValueError as err:
        return LhatTrial(l_hat, None, str(err))


@dataclass(frozen=True)
class LhatSensitivity:
    """Window means of Delta/sigma at trial L_hat values around the fit."""

    offset_frac: tuple[float, ...]  # (trial - fitted L_hat) / (smallest seed-mean end loss - fitted L_hat)
    trials: tuple[LhatTrial, ...]

    def to_table(self) -> pa.Table:
        """Schema LHAT_SENSITIVITY; a trial that cannot normalize every curve has nulls."""
        def column(name):
            return [None if t.summary is None else getattr(t.summary, name) for t in self.trials]

        return pa.Table.from_pydict({
            "offset_frac": list(self.offset_frac), "l_hat": [t.l_hat for t in self.trials],
            **{name: column(name) for name in ("mean_ratio_raw", "mean_ratio_norm", "mean_delta_std")}},
            schema=LHAT_SENSITIVITY)


def lhat_sensitivity(df: pl.DataFrame, l_hat: float, grid: np.ndarray, window: np.ndarray,
                     offsets=LHAT_OFFSETS) -> LhatSensitivity:
    """The window means of Delta/sigma at L_hat + offset * gap for each offset.

    The paper warns that collapse quality is very sensitive to L_hat; offsets are fractions of the gap
    between the fit and the smallest seed-mean end loss, so +0.5 puts L_hat halfway to the best run's end.
    Values at or above some seed's final loss cannot normalize that curve: their trial has no summary.
    """
    ends = end_points(df).group_by("width").agg(pl.col("eval_loss").mean())["eval_loss"].min()
    gap = float(ends) - l_hat
    return LhatSensitivity(offset_frac=tuple(float(o) for o in offsets),
                           trials=tuple(lhat_trial(df, float(l_hat + o * gap), grid, window) for o in offsets))


@dataclass(frozen=True)
class CollapseStudy:
    """Everything the collapse statistics of one study record (statistics.parquet, summary.json, the
    L_hat sensitivity table)."""

    grid: np.ndarray  # x values of the shared grid
    x_window: tuple[float, float]  # the x range the summary averages over
    l_hat: float
    widths: list[int]
    seeds_per_width: int  # seeds in the arrays (the smallest per-width count)
    stats: CollapseStats
    intervals: RatioIntervals
    n_boot: int
    summary: WindowSummary
    l_hat_ci_ends: dict[str, LhatTrial]  # "l_hat_lo", "l_hat_hi": the summary at the ends of L_hat's CI
    sensitivity: LhatSensitivity

    def statistics_table(self) -> pa.Table:
        """Schema STATISTICS: one row per grid point."""
        st, ci = self.stats, self.intervals
        return pa.Table.from_pydict({
            "x": self.grid, "delta_std": st.delta_std, "delta_range": st.delta_range, "sigma_norm": st.sigma_norm,
            "sigma_raw": st.sigma_raw, "ratio_norm": st.ratio_norm, "ratio_raw": st.ratio_raw,
            "ratio_norm_lo": ci.ratio_norm_lo, "ratio_norm_hi": ci.ratio_norm_hi, "ratio_raw_lo": ci.ratio_raw_lo,
            "ratio_raw_hi": ci.ratio_raw_hi, "f_stat": st.f_stat, "p_value": st.p_value}, schema=STATISTICS)

    def to_dict(self) -> dict:
        """The content of summary.json."""
        ends = {name: {"l_hat": t.l_hat, "error": t.error} if t.summary is None else
                {"l_hat": t.l_hat, "mean_ratio_norm": t.summary.mean_ratio_norm,
                 "mean_ratio_raw": t.summary.mean_ratio_raw} for name, t in self.l_hat_ci_ends.items()}
        return {**self.summary.to_dict(), "mean_ratio_norm_ci": list(self.intervals.mean_ratio_norm_ci),
                "mean_ratio_raw_ci": list(self.intervals.mean_ratio_raw_ci), "ratio_ci_method": RATIO_CI_METHOD,
                "widths": self.widths, "seeds_per_width": self.seeds_per_width, "l_hat": self.l_hat,
                "x_window": list(self.x_window), "ci_level": CI_LEVEL, "n_boot": self.n_boot,
                "l_hat_sensitivity": ends}


def study_grid(x_grid_min: float, x_grid_max: float, n_x: int, x_min: float, x_max: float) -> np.ndarray:
    """n_x evenly spaced x in [x_grid_min, x_grid_max] with the window's ends x_min and x_max on it, sorted and
    unique: a grid point within rounding of an end is that end, else the end is added. The window's means then
    include both ends (linspace(0.02, 0.99, 98) gives 0.19999999999999998 and 0.9500000000000001, just outside
    [0.2, 0.95], so they kept 0.21 ... 0.94 only)."""
    grid = np.linspace(x_grid_min, x_grid_max, int(n_x))
    ends = np.array([x_min, x_max], dtype=np.float64)
    at_end = np.isclose(grid[:, None], ends, rtol=1e-9, atol=0.0).any(axis=1)
    return np.union1d(grid[~at_end], ends)


def collapse_study(df: pl.DataFrame, l_hat: float, l_hat_ci: tuple[float, float], *, x_grid_min: float,
                   x_grid_max: float, n_x: int, x_min: float, x_max: float, n_boot: int, seed: int) -> CollapseStudy:
    """Delta/sigma of a study's runs normalized at `l_hat` on n_x points of [x_grid_min, x_grid_max] (x_min and
    x_max among them, `study_grid`), with bootstrap CIs (`n_boot` resamples from `seed`) and the means over
    [x_min, x_max]; the same means at the finite ends of `l_hat_ci` and at the trial values of `lhat_sensitivity`.

    The grid keeps only the x where every run has data (`shared_grid`: points before the latest first
    evaluation are dropped); ValueError naming the run when that cuts into [x_min, x_max]."""
    grid = shared_grid(df, study_grid(x_grid_min, x_grid_max, n_x, x_min, x_max), (x_min, x_max))
    window = (grid >= x_min) & (grid <= x_max)
    curves = grid_curves(df, l_hat, grid)
    st = collapse_stats(curves.ell, curves.rel_raw)
    ends = {name: lhat_trial(df, float(value), grid, window)
            for name, value in zip(("l_hat_lo", "l_hat_hi"), l_hat_ci) if np.isfinite(value)}
    return CollapseStudy(
        grid=grid, x_window=(x_min, x_max), l_hat=l_hat, widths=curves.widths, seeds_per_width=int(curves.ell.shape[1]),
        stats=st, intervals=bootstrap_ratios(curves.ell, curves.rel_raw, int(n_boot), int(seed), CI_LEVEL, window),
        n_boot=int(n_boot), summary=window_summary(st, window), l_hat_ci_ends=ends,
        sensitivity=lhat_sensitivity(df, l_hat, grid, window))


def studies_table(task: str, summaries: list[dict], studies: dict[str, dict]) -> pa.Table:
    """Every study's collapse summary (summary.json) of one task side by side (schema STUDIES).

    `summaries` and `studies` (name -> study config) are in the same order.
    """
    if len(summaries) != len(studies):
        raise ValueError(f"{len(summaries)} summaries for {len(studies)} studies")
    rows = {name: [] for name in STUDIES.names}
    for s, (name, cfg) in zip(summaries, studies.items()):
        values = {"task": task, "study": name, "schedule": cfg["schedule"], "decay_frac": cfg["decay_frac"],
                  "gamma_scale": cfg["gamma_scale"], "lr_reference_width": cfg["lr_reference_width"],
                  "l_hat": s["l_hat"], "mean_ratio_raw": s["mean_ratio_raw"],
                  "mean_ratio_raw_lo": s["mean_ratio_raw_ci"][0], "mean_ratio_raw_hi": s["mean_ratio_raw_ci"][1],
                  "mean_ratio_norm": s["mean_ratio_norm"], "mean_ratio_norm_lo": s["mean_ratio_norm_ci"][0],
                  "mean_ratio_norm_hi": s["mean_ratio_norm_ci"][1],
                  "frac_x_delta_below_sigma_raw": s["frac_x_delta_below_sigma_raw"],
                  "median_anova_p": s["median_anova_p"]}
        for key, value in values.items():
            rows[key].append(value)
    return pa.Table.from_pydict(rows, schema=STUDIES)
