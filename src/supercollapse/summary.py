"""The one-page summary of every fit and statistic, and the numbers quoted in the report's captions.

Reads the JSON/Parquet artifacts only (like plots.py). One formatter serves the Markdown table, its HTML
twin and the captions, so a number reads the same wherever the report shows it.
"""

from __future__ import annotations

import html

import polars as pl
import pyarrow as pa

from .external.contract import EXTERNAL_SCHEDULE
from .io import existing, read_json, read_table
from .schemas import LHAT_SENSITIVITY, STUDIES, SUMMARY, THEORY

MISSING = "–"
RUN_ENDS = "run_ends"  # horizon.json source of an external task without a sweep (stages/external.py)
CROSSINGS = "crossings"  # horizon.json points of a sweep fitted at the crossings of adjacent widths (sweep.points)


def _key(d: dict, key: str, where: str):
    """d[key], or a ValueError naming the artifact and the key it lacks."""
    if not isinstance(d, dict) or key not in d:
        raise ValueError(f"{where}: missing key {key!r}")
    return d[key]


def _float(v) -> float | None:
    return None if v is None else float(v)


# ---------------------------------------------------------------------------------------------------------
# Formatting (Markdown, HTML and captions)


def fmt(v, digits: int = 3) -> str:
    """3 significant digits; MISSING for an absent value. NaN stays visible: a bootstrap CI is NaN where its
    replicates are undefined (e.g. a percentile bootstrap over 2 seeds drawing one seed twice)."""
    v = _float(v)
    return MISSING if v is None else f"{v:.{digits}g}"


def fmt_ci(v, lo, hi, digits: int = 3) -> str:
    """'value [lo, hi]'; without a CI just the value."""
    if _float(lo) is None and _float(hi) is None:
        return fmt(v, digits)
    return f"{fmt(v, digits)} [{fmt(lo, digits)}, {fmt(hi, digits)}]"


def fmt_se(v, se, digits: int = 3) -> str:
    return fmt(v, digits) if _float(se) is None else f"{fmt(v, digits)} ± {fmt(se, 2)}"


def fmt_frac(v) -> str:
    v = _float(v)
    return MISSING if v is None else f"{100 * v:.0f}%"


def _interval(lo, hi) -> str:
    return MISSING if _float(lo) is None and _float(hi) is None else f"[{fmt(lo)}, {fmt(hi)}]"


def _span(lo, hi) -> str:
    return MISSING if _float(lo) is None and _float(hi) is None else f"{fmt(lo)}–{fmt(hi)}"


def _points(n, truncated, source: str = "envelope") -> str:
    """Points of the horizon fit, noting those whose argmin interval the sweep cut (their horizons are lower
    bounds), or that they are where the runs end (an external task without a sweep)."""
    if source == RUN_ENDS:
        return f"{n} run ends (no sweep)"
    if source == CROSSINGS:
        return f"{n} crossings"
    return f"{n} ({truncated} cut by the sweep)" if truncated else str(n)


def study_setup(row: dict) -> str:
    """A study's recipe in a few words: schedule, horizon exponent, parameterisation."""
    schedule = row["schedule"]
    if schedule == EXTERNAL_SCHEDULE:
        return "runs trained elsewhere (imported)"
    if schedule != "const":
        schedule += f" (decay {fmt(row['decay_frac'], 2)})"
    gamma = "fitted γ" if row["gamma_scale"] == 1.0 else f"{fmt(row['gamma_scale'], 3)}·γ"
    lr = "µP" if row["lr_reference_width"] is None else f"LRs of width {row['lr_reference_width']}"
    return f"{schedule}; {gamma}; {lr}"


# ---------------------------------------------------------------------------------------------------------
# Reading the artifacts into rows


