"""The analysis rules' jobs: Parquet curves in, fits and statistics out (never imports training code).

Each stage reads its inputs, calls the pure functions of supercollapse.analysis and writes what they return.
"""

from __future__ import annotations

import logging

import polars as pl

from ..analysis.collapse_study import collapse_study, studies_table
from ..analysis.lhat import end_points, fit_lhat
from ..analysis.noise_model import fit_noise_model, reference_run
from ..analysis.normalization import normalized_curves
from ..analysis.run_set import EqualSeeds, RunSet, equal_seeds, run_set
from ..analysis.sweep_frontier import sweep_frontier
from ..analysis.theory import PowerLawTerm, theory_curves
from ..io import read_json, read_table, write_json, write_table
from ..schemas import CURVES

log = logging.getLogger("supercollapse.analysis")


def read_curves(paths) -> RunSet:
    """The curve artifacts of one stage, split into healthy and diverged runs (each logged)."""
    runs = run_set(pl.concat([pl.from_arrow(read_table(p, CURVES)) for p in paths]))
    for warning in runs.warnings():
        log.warning("%s", warning)
    return runs


def read_collapse_set(paths) -> tuple[RunSet, EqualSeeds]:
    """A study's runs as the L_hat fit and the collapse statistics both use them (analysis/run_set.py)."""
    runs = read_curves(paths)
    seeds = equal_seeds(runs)
    for warning in seeds.warnings():
        log.warning("%s", warning)
    return runs, seeds


def run_records(runs: RunSet, seeds: EqualSeeds | None = None) -> dict:
    """What a stage's JSON output records of the runs it used."""
    out = {"diverged": runs.diverged}
    return out if seeds is None else {**out, "seeds_used": {str(w): s for w, s in seeds.seeds_used.items()}}


def _noting_divergence(runs: RunSet, compute, *args, **kwargs):
    """compute(*args, **kwargs); an error it raises says which runs diverged, if any did."""
    try:
        return compute(*args, **kwargs)
    except ValueError as err:
        if not runs.diverged:
            raise
        raise ValueError(f"{err}{runs.note()}") from err


def frontier_stage(sweep_paths, horizon_path, envelope_path, n_grid: int, n_boot: int, seed: int, truncated: str,
                   points: str, extra: dict) -> None:
    """Rule fit_frontier: the sweep's envelope (schema FRONTIER) and horizon fit (JSON, with `extra`)."""
    runs = read_curves(sweep_paths)
    front = _noting_divergence(runs, sweep_frontier, runs.runs, n_grid, n_boot, seed, truncated=truncated,
                               points=points)
    if front.truncated_widths and points == "centres":  # a crossing is one, however the runs end
        log.warning("frontier: widths %s were still the argmin when their sweep runs ended, so their argmin "
                    "intervals are cut by the sweep, not by a crossing; %s (tasks.<task>.sweep.truncated); "
                    "longer runs of them (sweep.steps_by_width) would bracket them", front.truncated_widths,
                    "left out of the fit" if truncated == "exclude" else "kept in the fit: their horizons are "
                    "lower bounds")
    fit, iso = front.fit, front.isoflop
    if iso is None:
        log.warning("%s", front.isoflop_error)
    else:
        ratios = front.isoflop_horizon_ratios
        log.info("isoflop: gamma %.4f +- %.4f (envelope %.4f); horizon ratio isoflop/envelope %.3f-%.3f",
                 iso.gamma, iso.exponent_se, fit.gamma, min(ratios), max(ratios))
    write_table(envelope_path, front.envelope_table())
    write_json(horizon_path, {**front.to_dict(), **run_records(runs), "warnings": runs.warnings(), **extra})
    log.info("horizon fit: kappa %.4g, gamma %.4f +- %.4f (seed bootstrap %s, width bootstrap %s, %d of %d "
             "failed), R2 %.4f (grid R2 %.4f)", fit.kappa, fit.gamma, fit.exponent_se, front.bootstrap.gamma_ci,
             front.bootstrap_widths.gamma_ci, front.bootstrap_widths.failed, n_boot, fit.r2, fit.r2_grid)


def lhat_stage(run_paths, meta_path, out_path, delta: float, n_boot: int, seed: int) -> None:
    """Rule fit_lhat: L = L_hat + a C^-b on the runs' end points, bounded below by the data's entropy rate
    where its meta.json knows it (token tasks; the Fourier task has none; an external task has no meta.json)."""
    floor = None if meta_path is None else read_json(meta_path).get("entropy_floor_nats_per_token")
    runs, seeds = read_collapse_set(run_paths)
    lhat = _noting_divergence(runs, fit_lhat, end_points(seeds.runs), delta, n_boot, seed,
                              entropy_floor=None if floor is None else float(floor))
    write_json(out_path, {**lhat.to_dict(), **run_records(runs, seeds)})
    log.info("L_hat %.6g [%.6g, %.6g], a %.4g, b %.4g", lhat.fit.l_hat, *lhat.l_hat_ci, lhat.fit.a, lhat.fit.b)
    if lhat.entropy_floor is not None:
        log.info("entropy floor of the data %.6g nats/token: L_hat - floor = %.4g", lhat.entropy_floor,
                 lhat.fit.l_hat - lhat.entropy_floor)
        if lhat.at_entropy_floor:
            log.warning("L_hat sits on the entropy floor (its lower bound): the end points would put it lower")


