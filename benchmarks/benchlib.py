"""Shared machinery of the benchmarks: one fresh process per case, timing, peak memory, matmul peak, output.

A benchmark script (`bench_<model>.py`) defines its cases (dicts of plain values) and a function that
measures one case inside the current process and returns its rows (dicts of numbers). `run_cases` measures every case
in its own Python process, so compile caches and peak-memory counters start from zero for each, and the
device's peak FLOP/s is measured in that same process (a large matmul in the case's dtype), which makes
MFU = achieved model FLOP/s / measured peak independent of the vendor's datasheet.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

MATMUL_SIZE = {"cpu": 1024, "gpu": 8192, "tpu": 8192}


def measure_matmul_peak(dtype_name: str, n: int | None = None, reps: int = 5) -> float:
    """Best achieved FLOP/s of an n x n x n matmul in `dtype_name` on the default device (2 n^3 FLOPs)."""
    import jax
    import jax.numpy as jnp

    n = n or MATMUL_SIZE.get(jax.default_backend(), 4096)
    dtype = jnp.dtype(dtype_name)
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), dtype=jnp.float32).astype(dtype)
    b = jax.random.normal(jax.random.PRNGKey(1), (n, n), dtype=jnp.float32).astype(dtype)
    matmul = jax.jit(lambda x, y: x @ y)
    matmul(a, b).block_until_ready()
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(reps):
            out = matmul(a, b)
        out.block_until_ready()
        best = min(best, (time.perf_counter() - t0) / reps)
    return 2.0 * n**3 / best


def peak_memory() -> dict:
    """Peak memory of this process so far: the device allocator's peak where it reports one (GPU, TPU),
    and the peak resident set size (host memory; the only reading a CPU backend gives)."""
    import jax

    stats = jax.local_devices()[0].memory_stats() or {}
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    return {"peak_device_bytes": stats.get("peak_bytes_in_use"), "peak_rss_bytes": rss}


def median_time(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of `fn()` (which must block until its results are ready) over `repeats` calls."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def device_info() -> dict:
    import jax

    return {"platform": jax.default_backend(), "device": str(jax.devices()[0].device_kind),
            "device_count": jax.local_device_count(), "jax_version": jax.__version__}


def run_cases(script: Path, cases: list[dict], env: dict | None = None, timeout_s: float = 1800) -> list[dict]:
    """Measure each case in a fresh process running `script --one <case json>`, which prints its result rows
    (a JSON list) as its last line; return all rows."""
    rows = []
    for i, case in enumerate(cases, 1):
        print(f"[{i}/{len(cases)}] {json.dumps(case)}", file=sys.stderr, flush=True)
        proc = subprocess.run([sys.executable, str(script), "--one", json.dumps(case)], capture_output=True,
                              text=True, timeout=timeout_s, env={**os.environ, **(env or {})})
        if proc.returncode != 0:
            raise RuntimeError(f"benchmark case {case} failed:\n{proc.stderr[-4000:]}")
        rows.extend(json.loads(proc.stdout.strip().splitlines()[-1]))
    return rows


def write_parquet(rows: list[dict], path: Path) -> None:
    """Write the rows as one Parquet file, atomically (temporary name in the same folder, then rename). The
    columns are every key of any row (in order of first appearance), null where a row lacks one."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    keys = list(dict.fromkeys(k for row in rows for k in row))
    pq.write_table(pa.Table.from_pylist([{k: row.get(k) for k in keys} for row in rows]), tmp)
    os.replace(tmp, path)


def print_table(rows: list[dict], columns: list[tuple[str, str]]) -> None:
    """Print `rows` as a Markdown table; `columns` are (key, format) pairs, format '' for str()."""
    def cell(value, fmt):
        if value is None:
            return "-"
        return format(value, fmt) if fmt else str(value)

    print("| " + " | ".join(key for key, _ in columns) + " |")
    print("|" + "|".join("---" for _ in columns) + "|")
    for row in rows:
        print("| " + " | ".join(cell(row.get(key), fmt) for key, fmt in columns) + " |")


def report(rows: list[dict], out: Path, title: str, threads: int | None, columns: list[tuple[str, str]]) -> None:
    """Write the rows to `out` (Parquet) and print the device line and the Markdown table."""
    write_parquet(rows, out)
    info = {k: rows[0][k] for k in ("platform", "device", "device_count", "jax_version")}
    print(f"{title} benchmark on {info} (threads: {threads or 'all'}); rows in {out}\n")
    print_table(rows, columns)
