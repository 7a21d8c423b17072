"""The token tasks' data rules: download (one verified file) and tokenize (a transformer task's token contract).
Never imports JAX: tokenize forks its workers (data/tokenize.py)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..data import chess as chess_tok
from ..data.download import fetch, verified_manifest
from ..data.tokenize import TOKENIZERS
from ..data.tokens import TokenWriter
from ..io import sha256_file, write_json

log = logging.getLogger("supercollapse.data")


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
