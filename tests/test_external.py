"""The external task kind: runs trained elsewhere, checked and imported (src/supercollapse/external/), then the
unchanged analysis. Contract checks as unit tests; the DAG and a whole external pipeline on synthetic ladders
with a known truth (tests/ladders.py) in a copy of the project tree."""

from __future__ import annotations

import json
import time

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from helpers import TINY, copy_project, scheduled_jobs, snakemake, write_config
from ladders import Ladder, ladder_params
from supercollapse.config_checks import check_config
from supercollapse.analysis.sweep_frontier import sweep_frontier
from supercollapse.external.sources import read_role

WIDTHS = [16, 24, 32, 48, 64, 96]
TRAINING_RULES = {"make_task", "tokenize", "sweep_run", "optimal_run", "schedule_run", "coord_check"}


def _ladder_tables(seed: int, noise: float = 1e-4, widths=WIDTHS, seeds: int = 3):
    """(sweep, collapse) contract tables of a synthetic Chinchilla ladder, and its truth."""
    truth, rng = Ladder(noise=noise), np.random.default_rng(seed)
    params = ladder_params(widths)
    optimal = truth.optimal_steps(params)
    sweep = truth.runs(widths, params, [4 * max(optimal)] * len(widths), seeds, rng)
    return sweep, truth.runs(widths, params, optimal, seeds, rng), truth


def _task(**blocks) -> dict:
    return {"kind": "external", "columns": {}, "compute": "flops", "drop_diverged": False, **blocks}


def _small(tmp_path, df: pl.DataFrame | None = None, name: str = "runs.csv", **task) -> tuple[dict, str]:
    """A task reading one collapse file (the ladder's by default) in tmp_path, and the file's name."""
    if df is None:
        df = _ladder_tables(0, widths=WIDTHS[:3], seeds=2)[1]
    df.write_csv(tmp_path / name)
    return _task(collapse={"path": name, "study": "optimal"}, **task), name


def _import(tmp_path, task: dict):
    return read_role(task, "collapse", "tasks.mine", tmp_path)


# --- The contract's checks: each error names the file, the column and the row or run ----------------------


def _edit(df: pl.DataFrame, i: int, **values) -> pl.DataFrame:
    """`df` with row i's columns set to `values` (a column becomes a string column where a value is one)."""
    cols = {k: df[k].to_list() for k in df.columns}
    for k, v in values.items():
        cols[k][i] = v
        if isinstance(v, str):
            cols[k] = [str(x) for x in cols[k]]
        elif isinstance(v, float):
            cols[k] = [None if x is None else float(x) for x in cols[k]]
    return pl.DataFrame(cols)


@pytest.mark.parametrize("edit, expected", [
    (lambda df: df.drop("params"), r"runs.csv: missing column\(s\) 'params'"),
    (lambda df: _edit(df, 4, loss="n/a"), r"runs.csv row 5: column 'loss' must be a number, got 'n/a'"),
    (lambda df: _edit(df, 6, step=2.5), r"runs.csv row 7: column 'step' must be a whole number, got 2.5"),
    (lambda df: _edit(df, 2, compute=float("inf")), r"runs.csv row 3: column 'compute' must be a finite number"),
    (lambda df: _edit(df, 0, width=None), r"runs.csv row 1: column 'width' must be a whole number, got None"),
    (lambda df: pl.concat([df, df[3:4]]),
     r"run width 16 seed 0 has step \d+ more than once \(\S*runs.csv row 4, \S*runs.csv row \d+\)"),
    (lambda df: _edit(df, 3, compute=1.0),
     r"runs.csv row 4: column 'compute' must increase with step within run width 16 seed 0"),
    (lambda df: _edit(df, 9, loss=float("nan")),
     r"runs.csv row 10: run width 16 seed 0 diverged at step \d+ \(loss nan.*set drop_diverged: true"),
    (lambda df: df.filter(pl.col("width") != 32), r"tasks.mine.collapse: needs runs of >= 3 widths.*\[16, 24\]"),
    (lambda df: df.filter((pl.col("width") != 24) | (pl.col("seed") == 0)),
     r"tasks.mine.collapse: every width needs >= 2 seeds.*\{24: \[0\]\}"),
    (lambda df: _edit(df, 0, params=7), r"tasks.mine.collapse: width 16 has several parameter counts \[7, \d+\]"),
])
def test_bad_runs_are_named_before_any_job(tmp_path, edit, expected):
    task, _ = _small(tmp_path, edit(_ladder_tables(0, widths=WIDTHS[:3], seeds=2)[1]))
    with pytest.raises(ValueError, match=expected):
        _import(tmp_path, task)
    with pytest.raises(ValueError, match=expected):  # the same check when the config is read, before the DAG
        check_config({**_config(), "tasks": {"mine": task}}, tmp_path)


