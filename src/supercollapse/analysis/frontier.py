"""Compute-optimal frontier from constant-LR runs and the horizon fit C*(P) = (P / kappa)^(1 + gamma).

Method (DESIGN §3, the paper's): seed-average each width's curve; interpolate log L against log C; on a
log-spaced compute grid take the lower envelope over widths and its argmin width; drop grid points whose
argmin is the smallest or the largest sweep width (the optimum may lie outside the sweep there).
Censoring (ours): a curve that ends while it is still the envelope's argmin was never overtaken, so beyond
its end the argmin is unknown (the next width "wins" only because the curve stopped). Grid points past the
first such end are marked censored and left out of the fit. Without this, equal-length sweeps put the
argmin switches at the curves' end points, C proportional to P, and the fit returns a meaningless gamma.
That width's own argmin points are marked truncated and, by default, left out too: its interval ends
where its run stopped, not where a wider model overtook it, so its centre would sit too low by an amount
set by the sweep length. `truncated="include"` keeps them (their horizons are then lower bounds), for
sweeps where a width is never overtaken within any affordable run (stated in horizon.json).
Initial transient (ours): at the start of training every width sits on the same plateau (zero-initialised
readouts), where the argmin hops between widths by noise; an argmin there says nothing about the frontier but
would pull its width's centre far down. Grid points before the envelope's loss first falls by
TRANSIENT_DROP of its whole fall over the grid (from its first point to its minimum) are marked transient
and left out of the fit.
The paper regresses log C on log P over all remaining grid points. With few widths that regression mixes
the spread of C *within* one width's argmin interval (a discretisation artifact) into the residuals, so we
fit one point per width, in one of two ways (`points`); the R^2 over all grid points is reported beside it.
- "centres": one point per interior width, at the geometric centre of its argmin interval, weighted by the
  interval's length in grid points. Its slope is exact for widths evenly spaced in log P; with uneven
  spacing each centre leans toward its farther neighbour (on Chinchilla ladders of widths 16-96 alternating
  ratios 1.5 and 4/3: 1 + gamma 2 % high without noise; tests/test_frontier.py).
- "crossings": one point per pair of adjacent widths, where the wider curve overtakes the narrower (log L
  interpolated linearly in log C between grid points; with several sign changes, their median), at the
  geometric mean of the two parameter counts, weights equal. The crossing of P and rP sits at
  C*(sqrt(r) P) times a factor set by r alone (1 at r -> 1), so uneven spacing moves it far less (0.02 % on
  the same ladders). A crossing needs both runs to extend past it, so censoring and truncation do not
  apply; the initial transient does.
Units: compute in FLOPs, P in parameters, so kappa is in parameters with C* in FLOPs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .horizon import HorizonFit


# Fraction of the envelope's fall in loss (first grid point to minimum) that ends the initial transient.
TRANSIENT_DROP = 0.05


@dataclass(frozen=True)
class Envelope:
    compute: np.ndarray  # FLOPs, log-spaced grid
    loss: np.ndarray
    params: np.ndarray  # argmin parameter count at each grid point
    interior: np.ndarray  # bool: argmin neither the smallest nor the largest width, not censored, truncated
    # (unless included) or transient
    censored: np.ndarray  # bool: past the end of a curve that was still the argmin when it ended
    truncated: np.ndarray  # bool: the argmin width is one whose curve ended while it was the argmin
    transient: np.ndarray  # bool: before the envelope's loss first falls by TRANSIENT_DROP of its fall
    sizes: np.ndarray  # parameter counts of the sweep widths, ascending
    log_loss: np.ndarray  # [width (as sizes), grid point]: log loss; +inf outside a curve's compute range


def log_curves(curves: dict[int, tuple[np.ndarray, np.ndarray]]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """params -> (log C, log L) over each curve's finite, positive points (at least 2 required)."""
    logs = {}
    for p, (c, loss) in curves.items():
        keep = (c > 0) & np.isfinite(loss) & (loss > 0)
        if keep.sum() < 2:
            raise ValueError(f"sweep curve with {p} params has fewer than 2 finite points")
        logs[p] = (np.log(c[keep]), np.log(loss[keep]))
    return logs


