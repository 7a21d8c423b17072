"""The one-page summary table and the caption numbers, on small hand-written artifacts."""

from __future__ import annotations

from html.parser import HTMLParser

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from supercollapse import summary as sm
from supercollapse.stages.report import write_summary
from supercollapse.io import write_json, write_table
from supercollapse.schemas import LHAT_SENSITIVITY, STUDIES, SUMMARY, THEORY

STUDY_NAMES = ["optimal", "constant_lr"]
PAIRS = [(task, study) for task in ("a", "b") for study in STUDY_NAMES]  # task-major, as the rule passes them


def _horizon(gamma: float, isoflop_ok: bool = True) -> dict:
    """Task b's width bootstrap was skipped (fewer than 3 interior widths) and its IsoFLOP fit failed."""
    iso = ({"gamma": gamma + 0.02, "exponent_se": 0.14, "r2": 0.93, "kappa": 0.005,
            "horizon_ratio_to_envelope": [1.03, 0.98, 1.01]} if isoflop_ok else {"error": "isoflop: no levels"})
    return {"kappa": 0.0042, "gamma": gamma, "exponent_se": 0.0496, "r2": 0.9984, "r2_grid": 0.838,
            "points_params": [924, 1616, 3576], "points_compute": [2e9, 6e9, 2e10], "isoflop": iso, "warnings": [],
            "bootstrap": {"ci": {"gamma": [gamma - 0.07, gamma + 0.45], "kappa": [0.0024, 0.072]}, "n_boot": 100},
            "truncated_widths": [], "truncated_policy": "exclude",
            "bootstrap_widths": ({"ci": {"gamma": [0.5, 0.9], "kappa": [0.001, 0.01]}} if isoflop_ok else
                                 {"ci": {"gamma": [None, None], "kappa": [None, None]}, "skipped": "2 widths"})}


def _study_row(task: str, study: str, ratio: float) -> dict:
    const = study == "constant_lr"
    return {"task": task, "study": study, "schedule": "const" if const else "linear",
            "decay_frac": 1.0, "gamma_scale": 1.0, "lr_reference_width": None, "l_hat": 0.0,
            "mean_ratio_raw": ratio, "mean_ratio_raw_lo": ratio - 0.1, "mean_ratio_raw_hi": ratio + 1.0,
            "mean_ratio_norm": ratio + 0.1, "mean_ratio_norm_lo": ratio, "mean_ratio_norm_hi": ratio + 1.2,
            "frac_x_delta_below_sigma_raw": 0.31, "median_anova_p": 0.0039}


def _summary_json(ratio: float, warnings: tuple[str, ...] = ()) -> dict:
    return {"warnings": list(warnings), "widths": [12, 16, 24, 32], "seeds_per_width": 4, "x_window": [0.2, 0.95], "l_hat": 0.0,
            "mean_ratio_raw": ratio, "mean_ratio_raw_ci": [ratio - 0.1, ratio + 1.0],
            "mean_ratio_norm": ratio + 0.1, "mean_ratio_norm_ci": [ratio, ratio + 1.2],
            "frac_x_delta_below_sigma_raw": 0.31, "frac_x_delta_below_sigma_norm": 0.12,
            "median_anova_p": 0.0039, "frac_x_anova_p_below_0.05": 0.89, "mean_delta_std": 0.055,
            "mean_sigma_raw": 0.038, "mean_sigma_norm": 0.035,
            "l_hat_sensitivity": {"l_hat_lo": {"l_hat": -0.01, "mean_ratio_raw": ratio - 0.2},
                                  "l_hat_hi": {"l_hat": 0.01, "mean_ratio_raw": ratio + 0.2}}}


LHAT = {"l_hat": 0.0012, "a": 0.043, "b": 0.159, "end_points": [{}, {}, {}],
        "ci": {"l_hat": [0.0, 0.003], "a": [0.04, 0.047], "b": [0.15, 0.17]}}


