"""Seaborn figures, drawn from the Parquet/JSON artifacts only."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import polars as pl  # noqa: E402
import seaborn as sns  # noqa: E402

from .analysis.sweep_frontier import common_grid  # noqa: E402
from .io import atomic_path, read_table  # noqa: E402
from .schemas import CURVES, FRONTIER, LHAT_SENSITIVITY, NORMALIZED, STATISTICS, STUDIES, THEORY  # noqa: E402
from .schemas import COORD_CHECK  # noqa: E402


def _setup(cfg: dict) -> None:
    sns.set_theme(context=cfg["context"], style=cfg["style"])


def _save(fig, path, cfg: dict) -> None:
    """Save atomically; the format comes from `path`'s suffix (the temporary name ends in .tmp)."""
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=path.suffix.lstrip("."), dpi=int(cfg["dpi"]), bbox_inches="tight")
    finally:
        plt.close(fig)


def _curves(paths) -> pl.DataFrame:
    df = pl.concat([pl.from_arrow(read_table(p, CURVES)) for p in paths]).filter(~pl.col("diverged"))
    return df.filter(pl.col("step") > 0)


def _banded(df: pl.DataFrame) -> pd.DataFrame:
    """(width, seed, compute, eval_loss) for a seed-mean line and sd band per width. Seeds of a width evaluated
    at different compute points (external runs logged at their own steps) are first interpolated onto the
    points inside the range all of them cover, as the frontier averages them; otherwise seaborn would draw a
    line through single seeds, one x at a time."""
    parts = []
    for (width, params), runs in df.sort("seed", "step").group_by("width", "params", maintain_order=True):
        seeds = [(g["seed"][0], g["compute"].to_numpy(), g["eval_loss"].to_numpy())
                 for _, g in runs.group_by("seed", maintain_order=True)]
        if all(np.array_equal(c, seeds[0][1]) for _, c, _ in seeds):
            parts.append(runs.select("width", "seed", "compute", "eval_loss"))
            continue
        compute, losses = common_grid(int(params), [(c, loss) for _, c, loss in seeds])
        parts.extend(pl.DataFrame({"width": width, "seed": seed, "compute": compute, "eval_loss": loss})
                     for (seed, _, _), loss in zip(seeds, losses))
    return pl.concat(parts, how="vertical_relaxed").to_pandas()


def frontier_figure(sweep_paths, envelope_path, horizon_path, out_path, cfg: dict) -> None:
    """Left: constant-LR sweep curves with their lower envelope. Right: C*(P) points and the fitted law."""
    _setup(cfg)
    df = _banded(_curves(sweep_paths))
    env = pl.from_arrow(read_table(envelope_path, FRONTIER))
    fit = json.loads(Path(horizon_path).read_text())
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    sns.lineplot(data=df, x="compute", y="eval_loss", hue="width", palette="viridis", errorbar="sd", ax=ax1,
                 legend="full")
    ax1.plot(env["compute"], env["loss"], color="k", lw=1.5, ls="--", label="envelope")
    inner = env.filter(pl.col("interior"))
    ax1.scatter(inner["compute"], inner["loss"], s=4, color="crimson", zorder=3, label="interior argmin")
    ax1.set(xscale="log", yscale="log", xlabel="compute C (FLOPs)", ylabel="eval loss",
            title="constant-LR sweep")
    ax1.legend(fontsize=7, ncols=2)
    p = np.array(fit["points_params"], dtype=float)
    grid = np.geomspace(p.min() / 1.5, p.max() * 1.5, 50)
    ax2.scatter(p, fit["points_compute"], color="crimson", zorder=3,
                label="crossings" if fit.get("points") == "crossings" else "argmin centres")
    ax2.plot(grid, (grid / fit["kappa"]) ** (1 + fit["gamma"]), color="k",
             label=f"$(P/\\kappa)^{{1+\\gamma}}$, $\\gamma$={fit['gamma']:.3f}, $R^2$={fit['r2']:.3f}")
    ax2.set(xscale="log", yscale="log", xlabel="parameters P", ylabel="compute-optimal C* (FLOPs)",
            title="horizon fit")
    ax2.legend(fontsize=8)
    _save(fig, out_path, cfg)


