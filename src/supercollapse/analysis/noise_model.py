"""The SGD-noise model of LR schedules (DESIGN §3): τ-matching and the one-parameter fit of α.

With intrinsic time τ(t) = Σ_{s<t} η(s), a scheduled run's loss is predicted from the constant-LR run of
the same model and horizon as

    L_sched(t) ≈ L_const(τ(t)) + α · (η(t)/η_peak − 1) · Tr(P⁻¹Σ)(t),

where Tr(P⁻¹Σ) is the scheduled run's own noise trace at t (train/noise_trace.py). The first term alone (α = 0)
is the baseline "constant-LR loss at equal τ". The prediction is linear in α, so α has a closed-form
least-squares fit pooled over every schedule of a task; its CI comes from resampling seeds.

Choices (ours, stated):
- L_const(τ) is interpolated piecewise linearly in (log τ, log L): loss curves are close to power laws in τ,
  so this is nearly exact between evaluation points, and the evaluation grid is geometric early on.
  Scheduled τ never exceeds the constant run's final τ (η ≤ η_peak), so this never extrapolates.
- Seeds are paired: a scheduled run of seed s is compared with the constant run of seed s, which has the
  same initialisation and input stream, so before the decay starts the two curves coincide and the seed
  noise they share after it cancels in the residual. Without pairing the seed-mean constant curve is used.
- Warmup points (where the constant run's LR is below its peak) are left out: both runs warm up alike, and
  the model's η(t)/η_peak − 1 speaks of the decay only. Step 0 (no noise trace) is left out too.
- RMSEs are over the decay phase (η < η_peak): before it the prediction and the baseline are the same
  curve. The pooled RMSE ratio (baseline / model) is also given out of sample: for each run α is refit
  without that run's (schedule, decay_frac), so the one fitted scalar cannot flatter the ratio; and between
  seed-mean curves, which leaves out the seed-to-seed fluctuations no deterministic model predicts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from ..schemas import NOISE_PREDICTIONS, NOISE_RMSE

RUN_KEYS = ("schedule", "decay_frac", "seed")


def loss_at_tau(tau_ref: np.ndarray, loss_ref: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """The reference curve L(τ) at `tau`, interpolated linearly in (log τ, log L).

    `tau_ref` must be increasing and positive, `loss_ref` positive; `tau` must lie within the range of
    `tau_ref` (a relative slack of 1e-9 absorbs rounding of sums of LRs).
    """
    tau_ref, loss_ref, tau = (np.asarray(a, dtype=np.float64) for a in (tau_ref, loss_ref, tau))
    if tau_ref.ndim != 1 or tau_ref.shape != loss_ref.shape or len(tau_ref) < 2:
        raise ValueError("reference curve: expected 1-D tau and loss of the same length >= 2, got shapes "
                         f"{tau_ref.shape} and {loss_ref.shape}")
    if not (np.all(tau_ref > 0) and np.all(np.diff(tau_ref) > 0)):
        raise ValueError("reference curve: tau must be positive and strictly increasing")
    if not np.all(loss_ref > 0):
        raise ValueError("reference curve: loss must be positive for log interpolation")
    lo, hi = tau_ref[0] * (1 - 1e-9), tau_ref[-1] * (1 + 1e-9)
    outside = (tau < lo) | (tau > hi)
    if np.any(outside):
        raise ValueError(f"tau {tau[outside][:3]} outside the reference curve's range [{tau_ref[0]:.6g}, "
                         f"{tau_ref[-1]:.6g}]: the scheduled and constant runs must share the horizon")
    log_tau = np.log(np.clip(tau, tau_ref[0], tau_ref[-1]))
    return np.exp(np.interp(log_tau, np.log(tau_ref), np.log(loss_ref)))


def design(const: pl.DataFrame, scheduled: pl.DataFrame, pair_seeds: bool = True) -> pl.DataFrame:
    """One row per evaluation point of every scheduled run, with what the model needs.

    `const`: the constant-LR run(s), columns seed, step, tau, lr, eval_loss. `scheduled`: the scheduled runs,
    columns schedule, decay_frac, seed, step, tau, lr, eval_loss, noise_trace. Returns the scheduled rows with
    `eta_ratio` = η/η_peak, `loss` (observed), `loss_baseline` = L_const(τ), `residual` = loss − baseline,
    `regressor` = (η/η_peak − 1) · noise_trace, `in_fit` (post-warmup, step > 0, finite) and `decaying`
    (in_fit and η < η_peak).
    """
    for name, df, cols in (("const", const, ("seed", "step", "tau", "lr", "eval_loss")),
                           ("scheduled", scheduled, ("schedule", "decay_frac", "seed", "step", "tau", "lr",
                                                     "eval_loss", "noise_trace"))):
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise ValueError(f"{name} curves: missing columns {missing}")
    peak = float(const["lr"].max())
    if not peak > 0:
        raise ValueError("const curves: the peak LR must be positive")
    if float(scheduled["lr"].max()) > peak * (1 + 1e-9):
        raise ValueError(f"scheduled curves reach LR {float(scheduled['lr'].max()):.6g} above the constant "
                         f"run's peak {peak:.6g}")
    const = const.filter(pl.col("step") > 0).sort("seed", "step")
    warm_steps = const.filter(pl.col("lr") < peak * (1 - 1e-9))["step"]
    warmup_end = int(warm_steps.max()) if len(warm_steps) else 0

    if pair_seeds:
        missing = sorted(set(scheduled["seed"].unique()) - set(const["seed"].unique()))
        if missing:
            raise ValueError(f"pair_seeds: scheduled seeds {missing} have no constant-LR run")
        refs = {int(s): (g["tau"].to_numpy(), g["eval_loss"].to_numpy())
                for (s,), g in const.group_by("seed", maintain_order=True)}
    else:
        mean = const.group_by("step").agg(pl.col("tau").first(), pl.col("eval_loss").mean()).sort("step")
        refs = None
        ref_mean = (mean["tau"].to_numpy(), mean["eval_loss"].to_numpy())

    parts = []
    for _, run in scheduled.sort(*RUN_KEYS, "step").group_by(RUN_KEYS, maintain_order=True):
        seed = int(run["seed"][0])
        tau_ref, loss_ref = refs[seed] if refs is not None else ref_mean
        run = run.with_columns(
            (pl.col("lr") / peak).alias("eta_ratio"), pl.col("eval_loss").alias("loss"))
        usable = ((run["step"] > warmup_end) & run["noise_trace"].is_finite() & run["loss"].is_finite()
                  & (run["tau"] > 0)).fill_null(False)
        baseline = np.full(len(run), np.nan)
        idx = np.flatnonzero(usable.to_numpy())
        baseline[idx] = loss_at_tau(tau_ref, loss_ref, run["tau"].to_numpy()[idx])
        parts.append(run.with_columns(pl.Series("loss_baseline", baseline), pl.Series("in_fit", usable)))
    out = pl.concat(parts).with_columns(
        (pl.col("loss") - pl.col("loss_baseline")).alias("residual"),
        ((pl.col("eta_ratio") - 1.0) * pl.col("noise_trace")).alias("regressor"),
    )
    return out.with_columns((pl.col("in_fit") & (pl.col("eta_ratio") < 1 - 1e-9)).alias("decaying")).select(
        *RUN_KEYS, "step", "tau", "lr", "eta_ratio", "noise_trace", "loss", "loss_baseline", "residual",
        "regressor", "in_fit", "decaying")


def fit_alpha(regressor: np.ndarray, residual: np.ndarray) -> float:
    """Least-squares α of residual ≈ α · regressor (no intercept): Σ x r / Σ x²."""
    x, r = np.asarray(regressor, np.float64), np.asarray(residual, np.float64)
    sxx = float(np.sum(x * x))
    if not sxx > 0:
        raise ValueError("no decay-phase points with a finite noise trace: alpha is not identifiable")
    return float(np.sum(x * r) / sxx)


@dataclass(frozen=True)
class AlphaFit:
    alpha: float
    ci: tuple[float, float]  # percentile bootstrap over seeds
    level: float
    n_boot: int
    n_seeds: int
    n_points: int  # points with a non-zero regressor (the decay phase)


def bootstrap_alpha(points: pl.DataFrame, n_boot: int, seed: int, level: float = 0.95) -> AlphaFit:
    """α pooled over every schedule, with a percentile CI from resampling seeds (each seed carries all its
    runs, since its points share the paired constant run). `points`: the `in_fit` rows of `design`."""
    # Sorted: polars gives groups in hash order, which varies between runs, and the bootstrap indexes them.
    per_seed = points.group_by("seed").agg((pl.col("regressor") ** 2).sum().alias("sxx"),
                                           (pl.col("regressor") * pl.col("residual")).sum().alias("sxr")).sort("seed")
    sxx, sxr = per_seed["sxx"].to_numpy(), per_seed["sxr"].to_numpy()
    alpha = fit_alpha(points["regressor"].to_numpy(), points["residual"].to_numpy())
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(sxx), size=(n_boot, len(sxx)))
    den = sxx[draws].sum(axis=1)
    boots = sxr[draws].sum(axis=1)[den > 0] / den[den > 0]
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    ci = tuple(float(v) for v in np.percentile(boots, q)) if len(boots) else (float("nan"), float("nan"))
    return AlphaFit(alpha=alpha, ci=ci, level=level, n_boot=n_boot, n_seeds=len(sxx),
                    n_points=int((points["regressor"] != 0).sum()))


def with_prediction(points: pl.DataFrame, alpha: float) -> pl.DataFrame:
    return points.with_columns((pl.col("loss_baseline") + alpha * pl.col("regressor")).alias("loss_pred"))


def run_rmse(points: pl.DataFrame, alpha: float) -> pl.DataFrame:
    """Per run (schedule, decay_frac, seed): RMSE of the model and of the baseline over the decay phase."""
    pred = with_prediction(points.filter(pl.col("decaying")), alpha)
    return pred.group_by(RUN_KEYS).agg(
        pl.len().alias("n_points"),
        ((pl.col("loss_pred") - pl.col("loss")) ** 2).mean().sqrt().alias("rmse_model"),
        (pl.col("residual") ** 2).mean().sqrt().alias("rmse_baseline"),
    ).with_columns((pl.col("rmse_baseline") / pl.col("rmse_model")).alias("ratio")).sort(RUN_KEYS)


@dataclass(frozen=True)
class RmseRatio:
    """Pooled RMSEs over the decay phase of the equal-tau baseline and of the model, and their ratio."""

    rmse_baseline: float
    rmse_model: float
    ratio: float  # rmse_baseline / rmse_model (inf for a perfect model)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SeedMeanRmse(RmseRatio):
    n_seeds: int  # seeds averaged
    n_points: int  # (schedule, decay_frac, step) points every seed has


@dataclass(frozen=True)
class OutOfSampleRmse:
    """The pooled RMSE ratio with each (schedule, decay_frac) predicted by α fitted on the others."""

    ratio: float | None  # None: no run had other runs to fit on, or the model's RMSE is 0
    alphas: dict[str, float]  # "schedule/decay_frac" -> the α it was predicted with
    rmse_baseline: float | None = None  # None: no run had other runs to fit on
    rmse_model: float | None = None

    def to_dict(self) -> dict:
        if self.rmse_baseline is None:
            return {"ratio": self.ratio, "alphas": self.alphas}
        return {"rmse_baseline": self.rmse_baseline, "rmse_model": self.rmse_model, "ratio": self.ratio,
                "alphas": self.alphas}


def pooled_rmse_ratio(points: pl.DataFrame, alpha: float) -> RmseRatio:
    """Pooled over every decay-phase point of every scheduled run: RMSE of the baseline and of the model."""
    d = points.filter(pl.col("decaying"))
    res = d["residual"].to_numpy()
    model = res - alpha * d["regressor"].to_numpy()
    base, fit = float(np.sqrt(np.mean(res**2))), float(np.sqrt(np.mean(model**2)))
    return RmseRatio(rmse_baseline=base, rmse_model=fit, ratio=base / fit if fit > 0 else float("inf"))


def seed_mean_rmse_ratio(points: pl.DataFrame, alpha: float) -> SeedMeanRmse:
    """The pooled RMSEs between seed-mean curves: at each (schedule, decay_frac, step) of the decay phase the
    observed, predicted and baseline losses are averaged over the seeds first (points every seed has only).

    A deterministic model can predict the mean curve, not one seed's fluctuations around it; the per-seed
    RMSE of `pooled_rmse_ratio` keeps those fluctuations (of the scheduled run and of its constant-LR
    reference), this reading averages them down by the number of seeds."""
    d = with_prediction(points.filter(pl.col("decaying")), alpha)
    n_seeds = d["seed"].n_unique()
    m = (d.group_by("schedule", "decay_frac", "step").agg(pl.col("loss", "loss_pred", "loss_baseline").mean(), pl.len())
         .filter(pl.col("len") == n_seeds).sort("schedule", "decay_frac", "step"))  # a fixed summation order
    base = float(np.sqrt(np.mean((m["loss"] - m["loss_baseline"]).to_numpy() ** 2)))
    fit = float(np.sqrt(np.mean((m["loss"] - m["loss_pred"]).to_numpy() ** 2)))
    return SeedMeanRmse(rmse_baseline=base, rmse_model=fit, ratio=base / fit if fit > 0 else float("inf"),
                        n_seeds=int(n_seeds), n_points=int(m.height))


def out_of_sample_ratio(points: pl.DataFrame) -> OutOfSampleRmse:
    """Pooled RMSE ratio when each (schedule, decay_frac) is predicted with α fitted on the others only."""
    groups = points.select("schedule", "decay_frac").unique().sort("schedule", "decay_frac")
    sq_base, sq_model, alphas = [], [], {}
    for schedule, decay_frac in groups.iter_rows():
        held = (pl.col("schedule") == schedule) & (pl.col("decay_frac") == decay_frac)
        rest = points.filter(~held)
        if float((rest["regressor"] ** 2).sum()) <= 0:
            continue
        a = fit_alpha(rest["regressor"].to_numpy(), rest["residual"].to_numpy())
        alphas[f"{schedule}/{decay_frac:g}"] = a
        d = points.filter(held & pl.col("decaying"))
        sq_base.append(d["residual"].to_numpy() ** 2)
        sq_model.append((d["residual"].to_numpy() - a * d["regressor"].to_numpy()) ** 2)
    if not sq_base:
        return OutOfSampleRmse(ratio=None, alphas=alphas)
    base = float(np.sqrt(np.mean(np.concatenate(sq_base))))
    model = float(np.sqrt(np.mean(np.concatenate(sq_model))))
    return OutOfSampleRmse(ratio=base / model if model > 0 else None, alphas=alphas, rmse_baseline=base,
                           rmse_model=model)


def alpha_by_run(points: pl.DataFrame) -> dict[str, float]:
    """α fitted to each (schedule, decay_frac) alone: a check that one α fits every schedule."""
    out = {}
    for (schedule, decay_frac), g in points.group_by("schedule", "decay_frac", maintain_order=True):
        if float((g["regressor"] ** 2).sum()) > 0:
            out[f"{schedule}/{decay_frac:g}"] = fit_alpha(g["regressor"].to_numpy(), g["residual"].to_numpy())
    return dict(sorted(out.items()))


MODEL = ("L(t) = L_const(tau(t)) + alpha (eta(t)/eta_peak - 1) Tr(P^-1 Sigma)(t); L_const interpolated in "
         "(log tau, log L) from the same seed's constant-LR run; RMSEs over the decay phase")


def reference_run(runs: list[tuple]) -> tuple[tuple, list[tuple]]:
    """(the "const" run, the others) of a schedule study's runs, each a tuple whose second item is its schedule."""
    const = [r for r in runs if r[1] == "const"]
    if len(const) != 1:
        raise ValueError(f"the schedule study needs exactly one 'const' run as its reference, got {len(const)}")
    if len(runs) < 2:
        raise ValueError("the schedule study needs at least one scheduled run beside 'const'")
    return const[0], [r for r in runs if r[1] != "const"]