def frontier_columns(horizon: dict, where: str = "horizon.json") -> dict:
    """The frontier columns of SUMMARY from a horizon.json (of the sweep's envelope, or of where the runs end)."""
    if horizon.get("source") == RUN_ENDS:  # no sweep: no bootstrap, no IsoFLOP fit
        return {**dict.fromkeys(FRONTIER_COLUMNS), "kappa": _key(horizon, "kappa", where),
                "gamma": _key(horizon, "gamma", where), "gamma_se": _key(horizon, "exponent_se", where),
                "frontier_r2": _key(horizon, "r2", where), "frontier_r2_grid": _key(horizon, "r2_grid", where),
                "frontier_points": len(_key(horizon, "points_params", where)), "frontier_points_truncated": 0,
                "horizon_source": RUN_ENDS}
    boot = _key(horizon, "bootstrap", where)
    ci = _key(boot, "ci", f"{where} bootstrap")
    gamma_ci, kappa_ci = _key(ci, "gamma", f"{where} bootstrap.ci"), _key(ci, "kappa", f"{where} bootstrap.ci")
    # null where the width bootstrap was skipped (fewer than 3 interior argmin widths)
    widths_ci = _key(_key(_key(horizon, "bootstrap_widths", where), "ci", f"{where} bootstrap_widths"), "gamma",
                     f"{where} bootstrap_widths.ci")
    iso = _key(horizon, "isoflop", where)
    crossings = horizon.get("points") == CROSSINGS  # horizon.json before sweep.points: centres
    ratios = iso.get("horizon_ratio_to_envelope") or []
    return {
        "kappa": _key(horizon, "kappa", where), "kappa_lo": kappa_ci[0], "kappa_hi": kappa_ci[1],
        "gamma": _key(horizon, "gamma", where), "gamma_se": _key(horizon, "exponent_se", where),
        "gamma_lo": gamma_ci[0], "gamma_hi": gamma_ci[1],
        "gamma_widths_lo": widths_ci[0], "gamma_widths_hi": widths_ci[1],
        "frontier_r2": _key(horizon, "r2", where), "frontier_r2_grid": _key(horizon, "r2_grid", where),
        "frontier_points": len(_key(horizon, "points_params", where)),
        # Widths whose argmin interval the sweep cut, kept in the fit (sweep.truncated: include; centres only).
        "frontier_points_truncated": (len(_key(horizon, "truncated_widths", where))
                                      if _key(horizon, "truncated_policy", where) == "include" and not crossings
                                      else 0),
        "horizon_source": CROSSINGS if crossings else "envelope",
        # An IsoFLOP fit that failed records {"error": ...} instead: its columns stay null.
        "isoflop_gamma": iso.get("gamma"), "isoflop_gamma_se": iso.get("exponent_se"), "isoflop_r2": iso.get("r2"),
        "isoflop_horizon_ratio_min": min(ratios) if ratios else None,
        "isoflop_horizon_ratio_max": max(ratios) if ratios else None,
    }


FRONTIER_COLUMNS = ("kappa", "kappa_lo", "kappa_hi", "gamma", "gamma_se", "gamma_lo", "gamma_hi", "gamma_widths_lo",
                    "gamma_widths_hi", "frontier_r2", "frontier_r2_grid", "frontier_points",
                    "frontier_points_truncated", "horizon_source", "isoflop_gamma", "isoflop_gamma_se", "isoflop_r2",
                    "isoflop_horizon_ratio_min", "isoflop_horizon_ratio_max")


VERDICTS = ("supercollapse", "collapse", "no collapse")


def verdict_rule(threshold: float) -> str:
    return (f"supercollapse: the 95% CI of mean Δ/σ_raw lies below 1; collapse: mean Δ/σ_raw ≤ {threshold:g} (the "
            f"spread across widths within {threshold:g} seed noise floors, analysis.collapse_threshold); else no "
            "collapse")


def verdict(ratio: float, ratio_hi: float, threshold: float) -> str:
    """The scaling verdict of a study from its mean Δ/σ_raw and that ratio's 95% CI (verdict_rule)."""
    if ratio_hi < 1.0:
        return VERDICTS[0]
    return VERDICTS[1] if ratio <= threshold else VERDICTS[2]


PREDICTION_COLUMNS = ("holdout_width", "pred_rmse_over_sigma", "pred_final_rel_error", "pred_band_coverage",
                      "baseline_rmse_over_sigma", "baseline_final_rel_error")


