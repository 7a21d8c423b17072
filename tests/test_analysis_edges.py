"""Edge cases of the analysis that curves logged at arbitrary steps expose: seeds of a width evaluated at
different steps, curves that start after the x grid does, the ends of the statistics window, and a collapse
stage that fails part way (nothing may be written then)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import polars as pl
import pytest

from supercollapse.analysis.collapse_study import CollapseStudy, collapse_study
from supercollapse.analysis.normalization import on_grid
from supercollapse.analysis.sweep_frontier import seed_mean_curves
from supercollapse.io import write_json, write_table
from supercollapse.schemas import CURVES
from supercollapse.stages.analysis import collapse_stage

# The analysis keys of config/config.yaml with the schema's grid defaults (0.02, 0.99, 98 points).
DEFAULT_GRID = dict(x_grid_min=0.02, x_grid_max=0.99, n_x=98, x_min=0.2, x_max=0.95)
WIDTHS = (8, 16, 32)
STEPS = np.unique(np.r_[0, np.round(np.geomspace(1, 100, 30)), np.round(np.linspace(0, 100, 30))]).astype(np.int64)


def _curves(width: int, seed: int, steps, loss_of_compute) -> pl.DataFrame:
    """One (width, seed) run of schema CURVES evaluated at `steps`, its loss a function of compute (FLOPs)."""
    steps = np.asarray(steps, dtype=np.int64)
    n, params = steps.size, 100 * width
    compute = 6.0 * params * 64 * steps
    loss = loss_of_compute(compute)
    return pl.from_arrow(pa.Table.from_pydict({
        "task": ["fourier"] * n, "study": ["optimal"] * n, "width": [width] * n, "depth": [2] * n,
        "params": [params] * n, "seed": [seed] * n, "schedule": ["linear"] * n, "step": steps, "tokens": 64 * steps,
        "compute": compute, "lr": np.full(n, 0.01), "tau": 0.01 * steps, "eval_loss": loss,
        "train_loss": loss, "noise_trace": np.full(n, np.nan), "diverged": [False] * n}, schema=CURVES))


def _study(first_step: dict[tuple[int, int], int] | None = None, seeds: int = 3) -> pl.DataFrame:
    """Noisy collapse-study runs of WIDTHS, every one from step 0 except (width, seed) -> its first step."""
    rng = np.random.default_rng(0)
    runs = []
    for width in WIDTHS:
        for seed in range(seeds):
            steps = STEPS[STEPS >= (first_step or {}).get((width, seed), 0)]
            noise = 1 + 0.01 * rng.standard_normal(steps.size)
            runs.append(_curves(width, seed, steps, lambda c: 0.1 + 2.0 * (1 + c / (1e5 * width)) ** -0.5 * noise))
    return pl.concat(runs)


def _collapse(df: pl.DataFrame) -> CollapseStudy:
    return collapse_study(df, 0.1, (0.09, 0.11), **DEFAULT_GRID, n_boot=20, seed=0)


# 1. Seed means of a sweep width whose seeds were evaluated at different compute points.

def test_seed_means_average_seeds_evaluated_at_different_steps():
    """Seeds at steps 10, 20, ... and 15, 25, ...: grouping by step interleaved single seeds (2 C^-1/2, then
    3 C^-1/2, ...); the mean is 2.5 C^-1/2 on the union of their points inside the range both cover."""
    df = pl.concat([_curves(8, 0, np.arange(10, 101, 10), lambda c: 2.0 * c ** -0.5),
                    _curves(8, 1, np.arange(15, 96, 10), lambda c: 3.0 * c ** -0.5)])
    compute, loss = seed_mean_curves(df)[800]
    expected = 6.0 * 800 * 64 * np.arange(15, 96, 5)  # union of both seeds' points in [step 15, step 95]
    np.testing.assert_array_equal(compute, expected)
    np.testing.assert_allclose(loss, 2.5 * compute ** -0.5, rtol=1e-12)


def test_seed_means_of_shared_steps_are_unchanged_and_never_extrapolated():
    """Seeds that share their steps keep the point-by-point mean bit for bit, whatever another width does;
    seeds whose compute ranges do not overlap have no common grid: an error, not an extrapolation."""
    rng = np.random.default_rng(1)
    shared = pl.concat([_curves(16, s, STEPS, lambda c: 1 + 1 / (1 + c) + 0.01 * rng.standard_normal(c.size))
                        for s in range(3)]).sample(fraction=1.0, shuffle=True, seed=0)
    odd = pl.concat([_curves(8, 0, np.arange(10, 101, 10), lambda c: 2.0 * c ** -0.5),
                     _curves(8, 1, np.arange(15, 96, 10), lambda c: 3.0 * c ** -0.5)])
    # The grouping every run table with shared steps had before.
    before = shared.group_by("params", "step").agg(pl.col("compute").first(), pl.col("eval_loss").mean()).sort("step")
    compute, loss = seed_mean_curves(pl.concat([shared, odd]))[1600]
    assert np.array_equal(compute, before["compute"].to_numpy())
    assert np.array_equal(loss, before["eval_loss"].to_numpy())
    apart = pl.concat([_curves(8, 0, np.arange(1, 10), lambda c: 1 / c),
                       _curves(8, 1, np.arange(20, 30), lambda c: 1 / c)])
    with pytest.raises(ValueError, match="800 params.*do not overlap"):
        seed_mean_curves(apart)


def test_figures_band_seeds_evaluated_at_different_steps():
    """The curve figures draw a seed mean and an sd band per compute point. Seeds at different steps are put on
    the frontier's common grid first, so every point has both seeds (not one seed per x, a zigzag); seeds that
    share their steps are drawn as they are."""
    from supercollapse.plots import _banded

    odd = pl.concat([_curves(8, 0, np.arange(10, 101, 10), lambda c: 2.0 * c ** -0.5),
                     _curves(8, 1, np.arange(15, 96, 10), lambda c: 3.0 * c ** -0.5)])
    shared = pl.concat([_curves(16, s, STEPS[1:], lambda c: 1 / c) for s in range(2)])
    drawn = pl.from_pandas(_banded(pl.concat([odd, shared])))
    per_x = drawn.group_by("width", "compute").agg(pl.len(), pl.col("eval_loss").mean()).sort("compute")
    assert (per_x["len"] == 2).all()
    odd_x = per_x.filter(pl.col("width") == 8)
    np.testing.assert_array_equal(odd_x["compute"], 6.0 * 800 * 64 * np.arange(15, 96, 5))
    np.testing.assert_allclose(odd_x["eval_loss"], 2.5 * odd_x["compute"].to_numpy() ** -0.5, rtol=1e-12)
    assert drawn.filter(pl.col("width") == 16).height == shared.height


# 2. Curves that start after the shared x grid does.

def test_on_grid_never_extrapolates():
    x, values = np.array([0.1, 0.5, 1.0]), np.array([3.0, 2.0, 1.0])
    np.testing.assert_allclose(on_grid(x, values, np.array([0.1, 0.3, 1.0])), [3.0, 2.5, 1.0])
    with pytest.raises(ValueError, match="not extrapolated"):
        on_grid(x, values, np.array([0.05, 0.5]))


def test_the_grid_starts_where_every_curve_has_data():
    """Width 16 seed 1 is first evaluated at step 10 of 100 (x = 0.1): the grid's points below it are dropped
    (np.interp held its first loss flat over x = 0.02 ... 0.09), the window [0.2, 0.95] is untouched."""
    study = _collapse(_study({(16, 1): 10}))
    full = _collapse(_study())
    assert 0.1 <= study.grid[0] < 0.105 and full.grid[0] == 0.02
    np.testing.assert_array_equal(study.grid, full.grid[full.grid >= study.grid[0]])
    assert study.statistics_table().column("x").to_numpy()[0] == study.grid[0]
    assert study.summary.mean_ratio_raw == pytest.approx(full.summary.mean_ratio_raw, rel=0.5)


def test_a_curve_that_starts_inside_the_window_is_named():
    with pytest.raises(ValueError, match=r"width 16, seed 1: first evaluated at x = 0\.3\d* .*x_min = 0\.2"):
        _collapse(_study({(16, 1): 30}))


# 3. The statistics window includes its ends.

def test_the_window_includes_both_ends():
    """linspace(0.02, 0.99, 98) puts 0.19999999999999998 and 0.9500000000000001 on the grid: the window
    [0.2, 0.95] kept 0.21 ... 0.94 (74 points). Its ends are grid points now: 0.20 ... 0.95, 76 points."""
    study = _collapse(_study())
    grid = study.grid
    window = (grid >= 0.2) & (grid <= 0.95)
    assert grid.size == 98 and np.all(np.diff(grid) > 0)
    assert grid[window][0] == 0.2 and grid[window][-1] == 0.95 and window.sum() == 76
    assert study.summary.mean_ratio_raw == pytest.approx(np.mean(study.stats.ratio_raw[window]), rel=1e-12)


# 4. A collapse stage that fails writes nothing.

def _stage(tmp_path, df: pl.DataFrame) -> dict:
    paths = []
    for (width,), g in df.group_by("width"):
        paths.append(tmp_path / f"w{width}.parquet")
        write_table(paths[-1], g.to_arrow().cast(CURVES))
    write_json(tmp_path / "lhat.json", {"l_hat": 0.1, "ci": {"l_hat": [0.09, 0.11]}})
    out = {k: tmp_path / "out" / f"{k}.out" for k in ("normalized", "statistics", "summary", "sensitivity")}
    collapse_stage(paths, tmp_path / "lhat.json", out["normalized"], out["statistics"], out["summary"],
                   out["sensitivity"], warnings=[], **DEFAULT_GRID, n_boot=20, seed=0)
    return out


def test_a_failing_collapse_stage_writes_nothing(tmp_path, monkeypatch):
    """Too few seeds, or a failure once the statistics are computed (here the summary): no output at all, where
    normalized, statistics and sensitivity tables used to be written before the summary failed."""
    one_seed = _study().filter((pl.col("width") != 32) | (pl.col("seed") == 0))
    with pytest.raises(ValueError, match="fewer than 2 healthy seeds"):
        _stage(tmp_path / "few", one_seed)
    assert not (tmp_path / "few" / "out").exists()

    def fail(self):
        raise ValueError("summary failed")

    monkeypatch.setattr(CollapseStudy, "to_dict", fail)
    with pytest.raises(ValueError, match="summary failed"):
        _stage(tmp_path / "late", _study())
    assert not (tmp_path / "late" / "out").exists() or not any((tmp_path / "late" / "out").iterdir())
