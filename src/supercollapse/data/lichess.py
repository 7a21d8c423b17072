"""Lichess shards: the Hugging Face dataset `Lichess/standard-chess-games`, one Parquet file per shard.

Layout on the Hub (checked against the dataset's file tree): ``data/year=YYYY/month=MM/train-XXXXX-of-NNNNN.parquet``
with 5-digit shard numbers; January 2025 has 72 shards. Download URL of a shard:
``{lichess_base_url}/year=2025/month=01/train-00000-of-00072.parquet`` with the default base
``https://huggingface.co/datasets/Lichess/standard-chess-games/resolve/main/data``.
Columns used: `movetext` (PGN movetext with clock comments and the result) and `WhiteElo`, `BlackElo`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

REQUIRED_COLUMNS = ("movetext",)
ELO_COLUMNS = ("WhiteElo", "BlackElo")


def parse_month(month: str) -> tuple[int, int]:
    try:
        year, mon = (int(x) for x in str(month).split("-"))
    except ValueError:
        raise ValueError(f"lichess month {month!r}: expected 'YYYY-MM'") from None
    if not 1 <= mon <= 12:
        raise ValueError(f"lichess month {month!r}: month must be 01..12")
    return year, mon


def shard_name(shard: int, n_shards: int) -> str:
    if not 0 <= shard < n_shards:
        raise ValueError(f"lichess shard {shard} is outside 0..{n_shards - 1}")
    return f"train-{shard:05d}-of-{n_shards:05d}.parquet"


def shard_relpath(month: str, shard: int, n_shards: int) -> str:
    """Path of a shard below the dataset's `data/` folder (and below our download folder)."""
    year, mon = parse_month(month)
    return f"year={year:04d}/month={mon:02d}/{shard_name(shard, n_shards)}"


def check_shard(path: str | os.PathLike, elo_suffix: bool) -> int:
    """Open a downloaded shard and check its columns; returns its number of games. Errors name the file."""
    path = Path(path)
    try:
        meta = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise ValueError(f"{path}: not a readable Parquet file ({err}); truncated download?") from None
    names = meta.schema_arrow.names
    needed = REQUIRED_COLUMNS + (ELO_COLUMNS if elo_suffix else ())
    missing = [c for c in needed if c not in names]
    if missing:
        raise ValueError(f"{path}: Lichess shard lacks column(s) {missing} (has {names})")
    if not pa.types.is_string(meta.schema_arrow.field("movetext").type) and not pa.types.is_large_string(
            meta.schema_arrow.field("movetext").type):
        raise ValueError(f"{path}: column 'movetext' has type {meta.schema_arrow.field('movetext').type}, expected string")
    return meta.metadata.num_rows


def iter_games(path: str | os.PathLike, elo_suffix: bool, batch_rows: int = 8192) -> Iterator[tuple[list, list, list]]:
    """(movetexts, white_elos, black_elos) in batches, in file order."""
    path = Path(path)
    check_shard(path, elo_suffix)
    columns = list(REQUIRED_COLUMNS + (ELO_COLUMNS if elo_suffix else ()))
    try:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows, columns=columns):
            movetexts = batch.column("movetext").to_pylist()
            if elo_suffix:
                yield movetexts, batch.column("WhiteElo").to_pylist(), batch.column("BlackElo").to_pylist()
            else:
                yield movetexts, [None] * len(movetexts), [None] * len(movetexts)
    except (pa.ArrowInvalid, OSError) as err:
        raise ValueError(f"{path}: error while reading games ({err})") from None
