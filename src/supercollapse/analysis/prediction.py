"""Predict before you train (issue 15): a held-out width's whole loss curve from the collapse of smaller widths.

For an unseen parameter count P (DESIGN §5b):

    C*(P)  from the horizon fit (FLOPs),
    L*(P)  = L_hat + a C*(P)^-b from the L_hat fit of the fitted widths' end points (a for C in PFLOP),
    ell*(x) = mean over the fitted widths of their seed-mean normalized curves (x = C / C*),
    L(x C*) = L_hat + (L*(P) - L_hat) ell*(x).

If the curves collapse, ell* is every width's curve, so the prediction needs only where the run ends and how
low it gets there. A prediction is scored against the held-out width's trained seeds in units of the seed noise
floor (`score_prediction`, reusable for a baseline prediction without a band).

Inputs are run tables (schema CURVES; the columns width, params, seed, step, compute, eval_loss), diverged seeds
dropped beforehand. Pure functions: no file I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from ..schemas import PREDICTION
from .horizon import HorizonFit, horizon_compute
from .lhat import end_points, fit_end_points
from .normalization import on_grid
from .run_ends import run_end_horizon  # noqa: F401 (a `horizon` for runs without a sweep)
from .scaling_fit import PFLOP

LEVEL = 0.95
Z = 1.959963984540054  # two-sided 95% normal quantile: the seed floor's half-width in its std
KINDS = ("predicted", "holdout")

_POINT = ("L(x C*) = L_hat + (L*(P) - L_hat) ell*(x): C*(P) from the horizon fit, L*(P) = L_hat + a C*(P)^-b from "
          "the Huber fit of the fitted widths' seed-mean end points, ell*(x) the mean over fitted widths of their "
          "seed-mean normalized curves (each seed normalized by its own end). ")
_SEED_BAND = ("Seed band (for one seed's curve): each half-width of the band added in quadrature to 1.96 x the seed "
              "noise floor sigma_raw(x) (the seed std of the raw loss pooled over the fitted widths, in units of each "
              "width's seed-mean reducible end loss) times L*(P) - L_hat.")
# The band's resampling schemes. Each replicate refits L_hat, a, b (from the point fit), the horizon (called on
# the runs with seeds drawn with replacement within each width) and ell*. Resampling the 3-4 seeds of a width
# carries neither the (n - 1) / n shrinkage of a resampled variance nor the spread of a variance estimated from
# n - 1 degrees of freedom: on synthetic ladders with a known truth (tests/test_prediction.py, 5 fitted widths,
# 100 draws, n_boot 39) its band covered the true curve at 85% (3 seeds) and 87% (4 seeds), the Gaussian one,
# whose seed noise is pooled over k (n - 1) degrees of freedom, at 95% and 92% (an oracle bootstrap with the
# true noise: 91% at the final loss, the rest being the extrapolation's nonlinearity).
BOOTSTRAPS = {
    "gaussian": ("95% band: 2.5/97.5 percentiles (Weibull positions p (B + 1)) over B replicates of a Gaussian "
                 "parametric bootstrap over seeds: each width's seeds redrawn as its seed mean plus Gaussian "
                 "combinations of every fitted width's seed residuals (curve and end loss jointly, in units of each "
                 "width's seed-mean reducible end loss: their pooled sample covariance), refitting L_hat, a, b, the "
                 "horizon and ell* in each replicate. "),
    "seeds": ("95% band: 2.5/97.5 percentiles (Weibull positions p (B + 1)) over B replicates resampling the seeds "
              "within each width with replacement, refitting L_hat, a, b, the horizon and ell* in each replicate. "),
}
METHOD = {name: _POINT + band + _SEED_BAND for name, band in BOOTSTRAPS.items()}


@dataclass(frozen=True)
class SeedCurves:
    """The raw loss of every (width, seed) curve of a run table on an x grid (x = C / C*, each seed's own C*),
    and each seed's end: the normalized curves at any L_hat follow exactly, because linear interpolation
    commutes with the affine map L -> (L - L_hat) / (L(C*) - L_hat)."""

    widths: list[int]  # ascending
    params: list[int]  # per width
    loss: list[np.ndarray]  # per width: [seed, x], raw eval loss interpolated at the grid's x
    end_loss: list[np.ndarray]  # per width: [seed], the final eval loss L(C*)
    end_compute: list[np.ndarray]  # per width: [seed], the final compute C* (FLOPs)
    rows: list[list[np.ndarray]]  # per width, per seed: the row indices of that run in the (sorted) table
    table: pl.DataFrame  # the run table sorted by width, seed, step (the rows index into it)


def seed_curves(runs: pl.DataFrame, x: np.ndarray) -> SeedCurves:
    """Every run of `runs` on the grid `x` (ValueError naming the run where the grid leaves its x range)."""
    x = np.asarray(x, dtype=np.float64)
    if "diverged" in runs.columns and runs["diverged"].fill_null(False).any():
        raise ValueError("the run table holds diverged rows: drop diverged seeds before predicting")
    table = runs.sort("width", "seed", "step").with_row_index("_row")
    widths, params, loss, ends, end_c, rows = [], [], [], [], [], []
    for (width,), g in table.group_by("width", maintain_order=True):
        widths.append(int(width))
        counts = g["params"].unique()
        if counts.len() != 1:
            raise ValueError(f"width {width} has several parameter counts {sorted(counts.to_list())}")
        params.append(int(counts[0]))
        w_loss, w_end, w_c, w_rows = [], [], [], []
        for (seed,), s in g.group_by("seed", maintain_order=True):
            c, y = s["compute"].to_numpy(), s["eval_loss"].to_numpy()
            xs = c / c.max()
            order = np.argsort(c, kind="stable")
            try:
                w_loss.append(on_grid(xs[order], y[order], x))
            except ValueError as err:
                raise ValueError(f"width {width}, seed {seed}: {err}") from err
            w_end.append(y[order][-1])
            w_c.append(c[order][-1])
            w_rows.append(s["_row"].to_numpy())
        loss.append(np.array(w_loss))
        ends.append(np.array(w_end))
        end_c.append(np.array(w_c))
        rows.append(w_rows)
    return SeedCurves(widths, params, loss, ends, end_c, rows, table.drop("_row"))


def _master(loss: list[np.ndarray], end_loss: list[np.ndarray], l_hat: float) -> np.ndarray:
    """ell*(x): mean over widths of the seed-mean normalized curves; NaN where a seed's end is not above L_hat."""
    curves = []
    for y, end in zip(loss, end_loss):
        reducible = end - l_hat
        if not np.all(reducible > 0):
            return np.full(y.shape[1], np.nan)
        curves.append(((y - l_hat) / reducible[:, None]).mean(axis=0))
    return np.mean(curves, axis=0)


def master_curve(runs: pl.DataFrame, l_hat: float, x: np.ndarray) -> np.ndarray:
    """ell*(x): the mean over widths of the seed-mean normalized curves of `runs` at `l_hat` (every seed of a
    width, each normalized by its own end as in grid_curves), on the grid `x` (never extrapolated: ValueError
    naming the run whose x range the grid leaves; ValueError when a seed's final loss is not above L_hat)."""
    curves = seed_curves(runs, x)
    for w, end in zip(curves.widths, curves.end_loss):
        if not np.all(end > l_hat):
            raise ValueError(f"width {w}: a seed's final loss ({end.min():.6g}) is not above L_hat = {l_hat:.6g}; "
                             "cannot normalize")
    return _master(curves.loss, curves.end_loss, l_hat)


def end_loss_at(l_hat: float, a: float, b: float, horizon_compute: float) -> float:
    """L*(P) = L_hat + a C*^-b with C* in FLOPs and `a` for compute in PFLOP (as PowerLawFit)."""
    return float(l_hat + a * (horizon_compute / PFLOP) ** (-b))


def predict_curve(l_hat: float, a: float, b: float, horizon_compute: float, master: np.ndarray,
                  x: np.ndarray) -> np.ndarray:
    """L(x C*) = L_hat + (L*(P) - L_hat) ell*(x) at each x of the grid that `master` (ell*) is on.

    `horizon_compute` is C*(P) in FLOPs; `a` is for compute in PFLOP (the L_hat fit's convention)."""
    master, x = np.asarray(master, dtype=np.float64), np.asarray(x, dtype=np.float64)
    if master.shape != x.shape:
        raise ValueError(f"master curve shape {master.shape} differs from the x grid's {x.shape}")
    return l_hat + (end_loss_at(l_hat, a, b, horizon_compute) - l_hat) * master


def seed_noise_floor(loss: list[np.ndarray], end_loss: list[np.ndarray], l_hat: float) -> np.ndarray:
    """sigma_raw(x): the seed std of the raw loss in units of each width's seed-mean reducible end loss
    (mean end - L_hat), pooled over widths by degrees of freedom (widths of one seed add none)."""
    ss = sum(((y - y.mean(axis=0)) ** 2).sum(axis=0) / (end.mean() - l_hat) ** 2 for y, end in zip(loss, end_loss))
    dof = sum(y.shape[0] - 1 for y in loss)
    return np.sqrt(ss / dof) if dof > 0 else np.full(loss[0].shape[1], np.nan)


def fixed_horizon(fit: HorizonFit) -> Callable[[pl.DataFrame], HorizonFit]:
    """The `horizon` of a task with a sweep whose frontier fit is held fixed (not resampled)."""
    return lambda runs: fit


@dataclass(frozen=True)
class Prediction:
    """A width's predicted loss curve on an x grid, with its 95% band (see METHOD)."""

    width: int
    params: int
    horizon: float  # C*(P), FLOPs, from the point horizon fit
    x: np.ndarray  # C / C*(P)
    loss: np.ndarray  # the predicted (seed-mean) loss at x
    lo: np.ndarray  # 95% parameter band (bootstrap percentiles); NaN without resamples
    hi: np.ndarray
    lo_seed: np.ndarray  # the band widened by the seed noise floor: for one seed's curve
    hi_seed: np.ndarray
    final_loss: float  # L*(P)
    final_lo: float
    final_hi: float
    n_boot: int  # resamples used (those whose L_hat normalizes every resampled seed)
    n_boot_skipped: int  # resamples left out: some resampled seed's end loss not above its L_hat
    method: str
    kind: str  # "predicted" or "holdout"
    l_hat: float  # the point fit of the fitted widths' end points (a for compute in PFLOP)
    a: float
    b: float
    horizon_fit: HorizonFit
    master: np.ndarray  # ell*(x) at the point fit's L_hat
    sigma_raw: np.ndarray  # seed noise floor of the fitted widths at x (units of reducible end loss)
    fitted_widths: tuple[int, ...]
    level: float = LEVEL

    @property
    def compute(self) -> np.ndarray:
        """FLOPs at each x: x C*(P)."""
        return self.x * self.horizon

    def to_table(self) -> pa.Table:
        """Schema PREDICTION: one row per x."""
        n = self.x.size
        return pa.Table.from_pydict({
            "width": [self.width] * n, "params": [self.params] * n, "kind": [self.kind] * n, "x": self.x,
            "compute": self.compute, "loss_pred": self.loss, "loss_lo": self.lo, "loss_hi": self.hi,
            "loss_lo_seed": self.lo_seed, "loss_hi_seed": self.hi_seed}, schema=PREDICTION)

    def to_dict(self) -> dict:
        """Scalars of the prediction (for a JSON record; the curve is `to_table`)."""
        return {"width": self.width, "params": self.params, "kind": self.kind, "horizon_flops": self.horizon,
                "final_loss": self.final_loss, "final_ci": [self.final_lo, self.final_hi], "ci_level": self.level,
                "n_boot": self.n_boot, "n_boot_skipped": self.n_boot_skipped, "l_hat": self.l_hat, "a": self.a,
                "b": self.b, "compute_unit_for_a": "PFLOP", "horizon_fit": self.horizon_fit.to_dict(),
                "fitted_widths": list(self.fitted_widths), "method": self.method}


def _resample(curves: SeedCurves, rng: np.random.Generator) -> tuple[list[np.ndarray], pl.DataFrame]:
    """Seed indices drawn with replacement within each width, and the resampled run table (seeds renumbered
    0..n-1 within a width, so that a seed drawn twice counts as two runs)."""
    picks = [rng.integers(0, y.shape[0], y.shape[0]) for y in curves.loss]
    rows, seeds = [], []
    for w_rows, pick in zip(curves.rows, picks):
        for new, old in enumerate(pick):
            rows.append(w_rows[old])
            seeds.append(np.full(w_rows[old].size, new, dtype=np.int64))
    table = curves.table[np.concatenate(rows)].with_columns(pl.Series("seed", np.concatenate(seeds)))
    return picks, table


@dataclass(frozen=True)
class PooledResiduals:
    """The seed-to-seed variation of every fitted width, pooled: each seed's (curve on the grid, end loss) minus
    its width's seed mean, in units of the width's seed-mean reducible end loss (the units of sigma_raw)."""

    means: list[np.ndarray]  # per width: [x + 1], the seed-mean curve and end loss
    scale: np.ndarray  # per width: seed-mean end loss - L_hat
    residuals: np.ndarray  # [all seeds, x + 1], divided by sqrt of the pooled degrees of freedom

    @classmethod
    def of(cls, curves: SeedCurves, l_hat: float) -> "PooledResiduals":
        ys = [np.concatenate([y, e[:, None]], axis=1) for y, e in zip(curves.loss, curves.end_loss)]
        means = [y.mean(axis=0) for y in ys]
        scale = np.array([m[-1] - l_hat for m in means])
        dof = sum(y.shape[0] - 1 for y in ys)
        r = np.concatenate([(y - m) / d for y, m, d in zip(ys, means, scale)]) / np.sqrt(dof)
        return cls(means=means, scale=scale, residuals=r)

    def draw(self, counts: list[int], rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Synthetic seeds, `counts[w]` per width: the width's mean plus Gaussian combinations of all residuals,
        so that their covariance (over x, and between the curve and the end) is the pooled sample covariance.
        Returns (curves [seed, x], end losses [seed]) per width."""
        loss, ends = [], []
        for n, m, d in zip(counts, self.means, self.scale):
            y = m + d * (rng.standard_normal((n, self.residuals.shape[0])) @ self.residuals)
            loss.append(y[:, :-1])
            ends.append(y[:, -1])
        return loss, ends


def _end_table(curves: SeedCurves, end_loss: list[np.ndarray]) -> pl.DataFrame:
    """End points (as lhat.end_points) with the given end losses, at the runs' own final compute."""
    return pl.DataFrame({
        "width": np.repeat(curves.widths, [e.size for e in end_loss]),
        "params": np.repeat(curves.params, [e.size for e in end_loss]),
        "seed": np.concatenate([np.arange(e.size) for e in end_loss]),
        "compute": np.concatenate(curves.end_compute), "eval_loss": np.concatenate(end_loss)})


def predict_width(runs: pl.DataFrame, params: int, width: int, *, horizon: Callable[[pl.DataFrame], HorizonFit],
                  delta: float, x: np.ndarray, n_boot: int, seed: int, kind: str = "holdout",
                  l_hat_min: float = 0.0, bootstrap: str = "gaussian") -> Prediction:
    """The loss curve of `width` (`params` parameters) trained to C*(P), predicted from the compute-optimal
    runs of the other widths (`runs`: the fitted widths only), on the x grid `x` (C / C*, within every fitted
    run's x range; include 1 for the final loss).

    Point prediction (METHOD): the L_hat fit of `runs`' end points (Huber `delta`, L_hat >= `l_hat_min`, e.g.
    the data's entropy rate), C*(P) = horizon_compute(horizon(runs), params), ell* = master_curve.
    Band: `n_boot` replicates (RNG `seed`). `bootstrap="gaussian"` (default) redraws each width's seeds from its
    seed mean and the residuals of all fitted widths' seeds pooled (PooledResiduals); `"seeds"` resamples the
    seeds within each width with replacement (it undercovers at 3-4 seeds: see BOOTSTRAPS). Each replicate refits
    L_hat, a, b from the point fit (fit_end_points, as fit_lhat's bootstrap), calls `horizon` on the runs with
    seeds resampled within widths (run_end_horizon for runs without a sweep; fixed_horizon(fit) to hold a sweep's
    frontier fixed; or a function refitting it) and recomputes ell*. The band is the 2.5 / 97.5 percentiles per x
    at the Weibull positions p (B + 1), whose expected coverage is the nominal one at any B (numpy's default
    positions cover 91% at B = 50): n_boot = 39 gives the replicates' range. Replicates whose L_hat does not lie
    below every redrawn seed's end loss are skipped (counted in n_boot_skipped). Seed band: each half-width in
    quadrature with 1.96 sigma_raw(x) (L*(P) - L_hat), sigma_raw the pooled seed noise floor (seed_noise_floor).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if bootstrap not in BOOTSTRAPS:
        raise ValueError(f"bootstrap must be one of {tuple(BOOTSTRAPS)}, got {bootstrap!r}")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or x.size == 0 or np.any(np.diff(x) <= 0) or x[0] <= 0 or x[-1] > 1:
        raise ValueError("x must be an increasing grid in (0, 1]")
    curves = seed_curves(runs, x)
    if width in curves.widths:
        raise ValueError(f"width {width} is among the fitted runs {curves.widths}: leave the held-out width out")
    if len(curves.widths) < 3:
        raise ValueError(f"need runs of >= 3 widths to fit L_hat, got {curves.widths}")
    few = {w: y.shape[0] for w, y in zip(curves.widths, curves.loss) if y.shape[0] < 2}
    if few:
        raise ValueError(f"every fitted width needs >= 2 seeds for the band (the bootstrap resamples seeds): {few}")

    ends = end_points(curves.table)  # sorted by width, seed: the order of curves.end_loss
    fit = fit_end_points(ends, delta, l_hat_min=l_hat_min)
    master = _master(curves.loss, curves.end_loss, fit.l_hat)
    if not np.all(np.isfinite(master)):
        raise ValueError(f"L_hat = {fit.l_hat:.6g} is not below every seed's final loss; cannot normalize")
    h_fit = horizon(curves.table)
    c_star = horizon_compute(h_fit, params)
    loss = predict_curve(fit.l_hat, fit.a, fit.b, c_star, master, x)
    final = end_loss_at(fit.l_hat, fit.a, fit.b, c_star)
    sigma = seed_noise_floor(curves.loss, curves.end_loss, fit.l_hat)

    rng = np.random.default_rng(seed)
    pooled = PooledResiduals.of(curves, fit.l_hat)
    counts = [y.shape[0] for y in curves.loss]
    boot, boot_final, skipped = [], [], 0
    for _ in range(n_boot):
        picks, table = _resample(curves, rng)
        if bootstrap == "seeds":
            b_loss = [y[p] for y, p in zip(curves.loss, picks)]
            b_end = [e[p] for e, p in zip(curves.end_loss, picks)]
            b_fit = fit_end_points(end_points(table), delta, init=fit, l_hat_min=l_hat_min)
        else:
            b_loss, b_end = pooled.draw(counts, rng)
            b_fit = fit_end_points(_end_table(curves, b_end), delta, init=fit, l_hat_min=l_hat_min)
        b_master = _master(b_loss, b_end, b_fit.l_hat)
        if not np.all(np.isfinite(b_master)):
            skipped += 1
            continue
        b_c = horizon_compute(horizon(table), params)
        boot.append(predict_curve(b_fit.l_hat, b_fit.a, b_fit.b, b_c, b_master, x))
        boot_final.append(end_loss_at(b_fit.l_hat, b_fit.a, b_fit.b, b_c))
    q = [(1 - LEVEL) / 2 * 100, (1 + LEVEL) / 2 * 100]
    if boot:
        lo, hi = np.percentile(np.array(boot), q, axis=0, method="weibull")
        final_lo, final_hi = (float(v) for v in np.percentile(boot_final, q, method="weibull"))
    else:
        lo = hi = np.full(x.size, np.nan)
        final_lo = final_hi = float("nan")
    floor = Z * sigma * (final - fit.l_hat)
    lo_seed = loss - np.hypot(np.maximum(loss - lo, 0.0), floor)
    hi_seed = loss + np.hypot(np.maximum(hi - loss, 0.0), floor)
    return Prediction(width=int(width), params=int(params), horizon=c_star, x=x, loss=loss, lo=lo, hi=hi,
                      lo_seed=lo_seed, hi_seed=hi_seed, final_loss=final, final_lo=final_lo, final_hi=final_hi,
                      n_boot=len(boot), n_boot_skipped=skipped, method=METHOD[bootstrap], kind=kind,
                      l_hat=fit.l_hat, a=fit.a, b=fit.b, horizon_fit=h_fit, master=master, sigma_raw=sigma,
                      fitted_widths=tuple(curves.widths))


def score_prediction(actual: pl.DataFrame, pred_x: np.ndarray, pred_loss: np.ndarray, lo: np.ndarray | None,
                     hi: np.ndarray | None, l_hat: float, sigma_raw: float, x_min: float, *,
                     lo_seed: np.ndarray | None = None, hi_seed: np.ndarray | None = None) -> dict:
    """How far a predicted curve lies from a held-out width's trained seeds (`actual`: one width's runs).

    Each seed's curve is put on the prediction's grid by linear interpolation in x = C / C*_actual, C*_actual
    that seed's own final compute. Curves are not extrapolated: the grid is cut to `x_range`, from the latest
    first x of the seeds to 1; the scores use the grid points in [x_min, 1] within it.

    - rmse_over_reducible: RMSE over those x of (seed-mean actual - predicted), over the actual seed-mean
      reducible end loss (mean_seeds L(C*) - `l_hat`);
    - rmse_over_sigma: that over `sigma_raw` (the seed noise floor in the same units): 1 = the size of the noise;
    - final_loss_rel_error: (predicted final - actual seed-mean final) / actual seed-mean final; the prediction's
      final loss is its value at x = 1, which `pred_x` must end at;
    - band_coverage: the share of (seed, x) points of the actual seed curves inside [lo, hi] (None without a
      band, as for a baseline), seed_band_coverage the same for [lo_seed, hi_seed].
    """
    x = np.asarray(pred_x, dtype=np.float64)
    pred = np.asarray(pred_loss, dtype=np.float64)
    if pred.shape != x.shape or x.ndim != 1:
        raise ValueError(f"pred_loss shape {pred.shape} differs from pred_x shape {x.shape}")
    if not np.isclose(x[-1], 1.0, rtol=0, atol=1e-12):
        raise ValueError(f"the prediction's grid must end at x = 1 (its final loss), got {x[-1]:.6g}")
    if actual["width"].n_unique() != 1:
        raise ValueError(f"actual must hold one width's runs, got widths {sorted(actual['width'].unique().to_list())}")
    if not sigma_raw > 0:
        raise ValueError(f"sigma_raw must be positive, got {sigma_raw}")
    seeds = [(xs / xs[-1], y) for xs, y in (
        (s["compute"].to_numpy(), s["eval_loss"].to_numpy())
        for _, s in actual.sort("seed", "compute").group_by("seed", maintain_order=True))]
    first = max(xs[0] for xs, _ in seeds)
    keep = (x >= first) & (x <= 1.0)
    scored = keep & (x >= x_min)
    if not scored.any():
        raise ValueError(f"no grid point in [x_min = {x_min:g}, 1] within the actual curves' x range [{first:.4g}, 1]")
    curves = np.array([on_grid(xs, y, x[scored]) for xs, y in seeds])  # [seed, x]
    mean_end = float(np.mean([y[-1] for _, y in seeds]))
    reducible = mean_end - l_hat
    if not reducible > 0:
        raise ValueError(f"the actual seed-mean final loss {mean_end:.6g} is not above L_hat = {l_hat:.6g}")
    rmse = float(np.sqrt(np.mean((curves.mean(axis=0) - pred[scored]) ** 2)) / reducible)

    def coverage(low, high):
        if low is None or high is None:
            return None
        low, high = np.asarray(low, dtype=np.float64)[scored], np.asarray(high, dtype=np.float64)[scored]
        return float(np.mean((curves >= low) & (curves <= high)))

    return {"rmse_over_sigma": rmse / sigma_raw, "rmse_over_reducible": rmse,
            "final_loss_rel_error": float((pred[-1] - mean_end) / mean_end),
            "band_coverage": coverage(lo, hi), "seed_band_coverage": coverage(lo_seed, hi_seed),
            "x_range": [float(first), 1.0], "x_scored": [float(x[scored][0]), float(x[scored][-1])],
            "x_min": float(x_min), "n_x": int(scored.sum()),
            "n_seeds": len(seeds), "sigma_raw": float(sigma_raw), "l_hat": float(l_hat),
            "actual_final_loss": mean_end, "predicted_final_loss": float(pred[-1]), "actual_reducible_end": reducible}
