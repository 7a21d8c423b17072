"""The schedule study in the DAG (rules/schedules.smk): job list, bad config, and a tiny real run."""

from __future__ import annotations

import copy
import json

import pytest

from helpers import TINY, copy_project, snakemake, write_config

# Three real runs (const, linear and cosine decaying over the last half) of a width-8 MLP.
TINY_SCHEDULES = {"enabled": True, "width": 8, "steps": 240, "seeds": 2, "schedules": ["const", "linear", "cosine"],
                  "decay_fracs": [0.5], "noise_examples": 128, "noise_chunk": 64, "n_boot": 50}


def _config(**schedules):
    cfg = copy.deepcopy(TINY)
    cfg["schedules"] = {**TINY_SCHEDULES, **schedules}
    return cfg


def test_dry_run_schedules_one_job_per_schedule_and_decay(tmp_path):
    proj = copy_project(tmp_path / "proj")
    write_config(proj, _config(schedules=["const", "linear", "cosine", "multicosine", "quadratic"],
                               decay_fracs=[1.0, 0.2]))
    out = snakemake(proj, "-n", "--cores", "1", "results/fourier/schedules/alpha.json")
    text = out.stdout + out.stderr
    # const once, every other schedule at each decay fraction; the fixed horizon needs no frontier.
    assert text.count("rule schedule_run:") == 9 and "rule fit_noise_model:" in text
    assert "sweep_run" not in text and "fit_frontier" not in text
    for name in ("const-d1", "linear-d0.2", "quadratic-d1", "multicosine-d0.2"):
        assert f"schedules/runs/{name}.parquet" in text
    # steps null: horizons come from the frontier fit at the study's width.
    write_config(proj, _config(steps=None))
    text = "".join(snakemake(proj, "-n", "--cores", "1", "results/fourier/schedules/alpha.json").stdout)
    assert "fit_frontier" in text


@pytest.mark.parametrize("change, message", [
    ({"schedules": ["linear", "cosine"]}, "schedules.schedules must include 'const'"),
    ({"tasks": ["nope"]}, "schedules.tasks: unknown tasks"),
    ({"steps": 3}, "must exceed tasks.fourier.optim.warmup_steps"),
    ({"noise_examples": 4096}, "schedules.noise_examples (4096) exceeds the 512 evaluation examples"),
])
def test_bad_schedule_config_names_the_key(tmp_path, change, message):
    proj = copy_project(tmp_path / "proj")
    write_config(proj, _config(**change))
    out = snakemake(proj, "-n", "--cores", "1", check=False)
    assert out.returncode != 0 and message in out.stdout + out.stderr


@pytest.mark.slow
def test_tiny_schedule_study_runs_end_to_end(tmp_path):
    proj = copy_project(tmp_path / "proj")
    write_config(proj, _config())
    snakemake(proj, "--cores", "2", "results/fourier/schedules/figures/noise_model.png")
    res = proj / "results" / "fourier" / "schedules"
    fit = json.loads((res / "alpha.json").read_text())
    assert fit["n_seeds"] == 2 and len(fit["alpha_ci"]) == 2 and set(fit["alpha_by_run"]) == {"linear/0.5", "cosine/0.5"}
    assert fit["pooled"]["rmse_baseline"] > 0 and (res / "figures" / "noise_model.png").stat().st_size > 0
    import polars as pl

    runs = pl.read_parquet(res / "runs" / "cosine-d0.5.parquet")
    assert runs.filter(pl.col("step") > 0)["noise_trace"].is_finite().all() and runs["width"].unique().to_list() == [8]
