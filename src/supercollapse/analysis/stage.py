"""The analysis stages: Parquet curves in, fits and statistics out (never imports training code)."""

from __future__ import annotations

import logging

import numpy as np
import polars as pl
import pyarrow as pa

from ..io import read_json, read_table, write_json, write_table
from ..schemas import CURVES, FRONTIER, LHAT_SENSITIVITY, NORMALIZED, STATISTICS, STUDIES
from .collapse import normalize_curve, on_grid
from .frontier import argmin_points, fit_horizon, line_through, lower_envelope
from .isoflop import isoflop_frontier
from .scaling_fit import fit_power_law
from .supercollapse import RATIO_CI_METHOD, bootstrap_ratios, collapse_stats

log = logging.getLogger("supercollapse.analysis")


def read_curves(paths) -> pl.DataFrame:
    """Concatenate curve artifacts, dropping seeds flagged diverged (with a warning)."""
    frames = [pl.from_arrow(read_table(p, CURVES)) for p in paths]
    df = pl.concat(frames)
    bad = df.filter(pl.col("diverged")).select("width", "seed").unique()
    for width, seed in bad.iter_rows():
        log.warning("excluding diverged run: width %d seed %d", width, seed)
    return df.filter(~pl.col("diverged"))


def seed_mean_curves(df: pl.DataFrame) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """params -> (compute, seed-mean eval loss), compute increasing."""
    means = df.group_by("params", "step").agg(pl.col("compute").first(), pl.col("eval_loss").mean()).sort("params", "step")
    return {int(p): (g["compute"].to_numpy(), g["eval_loss"].to_numpy())
            for (p,), g in means.group_by("params", maintain_order=True)}


def frontier_bootstrap(df: pl.DataFrame, n_grid: int, n_boot: int, seed: int, level: float = 0.95,
                       resample: str = "seeds", truncated: str = "exclude") -> dict:
    """Percentile CIs of gamma and kappa from refitting the frontier on resampled data.

    `resample="seeds"`: the seeds of every sweep width, with replacement, then envelope and fit again. With
    few seeds per width the resamples take few distinct values (3 per width for 2 seeds): a coarse interval.
    `resample="widths"`: the interior argmin widths of the full envelope (one point per width: its mean
    log C and its grid-point count), with replacement, then the line again; draws with fewer than 2
    distinct widths are counted as `failed`. The envelope is not rebuilt from subsets of the sweep: a
    missing width widens its neighbours' argmin ranges and shifts their centres, which on noiseless power
    laws spreads gamma over [0.5, 2.5] around a true 1 (measured), a property of the gaps, not of the data.
    """
    if resample not in ("seeds", "widths"):
        raise ValueError(f"resample must be 'seeds' or 'widths', got {resample!r}")
    rng = np.random.default_rng(seed)
    gammas, kappas, failed = [], [], 0
    if resample == "seeds":
        per_width = [[g for _, g in w.group_by("seed", maintain_order=True)]
                     for _, w in df.sort("params", "seed", "step").group_by("params", maintain_order=True)]
        for _ in range(n_boot):
            sample = pl.concat([runs[i] for runs in per_width for i in rng.integers(0, len(runs), len(runs))])
            try:
                fit = fit_horizon(lower_envelope(seed_mean_curves(sample), n_grid=n_grid, truncated=truncated))
            except ValueError:
                failed += 1
                continue
            gammas.append(fit.gamma)
            kappas.append(fit.kappa)
    else:
        envelope = lower_envelope(seed_mean_curves(df), n_grid=n_grid, truncated=truncated)
        widths, log_c, weight = argmin_points(envelope)
        log_p = np.log(widths.astype(np.float64))
        if widths.size < 3:
            # Two points: every usable resample is the same line, a zero-width interval that means nothing.
            return {"ci": {"gamma": [None, None], "kappa": [None, None]}, "ci_level": level, "n_boot": 0,
                    "failed": 0, "resampled": "interior argmin widths of the envelope",
                    "skipped": f"{widths.size} interior argmin widths; resampling widths needs at least 3"}
        for _ in range(n_boot):
            i = rng.integers(0, widths.size, widths.size)
            if np.unique(i).size < 2:
                failed += 1
                continue
            kappa, gamma = line_through(log_p[i], log_c[i], weight[i])
            gammas.append(gamma)
            kappas.append(kappa)
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    ci = ({"gamma": [float(v) for v in np.percentile(gammas, q)], "kappa": [float(v) for v in np.percentile(kappas, q)]}
          if gammas else {"gamma": [None, None], "kappa": [None, None]})
    what = "seeds within each sweep width" if resample == "seeds" else "interior argmin widths of the envelope"
    return {"ci": ci, "ci_level": level, "n_boot": n_boot, "failed": failed, "resampled": what}