def prediction_columns(scores: dict, where: str = "prediction_scores.json") -> dict:
    """The largest held-out width's scores (prediction_scores.json); null where no width was held out."""
    held = [p for p in _key(scores, "predictions", where) if p["kind"] == "holdout"]
    if not held:
        return dict.fromkeys(PREDICTION_COLUMNS)
    p = max(held, key=lambda r: r["width"])
    s, b = p["scores"], p["baseline_scores"]
    return {"holdout_width": p["width"], "pred_rmse_over_sigma": s["rmse_over_sigma"],
            "pred_final_rel_error": s["final_loss_rel_error"], "pred_band_coverage": s["band_coverage"],
            "baseline_rmse_over_sigma": b["rmse_over_sigma"], "baseline_final_rel_error": b["final_loss_rel_error"]}


def lhat_columns(lhat: dict, where: str = "lhat.json") -> dict:
    ci = _key(lhat, "ci", where)
    out = {}
    for name in ("l_hat", "a", "b"):
        lo, hi = _key(ci, name, f"{where} ci")
        out |= {name: _key(lhat, name, where), f"{name}_lo": lo, f"{name}_hi": hi}
    # Known only for data with an exact entropy rate (the offline chess corpus); null otherwise.
    return out | {"entropy_floor": lhat.get("entropy_floor")}


def sensitivity_columns(summary: dict, sensitivity: pl.DataFrame, where: str = "summary.json") -> dict:
    """Delta/sigma_raw at the ends of L_hat's CI, and the smallest one over the L_hat scan."""
    at_ci = _key(summary, "l_hat_sensitivity", where)
    out = {f"ratio_raw_at_{end}": at_ci.get(end, {}).get("mean_ratio_raw") for end in ("l_hat_lo", "l_hat_hi")}
    usable = sensitivity.filter(pl.col("mean_ratio_raw").is_not_null() & pl.col("mean_ratio_raw").is_not_nan())
    usable = usable.sort("l_hat")
    if usable.height == 0:
        return out | {"sensitivity_min_ratio_raw": None, "sensitivity_min_l_hat": None,
                      "sensitivity_min_offset_frac": None, "sensitivity_min_at_edge": None}
    i = int(usable["mean_ratio_raw"].arg_min())
    return out | {"sensitivity_min_ratio_raw": usable["mean_ratio_raw"][i],
                  "sensitivity_min_l_hat": usable["l_hat"][i],
                  "sensitivity_min_offset_frac": usable["offset_frac"][i],
                  "sensitivity_min_at_edge": i in (0, usable.height - 1)}


def study_columns(study: dict, summary: dict, where: str = "summary.json") -> dict:
    """The study's setup (a row of studies.parquet) and its collapse statistics (its summary.json)."""
    x_min, x_max = _key(summary, "x_window", where)
    return {
        **{k: study[k] for k in ("task", "study", "schedule", "decay_frac", "gamma_scale", "lr_reference_width")},
        "n_widths": len(_key(summary, "widths", where)), "seeds_per_width": _key(summary, "seeds_per_width", where),
        "x_min": x_min, "x_max": x_max,
        **{k: study[k] for k in ("mean_ratio_raw", "mean_ratio_raw_lo", "mean_ratio_raw_hi", "mean_ratio_norm",
                                 "mean_ratio_norm_lo", "mean_ratio_norm_hi", "frac_x_delta_below_sigma_raw",
                                 "median_anova_p")},
        "frac_x_anova_p_below_0_05": _key(summary, "frac_x_anova_p_below_0.05", where),
    }


NOISE_COLUMNS = ("noise_width", "noise_seeds", "noise_alpha", "noise_alpha_lo", "noise_alpha_hi", "noise_rmse_model",
                 "noise_rmse_baseline", "noise_rmse_ratio", "noise_rmse_ratio_out_of_sample",
                 "noise_rmse_ratio_seed_mean")


