import numpy as np
import pytest

from supercollapse.analysis.frontier import fit_horizon, lower_envelope
from supercollapse.analysis.horizon import horizon_steps


def _chinchilla_curves(widths_params, alpha=0.5, beta=0.5, A=3.0, B=3.0, E=0.1):
    """L(P, C) = E + A P^-alpha + B (C / 6P)^-beta: the compute-optimal P_opt(C) is proportional to
    C^(beta / (alpha + beta)), so C*(P) = (P / kappa)^(1 + gamma) with 1 + gamma = (alpha + beta) / beta."""
    curves = {}
    for p in widths_params:
        c = 6 * p * np.geomspace(10, 1e7, 300)
        curves[int(p)] = (c, E + A * p**-alpha + B * (c / (6 * p)) ** -beta)
    return curves


@pytest.mark.parametrize("alpha,beta", [(0.5, 0.5), (0.34, 0.28), (0.3, 0.6)])
def test_recovers_the_horizon_exponent(alpha, beta):
    params = np.round(np.geomspace(1e3, 1e6, 10)).astype(int)
    env = lower_envelope(_chinchilla_curves(params, alpha, beta), n_grid=400)
    fit = fit_horizon(env)
    assert 1 + fit.gamma == pytest.approx((alpha + beta) / beta, rel=0.02)
    assert fit.r2 > 0.999
    # kappa: the exact optimum is C*(P) = 6 P D*(P), D* from dL/dP = 0 along C fixed.
    p = 1e4
    d_opt = (beta * 3.0 / (alpha * 3.0) * p**alpha) ** (1 / beta)  # alpha A P^-alpha = beta B D^-beta
    assert fit.optimal_compute(p) == pytest.approx(6 * p * d_opt, rel=0.15)


def _uneven_ladder():
    """Chinchilla ladder of widths 16-96 whose ratios alternate 1.5 and 4/3, P = 12 w^2 + 100 w (as
    tests/ladders.py), curves long enough for every crossing: (curves, true 1 + gamma)."""
    alpha, beta, A, B = 0.34, 0.28, 40.0, 400.0
    curves = {}
    for w in (16, 24, 32, 48, 64, 96):
        p = 12 * w * w + 100 * w
        tokens = np.geomspace(1e3, 1e12, 400)
        curves[p] = (6 * p * tokens, 0.5 + A * p**-alpha + B * tokens**-beta)
    return curves, 1 + alpha / beta


def test_crossings_recover_the_exponent_of_an_unevenly_spaced_ladder():
    """Argmin centres lean toward the farther neighbour when widths are unevenly spaced in log P: 1 + gamma
    comes out about 2% high on this noiseless ladder. The crossings of adjacent widths sit at the pairs'
    geometric means up to a factor set by their ratio alone: within 0.1%."""
    curves, truth = _uneven_ladder()
    env = lower_envelope(curves, n_grid=400)
    centres, crossings = fit_horizon(env), fit_horizon(env, "crossings")
    assert 1 + crossings.gamma == pytest.approx(truth, rel=1e-3)
    assert (1 + centres.gamma) / truth - 1 > 0.01  # the bias the crossings remove
    assert len(crossings.points_params) == 5 and len(centres.points_params) == 4
    p16, p24 = 12 * 16**2 + 1600, 12 * 24**2 + 2400
    assert crossings.points_params[0] == pytest.approx(np.sqrt(p16 * p24))
    # the crossing itself: where the two curves are equal
    c = crossings.points_compute[0]
    loss = [np.interp(np.log(c), np.log(curves[p][0]), np.log(curves[p][1])) for p in (p16, p24)]
    assert loss[0] == pytest.approx(loss[1], abs=1e-4)
    with pytest.raises(ValueError, match="points must be one of"):
        fit_horizon(env, "middles")


def test_crossings_need_two_pairs_that_cross():
    """Runs too short for any crossing: the error names the key to lengthen."""
    curves = {}
    for p in np.round(np.geomspace(1e3, 1e5, 6)).astype(int):
        steps = np.geomspace(1, 1e3, 100)
        curves[int(p)] = (6 * p * steps, 0.1 + 3.0 * p**-0.5 + 3.0 * steps**-0.5)
    with pytest.raises(ValueError, match=r"only 0 pair.*sweep\.steps"):
        fit_horizon(lower_envelope(curves, n_grid=300), "crossings")
    # three widths (one interior: too few for centres) give two crossings and a line through them
    fit = fit_horizon(lower_envelope(_chinchilla_curves([1000, 2000, 4000]), n_grid=300), "crossings")
    assert 1 + fit.gamma == pytest.approx(2.0, rel=1e-3) and len(fit.points_params) == 2