def frontier_stage(sweep_paths, horizon_path, envelope_path, n_grid: int, extra: dict, n_boot: int = 0,
                   seed: int = 0, truncated: str = "exclude") -> None:
    """`truncated`: the policy for widths whose sweep run ended while still the argmin (frontier.py)."""
    df = read_curves(sweep_paths)
    curves = seed_mean_curves(df)
    envelope = lower_envelope(curves, n_grid=n_grid, truncated=truncated)
    width_of = dict(df.select("params", "width").unique().iter_rows())
    largest = max(width_of)
    # The largest width always ends as the argmin; it is never interior, so only the others are news.
    cut = sorted({width_of[int(p)] for p in envelope.params[envelope.truncated] if int(p) != largest})
    if cut:
        log.warning("frontier: widths %s were still the argmin when their sweep runs ended, so their argmin "
                    "intervals are cut by the sweep, not by a crossing; %s (tasks.<task>.sweep.truncated); "
                    "longer runs of them (sweep.steps_by_width) would bracket them", cut,
                    "left out of the fit" if truncated == "exclude" else "kept in the fit: their horizons are "
                    "lower bounds")
    fit = fit_horizon(envelope)
    if fit.gamma <= 0:
        raise ValueError(
            f"frontier: the fitted horizon exponent gamma = {fit.gamma:.3g} is not positive (widths of "
            f"{fit.points_params} parameters at compute-optimal {[f'{c:.3g}' for c in fit.points_compute]} FLOPs): "
            "wider models would train for fewer steps, so the sweep does not resolve the frontier; lengthen "
            "tasks.<task>.sweep.steps, add seeds, or drop sweep widths whose argmin lies in the first steps")
    isoflop = _isoflop_summary(curves, envelope, fit)
    boot = frontier_bootstrap(df, n_grid, n_boot, seed, truncated=truncated)
    boot_widths = frontier_bootstrap(df, n_grid, n_boot, seed, resample="widths", truncated=truncated)
    write_table(envelope_path, pa.Table.from_pydict({
        "compute": envelope.compute, "loss": envelope.loss,
        "width": np.array([width_of[int(p)] for p in envelope.params], dtype=np.int64),
        "params": envelope.params.astype(np.int64), "interior": envelope.interior,
        "censored": envelope.censored, "truncated": envelope.truncated, "transient": envelope.transient},
        schema=FRONTIER))
    write_json(horizon_path, {**fit.to_dict(), "compute_unit": "FLOP", "method": "lower envelope of seed-mean "
               "constant-LR curves; per-width argmin centres; weighted least squares of log C on log P",
               "sweep_widths": sorted(width_of.values()), "truncated_widths": cut, "truncated_policy": truncated,
               "isoflop": isoflop, "bootstrap": boot,
               "bootstrap_widths": boot_widths, **extra})
    log.info("horizon fit: kappa %.4g, gamma %.4f +- %.4f (seed bootstrap %s, width bootstrap %s, %d of %d "
             "failed), R2 %.4f (grid R2 %.4f)", fit.kappa, fit.gamma, fit.exponent_se, boot["ci"]["gamma"],
             boot_widths["ci"]["gamma"], boot_widths["failed"], n_boot, fit.r2, fit.r2_grid)


def _isoflop_summary(curves, envelope, fit) -> dict:
    """The IsoFLOP estimator's fit and its horizons relative to the envelope's at the envelope's points.

    A second opinion only (the horizons come from the envelope, as in the paper): a sweep it cannot fit
    records the reason instead of failing the stage.
    """
    try:
        iso = isoflop_frontier(curves, envelope)
    except ValueError as err:
        log.warning("%s", err)
        return {"error": str(err)}
    ratios = [iso.optimal_compute(p) / fit.optimal_compute(p) for p in fit.points_params]
    log.info("isoflop: gamma %.4f +- %.4f (envelope %.4f); horizon ratio isoflop/envelope %.3f-%.3f",
             iso.gamma, iso.exponent_se, fit.gamma, min(ratios), max(ratios))
    return {**iso.to_dict(), "horizon_ratio_to_envelope": ratios}