def noise_columns(fit: dict | None, where: str = "alpha.json") -> dict:
    """The SGD-noise model columns of SUMMARY from a schedule study's alpha.json; all null without one (None)."""
    if fit is None:
        return dict.fromkeys(NOISE_COLUMNS)
    lo, hi = _key(fit, "alpha_ci", where)
    pooled = _key(fit, "pooled", where)
    study = _key(fit, "study", where)  # the rule's settings
    return {
        "noise_width": study.get("width"), "noise_seeds": _key(fit, "n_seeds", where),
        "noise_alpha": _key(fit, "alpha", where), "noise_alpha_lo": lo, "noise_alpha_hi": hi,
        "noise_rmse_model": _key(pooled, "rmse_model", f"{where} pooled"),
        "noise_rmse_baseline": _key(pooled, "rmse_baseline", f"{where} pooled"),
        "noise_rmse_ratio": _key(pooled, "ratio", f"{where} pooled"),
        # null where undefined (a single scheduled run has no "others")
        "noise_rmse_ratio_out_of_sample": _key(_key(fit, "out_of_sample", where), "ratio", f"{where} out_of_sample"),
        "noise_rmse_ratio_seed_mean": _key(_key(fit, "seed_mean_curves", where), "ratio", f"{where} seed_mean_curves"),
    }


def summary_table(rows: list[dict]) -> pa.Table:
    """SUMMARY from complete rows (every column of the schema), in the given order."""
    for i, row in enumerate(rows):
        missing = [n for n in SUMMARY.names if n not in row]
        if missing:
            raise ValueError(f"summary row {i} ({row.get('task')}/{row.get('study')}): missing {missing}")
    cols = {n: [_float(r[n]) if SUMMARY.field(n).type == pa.float64() else r[n] for r in rows] for n in SUMMARY.names}
    return pa.Table.from_pydict(cols, schema=SUMMARY)


def read_summary_rows(tasks: list[str], pairs: list[tuple[str, str]], horizon_paths, studies_paths, summary_paths,
                      lhat_paths, sensitivity_paths, prediction_paths, alpha_paths: dict | None = None,
                      threshold: float = 2.0) -> pa.Table:
    """The SUMMARY table of every (task, study) from the artifacts.

    Per-task paths follow `tasks`; per-study paths follow `pairs`, every (task, study) task-major (a trained
    task has every configured study, an external task its one). `alpha_paths`: task -> alpha.json of the tasks
    the LR-schedule study runs on (their noise columns; null for the others). `threshold`: the verdict's
    (analysis.collapse_threshold).
    """
    alpha_paths = dict(alpha_paths or {})
    unknown = sorted(set(alpha_paths) - set(tasks))
    if unknown:
        raise ValueError(f"alpha.json given for tasks {unknown} that are not in the summary's tasks {list(tasks)}")
    pairs = [tuple(p) for p in pairs]
    if [t for t in dict.fromkeys(t for t, _ in pairs)] != list(tasks):
        raise ValueError(f"(task, study) pairs {pairs} are not task-major over the tasks {list(tasks)}")
    for name, paths, want in (("horizon", horizon_paths, len(tasks)), ("studies", studies_paths, len(tasks)),
                              ("summary", summary_paths, len(pairs)), ("lhat", lhat_paths, len(pairs)),
                              ("sensitivity", sensitivity_paths, len(pairs)),
                              ("prediction", prediction_paths, len(pairs))):
        if len(paths) != want:
            raise ValueError(f"{len(paths)} {name} paths for {len(tasks)} tasks and {len(pairs)} (task, study) "
                             f"pairs (expected {want})")
    rows = []
    for k, (task, study) in enumerate(pairs):
        t = tasks.index(task)
        horizon = read_json(horizon_paths[t])
        first = k == 0 or pairs[k - 1][0] != task
        alpha = alpha_paths.get(task)
        noise = noise_columns(None if alpha is None else read_json(alpha), str(alpha))
        by_study = {r["study"]: r for r in pl.from_arrow(read_table(studies_paths[t], STUDIES)).to_dicts()}
        if study not in by_study:
            raise ValueError(f"{studies_paths[t]}: no row for study {study!r} (has {sorted(by_study)})")
        summary = read_json(summary_paths[k])
        sens = pl.from_arrow(read_table(sensitivity_paths[k], LHAT_SENSITIVITY))
        rows.append({**study_columns(by_study[study], summary, str(summary_paths[k])),
                     **frontier_columns(horizon, str(horizon_paths[t])),
                     **lhat_columns(read_json(lhat_paths[k]), str(lhat_paths[k])),
                     **sensitivity_columns(summary, sens, str(summary_paths[k])), **noise,
                     **prediction_columns(read_json(prediction_paths[k]), str(prediction_paths[k])),
                     "verdict": verdict(_key(summary, "mean_ratio_raw", str(summary_paths[k])),
                                        _key(summary, "mean_ratio_raw_ci", str(summary_paths[k]))[1], threshold),
                     "collapse_threshold": threshold,
                     # The sweep's warnings (diverged runs) once per task, on its first study's row.
                     "warnings": [*(_key(horizon, "warnings", str(horizon_paths[t])) if first else []),
                                  *_key(summary, "warnings", str(summary_paths[k]))]})
    return summary_table(rows)


