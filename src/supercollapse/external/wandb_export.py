"""W&B runs as the external contract: `history_to_contract` (one run's history and config to contract rows) and
an export CLI that writes a project's runs to one CSV for an external task to read:

    python -m supercollapse.external.wandb_export ENTITY/PROJECT --out runs.csv \\
        --width model.d_model --params n_params --seed seed --loss val/loss --compute flops

The CLI needs the `wandb` client and network; the conversion is pure Polars.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

from ..io import atomic_path

_MISSING = object()


def history_to_contract(
    history: pl.DataFrame,
    run_config: dict,
    *,
    width: str,
    params: str,
    seed: str,
    loss: str,
    compute: str | None = None,
    tokens: str | None = None,
    lr: str | None = None,
    step: str = "_step",
) -> pl.DataFrame:
    """One W&B run's rows in the contract: one per history row where `loss` is logged.

    width/params/seed name a run config key ("model.d_model" walks nested dicts; W&B's {"value": ...} wrapping
    is undone) or else a history column constant over the run. loss/compute/tokens/lr/step name history columns.
    Columns out: width, params, seed, step (int64), loss (float64), then compute (float64, FLOPs as logged),
    tokens (int64) and lr (float64) where given.
    """
    if compute is None and tokens is None:
        raise ValueError("give compute or tokens (or both): with tokens only, the task's `compute: tokens` option "
                         "computes compute = 6 * params * tokens FLOPs")
    measured = {"step": step, "loss": loss, "compute": compute, "tokens": tokens, "lr": lr}
    measured = {name: key for name, key in measured.items() if key is not None}
    for name, key in measured.items():
        if key not in history.columns:
            raise ValueError(f"{name}: {key!r} is not a history column; the history has {sorted(history.columns)}")
    run = {name: run_value(history, run_config, key, name)
           for name, key in (("width", width), ("params", params), ("seed", seed))}
    rows = history.filter(pl.col(loss).is_not_null())
    integers = {"step", "tokens"}
    return pl.DataFrame(
        [pl.Series(name, [value] * rows.height, pl.Int64) for name, value in run.items()]
        + [_whole(rows[key], name) if name in integers else rows[key].cast(pl.Float64).alias(name)
           for name, key in measured.items()]
    )


def config_value(config: Mapping, key: str) -> Any:
    """`config[key]`, else the value at the dotted path `key` through nested dicts; `_MISSING` if neither."""
    node = _unwrap(config)
    if key in node:
        return _unwrap(node[key])
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = _unwrap(node[part])
    return node


def run_value(history: pl.DataFrame, config: Mapping, key: str, name: str) -> int:
    """The integer run-level value `key`: from the run config, else the one value of a history column."""
    value = config_value(config, key)
    if value is _MISSING and key in history.columns:
        values = history[key].drop_nulls().unique()
        if len(values) != 1:
            raise ValueError(f"{name}: history column {key!r} must hold one value over the run, got "
                             f"{values.sort().to_list()[:10]}")
        value = values[0]
    if value is _MISSING:
        raise ValueError(f"{name}: {key!r} is neither in the run config nor a history column; config keys: "
                         f"{dotted_keys(config)}; history columns: {sorted(history.columns)}")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
        raise ValueError(f"{name}: {key!r} must be an integer, got {value!r}")
    return int(value)


def dotted_keys(config: Mapping, prefix: str = "") -> list[str]:
    """Every leaf of a (nested, possibly {"value": ...}-wrapped) config as a dotted key."""
    keys = []
    for k, v in _unwrap(config).items():
        v = _unwrap(v)
        keys += dotted_keys(v, f"{prefix}{k}.") if isinstance(v, Mapping) and v else [f"{prefix}{k}"]
    return sorted(keys)


def _unwrap(value: Any) -> Any:
    # W&B's raw run config (and some API versions' run.config) holds each entry as {"value": v, "desc": ...}.
    if isinstance(value, Mapping) and "value" in value and set(value) <= {"value", "desc"}:
        return value["value"]
    return value


def _whole(column: pl.Series, name: str) -> pl.Series:
    """An int64 column of whole numbers (W&B returns some logged integers as floats)."""
    values = column.cast(pl.Float64)
    bad = values.is_not_null() & ~(values.is_finite() & (values == values.floor())).fill_null(False)
    if bad.any():
        raise ValueError(f"{name}: column {column.name!r} must hold whole numbers, got {column.filter(bad)[0]!r}")
    return values.cast(pl.Int64).alias(name)


# --- export CLI (network) -------------------------------------------------------------------------------------


def scan_history(run, step: str, keys: Iterable[str]) -> pl.DataFrame:
    """The sparse history of `keys` (outer-joined on `step`), one scan per key: `scan_history(keys=[...])` only
    returns the rows holding every key asked for, and a run logs its keys at different steps."""
    table = None
    for key in dict.fromkeys(keys):
        rows = [{step: row[step], key: row[key]} for row in run.scan_history(keys=[step, key])]
        if not rows:
            summary = sorted(k for k in run.summary.keys() if not k.startswith("_"))
            raise ValueError(f"no history row holds both {step!r} and {key!r}; the run's summary keys: {summary}")
        part = pl.from_dicts(rows, infer_schema_length=None).unique(step, keep="last", maintain_order=True)
        table = part if table is None else table.join(part, on=step, how="full", coalesce=True)
    return table.sort(step)


def export_runs(runs: Iterable, args: argparse.Namespace) -> pl.DataFrame:
    """Every run's contract rows, one table."""
    measured = {"compute": args.compute, "tokens": args.tokens, "lr": args.lr}
    keys = {"width": args.width, "params": args.params, "seed": args.seed, "loss": args.loss, "step": args.step,
            **measured}
    tables = []
    for run in runs:
        config = dict(run.config)
        run_keys = [k for k in (args.width, args.params, args.seed) if config_value(config, k) is _MISSING]
        history_keys = [args.loss, *(k for k in measured.values() if k is not None), *run_keys]
        try:
            tables.append(history_to_contract(scan_history(run, args.step, history_keys), config, **keys))
        except ValueError as err:
            raise SystemExit(f"W&B run {run.id} ({run.name}): {err}") from None
        print(f"{run.id} ({run.name}): {tables[-1].height} rows", file=sys.stderr)
    if not tables:
        raise SystemExit(f"no runs in {args.path} match the filters {args.filters}")
    return pl.concat(tables)


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        filters = json.loads(args.filters) if args.filters else None
    except json.JSONDecodeError as err:
        raise SystemExit(f"--filters: not JSON ({err})") from None
    if filters is not None and not isinstance(filters, dict):
        raise SystemExit(f"--filters: a JSON object (a MongoDB-style query on run fields), got {args.filters}")
    if args.compute is None and args.tokens is None:
        raise SystemExit("give --compute or --tokens (or both): with tokens only, the task's `compute: tokens` "
                         "option computes compute = 6 * params * tokens FLOPs")
    table = export_runs(_wandb().Api().runs(args.path, filters=filters), args)
    with atomic_path(args.out) as tmp:
        table.write_csv(tmp)
    print(f"wrote {table.height} rows of {table.select('width', 'seed').n_unique()} runs to {args.out}",
          file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m supercollapse.external.wandb_export",
                                description="Export W&B runs' loss curves as one CSV in the external contract.")
    p.add_argument("path", help="ENTITY/PROJECT")
    p.add_argument("--out", required=True, help="CSV to write (atomically)")
    for name, what in (("width", "model width"), ("params", "parameter count"), ("seed", "seed")):
        p.add_argument(f"--{name}", required=True, help=f"run config key (dotted for nested) or history key: {what}")
    p.add_argument("--loss", required=True, help="history key of the evaluation loss")
    p.add_argument("--compute", help="history key of the compute in FLOPs")
    p.add_argument("--tokens", help="history key of the tokens seen")
    p.add_argument("--lr", help="history key of the learning rate")
    p.add_argument("--step", default="_step", help="history key of the step (default: W&B's _step)")
    p.add_argument("--filters", help='JSON run filters, e.g. \'{"config.sweep": "widths", "state": "finished"}\'')
    return p


def _wandb():
    try:
        import wandb
    except ImportError:
        raise ModuleNotFoundError("the W&B export needs the wandb client: pip install wandb") from None
    return wandb


if __name__ == "__main__":
    main()