def log_loss_table(logs: dict[int, tuple[np.ndarray, np.ndarray]], log_grid: np.ndarray) -> np.ndarray:
    """[width (params ascending), grid point] log loss interpolated in log C; +inf outside a curve's range."""
    table = np.full((len(logs), log_grid.size), np.inf)
    for i, p in enumerate(sorted(logs)):
        lc, ll = logs[p]
        inside = (log_grid >= lc[0]) & (log_grid <= lc[-1])
        table[i, inside] = np.interp(log_grid[inside], lc, ll)
    return table


TRUNCATED_POLICIES = ("exclude", "include")


def lower_envelope(curves: dict[int, tuple[np.ndarray, np.ndarray]], n_grid: int = 200,
                   truncated: str = "exclude") -> Envelope:
    """Lower envelope over widths of seed-mean loss curves.

    `curves` maps a parameter count to (compute, loss) arrays (compute > 0, increasing). The grid spans the
    compute range covered by at least two curves; a curve contributes only inside its own compute range.
    `truncated`: whether the argmin points of a width whose curve ended while it was the argmin count as
    interior ("include") or not ("exclude", the default); they are marked either way.
    """
    if truncated not in TRUNCATED_POLICIES:
        raise ValueError(f"truncated must be one of {TRUNCATED_POLICIES}, got {truncated!r}")
    if len(curves) < 3:
        raise ValueError(f"the frontier needs at least 3 sweep widths, got {len(curves)}")
    logs = log_curves(curves)
    lo = sorted(v[0][0] for v in logs.values())[1]
    hi = max(v[0][-1] for v in logs.values())
    grid = np.linspace(lo, hi, n_grid)
    sizes = np.array(sorted(logs))
    table = log_loss_table(logs, grid)
    best = np.argmin(table, axis=0)
    loss = np.exp(table[best, np.arange(n_grid)])
    censored = np.zeros(n_grid, dtype=bool)
    cut = np.zeros(n_grid, dtype=bool)  # argmin points of widths whose curve ended while best
    for i in range(len(sizes)):
        inside = np.flatnonzero(np.isfinite(table[i]))
        if inside.size and best[inside[-1]] == i:
            censored[inside[-1] + 1:] = True
            cut |= best == i
    threshold = loss[0] - TRANSIENT_DROP * (loss[0] - loss.min())
    transient = np.arange(n_grid) < np.argmax(loss <= threshold)
    interior = (best > 0) & (best < len(sizes) - 1) & ~censored & ~transient
    if truncated == "exclude":
        interior &= ~cut
    return Envelope(compute=np.exp(grid), loss=loss, params=sizes[best], interior=interior, censored=censored,
                    truncated=cut, transient=transient, sizes=sizes, log_loss=table)


