import numpy as np
import pytest
from scipy import stats

from supercollapse.analysis.collapse import normalize_curve
from supercollapse.analysis.supercollapse import (bootstrap_ratios, collapse_deviation, collapse_stats,
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


def test_bootstrap_interval_covers_the_point_estimate():
    rng = np.random.default_rng(2)
    ell = 1 + rng.normal(0, 0.05, size=(4, 6, 10)) + np.linspace(0, 0.05, 4)[:, None, None]
    boot = bootstrap_ratios(ell, ell, n_boot=200, seed=0)
    st = collapse_stats(ell, ell)
    assert np.all(boot["ratio_norm_lo"] <= boot["ratio_norm_hi"])
    assert np.mean((boot["ratio_norm_lo"] <= st.ratio_norm) & (st.ratio_norm <= boot["ratio_norm_hi"])) > 0.8


def test_shape_checks():
    with pytest.raises(ValueError, match=">= 2 widths and >= 2 seeds"):
        collapse_stats(np.ones((1, 3, 4)), np.ones((1, 3, 4)))


def test_lhat_sensitivity_is_smallest_at_the_true_lhat():
    """Curves L = L0 + A(p) f(x) collapse exactly at L_hat = L0; trial values away from it spread them out."""
    import polars as pl

    from supercollapse.analysis.stage import lhat_sensitivity

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
    table = lhat_sensitivity(df, l0, grid, np.ones(grid.size, dtype=bool), offsets=(-0.5, 0.0, 0.5, 2.0))
    ratio = table.column("mean_ratio_raw").to_pylist()
    assert table.column("l_hat").to_pylist()[1] == l0
    assert ratio[1] < ratio[0] and ratio[1] < ratio[2]
    assert ratio[3] is None  # above the end losses: cannot normalize
