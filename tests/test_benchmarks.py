"""The benchmark runs end to end on a tiny case and reports consistent numbers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_mlp_benchmark_writes_rows_and_a_table(tmp_path):
    out = tmp_path / "mlp.parquet"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_mlp.py"), "--widths", "8", "--batch", "64",
         "--seeds", "2", "--precision", "float32", "--steps", "20", "--segment-s", "0.05", "--repeats", "2",
         "--matmul-n", "256", "--threads", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    rows = pq.read_table(out).to_pylist()
    assert sorted(r["mode"] for r in rows) == ["engine", "jit_loop"]
    for r in rows:
        assert r["samples_per_s"] == pytest.approx(2 * 64 / (r["step_ms"] / 1e3))
        assert r["model_tflops"] * 1e12 == pytest.approx(6 * r["params"] * r["samples_per_s"])
        assert r["mfu"] == pytest.approx(r["model_tflops"] / r["peak_tflops"])
        assert 0 < r["mfu"] < 1 and r["compile_s"] > 0
    by_mode = {r["mode"]: r for r in rows}
    assert by_mode["engine"]["peak_mem_mib"] > 0 and by_mode["jit_loop"]["peak_mem_mib"] is None
    assert next(r for r in rows if r["mode"] == "jit_loop")["speedup_vs_jit_loop"] == pytest.approx(1.0)
    assert "| engine | 8 | 2 | float32 |" in proc.stdout