def curves_figure(run_paths, envelope_path, lhat_path, out_path, cfg: dict) -> None:
    """Compute-optimal runs (seed mean and sd band), the sweep envelope (none for an external task without a
    sweep: `envelope_path` is an empty list), and the fitted L_hat + a C^-b."""
    _setup(cfg)
    df = _banded(_curves(run_paths))
    fit = json.loads(Path(lhat_path).read_text())
    fig, ax = plt.subplots(figsize=(6, 4.2))
    sns.lineplot(data=df, x="compute", y="eval_loss", hue="width", palette="viridis", errorbar="sd", ax=ax)
    if envelope_path:
        env = pl.from_arrow(read_table(envelope_path, FRONTIER))
        ax.plot(env["compute"], env["loss"], color="gray", lw=1, ls=":", label="constant-LR envelope")
    ends = [row["compute"] for row in fit["end_points"]]
    c = np.geomspace(min(ends) / 3, max(ends) * 2, 100)
    ax.plot(c, fit["l_hat"] + fit["a"] * (c / 1e15) ** (-fit["b"]), color="k", ls="--",
            label=f"$\\hat L$ + a C$^{{-b}}$: $\\hat L$={fit['l_hat']:.4g}, b={fit['b']:.3f}")
    ax.set(xscale="log", yscale="log", xlabel="compute C (FLOPs)", ylabel="eval loss",
           title="compute-optimal runs")
    ax.legend(fontsize=7)
    _save(fig, out_path, cfg)


def collapse_figure(normalized_path, out_path, cfg: dict) -> None:
    """Normalized curves ell(x) per width: seed mean with an sd band."""
    _setup(cfg)
    df = pl.from_arrow(read_table(normalized_path, NORMALIZED)).filter(pl.col("x") >= cfg["collapse_x_min"])
    # Seeds of one width share their evaluation x values, so the seed band is computed per x.
    fig, ax = plt.subplots(figsize=(6, 4.2))
    sns.lineplot(data=df.to_pandas(), x="x", y="ell", hue="width", palette="viridis", errorbar="sd", ax=ax)
    ax.set(xscale="log", yscale="log", xlabel="normalized compute x = C / C*",
           ylabel=r"normalized loss $\ell(x)$", title="scaling collapse")
    _save(fig, out_path, cfg)


def deviation_figure(stats_path, summary_path, sensitivity_path, out_path, cfg: dict) -> None:
    """Delta(x) against the seed noise floors sigma_raw(x), sigma_norm(x); their ratios; and the window
    means of the ratios at trial L_hat values around the fit."""
    _setup(cfg)
    st = pl.from_arrow(read_table(stats_path, STATISTICS))
    summary = json.loads(Path(summary_path).read_text())
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(16, 4.2))
    long = st.select("x", "delta_std", "sigma_raw", "sigma_norm").unpivot(index="x", variable_name="quantity")
    sns.lineplot(data=long.to_pandas(), x="x", y="value", hue="quantity", ax=ax1)
    ax1.set(yscale="log", xlabel="x = C / C*", ylabel="spread of $\\ell$", title="collapse deviation vs noise floor")
    for name, color in (("raw", "C1"), ("norm", "C2")):
        ax2.plot(st["x"], st[f"ratio_{name}"], color=color, label=f"$\\Delta/\\sigma_{{{name}}}$")
        ax2.fill_between(st["x"], st[f"ratio_{name}_lo"], st[f"ratio_{name}_hi"], color=color, alpha=0.2)
    ax2.axhline(1.0, color="k", lw=1, ls="--")
    lo, hi = summary["x_window"]
    ax2.axvspan(lo, hi, color="gray", alpha=0.08)
    ax2.set(yscale="log", xlabel="x = C / C*", ylabel="ratio",
            title=f"mean $\\Delta/\\sigma_{{raw}}$ = {summary['mean_ratio_raw']:.2f} on [{lo}, {hi}]")
    ax2.legend(fontsize=8)
    sens = pl.from_arrow(read_table(sensitivity_path, LHAT_SENSITIVITY)).drop_nulls("mean_ratio_raw")
    for name, color in (("raw", "C1"), ("norm", "C2")):
        ax3.plot(sens["l_hat"], sens[f"mean_ratio_{name}"], "o-", color=color, label=f"$\\Delta/\\sigma_{{{name}}}$")
    ax3.axvline(summary["l_hat"], color="gray", lw=1, ls=":", label=r"fitted $\hat L$")
    ax3.axhline(1.0, color="k", lw=1, ls="--")
    ax3.set(yscale="log", xlabel=r"trial $\hat L$", ylabel=f"mean ratio on [{lo}, {hi}]",
            title=r"sensitivity to $\hat L$")
    ax3.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, out_path, cfg)


