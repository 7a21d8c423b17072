"""Supercollapse statistics (DESIGN §4): collapse deviation across widths vs the seed noise floor.

Inputs are arrays on a shared x grid: `ell[p, w, i]` the normalized curve of width p, seed w at x_i, and
`rel_raw[p, w, i]` = raw loss L(x_i, p, w) / (mean_w L(1, p, w) - L_hat), the raw curve in units of that
width's seed-mean reducible end loss. Seeds must be the same count for every width.

- Delta(x): std across widths of the seed-mean ell_p(x) (and max - min).
- sigma_norm(x): std across seeds of ell, pooled over widths (root mean of per-width variances).
- sigma_raw(x): std across seeds of rel_raw, pooled over widths. Normalizing each seed by its own end
  point cancels the noise it shares with that end point, so sigma_norm << sigma_raw under LR decay; the
  paper's noise floor ("individual loss curves across random seeds") is sigma_raw.
- Supercollapse at x: Delta(x) < sigma(x). F test: one-way ANOVA of ell with widths as groups.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class CollapseStats:
    delta_std: np.ndarray
    delta_range: np.ndarray
    sigma_norm: np.ndarray
    sigma_raw: np.ndarray
    f_stat: np.ndarray
    p_value: np.ndarray

    @property
    def ratio_norm(self) -> np.ndarray:
        return self.delta_std / self.sigma_norm

    @property
    def ratio_raw(self) -> np.ndarray:
        return self.delta_std / self.sigma_raw


def _check(ell: np.ndarray) -> None:
    if ell.ndim != 3:
        raise ValueError(f"expected (widths, seeds, x) arrays, got shape {ell.shape}")
    if ell.shape[0] < 2 or ell.shape[1] < 2:
        raise ValueError(f"need >= 2 widths and >= 2 seeds, got {ell.shape[0]} widths, {ell.shape[1]} seeds")


def collapse_deviation(ell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(std, max - min) across widths of the seed-mean curves; zero for identical curves."""
    means = ell.mean(axis=1)
    return means.std(axis=0, ddof=1), means.max(axis=0) - means.min(axis=0)


def pooled_seed_std(values: np.ndarray) -> np.ndarray:
    """Seed-to-seed std pooled over widths: sqrt of the mean over widths of the unbiased seed variance."""
    return np.sqrt(values.var(axis=1, ddof=1).mean(axis=0))


def width_anova(ell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-x F statistic (between-width / within-width mean squares) and its p-value."""
    k, n = ell.shape[0], ell.shape[1]
    grand = ell.mean(axis=(0, 1))
    means = ell.mean(axis=1)
    ms_between = n * ((means - grand) ** 2).sum(axis=0) / (k - 1)
    ms_within = ((ell - means[:, None, :]) ** 2).sum(axis=(0, 1)) / (k * (n - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        f = ms_between / ms_within
    return f, stats.f.sf(f, k - 1, k * (n - 1))


def collapse_stats(ell: np.ndarray, rel_raw: np.ndarray) -> CollapseStats:
    _check(ell)
    if rel_raw.shape != ell.shape:
        raise ValueError(f"rel_raw shape {rel_raw.shape} differs from ell shape {ell.shape}")
    d_std, d_range = collapse_deviation(ell)
    f, p = width_anova(ell)
    return CollapseStats(d_std, d_range, pooled_seed_std(ell), pooled_seed_std(rel_raw), f, p)


def bootstrap_ratios(ell: np.ndarray, rel_raw: np.ndarray, n_boot: int, seed: int,
                     level: float = 0.95, window: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Percentile CIs over seeds (resampled within each width) of the per-x ratios and of their means.

    Returns arrays `ratio_norm_lo/hi`, `ratio_raw_lo/hi` (per x) and `mean_ratio_norm`, `mean_ratio_raw`
    (n_boot bootstrap replicates of the ratios averaged over the x points selected by the bool mask
    `window`, all x by default).
    """
    _check(ell)
    rng = np.random.default_rng(seed)
    k, n, _ = ell.shape
    rn, rr = [], []
    for _ in range(n_boot):
        idx = rng.integers(0, n, size=(k, n))
        e = np.take_along_axis(ell, idx[:, :, None], axis=1)
        r = np.take_along_axis(rel_raw, idx[:, :, None], axis=1)
        d, _ = collapse_deviation(e)
        with np.errstate(divide="ignore", invalid="ignore"):
            rn.append(d / pooled_seed_std(e))
            rr.append(d / pooled_seed_std(r))
    rn, rr = np.array(rn), np.array(rr)
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    lo_n, hi_n = np.nanpercentile(rn, q, axis=0)
    lo_r, hi_r = np.nanpercentile(rr, q, axis=0)
    w = np.ones(ell.shape[2], dtype=bool) if window is None else window
    return {"ratio_norm_lo": lo_n, "ratio_norm_hi": hi_n, "ratio_raw_lo": lo_r, "ratio_raw_hi": hi_r,
            "mean_ratio_norm": np.nanmean(rn[:, w], axis=1), "mean_ratio_raw": np.nanmean(rr[:, w], axis=1)}