@dataclass(frozen=True)
class NoiseModelFit:
    """One task's α with its CI, its checks and the scored predictions (alpha.json, rmse and predictions)."""

    task: str
    runs: list[tuple[str, float]]  # (schedule, decay_frac) of every run of the study, "const" included
    fit: AlphaFit
    alpha_by_run: dict[str, float]
    pooled: RmseRatio
    out_of_sample: OutOfSampleRmse
    seed_mean: SeedMeanRmse
    run_rmse: pl.DataFrame  # `run_rmse` with the task (schema NOISE_RMSE's columns)
    predictions: pl.DataFrame  # every row of `design` with its prediction and the task (NOISE_PREDICTIONS')

    def to_dict(self) -> dict:
        """The content of alpha.json, less the rule's extras."""
        return {"task": self.task, "alpha": self.fit.alpha, "alpha_ci": list(self.fit.ci), "ci_level": self.fit.level,
                "ci_method": "percentile bootstrap over seeds (each seed with all its runs)",
                "n_boot": self.fit.n_boot, "n_seeds": self.fit.n_seeds, "n_points": self.fit.n_points,
                "alpha_by_run": self.alpha_by_run, "pooled": self.pooled.to_dict(),
                "out_of_sample": self.out_of_sample.to_dict(), "seed_mean_curves": self.seed_mean.to_dict(),
                "runs": [{"schedule": s, "decay_frac": float(f)} for s, f in self.runs], "model": MODEL}

    def rmse_table(self) -> pa.Table:
        return pa.Table.from_pandas(self.run_rmse.select(NOISE_RMSE.names).to_pandas(), schema=NOISE_RMSE,
                                    preserve_index=False)

    def predictions_table(self) -> pa.Table:
        return pa.Table.from_pandas(self.predictions.select(NOISE_PREDICTIONS.names).to_pandas(),
                                    schema=NOISE_PREDICTIONS, preserve_index=False)


def fit_noise_model(const: pl.DataFrame, scheduled: pl.DataFrame, runs: list[tuple[str, float]], task: str,
                    n_boot: int, seed: int, level: float = 0.95) -> NoiseModelFit:
    """Fit one α for the task over every scheduled run (curves of `design`) and score the predictions.

    `runs`: (schedule, decay_frac) of every run, recorded as they are given."""
    d = design(const, scheduled)
    points = d.filter(pl.col("in_fit"))
    fit = bootstrap_alpha(points, n_boot=n_boot, seed=seed, level=level)
    return NoiseModelFit(
        task=task, runs=runs, fit=fit, alpha_by_run=alpha_by_run(points), pooled=pooled_rmse_ratio(points, fit.alpha),
        out_of_sample=out_of_sample_ratio(points), seed_mean=seed_mean_rmse_ratio(points, fit.alpha),
        run_rmse=run_rmse(points, fit.alpha).with_columns(pl.lit(task).alias("task")),
        predictions=with_prediction(d, fit.alpha).with_columns(pl.lit(task).alias("task")))