def theory_figure(curves_path, out_path, cfg: dict) -> None:
    """Exact power-law normalized curves, one panel per horizon exponent, coloured by model size."""
    _setup(cfg)
    df = pl.from_arrow(read_table(curves_path, THEORY))
    scales = sorted(df["gamma_scale"].unique().to_list())
    fig, axes = plt.subplots(1, len(scales), figsize=(4.2 * len(scales), 4), sharey=True, squeeze=False)
    for ax, scale in zip(axes[0], scales):
        sub = df.filter(pl.col("gamma_scale") == scale)
        spread = sub.group_by("x").agg((pl.col("ell").max() - pl.col("ell").min()).alias("d"))["d"].max()
        sizes = sorted(sub["params"].unique().to_list())
        label = {p: f"{p:.2g}" for p in sizes}
        sub = sub.with_columns(pl.col("params").replace_strict(label, return_dtype=pl.String).alias("P"))
        sns.lineplot(data=sub.to_pandas(), x="x", y="ell", hue="P", hue_order=[label[p] for p in sizes],
                     palette="viridis", ax=ax, legend=ax is axes[0][0])
        ax.set(xscale="log", yscale="log", xlabel="x = t / t*", ylabel=r"$\ell(x)$",
               title=f"$\\gamma$ = {scale:g} $\\gamma^*$ (max spread {spread:.2g})")
    _save(fig, out_path, cfg)


def studies_figure(studies_path, out_path, cfg: dict) -> None:
    """Mean Delta/sigma over the x window of every study of a task, with bootstrap CIs (log scale)."""
    _setup(cfg)
    df = pl.from_arrow(read_table(studies_path, STUDIES))
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * df.height, 4))
    pos = np.arange(df.height)
    for offset, (name, color) in zip((-0.12, 0.12), (("raw", "C1"), ("norm", "C2"))):
        mid = df[f"mean_ratio_{name}"].to_numpy()
        err = np.abs(np.vstack([mid - df[f"mean_ratio_{name}_lo"].to_numpy(),
                                df[f"mean_ratio_{name}_hi"].to_numpy() - mid]))
        ax.errorbar(pos + offset, mid, yerr=err, fmt="o", color=color, capsize=3,
                    label=f"mean $\\Delta/\\sigma_{{{name}}}$")
    ax.axhline(1.0, color="k", lw=1, ls="--")
    ax.set_xticks(pos, df["study"].to_list(), rotation=30, ha="right")
    ax.set(yscale="log", ylabel="mean ratio over the x window", title=f"collapse by study ({df['task'][0]})")
    ax.legend(fontsize=8)
    _save(fig, out_path, cfg)


