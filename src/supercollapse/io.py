"""Artifact I/O at the edges: every write goes to a temporary name in the same folder, then is renamed.

A killed job therefore never leaves a file that looks complete.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


def _tmp_path(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(name)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    path = Path(path)
    tmp = _tmp_path(path)
    try:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: expected a JSON artifact, but the file does not exist") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


def write_table(path: str | os.PathLike, table: pa.Table) -> None:
    path = Path(path)
    tmp = _tmp_path(path)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_table(path: str | os.PathLike, schema: pa.Schema | None = None) -> pa.Table:
    """Read a Parquet artifact; with `schema`, check that every contract column is present and typed."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: expected a Parquet artifact, but the file does not exist")
    try:
        table = pq.read_table(path)
    except pa.ArrowInvalid as err:
        raise ValueError(f"{path}: not a readable Parquet file ({err})") from None
    if schema is not None:
        from .schemas import check_table

        check_table(table, schema, where=str(path))
    return table


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
