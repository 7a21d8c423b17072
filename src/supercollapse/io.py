"""Artifact I/O at the edges: every write goes to a temporary name in the same folder, then is renamed.

A killed job therefore never leaves a file that looks complete. `atomic_path` is the one mechanism for
that (JSON, Parquet, figures, checkpoints, token files all go through it); `sha256_file` is the one file
hash (manifests and data-stage digests).
"""

from __future__ import annotations

import hashlib
import errno
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

HASH_BLOCK = 1 << 22


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A new temporary path beside `path` (hidden: `.<name>.<random>.tmp`) to write to; renamed onto `path`
    when the block exits without error, removed otherwise. Parent folders are created.

    The temporary file exists (empty) on entry, with the permissions an ordinary new file gets (umask).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:
            continue
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def existing(path: str | os.PathLike, what: str):
    """`path`, or FileNotFoundError if it is not there yet: in a Snakemake function given `input`, Snakemake then
    shows <TBD> and asks again once the file is made (before the job runs)."""
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, f"{what} not made yet", str(path))
    return path


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: expected a JSON artifact, but the file does not exist") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


def write_table(path: str | os.PathLike, table: pa.Table) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


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
