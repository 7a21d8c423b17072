"""Diverged runs and the collapse set's seed policy (issue 17, cases 3, 4 and 22), through the analysis stages
on synthetic curve files: nothing healthy is dropped without a record, and errors say which runs diverged."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from supercollapse.io import read_json, write_json, write_table
from supercollapse.schemas import CURVES
from supercollapse.stages.analysis import collapse_stage, lhat_stage

WIDTHS = (8, 12, 16, 24)
ANALYSIS = dict(x_grid_min=0.05, x_grid_max=1.0, n_x=50, x_min=0.2, x_max=0.95, n_boot=20, seed=0)


def _run(width: int, seeds: int, blown: dict[int, int], rng) -> pa.Table:
    """One width's compute-optimal run: L = 0.1 + 2 (C / 1e6)^-0.3 with seed noise; `blown` maps a seed to the
    evaluation from which its loss blows up (finite, 1e3 and rising)."""
    params, steps = 100 * width**2, np.unique(np.geomspace(1, 200 * width, 40).astype(int))
    steps = np.concatenate([[0], steps])
    rows = {name: [] for name in CURVES.names}
    for seed in range(seeds):
        compute = 6.0 * params * 64 * steps
        loss = 0.1 + 2.0 * (np.maximum(compute, 1e6) / 1e6) ** -0.3 * (1 + 0.01 * rng.normal(size=steps.size))
        if seed in blown:
            loss[blown[seed]:] = 1e3 * np.arange(1, steps.size - blown[seed] + 1)
        n = steps.size
        for name, value in (("task", ["fourier"] * n), ("study", ["optimal"] * n), ("width", [width] * n),
                            ("depth", [2] * n), ("params", [params] * n), ("seed", [seed] * n),
                            ("schedule", ["linear"] * n), ("step", steps), ("tokens", 64 * steps),
                            ("compute", compute), ("lr", np.full(n, 0.01)), ("tau", 0.01 * steps),
                            ("eval_loss", loss), ("train_loss", np.r_[np.nan, loss[1:]]),
                            ("noise_trace", np.full(n, np.nan)), ("diverged", [seed in blown] * n)):
            rows[name].extend(list(value))
    return pa.Table.from_pydict(rows, schema=CURVES)


def _study(tmp_path, seeds: int, blown: dict[int, dict[int, int]]):
    rng = np.random.default_rng(0)
    paths = []
    for width in WIDTHS:
        path = tmp_path / f"w{width}.parquet"
        write_table(path, _run(width, seeds, blown.get(width, {}), rng))
        paths.append(path)
    write_json(tmp_path / "meta.json", {})
    return paths


def _collapse(tmp_path, paths):
    lhat_stage(paths, tmp_path / "meta.json", tmp_path / "lhat.json", 1e-3, 10, 0)
    out = {k: tmp_path / f"{k}.out" for k in ("normalized", "statistics", "summary", "sensitivity")}
    collapse_stage(paths, tmp_path / "lhat.json", out["normalized"], out["statistics"], out["summary"],
                   out["sensitivity"], warnings=[], **ANALYSIS)
    return read_json(tmp_path / "lhat.json"), read_json(out["summary"])


def test_a_diverged_seed_is_named_and_the_seed_policy_recorded(tmp_path):
    """1 of 3 seeds of width 12 blew up: it is reported with its step, every width keeps seeds 0 and 1 in both
    the L_hat fit and the statistics, and the healthy seed 2 of the other widths is a recorded warning."""
    lhat, summary = _collapse(tmp_path, _study(tmp_path, 3, {12: {1: 25}}))
    step = int(_run(12, 3, {}, np.random.default_rng(0)).column("step").to_numpy()[25])
    assert summary["diverged"] == lhat["diverged"] == [{"width": 12, "seed": 1, "step": step}]
    assert summary["seeds_used"] == lhat["seeds_used"] == {"8": [0, 1], "12": [0, 2], "16": [0, 1], "24": [0, 1]}
    assert summary["seeds_per_width"] == 2
    text = "\n".join(summary["warnings"])
    assert f"width 12 seed 1 diverged at step {step}" in text and "tasks.fourier.optim.lr" in text
    assert "width 8: healthy seeds [2] left out so that every width has 2" in text


def test_too_few_healthy_seeds_names_the_diverged_runs(tmp_path):
    """1 of 2 seeds of width 12 blew up: the error says so, names it and the key to look at (it said "need >= 2
    seeds, got 1" and never mentioned divergence)."""
    paths = _study(tmp_path, 2, {12: {1: 25}})
    with pytest.raises(ValueError, match=r"widths \[12\] have fewer than 2 healthy seeds") as err:
        _collapse(tmp_path, paths)
    assert "1 of 8 optimal runs diverged" in str(err.value) and "width 12 seed 1 at step" in str(err.value)
    assert "tasks.fourier.optim.lr" in str(err.value)


def test_healthy_runs_are_unchanged(tmp_path):
    lhat, summary = _collapse(tmp_path, _study(tmp_path, 2, {}))
    assert summary["diverged"] == [] and summary["warnings"] == []
    assert summary["seeds_used"] == {str(w): [0, 1] for w in WIDTHS}
    assert json.dumps(lhat["seeds_used"]) == json.dumps(summary["seeds_used"])