def _end_points(df: pl.DataFrame) -> pl.DataFrame:
    """One row per (width, seed): the final compute and eval loss of the run."""
    return (df.sort("step").group_by("width", "params", "seed", maintain_order=True)
            .agg(pl.col("compute").last(), pl.col("eval_loss").last()).sort("width", "seed"))


def _fit_ends(ends: pl.DataFrame, delta: float, init=None, l_hat_min: float = 0.0):
    m = ends.group_by("width").agg(pl.col("compute").first(), pl.col("eval_loss").mean()).sort("width")
    return fit_power_law(m["compute"].to_numpy(), m["eval_loss"].to_numpy(), delta=delta, init=init,
                         l_hat_min=l_hat_min)


def lhat_bootstrap(ends: pl.DataFrame, delta: float, n_boot: int, seed: int, level: float = 0.95,
                   l_hat_min: float = 0.0):
    """The L_hat fit of end points (one row per width and seed) and percentile CIs of (l_hat, a, b) from
    resampling the seeds within each width."""
    fit = _fit_ends(ends, delta, l_hat_min=l_hat_min)
    rng = np.random.default_rng(seed)
    groups = [g for _, g in ends.group_by("width", maintain_order=True)]
    boot = []
    for _ in range(n_boot):
        sample = pl.concat([g[rng.integers(0, g.height, g.height)] for g in groups])
        b = _fit_ends(sample, delta, init=fit, l_hat_min=l_hat_min)
        boot.append((b.l_hat, b.a, b.b))
    boot = np.array(boot) if boot else np.full((1, 3), np.nan)
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    return fit, {name: [float(v) for v in np.percentile(boot[:, i], q)] for i, name in enumerate(("l_hat", "a", "b"))}


def lhat_stage(run_paths, out_path, delta: float, n_boot: int, seed: int, level: float = 0.95,
               meta_path=None) -> None:
    """Fit L = L_hat + a C^-b to the seed-mean end points; bootstrap over seeds within each width.

    A token task whose data has a known entropy rate (`entropy_floor_nats_per_token` in its meta.json, the
    offline chess corpus) bounds L_hat from below by it: no model's expected loss can go lower. The floor
    and L_hat's distance to it are recorded, and a fit that sits on the floor is logged.
    """
    floor = read_json(meta_path).get("entropy_floor_nats_per_token") if meta_path is not None else None
    floor = None if floor is None else float(floor)
    ends = _end_points(read_curves(run_paths))
    fit, ci = lhat_bootstrap(ends, delta, n_boot, seed, level, l_hat_min=0.0 if floor is None else floor)
    extra = {} if floor is None else {
        "entropy_floor": floor, "l_hat_minus_entropy_floor": fit.l_hat - floor,
        "l_hat_at_entropy_floor": bool(np.isclose(fit.l_hat, floor, rtol=0, atol=1e-9))}
    write_json(out_path, {**fit.to_dict(), "ci": ci, "ci_level": level, "n_boot": n_boot,
                          "compute_unit_for_a": "PFLOP", "huber_delta": delta, **extra,
                          "end_points": ends.to_dicts(), "method": "Huber on log residuals, multi-start L-BFGS-B"})
    log.info("L_hat %.6g [%.6g, %.6g], a %.4g, b %.4g", fit.l_hat, *ci["l_hat"], fit.a, fit.b)
    if floor is not None:
        log.info("entropy floor of the data %.6g nats/token: L_hat - floor = %.4g", floor, fit.l_hat - floor)
        if extra["l_hat_at_entropy_floor"]:
            log.warning("L_hat sits on the entropy floor (its lower bound): the end points would put it lower")


