"""The external-runs contract: loss curves trained elsewhere, one row per (run, evaluation), checked and turned
into the project's CURVES table. Pure Polars (no JAX); sources.py reads the files.

A run is a (width, seed). Columns after the task's `columns:` renames:

    width   int    model width (names the run with seed)
    params  int    parameters of the model (every one, embeddings included), constant within a width
    seed    int
    step    int    optimizer updates before the evaluation
    compute float  per the task's `compute:` -- flops (FLOPs), pflops (PFLOPs), or tokens (then the `tokens`
                   column is required and compute = 6 * params * tokens FLOPs)
    loss    float  the evaluation loss
    lr      float  optional: the LR at that step
    tokens  int    optional (required with compute: tokens): tokens (or samples) seen

Every error names the file, the column and the offending row (1-based data row of that file) or run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from ..divergence import DIVERGENCE_FACTOR, divergence_index
from ..schemas import CURVES

REQUIRED = ("width", "params", "seed", "step", "compute", "loss")
OPTIONAL = ("lr", "tokens")
INTEGER = ("width", "params", "seed", "step", "tokens")
FLOPS_PER = {"flops": 1.0, "pflops": 1e15}
# CURVES.schedule of an imported run: the schedule it ran under is not known to the workflow.
EXTERNAL_SCHEDULE = "external"
# The study config (config key studies) an external task's one study stands in for: nothing of how its runs
# were trained is known to the workflow.
EXTERNAL_STUDY = {"schedule": EXTERNAL_SCHEDULE, "decay_frac": None, "gamma_scale": None, "lr_reference_width": None}
# Minimum widths and seeds per width a role's runs need (the frontier and the L_hat fit need 3 widths, the
# seed bootstrap and the noise floor 2 seeds).
MIN_WIDTHS, MIN_SEEDS = 3, 2


@dataclass(frozen=True)
class Imported:
    """One role's runs (sweep or collapse) in the contract's columns, with where each row came from."""

    runs: pl.DataFrame  # contract columns + file (str), row (int, 1-based data row), diverged (bool)
    dropped: list[dict]  # {"width", "seed", "step", "file"}: runs dropped as diverged (drop_diverged: true)

    def to_curves(self, task: str, role: str) -> pa.Table:
        """The CURVES table of these runs: `role` is "sweep" or the study's name."""
        df = self.runs.sort("width", "seed", "step")
        nan = pl.lit(float("nan"), pl.Float64)
        table = df.select(
            pl.lit(task).alias("task"), pl.lit(role).alias("study"), "width",
            pl.lit(None, pl.Int64).alias("depth"), "params", "seed", pl.lit(EXTERNAL_SCHEDULE).alias("schedule"),
            "step", pl.col("tokens") if "tokens" in df.columns else pl.lit(None, pl.Int64).alias("tokens"),
            "compute", pl.col("lr") if "lr" in df.columns else nan.alias("lr"), nan.alias("tau"),
            pl.col("loss").alias("eval_loss"), nan.alias("train_loss"), nan.alias("noise_trace"), "diverged",
        )
        return table.to_arrow().cast(CURVES)


def _where(df: pl.DataFrame, i: int) -> str:
    return f"{df['file'][i]} row {df['row'][i]}"


def contract_columns(df: pl.DataFrame, file: str, columns: dict[str, str], compute: str) -> pl.DataFrame:
    """One file's table in the contract's names and types, with `file` and `row` for error messages.

    `columns`: contract name -> the file's column name (the task's `columns:`). `compute`: flops, pflops or
    tokens (module docstring)."""
    renamed = {columns.get(name, name): name for name in (*REQUIRED, *OPTIONAL)}
    required = [n for n in REQUIRED if n != "compute"] + (["tokens"] if compute == "tokens" else ["compute"])
    missing = [n for n in required if columns.get(n, n) not in df.columns]
    if missing:
        named = ", ".join(f"{n!r}" + (f" (renamed from {columns[n]!r})" if n in columns else "") for n in missing)
        raise ValueError(f"{file}: missing column(s) {named}; the file has {df.columns}. Rename with the task's "
                         "`columns:` (contract name: the file's column)")
    out = df.select([pl.col(src).alias(name) for src, name in renamed.items() if src in df.columns])
    out = out.with_columns(pl.int_range(1, out.height + 1).alias("row"), pl.lit(file).alias("file"))
    for name in (n for n in (*REQUIRED, *OPTIONAL) if n in out.columns):
        out = out.with_columns(_numeric(out, name, file))
    if compute == "tokens":
        out = out.with_columns((6.0 * pl.col("params") * pl.col("tokens")).alias("compute"))
    else:
        out = out.with_columns(pl.col("compute") * FLOPS_PER[compute])
    for name in (n for n in ("compute", "lr") if n in out.columns):
        bad = out.select(~pl.col(name).is_finite()).to_series().arg_true()
        if len(bad):
            raise ValueError(f"{_where(out, bad[0])}: column {name!r} must be a finite number, got "
                             f"{out[name][bad[0]]} ({len(bad)} such rows)")
    return out