# ---------------------------------------------------------------------------------------------------------
# The one page: Markdown and HTML from the same cells

INTRO = ("CIs are 95% percentile bootstraps over the seeds within each width (for the frontier: the sweep's "
         "seeds, and separately the envelope's interior argmin widths), except Δ/σ's: a Gaussian parametric "
         "bootstrap over seeds used as a pivot (a percentile bootstrap undercovers a ratio of spreads at 3-4 "
         "seeds). Δ/σ is the mean over the x window of the collapse deviation over the seed noise floor; below "
         "1 is supercollapse.")


def _sections(table: pa.Table) -> list[tuple[str, list[str], list[list[str]]]]:
    rows = table.to_pylist()
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    first = {t: next(r for r in rows if r["task"] == t) for t in tasks}
    frontier = [[t, fmt_se(r["gamma"], r["gamma_se"]), _interval(r["gamma_lo"], r["gamma_hi"]),
                 _interval(r["gamma_widths_lo"], r["gamma_widths_hi"]),
                 fmt_ci(r["kappa"], r["kappa_lo"], r["kappa_hi"]),
                 f"{fmt(r['frontier_r2'])}, {fmt(r['frontier_r2_grid'])}",
                 _points(r["frontier_points"], r["frontier_points_truncated"], r["horizon_source"]),
                 fmt_se(r["isoflop_gamma"], r["isoflop_gamma_se"]),
                 _span(r["isoflop_horizon_ratio_min"], r["isoflop_horizon_ratio_max"])]
                for t, r in first.items()]
    lhat = [[r["task"], r["study"], fmt_ci(r["l_hat"], r["l_hat_lo"], r["l_hat_hi"]), fmt(r.get("entropy_floor")),
             fmt_ci(r["a"], r["a_lo"], r["a_hi"]), fmt_ci(r["b"], r["b_lo"], r["b_hi"])] for r in rows]
    collapse = [[r["task"], r["study"], study_setup(r), f"{r['n_widths']} × {r['seeds_per_width']}",
                 fmt_ci(r["mean_ratio_raw"], r["mean_ratio_raw_lo"], r["mean_ratio_raw_hi"]),
                 fmt_ci(r["mean_ratio_norm"], r["mean_ratio_norm_lo"], r["mean_ratio_norm_hi"]),
                 fmt_frac(r["frac_x_delta_below_sigma_raw"]),
                 f"{fmt(r['median_anova_p'], 2)} ({fmt_frac(r['frac_x_anova_p_below_0_05'])} < 0.05)", r["verdict"]]
                for r in rows]
    predictions = [[r["task"], r["study"], str(r["holdout_width"]), fmt(r["pred_rmse_over_sigma"]),
                    fmt(r["baseline_rmse_over_sigma"]), _percent(r["pred_final_rel_error"]),
                    _percent(r["baseline_final_rel_error"]), fmt_frac(r["pred_band_coverage"])]
                   for r in rows if r["holdout_width"] is not None]
    prediction_section = [
        ("Prediction of the largest held-out width from the others' collapse, against a Chinchilla-form fit of "
         "the sweep", ["task", "study", "held-out width", "RMSE / σ_raw", "baseline RMSE / σ_raw",
                       "final-loss error", "baseline final-loss error", "seed points in the 95% band"],
         predictions)] if predictions else []
    sensitivity = [[r["task"], r["study"], f"{fmt(r['ratio_raw_at_l_hat_lo'])}, {fmt(r['ratio_raw_at_l_hat_hi'])}",
                    _sensitivity_min(r)] for r in rows]
    window = f"[{fmt(rows[0]['x_min'])}, {fmt(rows[0]['x_max'])}]" if rows else ""
    noise = [[t, f"{MISSING if r['noise_width'] is None else r['noise_width']} × {r['noise_seeds']}",
              fmt_ci(r["noise_alpha"], r["noise_alpha_lo"], r["noise_alpha_hi"]),
              f"{fmt(r['noise_rmse_model'])} vs {fmt(r['noise_rmse_baseline'])}", _times(r["noise_rmse_ratio"]),
              _times(r["noise_rmse_ratio_out_of_sample"]), _times(r["noise_rmse_ratio_seed_mean"])]
             for t, r in first.items() if _float(r["noise_alpha"]) is not None]
    warnings = [[r["task"], r["study"], w] for r in rows for w in r["warnings"]]
    warnings_section = [("Warnings", ["task", "study", "warning"], warnings)] if warnings else []
    noise_section = [
        ("SGD-noise model of LR schedules: L = L_const(τ) + α (η/η_peak − 1) Tr(P⁻¹Σ), RMSEs over the decay phase",
         ["task", "width × seeds", "α [95% CI]", "RMSE: model vs equal-τ baseline", "baseline / model (per seed)",
          "out of sample", "seed-mean curves"], noise)] if noise else []
    return [
        ("Frontier and horizon fit: C*(P) = (P/κ)^(1+γ) FLOPs",
         ["task", "γ ± SE", "γ CI (seeds)", "γ CI (widths)", "κ [CI (seeds)]", "R² (points, grid)", "points",
          "IsoFLOP γ ± SE", "C*: IsoFLOP / envelope"], frontier),
        ("L̂ fit: L = L̂ + a·C^(−b), C in PFLOP", ["task", "study", "L̂ [95% CI]", "entropy floor", "a [95% CI]", "b [95% CI]"], lhat),
        (f"Collapse statistics, means over x ∈ {window}; verdict: "
         + (verdict_rule(rows[0]["collapse_threshold"]) if rows else ""),
         ["task", "study", "setup", "widths × seeds", "Δ/σ_raw [95% CI]", "Δ/σ_norm [95% CI]", "x with Δ < σ_raw",
          "ANOVA median p", "verdict"], collapse),
        ("Sensitivity to L̂: mean Δ/σ_raw", ["task", "study", "at the ends of L̂'s CI", "smallest over the L̂ scan"],
         sensitivity),
    ] + prediction_section + noise_section + warnings_section