def collapse_stage(run_paths, lhat_path, normalized_path, stats_path, summary_path, sensitivity_path, *,
                   x_grid_min: float, x_grid_max: float, n_x: int, x_min: float, x_max: float, n_boot: int,
                   seed: int, warnings: list[str]) -> None:
    """Rule collapse_stats: normalized curves, Delta/sigma per x, their window summary and L_hat sensitivity.
    `warnings`: what the config allowed that weakens the study (config_checks.collapse_warnings), logged and
    recorded in summary.json."""
    for warning in warnings:
        log.warning("%s", warning)
    runs, seeds = read_collapse_set(run_paths)
    lhat = read_json(lhat_path)
    l_hat = float(lhat["l_hat"])
    study = _noting_divergence(runs, collapse_study, seeds.runs, l_hat, lhat["ci"]["l_hat"], x_grid_min=x_grid_min,
                               x_grid_max=x_grid_max, n_x=n_x, x_min=x_min, x_max=x_max, n_boot=n_boot, seed=seed)
    # Every healthy seed's normalized curve (the figure's); the statistics use seeds_used.
    tables = {normalized_path: normalized_curves(runs.runs, l_hat), stats_path: study.statistics_table(),
              sensitivity_path: study.sensitivity.to_table()}
    summary = {**study.to_dict(), **run_records(runs, seeds), "warnings": [*warnings, *runs.warnings(), *seeds.warnings()]}
    # Written only once everything is computed: a failure leaves no partial set of outputs.
    for path, table in tables.items():
        write_table(path, table)
    write_json(summary_path, summary)
    log.info("mean Delta/sigma_raw over x in [%.2f, %.2f]: %.3f [%.3f, %.3f]; Delta/sigma_norm %.3f",
             *study.x_window, study.summary.mean_ratio_raw, *study.intervals.mean_ratio_raw_ci,
             study.summary.mean_ratio_norm)


def studies_stage(task: str, summary_paths, studies: dict[str, dict], out_path) -> None:
    """Rule study_summary: every study's collapse summary of one task in one table (schema STUDIES);
    `summary_paths` and `studies` (name -> study config) are in the same order."""
    write_table(out_path, studies_table(task, [read_json(p) for p in summary_paths], studies))


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
                      n_boot: int, seed: int, extra: dict) -> None:
    """Rule fit_noise_model: one α for the task over every scheduled run, and the predictions' RMSEs.

    `runs`: (path, schedule, decay_frac) of every run of the study, exactly one of them with schedule
    "const" (the reference). Writes α with its seed-bootstrap CI and the pooled RMSEs (JSON, with `extra`),
    per-run RMSEs (schema NOISE_RMSE) and every prediction (schema NOISE_PREDICTIONS).
    """
    const, scheduled = reference_run(runs)
    model = fit_noise_model(read_schedule_run(*const),
                            pl.concat([read_schedule_run(*r) for r in scheduled], how="vertical_relaxed"),
                            [(schedule, decay) for _, schedule, decay in runs], task, n_boot, seed)
    fit, pooled = model.fit, model.pooled
    log.info("alpha = %.4f [%.4f, %.4f] over %d seeds; pooled RMSE baseline %.3g, model %.3g (ratio %.2f; "
             "out of sample %.2f; seed-mean curves %.2f)", fit.alpha, *fit.ci, fit.n_seeds, pooled.rmse_baseline,
             pooled.rmse_model, pooled.ratio, model.out_of_sample.ratio or float("nan"), model.seed_mean.ratio)
    write_table(rmse_path, model.rmse_table())
    write_table(predictions_path, model.predictions_table())
    write_json(alpha_path, {**model.to_dict(), **extra})


def theory_stage(out_path, *, terms: list[dict], gamma_scales: list[float], x_min: float, n_x: int,
                 params_min: float, params_max: float, n_widths: int) -> None:
    """Rule theory_curves: normalized curves of the configured power-law surface (schema THEORY)."""
    try:
        curves = theory_curves([PowerLawTerm(float(t["a"]), float(t["mu"]), float(t["nu"])) for t in terms],
                               gamma_scales, x_min, n_x, params_min, params_max, n_widths)
    except ValueError as err:
        raise ValueError(f"theory.terms: {err}") from None
    write_table(out_path, curves.to_table())