def _numeric(df: pl.DataFrame, name: str, file: str) -> pl.Series:
    """Column `name` as Int64 (INTEGER columns: whole numbers) or Float64, naming the first row that is not."""
    col = df[name]
    as_float = col.cast(pl.Float64, strict=False)  # null where the value is missing or not a number
    bad = as_float.is_null()
    if name in INTEGER:
        bad = bad | ~as_float.is_finite().fill_null(False) | (as_float != as_float.floor()).fill_null(False)
    if bad.any():
        i = bad.arg_true()[0]
        kind = "a whole number" if name in INTEGER else "a number"
        raise ValueError(f"{_where(df, i)}: column {name!r} must be {kind}, got {col[i]!r} ({bad.sum()} such rows)")
    return as_float.cast(pl.Int64) if name in INTEGER else as_float


def check_runs(df: pl.DataFrame, role_key: str, drop_diverged: bool) -> Imported:
    """The checks within and across runs of one role (all of its files together); `role_key` names the config
    block (tasks.<task>.sweep or .collapse) in the messages."""
    df = df.sort("width", "seed", "step")
    dup = df.filter(pl.struct("width", "seed", "step").is_duplicated())
    if dup.height:
        r = dup.row(0, named=True)
        rows = ", ".join(f"{f} row {i}" for f, i in dup.filter(
            (pl.col("width") == r["width"]) & (pl.col("seed") == r["seed"]) & (pl.col("step") == r["step"])
        ).select("file", "row").iter_rows())
        raise ValueError(f"{role_key}: run width {r['width']} seed {r['seed']} has step {r['step']} more than once "
                         f"({rows}); each (width, seed, step) is one evaluation")
    params = df.group_by("width").agg(pl.col("params").unique().sort()).filter(pl.col("params").list.len() > 1)
    if params.height:
        w, p = params.row(0)
        raise ValueError(f"{role_key}: width {w} has several parameter counts {p} (column 'params'); a width is "
                         "one model size")
    dropped, diverged = [], []
    for (width, seed), g in df.group_by("width", "seed", maintain_order=True):
        compute = g["compute"].to_numpy()
        back = np.flatnonzero(np.diff(compute) <= 0)
        if back.size:
            i = int(back[0]) + 1
            raise ValueError(f"{_where(g, i)}: column 'compute' must increase with step within run width {width} "
                             f"seed {seed}: {compute[i - 1]:g} at step {g['step'][i - 1]}, then {compute[i]:g} "
                             f"at step {g['step'][i]}")
        i = divergence_index(g["loss"].to_numpy())
        if i is None:
            continue
        if not drop_diverged:
            raise ValueError(f"{_where(g, i)}: run width {width} seed {seed} diverged at step {g['step'][i]} "
                             f"(loss {g['loss'][i]}: not finite, or above {DIVERGENCE_FACTOR:g}x its first "
                             f"loss from there to the end); set drop_diverged: true on the task to leave it out "
                             "(recorded in the summary)")
        dropped.append({"width": int(width), "seed": int(seed), "step": int(g["step"][i]), "file": g["file"][i]})
        diverged.append((width, seed))
    flags = pl.DataFrame(diverged, schema={"width": pl.Int64, "seed": pl.Int64}, orient="row")
    runs = (df.join(flags.with_columns(pl.lit(True).alias("diverged")), on=["width", "seed"], how="left")
            .with_columns(pl.col("diverged").fill_null(False)).sort("width", "seed", "step"))
    _check_counts(runs.filter(~pl.col("diverged")), role_key, dropped)
    return Imported(runs=runs, dropped=dropped)


def _check_counts(healthy: pl.DataFrame, role_key: str, dropped: list[dict]) -> None:
    """At least MIN_WIDTHS widths, each with at least MIN_SEEDS healthy seeds. Unequal seed counts are allowed:
    the collapse set's seed policy (analysis/run_set.py) keeps as many per width as the fewest, recorded."""
    note = f" ({len(dropped)} diverged runs dropped: drop_diverged)" if dropped else ""
    seeds = {int(w): sorted(s) for w, s in healthy.group_by("width").agg(pl.col("seed").unique()).iter_rows()}
    for d in dropped:
        seeds.setdefault(d["width"], [])
    if len(seeds) < MIN_WIDTHS:
        raise ValueError(f"{role_key}: needs runs of >= {MIN_WIDTHS} widths (the horizon and L_hat fits), got "
                         f"{sorted(seeds)}{note}")
    few = {w: s for w, s in sorted(seeds.items()) if len(s) < MIN_SEEDS}
    if few:
        raise ValueError(f"{role_key}: every width needs >= {MIN_SEEDS} seeds (the noise floor and the seed "
                         f"bootstrap); widths with fewer: {few}{note}")
