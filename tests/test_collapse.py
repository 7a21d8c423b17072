import numpy as np
import pytest
from scipy import stats

from supercollapse.analysis.normalization import normalize_curve
from supercollapse.analysis.collapse_statistics import (bootstrap_ratios, collapse_deviation, collapse_stats,
                                                  pooled_seed_std, width_anova)


def test_normalized_curve_passes_through_one_one():
    c = np.linspace(0, 1e9, 50)
    loss = 0.3 + 2.0 / (1 + c / 1e7)
    x, ell = normalize_curve(c, loss, l_hat=0.25)
    assert x[-1] == 1.0 and ell[-1] == pytest.approx(1.0)
    np.testing.assert_allclose(ell, (loss - 0.25) / (loss[-1] - 0.25))
    with pytest.raises(ValueError, match="not above L_hat"):
        normalize_curve(c, loss, l_hat=1.0)


def test_identical_curves_have_zero_deviation():
    curve = np.linspace(3, 1, 20)
    ell = np.broadcast_to(curve, (4, 3, 20)).copy()
    std, rng = collapse_deviation(ell)
    assert np.all(std == 0) and np.all(rng == 0)


def test_pooled_std_and_anova_match_closed_forms():
    rng = np.random.default_rng(0)
    ell = rng.normal(size=(3, 5, 7)) + np.array([0.0, 0.5, 1.0])[:, None, None]
    np.testing.assert_allclose(pooled_seed_std(ell), np.sqrt(np.mean(ell.var(axis=1, ddof=1), axis=0)))
    f, p = width_anova(ell)
    for i in range(7):
        ref = stats.f_oneway(*[ell[k, :, i] for k in range(3)])
        assert f[i] == pytest.approx(ref.statistic) and p[i] == pytest.approx(ref.pvalue)


def test_ratio_is_small_without_a_width_effect_and_large_with_one():
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 0.05, size=(4, 8, 30))
    null = collapse_stats(1 + noise, 1 + noise)
    # Seed means of 8 seeds scatter by sigma / sqrt(8) across widths.
    assert np.mean(null.ratio_norm) == pytest.approx(1 / np.sqrt(8), rel=0.35)
    fanned = 1 + noise + np.linspace(0, 0.5, 4)[:, None, None]
    assert np.mean(collapse_stats(fanned, fanned).ratio_norm) > 2
    assert np.all(width_anova(fanned)[1] < 1e-6)


def _gaussian_study(rng, k, n, m, spread, s_norm=0.05, s_raw=0.08, corr=0.9):
    """Synthetic (ell, rel_raw) with known truth: width means offset by `spread` x (widths' linspace), seed
    noise an AR(1) process over x (correlation `corr` between neighbours), the raw reading's noise correlated
    0.6 with the normalized one's. Returns the arrays and the true rho of each reading per x."""
    def ar1(shape):
        e = np.empty(shape)
        e[..., 0] = rng.standard_normal(shape[:-1])
        for i in range(1, shape[-1]):
            e[..., i] = corr * e[..., i - 1] + np.sqrt(1 - corr ** 2) * rng.standard_normal(shape[:-1])
        return e

    x = np.linspace(0.2, 0.95, m)
    offsets = spread * np.linspace(-1, 1, k)
    mean = 1 / x ** 0.8 + offsets[:, None] * (1 - x)
    e1, e2 = ar1((k, n, m)), ar1((k, n, m))
    ell = mean[:, None, :] + s_norm * e1
    raw = 2 * mean[:, None, :] + s_raw * (0.6 * e1 + 0.8 * e2)
    s_b2 = (offsets[:, None] * (1 - x)).var(axis=0, ddof=1)
    num = np.sqrt(s_b2 + s_norm ** 2 / n)
    return ell, raw, num / s_norm, num / s_raw


