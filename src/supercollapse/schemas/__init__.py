"""The Parquet contracts between stages, written down once: runs.py (data and training artifacts) and
results.py (analysis and report artifacts).

Every stage that writes an artifact builds it with one of these schemas; every stage that reads one checks
it with `check_table`. Units: compute in FLOPs (float64, 6 * params * samples), steps and samples as
integers, losses as float64 in the task's loss units (1/2 squared error for regression).
"""

from __future__ import annotations

import pyarrow as pa

from .results import (FRONTIER, LHAT_SENSITIVITY, NOISE_PREDICTIONS, NOISE_RMSE, NORMALIZED, PREDICTION,  # noqa: F401
                      STATISTICS, STUDIES, SUMMARY, THEORY)
from .runs import COORD_CHECK, CURVES, FOURIER_EVAL, FOURIER_TARGET, TOKENS, TOKENS_COLUMN  # noqa: F401


def check_table(table: pa.Table, schema: pa.Schema, where: str = "table") -> None:
    """Raise a ValueError naming the artifact and column when `table` breaks the contract `schema`."""
    for field in schema:
        if field.name not in table.column_names:
            raise ValueError(f"{where}: missing column {field.name!r} (expected {field.type})")
        actual = table.schema.field(field.name).type
        if actual != field.type:
            raise ValueError(f"{where}: column {field.name!r} has type {actual}, expected {field.type}")


def empty_columns(schema: pa.Schema) -> dict[str, list]:
    return {name: [] for name in schema.names}
