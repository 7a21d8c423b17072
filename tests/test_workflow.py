"""End-to-end runs of the Snakemake workflow on a tiny config, in a copy of the project tree (tests/helpers.py).

The `project` fixture (conftest.py) runs the tiny config once per session; tests that edit it restore it."""

from __future__ import annotations

import json

import pytest

from helpers import TINY
from helpers import scheduled_jobs as _scheduled
from helpers import copy_project as _copy_project
from helpers import snakemake as _snakemake
from helpers import write_config as _write_config


@pytest.mark.slow
def test_full_run_produces_every_artifact(project):
    res = project / "results" / "fourier"
    for rel in ("data/meta.json", "frontier/horizon.json", "frontier/envelope.parquet", "figures/frontier.png",
                "optimal/lhat.json", "optimal/normalized.parquet", "optimal/statistics.parquet",
                "optimal/summary.json", "optimal/figures/curves.png", "optimal/figures/collapse.png",
                "optimal/figures/deviation.png", "studies.parquet", "figures/studies.png"):
        assert (res / rel).stat().st_size > 0, rel
    for rel in ("theory/curves.parquet", "theory/theory.png", "summary/summary.parquet", "summary/summary.md",
                "summary/summary.html"):
        assert (project / "results" / rel).stat().st_size > 0, rel
    horizon = json.loads((res / "frontier/horizon.json").read_text())
    assert {"kappa", "gamma", "r2", "exponent_se"} <= horizon.keys()
    summary = json.loads((res / "optimal/summary.json").read_text())
    assert summary["widths"] == [8, 12, 16] and summary["seeds_per_width"] == 2
    assert summary["mean_ratio_raw"] > 0 and len(summary["mean_ratio_raw_ci"]) == 2
    # Logs carry the progress lines of the training jobs.
    assert "samples/s" in (project / "results/logs/fourier/optimal/w12.log").read_text()
    # No temporary files left behind.
    assert not list((project / "results").rglob("*.tmp*"))


@pytest.mark.slow
def test_nothing_is_scheduled_when_nothing_changed(project):
    assert _scheduled(project) == {}


@pytest.mark.slow
def test_adding_a_collapse_width_schedules_only_that_width_and_downstream(project):
    cfg = json.loads(json.dumps(TINY))
    cfg["tasks"]["fourier"]["collapse"]["widths"] = [8, 12, 16, 24]
    _write_config(project, cfg)
    try:
        jobs = _scheduled(project)
    finally:
        _write_config(project, TINY)
    assert jobs == {"optimal_run": 1, "fit_lhat": 1, "collapse_stats": 1, "plot_curves": 1,
                    "plot_collapse": 1, "plot_deviation": 1, "study_summary": 1, "plot_studies": 1,
                    "predict": 1, "plot_prediction": 1, "summary_table": 1, "all": 1}


@pytest.mark.slow
def test_predicting_another_width_adds_no_training_and_reruns_only_the_prediction(project):
    scores = json.loads((project / "results/fourier/optimal/prediction_scores.json").read_text())
    assert [(p["width"], p["kind"]) for p in scores["predictions"]] == [(20, "predicted")]
    assert "no width held out" in scores["warnings"][0]
    cfg = json.loads(json.dumps(TINY))
    cfg["tasks"]["fourier"]["collapse"]["predict_widths"] = [20, 48]
    _write_config(project, cfg)
    try:
        jobs = _scheduled(project)
    finally:
        _write_config(project, TINY)
    assert jobs == {"predict": 1, "plot_prediction": 1, "summary_table": 1, "all": 1}


@pytest.mark.slow
def test_lengthening_one_sweep_width_reruns_only_that_sweep_run(project):
    cfg = json.loads(json.dumps(TINY))
    width = cfg["tasks"]["fourier"]["sweep"]["widths"][-1]
    cfg["tasks"]["fourier"]["sweep"]["steps_by_width"] = {width: cfg["tasks"]["fourier"]["sweep"]["steps"] + 100}
    _write_config(project, cfg)
    try:
        jobs = _scheduled(project)
    finally:
        _write_config(project, TINY)
    assert jobs["sweep_run"] == 1 and jobs["fit_frontier"] == 1 and "make_task" not in jobs


@pytest.mark.slow
def test_changing_a_plot_option_schedules_only_plots(project):
    cfg = json.loads(json.dumps(TINY))
    cfg["plots"]["dpi"] = 72
    _write_config(project, cfg)
    try:
        jobs = _scheduled(project)
    finally:
        _write_config(project, TINY)
    assert jobs == {"plot_frontier": 1, "plot_curves": 1, "plot_collapse": 1, "plot_deviation": 1,
                    "plot_studies": 1, "plot_theory": 1, "plot_prediction": 1, "all": 1}