def test_a_passed_check_is_remembered_until_a_file_or_the_task_changes(tmp_path, monkeypatch):
    """The DAG-time check reads every file (slow for large logs) only when something it depends on changed."""
    from supercollapse.external import sources

    from snakemake.utils import validate

    task, name = _small(tmp_path)
    cfg = {**_config(), "tasks": {"mine": task}}
    validate(cfg, "workflow/schemas/config.schema.yaml")  # the schema's defaults, as the Snakefile has them
    task = cfg["tasks"]["mine"]
    check_config(cfg, tmp_path)
    reads = []
    real = sources.read_role
    monkeypatch.setattr(sources, "read_role", lambda *a, **k: reads.append(a[1]) or real(*a, **k))
    check_config(cfg, tmp_path)
    assert reads == []  # remembered: nothing read
    check_config({**cfg, "tasks": {"mine": {**task, "drop_diverged": True}}}, tmp_path)
    assert reads == ["collapse"]  # another task config: read again
    df = pl.read_csv(tmp_path / name)
    _edit(df, 9, loss=float("nan")).write_csv(tmp_path / name)  # a changed file (size and time)
    with pytest.raises(ValueError, match=r"runs.csv row 10: run width 16 seed 0 diverged"):
        check_config(cfg, tmp_path)
    with pytest.raises(ValueError, match="diverged"):  # a failed check is never remembered
        check_config(cfg, tmp_path)


def _config() -> dict:
    """The tiny config's global sections, as the schema fills them (a check_config input)."""
    from snakemake.utils import validate

    cfg = {k: v for k, v in TINY.items() if k != "tasks"}
    cfg["tasks"] = {"mine": _task(collapse={"path": "x.csv"})}
    validate(cfg, "workflow/schemas/config.schema.yaml")
    return cfg


@pytest.mark.parametrize("path, expected", [
    ("runs/*.csv", r"tasks.mine.collapse.path: 'runs/\*.csv' matches no file"),
    ("nothere.csv", r"tasks.mine.collapse.path: 'nothere.csv' does not exist"),
    ("runs.txt", r"runs.txt: unknown file type '.txt'; expected .csv, .parquet, or TensorBoard"),
])
def test_paths_that_name_nothing_readable_are_errors(tmp_path, path, expected):
    (tmp_path / "runs.txt").write_text("width,params\n")
    with pytest.raises(ValueError, match=expected):
        _import(tmp_path, _task(collapse={"path": path, "study": "optimal"}))


def test_renames_units_and_tokens_compute(tmp_path):
    df = _ladder_tables(0, widths=WIDTHS[:3], seeds=2)[1]
    flops = _import(tmp_path, _small(tmp_path, df)[0]).runs
    renamed = df.rename({"width": "d_model", "loss": "val/loss"}).with_columns(pl.col("compute") / 1e15)
    task, _ = _small(tmp_path, renamed, "renamed.parquet", columns={"width": "d_model", "loss": "val/loss"},
                     compute="pflops")
    renamed.write_parquet(tmp_path / "renamed.parquet")
    pflops = _import(tmp_path, task).runs
    np.testing.assert_allclose(pflops["compute"], flops["compute"], rtol=1e-15)
    assert pflops["width"].to_list() == flops["width"].to_list()
    task, _ = _small(tmp_path, df.drop("compute"), compute="tokens")
    tokens = _import(tmp_path, task).runs
    np.testing.assert_allclose(tokens["compute"], flops["compute"], rtol=1e-15)  # 6 * params * tokens
    task, _ = _small(tmp_path, df.drop("compute", "tokens"), compute="tokens")
    with pytest.raises(ValueError, match=r"runs.csv: missing column\(s\) 'tokens'"):
        _import(tmp_path, task)


