"""Rule predict's job (issue 15): held-out and unseen widths' loss curves predicted from a study's collapse, each
held-out one scored against its trained seeds beside the Chinchilla-form baseline (analysis/prediction.py,
analysis/chinchilla.py)."""

from __future__ import annotations

import logging

import numpy as np
import polars as pl

from ..analysis.chinchilla import fit_chinchilla
from ..analysis.collapse_study import study_grid
from ..analysis.horizon import HorizonFit, horizon_compute
from ..analysis.normalization import shared_grid
from ..analysis.prediction import METHOD, fixed_horizon, predict_width, score_prediction
from ..analysis.run_ends import end_computes, run_end_horizon
from ..io import read_json, write_json, write_table
from ..schemas import PREDICTION
from ..summary import RUN_ENDS
from .analysis import read_collapse_set, read_curves

log = logging.getLogger("supercollapse.prediction")

BOOTSTRAP = "gaussian"  # the band's resampling (analysis/prediction.py BOOTSTRAPS)
# Widths the L_hat fit needs once one is held out (3 parameters, one end point per width).
MIN_FITTED_WIDTHS = 3
BASELINE = ("Chinchilla-form fit L(P, t) = E + A P^-alpha + B t^-beta (Huber on log residuals, multi-start) to the "
            "constant-LR sweep curves of the fitted widths (without a sweep: to the fitted widths' compute-optimal "
            "runs), evaluated along the predicted run's tokens; it ignores the LR schedule")


def study_horizon(fit: HorizonFit, gamma_scale: float, horizon_scale: float) -> HorizonFit:
    """The frontier fit as the power law a study's runs were trained to: horizon_compute(fit, P, gamma_scale)
    times horizon_scale, for every P (the same law, its exponent and prefactor rewritten)."""
    if gamma_scale == 1.0 and horizon_scale == 1.0:
        return fit
    anchor = float(np.exp(np.mean(np.log(fit.points_params))))
    exponent = 1.0 + gamma_scale * fit.gamma
    at_anchor = horizon_scale * horizon_compute(fit, int(round(anchor)), gamma_scale)
    kappa = anchor / at_anchor ** (1.0 / exponent)
    return HorizonFit(kappa=kappa, gamma=exponent - 1.0, exponent_se=fit.exponent_se, r2=fit.r2,
                      r2_grid=fit.r2_grid, points_params=fit.points_params, points_compute=fit.points_compute)


def holdout_widths(widths: list[int], mode: str) -> tuple[list[int], list[str]]:
    """The widths held out under analysis.holdout, and why none are where too few widths remain."""
    if mode == "none":
        return [], []
    if len(widths) < MIN_FITTED_WIDTHS + 1:
        return [], [f"analysis.holdout: {mode} needs >= {MIN_FITTED_WIDTHS + 1} collapse widths ({MIN_FITTED_WIDTHS} "
                    f"must remain for the L_hat fit), this study has {widths}: no width held out"]
    return ([max(widths)] if mode == "largest" else sorted(widths)), []


def _baseline_curve(baseline_runs: pl.DataFrame, params: int, final_compute: float, x: np.ndarray, delta: float):
    """The Chinchilla-form fit and its curve along a run of `params` ending at `final_compute` (tokens = C / 6P)."""
    fit = fit_chinchilla(baseline_runs, delta)
    return fit, fit.predict(params, x * final_compute / (6.0 * params))


def prediction_stage(run_paths, sweep_paths, horizon_path, meta_path, table_path, scores_path, *, study: dict | None,
                     predict: list[tuple[int, int]], holdout: str, x_grid_min: float, x_grid_max: float, n_x: int,
                     x_min: float, x_max: float, delta: float, n_boot: int, seed: int) -> None:
    """Rule predict: `predict` (width, params) pairs never trained; `holdout` (analysis.holdout) the trained
    widths left out of every fit in turn. `study`: the study config (gamma_scale and horizon_scale of its
    horizons), None for an external task (its horizons are its runs'). Writes the curves (schema PREDICTION plus
    loss_baseline) and the scores (JSON)."""
    runs, seeds = read_collapse_set(run_paths)
    healthy = seeds.runs
    horizon = read_json(horizon_path)
    floor = None if meta_path is None else read_json(meta_path).get("entropy_floor_nats_per_token")
    if horizon.get("source") == RUN_ENDS:
        horizon_of = run_end_horizon
    else:
        fit = HorizonFit.from_dict(horizon)
        horizon_of = fixed_horizon(fit if study is None else
                                   study_horizon(fit, study["gamma_scale"], study["horizon_scale"]))
    sweep = read_curves(sweep_paths).runs if sweep_paths else None
    widths = sorted(healthy["width"].unique().to_list())
    held, warnings = holdout_widths(widths, holdout)
    for warning in warnings:
        log.warning("%s", warning)
    grid = shared_grid(healthy, np.union1d(study_grid(x_grid_min, x_grid_max, n_x, x_min, x_max), [1.0]),
                       (x_min, x_max))
    tables, records = [], []
    cases = [(w, "holdout") for w in held] + [(w, "predicted") for w, _ in predict]
    params_of = dict(predict) | dict(healthy.select("width", "params").unique().iter_rows())
    for width, kind in cases:
        fitted = healthy.filter(pl.col("width") != width)
        pred = predict_width(fitted, params_of[width], width, horizon=horizon_of, delta=delta, x=grid, n_boot=n_boot,
                             seed=seed, kind=kind, l_hat_min=0.0 if floor is None else float(floor),
                             bootstrap=BOOTSTRAP)
        base_runs = fitted if sweep is None else sweep.filter(pl.col("width") != width)
        record = pred.to_dict()
        actual = healthy.filter(pl.col("width") == width)
        final = end_computes(actual)["compute"][0] if kind == "holdout" else pred.horizon  # where its runs end
        base_fit, base_curve = _baseline_curve(base_runs, params_of[width], final, grid, delta)
        record["baseline"] = base_fit.to_dict()
        if kind == "holdout":
            sigma = float(np.mean(pred.sigma_raw[(grid >= x_min) & (grid <= x_max)]))
            record["scores"] = score_prediction(actual, grid, pred.loss, pred.lo, pred.hi, pred.l_hat, sigma, x_min,
                                                lo_seed=pred.lo_seed, hi_seed=pred.hi_seed)
            record["baseline_scores"] = score_prediction(actual, grid, base_curve, None, None, pred.l_hat, sigma,
                                                         x_min)
            s, b = record["scores"], record["baseline_scores"]
            log.info("held-out width %d: RMSE/sigma_raw %.3g (baseline %.3g), final-loss error %+.3g%% (baseline "
                     "%+.3g%%), band coverage %.0f%%", width, s["rmse_over_sigma"], b["rmse_over_sigma"],
                     100 * s["final_loss_rel_error"], 100 * b["final_loss_rel_error"], 100 * s["band_coverage"])
        records.append(record)
        tables.append(pl.from_arrow(pred.to_table()).with_columns(pl.Series("loss_baseline", base_curve)))
    empty = pl.from_arrow(PREDICTION.empty_table()).with_columns(pl.lit(None, pl.Float64).alias("loss_baseline"))
    out = pl.concat(tables) if tables else empty
    write_table(table_path, out.to_arrow())
    write_json(scores_path, {"method": METHOD[BOOTSTRAP], "baseline_method": BASELINE, "holdout": holdout,
                             "x_grid": list(grid), "predictions": records, "warnings": warnings,
                             "seeds_used": {str(w): s for w, s in seeds.seeds_used.items()},
                             "diverged": runs.diverged})

