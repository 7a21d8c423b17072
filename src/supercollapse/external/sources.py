"""Where an external task's runs come from: its config's `path` (a file, a glob or a list) resolved to files,
each read with the library made for its format (Polars for CSV and Parquet, TensorBoard's own reader for event
files), then checked as one role's runs (contract.py). Paths are relative to the working folder."""

from __future__ import annotations

import glob
import hashlib
import json
import os
from pathlib import Path

import polars as pl

from ..codehash import source_hash
from ..io import read_json, sha256_file, write_json
from .contract import Imported, check_runs, contract_columns

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
EVENT_FILE = "tfevents"  # TensorBoard event files are named events.out.tfevents.<time>.<host>...
PROFILER = ".profile-empty"  # the profiler's marker event files, which hold no scalars (the reader skips them)


def source_format(path: Path) -> str:
    """csv, parquet or tensorboard (an event file, or a folder holding them), else an error naming the file."""
    if path.is_dir() or EVENT_FILE in path.name:
        return "tensorboard"
    if path.suffix.lower() in FORMATS:
        return FORMATS[path.suffix.lower()]
    raise ValueError(f"{path}: unknown file type {path.suffix!r}; expected .csv, .parquet, or TensorBoard event "
                     "files (events.out.tfevents.*) or folders holding them")


def source_files(spec: dict, key: str, workdir: str | os.PathLike = ".") -> list[Path]:
    """The files (and TensorBoard folders) of one role's `path`, in a stable order; an error naming `key` and the
    pattern when one matches nothing."""
    patterns = spec["path"] if isinstance(spec["path"], list) else [spec["path"]]
    found: list[Path] = []
    for pattern in patterns:
        full = str(Path(workdir, pattern))  # "runs.csv", not "./runs.csv", in messages
        if glob.has_magic(pattern):
            hits = sorted(glob.glob(full, recursive=True))
        else:
            hits = [full] if os.path.exists(full) else []
        if not hits:
            what = "matches no file" if glob.has_magic(pattern) else "does not exist"
            raise ValueError(f"{key}.path: {pattern!r} {what} (relative to {Path(workdir).resolve()})")
        for hit in map(Path, hits):
            source_format(hit)
            if hit not in found:
                found.append(hit)
    return found


def tracked_files(paths: list[Path]) -> list[Path]:
    """The files whose content the import depends on: TensorBoard folders stand for their event files."""
    out = []
    for path in paths:
        if path.is_dir():
            events = sorted(p for p in path.rglob(f"*{EVENT_FILE}*") if p.is_file() and not p.name.endswith(PROFILER))
            if not events:
                raise ValueError(f"{path}: a folder given as TensorBoard runs holds no event files "
                                 "(events.out.tfevents.*)")
            out += events
        else:
            out.append(path)
    return out


def checksums(paths: list[Path]) -> dict[str, str]:
    """sha256 of every tracked file (a rerun trigger of the import: a changed file reruns it and what follows)."""
    return {str(p): sha256_file(p) for p in tracked_files(paths)}


def read_source(path: Path, spec: dict, columns: dict[str, str], compute: str) -> pl.DataFrame:
    """One file (or TensorBoard folder) in the contract's columns."""
    fmt = source_format(path)
    try:
        if fmt == "csv":
            df = pl.read_csv(path, infer_schema_length=None)
        elif fmt == "parquet":
            df = pl.read_parquet(path)
        else:
            from .tensorboard import read_tensorboard

            df = read_tensorboard(path, run_pattern=spec.get("run_pattern"), runs=spec.get("runs"))
            loss = columns.get("loss", "loss")
            if loss in df.columns:  # tags are logged at steps of their own: the evaluations logged the loss
                df = df.filter(pl.col(loss).is_not_null())
    except (pl.exceptions.PolarsError, OSError) as err:
        raise ValueError(f"{path}: not a readable {fmt} file ({err})") from None
    if df.height == 0:
        raise ValueError(f"{path}: no rows")
    return contract_columns(df, str(path), columns, compute)


def read_role(task: dict, role: str, key: str, workdir: str | os.PathLike = ".") -> Imported:
    """The runs of one role (sweep or collapse) of an external task config, checked; `key` names the task
    (tasks.<name>) in errors."""
    spec = task[role]
    frames = [read_source(path, spec, task["columns"], task["compute"])
              for path in source_files(spec, f"{key}.{role}", workdir)]
    return check_runs(pl.concat(frames, how="diagonal_relaxed"), f"{key}.{role}", task["drop_diverged"])


# Where the outcome of checking an external task's files is kept between DAG builds (Snakemake's working folder).
CHECK_CACHE = Path(".snakemake", "supercollapse", "external-checks")


def checked_collapse_widths(name: str, task: dict, workdir: str | os.PathLike = ".") -> list[int]:
    """Read and check every role of an external task as the import will; its collapse set's widths.

    Reading is slow for large logs (TensorBoard's reader: about 10 s for 240,000 scalar events), and the workflow
    checks at every DAG build, so a passed check is remembered: keyed by the task's config, each tracked file's
    path, size and modification time, and the code that reads them. Anything else reads the files again."""
    key = f"tasks.{name}"
    files = {role: tracked_files(source_files(task[role], f"{key}.{role}", workdir))
             for role in ("sweep", "collapse") if role in task}
    stats = {role: [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths] for role, paths in files.items()}
    code = source_hash(Path(__file__).parents[1], "external")
    try:
        text = json.dumps({"task": task, "files": stats, "code": code}, sort_keys=True)
    except TypeError:  # keys of mixed types (a runs mapping): no cache, check every time
        text = None
    digest = None if text is None else hashlib.sha256(text.encode()).hexdigest()
    cache = Path(workdir, CHECK_CACHE, f"{name}.json")
    if digest is not None and cache.exists():
        try:
            kept = read_json(cache)
        except ValueError:
            kept = {}
        if kept.get("digest") == digest:
            return kept["collapse_widths"]
    for role in files:
        runs = read_role(task, role, key, workdir).runs
    widths = sorted(int(w) for w in runs["width"].unique().to_list())
    if digest is not None:
        write_json(cache, {"digest": digest, "collapse_widths": widths})
    return widths