def test_diverged_runs_are_dropped_on_request_and_recorded(tmp_path):
    df = _ladder_tables(0, widths=WIDTHS[:3], seeds=3)[1]
    blown = (pl.col("width") == 24) & (pl.col("seed") == 1) & (pl.col("step") > 50)
    # Ends far above its first loss: the rule the engine flags trained runs by (divergence.py).
    df = df.with_columns(pl.when(blown).then(pl.lit(1e4)).otherwise(pl.col("loss")).alias("loss"))
    task, _ = _small(tmp_path, df, drop_diverged=True)
    imported = _import(tmp_path, task)
    assert [(d["width"], d["seed"]) for d in imported.dropped] == [(24, 1)]
    curves = pl.from_arrow(imported.to_curves("mine", "optimal"))
    assert curves.filter(pl.col("diverged"))["seed"].unique().to_list() == [1]
    task["drop_diverged"] = False
    with pytest.raises(ValueError, match=r"run width 24 seed 1 diverged at step \d+ .*above 2x its first loss"):
        _import(tmp_path, task)


def test_tensorboard_runs_import_to_the_same_table_as_their_csv(tmp_path):
    """Event files written through the writer users log with (tensorboardX, torch's SummaryWriter API): the same
    CURVES table as the CSV of the same curves (TensorBoard stores float32: the CSV holds those values)."""
    from tensorboardX import SummaryWriter

    df = _ladder_tables(0, widths=WIDTHS[:3], seeds=2)[1].with_columns(
        pl.col("loss").cast(pl.Float32).cast(pl.Float64), pl.col("compute").cast(pl.Float32).cast(pl.Float64))
    for (width, seed), run in df.group_by("width", "seed"):
        with SummaryWriter(str(tmp_path / "tb" / f"w{width}_s{seed}")) as writer:
            for row in run.iter_rows(named=True):
                writer.add_scalar("val/loss", row["loss"], row["step"])
                writer.add_scalar("flops", row["compute"], row["step"])
                writer.add_scalar("train/loss", 2 * row["loss"], row["step"] + 1)  # a tag of other steps
    params = dict(zip(WIDTHS[:3], ladder_params(WIDTHS[:3])))
    runs = {f"w{w}_s{s}": {"params": params[w]} for w in WIDTHS[:3] for s in range(2)}
    tb = _task(collapse={"path": "tb", "run_pattern": "w{width}_s{seed}", "runs": runs, "study": "optimal"},
               columns={"loss": "val/loss", "compute": "flops"})
    from_tb = _import(tmp_path, tb).to_curves("mine", "optimal")
    from_csv = _import(tmp_path, _small(tmp_path, df.drop("tokens"))[0]).to_curves("mine", "optimal")
    assert from_tb.schema == from_csv.schema
    assert_frame_equal(pl.from_arrow(from_tb), pl.from_arrow(from_csv), check_exact=True)  # NaN equals NaN


# --- The DAG and whole runs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("draw", [0, 1, 2])
def test_the_frontier_recovers_the_exponent_of_three_ladder_draws(draw):
    """The horizon fit of an external sweep (crossings, its default) on three draws of the ladder: 1 + gamma
    within 0.5% (measured -0.08%, -0.01%, +0.02%); the argmin centres are 1.8-2.9% high on the same draws."""
    sweep, _, truth = _ladder_tables(draw)
    runs = sweep.rename({"loss": "eval_loss"})
    fit = sweep_frontier(runs, n_grid=200, n_boot=0, seed=0, points="crossings").fit
    error = (1 + fit.gamma) / (1 + truth.gamma) - 1
    print(f"draw {draw}: 1 + gamma {1 + fit.gamma:.4f} (truth {1 + truth.gamma:.4f}, {error:+.2%})")
    assert abs(error) < 0.005