def _percent(v) -> str:
    v = _float(v)
    return MISSING if v is None else f"{100 * v:+.2g}%"


def _times(v) -> str:
    """A ratio as '3.7×'; MISSING for an absent one."""
    v = _float(v)
    return MISSING if v is None else f"{fmt(v, 2)}×"


def _sensitivity_min(r: dict) -> str:
    if _float(r["sensitivity_min_ratio_raw"]) is None:
        return MISSING
    edge = ", end of the scanned range" if r["sensitivity_min_at_edge"] else ""
    return f"{fmt(r['sensitivity_min_ratio_raw'])} at L̂ = {fmt(r['sensitivity_min_l_hat'])}{edge}"


def markdown(table: pa.Table) -> str:
    def line(cells):
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    out = ["# Summary of fits and statistics", "", INTRO]
    for title, header, rows in _sections(table):
        out += ["", f"## {title}", "", line(header), "|" + "---|" * len(header)] + [line(r) for r in rows]
    return "\n".join(out) + "\n"


def html_page(table: pa.Table) -> str:
    """The Markdown page as a standalone HTML page (the report shows HTML inline, Markdown only as a download)."""
    parts = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8"><title>supercollapse summary</title>',
             "<style>body{font-family:sans-serif;font-size:14px;margin:1em}table{border-collapse:collapse;"
             "margin-bottom:1.2em}th,td{border:1px solid #bbb;padding:3px 8px;text-align:left}"
             "th{background:#eee}</style></head><body>", "<h1>Summary of fits and statistics</h1>",
             f"<p>{html.escape(INTRO)}</p>"]
    for title, header, rows in _sections(table):
        parts.append(f"<h2>{html.escape(title)}</h2><table><thead><tr>"
                     + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr></thead><tbody>")
        parts += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows]
        parts.append("</tbody></table>")
    return "\n".join(parts + ["</body></html>"]) + "\n"


