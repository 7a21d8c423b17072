"""The jobs of an external task (runs trained elsewhere, rules/external.smk): the import of one role's files
into the CURVES table, and, without a sweep, the horizons where the compute-optimal runs end."""

from __future__ import annotations

import logging
import os

from ..analysis.run_ends import run_end_horizon
from ..external.sources import checksums, read_role, source_files
from ..io import write_json, write_table
from ..summary import RUN_ENDS
from .analysis import read_collapse_set, run_records

log = logging.getLogger("supercollapse.external")


def study_name(task: dict) -> str:
    """The one study of an external task: the name in its collapse block (default optimal)."""
    return task["collapse"]["study"]


def import_stage(name: str, role: str, spec: dict, curves_path, record_path, workdir: str | os.PathLike = ".") -> None:
    """Rule import_runs: one role's files (sweep or collapse), checked, as CURVES; the record lists each file
    with its sha256, the runs, and those dropped as diverged. `spec`: the role's block as `files`, and the task's
    columns, compute and drop_diverged."""
    key, task = f"tasks.{name}", {role: spec["files"], **{k: v for k, v in spec.items() if k != "files"}}
    imported = read_role(task, role, key, workdir)
    table = imported.to_curves(name, "sweep" if role == "sweep" else study_name(task))
    runs = imported.runs.select("width", "seed").unique()
    files = checksums(source_files(task[role], f"{key}.{role}", workdir))
    write_table(curves_path, table)
    write_json(record_path, {"task": name, "role": role, "compute_units": task["compute"],
                             "columns": task["columns"], "files": files, "runs": runs.height,
                             "rows": table.num_rows, "dropped_diverged": imported.dropped})
    log.info("%s.%s: %d runs (%d widths), %d rows from %d files; %d dropped as diverged", key, role, runs.height,
             runs["width"].n_unique(), table.num_rows, len(files), len(imported.dropped))


def run_end_horizon_stage(collapse_path, horizon_path, extra: dict) -> None:
    """Rule run_end_horizon: C*(P) through where each width's runs end (the seed-set of the collapse study)."""
    runs, seeds = read_collapse_set([collapse_path])
    fit = run_end_horizon(seeds.runs)
    write_json(horizon_path, {**fit.to_dict(), "source": RUN_ENDS, **run_records(runs, seeds),
                              "warnings": [], **extra})  # the study's summary.json carries the runs' warnings
    log.info("horizons where the runs end (no sweep): kappa %.4g, gamma %.4f +- %.4f, R2 %.4f", fit.kappa, fit.gamma,
             fit.exponent_se, fit.r2)