def _arrays(df: pl.DataFrame, l_hat: float, grid: np.ndarray):
    """ell[p, w, i], rel_raw[p, w, i] on the grid, equal seed counts per width (the smallest count)."""
    widths = sorted(df["width"].unique().to_list())
    per_width = []
    for w in widths:
        g = df.filter(pl.col("width") == w).sort("seed", "step")
        seeds = sorted(g["seed"].unique().to_list())
        curves = [g.filter(pl.col("seed") == s) for s in seeds]
        per_width.append(curves)
    n = min(len(c) for c in per_width)
    ell = np.empty((len(widths), n, grid.size))
    raw = np.empty_like(ell)
    for i, curves in enumerate(per_width):
        ends = np.array([c["eval_loss"][-1] for c in curves])
        reducible = ends.mean() - l_hat
        for j, c in enumerate(curves[:n]):
            x, e = normalize_curve(c["compute"].to_numpy(), c["eval_loss"].to_numpy(), l_hat)
            ell[i, j] = on_grid(x, e, grid)
            raw[i, j] = on_grid(x, c["eval_loss"].to_numpy(), grid) / reducible
    return widths, ell, raw


# Trial L_hat values, as fractions of the gap between the fitted L_hat and the smallest end loss.
LHAT_OFFSETS = (-1.0, -0.5, -0.25, -0.1, -0.05, 0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9)


def collapse_stage(run_paths, lhat_path, normalized_path, stats_path, summary_path, cfg: dict,
                   sensitivity_path=None) -> None:
    df = read_curves(run_paths)
    lhat = read_json(lhat_path)
    l_hat = float(lhat["l_hat"])
    rows = []
    for (width, params, seed), g in df.sort("step").group_by("width", "params", "seed", maintain_order=True):
        x, e = normalize_curve(g["compute"].to_numpy(), g["eval_loss"].to_numpy(), l_hat)
        # g is sorted by step, hence by compute: x and ell line up with its rows.
        rows.append(pl.DataFrame({"x": x, "ell": e, "loss": g["eval_loss"], "compute": g["compute"]}).with_columns(
            pl.lit(g["task"][0]).alias("task"), pl.lit(g["study"][0]).alias("study"),
            pl.lit(width, pl.Int64).alias("width"), pl.lit(params, pl.Int64).alias("params"),
            pl.lit(seed, pl.Int64).alias("seed")))
    normalized = pl.concat(rows).select(NORMALIZED.names).sort("width", "seed", "x")
    write_table(normalized_path, normalized.to_arrow().cast(NORMALIZED))

    grid = np.linspace(cfg["x_grid_min"], cfg["x_grid_max"], int(cfg["n_x"]))
    window = (grid >= cfg["x_min"]) & (grid <= cfg["x_max"])
    widths, ell, raw = _arrays(df, l_hat, grid)
    st = collapse_stats(ell, raw)
    boot = bootstrap_ratios(ell, raw, int(cfg["n_boot"]), int(cfg["seed"]), window=window)
    write_table(stats_path, pa.Table.from_pydict({
        "x": grid, "delta_std": st.delta_std, "delta_range": st.delta_range, "sigma_norm": st.sigma_norm,
        "sigma_raw": st.sigma_raw, "ratio_norm": st.ratio_norm, "ratio_raw": st.ratio_raw,
        **{k: boot[k] for k in ("ratio_norm_lo", "ratio_norm_hi", "ratio_raw_lo", "ratio_raw_hi")},
        "f_stat": st.f_stat, "p_value": st.p_value}, schema=STATISTICS))

    def summarise(s):
        return {"mean_ratio_norm": float(np.mean(s.ratio_norm[window])),
               "mean_ratio_raw": float(np.mean(s.ratio_raw[window])),
               "frac_x_delta_below_sigma_raw": float(np.mean(s.delta_std[window] < s.sigma_raw[window])),
               "frac_x_delta_below_sigma_norm": float(np.mean(s.delta_std[window] < s.sigma_norm[window])),
               "mean_delta_std": float(np.mean(s.delta_std[window])),
               "mean_sigma_norm": float(np.mean(s.sigma_norm[window])),
               "mean_sigma_raw": float(np.mean(s.sigma_raw[window])),
               "frac_x_anova_p_below_0.05": float(np.mean(s.p_value[window] < 0.05)),
               "median_anova_p": float(np.median(s.p_value[window]))}

    summary = summarise(st)
    summary["mean_ratio_norm_ci"] = list(boot["mean_ratio_norm_ci"])
    summary["mean_ratio_raw_ci"] = list(boot["mean_ratio_raw_ci"])
    summary["ratio_ci_method"] = RATIO_CI_METHOD
    sensitivity = {}
    for name, value in zip(("l_hat_lo", "l_hat_hi"), lhat["ci"]["l_hat"]):
        if np.isfinite(value):
            try:
                _, e2, r2 = _arrays(df, float(value), grid)
                s2 = summarise(collapse_stats(e2, r2))
                sensitivity[name] = {"l_hat": float(value), "mean_ratio_norm": s2["mean_ratio_norm"],
                                     "mean_ratio_raw": s2["mean_ratio_raw"]}
            except ValueError as err:
                sensitivity[name] = {"l_hat": float(value), "error": str(err)}
    if sensitivity_path is not None:
        write_table(sensitivity_path, lhat_sensitivity(df, l_hat, grid, window))
    write_json(summary_path, {**summary, "widths": widths, "seeds_per_width": int(ell.shape[1]),
                              "l_hat": l_hat, "x_window": [cfg["x_min"], cfg["x_max"]],
                              "ci_level": 0.95, "n_boot": int(cfg["n_boot"]), "l_hat_sensitivity": sensitivity})
    log.info("mean Delta/sigma_raw over x in [%.2f, %.2f]: %.3f [%.3f, %.3f]; Delta/sigma_norm %.3f",
             cfg["x_min"], cfg["x_max"], summary["mean_ratio_raw"], *summary["mean_ratio_raw_ci"],
             summary["mean_ratio_norm"])


