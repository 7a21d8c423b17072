"""Prediction of a held-out width's loss curve from the collapse of smaller widths (analysis/prediction.py, issue 15).

Exact power-law ladders (theory.py) predict the held-out curve exactly at the collapse exponent gamma* and
measurably wrongly off it; noisy Chinchilla ladders with a known truth (tests/ladders.py) measure the band's
coverage; the scorer on hand-computable cases."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from ladders import Ladder, ladder_params
from supercollapse.analysis.horizon import HorizonFit
from supercollapse.analysis.prediction import (PREDICTION, PooledResiduals, fixed_horizon, master_curve,
                                               predict_curve, predict_width, run_end_horizon, score_prediction,
                                               seed_curves)
from supercollapse.analysis.theory import PowerLawTerm, collapse_gamma, loss_surface, normalized_theory_curves

# gamma* = (0.4 - 0) / (0.5 - 0.1) = 1: both terms scale as p^-0.5 at the horizon, so L*(C*) ~ C*^-1/4 exactly.
TERMS = [PowerLawTerm(a=3.0, mu=0.5, nu=0.0), PowerLawTerm(a=40.0, mu=0.1, nu=0.4)]
PARAMS = [1000, 2000, 4000, 8000, 16000]  # the fitted widths
HELD_OUT = 64000
X = np.linspace(0.02, 1.0, 50)  # every run is evaluated at these x = t / t*, and predicted on them
C_STEPS = 30.0  # t*(p) = C_STEPS p^gamma steps
TOKENS_PER_STEP = 64


def _width(params: int) -> int:
    return int(round(np.sqrt(params)))


def theory_runs(params, gamma: float, seeds: int = 2, l0: float = 0.0) -> pl.DataFrame:
    """Run tables (CURVES columns) of the surface L0 + sum a t^-mu p^-nu, each width trained to t*(p) = c p^gamma
    and evaluated at t = x t* for every x of X; identical seeds (no noise)."""
    rows = []
    for p in params:
        t = X * C_STEPS * p ** gamma
        loss = l0 + loss_surface(t, p, TERMS)
        for s in range(seeds):
            rows.append(pl.DataFrame({"width": _width(p), "params": p, "seed": s, "step": np.arange(X.size),
                                      "compute": 6.0 * p * t * TOKENS_PER_STEP, "eval_loss": loss,
                                      "diverged": False}))
    return pl.concat(rows)


@pytest.fixture(scope="module")
def gamma_star() -> float:
    return collapse_gamma(TERMS)


def _predict(l0: float, gamma: float, n_boot: int = 20):
    fitted, held = theory_runs(PARAMS, gamma, l0=l0), theory_runs([HELD_OUT], gamma, l0=l0)
    pred = predict_width(fitted, HELD_OUT, _width(HELD_OUT), horizon=run_end_horizon, delta=1e-3, x=X,
                         n_boot=n_boot, seed=0)
    return pred, held


# --- The building blocks ----------------------------------------------------------------------------------


def test_master_curve_is_the_collapsed_theory_curve(gamma_star):
    runs = theory_runs(PARAMS, gamma_star)
    theory = normalized_theory_curves(X, [HELD_OUT], TERMS, gamma_star, C_STEPS)[0]
    np.testing.assert_allclose(master_curve(runs, 0.0, X), theory, rtol=1e-12)
    with pytest.raises(ValueError, match=r"width \d+, seed 0: .*not extrapolated"):
        master_curve(runs, 0.0, np.array([0.01, 0.5, 1.0]))
    with pytest.raises(ValueError, match="not above L_hat"):
        master_curve(runs, 10.0, X)


def test_predict_curve_scales_the_master_curve_to_the_predicted_end_loss():
    master = np.array([3.0, 2.0, 1.0])
    # a is for compute in PFLOP: at C* = 8e15 FLOPs, L* = 0.5 + 2 * 8^-(1/3) = 1.5.
    loss = predict_curve(0.5, 2.0, 1 / 3, 8e15, master, np.array([0.2, 0.5, 1.0]))
    np.testing.assert_allclose(loss, [3.5, 2.5, 1.5])
    with pytest.raises(ValueError, match="shape"):
        predict_curve(0.5, 2.0, 1 / 3, 8e15, master, np.array([0.5, 1.0]))


def test_pooled_residual_draws_have_the_pooled_covariance():
    rng = np.random.default_rng(0)
    x = np.linspace(0.1, 1.0, 4)
    rows = []
    for width, level in ((8, 3.0), (16, 2.0), (32, 1.5)):
        for seed in range(3):
            loss = level * (1 + 0.5 * (1 - x)) * (1 + 0.01 * rng.standard_normal(x.size))
            rows.append(pl.DataFrame({"width": width, "params": width ** 2, "seed": seed, "step": np.arange(x.size),
                                      "compute": x * 1e15, "eval_loss": loss}))
    curves = seed_curves(pl.concat(rows), x)
    pooled = PooledResiduals.of(curves, l_hat=0.5)
    # Residuals in units of each width's seed-mean reducible end loss, pooled over 3 x (3 - 1) degrees of freedom.
    expected = sum(np.cov(np.c_[y, e] / (e.mean() - 0.5), rowvar=False) * 2
                   for y, e in zip(curves.loss, curves.end_loss)) / 6
    np.testing.assert_allclose(pooled.residuals.T @ pooled.residuals, expected, rtol=1e-12)
    loss, ends = pooled.draw([20000] * 3, np.random.default_rng(1))
    scale = np.sqrt(np.outer(np.diag(expected), np.diag(expected)))
    for y, e, m, d in zip(loss, ends, pooled.means, pooled.scale):
        # Sampling error of a covariance from 20000 draws: ~0.01 of sqrt(var_i var_j).
        assert np.max(np.abs(np.cov(np.c_[y, e] / d, rowvar=False) - expected) / scale) < 0.05
        np.testing.assert_allclose(np.c_[y, e].mean(axis=0), m, atol=5e-4)


# --- Exact at gamma*, off at 0.9 gamma* ----------------------------------------------------------------------


@pytest.mark.parametrize("l0", [0.0, 0.7])
def test_exact_collapse_predicts_the_held_out_curve_exactly(gamma_star, l0):
    """At gamma* the end points lie on L_hat + a C*^-b with L_hat = L0 and every width's curve is ell*: a width
    4x beyond the fitted ones is predicted to rounding (measured: 1e-15 relative at L0 = 0, 2e-14 at 0.7)."""
    pred, held = _predict(l0, gamma_star)
    truth = held.filter(pl.col("seed") == 0)["eval_loss"].to_numpy()
    assert pred.l_hat == pytest.approx(l0, abs=1e-9)
    assert pred.horizon == pytest.approx(held["compute"].max(), rel=1e-9)
    np.testing.assert_allclose(pred.loss, truth, rtol=1e-6, atol=0)
    assert pred.final_loss == pytest.approx(truth[-1], rel=1e-6)
    # Identical seeds: no seed noise, so the bands collapse onto the prediction (and nothing divides by zero).
    assert pred.n_boot == 20 and pred.n_boot_skipped == 0
    np.testing.assert_array_equal(pred.sigma_raw, 0.0)
    for band in (pred.lo, pred.hi, pred.lo_seed, pred.hi_seed):
        np.testing.assert_allclose(band, truth, rtol=1e-6, atol=0)
    score = score_prediction(held, pred.x, pred.loss, pred.lo, pred.hi, pred.l_hat, sigma_raw=1.0, x_min=0.2)
    assert score["rmse_over_sigma"] < 1e-6 and abs(score["final_loss_rel_error"]) < 1e-6
    assert score["x_range"] == [0.02, 1.0] and score["n_seeds"] == 2


@pytest.mark.parametrize("l0, rmse", [(0.0, 1.17e-3), (0.7, 1.17e-3)])
def test_prediction_is_measurably_off_away_from_gamma_star(gamma_star, l0, rmse):
    """At 0.9 gamma* the widths' curves fan out and the end points leave the power law: the prediction misses
    the held-out curve by an RMSE of 1.17e-3 of its reducible end loss over x in [0.2, 1] (measured), 1e-2
    (L0 = 0) and 2.4e-3 (L0 = 0.7) relative at the worst x; the scorer reports ~12 noise floors at
    sigma_raw = 1e-4."""
    pred, held = _predict(l0, 0.9 * gamma_star)
    truth = held.filter(pl.col("seed") == 0)["eval_loss"].to_numpy()
    assert np.max(np.abs(pred.loss / truth - 1)) > 1e-3
    score = score_prediction(held, pred.x, pred.loss, pred.lo, pred.hi, pred.l_hat, sigma_raw=1e-4, x_min=0.2)
    assert score["rmse_over_reducible"] == pytest.approx(rmse, rel=0.1)
    assert score["rmse_over_sigma"] > 5
    # The band is the seed noise's: without noise it is degenerate and cannot cover a wrong model.
    assert score["band_coverage"] < 0.2


# --- The band covers the truth on noisy ladders --------------------------------------------------------------

LADDER_WIDTHS = [16, 24, 32, 48, 64, 96]  # the last one held out


def _coverage(draws: range) -> tuple[float, float]:
    """(band coverage of the true seed-mean curve over (draw, x), mean seed-band coverage of the held-out seeds)."""
    params = ladder_params(LADDER_WIDTHS)
    truth = Ladder(noise=1e-3)
    steps = truth.optimal_steps(params)
    x = np.linspace(0.1, 1.0, 19)
    true_curve = truth.loss(params[-1], x * steps[-1] * truth.tokens_per_step)
    hits, seed_hits = [], []
    for draw in draws:
        runs = truth.runs(LADDER_WIDTHS, params, steps, 4, np.random.default_rng(draw), n_evals=300).rename(
            {"loss": "eval_loss"})
        held = runs.filter(pl.col("width") == LADDER_WIDTHS[-1])
        pred = predict_width(runs.filter(pl.col("width") != LADDER_WIDTHS[-1]), params[-1], LADDER_WIDTHS[-1],
                             horizon=run_end_horizon, delta=1e-3, x=x, n_boot=39, seed=draw)
        hits.append((pred.lo <= true_curve) & (true_curve <= pred.hi))
        score = score_prediction(held, x, pred.loss, pred.lo, pred.hi, pred.l_hat, sigma_raw=1e-3, x_min=0.1,
                                 lo_seed=pred.lo_seed, hi_seed=pred.hi_seed)
        seed_hits.append(score["seed_band_coverage"])
    return float(np.mean(hits)), float(np.mean(seed_hits))


@pytest.mark.slow
def test_band_covers_the_truth_on_a_few_ladders():
    """The coverage measurement below on 12 draws (about 25 s), in make test: a wide sanity band, since 12
    correlated draws cannot pin a rate down; the measurement itself is the `long` test."""
    coverage, seed_coverage = _coverage(range(200, 212))
    assert 0.75 <= coverage <= 1.0 and 0.75 <= seed_coverage <= 1.0


@pytest.mark.long
def test_band_covers_the_true_curve_of_a_held_out_width():
    """Coverage of the 95% band of the held-out width's seed-mean curve over 100 synthetic ladders with a known
    truth (Chinchilla form, 5 fitted widths, 4 seeds, relative noise 1e-3 per evaluation; 300 evaluations per
    run keep the linear interpolation's bias in the master curve (6e-4 relative at 60) at 2e-5).
    n_boot = 39: the band is then the replicates' range, at the nominal 95% in expectation.
    Measured: 94.3% of (draw, x) points on these draws, 92.1% on another 100 (95% with 3 seeds); resampling the
    seeds within widths instead (bootstrap="seeds") 87% (3 seeds: 85%). The seed band holds 94% of the held-out
    seeds' points. The acceptance of issue 15 is 85-99%. ~3 min on one CPU core: `pytest -m long`."""
    coverage, seed_coverage = _coverage(range(100))
    print(f"band coverage of the true curve {coverage:.3f}; seed band coverage of the held-out seeds "
          f"{seed_coverage:.3f}")
    assert 0.85 <= coverage <= 0.99
    assert 0.85 <= seed_coverage <= 1.0


# --- The result and its checks ---------------------------------------------------------------------------------


def test_prediction_table_and_record(gamma_star):
    pred, _ = _predict(0.0, gamma_star, n_boot=2)
    table = pred.to_table()
    assert table.schema == PREDICTION and table.num_rows == X.size
    assert set(table["kind"].to_pylist()) == {"holdout"} and table["width"][0].as_py() == _width(HELD_OUT)
    np.testing.assert_allclose(table["compute"].to_numpy(), X * pred.horizon)
    record = pred.to_dict()
    assert record["compute_unit_for_a"] == "PFLOP" and record["fitted_widths"] == [_width(p) for p in PARAMS]
    assert "Gaussian parametric bootstrap" in record["method"]


def test_a_fixed_horizon_is_used_as_given(gamma_star):
    runs = theory_runs(PARAMS, gamma_star)
    fit = HorizonFit(kappa=1e3, gamma=1.0, exponent_se=0.0, r2=1.0, r2_grid=1.0, points_params=[], points_compute=[])
    pred = predict_width(runs, HELD_OUT, 256, horizon=fixed_horizon(fit), delta=1e-3, x=X, n_boot=3, seed=0,
                         kind="predicted", bootstrap="seeds")
    assert pred.horizon == pytest.approx(64.0 ** 2) and pred.kind == "predicted"
    assert pred.method.count("resampling the seeds within each width") == 1


@pytest.mark.parametrize("edit, kwargs, match", [
    (lambda df: df, {"width": 32}, r"width 32 is among the fitted runs"),
    (lambda df: df.filter(pl.col("params") > 2000), {}, r">= 3 widths"),
    (lambda df: df.filter((pl.col("params") != 2000) | (pl.col("seed") == 0)), {}, r">= 2 seeds.*\{45: 1\}"),
    (lambda df: df.with_columns(diverged=pl.col("step") == 3), {}, "diverged"),
    (lambda df: df, {"kind": "guess"}, "kind must be one of"),
    (lambda df: df, {"bootstrap": "jackknife"}, "bootstrap must be one of"),
    (lambda df: df, {"x": np.array([0.5, 0.2, 1.0])}, "increasing grid"),
])
def test_predict_width_refuses_bad_inputs(gamma_star, edit, kwargs, match):
    runs = edit(theory_runs(PARAMS[:4], gamma_star))
    args = {"width": 500, "horizon": run_end_horizon, "delta": 1e-3, "x": X, "n_boot": 0, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        predict_width(runs, HELD_OUT, **args)


# --- The scorer --------------------------------------------------------------------------------------------------


def _two_seeds() -> pl.DataFrame:
    """Seed 0: L = 3 - x on x = 0.1 .. 1 (C* = 1e16); seed 1: 0.1 higher, from x = 0.3, with C* = 2e16."""
    x0, x1 = np.linspace(0.1, 1.0, 10), np.linspace(0.3, 1.0, 8)
    return pl.concat([
        pl.DataFrame({"width": 64, "params": 4096, "seed": 0, "step": np.arange(10), "compute": x0 * 1e16,
                      "eval_loss": 3.0 - x0}),
        pl.DataFrame({"width": 64, "params": 4096, "seed": 1, "step": np.arange(8), "compute": x1 * 2e16,
                      "eval_loss": 3.1 - x1})])


def test_score_of_the_actual_mean_is_zero_and_of_a_shift_is_known():
    actual, x = _two_seeds(), np.linspace(0.1, 1.0, 19)
    mean = 3.05 - x  # the seed mean wherever both seeds have data (x >= 0.3); the end mean is 2.05
    s = score_prediction(actual, x, mean, mean - 0.06, mean + 0.06, l_hat=1.0, sigma_raw=0.02, x_min=0.2,
                         lo_seed=mean - 0.04, hi_seed=mean + 0.04)
    assert s["rmse_over_sigma"] == pytest.approx(0.0, abs=1e-12) and s["final_loss_rel_error"] == pytest.approx(0.0)
    assert s["band_coverage"] == 1.0 and s["seed_band_coverage"] == 0.0  # each seed is 0.05 from the mean
    assert s["x_range"] == [0.3, 1.0] and s["n_x"] == 15 and s["x_scored"] == pytest.approx([0.3, 1.0])
    assert s["actual_reducible_end"] == pytest.approx(1.05)

    shifted = score_prediction(actual, x, mean + 0.01, mean - 0.06, mean, l_hat=1.0, sigma_raw=0.02, x_min=0.5)
    assert shifted["rmse_over_reducible"] == pytest.approx(0.01 / 1.05)
    assert shifted["rmse_over_sigma"] == pytest.approx(0.01 / 1.05 / 0.02)
    assert shifted["final_loss_rel_error"] == pytest.approx(0.01 / 2.05)
    assert shifted["band_coverage"] == 0.5 and shifted["n_x"] == 11  # only seed 0 (mean - 0.05) lies inside
    assert shifted["seed_band_coverage"] is None


def test_score_of_a_baseline_without_a_band():
    actual, x = _two_seeds(), np.linspace(0.1, 1.0, 19)
    s = score_prediction(actual, x, 3.05 - x, None, None, l_hat=1.0, sigma_raw=0.02, x_min=0.2)
    assert s["band_coverage"] is None and s["seed_band_coverage"] is None and s["rmse_over_sigma"] < 1e-9


@pytest.mark.parametrize("kwargs, match", [
    ({"pred_x": np.linspace(0.1, 0.9, 19)}, "end at x = 1"),
    ({"sigma_raw": 0.0}, "sigma_raw must be positive"),
    ({"l_hat": 2.5}, "not above L_hat"),
    ({"x_min": 1.5}, "no grid point"),
])
def test_score_refuses_bad_inputs(kwargs, match):
    args = {"pred_x": np.linspace(0.1, 1.0, 19), "l_hat": 1.0, "sigma_raw": 0.02, "x_min": 0.2, **kwargs}
    x = args.pop("pred_x")
    with pytest.raises(ValueError, match=match):
        score_prediction(_two_seeds(), x, 3.05 - x, None, None, **args)
    x = np.linspace(0.1, 1.0, 19)
    with pytest.raises(ValueError, match="one width"):
        score_prediction(pl.concat([_two_seeds(), _two_seeds().with_columns(width=pl.lit(32, pl.Int32))],
                                   how="vertical_relaxed"), x, 3.05 - x, None, None, l_hat=1.0, sigma_raw=0.02,
                         x_min=0.2)