@pytest.mark.slow
def test_changing_training_code_schedules_the_training_rules(project):
    engine = project / "src" / "supercollapse" / "train" / "engine.py"
    original = engine.read_text()
    engine.write_text(original + "\n# a comment changes nothing\n")
    try:
        assert _scheduled(project) == {}
        engine.write_text(original + "\nPROGRESS_DEFAULT = 5.0\n")
        jobs = _scheduled(project)
    finally:
        engine.write_text(original)
    fourier = TINY["tasks"]["fourier"]
    assert jobs["sweep_run"] == len(fourier["sweep"]["widths"])
    assert jobs["optimal_run"] == len(fourier["collapse"]["widths"])
    assert jobs["fit_frontier"] == 1 and "make_task" not in jobs


@pytest.mark.slow
def test_ablation_config_adds_its_studies_and_reuses_the_frontier(project):
    out = _snakemake(project, "-n", "--cores", "1", "--configfile", "config/ablations.yaml")
    text = out.stdout + out.stderr
    for study in ("constant_lr", "no_mup", "gamma_low", "gamma_high"):
        assert f"results/fourier/{study}/summary.json" in text, study
    stats = text.split("Job stats:", 1)[1]
    assert "sweep_run" not in stats and "fit_frontier" not in stats and "optimal_run" in stats


@pytest.mark.slow
def test_lint_is_clean(project):
    out = _snakemake(project, "--lint")
    assert "Congratulations" in out.stdout + out.stderr