def noise_model_figure(predictions_path, alpha_path, out_path, cfg: dict) -> None:
    """The SGD-noise model of LR schedules: per decay fraction, the loss gap to the constant-LR run at equal
    tau (observed, solid; predicted, dashed; seed means) against training progress; and at every decay-phase
    point the observed gap against the predicted one (the equal-tau baseline predicts 0)."""
    from .schemas import NOISE_PREDICTIONS

    _setup(cfg)
    df = pl.from_arrow(read_table(predictions_path, NOISE_PREDICTIONS)).filter(pl.col("in_fit"))
    fit = json.loads(Path(alpha_path).read_text())
    fracs = sorted(df["decay_frac"].unique().to_list(), reverse=True)
    fig, axes = plt.subplots(1, len(fracs) + 1, figsize=(5 * (len(fracs) + 1), 4.2))
    schedules = sorted(df["schedule"].unique().to_list())
    colors = dict(zip(schedules, sns.color_palette("colorblind", len(schedules))))
    last = df["step"].max()
    for ax, frac in zip(axes, fracs):
        mean = (df.filter(pl.col("decay_frac") == frac)
                .with_columns((pl.col("loss") - pl.col("loss_baseline")).alias("observed"),
                              (pl.col("loss_pred") - pl.col("loss_baseline")).alias("predicted"))
                .group_by("schedule", "step").agg(pl.col("observed", "predicted").mean()).sort("schedule", "step"))
        for (schedule,), g in mean.group_by("schedule", maintain_order=True):
            u = g["step"].to_numpy() / last
            ax.plot(u, g["observed"], color=colors[schedule], label=schedule)
            ax.plot(u, g["predicted"], color=colors[schedule], ls="--")
        ax.axhline(0.0, color="k", lw=0.8)
        ax.set(xlim=(max(0.0, 1 - 1.3 * frac), 1.0), xlabel="t / T",
               ylabel=r"$L_{sched}(t) - L_{const}(\tau(t))$", title=f"decay over the last {frac:g} (dashed: model)")
        ax.legend(fontsize=7)
    ax = axes[-1]
    dec = df.filter(pl.col("decaying")).with_columns(
        (pl.col("loss") - pl.col("loss_baseline")).alias("observed"),
        (pl.col("loss_pred") - pl.col("loss_baseline")).alias("predicted"))
    for (schedule,), g in dec.group_by("schedule", maintain_order=True):
        ax.scatter(g["predicted"], g["observed"], s=3, alpha=0.5, color=colors[schedule], label=schedule)
    lims = [min(float(dec["observed"].min()), float(dec["predicted"].min())), 0.0]
    ax.plot(lims, lims, color="k", lw=0.8, label="observed = model")
    ax.axhline(0.0, color="gray", lw=0.8, ls=":", label=r"equal-$\tau$ baseline")
    pooled = fit["pooled"]
    ax.set(xlabel=r"model: $\alpha\,(\eta/\eta_{peak} - 1)\,\mathrm{Tr}(P^{-1}\Sigma)$",
           ylabel=r"observed $L - L_{const}(\tau)$",
           title=(f"$\\alpha$ = {fit['alpha']:.3f} [{fit['alpha_ci'][0]:.3f}, {fit['alpha_ci'][1]:.3f}]; "
                  f"RMSE ratio {pooled['ratio']:.1f}"))
    ax.legend(fontsize=7, markerscale=3)
    fig.tight_layout()
    _save(fig, out_path, cfg)


def coord_check_figure(coord_path, out_path, cfg: dict) -> None:
    """The µP coordinate check: activation RMS against width, one panel per layer, one line per step.
    Flat lines mean width-independent activations (µP working); rising lines, activations that blow up."""
    _setup(cfg)
    df = pl.from_arrow(read_table(coord_path, COORD_CHECK)).filter(pl.col("rms") > 0)  # zero-init at step 0
    df = df.with_columns(pl.when(pl.col("block") < 0).then(pl.col("site"))
                         .otherwise(pl.format("block {} {}", pl.col("block"), pl.col("site"))).alias("layer"))
    order = ["embed"] + sorted(set(df["layer"]) - {"embed", "logits"}, key=lambda s: (int(s.split()[1]), s)) + [
        "logits"]
    grid = sns.relplot(data=df.to_pandas(), x="width", y="rms", hue="step", col="layer", col_order=order,
                       col_wrap=4, kind="line", marker="o", palette="viridis", height=2.4, aspect=1.1,
                       facet_kws={"sharey": False})
    grid.set(xscale="log", yscale="log")
    grid.set_titles("{col_name}")
    widths = sorted(set(df["width"]))
    for ax in grid.axes.flat:
        ax.set_xticks(widths, [str(w) for w in widths])
        ax.minorticks_off()
        lo, hi = ax.get_ylim()  # at least a decade per panel, so that noise does not look like a trend
        if hi / lo < 10:
            mid = np.sqrt(hi * lo)
            ax.set_ylim(mid / np.sqrt(10), mid * np.sqrt(10))
    ref = df["lr_reference_width"].drop_nulls()
    grid.figure.suptitle("µP coordinate check" if ref.is_empty() else
                         f"coordinate check, LRs of width {ref[0]} at every width (no µP)", y=1.02)
    _save(grid.figure, out_path, cfg)