def studies_stage(task: str, summary_paths, studies: dict[str, dict], out_path) -> None:
    """Collect every study's collapse summary of one task into one table (schema STUDIES).

    `summary_paths` and `studies` (name -> study config) are in the same order.
    """
    if len(summary_paths) != len(studies):
        raise ValueError(f"{len(summary_paths)} summaries for {len(studies)} studies")
    rows = {name: [] for name in STUDIES.names}
    for path, (name, cfg) in zip(summary_paths, studies.items()):
        s = read_json(path)
        values = {"task": task, "study": name, "schedule": cfg["schedule"], "decay_frac": cfg["decay_frac"],
                  "gamma_scale": cfg["gamma_scale"], "lr_reference_width": cfg.get("lr_reference_width"),
                  "l_hat": s["l_hat"], "mean_ratio_raw": s["mean_ratio_raw"],
                  "mean_ratio_raw_lo": s["mean_ratio_raw_ci"][0], "mean_ratio_raw_hi": s["mean_ratio_raw_ci"][1],
                  "mean_ratio_norm": s["mean_ratio_norm"], "mean_ratio_norm_lo": s["mean_ratio_norm_ci"][0],
                  "mean_ratio_norm_hi": s["mean_ratio_norm_ci"][1],
                  "frac_x_delta_below_sigma_raw": s["frac_x_delta_below_sigma_raw"],
                  "median_anova_p": s["median_anova_p"]}
        for key, value in values.items():
            rows[key].append(value)
    write_table(out_path, pa.Table.from_pydict(rows, schema=STUDIES))


def lhat_sensitivity(df: pl.DataFrame, l_hat: float, grid: np.ndarray, window: np.ndarray,
                     offsets=LHAT_OFFSETS) -> pa.Table:
    """The window means of Delta/sigma at trial L_hat values around the fit (schema LHAT_SENSITIVITY).

    The paper warns that collapse quality is very sensitive to L_hat; offsets are fractions of the gap
    between the fit and the smallest seed-mean end loss, so +0.5 puts L_hat halfway to the best run's end.
    Values at or above some seed's final loss cannot normalize that curve: their row holds nulls.
    """
    ends = _end_points(df).group_by("width").agg(pl.col("eval_loss").mean())["eval_loss"].min()
    gap = float(ends) - l_hat
    rows = {name: [] for name in LHAT_SENSITIVITY.names}
    for offset in offsets:
        trial = l_hat + offset * gap
        try:
            _, ell, raw = _arrays(df, trial, grid)
            st = collapse_stats(ell, raw)
            values = (float(np.mean(st.ratio_raw[window])), float(np.mean(st.ratio_norm[window])),
                      float(np.mean(st.delta_std[window])))
        except ValueError:
            values = (None, None, None)
        rows["offset_frac"].append(float(offset))
        rows["l_hat"].append(float(trial))
        for name, value in zip(("mean_ratio_raw", "mean_ratio_norm", "mean_delta_std"), values):
            rows[name].append(value)
    return pa.Table.from_pydict(rows, schema=LHAT_SENSITIVITY)
