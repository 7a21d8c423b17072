"""The usual-practice baseline of issue 15: a Chinchilla law L(P, t) = E + A P^-alpha + B t^-beta fitted to
constant-LR sweep curves, which then predicts a held-out width's loss curve.

P is the parameter count, t the tokens seen (samples for the MLP task), L the eval loss. The law has no
notion of the LR schedule: a held-out run's predicted curve depends only on its (P, t), which is what the
collapse-based prediction is compared against.

The fit follows Hoffmann et al. (2022), Approach 3: log L_pred = LSE(a - alpha log P, b - beta log t, e) with
A = exp(a), B = exp(b), E = exp(e), a Huber loss (scaling_fit.huber) on the log residuals, and L-BFGS-B from
a grid of starting points keeping the best (scaling_fit.minimize_from_starts, as the L_hat fit does).
To predict a held-out width: `fit_chinchilla` on the other widths, then `ChinchillaFit.predict(params,
tokens)` with the held-out run's parameter count and tokens (steps x tokens per step). The fit reports its
objective and residual but no CIs yet (a bootstrap over seeds, as lhat.py does, would give them).
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import numpy as np
import polars as pl

from .scaling_fit import MAX_EXPONENT, huber, minimize_from_starts

MAX_POINTS_PER_RUN = 50
REQUIRED_COLUMNS = ("width", "params", "seed", "step", "eval_loss", "diverged")

# The start grid, in the rescaled units of the fit (see `fit_chinchilla`): E as a fraction of the smallest
# loss, the share of the reducible loss at the reference (P, t) carried by the A term, and the exponents.
E_FRACS = (0.1, 0.5, 0.9)
A_SHARES = (0.2, 0.5, 0.8)
EXPONENT_STARTS = (0.1, 0.3, 0.7)


@dataclass(frozen=True)
class ChinchillaFit:
    """L(P, t) = e + a P^-alpha + b t^-beta, P in parameters, t in tokens seen, L in the task's loss units."""

    e: float  # E, the irreducible loss
    a: float  # A, for P in parameters
    alpha: float
    b: float  # B, for t in tokens
    beta: float
    loss: float  # the Huber objective at the optimum (sum over the fitted points)
    rms_log_residual: float  # sqrt(mean (log L_pred - log L)^2) over the fitted points
    n_points: int  # (width, step) points fitted: seed means, at most max_points_per_run per width
    n_widths: int
    n_starts: int
    converged: bool  # L-BFGS-B reported success from the best start
    at_exponent_bound: bool  # alpha or beta sits on 0 or MAX_EXPONENT: the fit is degenerate there
    huber_delta: float
    n_tokens_from_compute: int  # fitted points whose t came from compute / (6 params): tokens was null

    def predict(self, params, tokens) -> np.ndarray:
        """Loss at parameter count(s) `params` after `tokens` tokens seen (broadcast; steps x tokens per step)."""
        p = np.asarray(params, dtype=np.float64)
        t = np.asarray(tokens, dtype=np.float64)
        return self.e + self.a * p ** (-self.alpha) + self.b * t ** (-self.beta)

    def to_dict(self) -> dict:
        return asdict(self)


