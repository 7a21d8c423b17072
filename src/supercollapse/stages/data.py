"""The data rules' jobs: make_task (the Fourier task), download (one verified file) and tokenize (a
transformer task's token contract). Never imports JAX: tokenize forks its workers (data/tokenize.py)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..data import chess as chess_tok
from ..data.download import fetch, verified_manifest
from ..data.fourier import FourierTarget, make_target, sample_inputs
from ..data.tokenize import TOKENIZERS
from ..data.tokens import TokenWriter
from ..io import read_table, sha256_file, write_json, write_table
from ..schemas import FOURIER_EVAL, FOURIER_TARGET

log = logging.getLogger("supercollapse.data")


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


def download(kind: str, url: str, manifest_path, sha256: str | None, timeout: float, retries: int, *,
             allow_redirect_hosts=(), allow_insecure_redirects: bool = False) -> None:
    """One dataset file (`kind`: lichess or cifar5m) to the path beside its manifest, resumable and verified:
    sha256 when known, and the file must open as its kind's format. Redirects to another host, or from
    https to http, fail unless allowed (config download.allow_redirect_hosts, download.allow_insecure_redirects)."""
    from ..data.cifar5m import open_images
    from ..data.lichess import check_shard

    validate = {"lichess": lambda path: check_shard(path, elo_suffix=False), "cifar5m": open_images}[kind]
    fetch(url, str(manifest_path).removesuffix(".manifest.json"), sha256=sha256, validate=validate,
          timeout=timeout, retries=retries, allow_redirect_hosts=allow_redirect_hosts,
          allow_insecure_redirects=allow_insecure_redirects, log=logging.getLogger("download").info)


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file, taken from the download manifest beside it when that matches the file."""
    m = verified_manifest(path)
    return m["sha256"] if m and m.get("sha256") else sha256_file(path)


def tokenize_task(data_cfg: dict, inputs: list[str], train_path, test_path, meta_path, workers: int = 1) -> dict:
    """Tokenize `data_cfg["source"]` from `inputs` (downloaded files; none for offline_chess) into the
    contract's train/test Parquet files (schema TOKENS) and meta.json, over `workers` processes. Returns the
    meta dict."""
    source = data_cfg.get("source")
    if source not in TOKENIZERS:
        raise ValueError(f"data.source {source!r}: expected one of {tuple(TOKENIZERS)}")
    seq_len = int(data_cfg["seq_len"])
    inputs = [str(p) for p in inputs]
    with TokenWriter(train_path, seq_len) as train, TokenWriter(test_path, seq_len) as test:
        details = TOKENIZERS[source](data_cfg, inputs, train, test, workers)
        n_train, n_test = train.rows, test.rows
    eval_sequences = int(data_cfg.get("eval_sequences", 0))
    for split, n in (("train", n_train), ("test", n_test)):
        if n == 0:
            raise ValueError(f"{source}: the {split} split has no complete row of data.seq_len {seq_len} tokens")
    if n_test < eval_sequences:
        raise ValueError(f"{source}: the test split has {n_test} rows, fewer than data.eval_sequences "
                         f"({eval_sequences}); raise data.test_fraction or lower data.eval_sequences")
    is_chess = source in ("offline_chess", "lichess")
    meta = {
        "source": source,
        "vocab_size": len(chess_tok.VOCAB) if is_chess else 256,
        "seq_len": seq_len,
        "n_train": n_train,
        "n_test": n_test,
        "bos_id": chess_tok.BOS_ID if is_chess else None,
        "eos_id": chess_tok.EOS_ID if is_chess else None,
        "vocab": list(chess_tok.VOCAB) if is_chess else None,
        "mask_zero_targets": bool(data_cfg.get("mask_zero_targets", False)),
        "config": data_cfg,
        "sha256": {Path(train_path).name: file_sha256(train_path), Path(test_path).name: file_sha256(test_path),
                   **{Path(p).name: file_sha256(p) for p in inputs}},
        **details,
    }
    write_json(meta_path, meta)
    log.info("%s: %d train rows, %d test rows of %d tokens", source, n_train, n_test, seq_len)
    return meta
