"""The Chinchilla baseline of issue 15 (analysis/chinchilla.py): recovery of a known law from synthetic
constant-LR curves (tests/ladders.py), prediction of a held-out width, and its input errors."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from ladders import Ladder, ladder_params
from supercollapse.analysis.chinchilla import ChinchillaFit, curve_points, fit_chinchilla

WIDTHS = [8, 16, 32, 64, 128, 256]
STEPS = 200_000  # long constant-LR runs: t spans 1e3 to 2e8 tokens


def curves(ladder: Ladder, widths=WIDTHS, seeds: int = 1, n_evals: int = 80, seed: int = 0) -> pl.DataFrame:
    """A CURVES-like run table of the ladder's law (step 0 excluded by the log grid)."""
    return (ladder.runs(widths, ladder_params(widths), [STEPS] * len(widths), seeds, np.random.default_rng(seed),
                        n_evals=n_evals)
            .rename({"loss": "eval_loss"}).with_columns(diverged=pl.lit(False)))


def rel_errors(fit: ChinchillaFit, ladder: Ladder) -> dict[str, float]:
    truth = {"e": ladder.l0, "a": ladder.a, "alpha": ladder.alpha, "b": ladder.b, "beta": ladder.beta}
    return {k: abs(getattr(fit, k) / v - 1) for k, v in truth.items()}


@pytest.fixture(scope="module")
def exact():
    ladder = Ladder(noise=0.0)
    return ladder, curves(ladder)


def test_recovers_an_exact_law(exact):
    """Measured: every parameter within 2e-11 relative (all 81 starts reach the same optimum)."""
    ladder, runs = exact
    fit = fit_chinchilla(runs)
    assert fit.converged and not fit.at_exponent_bound
    assert max(rel_errors(fit, ladder).values()) < 1e-6
    assert fit.n_widths == len(WIDTHS) and fit.n_tokens_from_compute == 0
    assert json.loads(json.dumps(fit.to_dict()))["alpha"] == fit.alpha


def test_recovers_a_noisy_law_within_a_few_percent():
    """1e-3 relative noise per evaluation, 3 seeds. Measured: E 0.5%, A 0.2%, the others below 0.1%."""
    ladder = Ladder(noise=1e-3)
    fit = fit_chinchilla(curves(ladder, seeds=3))
    errors = rel_errors(fit, ladder)
    assert max(errors.values()) < 0.03, errors
    assert fit.rms_log_residual == pytest.approx(1e-3 / np.sqrt(3), rel=0.2)  # the seed-mean noise


def test_predicts_a_held_out_width(exact):
    """Fitted on the 5 smaller widths, the law extrapolates the largest one's curve (measured: 2e-14)."""
    ladder, runs = exact
    held_out = WIDTHS[-1]
    fit = fit_chinchilla(runs.filter(pl.col("width") != held_out))
    run = runs.filter(pl.col("width") == held_out)
    params = run["params"][0]
    tokens = run["step"].to_numpy() * ladder.tokens_per_step  # steps x tokens per step
    np.testing.assert_allclose(fit.predict(params, tokens), ladder.loss(params, tokens.astype(np.float64)),
                               rtol=1e-6)


def test_tokens_from_compute_when_tokens_is_null(exact):
    _, runs = exact
    with_tokens = curve_points(runs)
    without = curve_points(runs.with_columns(tokens=pl.lit(None, pl.Int64)))
    assert without["t_from_compute"].all() and not with_tokens["t_from_compute"].any()
    np.testing.assert_allclose(without["tokens"].to_numpy(), with_tokens["tokens"].to_numpy(), rtol=1e-12)


def test_points_drop_diverged_seeds_and_step_zero_and_average_seeds():
    ladder = Ladder(noise=1e-3)
    runs = curves(ladder, seeds=2)
    bad = runs.filter(pl.col("seed") == 0).with_columns(pl.col("seed") + 9, eval_loss=pl.lit(1e6),
                                                        diverged=pl.lit(True))
    start = runs.filter(pl.col("step") == 1).with_columns(pl.col("step", "tokens", "compute") * 0)
    pts = curve_points(pl.concat([runs, bad, start]))
    expected = curve_points(runs)
    assert pts.equals(expected)
    assert (pts["n_seeds"] == 2).all() and (pts["tokens"] > 0).all()
    first = runs.filter((pl.col("width") == 8) & (pl.col("step") == 1))["eval_loss"].mean()
    assert pts["eval_loss"][0] == pytest.approx(first)


def test_dense_runs_are_thinned_evenly_in_log_tokens():
    runs = curves(Ladder(noise=0.0), widths=[8, 16], n_evals=2000)
    pts = curve_points(runs, max_points_per_run=50)
    for _, g in pts.group_by("width"):
        t = np.sort(g["tokens"].to_numpy())
        assert 40 <= t.size <= 50
        assert t[0] == 1 * Ladder.tokens_per_step and t[-1] == STEPS * Ladder.tokens_per_step
        gaps = np.diff(np.log(t))
        assert gaps.max() < 3 * np.log(t[-1] / t[0]) / 49  # no hole in the log-t coverage


def test_fails_clearly_on_unusable_input(exact):
    _, runs = exact
    with pytest.raises(ValueError, match="at least 2 widths"):
        fit_chinchilla(runs.filter(pl.col("width") == 8))
    with pytest.raises(ValueError, match="at least 2 widths"):  # the second width has no finite point
        fit_chinchilla(runs.filter(pl.col("width") <= 16).with_columns(
            eval_loss=pl.when(pl.col("width") == 16).then(float("nan")).otherwise(pl.col("eval_loss"))))
    with pytest.raises(ValueError, match="no finite points"):
        fit_chinchilla(runs.with_columns(eval_loss=pl.lit(float("inf"))))
    with pytest.raises(ValueError, match="no finite points"):
        fit_chinchilla(runs.with_columns(diverged=pl.lit(True)))
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['diverged', 'tokens or compute'\]"):
        fit_chinchilla(runs.drop("diverged", "tokens", "compute"))