@pytest.mark.parametrize("k,n,spread", [(3, 3, 0.05), (4, 4, 0.0), (4, 4, 0.2)])
def test_ratio_intervals_cover_the_truth_at_few_seeds(k, n, spread):
    """Coverage of the 95% intervals over 150 synthetic studies with known rho, at the seed counts the
    pipeline runs (3-4 per width). A percentile bootstrap over resampled seeds covered 65-74% here."""
    rng = np.random.default_rng(k * 100 + n * 10 + int(spread * 100))
    hits, hits_x = np.zeros(2), np.zeros(2)
    studies = 150
    for i in range(studies):
        ell, raw, rho_n, rho_r = _gaussian_study(rng, k, n, 12, spread)
        ci = bootstrap_ratios(ell, raw, n_boot=300, seed=i)
        for j, (name, rho) in enumerate((("norm", rho_n), ("raw", rho_r))):
            lo, hi = getattr(ci, f"mean_ratio_{name}_ci")
            hits[j] += lo <= rho.mean() <= hi
            hits_x[j] += np.mean((getattr(ci, f"ratio_{name}_lo") <= rho) & (rho <= getattr(ci, f"ratio_{name}_hi")))
    for coverage in (*hits / studies, *hits_x / studies):
        assert 0.88 <= coverage <= 0.99, (hits / studies, hits_x / studies)


def test_ratio_intervals_hold_the_estimate_and_follow_the_window():
    rng = np.random.default_rng(2)
    ell = 1 + rng.normal(0, 0.05, size=(4, 6, 10)) + np.linspace(0, 0.05, 4)[:, None, None]
    st = collapse_stats(ell, ell)
    ci = bootstrap_ratios(ell, ell, n_boot=400, seed=0)
    assert np.all(ci.ratio_norm_lo < st.ratio_norm) and np.all(st.ratio_norm < ci.ratio_norm_hi)
    lo, hi = ci.mean_ratio_norm_ci
    assert lo < np.mean(st.ratio_norm) < hi
    early = np.arange(10) < 5
    lo5, hi5 = bootstrap_ratios(ell, ell, n_boot=400, seed=0, window=early).mean_ratio_norm_ci
    assert lo5 < np.mean(st.ratio_norm[early]) < hi5 and (lo5, hi5) != (lo, hi)
    with pytest.raises(ValueError, match="window must be a bool mask"):
        bootstrap_ratios(ell, ell, n_boot=10, seed=0, window=np.zeros(10, dtype=bool))


def test_deviation_and_pooled_std_keep_leading_axes():
    rng = np.random.default_rng(3)
    reps = rng.normal(size=(5, 3, 4, 7))
    std, rng_ = collapse_deviation(reps)
    assert std.shape == rng_.shape == pooled_seed_std(reps).shape == (5, 7)
    np.testing.assert_allclose(std[2], collapse_deviation(reps[2])[0])
    np.testing.assert_allclose(pooled_seed_std(reps)[4], pooled_seed_std(reps[4]))


def test_shape_checks():
    with pytest.raises(ValueError, match=">= 2 widths and >= 2 seeds"):
        collapse_stats(np.ones((1, 3, 4)), np.ones((1, 3, 4)))


def test_lhat_sensitivity_is_smallest_at_the_true_lhat():
    """Curves L = L0 + A(p) f(x) collapse exactly at L_hat = L0; trial values away from it spread them out."""
    import polars as pl

    from supercollapse.analysis.collapse_study import lhat_sensitivity

    rng = np.random.default_rng(0)
    rows = []
    l0 = 0.3
    for width, amp in ((8, 1.0), (16, 0.6), (32, 0.35)):
        steps = np.arange(1, 101)
        for seed in range(3):
            loss = l0 + amp * (steps / 100.0) ** -0.5 * (1 + 0.002 * rng.standard_normal(steps.size))
            rows.append(pl.DataFrame({"width": width, "params": width * 10, "seed": seed, "step": steps,
                                      "compute": steps * float(width), "eval_loss": loss}))
    df = pl.concat(rows)
    grid = np.linspace(0.05, 0.99, 50)
    table = lhat_sensitivity(df, l0, grid, np.ones(grid.size, dtype=bool), offsets=(-0.5, 0.0, 0.5, 2.0)).to_table()
    ratio = table.column("mean_ratio_raw").to_pylist()
    assert table.column("l_hat").to_pylist()[1] == l0
    assert ratio[1] < ratio[0] and ratio[1] < ratio[2]
    assert ratio[3] is None  # above the end losses: cannot normalize