def _sensitivity(ratios: list) -> pa.Table:
    """Trial L_hat = offset / 10; None marks an L_hat that cannot normalize some curve."""
    offsets = [-1.0, -0.5, 0.0, 0.5, 0.9][: len(ratios)]
    return pa.Table.from_pydict({"offset_frac": offsets, "l_hat": [o / 10 for o in offsets],
                                 "mean_ratio_raw": ratios, "mean_ratio_norm": ratios, "mean_delta_std": ratios},
                                schema=LHAT_SENSITIVITY)


def _prediction_json(held_out: bool) -> dict:
    """Widths 24 and 32 held out (the summary reports the largest), or none."""
    def held(width, rmse):
        return {"width": width, "kind": "holdout",
                "scores": {"rmse_over_sigma": rmse, "final_loss_rel_error": -0.02, "band_coverage": 0.9},
                "baseline_scores": {"rmse_over_sigma": 7.5, "final_loss_rel_error": 0.11}}
    return {"predictions": [held(24, 0.5), held(32, 1.4), {"width": 64, "kind": "predicted"}] if held_out else []}


@pytest.fixture()
def artifacts(tmp_path):
    """Two tasks x two studies; task b's IsoFLOP fit failed and its sensitivity minimum is at the scan's end."""
    paths = {k: [] for k in ("horizon", "studies", "summary", "lhat", "sensitivity", "prediction")}
    for task, gamma, sens in (("a", 0.75, [2.0, 1.2, 1.4, None, None]), ("b", 1.03, [0.6, 0.9, 1.1, 2.0, 3.0])):
        d = tmp_path / task
        write_json(d / "horizon.json", _horizon(gamma, isoflop_ok=task == "a"))
        paths["horizon"].append(d / "horizon.json")
        rows = [_study_row(task, s, r) for s, r in zip(STUDY_NAMES, (1.36, 2.5))]
        write_table(d / "studies.parquet", pa.Table.from_pylist(rows, schema=STUDIES))
        paths["studies"].append(d / "studies.parquet")
        for study, ratio in zip(STUDY_NAMES, (1.36, 2.5)):
            warnings = ("widths [64] extrapolated",) if (task, study) == ("b", "optimal") else ()
            write_json(d / study / "summary.json", _summary_json(ratio, warnings))
            write_json(d / study / "lhat.json", LHAT)
            write_table(d / study / "lhat_sensitivity.parquet", _sensitivity(sens))
            write_json(d / study / "prediction_scores.json", _prediction_json((task, study) == ("a", "optimal")))
            for k, name in (("summary", "summary.json"), ("lhat", "lhat.json"),
                            ("sensitivity", "lhat_sensitivity.parquet"), ("prediction", "prediction_scores.json")):
                paths[k].append(d / study / name)
    return paths