# ---------------------------------------------------------------------------------------------------------
# Caption numbers: formatted strings for the report's captions, from a figure rule's own inputs


def caption_params(figure: str):
    """A Snakemake params function of (wildcards, input): the numbers figure's caption quotes. Params derived
    from input are not rerun triggers; until the inputs exist Snakemake shows <TBD> and asks again."""

    def numbers(wildcards, input):
        for path in input:
            existing(path, "input")
        return caption_numbers(figure, dict(input.items()))

    return numbers


def caption_numbers(figure: str, inputs: dict) -> dict[str, object]:
    """The numbers a figure's caption quotes, read from the files its rule reads (name -> path)."""
    if figure == "frontier":
        h = frontier_columns(read_json(inputs["horizon"]), str(inputs["horizon"]))
        return {"gamma": fmt_se(h["gamma"], h["gamma_se"]), "gamma_ci": _interval(h["gamma_lo"], h["gamma_hi"]),
                # None (the caption leaves it out) where the width bootstrap was skipped
                "gamma_ci_widths": (None if h["gamma_widths_lo"] is None
                                    else _interval(h["gamma_widths_lo"], h["gamma_widths_hi"])),
                "kappa": fmt_ci(h["kappa"], h["kappa_lo"], h["kappa_hi"]), "r2": fmt(h["frontier_r2"], 4),
                "r2_grid": fmt(h["frontier_r2_grid"], 3),
                "points": _points(h["frontier_points"], h["frontier_points_truncated"], h["horizon_source"]),
                "isoflop_gamma": fmt_se(h["isoflop_gamma"], h["isoflop_gamma_se"]),
                "isoflop_ratio": _span(h["isoflop_horizon_ratio_min"], h["isoflop_horizon_ratio_max"])}
    if figure == "curves":
        lhat = read_json(inputs["lhat"])
        c = lhat_columns(lhat, str(inputs["lhat"]))
        return {"l_hat": fmt_ci(c["l_hat"], c["l_hat_lo"], c["l_hat_hi"]), "a": fmt_ci(c["a"], c["a_lo"], c["a_hi"]),
                "b": fmt_ci(c["b"], c["b_lo"], c["b_hi"]),
                "n_end_points": len(_key(lhat, "end_points", str(inputs["lhat"])))}
    if figure in ("collapse", "deviation"):
        s = read_json(inputs["summary"])
        where = str(inputs["summary"])
        lo, hi = _key(s, "mean_ratio_raw_ci", where)
        nlo, nhi = _key(s, "mean_ratio_norm_ci", where)
        out = {"widths": ", ".join(str(w) for w in _key(s, "widths", where)),
               "seeds": _key(s, "seeds_per_width", where),
               "x_window": "[{}, {}]".format(*(fmt(v) for v in _key(s, "x_window", where))),
               "l_hat": fmt(_key(s, "l_hat", where)),
               "ratio_raw": fmt_ci(_key(s, "mean_ratio_raw", where), lo, hi),
               "ratio_norm": fmt_ci(_key(s, "mean_ratio_norm", where), nlo, nhi),
               "delta": fmt(_key(s, "mean_delta_std", where)), "sigma_raw": fmt(_key(s, "mean_sigma_raw", where)),
               "sigma_norm": fmt(_key(s, "mean_sigma_norm", where)),
               "frac_below_raw": fmt_frac(_key(s, "frac_x_delta_below_sigma_raw", where)),
               "median_p": fmt(_key(s, "median_anova_p", where), 2),
               "frac_p": fmt_frac(_key(s, "frac_x_anova_p_below_0.05", where))}
        if figure == "deviation":
            sens = sensitivity_columns(s, pl.from_arrow(read_table(inputs["sensitivity"], LHAT_SENSITIVITY)), where)
            out |= {"ratio_at_ci": f"{fmt(sens['ratio_raw_at_l_hat_lo'])}, {fmt(sens['ratio_raw_at_l_hat_hi'])}",
                    "sensitivity_min": _sensitivity_min(sens)}
        return out
    if figure == "studies":
        df = pl.from_arrow(read_table(inputs["studies"], STUDIES))
        return {"studies": [{"study": r["study"], "setup": study_setup(r),
                             "ratio_raw": fmt_ci(r["mean_ratio_raw"], r["mean_ratio_raw_lo"], r["mean_ratio_raw_hi"]),
                             "ratio_norm": fmt_ci(r["mean_ratio_norm"], r["mean_ratio_norm_lo"],
                                                  r["mean_ratio_norm_hi"]),
                             "median_p": fmt(r["median_anova_p"], 2)} for r in df.to_dicts()]}
    if figure == "theory":
        return {"panels": theory_spreads(pl.from_arrow(read_table(inputs["curves"], THEORY)))}
    if figure == "noise_model":
        fit = read_json(inputs["alpha"])
        oos = fit["out_of_sample"]
        return {"alpha": f"{fit['alpha']:.3f}", "ci": f"[{fit['alpha_ci'][0]:.3f}, {fit['alpha_ci'][1]:.3f}]",
                "seeds": fit["n_seeds"], "ratio": f"{fit['pooled']['ratio']:.1f}",
                "rmse_model": f"{fit['pooled']['rmse_model']:.3g}",
                "rmse_baseline": f"{fit['pooled']['rmse_baseline']:.3g}",
                "ratio_oos": "n/a" if oos["ratio"] is None else f"{oos['ratio']:.1f}",
                "ratio_seed_mean": f"{fit['seed_mean_curves']['ratio']:.1f}",
                "by_run": ", ".join(f"{k} {v:.3f}" for k, v in fit["alpha_by_run"].items())}
    if figure == "prediction":
        scores = read_json(inputs["scores"])
        held = [p for p in _key(scores, "predictions", str(inputs["scores"])) if p["kind"] == "holdout"]
        predicted = [p for p in scores["predictions"] if p["kind"] == "predicted"]
        held_note = (f"{len(held)} width(s) held out" if held else
                     "; ".join(scores["warnings"]) or f"no width held out (analysis.holdout: {scores['holdout']})")
        return {"method": scores["method"], "baseline": scores["baseline_method"],
                "summary": f"{held_note}; {len(predicted)} width(s) never trained predicted",
                "predicted": [{"width": p["width"], "final_loss": fmt_ci(p["final_loss"], *p["final_ci"]),
                               "horizon": fmt(p["horizon_flops"])} for p in predicted],
                "held_out": [{"width": p["width"], "x_min": fmt(p["scores"]["x_scored"][0]),
                              "rmse": fmt(p["scores"]["rmse_over_sigma"]),
                              "baseline_rmse": fmt(p["baseline_scores"]["rmse_over_sigma"]),
                              "final": _percent(p["scores"]["final_loss_rel_error"]),
                              "baseline_final": _percent(p["baseline_scores"]["final_loss_rel_error"]),
                              "coverage": fmt_frac(p["scores"]["band_coverage"])} for p in held]}
    if figure == "summary":
        return {"tasks": len(inputs["horizon"]), "studies": len(inputs["summary"])}
    raise ValueError(f"caption_numbers: unknown figure {figure!r}")


def theory_spreads(df: pl.DataFrame) -> list[dict]:
    """Per horizon exponent: gamma and the largest spread of ell across model sizes at any x."""
    spread = (df.group_by("gamma_scale", "gamma", "x").agg((pl.col("ell").max() - pl.col("ell").min()).alias("d"))
              .group_by("gamma_scale", "gamma").agg(pl.col("d").max()).sort("gamma_scale"))
    return [{"gamma_scale": fmt(r["gamma_scale"]), "gamma": fmt(r["gamma"]), "spread": fmt(r["d"], 2)}
            for r in spread.to_dicts()]