@pytest.fixture(scope="module")
def ladder_project(tmp_path_factory):
    """A copy of the project with two external tasks on one synthetic ladder: `ladder` (sweep + compute-optimal
    runs) and `ends` (compute-optimal runs only)."""
    proj = copy_project(tmp_path_factory.mktemp("external"))
    sweep, collapse, truth = _ladder_tables(0)
    (proj / "runs").mkdir()
    sweep.write_csv(proj / "runs" / "sweep.csv")
    collapse.write_parquet(proj / "runs" / "optimal.parquet")
    cfg = {k: v for k, v in TINY.items() if k not in ("tasks", "studies")}
    cfg["tasks"] = {"ladder": {"kind": "external", "sweep": {"path": "runs/sweep.csv"},
                               "collapse": {"path": ["runs/optimal.parquet"]}},
                    "ends": {"kind": "external", "collapse": {"path": "runs/*.parquet", "study": "decayed"}}}
    write_config(proj, cfg)
    return proj, truth


@pytest.mark.slow
def test_external_pipeline_recovers_the_ladder_and_schedules_no_training(ladder_project):
    proj, truth = ladder_project
    jobs = scheduled_jobs(proj)
    assert not TRAINING_RULES & set(jobs), jobs
    assert jobs["import_runs"] == 3 and jobs["fit_frontier"] == 1 and jobs["run_end_horizon"] == 1
    assert jobs["plot_frontier"] == 1  # the swept task only
    start = time.perf_counter()
    snakemake(proj, "--cores", "2")
    print(f"external pipeline, 2 tasks of {len(WIDTHS)} widths x 3 seeds: {time.perf_counter() - start:.1f} s")
    res = proj / "results"
    horizon = json.loads((res / "ladder/frontier/horizon.json").read_text())
    lhat = json.loads((res / "ladder/optimal/lhat.json").read_text())
    assert abs((1 + horizon["gamma"]) / (1 + truth.gamma) - 1) < 0.02, horizon["gamma"]
    assert abs(lhat["l_hat"] - truth.l0) < 1e-3, lhat["l_hat"]
    ends = json.loads((res / "ends/frontier/horizon.json").read_text())
    assert ends["source"] == "run_ends"
    assert abs((1 + ends["gamma"]) / (1 + truth.gamma) - 1) < 0.01  # the runs end at the true horizons
    assert not (res / "ends/figures/frontier.png").exists()
    assert (res / "ends/decayed/figures/deviation.png").stat().st_size > 0
    summary = pl.read_parquet(res / "summary/summary.parquet")
    assert summary.select("task", "study", "horizon_source").rows() == [
        ("ladder", "optimal", "crossings"), ("ends", "decayed", "run_ends")]
    assert "run ends (no sweep)" in (res / "summary/summary.md").read_text()
    # The largest width (96) held out and predicted from the other five (issue 15 on an external task). Without a
    # sweep its horizon comes from the others' run ends, which lie on the true law: the final loss is off by the
    # L_hat fit's error only. With a sweep the frontier's fit (kappa too, not only gamma) sets the horizon.
    for task, study, final_error in (("ends", "decayed", 1e-3), ("ladder", "optimal", 2e-2)):
        scores = json.loads((res / task / study / "prediction_scores.json").read_text())
        (held,) = scores["predictions"]
        assert (held["width"], held["kind"], held["fitted_widths"]) == (96, "holdout", WIDTHS[:-1])
        assert abs(held["scores"]["final_loss_rel_error"]) < final_error, held["scores"]
    assert (res / "ends/decayed/figures/prediction.png").stat().st_size > 0
    assert scheduled_jobs(proj) == {}


@pytest.mark.slow
def test_a_changed_source_file_reruns_its_import_and_what_follows_only(ladder_project):
    proj, _ = ladder_project
    path = proj / "runs" / "sweep.csv"
    original = path.read_text()
    try:
        df = pl.read_csv(path)
        df.with_columns(pl.col("loss") * 1.0001).write_csv(path)
        jobs = scheduled_jobs(proj)
        assert jobs["import_runs"] == 1 and jobs["fit_frontier"] == 1
        assert not {"fit_lhat", "collapse_stats", "run_end_horizon"} & set(jobs), jobs
    finally:
        path.write_text(original)