def test_summary_stage_writes_one_row_per_task_and_study(artifacts, tmp_path):
    out = tmp_path / "out"
    write_summary(["a", "b"], PAIRS, artifacts, out / "s.parquet", out / "s.md", out / "s.html")
    table = pq.read_table(out / "s.parquet")
    assert table.schema.equals(SUMMARY)
    df = pl.from_arrow(table)
    assert df.select("task", "study").rows() == [("a", "optimal"), ("a", "constant_lr"),
                                                  ("b", "optimal"), ("b", "constant_lr")]
    a_opt = df.row(0, named=True)
    assert df["verdict"].to_list() == ["collapse", "no collapse"] * 2  # 1.36 [1.26, 2.36] and 2.5: threshold 2
    assert (a_opt["holdout_width"], a_opt["pred_rmse_over_sigma"], a_opt["baseline_rmse_over_sigma"]) == (32, 1.4, 7.5)
    assert df["holdout_width"].to_list()[1:] == [None] * 3
    assert a_opt["gamma"] == 0.75 and a_opt["gamma_se"] == 0.0496
    assert a_opt["gamma_lo"] == pytest.approx(0.68) and a_opt["gamma_hi"] == pytest.approx(1.2)
    assert (a_opt["gamma_widths_lo"], a_opt["gamma_widths_hi"]) == (0.5, 0.9)
    assert a_opt["kappa_lo"] == 0.0024 and a_opt["frontier_points"] == 3
    assert (a_opt["isoflop_horizon_ratio_min"], a_opt["isoflop_horizon_ratio_max"]) == (0.98, 1.03)
    assert (a_opt["l_hat"], a_opt["l_hat_hi"], a_opt["b_lo"]) == (0.0012, 0.003, 0.15)
    assert a_opt["mean_ratio_raw"] == 1.36 and a_opt["mean_ratio_norm_hi"] == pytest.approx(2.56)
    assert a_opt["n_widths"] == 4 and a_opt["seeds_per_width"] == 4 and a_opt["frac_x_anova_p_below_0_05"] == 0.89
    assert a_opt["ratio_raw_at_l_hat_lo"] == pytest.approx(1.16)
    # Task a: nulls (L_hat too high to normalize) are skipped, the minimum lies inside the scan.
    assert (a_opt["sensitivity_min_ratio_raw"], a_opt["sensitivity_min_l_hat"], a_opt["sensitivity_min_at_edge"]) \
        == (1.2, -0.05, False)
    b_opt = df.row(2, named=True)
    assert b_opt["gamma"] == 1.03 and b_opt["gamma_widths_lo"] is None
    assert b_opt["isoflop_gamma"] is None and b_opt["isoflop_horizon_ratio_min"] is None
    assert (b_opt["sensitivity_min_ratio_raw"], b_opt["sensitivity_min_at_edge"]) == (0.6, True)
    # The frontier is the task's: the same on each of its studies.
    assert df.filter(pl.col("task") == "b")["gamma"].unique().to_list() == [1.03]

    md = (out / "s.md").read_text()
    assert ("| a | 0.75 ± 0.05 | [0.68, 1.2] | [0.5, 0.9] | 0.0042 [0.0024, 0.072] | 0.998, 0.838 | 3 "
            "| 0.77 ± 0.14 | 0.98–1.03 |") in md
    assert "| b | 1.03 ± 0.05 | [0.96, 1.48] | – | 0.0042 [0.0024, 0.072] | 0.998, 0.838 | 3 | – | – |" in md
    assert ("| a | constant_lr | const; fitted γ; µP | 4 × 4 | 2.5 [2.4, 3.5] | 2.6 [2.5, 3.7] | 31% "
            "| 0.0039 (89% < 0.05) |") in md
    assert "0.6 at L̂ = -0.1, end of the scanned range" in md
    assert "x ∈ [0.2, 0.95]" in md
    # Warnings (summary.json's, e.g. extrapolated horizons) are a column and a section of their own.
    assert df["warnings"].to_list() == [[], [], ["widths [64] extrapolated"], []]
    assert "## Warnings" in md and "| b | optimal | widths [64] extrapolated |" in md

    # The HTML page holds the same cells as the Markdown.
    class Cells(HTMLParser):
        def __init__(self):
            super().__init__()
            self.cells, self._in = [], False

        def handle_starttag(self, tag, attrs):
            self._in = tag in ("td", "th")

        def handle_endtag(self, tag):
            self._in = False

        def handle_data(self, data):
            if self._in:
                self.cells.append(data)

    parser = Cells()
    parser.feed((out / "s.html").read_text())
    md_cells = [c.strip().replace("\\|", "|") for line in md.splitlines() if line.startswith("| ")
                for c in line[2:-2].split(" | ")]
    assert parser.cells == md_cells


def _alpha_json(one_run: bool = False) -> dict:
    """A schedule study's alpha.json (stages/analysis.py, noise_model_stage), numbers of the default Fourier study."""
    fit = {"task": "b", "alpha": 0.2479, "alpha_ci": [0.2392, 0.2533], "n_seeds": 4, "n_boot": 1000,
           "pooled": {"rmse_baseline": 0.02086, "rmse_model": 0.005620, "ratio": 3.712},
           "alpha_by_run": {"linear/1": 0.2537},
           "seed_mean_curves": {"ratio": 6.019, "rmse_baseline": 0.02042, "rmse_model": 0.003392},
           "study": {"width": 24, "steps": 4000, "seeds": 4}}
    if one_run:  # a study of one scheduled run: no other runs to predict it from
        return fit | {"out_of_sample": {"ratio": None, "alphas": {}}}
    return fit | {"out_of_sample": {"ratio": 3.703, "rmse_baseline": 0.02086, "rmse_model": 0.005634}}