def curve_points(runs: pl.DataFrame, max_points_per_run: int = MAX_POINTS_PER_RUN) -> pl.DataFrame:
    """The points the fit uses: (width, params, tokens, eval_loss, n_seeds), one per (width, step).

    Healthy rows (diverged false) with step > 0 and a finite positive loss; t = tokens where known, else
    compute / (6 params), the tokens of the 6PD convention (external runs may lack tokens). The loss is the mean
    over the seeds evaluated at that step. A width with more than `max_points_per_run` steps keeps those
    nearest to an even grid in log t (fewer when the grid picks a step twice), so the fit stays fast and a
    densely evaluated run does not outweigh the others.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in runs.columns]
    if "tokens" not in runs.columns and "compute" not in runs.columns:
        missing.append("tokens or compute")
    if missing:
        raise ValueError(f"the run table lacks the column(s) {missing}")
    tokens = pl.col("tokens").cast(pl.Float64) if "tokens" in runs.columns else pl.lit(None, pl.Float64)
    from_compute = (pl.col("compute").cast(pl.Float64) / (6.0 * pl.col("params").cast(pl.Float64))
                    if "compute" in runs.columns else pl.lit(None, pl.Float64))
    rows = (runs.filter(~pl.col("diverged").fill_null(False) & (pl.col("step") > 0))
            .with_columns(t=pl.coalesce(tokens, from_compute), t_from_compute=tokens.is_null(),
                          eval_loss=pl.col("eval_loss").cast(pl.Float64))
            .filter(pl.col("t").is_finite() & (pl.col("t") > 0) & pl.col("eval_loss").is_finite()
                    & (pl.col("eval_loss") > 0)))
    if rows.height == 0:
        raise ValueError("no finite points to fit: need healthy rows (diverged false) with step > 0, a finite "
                         "positive eval_loss, and tokens or compute")
    means = (rows.group_by("width", "params", "step")
             .agg(pl.col("t").mean().alias("tokens"), pl.col("eval_loss").mean(), pl.len().alias("n_seeds"),
                  pl.col("t_from_compute").any())
             .sort("width", "tokens"))
    kept = []
    for _, g in means.group_by("width", "params", maintain_order=True):
        if g.height > max_points_per_run:
            log_t = np.log(g["tokens"].to_numpy())
            grid = np.linspace(log_t[0], log_t[-1], max_points_per_run)
            g = g[np.unique(np.abs(log_t[None, :] - grid[:, None]).argmin(axis=1))]
        kept.append(g)
    return pl.concat(kept)


def fit_chinchilla(runs: pl.DataFrame, delta: float = 1e-3,
                   max_points_per_run: int = MAX_POINTS_PER_RUN) -> ChinchillaFit:
    """Fit L(P, t) = E + A P^-alpha + B t^-beta to the curves of `runs` (schema CURVES), ignoring the schedule.

    Points: `curve_points` (t = tokens seen, or compute / (6 params) where tokens is null). Seeds are averaged
    per (width, step) before the fit rather than fitted point by point, as the L_hat fit does with its end
    points: every width weighs the same whatever its number of healthy seeds, and the Huber threshold `delta`
    applies to a residual whose seed noise is already reduced. The cost is that a single bad seed is not
    down-weighted by the Huber loss; diverged seeds are dropped beforehand.

    Numerics: P and t are divided by their geometric means over the points (P_ref, t_ref) inside the fit, so
    that a and b are the log of each term at the centre of the data and the gradient in alpha, beta is not
    scaled by log P ~ 20; the reported A, B are for P in parameters and t in tokens (A = A_ref P_ref^alpha).
    alpha and beta are bounded to [0, MAX_EXPONENT]; a, b, e are free. Starts: the grid E_FRACS x A_SHARES x
    EXPONENT_STARTS^2 (81 starts).
    """
    pts = curve_points(runs, max_points_per_run)
    n_widths = pts["params"].n_unique()
    if n_widths < 2:
        raise ValueError(f"need at least 2 widths (distinct params) with finite points, got {n_widths}")
    if pts.height < 5:
        raise ValueError(f"need at least 5 finite (width, step) points for 5 parameters, got {pts.height}")
    p = pts["params"].to_numpy().astype(np.float64)
    t = pts["tokens"].to_numpy()
    y = pts["eval_loss"].to_numpy()
    log_p_ref, log_t_ref = float(np.mean(np.log(p))), float(np.mean(np.log(t)))
    x = np.log(p) - log_p_ref  # log(P / P_ref)
    u = np.log(t) - log_t_ref  # log(t / t_ref)
    log_y = np.log(y)

    cache = {}

    def evaluate(theta):
        """(objective, gradient) at theta = (e, a, alpha, b, beta), rescaled units; cached, as L-BFGS-B asks
        for both at each point."""
        key = tuple(theta)
        if key not in cache:
            e, a, alpha, b, beta = theta
            z = np.stack([np.full_like(x, e), a - alpha * x, b - beta * u])
            z_max = z.max(axis=0)
            ez = np.exp(z - z_max)
            total = ez.sum(axis=0)
            r = z_max + np.log(total) - log_y  # log L_pred - log L, log L_pred = LSE(z)
            w = ez / total  # d LSE / d z_k
            dh = np.clip(r, -delta, delta)  # Huber'(r)
            grad = np.array([dh @ w[0], dh @ w[1], -(dh * w[1]) @ x, dh @ w[2], -(dh * w[2]) @ u])
            cache.clear()
            cache[key] = (float(np.sum(huber(r, delta))), grad, r)
        return cache[key]

    y_min, y_mid = float(y.min()), float(np.exp(np.mean(log_y)))
    starts = []
    for frac, share, alpha0, beta0 in itertools.product(E_FRACS, A_SHARES, EXPONENT_STARTS, EXPONENT_STARTS):
        e0 = frac * y_min
        reducible = max(y_mid - e0, 1e-3 * y_mid)  # of the law at (P_ref, t_ref), shared between the A and B terms
        starts.append((np.log(e0), np.log(share * reducible), alpha0, np.log((1 - share) * reducible), beta0))
    bounds = [(None, None), (None, None), (0.0, MAX_EXPONENT), (None, None), (0.0, MAX_EXPONENT)]
    best = minimize_from_starts(lambda th: evaluate(th)[0], lambda th: evaluate(th)[1], starts, bounds)
    e, a_ref, alpha, b_ref, beta = (float(v) for v in best.x)
    r = evaluate(best.x)[2]
    bound_hit = any(min(v, MAX_EXPONENT - v) < 1e-8 for v in (alpha, beta))
    return ChinchillaFit(
        e=float(np.exp(e)), a=float(np.exp(a_ref + alpha * log_p_ref)), alpha=alpha,
        b=float(np.exp(b_ref + beta * log_t_ref)), beta=beta, loss=float(best.fun),
        rms_log_residual=float(np.sqrt(np.mean(r**2))), n_points=pts.height, n_widths=n_widths,
        n_starts=len(starts), converged=bool(best.success), at_exponent_bound=bound_hit, huber_delta=delta,
        n_tokens_from_compute=int(pts["t_from_compute"].sum()))
