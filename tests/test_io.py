"""The one atomic writer (`atomic_path`) and the one file hash (`sha256_file`)."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from supercollapse.data.tokens import TokenWriter, read_tokens
from supercollapse.io import HASH_BLOCK, atomic_path, sha256_file, write_json, write_table


def test_atomic_path_replaces_on_success_with_a_hidden_tmp_beside_the_target(tmp_path):
    path = tmp_path / "new" / "folder" / "a.json"
    with atomic_path(path) as tmp:
        assert tmp.parent == path.parent and tmp.name.startswith(".a.json.") and tmp.name.endswith(".tmp")
        assert tmp.exists() and not path.exists()
        tmp.write_text("first")
    assert path.read_text() == "first" and not tmp.exists()
    with atomic_path(path) as tmp:
        tmp.write_text("second")
    assert path.read_text() == "second"
    assert os.listdir(path.parent) == ["a.json"]


def test_atomic_path_keeps_the_old_file_and_leaves_no_tmp_when_the_block_raises(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="killed"):
        with atomic_path(path) as tmp:
            tmp.write_bytes(b"half-written")
            raise RuntimeError("killed")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["a.bin"]


def test_atomic_path_leaves_nothing_when_the_block_raises_before_any_file_exists(tmp_path):
    with pytest.raises(ValueError):
        with atomic_path(tmp_path / "a.bin"):
            raise ValueError
    assert os.listdir(tmp_path) == []


def test_write_json_and_write_table_bytes_match_a_plain_write(tmp_path):
    obj = {"b": [1, 2.5, None], "a": {"z": np.float64(0.25), "y": np.arange(3)}}
    write_json(tmp_path / "m.json", obj)
    assert (tmp_path / "m.json").read_text() == (
        '{\n  "a": {\n    "y": [\n      0,\n      1,\n      2\n    ],\n    "z": 0.25\n  },\n'
        '  "b": [\n    1,\n    2.5,\n    null\n  ]\n}\n')
    table = pa.table({"x": np.arange(1000, dtype=np.int64), "y": np.linspace(0, 1, 1000)})
    write_table(tmp_path / "t.parquet", table)
    pq.write_table(table, tmp_path / "plain.parquet")
    assert (tmp_path / "t.parquet").read_bytes() == (tmp_path / "plain.parquet").read_bytes()
    assert sorted(os.listdir(tmp_path)) == ["m.json", "plain.parquet", "t.parquet"]


def test_sha256_file_equals_hashlib_over_the_bytes_of_a_file_larger_than_one_block(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, HASH_BLOCK * 2 + 12345, dtype=np.uint8).tobytes()
    (tmp_path / "big.bin").write_bytes(data)
    (tmp_path / "empty.bin").write_bytes(b"")
    assert sha256_file(tmp_path / "big.bin") == hashlib.sha256(data).hexdigest()
    assert sha256_file(tmp_path / "empty.bin") == hashlib.sha256(b"").hexdigest()


def test_token_writer_is_atomic(tmp_path):
    path = tmp_path / "train.parquet"
    rows = np.arange(40, dtype=np.uint16).reshape(10, 4)
    with TokenWriter(path, 4, row_group_rows=3) as w:
        w.write(rows[:5])
        w.write(rows[5:])
    np.testing.assert_array_equal(read_tokens(path), rows)
    with pytest.raises(RuntimeError):
        with TokenWriter(path, 4) as w:
            w.write(rows[::-1].copy())
            raise RuntimeError("worker died")
    np.testing.assert_array_equal(read_tokens(path), rows)
    assert os.listdir(tmp_path) == ["train.parquet"]