def test_noise_model_columns_when_the_schedule_study_runs(artifacts, tmp_path):
    """The schedule study runs on task b only: b's rows carry alpha and the RMSE ratios, a's are null."""
    write_json(tmp_path / "b" / "schedules" / "alpha.json", _alpha_json())
    inputs = {**artifacts, "alpha": [tmp_path / "b" / "schedules" / "alpha.json"]}
    out = tmp_path / "out"
    write_summary(["a", "b"], PAIRS, inputs, out / "s.parquet", out / "s.md", out / "s.html",
                     noise_tasks=["b"])
    df = pl.read_parquet(out / "s.parquet")
    b = df.filter(pl.col("task") == "b")
    assert b["noise_alpha"].to_list() == [0.2479, 0.2479]  # the task's, on each of its studies
    row = b.row(0, named=True)
    assert (row["noise_alpha_lo"], row["noise_alpha_hi"], row["noise_width"], row["noise_seeds"]) == (0.2392, 0.2533, 24, 4)
    assert (row["noise_rmse_model"], row["noise_rmse_baseline"], row["noise_rmse_ratio"]) == (0.005620, 0.02086, 3.712)
    assert (row["noise_rmse_ratio_out_of_sample"], row["noise_rmse_ratio_seed_mean"]) == (3.703, 6.019)
    a = df.filter(pl.col("task") == "a")
    assert all(a[c].null_count() == a.height for c in sm.NOISE_COLUMNS)
    md = (out / "s.md").read_text()
    assert "## SGD-noise model of LR schedules" in md
    assert "| b | 24 × 4 | 0.248 [0.239, 0.253] | 0.00562 vs 0.0209 | 3.7× | 3.7× | 6× |" in md
    assert "| a | " not in md.split("## SGD-noise model", 1)[1]  # no row for a task without the study
    assert "SGD-noise model" in (out / "s.html").read_text()

    # One scheduled run only: no out-of-sample reading, its cell reads as missing.
    write_json(tmp_path / "b" / "schedules" / "alpha.json", _alpha_json(one_run=True))
    write_summary(["a", "b"], PAIRS, inputs, out / "s.parquet", out / "s.md", out / "s.html",
                     noise_tasks=["b"])
    row = pl.read_parquet(out / "s.parquet").filter(pl.col("task") == "b").row(0, named=True)
    assert row["noise_rmse_ratio_out_of_sample"] is None and row["noise_alpha"] == 0.2479
    assert "| b | 24 × 4 | 0.248 [0.239, 0.253] | 0.00562 vs 0.0209 | 3.7× | – | 6× |" in (out / "s.md").read_text()

    # Without the study: no noise section, every noise column null.
    write_summary(["a", "b"], PAIRS, artifacts, out / "s.parquet", out / "s.md", out / "s.html")
    assert "SGD-noise" not in (out / "s.md").read_text()
    assert pl.read_parquet(out / "s.parquet")["noise_alpha"].null_count() == 4


def test_noise_inputs_that_do_not_match_are_named(artifacts, tmp_path):
    alpha = tmp_path / "alpha.json"
    write_json(alpha, _alpha_json())
    with pytest.raises(ValueError, match=r"1 alpha paths for the schedule study's 2 tasks \['a', 'b'\]"):
        write_summary(["a", "b"], PAIRS, {**artifacts, "alpha": [alpha]}, tmp_path / "s.parquet",
                         tmp_path / "s.md", tmp_path / "s.html", noise_tasks=["a", "b"])
    with pytest.raises(ValueError, match=r"alpha.json given for tasks \['c'\]"):
        sm.read_summary_rows(["a", "b"], PAIRS, *(artifacts[k] for k in
                             ("horizon", "studies", "summary", "lhat", "sensitivity", "prediction")),
                             alpha_paths={"c": alpha})
    bad = _alpha_json()
    del bad["pooled"]["ratio"]
    write_json(alpha, bad)
    with pytest.raises(ValueError, match=r"alpha.json pooled: missing key 'ratio'"):
        write_summary(["a", "b"], PAIRS, {**artifacts, "alpha": [alpha]}, tmp_path / "s.parquet",
                         tmp_path / "s.md", tmp_path / "s.html", noise_tasks=["a"])