def argmin_points(envelope: Envelope) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One point per interior argmin width: (params, mean log C over its grid points, its grid-point count)."""
    p_int = envelope.params[envelope.interior]
    c_int = envelope.compute[envelope.interior]
    widths = np.unique(p_int)
    if widths.size < 2:
        raise ValueError(
            f"frontier: only {widths.size} interior argmin width(s) on the envelope "
            f"({int(envelope.censored.sum())} of {envelope.censored.size} grid points censored, "
            f"{int(envelope.truncated.sum())} truncated because a curve ended while still the best, "
            f"{int(envelope.transient.sum())} in the initial transient); the sweep "
            "needs more widths, or longer constant-LR runs "
            "(tasks.<task>.sweep.steps) so larger widths overtake smaller ones before the smaller runs end")
    log_c = np.array([np.log(c_int[p_int == p]).mean() for p in widths])
    weight = np.array([(p_int == p).sum() for p in widths], dtype=np.float64)
    return widths, log_c, weight


def crossing_points(envelope: Envelope) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One point per pair of adjacent widths that cross after the initial transient: (geometric mean of their
    parameter counts, log C of the crossing, weight 1)."""
    log_grid = np.log(envelope.compute)
    params, log_c = [], []
    for i in range(envelope.sizes.size - 1):
        with np.errstate(invalid="ignore"):  # inf - inf outside both curves: NaN, not usable
            gap = envelope.log_loss[i] - envelope.log_loss[i + 1]  # > 0 where the wider model is lower
        usable = np.isfinite(gap) & ~envelope.transient
        k = np.flatnonzero(usable[:-1] & usable[1:] & ((gap[:-1] > 0) != (gap[1:] > 0)))
        if k.size:
            zero = log_grid[k] + (log_grid[k + 1] - log_grid[k]) * gap[k] / (gap[k] - gap[k + 1])
            params.append(np.sqrt(float(envelope.sizes[i]) * float(envelope.sizes[i + 1])))
            log_c.append(float(np.median(zero)))
    if len(params) < 2:
        raise ValueError(
            f"frontier: only {len(params)} pair(s) of adjacent sweep widths cross after the initial transient "
            f"({int(envelope.transient.sum())} of {envelope.transient.size} grid points); the horizon fit needs 2: "
            "longer constant-LR runs (tasks.<task>.sweep.steps) so that wider models overtake narrower ones, "
            "or more widths")
    return np.array(params), np.array(log_c), np.ones(len(params))


POINTS = ("centres", "crossings")


def horizon_points(envelope: Envelope, points: str = "centres") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(params, log C, weight) of the points the horizon line is fitted to (module docstring)."""
    if points not in POINTS:
        raise ValueError(f"points must be one of {POINTS}, got {points!r}")
    return argmin_points(envelope) if points == "centres" else crossing_points(envelope)


def fit_horizon(envelope: Envelope, points: str = "centres") -> HorizonFit:
    """Least-squares fit of log C = (1 + gamma) (log P - log kappa) to the envelope's `points`."""
    widths, log_c, weight = horizon_points(envelope, points)
    log_p = np.log(widths.astype(np.float64))
    slope, intercept, slope_se = _weighted_line(log_p, log_c, weight)
    r2 = _r2(log_c, slope * log_p + intercept, weight)
    p_int = envelope.params[envelope.interior]
    c_int = envelope.compute[envelope.interior]
    r2_grid = (_r2(np.log(c_int), slope * np.log(p_int.astype(np.float64)) + intercept, np.ones(c_int.size))
               if c_int.size else float("nan"))
    as_number = int if points == "centres" else float
    return HorizonFit(kappa=float(np.exp(-intercept / slope)), gamma=float(slope - 1.0),
                      exponent_se=float(slope_se), r2=float(r2), r2_grid=float(r2_grid),
                      points_params=[as_number(p) for p in widths], points_compute=[float(v) for v in np.exp(log_c)])


def line_through(log_p: np.ndarray, log_c: np.ndarray, weight: np.ndarray) -> tuple[float, float]:
    """(kappa, gamma) of the weighted line log C = (1 + gamma)(log P - log kappa) through argmin points."""
    slope, intercept, _ = _weighted_line(log_p, log_c, weight)
    return float(np.exp(-intercept / slope)), float(slope - 1.0)


def _weighted_line(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float, float]:
    xm, ym = np.average(x, weights=w), np.average(y, weights=w)
    sxx = np.sum(w * (x - xm) ** 2)
    slope = np.sum(w * (x - xm) * (y - ym)) / sxx
    intercept = ym - slope * xm
    dof = x.size - 2
    if dof > 0:
        resid_var = np.sum(w * (y - intercept - slope * x) ** 2) / dof / np.mean(w)
        se = float(np.sqrt(resid_var / (sxx / np.mean(w))))
    else:
        se = float("nan")
    return float(slope), float(intercept), se


def _r2(y: np.ndarray, pred: np.ndarray, w: np.ndarray) -> float:
    ym = np.average(y, weights=w)
    ss_tot = np.sum(w * (y - ym) ** 2)
    return float(1.0 - np.sum(w * (y - pred) ** 2) / ss_tot) if ss_tot > 0 else float("nan")
