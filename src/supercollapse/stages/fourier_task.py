"""The Fourier task's data (rule make_task): its target function and evaluation set, written and read back.

Apart from the token tasks' stages (tokens.py): a tokenizer change must not remake this task's data (and so
retrain it); see codehash.FAMILIES.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..data.fourier import FourierTarget, make_target, sample_inputs
from ..io import read_table, sha256_file, write_json, write_table
from ..schemas import FOURIER_EVAL, FOURIER_TARGET


def make_fourier_task(data_cfg: dict, target_path, eval_path, meta_path) -> None:
    """The Fourier task's target function (`target.parquet`, a row per mode), its fixed evaluation set
    (`eval.parquet`, a row per input) and meta.json. Training draws fresh inputs each step on the device."""
    d = int(data_cfg["input_dim"])
    target = make_target(int(data_cfg["n_modes"]), d, float(data_cfg["pareto_exponent"]), int(data_cfg["seed"]))
    rng = np.random.default_rng([int(data_cfg["seed"]), 1])
    x = sample_inputs(rng, int(data_cfg["eval_size"]), d).astype(np.float32)
    y = target(x.astype(np.float64))
    write_table(target_path, pa.Table.from_pydict(
        {"freq": list(target.freqs), "weight": target.weights, "phase": target.phases}, schema=FOURIER_TARGET))
    write_table(eval_path, pa.Table.from_pydict({"x": list(x), "y": y}, schema=FOURIER_EVAL))
    norms = np.linalg.norm(target.freqs, axis=1)
    write_json(meta_path, {
        "task": "fourier_mlp",
        "config": data_cfg,
        "n_modes": int(target.freqs.shape[0]),
        "distinct_modes": int(len({tuple(np.abs(k)) for k in target.freqs})),
        "freq_norm_quantiles": {str(q): float(np.quantile(norms, q)) for q in (0.1, 0.5, 0.9, 0.99)},
        "eval_size": int(x.shape[0]),
        "eval_target_variance": float(y.var()),
        "zero_predictor_loss": float(0.5 * np.mean(y**2)),
        "sha256": {"target.parquet": sha256_file(target_path), "eval.parquet": sha256_file(eval_path)},
    })


def read_fourier_task(target_path, eval_path) -> tuple[FourierTarget, np.ndarray, np.ndarray]:
    """The target function and the evaluation set (x float32 (n, d), y float64 (n,))."""
    t = read_table(target_path, FOURIER_TARGET)
    e = read_table(eval_path, FOURIER_EVAL)
    freqs = np.array(t.column("freq").to_pylist(), dtype=np.int64)
    x = np.array(e.column("x").to_pylist(), dtype=np.float32)
    if freqs.ndim != 2 or x.ndim != 2 or freqs.shape[1] != x.shape[1]:
        raise ValueError(f"{target_path} / {eval_path}: frequency and input dimensions disagree "
                         f"({freqs.shape} vs {x.shape})")
    target = FourierTarget(freqs=freqs, weights=t.column("weight").to_numpy(), phases=t.column("phase").to_numpy())
    return target, x, e.column("y").to_numpy()
