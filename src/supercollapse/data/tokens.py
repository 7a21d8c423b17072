"""The token store of the transformer tasks: Parquet files of fixed-length token sequences (schema TOKENS).

Training reads a whole file into one (N, seq_len) uint16 array without a Python loop per row: Arrow keeps
a fixed_size_list column as one flat buffer, which numpy views directly.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..io import atomic_path, write_table
from ..schemas import TOKENS, TOKENS_COLUMN


def tokens_table(array: np.ndarray) -> pa.Table:
    """An (N, seq_len) array of token ids in [0, 65535] as a TOKENS table."""
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"token array must be 2-D (sequences, seq_len), got shape {array.shape}")
    if array.dtype != np.uint16:
        if not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"token array must hold integers, got dtype {array.dtype}")
        if array.size and (array.min() < 0 or array.max() > np.iinfo(np.uint16).max):
            raise ValueError(f"token ids must lie in [0, 65535] (uint16), got range [{array.min()}, {array.max()}]")
        array = array.astype(np.uint16)
    n, seq_len = array.shape
    flat = pa.array(np.ascontiguousarray(array).reshape(-1), type=pa.uint16())
    column = pa.FixedSizeListArray.from_arrays(flat, seq_len)
    return pa.Table.from_arrays([column], schema=TOKENS(seq_len))


def write_tokens(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write an (N, seq_len) token array atomically (temporary name, then rename)."""
    write_table(path, tokens_table(array))


def read_tokens(path: str | os.PathLike) -> np.ndarray:
    """The (N, seq_len) uint16 token array of a TOKENS file.

    Zero-copy when the file holds one row group (the array is then read-only, a view of Arrow's buffer);
    one concatenation otherwise. Raises naming the file when it is missing or breaks the contract.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: expected a token Parquet file, but the file does not exist")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise ValueError(f"{path}: not a readable Parquet file ({err})") from None
    if table.column_names != [TOKENS_COLUMN]:
        raise ValueError(f"{path}: expected exactly one column {TOKENS_COLUMN!r}, got {table.column_names}")
    kind = table.schema.field(TOKENS_COLUMN).type
    if not (pa.types.is_fixed_size_list(kind) and kind.value_type == pa.uint16()):
        raise ValueError(f"{path}: column {TOKENS_COLUMN!r} has type {kind}, expected fixed_size_list<uint16>[seq_len]")
    seq_len = kind.list_size
    column = table.column(TOKENS_COLUMN)
    if column.null_count:
        raise ValueError(f"{path}: column {TOKENS_COLUMN!r} has {column.null_count} null sequences")
    parts = []
    for chunk in column.chunks:
        values = chunk.flatten()  # respects the chunk's offset, unlike .values
        if values.null_count:
            raise ValueError(f"{path}: column {TOKENS_COLUMN!r} has null token ids")
        parts.append(values.to_numpy(zero_copy_only=True))
    flat = parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else np.empty(0, np.uint16)
    return flat.reshape(-1, seq_len)


class RowCutter:
    """Cuts a flat token stream, fed in pieces, into rows of `seq_len`; the last partial row is dropped."""

    def __init__(self, seq_len: int):
        self.seq_len = int(seq_len)
        self._carry = np.empty(0, dtype=np.uint16)
        self.dropped = 0

    def feed(self, stream: np.ndarray) -> np.ndarray:
        """Rows completed by `stream` (an (n, seq_len) uint16 array, possibly empty)."""
        buf = np.concatenate([self._carry, np.asarray(stream, dtype=np.uint16)])
        n = len(buf) // self.seq_len
        self._carry = buf[n * self.seq_len:].copy()
        return buf[: n * self.seq_len].reshape(n, self.seq_len)

    def close(self) -> int:
        """Number of tokens left over (not a whole row), which are dropped."""
        self.dropped, self._carry = len(self._carry), np.empty(0, dtype=np.uint16)
        return self.dropped


class TokenWriter:
    """Streams (n, seq_len) row blocks into one TOKENS Parquet file, one row group per block of
    `row_group_rows`. Use as a context manager: the file appears under its name only when the block exits
    without error (atomic); otherwise the temporary file is removed."""

    def __init__(self, path: str | os.PathLike, seq_len: int, row_group_rows: int = 1 << 16):
        self.path, self.seq_len, self.row_group_rows = Path(path), int(seq_len), int(row_group_rows)
        self._pending: list[np.ndarray] = []
        self._pending_rows = 0
        self.rows = 0

    def write(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows)
        if rows.ndim != 2 or rows.shape[1] != self.seq_len:
            raise ValueError(f"{self.path}: expected rows of shape (n, {self.seq_len}), got {rows.shape}")
        if len(rows):
            self._pending.append(rows)
            self._pending_rows += len(rows)
            self.rows += len(rows)
        if self._pending_rows >= self.row_group_rows:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._writer.write_table(tokens_table(np.concatenate(self._pending)), row_group_size=self.row_group_rows)
            self._pending, self._pending_rows = [], 0

    def __enter__(self) -> "TokenWriter":
        with ExitStack() as stack:
            tmp = stack.enter_context(atomic_path(self.path))
            self._writer = stack.enter_context(pq.ParquetWriter(tmp, TOKENS(self.seq_len)))
            self._open = stack.pop_all()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        # Unwinding `_open` closes the Parquet writer, then renames the file into place, or on error removes it.
        if exc_type is not None:
            self._open.__exit__(exc_type, exc, tb)
            return
        with self._open:
            self._flush()