def prediction_figure(run_paths, table_path, scores_path, out_path, cfg: dict) -> None:
    """One panel per predicted or held-out width, raw axes: the predicted curve with its 95% band (and the wider
    band for one seed), the Chinchilla-form baseline, and a held-out width's trained seeds."""
    _setup(cfg)
    pred = pl.read_parquet(table_path)
    widths = pred.select("width", "kind").unique(maintain_order=True).rows()
    fig, axes = plt.subplots(1, max(1, len(widths)), figsize=(5.2 * max(1, len(widths)), 4.2), squeeze=False)
    if not widths:
        axes[0, 0].text(0.5, 0.5, "no width predicted or held out\n(analysis.holdout, collapse.predict_widths)",
                        ha="center", va="center", transform=axes[0, 0].transAxes)
        axes[0, 0].set_axis_off()
    runs = _curves(run_paths)
    scores = {r["width"]: r.get("scores") for r in json.loads(Path(scores_path).read_text())["predictions"]}
    for ax, (width, kind) in zip(axes[0], widths):
        p = pred.filter((pl.col("width") == width) & (pl.col("kind") == kind))
        ax.fill_between(p["compute"], p["loss_lo_seed"], p["loss_hi_seed"], color="C0", alpha=0.12,
                        label="95% band, one seed")
        ax.fill_between(p["compute"], p["loss_lo"], p["loss_hi"], color="C0", alpha=0.3, label="95% band")
        ax.plot(p["compute"], p["loss_pred"], color="C0", lw=1.5, label="predicted from the collapse")
        ax.plot(p["compute"], p["loss_baseline"], color="C3", lw=1.2, ls="--", label="Chinchilla-form baseline")
        title = f"width {width} ({kind})"
        if kind == "holdout":
            trained = runs.filter(pl.col("width") == width).partition_by("seed", maintain_order=True)
            for i, g in enumerate(trained):
                ax.plot(g["compute"], g["eval_loss"], color="k", lw=0.7, alpha=0.7,
                        label="trained seeds" if i == 0 else None)
            s = scores[width]
            title += f": RMSE {s['rmse_over_sigma']:.2g} σ, final {100 * s['final_loss_rel_error']:+.2g}%"
        ax.set(xscale="log", yscale="log", xlabel="compute C (FLOPs)", ylabel="eval loss", title=title)
        ax.legend(fontsize=7)
    _save(fig, out_path, cfg)


# Figure name (rules/report.smk, rule plot_<name>) -> the function that draws it and the names of the rule's
# inputs it reads, in argument order (a rule may have more inputs: those its caption quotes).
FIGURES = {"frontier": (frontier_figure, ("sweep", "envelope", "horizon")),
           "curves": (curves_figure, ("runs", "envelope", "lhat")),
           "collapse": (collapse_figure, ("normalized",)),
           "deviation": (deviation_figure, ("statistics", "summary", "sensitivity")),
           "theory": (theory_figure, ("curves",)),
           "studies": (studies_figure, ("studies",)),
           "noise_model": (noise_model_figure, ("predictions", "alpha")),
           "coord_check": (coord_check_figure, ("coord",)),
           "prediction": (prediction_figure, ("runs", "table", "scores"))}