def test_edges_are_excluded_and_few_widths_rejected():
    curves = _chinchilla_curves([1000, 2000, 4000])
    env = lower_envelope(curves)
    assert not env.interior[env.params == 1000].any() and not env.interior[env.params == 4000].any()
    with pytest.raises(ValueError, match="interior argmin"):
        fit_horizon(env)
    with pytest.raises(ValueError, match="at least 3 sweep widths"):
        lower_envelope({1: curves[1000], 2: curves[2000]})


def test_horizon_steps():
    env = lower_envelope(_chinchilla_curves(np.round(np.geomspace(1e3, 1e6, 10)).astype(int)))
    fit = fit_horizon(env)
    p = 50_000
    assert horizon_steps(fit, p, 32) == round(fit.optimal_compute(p) / (6 * p * 32))
    assert horizon_steps(fit, p, 32, scale=2.0) == pytest.approx(2 * horizon_steps(fit, p, 32), abs=1)


def test_gamma_scale_keeps_the_anchor_and_tilts_the_horizons():
    env = lower_envelope(_chinchilla_curves(np.round(np.geomspace(1e3, 1e6, 10)).astype(int)))
    fit = fit_horizon(env)
    anchor = float(np.exp(np.mean(np.log(fit.points_params))))
    small, large = anchor / 10, anchor * 10
    for p in (small, large):
        base = horizon_steps(fit, p, 1)
        tilted = horizon_steps(fit, p, 1, gamma_scale=1.1)
        # t*(P) ratio is (P / anchor)^(0.1 gamma).
        assert tilted / base == pytest.approx((p / anchor) ** (0.1 * fit.gamma), rel=1e-3)


def test_curves_that_end_while_best_censor_the_frontier():
    """Equal-step sweeps too short for any crossing: every argmin switch happens where a curve ends,
    which would fake a frontier with C proportional to P. All such points must be censored."""
    params = np.round(np.geomspace(1e3, 1e5, 6)).astype(int)
    curves = {}
    for p in params:
        steps = np.geomspace(1, 1e3, 100)  # crossings of these curves lie far beyond 1e3 steps
        curves[int(p)] = (6 * p * steps, 0.1 + 3.0 * p**-0.5 + 3.0 * steps**-0.5)
    env = lower_envelope(curves, n_grid=300)
    assert env.censored.any() and not env.interior.any()
    with pytest.raises(ValueError, match="censored"):
        fit_horizon(env)
    # Long enough runs: no censoring inside the range where the crossings happen, same fit as before.
    full = lower_envelope(_chinchilla_curves(params), n_grid=300)
    assert not full.censored[full.interior].any()


def test_a_width_whose_run_ends_while_best_is_left_out():
    """A run cut short while it is still the argmin has an interval ended by the sweep, not by a crossing:
    its centre would sit low. Its points are marked truncated and the fit uses the other widths only."""
    params = np.round(np.geomspace(1e3, 1e6, 10)).astype(int)
    curves = _chinchilla_curves(params)
    full = fit_horizon(lower_envelope(curves, n_grid=400))
    short = int(params[5])
    env_full = lower_envelope(curves, n_grid=400)
    in_range = env_full.compute[env_full.params == short]
    c, loss = curves[short]
    cut = c <= np.sqrt(in_range.min() * in_range.max())  # end the run halfway through its argmin interval
    env = lower_envelope({**curves, short: (c[cut], loss[cut])}, n_grid=400)
    assert set(env.params[env.truncated]) == {short, int(params[-1])}  # the largest width always ends best
    assert not env.interior[env.params == short].any() and env.censored.any()
    fit = fit_horizon(env)
    assert short not in fit.points_params and len(fit.points_params) >= 3
    assert fit.gamma == pytest.approx(full.gamma, rel=0.03)
    # Kept (truncated="include"), the cut width's centre sits below the line of the others.
    kept = lower_envelope({**curves, short: (c[cut], loss[cut])}, n_grid=400, truncated="include")
    assert kept.interior[kept.params == short].all() and (kept.truncated == env.truncated).all()
    inside = kept.params == short
    assert np.log(kept.compute[inside]).mean() < np.log(fit.optimal_compute(short)) - 0.2
    assert short in fit_horizon(kept).points_params
    with pytest.raises(ValueError, match="truncated"):
        lower_envelope(curves, truncated="drop")