def test_missing_key_and_mismatched_inputs_are_named(artifacts, tmp_path):
    bad = _summary_json(1.0)
    del bad["seeds_per_width"]
    write_json(artifacts["summary"][1], bad)
    with pytest.raises(ValueError, match=r"constant_lr/summary.json: missing key 'seeds_per_width'"):
        write_summary(["a", "b"], PAIRS, artifacts, tmp_path / "s.parquet", tmp_path / "s.md",
                         tmp_path / "s.html")
    with pytest.raises(ValueError, match=r"3 lhat paths for 2 tasks and 4 \(task, study\) pairs"):
        sm.read_summary_rows(["a", "b"], PAIRS, artifacts["horizon"], artifacts["studies"],
                             artifacts["summary"], artifacts["lhat"][:3], artifacts["sensitivity"],
                             artifacts["prediction"])
    with pytest.raises(ValueError, match="no row for study 'gamma_low'"):
        sm.read_summary_rows(["a"], [("a", "gamma_low")], artifacts["horizon"][:1], artifacts["studies"][:1],
                             artifacts["summary"][:1], artifacts["lhat"][:1], artifacts["sensitivity"][:1],
                             artifacts["prediction"][:1])


def test_caption_numbers(artifacts, tmp_path):
    n = sm.caption_numbers("frontier", {"horizon": artifacts["horizon"][0], "sweep": []})
    assert n["gamma"] == "0.75 ± 0.05" and n["gamma_ci"] == "[0.68, 1.2]" and n["gamma_ci_widths"] == "[0.5, 0.9]"
    assert n["isoflop_ratio"] == "0.98–1.03"
    assert sm.caption_numbers("frontier", {"horizon": artifacts["horizon"][1]})["gamma_ci_widths"] is None
    n = sm.caption_numbers("curves", {"lhat": artifacts["lhat"][0]})
    assert n == {"l_hat": "0.0012 [0, 0.003]", "a": "0.043 [0.04, 0.047]", "b": "0.159 [0.15, 0.17]",
                 "n_end_points": 3}
    n = sm.caption_numbers("deviation", {"summary": artifacts["summary"][0],
                                         "sensitivity": artifacts["sensitivity"][0]})
    assert n["ratio_raw"] == "1.36 [1.26, 2.36]" and n["frac_p"] == "89%" and n["widths"] == "12, 16, 24, 32"
    assert n["ratio_at_ci"] == "1.16, 1.56" and n["sensitivity_min"] == "1.2 at L̂ = -0.05"
    n = sm.caption_numbers("studies", {"studies": artifacts["studies"][1]})
    assert [s["study"] for s in n["studies"]] == STUDY_NAMES and n["studies"][1]["ratio_raw"] == "2.5 [2.4, 3.5]"

    theory = tmp_path / "theory.parquet"
    rows = [(s, 0.5 * s, p, x, 1.0 + (s - 1.0) * p * x) for s in (0.9, 1.0) for p in (1.0, 2.0) for x in (0.5, 1.0)]
    write_table(theory, pa.Table.from_pylist([dict(zip(THEORY.names, r)) for r in rows], schema=THEORY))
    assert sm.caption_numbers("theory", {"curves": theory})["panels"] == [
        {"gamma_scale": "0.9", "gamma": "0.45", "spread": "0.1"}, {"gamma_scale": "1", "gamma": "0.5", "spread": "0"}]
    # An undefined bootstrap bound (NaN) stays visible; an absent value reads as MISSING.
    assert sm.fmt_ci(0.9, 0.87, float("nan")) == "0.9 [0.87, nan]" and sm.fmt(None) == sm.MISSING
    with pytest.raises(ValueError, match="unknown figure 'nope'"):
        sm.caption_numbers("nope", {})