def test_snakefmt_is_clean():
    """Snakefile and rules/ are formatted as snakefmt writes them (settings: [tool.snakefmt] in pyproject.toml)."""
    import subprocess
    import sys

    from helpers import ROOT

    out = subprocess.run([sys.executable, "-m", "snakefmt", "--check", "Snakefile", "rules"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def _bad(tmp_path, mutate) -> str:
    proj = tmp_path / "proj"
    if not proj.exists():
        _copy_project(proj)
    cfg = json.loads(json.dumps(TINY))
    mutate(cfg)
    _write_config(proj, cfg)
    out = _snakemake(proj, "-n", "--cores", "1", check=False)
    assert out.returncode != 0
    assert not (proj / "results").exists()
    return out.stdout + out.stderr


@pytest.mark.parametrize("mutate,expected", [
    (lambda c: c["studies"]["optimal"].update(schedule="stepwise"), "schedule"),
    (lambda c: c["tasks"]["fourier"]["sweep"].update(widths=[4, 0, 8]), "widths"),
    (lambda c: c["tasks"]["fourier"]["collapse"].update(widths=[]), "widths"),
    (lambda c: c["tasks"]["fourier"]["collapse"].update(seeds=1), "seeds"),
    (lambda c: c["tasks"]["fourier"]["optim"].update(lr=-1.0), "lr"),
    (lambda c: c["tasks"]["fourier"]["optim"].update(learning_rate=0.1), "learning_rate"),
    (lambda c: c["tasks"]["fourier"]["optim"].update(warmup_steps=5000), "warmup_steps"),
    (lambda c: c.update(theory={"terms": [{"a": 1, "mu": 0.3, "nu": 0.1}, {"a": 1, "mu": 0.3, "nu": 0.2}]}),
     "theory.terms"),
    (lambda c: c["studies"].update({"gamma_1.1": {"gamma_scale": 1.1}}), "studies.gamma_1.1"),
    (lambda c: c["tasks"]["fourier"]["sweep"].update(steps_by_width={7: 500}), "steps_by_width"),
    (lambda c: c["tasks"]["fourier"]["sweep"].update(steps_by_width={8: 1}), "steps_by_width"),
    (lambda c: c["tasks"]["fourier"]["sweep"].update(steps_by_width={8: 5}), "sweep length of width 8"),
    # Issue 17: each case fails before any job, naming the key.
    (lambda c: c["tasks"]["fourier"]["collapse"].update(widths=[8, 12]),  # 1
     "tasks.fourier.collapse.widths needs >= 3 widths"),
    (lambda c: c["tasks"]["fourier"]["optim"].update(lr=float("nan")),  # 2
     "tasks.fourier.optim.lr: expected a finite number, got nan"),
    (lambda c: c["tasks"]["fourier"]["sweep"].update(seeds=1), "seeds"),  # 5: the schema's minimum, with the path
    (lambda c: c["tasks"]["fourier"]["collapse"].update(widths=[8, 12, 4096]),  # 6
     "set tasks.fourier.collapse.extrapolate: true"),
    (lambda c: c["tasks"]["fourier"].update(devices=3), "divisible by tasks.fourier.devices (3)"),  # 8
    (lambda c: c["tasks"]["fourier"]["collapse"].update(widths=[8.0, 12, 16]),  # 10
     "tasks.fourier.collapse.widths: widths are integers (model widths), got [8.0]"),
    (lambda c: c["tasks"]["fourier"]["sweep"].update(steps_by_width={"abc": 100}),  # 11
     "tasks.fourier.sweep.steps_by_width: keys are sweep widths (integers), got ['abc']"),
    (lambda c: c["studies"]["optimal"].update(decay_frac=0), "studies.optimal.decay_frac is 0"),  # 17
    (lambda c: c.update(results=""), "results: expected a folder of its own"),  # 18
    (lambda c: c.update(results="/"), "results: expected a folder of its own"),  # 18
])
def test_bad_config_fails_fast_naming_the_key(tmp_path, mutate, expected):
    message = _bad(tmp_path, mutate)
    assert expected in message


@pytest.mark.parametrize("mutate,expected", [
    # Issue 17, case 7: a width whose job cannot fit in this machine's memory (a real run, not a dry run: only
    # jobs that run here are checked against this machine).
    (lambda c: c["tasks"]["fourier"]["sweep"].update(widths=[8, 12, 100000]), "width 100000 (batch 256, 2 seeds) needs"),
    # Case 8: more devices than this machine has.
    (lambda c: c["tasks"]["fourier"].update(devices=64), "tasks.fourier.devices is 64, but this machine has"),
])
def test_what_this_machine_cannot_run_fails_before_any_job(tmp_path, mutate, expected):
    proj = _copy_project(tmp_path / "proj")
    cfg = json.loads(json.dumps(TINY))
    mutate(cfg)
    _write_config(proj, cfg)
    out = _snakemake(proj, "--cores", "1", check=False)
    assert out.returncode != 0 and expected in out.stdout + out.stderr
    assert not (proj / "results").exists()


def test_extrapolated_collapse_widths_are_allowed_on_request_and_recorded(tmp_path):
    """Issue 17, case 6: with collapse.extrapolate the DAG builds, and the collapse rule carries the warning
    that goes into summary.json and the summary page."""
    from supercollapse.config_checks import collapse_warnings

    proj = _copy_project(tmp_path / "proj")
    cfg = json.loads(json.dumps(TINY))
    cfg["tasks"]["fourier"]["collapse"].update(widths=[8, 12, 32], extrapolate=True)
    _write_config(proj, cfg)
    out = _snakemake(proj, "-n", "--cores", "1", "-p")
    assert "collapse_stats" in out.stdout
    cfg["tasks"]["fourier"]["sweep"].setdefault("widths", [8, 12, 16, 24])
    assert collapse_warnings(cfg, "fourier") == [
        "collapse widths [32] lie outside the sweep's widths [8, 24]: their horizons are extrapolated from the "
        "frontier fit (tasks.fourier.collapse.extrapolate: true)"]


@pytest.mark.slow
def test_trained_curves_read_back_as_an_external_task_give_the_same_results(project, tmp_path):
    """Issue 14: the tiny config's own curves, exported through the external contract as CSV and read back as
    an external task of the same name, give the native horizon, L_hat, statistics and summary (to 1e-12)."""
    import numpy as np
    import polars as pl

    contract = ("width", "params", "seed", "step", "compute", "eval_loss", "lr", "tokens")
    proj = _copy_project(tmp_path / "proj")
    (proj / "runs").mkdir()
    native = project / "results" / "fourier"
    for role, files in (("sweep", "sweep/w*.parquet"), ("optimal", "optimal/runs/w*.parquet")):
        runs = pl.concat([pl.read_parquet(p) for p in sorted(native.glob(files))])
        runs.select(contract).rename({"eval_loss": "loss"}).write_csv(proj / "runs" / f"{role}.csv")
    cfg = {k: v for k, v in TINY.items() if k not in ("tasks", "studies")}
    # The native sweep's horizon points (an external task defaults to crossings: docs/external.md).
    cfg["tasks"] = {"fourier": {"kind": "external", "sweep": {"path": "runs/sweep.csv", "points": "centres"},
                                "collapse": {"path": "runs/optimal.csv", "study": "optimal"}}}
    _write_config(proj, cfg)
    _snakemake(proj, "--cores", "2", "results/fourier/optimal/summary.json", "results/fourier/frontier/horizon.json")
    external = proj / "results" / "fourier"

    def same(a, b, where=""):
        if isinstance(a, dict):
            assert a.keys() == b.keys(), where
            for k in a:
                same(a[k], b[k], f"{where}.{k}")
        elif isinstance(a, list):
            assert len(a) == len(b), where
            for i, (x, y) in enumerate(zip(a, b)):
                same(x, y, f"{where}[{i}]")
        elif isinstance(a, float):
            assert a == pytest.approx(b, rel=1e-12, abs=1e-12, nan_ok=True), where
        else:
            assert a == b, where

    for rel in ("frontier/horizon.json", "optimal/lhat.json", "optimal/summary.json"):
        same(json.loads((external / rel).read_text()), json.loads((native / rel).read_text()), rel)
    got, want = (pl.read_parquet(d / "optimal/statistics.parquet") for d in (external, native))
    assert got.columns == want.columns
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-12, atol=1e-12)