@pytest.mark.parametrize("alpha,beta", [(0.5, 0.5), (0.34, 0.28)])
def test_isoflop_estimator_recovers_the_horizon_exponent(alpha, beta):
    from supercollapse.analysis.isoflop import isoflop_frontier

    params = np.round(np.geomspace(1e3, 1e6, 10)).astype(int)
    curves = _chinchilla_curves(params, alpha, beta)
    fit = isoflop_frontier(curves, lower_envelope(curves, n_grid=400))
    assert 1 + fit.gamma == pytest.approx((alpha + beta) / beta, rel=0.02)
    assert fit.r2 > 0.999 and len(fit.levels_compute) >= 10
    env_fit = fit_horizon(lower_envelope(curves, n_grid=400))
    assert fit.optimal_compute(1e4) == pytest.approx(env_fit.optimal_compute(1e4), rel=0.3)


def test_isoflop_needs_bracketed_minima():
    from supercollapse.analysis.isoflop import isoflop_frontier

    # Sweeps too short for any crossing: the smallest width is the argmin wherever nothing is censored.
    curves = {}
    for p in np.round(np.geomspace(1e3, 1e5, 6)).astype(int):
        steps = np.geomspace(1, 1e3, 100)
        curves[int(p)] = (6 * p * steps, 0.1 + 3.0 * p**-0.5 + 3.0 * steps**-0.5)
    with pytest.raises(ValueError, match="isoflop"):
        isoflop_frontier(curves, lower_envelope(curves, n_grid=300))


def _seed_frame(amplitude: float, seeds: int = 4, rng=None):
    """Sweep curves whose seeds differ by a constant multiplicative offset of relative size `amplitude`."""
    import polars as pl

    rng = np.random.default_rng(1) if rng is None else rng
    rows = []
    for p, (c, loss) in _chinchilla_curves(np.round(np.geomspace(1e3, 1e6, 8)).astype(int)).items():
        for seed in range(seeds):
            rows.append(pl.DataFrame({"params": p, "seed": seed, "step": np.arange(c.size), "compute": c,
                                      "eval_loss": loss * np.exp(amplitude * rng.standard_normal())}))
    return pl.concat(rows)


def test_seed_bootstrap_of_the_frontier_tracks_the_seed_spread():
    """Identical seeds give a zero-width interval at the point estimate; the interval widens with the spread
    between seeds. (Coverage of the true exponent is not asserted: measured on such data it is below the
    nominal 95% with 4 seeds, and the envelope itself is biased by noise; see the README.)"""
    from supercollapse.analysis.sweep_frontier import frontier_bootstrap, seed_mean_curves

    same = _seed_frame(0.0)
    point = fit_horizon(lower_envelope(seed_mean_curves(same), n_grid=300)).gamma
    boot = frontier_bootstrap(same, n_grid=300, n_boot=10, seed=0)
    assert boot.failed == 0 and list(boot.gamma_ci) == pytest.approx([point, point])
    widths = []
    for amplitude in (0.001, 0.01):  # beyond a few percent the width saturates at the argmin steps
        lo, hi = frontier_bootstrap(_seed_frame(amplitude), n_grid=300, n_boot=40, seed=0).gamma_ci
        widths.append(hi - lo)
    assert 0 < widths[0] < widths[1]


@pytest.mark.parametrize("points", ["centres", "crossings"])
def test_width_bootstrap_covers_the_true_exponent(points):
    """Resampling the fit's points (interior argmin widths, or crossings) gives an interval that covers the true
    gamma of noisy Chinchilla sweeps (seed offsets of 1%) in at least 17 of 20 draws (nominal 95%: fewer than 17
    has probability 1.6%); measured 18 of 20 with the centres, 20 of 20 with the crossings. The seed bootstrap
    covered it in 16 of 20 on the same data with the centres (14 of 20 on another 20 draws), 19 of 20 with the
    crossings: its undercoverage with 4 seeds is documented, not asserted."""
    from supercollapse.analysis.sweep_frontier import frontier_bootstrap

    true_gamma = (0.5 + 0.5) / 0.5 - 1
    covered = 0
    for draw in range(20):
        df = _seed_frame(0.01, rng=np.random.default_rng(100 + draw))
        lo, hi = frontier_bootstrap(df, n_grid=300, n_boot=100, seed=draw, resample="widths", points=points).gamma_ci
        covered += lo <= true_gamma <= hi
    assert covered >= 17


