"""The noise-model stage of the schedule study: curves (with noise traces) in, α with CI and RMSEs out."""

from __future__ import annotations

import logging

import polars as pl
import pyarrow as pa

from ..io import read_table, write_json, write_table
from ..schemas import CURVES, NOISE_PREDICTIONS, NOISE_RMSE
from .noise_model import (
    alpha_by_run,
    bootstrap_alpha,
    design,
    out_of_sample_ratio,
    pooled_rmse_ratio,
    run_rmse,
    seed_mean_rmse_ratio,
    with_prediction,
)

log = logging.getLogger("supercollapse.analysis")


def read_schedule_run(path, schedule: str, decay_frac: float) -> pl.DataFrame:
    """One schedule-study run's curves, labelled with its (schedule, decay_frac); diverged seeds dropped."""
    df = pl.from_arrow(read_table(path, CURVES))
    if not df["noise_trace"].is_finite().any():
        raise ValueError(f"{path}: no finite noise_trace; the schedule study's runs must measure it (noise_examples > 0)")
    if set(df["schedule"].unique()) != {schedule}:
        raise ValueError(f"{path}: expected schedule {schedule!r}, the curves say {sorted(df['schedule'].unique())}")
    for seed in df.filter(pl.col("diverged"))["seed"].unique():
        log.warning("%s: excluding diverged seed %d", path, seed)
    return df.filter(~pl.col("diverged")).with_columns(pl.lit(float(decay_frac)).alias("decay_frac"))


def noise_model_stage(runs: list[tuple[str, str, float]], alpha_path, rmse_path, predictions_path, task: str,
                      n_boot: int, seed: int, level: float = 0.95, extra: dict | None = None) -> dict:
    """Fit one α for the task over every scheduled run and score the predictions.

    `runs`: (path, schedule, decay_frac) of every run of the study, exactly one of them with schedule
    "const" (the reference). Writes α with its seed-bootstrap CI and the pooled RMSEs (JSON), per-run RMSEs
    (schema NOISE_RMSE) and every prediction (schema NOISE_PREDICTIONS). Returns the JSON's content.
    """
    const = [r for r in runs if r[1] == "const"]
    if len(const) != 1:
        raise ValueError(f"the schedule study needs exactly one 'const' run as its reference, got {len(const)}")
    if len(runs) < 2:
        raise ValueError("the schedule study needs at least one scheduled run beside 'const'")
    ref = read_schedule_run(*const[0])
    scheduled = pl.concat([read_schedule_run(*r) for r in runs if r[1] != "const"], how="vertical_relaxed")
    d = design(ref, scheduled)
    points = d.filter(pl.col("in_fit"))
    fit = bootstrap_alpha(points, n_boot=n_boot, seed=seed, level=level)
    pooled = pooled_rmse_ratio(points, fit.alpha)
    held_out = out_of_sample_ratio(points)
    seed_mean = seed_mean_rmse_ratio(points, fit.alpha)
    log.info("alpha = %.4f [%.4f, %.4f] over %d seeds; pooled RMSE baseline %.3g, model %.3g (ratio %.2f; "
             "out of sample %.2f; seed-mean curves %.2f)", fit.alpha, *fit.ci, fit.n_seeds, pooled["rmse_baseline"],
             pooled["rmse_model"], pooled["ratio"], held_out["ratio"] or float("nan"), seed_mean["ratio"])

    per_run = run_rmse(points, fit.alpha).with_columns(pl.lit(task).alias("task"))
    write_table(rmse_path, pa.Table.from_pandas(per_run.select(NOISE_RMSE.names).to_pandas(), schema=NOISE_RMSE,
                                                preserve_index=False))
    preds = with_prediction(d, fit.alpha).with_columns(pl.lit(task).alias("task"))
    write_table(predictions_path, pa.Table.from_pandas(preds.select(NOISE_PREDICTIONS.names).to_pandas(),
                                                       schema=NOISE_PREDICTIONS, preserve_index=False))
    out = {
        "task": task,
        "alpha": fit.alpha,
        "alpha_ci": list(fit.ci),
        "ci_level": fit.level,
        "ci_method": "percentile bootstrap over seeds (each seed with all its runs)",
        "n_boot": fit.n_boot,
        "n_seeds": fit.n_seeds,
        "n_points": fit.n_points,
        "alpha_by_run": alpha_by_run(points),
        "pooled": pooled,
        "out_of_sample": held_out,
        "seed_mean_curves": seed_mean,
        "runs": [{"schedule": s, "decay_frac": float(f)} for _, s, f in runs],
        "model": "L(t) = L_const(tau(t)) + alpha (eta(t)/eta_peak - 1) Tr(P^-1 Sigma)(t); L_const interpolated "
                 "in (log tau, log L) from the same seed's constant-LR run; RMSEs over the decay phase",
        **(extra or {}),
    }
    write_json(alpha_path, out)
    return out