def test_width_bootstrap_of_noiseless_power_laws_is_tight():
    from supercollapse.analysis.sweep_frontier import frontier_bootstrap, seed_mean_curves

    df = _seed_frame(0.0)
    point = fit_horizon(lower_envelope(seed_mean_curves(df), n_grid=300)).gamma
    boot = frontier_bootstrap(df, n_grid=300, n_boot=50, seed=0, resample="widths")
    assert boot.failed == 0 and list(boot.gamma_ci) == pytest.approx([point, point], abs=1e-3)
    with pytest.raises(ValueError, match="resample"):
        frontier_bootstrap(df, n_grid=300, n_boot=1, seed=0, resample="params")


def test_width_bootstrap_needs_three_argmin_widths():
    """With two interior widths every usable resample is the same line: no interval instead of a zero-width one."""
    from supercollapse.analysis.sweep_frontier import frontier_bootstrap

    import polars as pl

    df = _seed_frame(0.01, seeds=2)
    four = sorted(df["params"].unique().to_list())[:4]  # argmins: 2 interior widths between the edges
    boot = frontier_bootstrap(df.filter(pl.col("params").is_in(four)), n_grid=300, n_boot=20, seed=0,
                              resample="widths")
    assert boot.gamma_ci == (None, None) and "at least 3" in boot.skipped


def test_argmins_on_the_initial_plateau_are_left_out(monkeypatch):
    """Every width starts on the same plateau (loss 10, the argmin decided by noise) for its first 1,000 steps:
    those grid points are marked transient and the exponent is recovered; counted, they bias it."""
    import supercollapse.analysis.frontier as frontier

    params = np.round(np.geomspace(1e3, 1e6, 10)).astype(int)
    rng = np.random.default_rng(0)
    curves = {}
    for p, (c, loss) in _chinchilla_curves(params).items():
        curves[p] = (c, np.where(c / (6 * p) < 1000, 10.0 + 1e-3 * rng.standard_normal(c.size), loss))
    env = lower_envelope(curves, n_grid=400)
    assert env.transient.any() and not (env.interior & (env.loss > 9)).any()
    assert np.all(env.loss[env.transient] > 9) and np.all(env.loss[~env.transient] < 9.6)
    assert 1 + fit_horizon(env).gamma == pytest.approx(2.0, rel=0.02)
    monkeypatch.setattr(frontier, "TRANSIENT_DROP", 0.0)
    assert 1 + fit_horizon(lower_envelope(curves, n_grid=400)).gamma > 2.2


def test_a_frontier_with_a_non_positive_exponent_is_refused(tmp_path):
    """Wider models compute-optimal at *less* compute (gamma < 0): the stage stops, naming gamma and the points."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from supercollapse.stages.analysis import frontier_stage
    from supercollapse.schemas import CURVES

    # Chinchilla curves with their parameter counts reversed: the argmin moves to *smaller* models as C grows.
    true_params = np.round(np.geomspace(1e3, 1e5, 6)).astype(int)
    curves = _chinchilla_curves(true_params)
    paths = []
    for i, p in enumerate(true_params[::-1]):
        c, loss = curves[int(true_params[i])]
        c, loss = c[::10], loss[::10]
        n = c.size
        cols = {"task": ["t"] * 2 * n, "study": ["sweep"] * 2 * n, "width": [int(p)] * 2 * n, "depth": [2] * 2 * n,
                "params": [int(p)] * 2 * n, "seed": [0] * n + [1] * n, "schedule": ["const"] * 2 * n,
                "step": np.tile(np.arange(n), 2), "tokens": np.tile(np.arange(n), 2), "compute": np.tile(c, 2),
                "lr": np.full(2 * n, 0.01), "tau": np.tile(0.01 * np.arange(n), 2), "eval_loss": np.tile(loss, 2),
                "train_loss": np.tile(loss, 2), "noise_trace": np.full(2 * n, np.nan), "diverged": [False] * 2 * n}
        paths.append(tmp_path / f"w{p}.parquet")
        pq.write_table(pa.Table.from_pydict(cols, schema=CURVES), paths[-1])
    with pytest.raises(ValueError, match=r"gamma = .* is not positive"):
        frontier_stage(paths, tmp_path / "horizon.json", tmp_path / "envelope.parquet", n_grid=200, n_boot=0, seed=0,
                       truncated="exclude", points="centres", extra={})
    assert not (tmp_path / "horizon.json").exists()
